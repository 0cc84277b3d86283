#!/usr/bin/env bash
# Free page reporting (VIRTIO_BALLOON_F_REPORTING) on a real guest: the
# guest fills ~300 MiB of tmpfs, holds it, then deletes it. With no balloon
# target set, the VMM's RSS falls by >= 200 MiB within 30 s because the
# guest reports the freed pages and the VMM releases them.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }

work=$(mktemp -d)
sock=$work/api.sock
out=$work/console.log
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"

fail() { echo "---- console ----"; tail -n 20 "$out"; echo "FAIL: $*"; exit 1; }
wait_for() { # SECONDS CMD...
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
rss_below() { [ "$(rss_kib)" -lt "$1" ]; }

cmd='mount -t tmpfs -o size=320m tmpfs /mnt; dd if=/dev/zero of=/mnt/big bs=1M count=300 2>/dev/null; echo filled; sleep 4; rm /mnt/big; echo freed; while true; do sleep 1; done'
"$CORRAL" run --api-sock "$sock" --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --memory 512M --balloon 0,reporting \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$out" 2>&1 &
pid=$!
wait_for 10 test -S "$sock" || fail "no API socket"
wait_for 120 grep -q '^filled' "$out" || fail "the guest did not boot and fill its memory"
sleep 1
full=$(rss_kib)
[ "$full" -gt $((300 * 1024)) ] || fail "VMM RSS is only ${full} KiB with 300 MiB in guest tmpfs"
wait_for 30 grep -q '^freed' "$out" || fail "the guest did not free its memory"
t0=$(date +%s.%N)
want=$((full - 200 * 1024))
wait_for 30 rss_below "$want" || fail "RSS is $(rss_kib) KiB 30 s after the guest freed 300 MiB (was ${full}, want < ${want})"
t1=$(date +%s.%N)
reported=$(curl -s --unix-socket "$sock" http://localhost/balloon/statistics | jq -r '.reported_bytes // 0')
echo "reporting: RSS ${full} -> $(rss_kib) KiB in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s; reported ${reported} bytes"
[ "$reported" -ge $((200 << 20)) ] || fail "statistics say only ${reported} bytes were reported"
kill -0 "$pid" 2>/dev/null || fail "the VMM died"
echo "PASS: free page reporting returns freed guest memory to the host"
