#!/usr/bin/env bash
# Builds the CPU benchmark into OUT (default build/bench): the host binary
# that computes the expected checksums, expected.h, then the RISC-V ELF
# (bare metal) and, with riscv64-linux-gnu-gcc, the Linux program.
# BENCH_SCALE (default 4) sets the amount of work.
set -eu
SRC=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-build/bench}
SCALE=${BENCH_SCALE:-5}
mkdir -p "$OUT"
# No FMA contraction and no loop-to-memcpy rewriting on either side, so the
# host and the guest compute bit-identical results.
# BENCH_CFLAGS adds flags (e.g. -DBENCH_KERNEL_MASK=0x10 to profile one kernel).
# shellcheck disable=SC2206
COMMON=(-O2 ${BENCH_CFLAGS:-} -ffp-contract=off -fno-math-errno -fno-tree-loop-distribute-patterns
    -DBENCH_SCALE="$SCALE")
"${HOSTCC:-gcc}" "${COMMON[@]}" -Wall -Wextra -Werror -o "$OUT/cpu-host" \
    "$SRC/host.c" "$SRC/kernels.c" "$SRC/mixed.c" "$SRC/mem.c"
"$OUT/cpu-host" >"$OUT/expected.h.tmp"
mv "$OUT/expected.h.tmp" "$OUT/expected.h"
riscv64-unknown-elf-gcc "${COMMON[@]}" -march=rv64gc -mabi=lp64d -mcmodel=medany \
    -ffreestanding -fno-builtin -DBENCH_FREESTANDING -Wall -Wextra -Werror \
    -nostdlib -nostartfiles -static -Wl,--no-warn-rwx-segments \
    -I"$OUT" -I"$SRC" -T "$SRC/link.ld" -o "$OUT/cpu.elf" \
    "$SRC/start.S" "$SRC/main.c" "$SRC/kernels.c" "$SRC/mixed.c" "$SRC/mem.c" -lgcc
# The same kernels as a Linux program for bench/cpu/guest.sh (static, so
# the guest's initramfs needs no libc of its own).
if command -v riscv64-linux-gnu-gcc >/dev/null; then
    riscv64-linux-gnu-gcc "${COMMON[@]}" -march=rv64gc -mabi=lp64d -Wall -Wextra -Werror -static \
        -I"$OUT" -I"$SRC" -o "$OUT/cpu-linux" "$SRC/linux.c" "$SRC/kernels.c" "$SRC/mixed.c" "$SRC/mem.c"
fi
