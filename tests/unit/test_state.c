/* The state layer: round trips, and every way a stream can be damaged
 * ending in one clear message instead of a bad load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "state/state.h"

static char err[512];

/* A stream of two sections, the second with an optional and a mandatory
 * subsection when asked. */
static void build(struct state_out *o, bool unknown_optional, bool unknown_mandatory)
{
    state_out_init(o);
    state_out_header(o);
    state_begin(o, "alpha", 1, 0);
    state_put_u8(o, 0xab);
    state_put_u16(o, 0xbeef);
    state_put_u32(o, 0xdeadbeef);
    state_put_u64(o, 0x0123456789abcdefULL);
    state_put_str(o, "hello");
    state_put_str(o, NULL);
    state_end(o);
    state_begin(o, "beta.0", 2, 0);
    state_put_u32(o, 7);
    if (unknown_optional) {
        state_begin(o, "future-thing", 1, STATE_F_OPTIONAL);
        state_put_u64(o, 99);
        state_end(o);
    }
    if (unknown_mandatory) {
        state_begin(o, "must-know", 1, 0);
        state_end(o);
    }
    state_end(o);
}

/* Parse the stream built above; returns 0 or -EINVAL (err set). */
static int parse(const uint8_t *buf, size_t len)
{
    struct state_in in;
    struct state_section s;
    int r;
    if ((r = state_in_open(&in, buf, len, "snap/state", err, sizeof(err))))
        return r;
    if ((r = state_in_expect(&in, "alpha", 1, &s)))
        return r;
    uint8_t a = state_get_u8(&s.body);
    uint16_t b = state_get_u16(&s.body);
    uint32_t c = state_get_u32(&s.body);
    uint64_t d = state_get_u64(&s.body);
    char str[16];
    bool was_null = false;
    state_get_str(&s.body, str, sizeof(str), &was_null);
    assert_false(was_null);
    char str2[4];
    state_get_str(&s.body, str2, sizeof(str2), &was_null);
    if ((r = state_in_finish(&s.body)))
        return r;
    assert_int_equal(a, 0xab);
    assert_int_equal(b, 0xbeef);
    assert_int_equal(c, 0xdeadbeef);
    assert_true(d == 0x0123456789abcdefULL);
    assert_string_equal(str, "hello");
    assert_true(was_null);
    if ((r = state_in_expect(&in, "beta.0", 2, &s)))
        return r;
    assert_int_equal(state_get_u32(&s.body), 7);
    if ((r = state_in_finish(&s.body)))
        return r;
    r = state_in_next(&in, &s);
    return r < 0 ? r : r == 0 ? 0 : state_in_fail(&in, "extra section");
}

static void test_round_trip(void **unused)
{
    struct state_out o;
    build(&o, false, false);
    assert_int_equal(state_out_status(&o), 0);
    assert_int_equal(parse(o.buf, o.len), 0);
    state_out_free(&o);
}

static void test_little_endian_layout(void **unused)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "x", 3, 0);
    state_put_u32(&o, 0x01020304);
    state_end(&o);
    assert_int_equal(state_out_status(&o), 0);
    /* id_len, 'x', version LE, flags, length LE 4, payload LE */
    static const uint8_t want[] = { 1, 'x', 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
                                    4, 3, 2, 1 };
    assert_int_equal(o.len, sizeof(want) + 8);
    assert_memory_equal(o.buf, want, sizeof(want));
    state_out_free(&o);
}

static void test_optional_subsection_skipped(void **unused)
{
    struct state_out o;
    build(&o, true, false);
    assert_int_equal(parse(o.buf, o.len), 0);
    state_out_free(&o);
}

static void test_mandatory_subsection_refused(void **unused)
{
    struct state_out o;
    build(&o, false, true);
    assert_int_equal(parse(o.buf, o.len), -EINVAL);
    assert_non_null(strstr(err, "snap/state: section 'beta.0/must-know'"));
    assert_non_null(strstr(err, "unknown mandatory"));
    state_out_free(&o);
}

static void test_every_truncation_fails_cleanly(void **unused)
{
    struct state_out o;
    build(&o, true, false);
    for (size_t len = 0; len < o.len; len++) {
        err[0] = 0;
        assert_int_equal(parse(o.buf, len), -EINVAL);
        assert_true(strlen(err) > 0);
        assert_non_null(strstr(err, "snap/state"));
    }
    state_out_free(&o);
}

static void test_every_flipped_byte_detected(void **unused)
{
    struct state_out o;
    build(&o, true, false);
    for (size_t i = 0; i < o.len; i++) {
        o.buf[i] ^= 0x40;
        err[0] = 0;
        assert_int_equal(parse(o.buf, o.len), -EINVAL);
        assert_true(strlen(err) > 0);
        o.buf[i] ^= 0x40;
    }
    assert_int_equal(parse(o.buf, o.len), 0);
    state_out_free(&o);
}

static void test_checksum_names_section(void **unused)
{
    struct state_out o;
    build(&o, false, false);
    o.buf[o.len - 9] ^= 1; /* last payload byte of beta.0 */
    assert_int_equal(parse(o.buf, o.len), -EINVAL);
    assert_non_null(strstr(err, "section 'beta.0'"));
    assert_non_null(strstr(err, "checksum"));
    state_out_free(&o);
}

static void test_version_checks(void **unused)
{
    struct state_out o;
    build(&o, false, false);
    o.buf[8] = 2; /* format version */
    assert_int_equal(parse(o.buf, o.len), -EINVAL);
    assert_non_null(strstr(err, "format version 2"));
    state_out_free(&o);

    struct state_in in;
    struct state_section s;
    state_out_init(&o);
    state_out_header(&o);
    state_begin(&o, "alpha", 5, 0);
    state_end(&o);
    assert_int_equal(state_in_open(&in, o.buf, o.len, "f", err, sizeof(err)), 0);
    assert_int_equal(state_in_expect(&in, "alpha", 1, &s), -EINVAL);
    assert_non_null(strstr(err, "version 5"));
    state_out_free(&o);

    assert_int_equal(state_in_open(&in, "NOTCORRALxxxxxxx", 16, "g", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a Corral state file"));
}

static void test_bad_ids_and_nesting(void **unused)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "Upper", 1, 0);
    assert_int_equal(state_out_status(&o), -EINVAL);
    state_out_free(&o);
    state_out_init(&o);
    state_begin(&o, "a", 1, 0);
    assert_int_equal(state_out_status(&o), -EINVAL); /* not ended */
    state_end(&o);
    assert_int_equal(state_out_status(&o), 0);
    state_end(&o);
    assert_int_equal(state_out_status(&o), -EINVAL); /* ended twice */
    state_out_free(&o);
}

static void test_string_limits(void **unused)
{
    struct state_out o;
    struct state_in in;
    struct state_section s;
    char small[4];
    state_out_init(&o);
    state_out_header(&o);
    state_begin(&o, "s", 1, 0);
    state_put_str(&o, "toolong");
    state_end(&o);
    assert_int_equal(state_in_open(&in, o.buf, o.len, "f", err, sizeof(err)), 0);
    assert_int_equal(state_in_expect(&in, "s", 1, &s), 0);
    state_get_str(&s.body, small, sizeof(small), NULL);
    assert_int_equal(state_in_status(&s.body), -EINVAL);
    assert_non_null(strstr(err, "longer than 3"));
    /* the latch is shared: the parent stream is failed too */
    assert_int_equal(state_in_status(&in), -EINVAL);
    state_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_little_endian_layout),
        cmocka_unit_test(test_optional_subsection_skipped),
        cmocka_unit_test(test_mandatory_subsection_refused),
        cmocka_unit_test(test_every_truncation_fails_cleanly),
        cmocka_unit_test(test_every_flipped_byte_detected),
        cmocka_unit_test(test_checksum_names_section),
        cmocka_unit_test(test_version_checks),
        cmocka_unit_test(test_bad_ids_and_nesting),
        cmocka_unit_test(test_string_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
