#!/usr/bin/env bash
# QEMU side of the snapshot benchmark (issue 9): qemu-system-riscv64 -M virt,
# 512 MiB, the Debian kernel/initramfs of scripts/guest.sh, with pagecheck
# (guest/pagecheck.c) dirtying 128 MiB at 125 MB/s.  Through QMP:
#   - create: pause, then migrate "exec:cat > FILE" (time to completed, size);
#     restore: a new process with -incoming "exec:cat FILE" (time from launch
#     to running, and to the first command answered on the serial console);
#   - the same with savevm / -loadvm on a qcow2 disk;
#   - after each restore: pagecheck's mismatches, clock_backwards, whether
#     its sweeps go on (frozen = the status stops growing or the shell only
#     echoes what it is sent).
# Prints key=value lines (bench/snapshot/run.sh shows them side by side).
# Environment: BENCH_QEMU_VARIANTS ("default sstc_off"), BENCH_DIRTY_MIB, BENCH_DIRTY_RATE, BENCH_WARMUP, BUILD.
. "$(dirname "$0")/../lib.sh"
command -v qemu-system-riscv64 >/dev/null || { echo "error=qemu-system-riscv64 missing"; exit 1; }
command -v qemu-img >/dev/null || { echo "error=qemu-img missing"; exit 1; }
DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "error=no guest images (scripts/guest.sh)"; exit 1; }
WORK=$BENCH_OUT/snapshot-qemu
rm -rf "$WORK"
mkdir -p "$WORK"
echo "qemu_version=$(qemu-system-riscv64 --version | head -n 1 | sed 's/.*version //; s/ .*//')"
echo "guest=$(basename "$DIR")"
# Variants: QEMU's default CPU (the guest then uses the Sstc timer), and
# -cpu rv64,sstc=off (keys prefixed sstc_off_; Linux takes its timer through
# OpenSBI and the CLINT). In our runs the guest froze after some restores
# and migrations in BOTH variants (the tty echoes input, the shell never
# runs: frozen=yes(echo-only)); the second variant doubles the samples.
rc=0
for variant in ${BENCH_QEMU_VARIANTS:-default sstc_off}; do
    case $variant in
        default) cpu='' prefix='' ;;
        sstc_off) cpu=rv64,sstc=off prefix=sstc_off_ ;;
        *) echo "error=unknown variant $variant"; exit 2 ;;
    esac
    BENCH_QEMU_CPU=$cpu BENCH_KEY_PREFIX=$prefix \
        python3 "$BENCH_TOP/bench/snapshot/qemu_drive.py" snapshot "$DIR" "$WORK/$variant" || rc=1
done
# The state file and disk are large: keep only the logs.
rm -f "$WORK"/*/*.state "$WORK"/*/*.qcow2
exit $rc
