#!/usr/bin/env bash
# QEMU side of the live-migration benchmark (issue 10): two
# qemu-system-riscv64 -M virt processes on loopback TCP (-incoming
# tcp:127.0.0.1:PORT), 512 MiB, the Debian kernel/initramfs of
# scripts/guest.sh, with pagecheck (guest/pagecheck.c) dirtying 128 MiB at
# 125 MB/s.  Pre-copy and post-copy (switched after the first full pass),
# with max-bandwidth unlimited (64 GiB/s) and 32 MiB/s; a pre-copy that has
# not converged after 30 s is forced (downtime-limit 60 s) and reported as
# not converged.  Per run: total time and downtime (query-migrate), bytes
# sent, whether the destination runs, pagecheck's mismatches after at least
# two full sweeps on the destination, and whether the guest froze.
# Prints key=value lines (bench/migrate/run.sh shows them side by side).
# Environment: BENCH_QEMU_VARIANTS ("default sstc_off"), BENCH_MIGRATE_MODES ("precopy postcopy"), BENCH_MIGRATE_CAPS
# ("0 32", MiB/s, 0 = unlimited), BENCH_DIRTY_MIB, BENCH_DIRTY_RATE, BUILD.
. "$(dirname "$0")/../lib.sh"
command -v qemu-system-riscv64 >/dev/null || { echo "error=qemu-system-riscv64 missing"; exit 1; }
DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "error=no guest images (scripts/guest.sh)"; exit 1; }
WORK=$BENCH_OUT/migrate-qemu
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
        python3 "$BENCH_TOP/bench/snapshot/qemu_drive.py" migrate "$DIR" "$WORK/$variant" || rc=1
done
exit $rc
