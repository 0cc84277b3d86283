#!/usr/bin/env bash
# virtio-vsock with Firecracker's host side, both directions in one boot:
#  - host-initiated: tests/tools/vsock_host connects to the uds, sends
#    "CONNECT 5000", gets "OK <port>", and sends 1 MiB of random bytes to
#    the guest's `vsockcat -l 5000 -e`, which echoes them back (SHA-256
#    compared on the host);
#  - guest-initiated: the guest's `vsockcat 2 5001` reaches the host
#    listener on "<uds>_5001" and sends `seq 1 20000`.
# With the seccomp filters on: the I/O thread may make AF_UNIX sockets
# (a guest-initiated connection needs one).
source "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
tool=$BUILD/tools/vsock_host
[ -x "$tool" ] || { echo "FAIL: $tool is missing (make tools)"; exit 1; }
work=$(mktemp -d /tmp/vsock_stream.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; [ -n "${VSOCK_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
uds=$work/v.sock

head -c 1048576 /dev/urandom >"$work/blob"
want=$(sha256sum <"$work/blob" | cut -d' ' -f1)
"$tool" listen "${uds}_5001" "$work/from_guest" &
listener=$!
pids+=($listener)

cmd="vsockcat -l 5000 -e & echo listening;
seq 1 20000 | vsockcat 2 5001 >/dev/null; echo guest-connect-rc=\$?;
wait; echo echo-done"
log=$work/boot.log
timeout "$GUEST_TIMEOUT" "$CORRAL" run --firmware "$dir/fw_dynamic.bin" \
    --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --memory 256M \
    --vsock "cid=3,uds=$uds" \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$log" 2>&1 &
vm=$!
pids+=($vm)

for _ in $(seq 600); do
    grep -q listening "$log" 2>/dev/null && break
    kill -0 $vm 2>/dev/null || break
    sleep 0.1
done
start=$(date +%s.%N)
timeout 60 "$tool" connect "$uds" 5000 "$work/blob" "$work/echoed" >"$work/connect.log" 2>&1
crc=$?
end=$(date +%s.%N)
wait $vm
rc=$?
wait $listener
lrc=$?
out=$(cat "$log")
echo "$out" | tail -n 6
[ $rc -eq 0 ] || { echo "FAIL: corral exited with $rc"; exit 1; }
[ $crc -eq 0 ] || { cat "$work/connect.log"; echo "FAIL: host-initiated connection failed ($crc)"; exit 1; }
got=$(sha256sum <"$work/echoed" | cut -d' ' -f1)
[ "$got" = "$want" ] || {
    echo "FAIL: echoed $(stat -c %s "$work/echoed") bytes, sha256 $got; sent 1048576, $want"; exit 1; }
expect_in "$out" "guest-connect-rc=0" "guest connection to CID 2 port 5001"
expect_in "$out" "echo-done" "the guest's echo server finished"
[ $lrc -eq 0 ] || { echo "FAIL: the host listener on ${uds}_5001 failed ($lrc)"; exit 1; }
cmp -s "$work/from_guest" <(seq 1 20000) ||
    { echo "FAIL: the host listener got $(stat -c %s "$work/from_guest") bytes, not seq 1 20000"; exit 1; }
[ ! -e "$uds" ] || { echo "FAIL: $uds left behind at exit"; exit 1; }
echo "PASS: host -> guest echo of 1 MiB ($(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s, sha256 ok), guest -> host uds_5001 ($(stat -c %s "$work/from_guest") bytes)"
