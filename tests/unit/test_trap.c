/* trap.c: exception entry and delegation, vectored mode, interrupt
 * priority and enables, nested traps, mret/sret, and wfi sleeping until
 * another thread raises a line or a timer compare passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include "cpu/riscv/csr.h"

__attribute__((weak)) void block_invalidate_page(struct hart *h, gpa_t pa) {}
__attribute__((weak)) void block_cache_flush(struct hart *h) {}

static struct bus bus;
static struct vclock clk;
static struct hart *h;

#define MTVEC 0x80001000ULL
#define STVEC 0x80002000ULL

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(gmem_init(&bus.ram, 0x80000000ULL, 1 << 20), 0);
    vclock_init(&clk);
    h = calloc(1, sizeof(*h));
    h->bus = &bus;
    h->clock = &clk;
    hart_set_priv(h, PRIV_M);
    h->mstatus = MSTATUS_XL64;
    h->mtimecmp = UINT64_MAX;
    h->stimecmp = UINT64_MAX;
    h->mtvec = MTVEC;
    h->stvec = STVEC;
    pthread_mutex_init(&h->wake_lock, NULL);
    pthread_cond_init(&h->wake_cond, NULL);
    return 0;
}

static int teardown(void **state)
{
    pthread_mutex_destroy(&h->wake_lock);
    pthread_cond_destroy(&h->wake_cond);
    gmem_destroy(&bus.ram);
    free(h);
    return 0;
}

static void test_exception_to_m(void **state)
{
    hart_set_priv(h, PRIV_U);
    h->pc = 0x1234;
    h->mstatus |= MSTATUS_MIE;
    hart_raise(h, EXC_ILLEGAL_INSN, 0x0000dead);
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->pc, MTVEC);
    assert_int_equal(h->mepc, 0x1234);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mtval, 0xdead);
    assert_int_equal(h->mstatus & MSTATUS_MPP, 0);
    assert_true(h->mstatus & MSTATUS_MPIE);
    assert_false(h->mstatus & MSTATUS_MIE);
    assert_int_equal(h->trap_pending, 1);
    /* From M, M again: MPP = M, MPIE = 0 (MIE was cleared). */
    h->pc = 0x80000010;
    hart_raise(h, EXC_BREAKPOINT, 0x80000010);
    assert_int_equal(h->mstatus & MSTATUS_MPP, MSTATUS_MPP);
    assert_false(h->mstatus & MSTATUS_MPIE);
}

static void test_delegation(void **state)
{
    h->medeleg = (1ULL << EXC_ECALL_U) | (1ULL << EXC_LOAD_PAGE_FAULT) |
                 (1ULL << EXC_BREAKPOINT);
    hart_set_priv(h, PRIV_U);
    h->pc = 0x4000;
    h->mstatus |= MSTATUS_SIE;
    hart_raise(h, EXC_ECALL_U, 0);
    assert_int_equal(h->priv, PRIV_S);
    assert_int_equal(h->pc, STVEC);
    assert_int_equal(h->sepc, 0x4000);
    assert_int_equal(h->scause, EXC_ECALL_U);
    assert_int_equal(h->stval, 0);
    assert_false(h->mstatus & MSTATUS_SPP);
    assert_true(h->mstatus & MSTATUS_SPIE);
    assert_false(h->mstatus & MSTATUS_SIE);
    assert_int_equal(h->mcause, 0); /* M untouched */
    /* From S, delegated: SPP = S. */
    h->pc = 0x5000;
    hart_raise(h, EXC_LOAD_PAGE_FAULT, 0x999);
    assert_int_equal(h->priv, PRIV_S);
    assert_true(h->mstatus & MSTATUS_SPP);
    assert_false(h->mstatus & MSTATUS_SPIE);
    assert_int_equal(h->stval, 0x999);
    /* Not delegated: to M. */
    hart_raise(h, EXC_STORE_PAGE_FAULT, 0x777);
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->mcause, EXC_STORE_PAGE_FAULT);
    assert_int_equal(h->mstatus & MSTATUS_MPP, 1ULL << 11);
    /* Delegated, but raised in M: stays in M. */
    hart_raise(h, EXC_BREAKPOINT, 0);
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->mcause, EXC_BREAKPOINT);
}

static void test_vectored(void **state)
{
    h->mtvec = MTVEC | 1;
    hart_set_priv(h, PRIV_U);
    hart_raise(h, EXC_ECALL_U, 0);
    assert_int_equal(h->pc, MTVEC); /* exceptions: base */
    hart_set_priv(h, PRIV_U);
    hart_raise(h, CAUSE_INTERRUPT | IRQ_M_TIMER, 0);
    assert_int_equal(h->pc, MTVEC + 4 * IRQ_M_TIMER);
    assert_int_equal(h->mcause, CAUSE_INTERRUPT | IRQ_M_TIMER);
    h->stvec = STVEC | 1;
    h->mideleg = MIP_SEIP;
    hart_set_priv(h, PRIV_U);
    hart_raise(h, CAUSE_INTERRUPT | IRQ_S_EXT, 0);
    assert_int_equal(h->priv, PRIV_S);
    assert_int_equal(h->pc, STVEC + 4 * IRQ_S_EXT);
}

static void set_all_pending(void)
{
    h->mip_hw = MIP_MEIP | MIP_MSIP;
    h->mip_sw = MIP_SSIP | MIP_STIP | MIP_SEIP;
    h->mtimecmp = 0;
}

static void clear_source(int irq)
{
    if (irq == IRQ_M_TIMER)
        h->mtimecmp = UINT64_MAX;
    else if (irq == IRQ_M_EXT || irq == IRQ_M_SOFT)
        h->mip_hw &= ~(1ULL << irq);
    else
        h->mip_sw &= ~(1ULL << irq);
}

static void test_priority(void **state)
{
    static const int order[] = {IRQ_M_EXT, IRQ_M_SOFT, IRQ_M_TIMER,
                                IRQ_S_EXT, IRQ_S_SOFT, IRQ_S_TIMER};
    h->mie = MIP_ALL_MASK;
    set_all_pending();
    for (unsigned i = 0; i < ARRAY_SIZE(order); i++) {
        hart_set_priv(h, PRIV_U);
        h->pc = 0x100;
        h->trap_pending = 0;
        assert_true(hart_check_interrupts(h));
        assert_int_equal(h->mcause, CAUSE_INTERRUPT | (uint64_t)order[i]);
        assert_int_equal(h->mepc, 0x100);
        assert_int_equal(h->priv, PRIV_M);
        assert_int_equal(h->trap_pending, 0);
        clear_source(order[i]);
    }
    hart_set_priv(h, PRIV_U);
    assert_false(hart_check_interrupts(h));
    /* Pending but not enabled in mie. */
    set_all_pending();
    h->mie = 0;
    assert_false(hart_check_interrupts(h));
    assert_int_equal(hart_pending_irqs(h), 0);
    h->mie = MIP_MTIP;
    assert_int_equal(hart_pending_irqs(h), MIP_MTIP);
}

static void test_enables(void **state)
{
    h->mie = MIP_ALL_MASK;
    h->mideleg = MIP_SSIP | MIP_STIP | MIP_SEIP;
    /* M-mode, MIE = 0: nothing; MIE = 1: M-level only. */
    h->mip_hw = MIP_MSIP;
    h->mip_sw = MIP_SSIP;
    hart_set_priv(h, PRIV_M);
    h->mstatus = MSTATUS_XL64 | MSTATUS_SIE;
    assert_false(hart_check_interrupts(h));
    h->mstatus |= MSTATUS_MIE;
    assert_true(hart_check_interrupts(h));
    assert_int_equal(h->mcause, CAUSE_INTERRUPT | IRQ_M_SOFT);
    h->mip_hw = 0;
    h->mstatus = MSTATUS_XL64 | MSTATUS_MIE | MSTATUS_SIE;
    assert_false(hart_check_interrupts(h)); /* delegated: never in M */
    /* S-mode: M-level always; delegated only with SIE. */
    hart_set_priv(h, PRIV_S);
    h->mstatus = MSTATUS_XL64;
    assert_false(hart_check_interrupts(h));
    h->mstatus |= MSTATUS_SIE;
    assert_true(hart_check_interrupts(h));
    assert_int_equal(h->priv, PRIV_S);
    assert_int_equal(h->scause, CAUSE_INTERRUPT | IRQ_S_SOFT);
    assert_true(h->mstatus & MSTATUS_SPP);
    assert_true(h->mstatus & MSTATUS_SPIE);
    /* U-mode: delegated taken regardless of SIE. */
    hart_set_priv(h, PRIV_U);
    h->mstatus = MSTATUS_XL64;
    assert_true(hart_check_interrupts(h));
    assert_int_equal(h->priv, PRIV_S);
    /* M-targeted beats S-targeted even if lower in the fixed order:
     * STIP not delegated goes to M before delegated SSIP. */
    h->mideleg = MIP_SSIP;
    h->mip_sw = MIP_SSIP | MIP_STIP;
    hart_set_priv(h, PRIV_U);
    assert_true(hart_check_interrupts(h));
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->mcause, CAUSE_INTERRUPT | IRQ_S_TIMER);
    /* S-mode with MIE = 0 still takes M-level interrupts. */
    hart_set_priv(h, PRIV_S);
    h->mstatus = MSTATUS_XL64;
    h->mip_sw = 0;
    h->mip_hw = MIP_MEIP;
    assert_true(hart_check_interrupts(h));
    assert_int_equal(h->mcause, CAUSE_INTERRUPT | IRQ_M_EXT);
    assert_int_equal(h->mstatus & MSTATUS_MPP, 1ULL << 11);
}

static void test_sstc_timer(void **state)
{
    h->mie = MIP_STIP;
    h->mideleg = MIP_STIP;
    hart_set_priv(h, PRIV_U);
    h->menvcfg = MENVCFG_STCE;
    h->mip_sw = MIP_STIP; /* ignored with STCE */
    h->stimecmp = UINT64_MAX;
    assert_false(hart_check_interrupts(h));
    h->stimecmp = vclock_ticks(&clk);
    assert_true(hart_check_interrupts(h));
    assert_int_equal(h->scause, CAUSE_INTERRUPT | IRQ_S_TIMER);
}

static void test_nested_and_returns(void **state)
{
    h->medeleg = 1ULL << EXC_ECALL_U;
    hart_set_priv(h, PRIV_U);
    h->pc = 0x1000;
    h->mstatus = MSTATUS_XL64 | MSTATUS_SIE | MSTATUS_MIE;
    hart_raise(h, EXC_ECALL_U, 0); /* U -> S */
    h->pc = STVEC + 8;
    hart_raise(h, EXC_ILLEGAL_INSN, 0x73); /* S -> M */
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->mepc, STVEC + 8);
    assert_int_equal(h->sepc, 0x1000);
    assert_int_equal(h->mstatus & MSTATUS_MPP, 1ULL << 11);
    assert_false(h->mstatus & MSTATUS_SPP);
    assert_true(h->mstatus & MSTATUS_SPIE);
    assert_true(h->mstatus & MSTATUS_MPIE);
    assert_false(h->mstatus & (MSTATUS_MIE | MSTATUS_SIE));

    h->mepc += 4; /* the handler skips the instruction */
    h->mstatus |= MSTATUS_MPRV;
    h->irq_recheck = 0;
    hart_mret(h);
    assert_int_equal(h->priv, PRIV_S);
    assert_int_equal(h->pc, STVEC + 12);
    assert_true(h->mstatus & MSTATUS_MIE);
    assert_true(h->mstatus & MSTATUS_MPIE);
    assert_int_equal(h->mstatus & MSTATUS_MPP, 0);
    assert_false(h->mstatus & MSTATUS_MPRV);
    assert_int_equal(h->irq_recheck, 1);

    h->sepc += 4;
    hart_sret(h);
    assert_int_equal(h->priv, PRIV_U);
    assert_int_equal(h->pc, 0x1004);
    assert_true(h->mstatus & MSTATUS_SIE);
    assert_true(h->mstatus & MSTATUS_SPIE);
    assert_false(h->mstatus & MSTATUS_SPP);

    /* mret to M keeps MPRV. */
    hart_set_priv(h, PRIV_M);
    h->mstatus = MSTATUS_XL64 | MSTATUS_MPP | MSTATUS_MPRV;
    h->mepc = 0x80000000;
    hart_mret(h);
    assert_int_equal(h->priv, PRIV_M);
    assert_true(h->mstatus & MSTATUS_MPRV);
    assert_false(h->mstatus & MSTATUS_MIE);
    /* sret from M returns to SPP and clears MPRV. */
    h->mstatus = MSTATUS_XL64 | MSTATUS_SPP | MSTATUS_MPRV;
    h->sepc = 0x2000;
    hart_sret(h);
    assert_int_equal(h->priv, PRIV_S);
    assert_false(h->mstatus & MSTATUS_MPRV);
}

static void test_illegal_returns(void **state)
{
    hart_set_priv(h, PRIV_S);
    h->pc = 0x3000;
    hart_mret(h);
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mepc, 0x3000);
    hart_set_priv(h, PRIV_S);
    h->mstatus |= MSTATUS_TSR;
    hart_sret(h);
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    hart_set_priv(h, PRIV_U);
    h->mstatus &= ~MSTATUS_TSR;
    hart_sret(h);
    assert_int_equal(h->priv, PRIV_M);
}

/* ---- wfi ---- */

static int64_t now_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct delayed {
    int ms;
    int what; /* 0 irq line, 1 mtimecmp, 2 kick */
};

static void *delayed_poke(void *arg)
{
    struct delayed *d = arg;
    usleep((useconds_t)d->ms * 1000);
    if (d->what == 0)
        hart_set_irq(h, MIP_MEIP, true);
    else if (d->what == 1)
        hart_set_mtimecmp(h, 0);
    else
        hart_kick(h);
    return NULL;
}

static void wfi_with_poke(int what, uint64_t expect_pending)
{
    struct delayed d = {.ms = 60, .what = what};
    pthread_t t;
    int64_t t0 = now_ms(CLOCK_MONOTONIC);
    int64_t c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    assert_int_equal(pthread_create(&t, NULL, delayed_poke, &d), 0);
    hart_wfi(h);
    int64_t elapsed = now_ms(CLOCK_MONOTONIC) - t0;
    int64_t cpu = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    pthread_join(t, NULL);
    assert_true(elapsed >= 50);
    assert_true(elapsed < 2000);
    assert_true(cpu < 20); /* slept, did not spin */
    assert_int_equal(hart_pending_irqs(h), expect_pending);
    assert_int_equal(h->wfi, 0);
}

static void test_wfi_irq_line(void **state)
{
    h->mie = MIP_MEIP; /* global MIE off: still wakes */
    h->irq_recheck = 0;
    wfi_with_poke(0, MIP_MEIP);
    assert_int_equal(h->irq_recheck, 1);
    assert_false(hart_check_interrupts(h)); /* M-mode, MIE = 0 */
    assert_int_equal(h->irq_recheck, 0);
    hart_set_irq(h, MIP_MEIP, false);
    assert_int_equal(hart_pending_irqs(h), 0);
}

static void test_wfi_mtimecmp_write(void **state)
{
    h->mie = MIP_MTIP;
    wfi_with_poke(1, MIP_MTIP);
}

static void test_wfi_kick(void **state)
{
    h->mie = MIP_MTIP;
    wfi_with_poke(2, 0);
    assert_int_equal(h->exit_request, 1);
    hart_wfi(h); /* exit_request still set: returns at once */
}

static void check_timer_wake(uint64_t *cmp_field_or_null, uint64_t mie)
{
    h->mie = mie;
    uint64_t deadline = vclock_ticks(&clk) + VCLOCK_HZ / 20; /* 50 ms */
    if (cmp_field_or_null)
        *cmp_field_or_null = deadline;
    else
        hart_set_mtimecmp(h, deadline);
    int64_t t0 = now_ms(CLOCK_MONOTONIC);
    int64_t c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    hart_wfi(h);
    int64_t elapsed = now_ms(CLOCK_MONOTONIC) - t0;
    assert_true(vclock_ticks(&clk) >= deadline);
    assert_true(elapsed >= 45 && elapsed < 2000);
    assert_true(now_ms(CLOCK_THREAD_CPUTIME_ID) - c0 < 20);
    assert_int_equal(hart_pending_irqs(h), mie);
}

static void test_wfi_timers(void **state)
{
    check_timer_wake(NULL, MIP_MTIP);
    h->mtimecmp = UINT64_MAX;
    h->menvcfg = MENVCFG_STCE;
    check_timer_wake(&h->stimecmp, MIP_STIP);
    /* An enabled timer that has already passed returns at once. */
    h->mie = MIP_STIP;
    int64_t t0 = now_ms(CLOCK_MONOTONIC);
    hart_wfi(h);
    assert_true(now_ms(CLOCK_MONOTONIC) - t0 < 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exception_to_m, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sstc_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_and_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wfi_irq_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wfi_mtimecmp_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wfi_kick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wfi_timers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
