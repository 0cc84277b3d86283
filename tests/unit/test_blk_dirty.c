/* The changed-chunk map of storage migration (block/blk_dirty.c): every
 * chunk starts changed, marks are clamped to the disk, take clears and
 * wraps, and the last chunk may be short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block/blk_dirty.h"

static void all_changed_at_start(void **state)
{
    (void)state;
    struct blk_dirty *d;
    assert_int_equal(blk_dirty_new(&d, (3ULL << 18) + 100, 18), 0);
    assert_int_equal(d->nchunks, 4);
    assert_int_equal(blk_dirty_count(d), 4);
    assert_int_equal(blk_dirty_chunk_len(d, 3), 100);
    assert_int_equal(blk_dirty_chunk_len(d, 0), 1 << 18);
    assert_int_equal(blk_dirty_chunk_len(d, 4), 0);
    uint64_t c, seen = 0;
    for (int i = 0; i < 4; i++) {
        assert_true(blk_dirty_take(d, &c));
        seen |= 1ULL << c;
    }
    assert_int_equal(seen, 0xf);
    assert_false(blk_dirty_take(d, &c));
    assert_int_equal(blk_dirty_count(d), 0);
    blk_dirty_free(d);
}

static void marks_cover_and_clamp(void **state)
{
    (void)state;
    struct blk_dirty *d;
    assert_int_equal(blk_dirty_new(&d, 200ULL << 12, 12), 0);
    uint64_t c;
    while (blk_dirty_take(d, &c))
        ;
    blk_dirty_mark(d, 4095, 2); /* straddles chunks 0 and 1 */
    assert_int_equal(blk_dirty_count(d), 2);
    blk_dirty_mark(d, 199ULL << 12, 1ULL << 30); /* runs past the end: clamped */
    blk_dirty_mark(d, 500ULL << 12, 4096);       /* wholly past the end: ignored */
    blk_dirty_mark(d, 10ULL << 12, 0);           /* empty: ignored */
    assert_int_equal(blk_dirty_count(d), 3);
    /* Take goes on from the cursor's word and wraps: a chunk marked again
     * behind the cursor is found too. */
    assert_true(blk_dirty_take(d, &c));
    assert_int_equal(c, 0);
    assert_true(blk_dirty_take(d, &c));
    assert_int_equal(c, 1);
    blk_dirty_mark(d, 70ULL << 12, 1); /* word 1, behind none yet */
    assert_true(blk_dirty_take(d, &c));
    assert_int_equal(c, 70);
    assert_true(blk_dirty_take(d, &c));
    assert_int_equal(c, 199);
    blk_dirty_mark(d, 5ULL << 12, 1); /* behind the cursor */
    assert_true(blk_dirty_take(d, &c));
    assert_int_equal(c, 5);
    assert_false(blk_dirty_take(d, &c));
    blk_dirty_free(d);
}

static void bad_shift_refused(void **state)
{
    (void)state;
    struct blk_dirty *d;
    assert_int_equal(blk_dirty_new(&d, 1 << 20, 11), -22);
    assert_int_equal(blk_dirty_new(&d, 1 << 20, 31), -22);
    assert_int_equal(blk_dirty_new(&d, 0, 12), 0);
    uint64_t c;
    assert_false(blk_dirty_take(d, &c));
    blk_dirty_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_changed_at_start),
        cmocka_unit_test(marks_cover_and_clamp),
        cmocka_unit_test(bad_shift_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
