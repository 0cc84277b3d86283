#!/usr/bin/env bash
# --cpu-quota 50 through cgroups: a guest spinning on both of its 2 harts
# uses about half a core (0.30..0.70, measured from the VMM's CPU time
# over 10 s; the machine is shared), the cgroup exists while it runs and
# is gone afterwards; a cgroup left by a VMM killed with SIGKILL is removed
# by the next one; --cpu-weight 100 and 400 share one contended host CPU
# about 1:4. Skips when cgroups are not writable here.
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
# --cpu-weight: two 1-hart guests spinning on one host CPU (taskset) with
# weights 100 and 400 share it about 1:4 (cgroup siblings); wanted: the
# heavier one gets at least twice the other's CPU time over 10 s.
command -v taskset >/dev/null || fail "taskset is not installed (util-linux)"
wpids=()
for w in 100 400; do
    taskset -c 0 "$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
        --initrd "$dir/initramfs.cpio" --memory 128M --cpu-weight $w \
        --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode 'echo spinning; while true; do :; done')" \
        </dev/null >"$work/w$w.log" 2>&1 &
    wpids+=($!)
done
pid=${wpids[0]}
for w in 100 400; do
    wait_for 300 grep -qs '^spinning' "$work/w$w.log" || { kill "${wpids[@]}"; fail "the weight-$w guest did not boot"; }
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
a0=$(ticks "${wpids[0]}") b0=$(ticks "${wpids[1]}")
sleep 10
a1=$(ticks "${wpids[0]}") b1=$(ticks "${wpids[1]}")
kill "${wpids[@]}"; wait "${wpids[@]}" 2>/dev/null; pid=
light=$((a1 - a0)) heavy=$((b1 - b0))
echo "cpu-weight 100 vs 400 on one CPU: $light vs $heavy ticks in 10 s"
[ "$heavy" -ge $((2 * light)) ] && [ "$heavy" -gt 0 ] ||
    fail "weight 400 got $heavy ticks, weight 100 got $light: want at least twice"
echo "ok: --cpu-weight shares a contended CPU by weight"
# Bad input: a clear usage error.
"$CORRAL" run --cpu-quota 0 --kernel x 2>"$work/err" && fail "--cpu-quota 0 accepted"
grep -q 'cpu-quota' "$work/err" || fail "no clear error for --cpu-quota 0: $(cat "$work/err")"
echo "PASS: --cpu-quota caps the VMM's CPU, --cpu-weight shares it, and the cgroup is removed on exit"
