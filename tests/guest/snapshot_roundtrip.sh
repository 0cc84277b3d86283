#!/usr/bin/env bash
# Snapshots in a real guest: 10 round trips of pause -> snapshot create ->
# kill -9 -> restore in a new process -> resume, on 1 hart. After each one
# the guest's 16 MiB tmpfs file keeps its checksum, its 100 ms counter has
# moved on (timers fire), its uptime never goes backwards, and a command
# typed on the console answers. The last guest powers off with status 0.
source "$(dirname "$0")/lib/snapshot_lib.bash"
rounds=${SNAP_ROUNDS:-10}
snap_boot 1
snap_check 0
for ((k = 1; k <= rounds; k++)); do
    snap_round "$k" "$SNAP_WORK/snap$k"
    rm -rf "$SNAP_WORK/snap$((k - 1))"
done
snap_poweroff
echo "PASS: $rounds snapshot round trips"
