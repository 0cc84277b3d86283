/* CLINT driven through its MMIO registers with no CPU: the hart interface
 * (hart_set_irq, hart_set_mtimecmp) is stubbed below. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "cpu/riscv/hart.h"
#include "devices/clint.h"

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
static struct vclock clk;
static struct bus bus;
static struct clint *clint;

static int setup(void **state)
{
    memset(harts, 0, sizeof(harts));
    memset(&bus, 0, sizeof(bus));
    for (unsigned i = 0; i < NHARTS; i++) {
        harts[i].hartid = i;
        atomic_store(&harts[i].mtimecmp, 0x1234);
        atomic_store(&harts[i].mip_hw, MIP_MSIP);
    }
    vclock_init(&clk);
    struct hart *hp[NHARTS] = { &harts[0], &harts[1] };
    clint = clint_create(hp, NHARTS, &clk);
    assert_non_null(clint);
    assert_int_equal(clint_attach(clint, &bus, CLINT_BASE), 0);
    return 0;
}

static int teardown(void **state)
{
    clint_destroy(clint);
    return 0;
}

static uint64_t rd(uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(bus_read(&bus, CLINT_BASE + off, size, &v), 0);
    return v;
}

static void wr(uint64_t off, unsigned size, uint64_t v)
{
    assert_int_equal(bus_write(&bus, CLINT_BASE + off, size, v), 0);
}

static uint64_t mip(unsigned h)
{
    return atomic_load(&harts[h].mip_hw);
}

static void test_create_args(void **state)
{
    struct hart *hp[9] = { &harts[0], &harts[1], &harts[0], &harts[1],
                           &harts[0], &harts[1], &harts[0], &harts[1],
                           &harts[0] };
    assert_null(clint_create(hp, 0, &clk));
    assert_null(clint_create(hp, 9, &clk));
    assert_null(clint_create(NULL, 1, &clk));
    assert_null(clint_create(hp, 1, NULL));
    struct hart *holes[2] = { &harts[0], NULL };
    assert_null(clint_create(holes, 2, &clk));
    struct clint *c = clint_create(hp, 8, &clk);
    assert_non_null(c);
    clint_destroy(c);
    clint_destroy(NULL);
}

static void test_reset_state(void **state)
{
    for (unsigned h = 0; h < NHARTS; h++) {
        assert_int_equal(mip(h) & MIP_MSIP, 0);
        assert_true(atomic_load(&harts[h].mtimecmp) == UINT64_MAX);
        assert_int_equal(rd(4 * h, 4), 0);
    }
    /* A second attach of the same range is refused by the bus. */
    assert_int_equal(clint_attach(clint, &bus, CLINT_BASE), -EEXIST);
}

static void test_msip(void **state)
{
    wr(0x0, 4, 1);
    assert_int_equal(rd(0x0, 4), 1);
    assert_true(mip(0) & MIP_MSIP);
    assert_false(mip(1) & MIP_MSIP);

    wr(0x4, 4, 0xffffffff); /* only bit 0 is implemented */
    assert_int_equal(rd(0x4, 4), 1);
    assert_true(mip(1) & MIP_MSIP);

    wr(0x0, 4, 2); /* bit 0 clear: msip off */
    assert_int_equal(rd(0x0, 4), 0);
    assert_false(mip(0) & MIP_MSIP);
    assert_true(mip(1) & MIP_MSIP);
    wr(0x4, 4, 0);
    assert_false(mip(1) & MIP_MSIP);
}

static void test_msip_bad_access(void **state)
{
    unsigned calls = set_irq_calls;
    wr(0x0, 1, 1); /* wrong sizes */
    wr(0x0, 2, 1);
    wr(0x0, 8, 1);
    wr(0x2, 2, 1); /* misaligned */
    wr(0x8, 4, 1); /* hart 2 does not exist */
    wr(0x3ffc, 4, 1);
    assert_int_equal(set_irq_calls, calls);
    assert_int_equal(rd(0x0, 4), 0);
    assert_int_equal(rd(0x0, 8), 0);
    assert_int_equal(rd(0x8, 4), 0);
    assert_int_equal(rd(0x1, 1), 0);
    assert_false(mip(0) & MIP_MSIP);
}

static void test_mtimecmp_64(void **state)
{
    wr(0x4000, 8, 0x0123456789abcdefULL);
    assert_true(atomic_load(&harts[0].mtimecmp) == 0x0123456789abcdefULL);
    assert_true(rd(0x4000, 8) == 0x0123456789abcdefULL);
    assert_true(atomic_load(&harts[1].mtimecmp) == UINT64_MAX);

    wr(0x4008, 8, 42);
    assert_true(atomic_load(&harts[1].mtimecmp) == 42);
    assert_true(rd(0x4008, 8) == 42);
}

static void test_mtimecmp_32bit_halves(void **state)
{
    wr(0x4000, 8, 0);
    /* The ordering the privileged spec recommends for RV32: low half to
     * all-ones, then the high half, then the low half. */
    wr(0x4000, 4, 0xffffffff);
    assert_true(atomic_load(&harts[0].mtimecmp) == 0xffffffffULL);
    wr(0x4004, 4, 0x00000012);
    assert_true(atomic_load(&harts[0].mtimecmp) == 0x00000012ffffffffULL);
    wr(0x4000, 4, 0x34567890);
    assert_true(atomic_load(&harts[0].mtimecmp) == 0x0000001234567890ULL);
    assert_int_equal(rd(0x4000, 4), 0x34567890);
    assert_int_equal(rd(0x4004, 4), 0x12);
    /* Hart 1's halves are independent. */
    wr(0x400c, 4, 0xabcd);
    assert_true(atomic_load(&harts[1].mtimecmp) == 0x0000abcdffffffffULL);
    assert_true(atomic_load(&harts[0].mtimecmp) == 0x0000001234567890ULL);
}

static void test_mtimecmp_bad_access(void **state)
{
    wr(0x4000, 8, 7);
    wr(0x4000, 2, 0xffff);     /* bad size */
    wr(0x4000, 1, 0xff);
    wr(0x4004, 8, 0);          /* misaligned 64-bit */
    wr(0x4002, 4, 0);          /* misaligned 32-bit */
    wr(0x4010, 8, 0);          /* hart 2 */
    assert_true(atomic_load(&harts[0].mtimecmp) == 7);
    assert_int_equal(rd(0x4010, 8), 0);
    assert_int_equal(rd(0x4004, 8), 0);
    assert_int_equal(rd(0x4000, 2), 0);
}

static void test_mtime(void **state)
{
    uint64_t before = vclock_ticks(&clk);
    uint64_t t1 = rd(0xbff8, 8);
    uint64_t t2 = rd(0xbff8, 8);
    uint64_t after = vclock_ticks(&clk);
    assert_true(before <= t1 && t1 <= t2 && t2 <= after);

    uint64_t lo = rd(0xbff8, 4);
    uint64_t hi = rd(0xbffc, 4);
    assert_true(lo <= 0xffffffffULL && hi <= 0xffffffffULL);
    assert_true(((hi << 32) | lo) >= t2 || hi > (t2 >> 32));

    /* Writes are ignored: the VM clock is not guest-adjustable. */
    wr(0xbff8, 8, 0);
    wr(0xbff8, 4, 0);
    assert_true(rd(0xbff8, 8) >= t2);
    /* Bad widths and the space past mtime read 0. */
    assert_int_equal(rd(0xbff8, 2), 0);
    assert_int_equal(rd(0xbffc, 8), 0);
    assert_int_equal(rd(0xc000, 8), 0);
    assert_int_equal(rd(0xfff8, 8), 0);
    assert_int_equal(rd(0xbff0, 8), 0); /* mtimecmp of a hart that is absent */
}

static void test_mtime_advances(void **state)
{
    uint64_t t1 = rd(0xbff8, 8);
    struct timespec ts = { 0, 2000000 }; /* 2 ms = 20000 ticks */
    nanosleep(&ts, NULL);
    uint64_t t2 = rd(0xbff8, 8);
    assert_true(t2 - t1 >= 20000);
}

static void test_save_load(void **state)
{
    wr(0x4, 4, 1);
    wr(0x4000, 8, 1000);
    wr(0x4008, 8, 2000);
    struct clint_state st;
    clint_save(clint, &st);
    assert_int_equal(st.nharts, NHARTS);
    assert_int_equal(st.msip[0], 0);
    assert_int_equal(st.msip[1], 1);
    assert_true(st.mtimecmp[0] == 1000 && st.mtimecmp[1] == 2000);

    clint_reset(clint);
    assert_false(mip(1) & MIP_MSIP);
    assert_true(atomic_load(&harts[0].mtimecmp) == UINT64_MAX);

    assert_int_equal(clint_load(clint, &st), 0);
    assert_true(mip(1) & MIP_MSIP);
    assert_false(mip(0) & MIP_MSIP);
    assert_int_equal(rd(0x4, 4), 1);
    assert_true(rd(0x4000, 8) == 1000 && rd(0x4008, 8) == 2000);

    st.nharts = 3;
    assert_int_equal(clint_load(clint, &st), -EINVAL);
    /* Junk in msip is masked to bit 0. */
    st.nharts = NHARTS;
    st.msip[0] = 0xfe;
    assert_int_equal(clint_load(clint, &st), 0);
    assert_int_equal(rd(0x0, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_args),
        cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msip_bad_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtimecmp_64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtimecmp_32bit_halves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtimecmp_bad_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtime_advances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
