#!/usr/bin/env bash
# Corral side of the snapshot benchmark (issue 9), the same scenario as
# bench/snapshot/qemu.sh: a 512 MiB Debian guest with pagecheck dirtying
# 128 MiB at 125 MB/s; Full snapshot create (pause -> files written ->
# resume), kill -9, restore in a new process (to running, and to the first
# command answered on the console), pagecheck's verdict after the restore,
# a Diff snapshot's create time and size, and the memory of N VMs restored
# from one memory file (their clean pages are shared through the page
# cache: PSS vs RSS). Prints key=value lines (run.sh shows them beside
# QEMU's). Environment: BENCH_DIRTY_MIB, BENCH_DIRTY_RATE, BENCH_VMS, BUILD.
. "$(dirname "$0")/../lib.sh"
source "$BENCH_TOP/tests/guest/lib/lib.sh"
source "$BENCH_TOP/tests/guest/lib/pagecheck_lib.bash"
DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "error=no guest images"; exit 1; }
W=$BENCH_OUT/snapshot-corral
rm -rf "$W"
mkdir -p "$W"
DIRTY=${BENCH_DIRTY_MIB:-128} RATE=${BENCH_DIRTY_RATE:-125} NVMS=${BENCH_VMS:-4}
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }
fail() { echo "error=$*"; [ -n "${CORRAL_PID:-}" ] && kill -9 "$CORRAL_PID" 2>/dev/null; exit 1; }

start_corral "$W/console0.log" run --firmware "$DIR/fw_dynamic.bin" --kernel "$DIR/Image" \
    --initrd "$DIR/initramfs.cpio" --memory 512M --cmdline "console=ttyS0 quiet" \
    --api-sock "$W/api0.sock"
wait_for 'built-in commands' 300 >/dev/null || fail "the guest did not boot"
pagecheck_start "$DIRTY" --rate "$RATE" >/dev/null || fail "pagecheck did not start"
sleep "${BENCH_WARMUP:-3}"

t0=$(now)
out=$("$CORRAL" snapshot create --sock "$W/api0.sock" --dir "$W/full" 2>&1) || fail "create: $out"
t1=$(now)
echo "file_create_s=$(sub "$t1" "$t0")"
echo "file_create_guest_stopped_ms=$(grep -o 'guest stopped [0-9.]*' <<<"$out" | awk '{print $3}')"
echo "file_bytes=$(( $(stat -c %s "$W/full/memory") + $(stat -c %s "$W/full/state") ))"
echo "file_disk_bytes=$(( ($(stat -c %b "$W/full/memory") + $(stat -c %b "$W/full/state")) * 512 ))"
sleep 2
t0=$(now)
out=$("$CORRAL" snapshot create --sock "$W/api0.sock" --dir "$W/diff" --diff 2>&1) || fail "diff: $out"
t1=$(now)
echo "diff_create_s=$(sub "$t1" "$t0")"
echo "diff_disk_bytes=$(( ($(stat -c %b "$W/diff/memory") + $(stat -c %b "$W/diff/state")) * 512 ))"
kill -9 "$CORRAL_PID"
end_session 50

# Restore: the command is typed at once; it is answered once the guest runs.
SESSION_DIR=$(mktemp -d)
mkfifo "$SESSION_DIR/in"
log=$W/console1.log
t_launch=$(now)
( "$CORRAL" restore "$W/full" -v --api-sock "$W/api1.sock" <"$SESSION_DIR/in" 2>&1 &
  echo $! >"$SESSION_DIR/pid"; wait ) | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done >"$log" &
SESSION_PIPE_PID=$!
exec 7>"$SESSION_DIR/in"
SESSION_LOG=$log
printf 'printf "F%%s\\n" IRST-ANSWER\n' >&7
wait_for '[0-9] FIRST-ANSWER' 60 >/dev/null || fail "the restored guest did not answer"
t_answer=$(grep -a -m1 '[0-9] FIRST-ANSWER' "$log" | awk '{print $1}')
CORRAL_PID=$(cat "$SESSION_DIR/pid")
echo "file_restore_load_ms=$(grep -a -o 'loaded in [0-9.]* ms' "$log" | awk '{print $3}')"
echo "file_restore_first_answer_s=$(sub "$t_answer" "$t_launch")"
sleep 2
pagecheck_status 30 >/dev/null || fail "no pagecheck status after the restore"
echo "restore_pagecheck_mismatches=$PC_MISMATCHES"
echo "restore_pagecheck_clock_backwards=$PC_CLOCK_BACKWARDS"
before=$PC_LINE
sleep 2
pagecheck_status 30 >/dev/null || fail "no pagecheck status"
# Frozen = its verification stopped (a full sweep of 128 MiB can take
# longer than the wait, so rounds are not the measure).
v0=$(pagecheck_field "$before" verified)
if [ "$PC_VERIFIED" -gt "$v0" ] && [ "$PC_MISMATCHES" = 0 ]; then
    echo "restore_guest_frozen=no"
else
    echo "restore_guest_frozen=yes"
fi
# An idle guest (pagecheck stopped) for the N-VM measurement.
printf 'killall pagecheck\n' >&7
sleep 2
"$CORRAL" snapshot create --sock "$W/api1.sock" --dir "$W/idle" >/dev/null 2>&1 || fail "idle snapshot"
kill -9 "$CORRAL_PID"
exec 7>&-
wait "$SESSION_PIPE_PID" 2>/dev/null
rm -rf "$SESSION_DIR"

# N idle VMs restored from one memory file.
pids=()
for ((i = 0; i < NVMS; i++)); do
    "$CORRAL" restore "$W/idle" --api-sock "$W/many$i.sock" </dev/null >"$W/many$i.log" 2>&1 &
    pids+=($!)
done
sleep 5
rss=0 pss=0
for p in "${pids[@]}"; do
    r=$(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    s=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    rss=$((rss + r)) pss=$((pss + s))
done
kill -9 "${pids[@]}" 2>/dev/null
wait 2>/dev/null
echo "n_vms=$NVMS"
echo "n_vms_rss_sum_mib=$((rss / 1024))"
echo "n_vms_pss_sum_mib=$((pss / 1024))"
echo "one_vm_memory_file_disk_mib=$(( $(stat -c %b "$W/idle/memory") * 512 / 1048576 ))"
rm -f "$W"/full/memory "$W"/diff/memory "$W"/idle/memory
