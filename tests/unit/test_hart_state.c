/* The hart section (hart_state.c): a saved hart loads back field for
 * field, and a stream whose values no hart can hold is refused with the
 * field and value named, leaving the loading hart as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/riscv/hart.h"
#include "cpu/riscv/hart_state.h"
#include "state/state.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1u << 20)

static struct bus bus;
static struct vclock clk;
static struct hart *src, *dst;

static int setup(void **state)
{
    (void)state;
    memset(&bus, 0, sizeof(bus));
    if (gmem_init(&bus.ram, RAM_BASE, RAM_SIZE))
        return -1;
    vclock_init(&clk);
    src = calloc(1, sizeof(*src));
    dst = calloc(1, sizeof(*dst));
    if (!src || !dst || hart_init(src, 0, &bus, &clk) || hart_init(dst, 0, &bus, &clk))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hart_destroy(src);
    hart_destroy(dst);
    free(src);
    free(dst);
    gmem_destroy(&bus.ram);
    return 0;
}

/* Save src as section hart.0 and load it into dst: 0 or -EINVAL, the
 * message in err. */
static int round_trip(char *err, size_t errlen)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "hart.0", HART_STATE_VERSION, 0);
    hart_save_state(src, &o);
    state_end(&o);
    assert_int_equal(state_out_status(&o), 0);
    struct state_in in;
    struct state_section s;
    err[0] = 0;
    state_in_init(&in, o.buf, o.len, "test.state", err, errlen);
    int r = state_in_expect(&in, "hart.0", HART_STATE_VERSION, &s);
    if (!r)
        r = hart_load_state(dst, &s.body, s.version);
    if (!r)
        r = state_in_finish(&s.body);
    state_out_free(&o);
    return r;
}

static void fresh(void)
{
    hart_reset(src, RAM_BASE);
    hart_reset(dst, RAM_BASE);
    /* (the previous case's bad value may be in a field reset keeps) */
    src->halted = dst->halted = 0;
    src->wfi = dst->wfi = 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    char err[256];
    fresh();
    for (unsigned i = 1; i < 32; i++) {
        src->x[i] = 0x1111111111111111ULL * (i & 0xf) + i;
        src->f[i] = ~(uint64_t)i;
    }
    src->pc = RAM_BASE + 0x1234;
    src->frm = 3;
    src->fflags = 0x15;
    src->mepc = 0xdeadbeef0;
    src->satp = 0x8000000000012345ULL;
    src->instret = 987654321;
    src->resv_valid = 1;
    src->resv_addr = RAM_BASE + 64;
    assert_int_equal(round_trip(err, sizeof(err)), 0);
    assert_memory_equal(dst->x, src->x, sizeof(src->x));
    assert_memory_equal(dst->f, src->f, sizeof(src->f));
    assert_int_equal(dst->pc, src->pc);
    assert_int_equal(dst->frm, 3);
    assert_int_equal(dst->fflags, 0x15);
    assert_int_equal(dst->mepc, src->mepc);
    assert_int_equal(dst->satp, src->satp);
    assert_int_equal(dst->instret, src->instret);
    assert_int_equal(dst->resv_valid, 1);
    assert_int_equal(dst->resv_addr, src->resv_addr);
}

/* One bad field at a time: refused, named with its value, dst intact. */
static void test_out_of_range_named(void **state)
{
    (void)state;
    static const struct {
        const char *want;
        size_t off;
        uint64_t v;
    } bad[] = {
        { "x0 = 0x5", offsetof(struct hart, x), 5 },
        { "frm = 0x9", offsetof(struct hart, frm), 9 },
        { "fflags = 0x20", offsetof(struct hart, fflags), 0x20 },
        { "resv_valid = 0x2", offsetof(struct hart, resv_valid), 2 },
        { "wfi = 0x3", offsetof(struct hart, wfi), 3 },
        { "halted = 0x2", offsetof(struct hart, halted), 2 },
        { "pc = 0x80000001", offsetof(struct hart, pc), RAM_BASE + 1 },
    };
    char err[256];
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        fresh();
        dst->x[5] = 0x55;
        src->x[5] = 0x66;
        /* Every one of these fields is a 64-bit member of struct hart. */
        memcpy((char *)src + bad[k].off, &bad[k].v, sizeof(uint64_t));
        assert_int_not_equal(round_trip(err, sizeof(err)), 0);
        if (!strstr(err, bad[k].want) || !strstr(err, "out of range"))
            fail_msg("field %zu: message '%s' does not name '%s'", k, err, bad[k].want);
        assert_int_equal(dst->x[5], 0x55);
    }
}

/* A hart id that is not the loading hart's is refused too. */
static void test_wrong_hart(void **state)
{
    (void)state;
    char err[256];
    fresh();
    src->hartid = 3;
    assert_int_not_equal(round_trip(err, sizeof(err)), 0);
    assert_non_null(strstr(err, "saved hart id 3"));
    src->hartid = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_out_of_range_named),
        cmocka_unit_test(test_wrong_hart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
