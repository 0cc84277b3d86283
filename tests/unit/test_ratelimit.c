/* Token buckets: refill rate, one-time burst, all-or-nothing consume of
 * bytes + ops, oversize requests on a full bucket, wait times, parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/ratelimit.h"

#define MS 1000000LL

static void test_refill_rate(void **state)
{
    struct ratelimit rl;
    ratelimit_init(&rl.bw, 1000, 100, 0, 0); /* 1000 bytes per 100 ms */
    ratelimit_init(&rl.ops, 0, 0, 0, 0);
    assert_true(ratelimit_consume(&rl, 1000, 0));
    assert_false(ratelimit_consume(&rl, 1, 0));
    assert_int_equal(ratelimit_wait_ms(&rl, 500, 0), 50);
    assert_false(ratelimit_consume(&rl, 500, 49 * MS));
    assert_true(ratelimit_consume(&rl, 500, 50 * MS));
    /* Over 10 s at most 10 * 10 * 1000 bytes pass (+ the initial bucket). */
    uint64_t passed = 0;
    for (int64_t t = 51 * MS; t < 10051 * MS; t += MS / 4)
        while (ratelimit_consume(&rl, 100, t))
            passed += 100;
    assert_true(passed >= 99000 && passed <= 101000);
}

static void test_burst_and_ops(void **state)
{
    struct ratelimit rl;
    ratelimit_init(&rl.bw, 100, 1000, 400, 0);
    ratelimit_init(&rl.ops, 3, 1000, 0, 0);
    assert_true(ratelimit_consume(&rl, 450, 0)); /* burst 400 + 50 tokens */
    assert_true(ratelimit_consume(&rl, 50, 0));
    /* Bandwidth is empty: the op bucket is not charged either. */
    assert_false(ratelimit_consume(&rl, 10, 0));
    assert_true(ratelimit_consume(&rl, 10, 100 * MS));
    assert_false(ratelimit_consume(&rl, 0, 100 * MS)); /* ops: 3 used */
    assert_true(ratelimit_wait_ms(&rl, 0, 100 * MS) > 0);
}

static void test_oversize_on_full_bucket(void **state)
{
    struct ratelimit rl;
    ratelimit_init(&rl.bw, 100, 10, 0, 0);
    ratelimit_init(&rl.ops, 0, 0, 0, 0);
    assert_true(ratelimit_consume(&rl, 1000, 0)); /* full: let through, drained */
    assert_false(ratelimit_consume(&rl, 1000, 5 * MS));
    assert_true(ratelimit_consume(&rl, 1000, 10 * MS));
}

static void test_parse(void **state)
{
    struct ratelimit rl;
    char err[200];
    json_t *j = json_loads("{\"bandwidth\":{\"size\":1048576,\"refill_time\":1000,"
                           "\"one_time_burst\":0},\"ops\":{\"size\":100,\"refill_time\":1000}}",
                           0, NULL);
    assert_int_equal(ratelimit_parse(&rl, j, 0, err, sizeof(err)), 0);
    assert_int_equal(rl.bw.size, 1048576);
    assert_int_equal(rl.ops.size, 100);
    json_decref(j);
    const char *bad[] = {
        "{\"bandwidth\":{\"size\":-1,\"refill_time\":1}}",
        "{\"bandwidth\":{\"size\":10}}",
        "{\"bw\":{}}",
        "{\"ops\":{\"size\":1,\"refill_time\":1,\"extra\":1}}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        err[0] = 0;
        assert_int_equal(ratelimit_parse(&rl, j, 0, err, sizeof(err)), -22);
        assert_true(strstr(err, "rate_limiter") != NULL);
        json_decref(j);
    }
    assert_int_equal(ratelimit_parse(&rl, NULL, 0, err, sizeof(err)), 0);
    assert_true(ratelimit_consume(&rl, 1ULL << 40, 0)); /* unlimited */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refill_rate),
        cmocka_unit_test(test_burst_and_ops),
        cmocka_unit_test(test_oversize_on_full_bucket),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
