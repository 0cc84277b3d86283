#!/usr/bin/env bash
# --memory-limit through cgroups:
#  - a limit below guest RAM + the VMM's 64 MiB (256M guest, 128M limit)
#    is refused at start: exit status 1 (not a kill), one line naming the
#    limit and what the VM needs, no cgroup left behind;
#  - at the smallest limit accepted (256M guest, 320M limit) a guest that
#    dirties all but 24 MiB of its free memory keeps running: the VMM is
#    not OOM-killed, its cgroup holds the limit, its RSS shows the guest
#    really used the memory, and the cgroup is gone after the VMM exits.
# Skips when cgroups are not writable here.
source "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    base=/sys/fs/cgroup limit_file=memory.max
else
    base=/sys/fs/cgroup/memory limit_file=memory.limit_in_bytes
fi
[ -w "$base" ] || { echo "SKIP: $base is not writable"; exit 77; }
work=$(mktemp -d)
out=$work/console.log
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "---- console ----"; tail -n 10 "$out"; echo "FAIL: $*"; exit 1; }
wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
cgroup_of() { find "$base" -maxdepth 5 -type d -name "corral-$1" 2>/dev/null | head -n 1; }
boot() { # LIMIT CMD
    "$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
        --initrd "$dir/initramfs.cpio" --memory 256M --memory-limit "$1" \
        --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$2")" </dev/null >"$out" 2>&1 &
    pid=$!
}

# Below what the VM needs: refused before the guest runs.
boot 128M 'echo should-not-run'
wait_for 30 bash -c "! kill -0 $pid 2>/dev/null" || fail "a 128M limit for a 256M guest did not end the VMM"
wait "$pid"
rc=$?
cg=$(cgroup_of "$pid")
pid=
echo "256M guest, --memory-limit 128M: exit status $rc: $(grep 'memory limit' "$out")"
[ "$rc" = 1 ] || fail "exit status $rc, want 1 (a clean refusal, not a kill)"
grep -q 'memory limit 128 MiB is below the 320 MiB' "$out" || fail "no clear message"
! grep -q 'should-not-run' "$out" || fail "the guest ran"
[ -z "$cg" ] || fail "cgroup $cg left behind"

# The smallest limit accepted holds a guest that uses its memory.
cmd='n=$(( $(awk '"'"'/^MemFree/{print $2}'"'"' /proc/meminfo) / 1024 - 24 )); mount -t tmpfs -o size=${n}m tmpfs /mnt; dd if=/dev/zero of=/mnt/big bs=1M count=$n 2>/dev/null; echo filled $n; while true; do sleep 1; done'
boot 320M "$cmd"
wait_for 180 grep -q '^filled ' "$out" || fail "the guest did not boot and fill its memory (VMM alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no))"
sleep 2
kill -0 "$pid" 2>/dev/null || fail "the VMM was killed with a 320M limit"
cg=$(cgroup_of "$pid")
[ -n "$cg" ] || fail "no cgroup corral-$pid under $base"
limit=$(cat "$cg/$limit_file")
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
echo "256M guest, --memory-limit 320M: filled $(grep -a -o '^filled [0-9]*' "$out" | cut -d' ' -f2) MiB; VMM RSS ${rss} KiB, cgroup limit ${limit}"
[ "$limit" = $((320 << 20)) ] || fail "the cgroup's limit is $limit, want $((320 << 20))"
[ "$rss" -gt $((200 * 1024)) ] || fail "VMM RSS is only ${rss} KiB: the guest did not use its memory"
kill "$pid"
wait "$pid" 2>/dev/null
pid=
[ ! -d "$cg" ] || fail "$cg is still there after the VMM exited"
echo "PASS: --memory-limit below what the VM needs fails cleanly; the smallest accepted limit holds a busy guest"
