#!/usr/bin/env bash
# --cpu-quota 50 through cgroups: a guest spinning on both of its 2 harts
# uses about half a core (0.30..0.70, measured from the VMM's CPU time
# over 10 s; the machine is shared), the cgroup exists while it runs and
# is gone afterwards; a cgroup left by a VMM killed with SIGKILL is removed
# by the next one. Skips when cgroups are not writable here.
source "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then base=/sys/fs/cgroup; else base=/sys/fs/cgroup/cpu; fi
[ -w "$base" ] || { echo "SKIP: $base is not writable"; exit 77; }
work=$(mktemp -d)
out=$work/console.log
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "---- console ----"; tail -n 10 "$out"; echo "FAIL: $*"; exit 1; }
wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

cmd='(while true; do :; done) & echo spinning; while true; do :; done'
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
    --cpus 2 --memory 256M --cpu-quota 50 \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$out" 2>&1 &
pid=$!
wait_for 180 grep -q '^spinning' "$out" || fail "the guest did not boot"
cg=$(find "$base" -maxdepth 4 -type d -name "corral-$pid" | head -n 1)
[ -n "$cg" ] || fail "no cgroup corral-$pid under $base"
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks) s0=$(date +%s.%N)
sleep 10
t1=$(cpu_ticks) s1=$(date +%s.%N)
cores=$(awk -v a="$t0" -v b="$t1" -v x="$s0" -v y="$s1" -v hz="$hz" 'BEGIN{printf "%.2f", (b - a) / hz / (y - x)}')
echo "cpu-quota 50: ${cores} cores used by a 2-hart spinning guest"
awk -v c="$cores" 'BEGIN{exit !(c >= 0.30 && c <= 0.70)}' || fail "used ${cores} cores, want about 0.5"
kill "$pid"; wait "$pid" 2>/dev/null; pid=
[ ! -d "$cg" ] || fail "$cg is still there after the VMM exited"
# SIGKILL leaves the (empty) cgroup; the next VMM with a quota sweeps it.
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
    --memory 128M --cpu-quota 50 --cmdline "console=ttyS0 quiet corral.cmd=sleep%20600" \
    </dev/null >"$out" 2>&1 &
pid=$!
wait_for 30 eval '[ -n "$(find "$base" -maxdepth 4 -type d -name "corral-$pid")" ]' ||
    fail "no cgroup for the second VMM"
stale=$(find "$base" -maxdepth 4 -type d -name "corral-$pid" | head -n 1)
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
for ((i = 0; i < 50 && $(wc -l <"$stale/cgroup.procs" 2>/dev/null || echo 0) > 0; i++)); do sleep 0.1; done
[ -d "$stale" ] || fail "$stale vanished by itself: the sweep is not tested"
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
    --memory 128M --cpu-quota 50 --cmdline "console=ttyS0 quiet corral.cmd=true" </dev/null >"$out" 2>&1 ||
    fail "the third VMM failed"
[ ! -d "$stale" ] || fail "$stale, left by a killed VMM, was not removed by the next one"
echo "ok: a cgroup left by a killed VMM is removed by the next one"
# Bad input: a clear usage error.
"$CORRAL" run --cpu-quota 0 --kernel x 2>"$work/err" && fail "--cpu-quota 0 accepted"
grep -q 'cpu-quota' "$work/err" || fail "no clear error for --cpu-quota 0: $(cat "$work/err")"
echo "PASS: --cpu-quota caps the VMM's CPU and the cgroup is removed on exit"
