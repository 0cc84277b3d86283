/* SiFive test finisher driven through its register with no CPU. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "devices/sifive_test.h"

static unsigned events;
static enum sifive_test_event last_ev;
static unsigned last_code;
static int cookie;

static void on_event(void *opaque, enum sifive_test_event ev, unsigned code)
{
    assert_ptr_equal(opaque, &cookie);
    events++;
    last_ev = ev;
    last_code = code;
}

static struct bus bus;
static struct sifive_test *dev;

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    events = 0;
    last_code = 0xdead;
    dev = sifive_test_create(on_event, &cookie);
    assert_non_null(dev);
    assert_int_equal(sifive_test_attach(dev, &bus, SIFIVE_TEST_BASE), 0);
    return 0;
}

static int teardown(void **state)
{
    sifive_test_destroy(dev);
    return 0;
}

static void wr(uint64_t off, unsigned size, uint64_t v)
{
    assert_int_equal(bus_write(&bus, SIFIVE_TEST_BASE + off, size, v), 0);
}

static void test_create_args(void **state)
{
    assert_null(sifive_test_create(NULL, NULL));
    sifive_test_destroy(NULL);
}

static void test_pass(void **state)
{
    wr(0, 4, 0x5555);
    assert_int_equal(events, 1);
    assert_int_equal(last_ev, SIFIVE_TEST_PASS);
    assert_int_equal(last_code, 0);
}

static void test_fail_with_code(void **state)
{
    wr(0, 4, 0x3333 | (42u << 16));
    assert_int_equal(events, 1);
    assert_int_equal(last_ev, SIFIVE_TEST_FAIL);
    assert_int_equal(last_code, 42);
    wr(0, 4, 0xffff3333);
    assert_int_equal(last_code, 0xffff);
    wr(0, 4, 0x3333);
    assert_int_equal(last_ev, SIFIVE_TEST_FAIL);
    assert_int_equal(last_code, 0);
}

static void test_reset(void **state)
{
    wr(0, 4, 0x7777);
    assert_int_equal(events, 1);
    assert_int_equal(last_ev, SIFIVE_TEST_RESET);
}

static void test_16bit_writes(void **state)
{
    /* OpenSBI's sifive-test driver uses writew. */
    wr(0, 2, 0x5555);
    assert_int_equal(last_ev, SIFIVE_TEST_PASS);
    wr(0, 2, 0x7777);
    assert_int_equal(last_ev, SIFIVE_TEST_RESET);
    assert_int_equal(events, 2);
}

static void test_ignored(void **state)
{
    wr(0, 4, 0);
    wr(0, 4, 0x1234);
    wr(0, 4, 0x5556);
    wr(0, 4, 0x55550000); /* status in the wrong half */
    wr(0, 1, 0x55);       /* byte writes */
    wr(1, 1, 0x55);
    wr(0, 8, 0x5555);     /* 64-bit writes */
    wr(4, 4, 0x5555);     /* other offsets */
    wr(0xffc, 4, 0x5555);
    assert_int_equal(events, 0);
    uint64_t v = 1;
    assert_int_equal(bus_read(&bus, SIFIVE_TEST_BASE, 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bus_read(&bus, SIFIVE_TEST_BASE + 0x800, 8, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(events, 0);
}

static void test_save_load(void **state)
{
    struct sifive_test_state st;
    sifive_test_save(dev, &st);
    assert_int_equal(sifive_test_load(dev, &st), 0);
    wr(0, 4, 0x5555);
    assert_int_equal(events, 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_args),
        T(test_pass),
        T(test_fail_with_code),
        T(test_reset),
        T(test_16bit_writes),
        T(test_ignored),
        T(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
