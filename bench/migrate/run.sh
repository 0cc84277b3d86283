#!/usr/bin/env bash
# Live-migration benchmark (issue 10), Corral and QEMU side by side: runs
# bench/migrate/qemu.sh and bench/migrate/corral.sh and prints
# every key with both values.  Full key=value output: $BUILD/bench/migrate-*.txt
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL
HERE=$(cd "$(dirname "$0")" && pwd)
echo "== migrate: loopback, 512 MiB guest, pagecheck dirtying ${BENCH_DIRTY_MIB:-128} MiB at ${BENCH_DIRTY_RATE:-125} MB/s"
side_by_side migrate "$HERE"
