/* Compute kernels of the CPU benchmark.  The same source is compiled twice:
 * for the bare-metal RISC-V program (bench/cpu/main.c) and natively for the
 * host (bench/cpu/host.c), which prints the checksums the guest must match.
 * Everything is fixed-width integer or IEEE double arithmetic with no FMA
 * contraction (-ffp-contract=off on both sides), so the results are
 * bit-identical on both machines. */
#ifndef BENCH_KERNELS_H
#define BENCH_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Work multiplier: every kernel's iteration count scales with it. */
#ifndef BENCH_SCALE
#define BENCH_SCALE 5
#endif

struct bench_kernel {
    const char *name;
    uint64_t (*run)(unsigned scale);
};

extern const struct bench_kernel bench_kernels[];
extern const unsigned bench_nkernels;

/* mixed.c: the coremark-like kernel. */
uint64_t k_mixed(unsigned scale);

/* Our own, so the benchmark measures the guest's code, not a libc's. */
void *bench_memcpy(void *dst, const void *src, size_t n);
void *bench_memset(void *dst, int c, size_t n);

#endif
