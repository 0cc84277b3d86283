/* Bare-metal driver of the CPU benchmark: runs every kernel, checks its
 * checksum against the host's (expected.h), and prints per kernel the
 * retired instructions (minstret) and the elapsed CLINT mtime ticks
 * (10 MHz on both QEMU virt and Corral) on the ns16550 UART.  Lines:
 *   kernel NAME instret N ticks T sum 0x... ok|BAD
 *   bench instret N ticks T result PASS|FAIL
 * bench/cpu/run.sh parses them. */
#include "kernels.h"
#include "expected.h"

/* Profiling aid: -DBENCH_KERNEL_MASK=0x10 runs only kernel 4 (double). */
#ifndef BENCH_KERNEL_MASK
#define BENCH_KERNEL_MASK 0xffffffffu
#endif

#define UART_THR ((volatile uint8_t *)0x10000000)
#define UART_LSR ((volatile uint8_t *)0x10000005)
#define CLINT_MTIME ((volatile uint64_t *)0x0200bff8)

static void putc_uart(char c)
{
    while (!(*UART_LSR & 0x20))
        ;
    *UART_THR = (uint8_t)c;
}

static void puts_uart(const char *s)
{
    while (*s)
        putc_uart(*s++);
}

static void putu(uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        putc_uart(tmp[--n]);
}

static void putx(uint64_t v)
{
    puts_uart("0x");
    for (int i = 60; i >= 0; i -= 4)
        putc_uart("0123456789abcdef"[(v >> i) & 15]);
}

static inline uint64_t rd_instret(void)
{
    uint64_t v;
    __asm__ volatile("csrr %0, minstret" : "=r"(v));
    return v;
}

int bench_main(void)
{
    int failed = 0;
    uint64_t i0 = rd_instret(), t0 = *CLINT_MTIME;

    for (unsigned k = 0; k < bench_nkernels; k++) {
        if (!(BENCH_KERNEL_MASK & (1u << k)))
            continue;
        uint64_t ki = rd_instret(), kt = *CLINT_MTIME;
        uint64_t sum = bench_kernels[k].run(BENCH_SCALE);
        uint64_t ke = rd_instret(), ket = *CLINT_MTIME;
        int ok = sum == bench_expected[k];
        if (!ok && !failed)
            failed = (int)k + 1;
        puts_uart("kernel ");
        puts_uart(bench_kernels[k].name);
        puts_uart(" instret ");
        putu(ke - ki);
        puts_uart(" ticks ");
        putu(ket - kt);
        puts_uart(" sum ");
        putx(sum);
        puts_uart(ok ? " ok\n" : " BAD\n");
    }
    uint64_t i1 = rd_instret(), t1 = *CLINT_MTIME;
    puts_uart("bench instret ");
    putu(i1 - i0);
    puts_uart(" ticks ");
    putu(t1 - t0);
    puts_uart(failed ? " result FAIL\n" : " result PASS\n");
    return failed;
}
