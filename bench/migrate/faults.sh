#!/usr/bin/env bash
# Migration fault injection (issue 10): 100 pre-copy migrations that fail
# at a random point — the destination killed, the connection reset after a
# random number of bytes, one random byte flipped, the configuration
# refused — and after each the source VM still runs with its pagecheck
# workload intact (zero mismatches), its counter and uptime moving on.
# FAULTS overrides the count. Prints one line per kind with its count.
source "$(dirname "$0")/../../tests/guest/lib/snapshot_lib.bash"
n=${FAULTS:-100}
kinds=(kill drop corrupt refuse)
declare -A done_
snap_boot 1
t0=$SECONDS
for ((i = 1; i <= n; i++)); do
    kind=${kinds[RANDOM % 4]}
    snap_fault "$i" "$kind"
    done_[$kind]=$(( ${done_[$kind]:-0} + 1 ))
done
snap_poweroff
for kind in "${kinds[@]}"; do echo "faults_$kind=${done_[$kind]:-0}"; done
echo "faults_total=$n seconds=$((SECONDS - t0))"
echo "PASS: $n injected faults, the source kept running intact after every one"
