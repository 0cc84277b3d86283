/* Token buckets: refill rate, one-time burst, all-or-nothing consume of
 * bytes + ops, oversize requests on a full bucket, wait times, parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
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
    struct ratelimit_cfg c;
    struct ratelimit rl;
    char err[200];
    json_t *j = json_loads("{\"bandwidth\":{\"size\":1048576,\"refill_time\":1000,"
                           "\"one_time_burst\":0},\"ops\":{\"size\":100,\"refill_time\":1000}}",
                           0, NULL);
    assert_int_equal(ratelimit_cfg_parse(&c, j, "rate_limiter", err, sizeof(err)), 0);
    assert_int_equal(c.bw.size, 1048576);
    assert_int_equal(c.bw.refill_ms, 1000);
    assert_int_equal(c.ops.size, 100);
    assert_true(ratelimit_cfg_active(&c));
    json_decref(j);
    const char *bad[] = {
        "{\"bandwidth\":{\"size\":-1,\"refill_time\":1}}",
        "{\"bandwidth\":{\"size\":10}}",                       /* no refill_time */
        "{\"bandwidth\":{\"size\":10,\"refill_time\":0}}",
        "{\"bandwidth\":{\"refill_time\":10}}",                /* no size */
        "{\"bandwidth\":{\"size\":1099511627777,\"refill_time\":1}}", /* > 2^40 */
        "{\"bandwidth\":{\"size\":1.5,\"refill_time\":1}}",
        "{\"bandwidth\":{\"size\":\"8M\",\"refill_time\":1}}",
        "{\"bandwidth\":[1]}",
        "{\"bw\":{}}",
        "{\"ops\":{\"size\":1,\"refill_time\":1,\"extra\":1}}",
        "[1]",
        "7",
    };
    struct ratelimit_cfg keep = c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        err[0] = 0;
        assert_int_equal(ratelimit_cfg_parse(&c, j, "tx_rate_limiter", err, sizeof(err)), -22);
        if (!strstr(err, "tx_rate_limiter"))
            fail_msg("%s: message '%s' does not name the field", bad[i], err);
        /* A refused body changes nothing. */
        assert_memory_equal(&c, &keep, sizeof(c));
        json_decref(j);
    }
    const char *off[] = { "null", "{}", "{\"bandwidth\":null}",
                          "{\"bandwidth\":{\"size\":0,\"refill_time\":100}}" };
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        j = json_loads(off[i], JSON_DECODE_ANY, NULL);
        assert_int_equal(ratelimit_cfg_parse(&c, j, "rate_limiter", err, sizeof(err)), 0);
        assert_false(ratelimit_cfg_active(&c));
        json_decref(j);
    }
    assert_int_equal(ratelimit_cfg_parse(&c, NULL, "rate_limiter", err, sizeof(err)), 0);
    ratelimit_apply(&rl, &c, 0);
    assert_false(ratelimit_active(&rl));
    assert_true(ratelimit_consume(&rl, 1ULL << 40, 0)); /* unlimited */
    assert_int_equal(ratelimit_wait_ms(&rl, 1ULL << 40, 0), 0);
}

static void test_json_round_trip(void **state)
{
    struct ratelimit_cfg c = { .bw = { .size = 8 << 20, .refill_ms = 1000, .one_time_burst = 5 },
                               .ops = { 0 } }, back;
    char err[200];
    json_t *j = ratelimit_cfg_json(&c);
    assert_non_null(j);
    assert_non_null(json_object_get(j, "bandwidth"));
    assert_null(json_object_get(j, "ops")); /* only buckets that limit */
    assert_int_equal(ratelimit_cfg_parse(&back, j, "rate_limiter", err, sizeof(err)), 0);
    assert_memory_equal(&c, &back, sizeof(c));
    json_decref(j);
}

/* PATCH: buckets the body does not name stay; null turns them off. */
static void test_patch(void **state)
{
    struct ratelimit_cfg c = { .bw = { .size = 100, .refill_ms = 10 },
                               .ops = { .size = 5, .refill_ms = 1000 } };
    char err[200];
    json_t *j = json_loads("{\"ops\":{\"size\":7,\"refill_time\":500}}", 0, NULL);
    assert_int_equal(ratelimit_cfg_patch(&c, j, "rate_limiter", err, sizeof(err)), 0);
    assert_int_equal(c.bw.size, 100);
    assert_int_equal(c.ops.size, 7);
    assert_int_equal(c.ops.refill_ms, 500);
    json_decref(j);
    j = json_loads("{\"ops\":{\"size\":-7,\"refill_time\":500}}", 0, NULL);
    assert_int_equal(ratelimit_cfg_patch(&c, j, "rate_limiter", err, sizeof(err)), -EINVAL);
    assert_int_equal(c.ops.size, 7); /* unchanged */
    json_decref(j);
    j = json_loads("{\"bandwidth\":null}", 0, NULL);
    assert_int_equal(ratelimit_cfg_patch(&c, j, "rate_limiter", err, sizeof(err)), 0);
    assert_int_equal(c.bw.size, 0);
    assert_int_equal(c.ops.size, 7);
    json_decref(j);
    assert_int_equal(ratelimit_cfg_patch(&c, json_null(), "rate_limiter", err, sizeof(err)), 0);
    assert_false(ratelimit_cfg_active(&c));
}

static void test_amounts(void **state)
{
    uint64_t v;
    assert_int_equal(ratelimit_parse_amount("8M", &v), 0);
    assert_int_equal(v, 8 << 20);
    assert_int_equal(ratelimit_parse_amount("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(ratelimit_parse_amount("2k", &v), 0);
    assert_int_equal(v, 2048);
    assert_int_equal(ratelimit_parse_amount("1024G", &v), 0);
    const char *bad[] = { "", "0", "-1", "8X", "8MB", "1025G", "99999999999999999999", "M",
                          " 8" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ratelimit_parse_amount(bad[i], &v) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    struct ratelimit_bucket_cfg b;
    ratelimit_cfg_per_second(&b, 1000);
    assert_int_equal(b.size, 1000);
    assert_int_equal(b.refill_ms, 1000);
}

/* The largest sizes and refill times give sane waits, no wrap-around. */
static void test_extremes(void **state)
{
    struct ratelimit rl;
    struct ratelimit_cfg c = { .bw = { .size = RATELIMIT_MAX, .refill_ms = RATELIMIT_MAX } };
    ratelimit_apply(&rl, &c, 0);
    assert_true(ratelimit_consume(&rl, RATELIMIT_MAX, 0));
    uint64_t w = ratelimit_wait_ms(&rl, RATELIMIT_MAX / 2, 0);
    assert_true(w >= RATELIMIT_MAX / 2 && w <= RATELIMIT_MAX / 2 + 1);
    /* Hours later the bucket has refilled in proportion. */
    assert_true(ratelimit_consume(&rl, 1, 3600LL * 1000 * MS));
}

/* The mailbox: the last post wins, a take empties it. */
static void test_mailbox(void **state)
{
    struct ratelimit_mailbox mb;
    struct ratelimit_cfg a = { .bw = { .size = 1, .refill_ms = 1 } }, b = { .ops = { .size = 2,
                           .refill_ms = 2 } }, x, y;
    ratelimit_mailbox_init(&mb);
    assert_false(ratelimit_mailbox_take(&mb, &x, &y));
    ratelimit_mailbox_post(&mb, &b, &a);
    ratelimit_mailbox_post(&mb, &a, &b);
    assert_true(ratelimit_mailbox_take(&mb, &x, &y));
    assert_memory_equal(&x, &a, sizeof(x));
    assert_memory_equal(&y, &b, sizeof(y));
    assert_false(ratelimit_mailbox_take(&mb, &x, &y));
    ratelimit_mailbox_post(&mb, &b, NULL); /* one limiter: the second stays */
    assert_true(ratelimit_mailbox_take(&mb, &x, NULL));
    assert_memory_equal(&x, &b, sizeof(x));
    ratelimit_mailbox_destroy(&mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refill_rate),
        cmocka_unit_test(test_burst_and_ops),
        cmocka_unit_test(test_oversize_on_full_bucket),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_patch),
        cmocka_unit_test(test_amounts),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_mailbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
