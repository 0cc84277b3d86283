#!/usr/bin/env bash
# bench/io/run.sh for each disk setup (raw, fresh qcow2, preallocated
# qcow2; host page cache and cache=none), Corral and QEMU side by side in
# each run, two boots of each alternating. Shorter rounds than run.sh's
# defaults unless overridden.
cd "$(dirname "$0")" || exit 1
export BENCH_IO_SEQ_MB=${BENCH_IO_SEQ_MB:-96} BENCH_IO_REPS=${BENCH_IO_REPS:-5}
export BENCH_IO_RAND_SECS=${BENCH_IO_RAND_SECS:-3} BENCH_IO_NET_REPS=${BENCH_IO_NET_REPS:-1}
export BENCH_IO_NET_MB=${BENCH_IO_NET_MB:-4} BENCH_IO_BOOTS=${BENCH_IO_BOOTS:-2}
status=0
for setup in ${BENCH_IO_SETUPS:-raw:writeback qcow2:writeback qcow2-alloc:writeback raw:none qcow2-alloc:none}; do
    BENCH_IO_FORMAT=${setup%:*} BENCH_IO_CACHE=${setup#*:} ./run.sh || status=1
done
exit $status
