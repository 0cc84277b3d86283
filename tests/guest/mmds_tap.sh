#!/usr/bin/env bash
# MMDS on a TAP interface, as Firecracker users have it: PUT
# /network-interfaces with a host_dev_name (a TAP Corral creates, with
# nothing behind it), PUT /mmds/config V2 on it, PUT /mmds. The guest
# gives eth0 an address of its own network and Firecracker's route to
# 169.254.169.254, gets a token and reads a value: answered inside Corral
# (net/mmds_link.c), never by the TAP's network. Its TCP to another
# address of that network, which the MMDS side must not carry out to the
# host, fails. Needs root (CAP_NET_ADMIN) for the TAP. One boot.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
[ "$(id -u)" = 0 ] || { echo "SKIP: a TAP interface needs root"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }
work_setup
sock=$work/api.sock
out=$work/out
fail() { echo "---- console ----"; grep -av "^Domain0\|^Boot HART\|^Firmware\|^Platform" "$out" | tail -n 30; echo "FAIL: $*"; exit 1; }

# A host port the guest tries to reach through the MMDS side's stack
# (10.0.2.2 is libslirp's host address): it must stay unreachable.
port=$(free_port)
busybox nc -l -p "$port" -e echo LEAKED >/dev/null 2>&1 &
lpid=$!
trap 'kill $lpid 2>/dev/null; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT

M=169.254.169.254
cmd="ip addr add 192.168.77.2/24 dev eth0; ip route add $M dev eth0; ip route add 10.0.2.0/24 dev eth0;
r='\r\n'; T=\$(printf \"PUT /latest/api/token HTTP/1.1\${r}X-metadata-token-ttl-seconds: 60\$r\$r\" | timeout 3 nc $M 80 | sed -n '\$p');
echo token-len=\${#T}; echo ami=\$(wget -q -O - --header \"X-metadata-token: \$T\" http://$M/latest/meta-data/ami-id);
echo leak=\$(echo x | timeout 3 nc 10.0.2.2 $port)"

"$CORRAL" run --api-sock "$sock" </dev/null >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "no API socket"
tap=cmm$$
expect_status 204 PUT /boot-source "{\"kernel_image_path\":\"$dir/Image\",\"initrd_path\":\"$dir/initramfs.cpio\",\"firmware_path\":\"$dir/fw_dynamic.bin\",\"boot_args\":\"console=ttyS0 quiet corral.dhcp=off corral.cmd=$(urlencode "$cmd")\"}"
expect_status 204 PUT /network-interfaces/eth0 "{\"iface_id\":\"eth0\",\"host_dev_name\":\"$tap\"}"
expect_status 204 PUT /mmds/config '{"network_interfaces":["eth0"],"version":"V2"}'
expect_status 204 PUT /mmds '{"latest":{"meta-data":{"ami-id":"ami-tap-0042"}}}'
expect_status 204 PUT /actions '{"action_type":"InstanceStart"}'
for _ in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the guest did not finish within 120 s"
wait "$pid"
pid=
sed -i 's/\r$//' "$out"
grep -q '^token-len=44$' "$out" || fail "no V2 token over the TAP interface ($(grep token-len "$out"))"
grep -q '^ami=ami-tap-0042$' "$out" || fail "wrong ami-id over the TAP interface ($(grep '^ami=' "$out"))"
grep -q '^leak=$' "$out" || fail "the guest reached the host through the MMDS side: $(grep '^leak=' "$out")"
echo "ok: MMDS V2 on a TAP interface: token and value read by the guest; nothing else carried to the host"
