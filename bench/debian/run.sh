#!/usr/bin/env bash
# Debian build benchmark (issue 16): debootstrap's second stage of the full
# Debian image (corral image debian) run by Corral and by qemu-system-riscv64
# -M virt on copies of the same first-stage disk, with the same kernel,
# OpenSBI and initramfs (scripts/guest.sh), 2 harts (BENCH_DEBIAN_CPUS) and
# 2 GiB each. Takes 15-40 minutes per VMM: not in `make bench`.
#
# The first-stage disk comes from a build made with
#   CORRAL_DEBIAN_KEEP_FOREIGN=1 corral image debian OUT.qcow2
# (it keeps ~/.cache/corral/debian/SUITE/foreign.raw), or BENCH_DEBIAN_DISK.
# BENCH_DEBIAN_VMMS (default "corral qemu") picks the VMMs; one run each.
# Prints the wall time of each (launch to "corral: exit 0") and the ratio.
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL
SUITE=${BENCH_DEBIAN_SUITE:-trixie}
D=${XDG_CACHE_HOME:-$HOME/.cache}/corral/debian/$SUITE
DISK=${BENCH_DEBIAN_DISK:-$D/foreign.raw}
[ -r "$DISK" ] || { echo "debian: no first-stage disk $DISK; build with CORRAL_DEBIAN_KEEP_FOREIGN=1 corral image debian OUT.qcow2, or set BENCH_DEBIAN_DISK"; exit 1; }
CORRAL_DEBIAN_GUEST_DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "debian: no guest images (scripts/guest.sh)"; exit 1; }
export CORRAL_DEBIAN_GUEST_DIR CORRAL_DEBIAN_CPUS=${BENCH_DEBIAN_CPUS:-2} CORRAL_BIN=$CORRAL
echo "== debian: second stage of $DISK, $CORRAL_DEBIAN_CPUS harts, 2 GiB;" \
    "$(qemu-system-riscv64 --version | head -n 1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A WALL
status=0
for vmm in ${BENCH_DEBIAN_VMMS:-corral qemu}; do
    work=$BENCH_OUT/debian-$vmm.raw
    cp --sparse=always "$DISK" "$work"
    t0=$SECONDS
    if CORRAL_DEBIAN_RUNNER=$vmm XDG_CACHE_HOME=$BENCH_OUT/debian-cache-$vmm \
        "$BENCH_TOP/scripts/debian-image.sh" --bench-second-stage "$work"; then
        WALL[$vmm]=$((SECONDS - t0))
        printf '  %-7s %4d s  (%d min %02d s; log %s.log), load average %s\n' "$vmm" "${WALL[$vmm]}" \
            $((WALL[$vmm] / 60)) $((WALL[$vmm] % 60)) "$work" "$(cut -d' ' -f1-3 /proc/loadavg)"
    else
        echo "debian: $vmm FAILED after $((SECONDS - t0)) s, see $work.log"
        status=1
    fi
    rm -f "$work"
done
if [ -n "${WALL[corral]:-}" ] && [ -n "${WALL[qemu]:-}" ]; then
    echo "  corral/qemu wall time: $(ratio "${WALL[corral]}" "${WALL[qemu]}")"
fi
exit $status
