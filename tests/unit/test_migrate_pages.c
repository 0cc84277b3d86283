/* The migration page encodings (vm/migrate_pages.c): whatever mix of
 * zero, duplicate, slightly changed and random pages a source holds, and
 * whatever encodings are enabled, the destination ends with the same RAM;
 * a page written after it was sent is never used as a dedup reference;
 * and hostile records (bad index, reference, lengths, runs, zstd frames,
 * kinds the hello did not allow) are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem/gmem.h"
#include "state/state.h"
#include "vm/migrate_pages.h"

#define BASE 0x80000000ULL
#define NPAGES 256
#define SIZE (NPAGES * GMEM_PAGE_SIZE)

static uint8_t *page(struct gmem *m, uint64_t p)
{
    return m->host + p * GMEM_PAGE_SIZE;
}

/* Zero, duplicated, text-like (compressible) and random pages. */
static void fill(struct gmem *m, unsigned seed)
{
    srand(seed);
    for (uint64_t p = 0; p < NPAGES; p++) {
        uint8_t *d = page(m, p);
        switch (p % 4) {
        case 0: memset(d, 0, GMEM_PAGE_SIZE); break;
        case 1: memset(d, 0x5a, GMEM_PAGE_SIZE); d[0] = 7; break; /* all equal */
        case 2:
            for (unsigned i = 0; i < GMEM_PAGE_SIZE; i++)
                d[i] = "corral migrates pages "[i % 22];
            d[p % GMEM_PAGE_SIZE] ^= (uint8_t)p;
            break;
        default:
            for (unsigned i = 0; i < GMEM_PAGE_SIZE; i++)
                d[i] = (uint8_t)rand();
        }
    }
}

/* Send the pages in bits (all when NULL) from src and apply them to dst. */
static void transfer(struct mig_encoder *e, struct gmem *src, struct gmem *dst,
                     uint64_t features, const uint64_t *bits, struct mig_page_counts *c)
{
    struct state_out o;
    state_out_init(&o);
    for (uint64_t p = 0; p < NPAGES; p++)
        if (!bits || ((bits[p >> 6] >> (p & 63)) & 1))
            mig_encode_page(e, src, p, &o, c);
    assert_int_equal(state_out_status(&o), 0);
    char err[256];
    struct state_in in;
    state_in_init(&in, o.buf, o.len, "test", err, sizeof(err));
    while (state_in_left(&in))
        assert_int_equal(mig_decode_page(dst, features, &in), 0);
    state_out_free(&o);
}

static void roundtrip(const struct mig_page_opts *opts, struct mig_page_counts *c)
{
    struct gmem src, dst;
    assert_int_equal(gmem_init(&src, BASE, SIZE), 0);
    assert_int_equal(gmem_init(&dst, BASE, SIZE), 0);
    gmem_dirty_log_start(&src);
    memset(dst.host, 0xee, SIZE); /* the destination starts with junk */
    fill(&src, 1);
    struct mig_encoder *e = mig_encoder_new(opts, &src);
    assert_non_null(e);
    uint64_t f = mig_encoder_features(e);
    uint64_t bits[NPAGES / 64] = { 0 };
    uint64_t scratch[NPAGES / 64] = { 0 };
    (void)gmem_dirty_harvest(&src, scratch);
    transfer(e, &src, &dst, f, NULL, c);
    assert_memory_equal(src.host, dst.host, SIZE);
    /* Round 1: change a few bytes of some pages, rewrite others, zero some. */
    for (uint64_t p = 0; p < NPAGES; p += 3) {
        gmem_mark_dirty(&src, BASE + p * GMEM_PAGE_SIZE, 1);
        if (p % 2)
            page(&src, p)[100] ^= 0xff;
        else
            memset(page(&src, p), p % 4 ? 0x5a : 0, GMEM_PAGE_SIZE);
    }
    (void)gmem_dirty_harvest(&src, bits);
    mig_encoder_round(e, bits);
    transfer(e, &src, &dst, f, bits, c);
    assert_memory_equal(src.host, dst.host, SIZE);
    mig_encoder_free(e);
    gmem_destroy(&src);
    gmem_destroy(&dst);
}

static void every_encoding_roundtrips(void **state)
{
    struct mig_page_opts all = { .zero_pages = true, .zstd_level = 3, .dedup = true,
                                 .delta_cache_mib = 1 };
    struct mig_page_counts c = { 0 };
    roundtrip(&all, &c);
    assert_true(c.zero > 0);
    assert_true(c.dedup > 0);
    assert_true(c.compressed > 0);
    assert_true(c.delta > 0);
    assert_true(c.wire_bytes < c.raw_bytes);
    struct mig_page_opts none = { 0 };
    memset(&c, 0, sizeof(c));
    roundtrip(&none, &c);
    assert_int_equal(c.zero + c.dedup + c.compressed + c.delta, 0);
    assert_int_equal(c.normal, NPAGES + (NPAGES + 2) / 3); /* round 0, then every third */
}

/* Compression on 4 threads sends exactly the bytes one thread sends. */
static void threads_send_the_same(void **state)
{
    struct gmem src;
    assert_int_equal(gmem_init(&src, BASE, SIZE), 0);
    fill(&src, 2);
    uint64_t pages[NPAGES];
    for (uint64_t p = 0; p < NPAGES; p++)
        pages[p] = p;
    struct state_out out[2];
    for (unsigned k = 0; k < 2; k++) {
        struct mig_page_opts o = { .zero_pages = true, .zstd_level = 3, .dedup = true,
                                   .threads = k ? 4 : 1 };
        struct mig_encoder *e = mig_encoder_new(&o, &src);
        assert_non_null(e);
        struct mig_page_counts c = { 0 };
        state_out_init(&out[k]);
        mig_encode_pages(e, &src, pages, NPAGES, &out[k], &c);
        assert_true(c.compressed > 0);
        mig_encoder_free(e);
    }
    assert_int_equal(out[0].len, out[1].len);
    assert_memory_equal(out[0].buf, out[1].buf, out[0].len);
    state_out_free(&out[0]);
    state_out_free(&out[1]);
    gmem_destroy(&src);
}

/* A duplicate refers to a page the destination holds; never to one the
 * guest is writing (dirty since the last harvest): its copy there may be
 * older than what the comparison saw. */
static void written_page_is_no_reference(void **state)
{
    struct gmem src, dst;
    assert_int_equal(gmem_init(&src, BASE, SIZE), 0);
    assert_int_equal(gmem_init(&dst, BASE, SIZE), 0);
    gmem_dirty_log_start(&src);
    uint64_t scratch[NPAGES / 64] = { 0 };
    (void)gmem_dirty_harvest(&src, scratch);
    struct mig_page_opts o = { .zero_pages = true, .dedup = true };
    struct mig_encoder *e = mig_encoder_new(&o, &src);
    assert_non_null(e);
    uint64_t f = mig_encoder_features(e);
    struct mig_page_counts c = { 0 };
    memset(page(&src, 5), 0x11, GMEM_PAGE_SIZE);
    memset(page(&src, 9), 0x11, GMEM_PAGE_SIZE);
    memset(page(&src, 10), 0x11, GMEM_PAGE_SIZE);
    uint64_t b5[NPAGES / 64] = { 1ULL << 5 }, b9[NPAGES / 64] = { 1ULL << 9 },
             b10[NPAGES / 64] = { 1ULL << 10 };
    transfer(e, &src, &dst, f, b5, &c);
    assert_int_equal(c.normal, 1);
    /* Page 9 equals page 5, which is clean: a reference. */
    transfer(e, &src, &dst, f, b9, &c);
    assert_int_equal(c.dedup, 1);
    /* Page 9 is being written (dirty, same bytes so far): page 10 may
     * not refer to it, and goes raw. */
    gmem_mark_dirty(&src, BASE + 9 * GMEM_PAGE_SIZE, 1);
    transfer(e, &src, &dst, f, b10, &c);
    assert_int_equal(c.dedup, 1);
    assert_int_equal(c.normal, 2);
    assert_memory_equal(src.host, dst.host, SIZE);
    mig_encoder_free(e);
    gmem_destroy(&src);
    gmem_destroy(&dst);
}

static int decode(struct gmem *ram, uint64_t features, const uint8_t *rec, size_t n)
{
    char err[256];
    struct state_in in;
    state_in_init(&in, rec, n, "test", err, sizeof(err));
    return mig_decode_page(ram, features, &in);
}

static void hostile_records_refused(void **state)
{
    struct gmem ram;
    assert_int_equal(gmem_init(&ram, BASE, SIZE), 0);
    uint64_t all = MIG_F_KNOWN;
    uint8_t r[64];
    /* page index past RAM */
    memset(r, 0, sizeof(r));
    r[0] = 0x00; r[1] = 0x01; /* page 256 */
    assert_int_not_equal(decode(&ram, all, r, 9), 0);
    /* unknown kind */
    memset(r, 0, sizeof(r));
    r[8] = 9;
    assert_int_not_equal(decode(&ram, all, r, 9), 0);
    /* dedup: to itself, past RAM, or not allowed by hello */
    memset(r, 0, sizeof(r));
    r[0] = 3; r[8] = MIG_PAGE_DEDUP; r[9] = 3;
    assert_int_not_equal(decode(&ram, all, r, 17), 0);
    r[9] = 0; r[10] = 0x10;
    assert_int_not_equal(decode(&ram, all, r, 17), 0);
    r[9] = 4; r[10] = 0;
    assert_int_not_equal(decode(&ram, 0, r, 17), 0);
    assert_int_equal(decode(&ram, all, r, 17), 0);
    /* delta: a run past the page, a length past the record */
    memset(r, 0, sizeof(r));
    r[8] = MIG_PAGE_DELTA;
    r[9] = 4; /* u32 length 4 */
    r[13] = 0x00; r[14] = 0x10; r[15] = 1; r[16] = 0; /* skip 4096, count 1 */
    assert_int_not_equal(decode(&ram, all, r, 17), 0);
    r[9] = 40; /* longer than what follows */
    assert_int_not_equal(decode(&ram, all, r, 17), 0);
    /* zstd: garbage */
    memset(r, 0, sizeof(r));
    r[8] = MIG_PAGE_ZSTD;
    r[9] = 8;
    memset(r + 13, 0xab, 8);
    assert_int_not_equal(decode(&ram, all, r, 21), 0);
    /* truncated raw page */
    memset(r, 0, sizeof(r));
    r[8] = MIG_PAGE_RAW;
    assert_int_not_equal(decode(&ram, all, r, 64), 0);
    gmem_destroy(&ram);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_encoding_roundtrips),
        cmocka_unit_test(threads_send_the_same),
        cmocka_unit_test(written_page_is_no_reference),
        cmocka_unit_test(hostile_records_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
