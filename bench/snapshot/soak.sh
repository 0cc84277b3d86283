#!/usr/bin/env bash
# Snapshot soak: 100 pause -> create -> kill -9 -> restore -> resume round
# trips of tests/guest/snapshot_roundtrip.sh (10 run in make test), each
# checking pagecheck's pages, the counter, the uptime and the console.
# SNAP_ROUNDS overrides the count. Prints the test's lines and PASS/FAIL.
HERE=$(cd "$(dirname "$0")" && pwd)
SNAP_ROUNDS=${SNAP_ROUNDS:-100} exec bash "$HERE/../../tests/guest/snapshot_roundtrip.sh"
