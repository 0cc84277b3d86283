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
# Environment: BENCH_DIRTY_MIB, BENCH_DIRTY_RATE, BENCH_WARMUP, BUILD.
. "$(dirname "$0")/../lib.sh"
command -v qemu-system-riscv64 >/dev/null || { echo "error=qemu-system-riscv64 missing"; exit 1; }
command -v qemu-img >/dev/null || { echo "error=qemu-img missing"; exit 1; }
DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "error=no guest images (scripts/guest.sh)"; exit 1; }
WORK=$BENCH_OUT/snapshot-qemu
rm -rf "$WORK"
mkdir -p "$WORK"
echo "qemu_version=$(qemu-system-riscv64 --version | head -n 1 | sed 's/.*version //; s/ .*//')"
echo "guest=$(basename "$DIR")"
python3 "$BENCH_TOP/bench/snapshot/qemu_drive.py" snapshot "$DIR" "$WORK"
rc=$?
# The state file and disk are large: keep only the logs.
rm -f "$WORK"/*.state "$WORK"/*.qcow2
exit $rc
