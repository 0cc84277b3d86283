#!/usr/bin/env bash
# Snapshot benchmark (issue 9), Corral and QEMU side by side: runs
# bench/snapshot/qemu.sh and bench/snapshot/corral.sh and prints
# every key with both values.  Full key=value output: $BUILD/bench/snapshot-*.txt
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL
HERE=$(cd "$(dirname "$0")" && pwd)
echo "== snapshot: 512 MiB guest, pagecheck dirtying ${BENCH_DIRTY_MIB:-128} MiB at ${BENCH_DIRTY_RATE:-125} MB/s"
side_by_side snapshot "$HERE"
