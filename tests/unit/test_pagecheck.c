/* The pattern and verify logic of the guest workload guest/pagecheck.c,
 * built natively: a flipped bit, a stale generation, a page moved to another
 * index and a corrupted generation array must each be detected, once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define PAGECHECK_NO_MAIN
#include "../../guest/pagecheck.c"

#define NPAGES 64

struct fixture {
    uint64_t *mem;
    uint32_t *gen;
    struct pc_region r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->mem = malloc((size_t)NPAGES * PC_PAGE);
    f->gen = calloc(NPAGES, sizeof(*f->gen));
    assert_non_null(f->mem);
    assert_non_null(f->gen);
    pc_region_init(&f->r, f->mem, f->gen, NPAGES, 42);
    f->r.tag = "test_pagecheck";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->mem);
    free(f->gen);
    free(f);
    return 0;
}

static void verify_all(struct pc_region *r)
{
    for (size_t p = 0; p < r->npages; p++)
        pc_verify_page(r, p);
}

static void test_keys_distinct(void **state)
{
    (void)state;
    /* Each of seed, page and generation changes the key, and the stream. */
    uint64_t k = pc_key(1, 5, 7);
    assert_int_not_equal(k, pc_key(2, 5, 7));
    assert_int_not_equal(k, pc_key(1, 6, 7));
    assert_int_not_equal(k, pc_key(1, 5, 8));
    assert_int_equal(k, pc_key(1, 5, 7));
    assert_int_not_equal(pc_key(0, 0, 0), 0);
    uint64_t a[PC_WORDS], b[PC_WORDS];
    pc_fill(a, pc_key(1, 5, 7));
    pc_fill(b, pc_key(1, 5, 8));
    unsigned same = 0;
    for (unsigned i = 0; i < PC_WORDS; i++)
        same += a[i] == b[i];
    assert_int_equal(same, 0);
    assert_int_equal(pc_word(pc_key(1, 5, 7), 0), a[0]);
    assert_int_equal(pc_word(pc_key(1, 5, 7), PC_WORDS - 1), a[PC_WORDS - 1]);
    /* No degenerate stream: a page is not mostly one value. */
    unsigned zero = 0;
    for (unsigned i = 0; i < PC_WORDS; i++)
        zero += a[i] == 0;
    assert_int_equal(zero, 0);
}

static void test_clean_region_verifies(void **state)
{
    struct fixture *f = *state;
    verify_all(&f->r);
    assert_int_equal(f->r.verified, NPAGES);
    assert_int_equal(f->r.mismatches, 0);
    assert_int_equal(pc_check_gens(&f->r), 0);
}

static void test_flipped_bit_detected_once(void **state)
{
    struct fixture *f = *state;
    uint8_t *bytes = (uint8_t *)f->mem;
    bytes[17 * PC_PAGE + 1234] ^= 0x10;
    unsigned bad = 99;
    assert_int_equal(pc_check(f->mem + 17 * PC_WORDS, pc_key(42, 17, 0), &bad), 1);
    assert_int_equal(bad, 1234 / 8);
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 1);
    /* Repaired: a second sweep is clean. */
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 1);
    /* The last byte of the last page counts too. */
    bytes[(size_t)NPAGES * PC_PAGE - 1] ^= 1;
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 2);
}

static void test_rewrite_bumps_generation(void **state)
{
    struct fixture *f = *state;
    uint64_t before[PC_WORDS];
    memcpy(before, f->mem + 3 * PC_WORDS, PC_PAGE);
    assert_int_equal(pc_rewrite_page(&f->r, 3), 0);
    assert_int_equal(f->gen[3], 1);
    assert_int_equal(f->r.written, 1);
    assert_memory_not_equal(before, f->mem + 3 * PC_WORDS, PC_PAGE);
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 0);
    assert_int_equal(pc_check_gens(&f->r), 0);
    /* A stale page (the old generation, as a lost write would leave it). */
    memcpy(f->mem + 3 * PC_WORDS, before, PC_PAGE);
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 1);
    assert_int_equal(f->r.stale, 1);
    /* A stale page found by a rewrite is counted too. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(pc_rewrite_page(&f->r, 9), 0);
    memcpy(before, f->mem + 9 * PC_WORDS, PC_PAGE);
    assert_int_equal(pc_rewrite_page(&f->r, 9), 0);
    memcpy(f->mem + 9 * PC_WORDS, before, PC_PAGE);
    assert_int_equal(pc_rewrite_page(&f->r, 9), 1);
    assert_int_equal(f->r.mismatches, 2);
    assert_int_equal(f->r.stale, 2);
    /* A flipped bit is corruption, not staleness. */
    ((uint8_t *)f->mem)[20 * PC_PAGE + 9] ^= 1;
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 3);
    assert_int_equal(f->r.stale, 2);
}

static void test_moved_page_detected(void **state)
{
    struct fixture *f = *state;
    /* Page 5's contents at index 6 (a VMM that mapped the wrong page). */
    memcpy(f->mem + 6 * PC_WORDS, f->mem + 5 * PC_WORDS, PC_PAGE);
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 1);
    /* A zeroed page (lost in a sparse file). */
    memset(f->mem + 7 * PC_WORDS, 0, PC_PAGE);
    verify_all(&f->r);
    assert_int_equal(f->r.mismatches, 2);
}

static void test_generation_array_checked(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 100; i++)
        assert_int_equal(pc_rewrite_page(&f->r, (size_t)i % NPAGES), 0);
    assert_int_equal(pc_check_gens(&f->r), 0);
    f->gen[10] ^= 4;
    assert_int_equal(pc_check_gens(&f->r), 1);
    assert_int_equal(f->r.gen_errors, 1);
    /* Resynchronised: counted once. */
    assert_int_equal(pc_check_gens(&f->r), 0);
}

static void test_status_roundtrip(void **state)
{
    (void)state;
    struct pc_status s = {.seed = 7, .mib = 64, .rounds = 12, .verified = 123456789012ull, .written = 5,
                          .mismatches = 0, .clock_backwards = 1, .uptime_ms = 5000, .ts = 1796160000};
    char buf[512];
    int n = pc_format_status(buf, sizeof(buf), &s);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_string_equal(buf, "pagecheck seed=7 mib=64 rounds=12 verified=123456789012 written=5 mismatches=0 "
                             "clock_backwards=1 uptime_ms=5000 ts=1796160000");
    struct pc_status t;
    memset(&t, 0xff, sizeof(t));
    assert_int_equal(pc_parse_status(buf, &t), 0);
    assert_memory_equal(&s, &t, sizeof(s));
    assert_int_equal(pc_parse_status("pagecheck seed=7 mib=64", &t), -EINVAL);
    assert_int_equal(pc_parse_status("garbage", &t), -EINVAL);
    strcpy(strstr(buf, "rounds=") + 7, "x");
    assert_int_equal(pc_parse_status(buf, &t), -EINVAL);
}

static void test_status_aggregate(void **state)
{
    (void)state;
    struct pc_status a = {.seed = 1, .mib = 32, .rounds = 9, .verified = 10, .written = 2, .mismatches = 0,
                          .clock_backwards = 0, .uptime_ms = 100, .ts = 50};
    struct pc_status b = {.seed = 9, .mib = 32, .rounds = 4, .verified = 5, .written = 3, .mismatches = 1,
                          .clock_backwards = 2, .uptime_ms = 300, .ts = 40};
    struct pc_status acc = {0};
    pc_status_add(&acc, &a, 1);
    pc_status_add(&acc, &b, 0);
    assert_int_equal(acc.seed, 1);
    assert_int_equal(acc.mib, 64);
    assert_int_equal(acc.rounds, 4);
    assert_int_equal(acc.verified, 15);
    assert_int_equal(acc.written, 5);
    assert_int_equal(acc.mismatches, 1);
    assert_int_equal(acc.clock_backwards, 2);
    assert_int_equal(acc.uptime_ms, 300);
    assert_int_equal(acc.ts, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_distinct),
        cmocka_unit_test_setup_teardown(test_clean_region_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bit_detected_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_bumps_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_page_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_array_checked, setup, teardown),
        cmocka_unit_test(test_status_roundtrip),
        cmocka_unit_test(test_status_aggregate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
