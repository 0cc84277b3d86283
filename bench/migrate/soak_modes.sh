#!/usr/bin/env bash
# Migration soak in every mode (issue 10): one guest (pagecheck rewriting
# 32 MiB at 16 MB/s, a 100 ms counter) moved back and forth SOAK_N times
# (default 100) in each of pre-copy, post-copy and auto, in turn; after
# every move its pages verify (zero mismatches), its counter and uptime
# moved on, and the old process exited 0. Prints per-mode counts and the
# medians of total time and downtime.
source "$(dirname "$0")/../../tests/guest/lib/snapshot_lib.bash"
n=${SOAK_N:-100}
modes=(precopy postcopy auto)
declare -A totals downs
snap_boot 1
k=0 t0=$SECONDS
for ((i = 1; i <= n; i++)); do
    for mode in "${modes[@]}"; do
        k=$((k + 1))
        snap_migrate "$k" --mode "$mode"
        snap_check "$k"
        totals[$mode]+="$(grep -o 'total [0-9.]*' <<<"$SNAP_MIG_OUT" | awk '{print $2}') "
        downs[$mode]+="$(grep -o 'downtime [0-9.]*' <<<"$SNAP_MIG_OUT" | awk '{print $2}') "
    done
done
snap_poweroff
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for mode in "${modes[@]}"; do
    echo "soak_${mode}_migrations=$n"
    echo "soak_${mode}_median_total_ms=$(median <<<"${totals[$mode]}")"
    echo "soak_${mode}_median_downtime_ms=$(median <<<"${downs[$mode]}")"
done
echo "soak_seconds=$((SECONDS - t0))"
echo "PASS: $n migrations in each of ${modes[*]}, pagecheck intact after all $k"
