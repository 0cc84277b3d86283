/* The CPU benchmark's kernels as a static riscv64 Linux program, run as a
 * process inside the Debian kernel by bench/cpu/guest.sh on Corral and on
 * QEMU (the "inside a Debian guest": user mode, the kernel's timer
 * ticks and page tables underneath). Times come from CLOCK_MONOTONIC, which
 * both VMMs back with the guest's timebase. Lines:
 *   kernel NAME ns T sum 0x... ok|BAD
 *   bench ns T result PASS|FAIL
 * The checksums must match the host's (expected.h), as on bare metal. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "expected.h"
#include "kernels.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void)
{
    int failed = 0;
    uint64_t t0 = now_ns();
    for (unsigned k = 0; k < bench_nkernels; k++) {
        uint64_t kt = now_ns();
        uint64_t sum = bench_kernels[k].run(BENCH_SCALE);
        uint64_t ke = now_ns();
        int ok = sum == bench_expected[k];
        if (!ok)
            failed = 1;
        printf("kernel %s ns %" PRIu64 " sum 0x%016" PRIx64 " %s\n", bench_kernels[k].name,
               ke - kt, sum, ok ? "ok" : "BAD");
        fflush(stdout);
    }
    printf("bench ns %" PRIu64 " result %s\n", now_ns() - t0, failed ? "FAIL" : "PASS");
    return failed;
}
