#!/usr/bin/env bash
# Diff snapshots on SMP guests: on 2 harts, a Full snapshot then three
# Diff snapshots, each restored in a new process after kill -9 (each Diff
# builds on the chain of the previous ones, whose memory files it lists);
# the chain is merged into one Full snapshot, which restores too, and a
# Diff memory file is much smaller than a Full one. Then 4 harts: two
# round trips. Checks as in snapshot_roundtrip (checksum, counter, uptime).
source "$(dirname "$0")/lib/snapshot_lib.bash"

size_on_disk() { echo $(( $(stat -c %b "$1") * 512 )); }

snap_boot 2
snap_check 0
snap_round 1 "$SNAP_WORK/full"
for k in 2 3 4; do
    snap_round "$k" "$SNAP_WORK/diff$k" --diff
done
full=$(size_on_disk "$SNAP_WORK/full/memory")
diff=$(size_on_disk "$SNAP_WORK/diff4/memory")
echo "memory on disk: Full $full bytes, last Diff $diff bytes"
# (pagecheck rewrites its 32 MiB region over and over: a Diff holds at
# most that region and what the kernel wrote, a Full one all used RAM)
[ "$diff" -lt $((full / 2)) ] || snap_fail "a Diff memory file ($diff) is not much smaller than a Full one ($full)"
# A Diff with nothing new needs its chain: the base cannot be dropped.
"$CORRAL" snapshot merge --dir "$SNAP_WORK/diff4" --out "$SNAP_WORK/merged" ||
    snap_fail "merge failed"
kill -9 "$CORRAL_PID"
end_session 50
SNAP_SOCK=$SNAP_WORK/api-merged.sock
# The merged snapshot stands alone: the chain's files can go.
rm -rf "$SNAP_WORK/full" "$SNAP_WORK/diff2" "$SNAP_WORK/diff3"
start_corral "$SNAP_WORK/console-merged.log" restore "$SNAP_WORK/merged" --api-sock "$SNAP_SOCK"
# The merged state is diff4's moment, between checks 3 and 4.
SNAP_LAST_CNT=$SNAP_PREV_CNT
SNAP_LAST_UP=$SNAP_PREV_UP
snap_check 5
snap_poweroff

SNAP_LAST_CNT=0 SNAP_LAST_UP=0
snap_boot 4
snap_check 10
snap_round 11 "$SNAP_WORK/smp4a"
snap_round 12 "$SNAP_WORK/smp4b" --diff
snap_poweroff
echo "PASS: Diff chain on 2 harts, merge, 4-hart round trips"
