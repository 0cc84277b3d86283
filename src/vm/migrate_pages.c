/* Page encodings of the migration stream (migrate_pages.h). */
#include "vm/migrate_pages.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#define PAGE GMEM_PAGE_SIZE
/* A delta or a compressed page must save at least this much to be used. */
#define WORTH (PAGE - PAGE / 8)
#define DEDUP_SLOTS_MAX (1u << 20)

struct dedup_slot {
    uint64_t hash;
    uint64_t page; /* UINT64_MAX: empty */
};

struct delta_slot {
    uint64_t page; /* UINT64_MAX: empty */
    uint8_t bytes[PAGE];
};

struct mig_encoder {
    struct mig_page_opts o;
    uint64_t npages;
    /* One bit per page: the destination's copy may differ from RAM as of
     * the last harvest (never sent, or written since it was). */
    uint64_t *stale;
    struct dedup_slot *dedup;
    uint32_t dedup_mask;
    struct delta_slot *delta;
    uint32_t ndelta;
    ZSTD_CCtx *zc;
    uint8_t page[PAGE];          /* the page being sent, copied once */
    uint8_t scratch[PAGE + 256]; /* its delta or zstd encoding */
};

static bool bit(const uint64_t *b, uint64_t p)
{
    return (b[p >> 6] >> (p & 63)) & 1;
}

static bool live_dirty(struct gmem *ram, uint64_t p)
{
    return (atomic_load_explicit(&ram->dirty[p >> 6], memory_order_acquire) >> (p & 63)) & 1;
}

struct mig_encoder *mig_encoder_new(const struct mig_page_opts *o, const struct gmem *ram)
{
    struct mig_encoder *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->o = *o;
    e->npages = gmem_npages(ram);
    size_t words = (e->npages + 63) / 64;
    e->stale = malloc(words * sizeof(uint64_t));
    if (!e->stale)
        goto fail;
    memset(e->stale, 0xff, words * sizeof(uint64_t));
    if (o->dedup) {
        uint32_t n = 1;
        while (n < e->npages && n < DEDUP_SLOTS_MAX)
            n <<= 1;
        e->dedup = malloc(n * sizeof(*e->dedup));
        if (!e->dedup)
            goto fail;
        for (uint32_t i = 0; i < n; i++)
            e->dedup[i].page = UINT64_MAX;
        e->dedup_mask = n - 1;
    }
    if (o->delta_cache_mib) {
        uint64_t n = ((uint64_t)o->delta_cache_mib << 20) / sizeof(struct delta_slot);
        if (n > e->npages)
            n = e->npages;
        e->ndelta = (uint32_t)(n ? n : 1);
        e->delta = malloc(e->ndelta * sizeof(*e->delta));
        if (!e->delta)
            goto fail;
        for (uint32_t i = 0; i < e->ndelta; i++)
            e->delta[i].page = UINT64_MAX;
    }
    if (o->zstd_level > 0) {
        e->zc = ZSTD_createCCtx();
        if (!e->zc || ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_compressionLevel,
                                                          o->zstd_level)))
            goto fail;
        /* Each page is its own frame: no checksum, no size field needed. */
        (void)ZSTD_CCtx_setParameter(e->zc, ZSTD_c_contentSizeFlag, 0);
    }
    return e;
fail:
    mig_encoder_free(e);
    return NULL;
}

void mig_encoder_free(struct mig_encoder *e)
{
    if (!e)
        return;
    ZSTD_freeCCtx(e->zc);
    free(e->delta);
    free(e->dedup);
    free(e->stale);
    free(e);
}

uint64_t mig_encoder_features(const struct mig_encoder *e)
{
    return (e->zc ? MIG_F_ZSTD : 0) | (e->dedup ? MIG_F_DEDUP : 0) |
           (e->delta ? MIG_F_DELTA : 0);
}

void mig_encoder_round(struct mig_encoder *e, const uint64_t *bits)
{
    for (size_t w = 0; w < (e->npages + 63) / 64; w++)
        e->stale[w] |= bits[w];
}

uint64_t *mig_encoder_stale(struct mig_encoder *e)
{
    return e->stale;
}

/* A page whose copy on the destination holds these bytes now: it was
 * sent, RAM has not changed since (not stale, no write logged since the
 * last harvest), and its bytes compare equal. A write during the compare
 * sets its dirty bit first, so the second look catches it. */
static bool dedup_find(struct mig_encoder *e, struct gmem *ram, uint64_t p, uint64_t h,
                       uint64_t *q)
{
    struct dedup_slot *s = &e->dedup[h & e->dedup_mask];
    uint64_t c = s->page;
    if (c == UINT64_MAX || s->hash != h || c == p || bit(e->stale, c) || live_dirty(ram, c))
        return false;
    if (memcmp(e->page, ram->host + (c << GMEM_PAGE_SHIFT), PAGE))
        return false;
    atomic_thread_fence(memory_order_seq_cst);
    if (live_dirty(ram, c))
        return false;
    *q = c;
    return true;
}

/* Runs of new bytes over the base: {u16 skip, u16 count, bytes}. Returns
 * the encoded length, or 0 when it would not be worth it. */
static size_t delta_encode(const uint8_t *base, const uint8_t *now, uint8_t *out, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < PAGE) {
        size_t skip = 0;
        while (i + skip < PAGE && base[i + skip] == now[i + skip])
            skip++;
        i += skip;
        if (i >= PAGE)
            break;
        size_t count = 0;
        /* A run ends at 8 equal bytes: shorter gaps cost less inline. */
        while (i + count < PAGE) {
            size_t same = 0;
            while (same < 8 && i + count + same < PAGE &&
                   base[i + count + same] == now[i + count + same])
                same++;
            if (same == 8 || i + count + same >= PAGE)
                break;
            count += same + 1;
        }
        if (i + count > PAGE)
            count = PAGE - i;
        if (n + 4 + count > cap || n + 4 + count >= WORTH)
            return 0;
        out[n++] = (uint8_t)skip;
        out[n++] = (uint8_t)(skip >> 8);
        out[n++] = (uint8_t)count;
        out[n++] = (uint8_t)(count >> 8);
        memcpy(out + n, now + i, count);
        n += count;
        i += count;
    }
    return n;
}

static void remember(struct mig_encoder *e, uint64_t p, uint64_t h, bool zero)
{
    e->stale[p >> 6] &= ~(1ULL << (p & 63));
    if (e->dedup && !zero) {
        struct dedup_slot *s = &e->dedup[h & e->dedup_mask];
        s->hash = h;
        s->page = p;
    }
    if (e->delta) {
        struct delta_slot *d = &e->delta[p % e->ndelta];
        if (zero) {
            if (d->page == p)
                d->page = UINT64_MAX;
        } else {
            d->page = p;
            memcpy(d->bytes, e->page, PAGE);
        }
    }
}

static void put_payload(struct state_out *o, const uint8_t *b, size_t n)
{
    state_put_u32(o, (uint32_t)n);
    state_put_bytes(o, b, n);
}

void mig_encode_page(struct mig_encoder *e, struct gmem *ram, uint64_t p, struct state_out *o,
                     struct mig_page_counts *c)
{
    /* One copy: everything below (and the destination) sees the same
     * bytes even while the guest writes the page; a write marks it dirty
     * and it goes again. */
    memcpy(e->page, ram->host + (p << GMEM_PAGE_SHIFT), PAGE);
    state_put_u64(o, p);
    c->raw_bytes += PAGE;
    size_t at = o->len;
    if (e->o.zero_pages && gmem_page_is_zero(e->page)) {
        state_put_u8(o, MIG_PAGE_ZERO);
        c->zero++;
        remember(e, p, 0, true);
        c->wire_bytes += o->len - at + 8;
        return;
    }
    uint64_t h = e->dedup || e->delta ? XXH3_64bits(e->page, PAGE) : 0;
    uint64_t q;
    if (e->dedup && dedup_find(e, ram, p, h, &q)) {
        state_put_u8(o, MIG_PAGE_DEDUP);
        state_put_u64(o, q);
        c->dedup++;
    } else {
        size_t n = 0;
        struct delta_slot *d = e->delta ? &e->delta[p % e->ndelta] : NULL;
        if (d && d->page == p &&
            (n = delta_encode(d->bytes, e->page, e->scratch, sizeof(e->scratch)))) {
            state_put_u8(o, MIG_PAGE_DELTA);
            put_payload(o, e->scratch, n);
            c->delta++;
        } else if (e->zc &&
                   !ZSTD_isError(n = ZSTD_compress2(e->zc, e->scratch, sizeof(e->scratch),
                                                    e->page, PAGE)) &&
                   n < WORTH) {
            state_put_u8(o, MIG_PAGE_ZSTD);
            put_payload(o, e->scratch, n);
            c->compressed++;
        } else {
            state_put_u8(o, MIG_PAGE_RAW);
            state_put_bytes(o, e->page, PAGE);
            c->normal++;
        }
    }
    remember(e, p, h, false);
    c->wire_bytes += o->len - at + 8;
}

/* ---- destination ---- */

static int delta_apply(uint8_t *page, const uint8_t *b, size_t n)
{
    size_t i = 0, at = 0;
    while (at < n) {
        if (n - at < 4)
            return -EINVAL;
        size_t skip = b[at] | (size_t)b[at + 1] << 8;
        size_t count = b[at + 2] | (size_t)b[at + 3] << 8;
        at += 4;
        if (skip > PAGE - i || count > PAGE - i - skip || count > n - at)
            return -EINVAL;
        i += skip;
        memcpy(page + i, b + at, count);
        i += count;
        at += count;
    }
    return 0;
}

int mig_decode_page(struct gmem *ram, uint64_t features, struct state_in *in)
{
    static _Thread_local ZSTD_DCtx *dc;
    uint64_t p = state_get_u64(in);
    uint8_t kind = state_get_u8(in);
    if (state_in_status(in))
        return -EINVAL;
    uint64_t npages = gmem_npages(ram);
    if (p >= npages)
        return state_in_fail(in, "page %llu outside RAM", (unsigned long long)p);
    uint8_t *dst = ram->host + (p << GMEM_PAGE_SHIFT);
    switch (kind) {
    case MIG_PAGE_ZERO:
        memset(dst, 0, PAGE);
        return 0;
    case MIG_PAGE_RAW:
        state_get_bytes(in, dst, PAGE);
        return state_in_status(in);
    case MIG_PAGE_DEDUP: {
        uint64_t q = state_get_u64(in);
        if (state_in_status(in))
            return -EINVAL;
        if (!(features & MIG_F_DEDUP) || q >= npages || q == p)
            return state_in_fail(in, "page %llu: bad reference to page %llu",
                                 (unsigned long long)p, (unsigned long long)q);
        memcpy(dst, ram->host + (q << GMEM_PAGE_SHIFT), PAGE);
        return 0;
    }
    case MIG_PAGE_ZSTD:
    case MIG_PAGE_DELTA: {
        uint32_t n = state_get_u32(in);
        if (state_in_status(in))
            return -EINVAL;
        if (n > PAGE + 256 || n > state_in_left(in))
            return state_in_fail(in, "page %llu: payload of %u bytes", (unsigned long long)p, n);
        uint8_t b[PAGE + 256];
        state_get_bytes(in, b, n);
        if (state_in_status(in))
            return -EINVAL;
        if (kind == MIG_PAGE_DELTA) {
            if (!(features & MIG_F_DELTA) || delta_apply(dst, b, n))
                return state_in_fail(in, "page %llu: bad delta", (unsigned long long)p);
            return 0;
        }
        if (!dc && !(dc = ZSTD_createDCtx()))
            return state_in_fail(in, "out of memory");
        uint8_t tmp[PAGE];
        size_t got = features & MIG_F_ZSTD ? ZSTD_decompressDCtx(dc, tmp, PAGE, b, n) : 0;
        if (!(features & MIG_F_ZSTD) || ZSTD_isError(got) || got != PAGE)
            return state_in_fail(in, "page %llu: bad zstd frame", (unsigned long long)p);
        memcpy(dst, tmp, PAGE);
        return 0;
    }
    default:
        return state_in_fail(in, "page %llu: unknown kind %u", (unsigned long long)p, kind);
    }
}
