/* PLIC driven through its MMIO registers and input lines with no CPU: the
 * hart interface (hart_set_irq) is stubbed below and records MEIP/SEIP. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "cpu/riscv/hart.h"
#include "devices/plic.h"

/* ---- stubs for the cpu-priv helpers ---- */
static unsigned set_irq_calls;

void hart_set_irq(struct hart *h, uint64_t mask, bool level)
{
    set_irq_calls++;
    if (level)
        atomic_fetch_or(&h->mip_hw, mask);
    else
        atomic_fetch_and(&h->mip_hw, ~mask);
}

void hart_set_mtimecmp(struct hart *h, uint64_t value)
{
    atomic_store(&h->mtimecmp, value);
}

/* ---- fixture ---- */
#define NHARTS 2
static struct hart harts[NHARTS];
static struct bus bus;
static struct plic *plic;

static int setup(void **state)
{
    memset(harts, 0, sizeof(harts));
    memset(&bus, 0, sizeof(bus));
    for (unsigned i = 0; i < NHARTS; i++)
        atomic_store(&harts[i].mip_hw, MIP_MEIP | MIP_SEIP);
    struct hart *hp[NHARTS] = { &harts[0], &harts[1] };
    plic = plic_create(hp, NHARTS);
    assert_non_null(plic);
    assert_int_equal(plic_attach(plic, &bus, PLIC_BASE), 0);
    return 0;
}

static int teardown(void **state)
{
    plic_destroy(plic);
    return 0;
}

static uint64_t rd(uint64_t off)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(bus_read(&bus, PLIC_BASE + off, 4, &v), 0);
    return v;
}

static void wr(uint64_t off, uint64_t v)
{
    assert_int_equal(bus_write(&bus, PLIC_BASE + off, 4, v), 0);
}

#define PRIO(s) (0x0 + 4 * (s))
#define PENDING(w) (0x1000 + 4 * (w))
#define ENABLE(c, w) (0x2000 + 0x80 * (c) + 4 * (w))
#define THRESHOLD(c) (0x200000 + 0x1000 * (c))
#define CLAIM(c) (0x200004 + 0x1000 * (c))

static bool meip(unsigned h) { return atomic_load(&harts[h].mip_hw) & MIP_MEIP; }
static bool seip(unsigned h) { return atomic_load(&harts[h].mip_hw) & MIP_SEIP; }

static void enable(unsigned ctx, unsigned src)
{
    wr(ENABLE(ctx, src / 32), rd(ENABLE(ctx, src / 32)) | 1u << (src % 32));
}

static void test_create_args(void **state)
{
    struct hart *hp[9] = { &harts[0], &harts[1], &harts[0], &harts[1],
                           &harts[0], &harts[1], &harts[0], &harts[1],
                           &harts[0] };
    assert_null(plic_create(hp, 0));
    assert_null(plic_create(hp, 9));
    assert_null(plic_create(NULL, 1));
    struct plic *p = plic_create(hp, 8);
    assert_non_null(p);
    plic_destroy(p);
    plic_destroy(NULL);
}

static void test_reset_clears_outputs(void **state)
{
    for (unsigned h = 0; h < NHARTS; h++) {
        assert_false(meip(h));
        assert_false(seip(h));
    }
    for (unsigned s = 0; s < PLIC_NUM_SOURCES; s++)
        assert_int_equal(rd(PRIO(s)), 0);
    assert_int_equal(rd(CLAIM(0)), 0);
}

static void test_priority_regs(void **state)
{
    wr(PRIO(10), 5);
    assert_int_equal(rd(PRIO(10)), 5);
    wr(PRIO(10), 0xffffffff); /* 3 bits implemented */
    assert_int_equal(rd(PRIO(10)), 7);
    wr(PRIO(95), 3);
    assert_int_equal(rd(PRIO(95)), 3);
    wr(PRIO(0), 7); /* source 0 does not exist */
    assert_int_equal(rd(PRIO(0)), 0);
    wr(PRIO(96), 7); /* past the last source */
    assert_int_equal(rd(PRIO(96)), 0);
}

static void test_pending_follows_level(void **state)
{
    plic_set_level(plic, 1, true);
    plic_set_level(plic, 33, true);
    plic_set_level(plic, 95, true);
    assert_int_equal(rd(PENDING(0)), 1u << 1);
    assert_int_equal(rd(PENDING(1)), 1u << 1);
    assert_int_equal(rd(PENDING(2)), 1u << 31);
    wr(PENDING(0), 0); /* read-only */
    assert_int_equal(rd(PENDING(0)), 1u << 1);
    plic_set_level(plic, 33, false); /* an unclaimed request is withdrawn */
    assert_int_equal(rd(PENDING(1)), 0);
    /* Out-of-range sources are ignored. */
    plic_set_level(plic, 0, true);
    plic_set_level(plic, 96, true);
    plic_set_level(plic, 1000000, true);
    assert_int_equal(rd(PENDING(0)), 1u << 1);
    assert_int_equal(rd(PENDING(3)), 0);
}

static void test_enable_regs(void **state)
{
    wr(ENABLE(0, 0), 0xffffffff);
    assert_int_equal(rd(ENABLE(0, 0)), 0xfffffffe); /* source 0 hardwired */
    wr(ENABLE(3, 2), 0x80000001);
    assert_int_equal(rd(ENABLE(3, 2)), 0x80000001);
    assert_int_equal(rd(ENABLE(2, 2)), 0);
    /* Word 3 (sources 96..127) and context 4 (no hart 2) do not exist. */
    wr(ENABLE(0, 3), 0xffffffff);
    assert_int_equal(rd(ENABLE(0, 3)), 0);
    wr(ENABLE(4, 0), 0xffffffff);
    assert_int_equal(rd(ENABLE(4, 0)), 0);
}

static void test_claim_order(void **state)
{
    wr(PRIO(3), 2);
    wr(PRIO(5), 5);
    wr(PRIO(7), 5);
    wr(PRIO(40), 1);
    enable(0, 3);
    enable(0, 5);
    enable(0, 7);
    enable(0, 40);
    plic_set_level(plic, 40, true);
    plic_set_level(plic, 7, true);
    plic_set_level(plic, 3, true);
    plic_set_level(plic, 5, true);
    assert_true(meip(0));
    assert_false(seip(0));
    assert_false(meip(1));

    /* Highest priority first, lowest id on ties. */
    assert_int_equal(rd(CLAIM(0)), 5);
    assert_int_equal(rd(CLAIM(0)), 7);
    assert_int_equal(rd(CLAIM(0)), 3);
    assert_true(meip(0));
    assert_int_equal(rd(CLAIM(0)), 40);
    /* All claimed: output drops, claim reads 0, pending bits clear. */
    assert_false(meip(0));
    assert_int_equal(rd(CLAIM(0)), 0);
    assert_int_equal(rd(PENDING(0)), 0);
    assert_int_equal(rd(PENDING(1)), 0);

    /* Levels are still high: each completion re-pends its source. */
    wr(CLAIM(0), 3);
    assert_true(meip(0));
    assert_int_equal(rd(PENDING(0)), 1u << 3);
    assert_int_equal(rd(CLAIM(0)), 3);
    /* A source dropped before completion stays quiet after it. */
    plic_set_level(plic, 7, false);
    wr(CLAIM(0), 7);
    assert_int_equal(rd(PENDING(0)), 0);
    assert_false(meip(0));
    assert_int_equal(rd(CLAIM(0)), 0);
}

static void test_claimed_source_not_repended(void **state)
{
    wr(PRIO(10), 1);
    enable(1, 10);
    plic_set_level(plic, 10, true);
    assert_true(seip(0));
    assert_int_equal(rd(CLAIM(1)), 10);
    assert_false(seip(0));
    /* The gateway holds further requests until completion. */
    plic_set_level(plic, 10, false);
    plic_set_level(plic, 10, true);
    assert_int_equal(rd(PENDING(0)), 0);
    assert_false(seip(0));
    wr(CLAIM(1), 10);
    assert_true(seip(0));
    assert_int_equal(rd(PENDING(0)), 1u << 10);
}

static void test_threshold(void **state)
{
    wr(PRIO(9), 3);
    enable(0, 9);
    plic_set_level(plic, 9, true);
    assert_true(meip(0));
    wr(THRESHOLD(0), 3); /* priority must exceed the threshold */
    assert_int_equal(rd(THRESHOLD(0)), 3);
    assert_false(meip(0));
    assert_int_equal(rd(CLAIM(0)), 0);
    assert_int_equal(rd(PENDING(0)), 1u << 9); /* still pending */
    wr(THRESHOLD(0), 2);
    assert_true(meip(0));
    wr(THRESHOLD(0), 0xff); /* 3 bits */
    assert_int_equal(rd(THRESHOLD(0)), 7);
    assert_false(meip(0));
    wr(THRESHOLD(0), 0);
    assert_true(meip(0));
    /* Raising the priority above a threshold also counts. */
    wr(THRESHOLD(0), 5);
    assert_false(meip(0));
    wr(PRIO(9), 6);
    assert_true(meip(0));
    assert_int_equal(rd(CLAIM(0)), 9);
}

static void test_priority_zero_never_interrupts(void **state)
{
    enable(0, 4);
    plic_set_level(plic, 4, true);
    assert_int_equal(rd(PENDING(0)), 1u << 4);
    assert_false(meip(0));
    assert_int_equal(rd(CLAIM(0)), 0);
    assert_int_equal(rd(PENDING(0)), 1u << 4);
    wr(PRIO(4), 1);
    assert_true(meip(0));
    wr(PRIO(4), 0);
    assert_false(meip(0));
}

static void test_per_context_enables(void **state)
{
    wr(PRIO(10), 1);
    wr(PRIO(11), 1);
    plic_set_level(plic, 10, true);
    plic_set_level(plic, 11, true);
    /* Nothing enabled anywhere: no outputs. */
    for (unsigned h = 0; h < NHARTS; h++)
        assert_false(meip(h) || seip(h));

    enable(1, 10); /* hart 0 S-mode */
    assert_true(seip(0));
    assert_false(meip(0) || meip(1) || seip(1));
    enable(2, 11); /* hart 1 M-mode */
    assert_true(meip(1));
    assert_false(seip(1));

    /* Claims only see their own context's enables. */
    assert_int_equal(rd(CLAIM(3)), 0);
    assert_int_equal(rd(CLAIM(1)), 10);
    assert_false(seip(0));
    assert_true(meip(1));
    assert_int_equal(rd(CLAIM(2)), 11);
    assert_false(meip(1));

    /* Completion from a context where the source is not enabled is
     * ignored (spec); from the right one it re-pends. */
    wr(CLAIM(0), 10);
    assert_int_equal(rd(PENDING(0)), 0);
    wr(CLAIM(1), 10);
    assert_int_equal(rd(PENDING(0)), 1u << 10);
    assert_true(seip(0));

    /* Disabling withdraws the output. */
    wr(ENABLE(1, 0), 0);
    assert_false(seip(0));
}

static void test_same_source_two_contexts(void **state)
{
    wr(PRIO(20), 2);
    enable(0, 20);
    enable(3, 20);
    plic_set_level(plic, 20, true);
    assert_true(meip(0) && seip(1));
    /* Whoever claims first gets it; the other context then sees nothing. */
    assert_int_equal(rd(CLAIM(3)), 20);
    assert_false(meip(0) || seip(1));
    assert_int_equal(rd(CLAIM(0)), 0);
}

static void test_bad_accesses(void **state)
{
    wr(PRIO(1), 1);
    enable(0, 1);
    plic_set_level(plic, 1, true);
    uint64_t v;
    /* Wrong sizes and misaligned offsets: reads 0, no claim side effect. */
    assert_int_equal(bus_read(&bus, PLIC_BASE + CLAIM(0), 8, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bus_read(&bus, PLIC_BASE + CLAIM(0), 2, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bus_read(&bus, PLIC_BASE + CLAIM(0) + 1, 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rd(PENDING(0)), 1u << 1);
    assert_int_equal(bus_write(&bus, PLIC_BASE + PRIO(1), 1, 7), 0);
    assert_int_equal(bus_write(&bus, PLIC_BASE + PRIO(1), 8, 7), 0);
    assert_int_equal(bus_write(&bus, PLIC_BASE + PRIO(1) + 2, 4, 7), 0);
    assert_int_equal(rd(PRIO(1)), 1);
    /* Contexts past the last hart, holes, the end of the region. */
    assert_int_equal(rd(CLAIM(4)), 0);
    assert_int_equal(rd(THRESHOLD(4)), 0);
    wr(THRESHOLD(4), 3);
    wr(CLAIM(4), 1);
    assert_int_equal(rd(0x200008), 0);
    wr(0x200008, 1);
    assert_int_equal(rd(0x1080), 0);
    assert_int_equal(rd(PLIC_SIZE - 4), 0);
    wr(PLIC_SIZE - 4, 0xffffffff);
    /* Completing ids that do not exist or were never claimed is harmless. */
    wr(CLAIM(0), 0);
    wr(CLAIM(0), 96);
    wr(CLAIM(0), 0xffffffff);
    wr(CLAIM(0), 1); /* not claimed: level high, stays pending */
    assert_int_equal(rd(PENDING(0)), 1u << 1);
    assert_int_equal(rd(CLAIM(0)), 1);
}

static void test_irq_line(void **state)
{
    struct irq_line line = plic_irq_line(plic, 10);
    wr(PRIO(10), 1);
    enable(0, 10);
    irq_set(&line, true);
    assert_true(meip(0));
    irq_set(&line, false);
    assert_false(meip(0));
}

static void test_only_changes_reach_harts(void **state)
{
    wr(PRIO(2), 1);
    enable(0, 2);
    unsigned calls = set_irq_calls;
    plic_set_level(plic, 2, true);
    assert_int_equal(set_irq_calls, calls + 1);
    plic_set_level(plic, 2, true);
    wr(PRIO(3), 4);
    assert_int_equal(set_irq_calls, calls + 1);
}

static void test_save_load(void **state)
{
    wr(PRIO(5), 4);
    wr(PRIO(6), 2);
    enable(0, 5);
    enable(3, 6);
    wr(THRESHOLD(3), 1);
    plic_set_level(plic, 5, true);
    plic_set_level(plic, 6, true);
    assert_int_equal(rd(CLAIM(0)), 5); /* 5 in service */
    assert_true(seip(1));

    struct plic_state st;
    plic_save(plic, &st);
    assert_int_equal(st.nctx, 2 * NHARTS);

    plic_reset(plic);
    assert_false(seip(1));
    assert_int_equal(rd(PRIO(5)), 0);

    assert_int_equal(plic_load(plic, &st), 0);
    assert_true(seip(1));
    assert_false(meip(0));
    assert_int_equal(rd(PRIO(5)), 4);
    assert_int_equal(rd(THRESHOLD(3)), 1);
    assert_int_equal(rd(CLAIM(0)), 0); /* still in service */
    wr(CLAIM(0), 5);
    assert_true(meip(0));
    assert_int_equal(rd(CLAIM(0)), 5);

    st.nctx = 6;
    assert_int_equal(plic_load(plic, &st), -EINVAL);
    /* Out-of-range values are masked. */
    st.nctx = 2 * NHARTS;
    st.priority[0] = 5;
    st.priority[7] = 0xff;
    st.threshold[0] = 99;
    st.enable[0][0] = 0xffffffff;
    assert_int_equal(plic_load(plic, &st), 0);
    assert_int_equal(rd(PRIO(0)), 0);
    assert_int_equal(rd(PRIO(7)), 7);
    assert_int_equal(rd(THRESHOLD(0)), 99 & 7);
    assert_int_equal(rd(ENABLE(0, 0)), 0xfffffffe);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_args),
        T(test_reset_clears_outputs),
        T(test_priority_regs),
        T(test_pending_follows_level),
        T(test_enable_regs),
        T(test_claim_order),
        T(test_claimed_source_not_repended),
        T(test_threshold),
        T(test_priority_zero_never_interrupts),
        T(test_per_context_enables),
        T(test_same_source_two_contexts),
        T(test_bad_accesses),
        T(test_irq_line),
        T(test_only_changes_reach_harts),
        T(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
