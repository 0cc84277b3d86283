/* core/ring: the bounded output ring of the console and the log. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ring.h"

static void test_put_get_wrap(void **state)
{
    (void)state;
    struct ring r;
    uint8_t out[16];
    assert_int_equal(ring_init(&r, 8), 0);
    assert_int_equal(ring_put(&r, (const uint8_t *)"abcdef", 6), 6);
    assert_int_equal(ring_get(&r, out, 4, 0), 4);
    assert_memory_equal(out, "abcd", 4);
    ring_done(&r, 4);
    /* Wraps around the end of the buffer. */
    assert_int_equal(ring_put(&r, (const uint8_t *)"ghijkl", 6), 6);
    assert_int_equal(ring_get(&r, out, sizeof(out), 0), 8);
    assert_memory_equal(out, "efghijkl", 8);
    ring_done(&r, 8);
    assert_int_equal(ring_dropped(&r), 0);
    ring_destroy(&r);
}

static void test_full_drops_and_counts(void **state)
{
    (void)state;
    struct ring r;
    uint8_t out[16];
    assert_int_equal(ring_init(&r, 4), 0);
    assert_int_equal(ring_put(&r, (const uint8_t *)"abcdef", 6), 4);
    assert_int_equal(ring_put(&r, (const uint8_t *)"x", 1), 0);
    assert_int_equal(ring_dropped(&r), 3);
    assert_int_equal(ring_get(&r, out, sizeof(out), 0), 4);
    assert_memory_equal(out, "abcd", 4);
    ring_done(&r, 4);
    ring_destroy(&r);
}

/* The log's put: a whole line or nothing, also across the wrap. */
static void test_put_all_whole_or_nothing(void **state)
{
    (void)state;
    struct ring r;
    uint8_t out[16];
    assert_int_equal(ring_init(&r, 8), 0);
    assert_true(ring_put_all(&r, (const uint8_t *)"abcde", 5));
    assert_false(ring_put_all(&r, (const uint8_t *)"fghi", 4));
    assert_int_equal(ring_dropped(&r), 4);
    assert_int_equal(ring_get(&r, out, 3, 0), 3);
    ring_done(&r, 3);
    assert_true(ring_put_all(&r, (const uint8_t *)"fghijk", 6));
    assert_int_equal(ring_get(&r, out, sizeof(out), 0), 8);
    assert_memory_equal(out, "defghijk", 8);
    ring_done(&r, 8);
    ring_destroy(&r);
}

static void test_flush_gives_up_on_stalled_consumer(void **state)
{
    (void)state;
    struct ring r;
    assert_int_equal(ring_init(&r, 4), 0);
    assert_int_equal(ring_flush(&r, 10), 0); /* empty: at once */
    assert_int_equal(ring_put(&r, (const uint8_t *)"ab", 2), 2);
    assert_int_equal(ring_flush(&r, 50), -ETIMEDOUT); /* nobody consumes */
    ring_close(&r);
    uint8_t out[4];
    assert_int_equal(ring_get(&r, out, sizeof(out), -1), 2);
    ring_done(&r, 2);
    assert_int_equal(ring_get(&r, out, sizeof(out), -1), 0); /* closed, empty */
    assert_int_equal(ring_flush(&r, 10), 0);
    ring_destroy(&r);
}

static void test_get_times_out(void **state)
{
    (void)state;
    struct ring r;
    uint8_t out[4];
    assert_int_equal(ring_init(&r, 4), 0);
    assert_int_equal(ring_get(&r, out, sizeof(out), 20), 0);
    ring_destroy(&r);
    assert_int_equal(ring_init(&r, 0), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_wrap),
        cmocka_unit_test(test_full_drops_and_counts),
        cmocka_unit_test(test_put_all_whole_or_nothing),
        cmocka_unit_test(test_flush_gives_up_on_stalled_consumer),
        cmocka_unit_test(test_get_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
