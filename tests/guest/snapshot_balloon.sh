#!/usr/bin/env bash
# Snapshots of a VM with a virtio-balloon: inflate to 64 MiB, snapshot,
# kill -9, restore in a new process: the balloon's target and the guest's
# ballooned pages are as they were (GET /balloon, the guest's MemTotal),
# its statistics are there, and a deflate after the restore gives the memory
# back; then it inflates again and migrates live to a new process, where
# it deflates; the workload's file, counter, uptime and pages all hold.
source "$(dirname "$0")/lib/snapshot_lib.bash"
command -v jq >/dev/null || snap_fail "jq is not installed"
api() { # METHOD PATH [BODY] -> BODY (status dropped)
    curl -s --max-time 20 --unix-socket "$SNAP_SOCK" -X "$1" \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "http://localhost$2"
}
balloon_field() { api GET /balloon | jq -r ".$1 // -1"; }
wait_actual() { # MIB
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(balloon_field actual_mib)" -eq "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
memtotal_kib() { # K: asks the guest; prints MemTotal in KiB
    send "printf 'M%s $1 %s\\n' EMTOTAL \$(awk '/^MemTotal/{print \$2}' /proc/meminfo)"$'\n'
    wait_for "MEMTOTAL $1 [0-9]+" 60 >/dev/null || snap_fail "the guest does not answer (MemTotal $1)"
    grep -a -o "MEMTOTAL $1 [0-9]*" "$SESSION_LOG" | tail -n 1 | awk '{print $3}'
}

snap_boot 1 --balloon 0,stats=1
snap_check 0
full=$(memtotal_kib 0)
"$CORRAL" ctl --sock "$SNAP_SOCK" balloon 64M >/dev/null || snap_fail "ctl balloon 64M refused"
wait_actual 64 || snap_fail "the balloon reached only $(balloon_field actual_mib) MiB of 64"
inflated=$(memtotal_kib 1)
echo "MemTotal: $full KiB, with 64 MiB ballooned $inflated KiB"
snap_round 1 "$SNAP_WORK/snap1"
[ "$(balloon_field amount_mib)" -eq 64 ] || snap_fail "restored balloon target: $(api GET /balloon)"
[ "$(balloon_field actual_mib)" -eq 64 ] || snap_fail "restored balloon actual: $(api GET /balloon)"
after=$(memtotal_kib 2)
[ "$after" -eq "$inflated" ] || snap_fail "MemTotal after the restore is $after KiB, was $inflated"
# The guest's statistics are there after the restore (kept, then polled).
stats=$(api GET /balloon/statistics)
[ "$(jq -r '.free_memory // -1' <<<"$stats")" -gt 0 ] || snap_fail "no statistics after the restore: $stats"
"$CORRAL" ctl --sock "$SNAP_SOCK" balloon 0 >/dev/null || snap_fail "ctl balloon 0 refused"
wait_actual 0 || snap_fail "the restored balloon deflated only to $(balloon_field actual_mib) MiB"
back=$(memtotal_kib 3)
[ "$back" -gt "$inflated" ] || snap_fail "MemTotal after the deflate is $back KiB (inflated $inflated)"
snap_check 2
# The same state moves live: inflate again and migrate to a new process.
"$CORRAL" ctl --sock "$SNAP_SOCK" balloon 32M >/dev/null || snap_fail "ctl balloon 32M refused"
wait_actual 32 || snap_fail "the balloon reached only $(balloon_field actual_mib) MiB of 32"
snap_migrate 1
[ "$(balloon_field actual_mib)" -eq 32 ] || snap_fail "migrated balloon: $(api GET /balloon)"
"$CORRAL" ctl --sock "$SNAP_SOCK" balloon 0 >/dev/null || snap_fail "ctl balloon 0 refused after the migration"
wait_actual 0 || snap_fail "the migrated balloon deflated only to $(balloon_field actual_mib) MiB"
snap_check 3
snap_poweroff
echo "PASS: a ballooned VM snapshots, restores and deflates"
