#!/usr/bin/env bash
# The page-verifying workload (pagecheck: 32 MiB rewritten at 16 MB/s, a
# 100 ms counter, a checksummed file) migrated back and forth between two
# Corral processes MIGRATE_MOVES times (default 20) in pre-copy, then as
# many in post-copy: after every move no page is lost or stale, the
# counter and the uptime went on, pagecheck verified more pages, and the
# old process exited 0; a full check (a whole new pagecheck sweep) every
# fifth move and after the last. bench/migrate/soak.sh runs it 100 times
# per mode. (migrate_precopy.sh and migrate_postcopy.sh cover the ways of
# sending less, the throttle and the failures.)
source "$(dirname "$0")/lib/snapshot_lib.bash"
moves=${MIGRATE_MOVES:-20}
case $moves in '' | *[!0-9]* | 0) snap_fail "MIGRATE_MOVES must be a positive number, not '$moves'" ;; esac

snap_boot 1
snap_check 0
k=0
for mode in precopy postcopy; do
    t0=$SECONDS
    for ((i = 1; i <= moves; i++)); do
        k=$((k + 1))
        snap_migrate "$k" --mode "$mode"
        # (The CLI names the mode only when pages were left for post-copy.)
        if [ "$mode" = postcopy ]; then
            grep -q "mode postcopy: [0-9]* pages" <<<"$SNAP_MIG_OUT"
        else
            grep -q "completed" <<<"$SNAP_MIG_OUT" && ! grep -q "mode postcopy" <<<"$SNAP_MIG_OUT"
        fi || snap_fail "move $k did not run in $mode: $SNAP_MIG_OUT"
        if ((i % 5 == 0 || i == moves)); then
            snap_check "$((1000 + k))"
        else
            snap_quick_check "$((1000 + k))"
        fi
    done
    echo "ok: $moves $mode moves, zero mismatched pages ($((SECONDS - t0)) s)"
done
snap_poweroff
echo "PASS: $moves pre-copy and $moves post-copy moves back and forth, every page verified after each"
