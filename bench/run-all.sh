#!/usr/bin/env bash
# `make bench`: the CPU benchmark (bare-metal, instructions per second,
# then the same kernels as a process in a Debian guest), the boot benchmark (Debian kernel to corral.cmd) and the I/O benchmark
# (virtio-blk and virtio-net throughput in the guest), each on Corral and
# on QEMU TCG.  BENCH_REPS (default 3) runs per VMM; BENCH_ONLY=cpu|cpu-guest|boot|io|snapshot|migrate|cluster
# runs one of them.  Logs go to $BUILD/bench/.  bench/RESULTS.md has figures.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export BUILD=${BUILD:-build}
command -v qemu-system-riscv64 >/dev/null || { echo "bench: qemu-system-riscv64 missing"; exit 1; }
command -v riscv64-unknown-elf-gcc >/dev/null || { echo "bench: riscv64-unknown-elf-gcc missing"; exit 1; }
echo "bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
    "$(qemu-system-riscv64 --version | head -n 1); load average $(cut -d" " -f1-3 /proc/loadavg)"
status=0
case ${BENCH_ONLY:-} in cpu|'') "$HERE/cpu/run.sh" || status=1 ;; esac
case ${BENCH_ONLY:-} in cpu-guest|'') "$HERE/cpu/guest.sh" || status=1 ;; esac
case ${BENCH_ONLY:-} in boot|'') "$HERE/boot/run.sh" || status=1 ;; esac
case ${BENCH_ONLY:-} in io|'') "$HERE/io/run.sh" || status=1 ;; esac
case ${BENCH_ONLY:-} in snapshot|'') "$HERE/snapshot/run.sh" || status=1 ;; esac
case ${BENCH_ONLY:-} in migrate|'') "$HERE/migrate/run.sh" || status=1 ;; esac
case ${BENCH_ONLY:-} in cluster|'') "$HERE/cluster/run.sh" || status=1 ;; esac
exit $status
