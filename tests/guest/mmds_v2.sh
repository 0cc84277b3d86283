#!/usr/bin/env bash
# MMDS V2 over user-mode networking, configured through the API before
# start (PUT /network-interfaces type user, PUT /mmds/config V2, PUT and
# PATCH /mmds): the guest, with Firecracker's route to 169.254.169.254 on
# eth0 (ARP answered by Corral), gets a session token (PUT
# /latest/api/token over nc, which waits for an end MMDS never sends:
# hence timeout), reads a patched value and a key listing with
# it, is refused (401) a plain V1-style GET and a GET with a bad token,
# and reads JSON with Accept: application/json. GET /mmds on the host
# shows the merged store; a store over the limit is refused. One boot.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }
work_setup
sock=$work/api.sock
out=$work/out
fail() { echo "---- console ----"; grep -av "^Domain0\|^Boot HART\|^Firmware\|^Platform" "$out" | tail -n 30; echo "FAIL: $*"; exit 1; }

M=169.254.169.254
# Short: the kernel command line carries it (1 KiB at most, encoded).
cmd="ip route add $M dev eth0; U=http://$M/latest/meta-data; r='\r\n';
T=\$(printf \"PUT /latest/api/token HTTP/1.1\${r}X-metadata-token-ttl-seconds: 60\$r\$r\" | timeout 3 nc $M 80 | sed -n '\$p');
g() { wget -q -O - --header \"X-metadata-token: \$T\" \"\$@\"; };
echo token-len=\${#T}; echo ami=\$(g \$U/ami-id); echo rid=\$(g \$U/reservation-id);
echo keys=\$(g \$U/ | tr '\n' ,); echo json=\$(g --header 'Accept: application/json' \$U/net);
echo notoken=\$(wget -S -O - \$U/ami-id 2>&1 | grep -o 'HTTP/1.1 [0-9]*');
T=bogus; echo badtoken=\$(g -S \$U/ami-id 2>&1 | grep -o 'HTTP/1.1 [0-9]*')"

"$CORRAL" run --api-sock "$sock" </dev/null >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "no API socket"

expect_status 204 PUT /boot-source "{\"kernel_image_path\":\"$dir/Image\",\"initrd_path\":\"$dir/initramfs.cpio\",\"firmware_path\":\"$dir/fw_dynamic.bin\",\"boot_args\":\"console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")\"}"
expect_status 400 PUT /mmds/config '{"network_interfaces":["eth0"]}'   # no such interface yet
expect_status 204 PUT /network-interfaces/eth0 '{"iface_id":"eth0","type":"user"}'
expect_status 400 PUT /mmds/config '{"network_interfaces":["eth0"],"version":"V3"}'
expect_status 400 PUT /mmds/config '{"network_interfaces":["eth0"],"ipv4_address":"10.0.0.1"}'
expect_status 204 PUT /mmds/config '{"network_interfaces":["eth0"],"version":"V2"}'
expect_status 204 PUT /mmds '{"latest":{"meta-data":{"ami-id":"ami-12345678","reservation-id":"r-1","net":{"mac":"aa"}}}}'
expect_status 204 PATCH /mmds '{"latest":{"meta-data":{"reservation-id":"r-79054aef","gone":null}}}'
big=$(head -c 60000 /dev/zero | tr '\0' a)
expect_status 400 PUT /mmds "{\"k\":\"$big\"}"
[ "$(api_body GET /mmds | jq -r '.latest."meta-data"."reservation-id"')" = r-79054aef ] ||
    fail "GET /mmds after PATCH: $(api_body GET /mmds)"
[ "$(jq -r '."mmds-config".version' <<<"$(api_body GET /vm/config)")" = V2 ] ||
    fail "GET /vm/config has no mmds-config V2"
expect_status 204 PUT /actions '{"action_type":"InstanceStart"}'
expect_status 400 PUT /mmds/config '{"network_interfaces":["eth0"]}'   # after start

for _ in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the guest did not finish within 120 s"
wait "$pid"
pid=
sed -i 's/\r$//' "$out"
grep -q '^token-len=44$' "$out" || fail "no V2 token ($(grep token-len "$out"))"
grep -q '^ami=ami-12345678$' "$out" || fail "wrong ami-id ($(grep '^ami=' "$out"))"
grep -q '^rid=r-79054aef$' "$out" || fail "the PATCH did not reach the guest ($(grep '^rid=' "$out"))"
grep -q '^keys=ami-id,net/,reservation-id$' "$out" || fail "wrong listing ($(grep '^keys=' "$out"))"
grep -q '^json={"mac":"aa"}$' "$out" || fail "wrong JSON ($(grep '^json=' "$out"))"
grep -qE '^notoken=HTTP/1.1 401( |$)' "$out" || fail "a GET without a token under V2: $(grep notoken= "$out"), want 401"
grep -qE '^badtoken=HTTP/1.1 401( |$)' "$out" || fail "a GET with a bad token: $(grep badtoken= "$out"), want 401"
echo "ok: MMDS V2: token, values, listing and JSON read by the guest; no token and a bad token refused (401)"
