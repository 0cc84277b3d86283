/* Page encodings of the migration stream (migrate_pages.h). */
#include "vm/migrate_pages.h"

#include <errno.h>
#include <pthread.h>
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

/* A page of the batch being encoded: its bytes as copied, the kind
 * decided, and its delta or zstd encoding. */
enum { TRY_ZSTD = 0xff }; /* decided later: zstd if it is worth it, else raw */
struct slot {
    uint64_t page, ref; /* ref: the dedup source */
    uint8_t kind;
    size_t n;
    uint8_t bytes[PAGE];
    uint8_t out[PAGE + 256];
};

/* Compression workers (threads > 1): each batch's TRY_ZSTD pages are
 * shared out by an atomic index; the encoding thread takes part too. */
struct zpool {
    unsigned nworkers;
    pthread_t t[MIG_MAX_THREADS];
    ZSTD_CCtx *zc[MIG_MAX_THREADS];
    pthread_mutex_t lock;
    pthread_cond_t go, done_cond;
    uint64_t gen;          /* bumped for each batch */
    bool quit;
    const unsigned *todo;  /* slot indices to compress */
    unsigned ntodo, busy;
    _Atomic unsigned next;
    struct slot *slots;
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
    struct slot *slots;          /* MIG_BATCH_MAX */
    unsigned todo[MIG_BATCH_MAX];
    struct zpool *pool;          /* NULL: one thread */
};

static void compress_slot(ZSTD_CCtx *zc, struct slot *s)
{
    s->n = ZSTD_compress2(zc, s->out, sizeof(s->out), s->bytes, PAGE);
}

/* Take slots to compress until none is left. */
static void zpool_work(struct zpool *z, ZSTD_CCtx *zc)
{
    unsigned i;
    while ((i = atomic_fetch_add(&z->next, 1)) < z->ntodo)
        compress_slot(zc, &z->slots[z->todo[i]]);
}

struct zworker {
    struct zpool *z;
    unsigned k;
};

static void *zworker_main(void *arg)
{
    struct zpool *z = ((struct zworker *)arg)->z;
    unsigned k = ((struct zworker *)arg)->k;
    free(arg);
    uint64_t seen = 0;
    pthread_mutex_lock(&z->lock);
    for (;;) {
        while (!z->quit && z->gen == seen)
            pthread_cond_wait(&z->go, &z->lock);
        if (z->quit)
            break;
        seen = z->gen;
        pthread_mutex_unlock(&z->lock);
        zpool_work(z, z->zc[k]);
        pthread_mutex_lock(&z->lock);
        if (--z->busy == 0)
            pthread_cond_signal(&z->done_cond);
    }
    pthread_mutex_unlock(&z->lock);
    return NULL;
}

/* Compress the listed slots on every thread of the pool and this one. */
static void zpool_run(struct zpool *z, ZSTD_CCtx *mine, struct slot *slots,
                      const unsigned *todo, unsigned n)
{
    pthread_mutex_lock(&z->lock);
    z->slots = slots;
    z->todo = todo;
    z->ntodo = n;
    atomic_store(&z->next, 0);
    z->busy = z->nworkers;
    z->gen++;
    pthread_cond_broadcast(&z->go);
    pthread_mutex_unlock(&z->lock);
    zpool_work(z, mine);
    pthread_mutex_lock(&z->lock);
    while (z->busy)
        pthread_cond_wait(&z->done_cond, &z->lock);
    pthread_mutex_unlock(&z->lock);
}

static void zpool_free(struct zpool *z)
{
    if (!z)
        return;
    pthread_mutex_lock(&z->lock);
    z->quit = true;
    pthread_cond_broadcast(&z->go);
    pthread_mutex_unlock(&z->lock);
    for (unsigned k = 0; k < z->nworkers; k++) {
        pthread_join(z->t[k], NULL);
        ZSTD_freeCCtx(z->zc[k]);
    }
    pthread_mutex_destroy(&z->lock);
    pthread_cond_destroy(&z->go);
    pthread_cond_destroy(&z->done_cond);
    free(z);
}

static ZSTD_CCtx *new_cctx(int level)
{
    ZSTD_CCtx *zc = ZSTD_createCCtx();
    if (!zc || ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, level))) {
        ZSTD_freeCCtx(zc);
        return NULL;
    }
    /* Each page is its own frame: no checksum, no size field needed. */
    (void)ZSTD_CCtx_setParameter(zc, ZSTD_c_contentSizeFlag, 0);
    return zc;
}

/* threads - 1 workers (the encoding thread is the last one). */
static struct zpool *zpool_new(unsigned threads, int level)
{
    struct zpool *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    pthread_mutex_init(&z->lock, NULL);
    pthread_cond_init(&z->go, NULL);
    pthread_cond_init(&z->done_cond, NULL);
    for (unsigned k = 0; k + 1 < threads; k++) {
        struct zworker *w = malloc(sizeof(*w));
        if (!w || !(z->zc[k] = new_cctx(level))) {
            free(w);
            break;
        }
        *w = (struct zworker){ .z = z, .k = k };
        if (pthread_create(&z->t[k], NULL, zworker_main, w)) {
            free(w);
            ZSTD_freeCCtx(z->zc[k]);
            break;
        }
        z->nworkers++;
    }
    if (!z->nworkers) {
        zpool_free(z);
        return NULL;
    }
    return z;
}

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
    if (!(e->slots = malloc(MIG_BATCH_MAX * sizeof(*e->slots))))
        goto fail;
    if (o->zstd_level > 0) {
        if (!(e->zc = new_cctx(o->zstd_level)))
            goto fail;
        /* Fewer workers than asked (no thread) is no error: slower. */
        if (o->threads > 1)
            e->pool = zpool_new(o->threads > MIG_MAX_THREADS ? MIG_MAX_THREADS : o->threads,
                                o->zstd_level);
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
    zpool_free(e->pool);
    ZSTD_freeCCtx(e->zc);
    free(e->slots);
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
                       const uint8_t *bytes, uint64_t *q)
{
    struct dedup_slot *s = &e->dedup[h & e->dedup_mask];
    uint64_t c = s->page;
    if (c == UINT64_MAX || s->hash != h || c == p || bit(e->stale, c) || live_dirty(ram, c))
        return false;
    if (memcmp(bytes, ram->host + (c << GMEM_PAGE_SHIFT), PAGE))
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

static void remember(struct mig_encoder *e, uint64_t p, uint64_t h, const uint8_t *bytes)
{
    bool zero = !bytes;
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
            memcpy(d->bytes, bytes, PAGE);
        }
    }
}

static void put_payload(struct state_out *o, const uint8_t *b, size_t n)
{
    state_put_u32(o, (uint32_t)n);
    state_put_bytes(o, b, n);
}

/* Decide page slot s's kind (in order: dedup and delta see the pages
 * before it in the batch) and remember what the destination will hold. */
static void classify(struct mig_encoder *e, struct gmem *ram, struct slot *s)
{
    /* One copy: everything below (and the destination) sees the same
     * bytes even while the guest writes the page; a write marks it dirty
     * and it goes again. */
    memcpy(s->bytes, ram->host + (s->page << GMEM_PAGE_SHIFT), PAGE);
    if (e->o.zero_pages && gmem_page_is_zero(s->bytes)) {
        s->kind = MIG_PAGE_ZERO;
        remember(e, s->page, 0, NULL);
        return;
    }
    uint64_t h = e->dedup || e->delta ? XXH3_64bits(s->bytes, PAGE) : 0;
    struct delta_slot *d = e->delta ? &e->delta[s->page % e->ndelta] : NULL;
    if (e->dedup && dedup_find(e, ram, s->page, h, s->bytes, &s->ref))
        s->kind = MIG_PAGE_DEDUP;
    else if (d && d->page == s->page &&
             (s->n = delta_encode(d->bytes, s->bytes, s->out, sizeof(s->out))))
        s->kind = MIG_PAGE_DELTA;
    else
        s->kind = e->zc ? TRY_ZSTD : MIG_PAGE_RAW;
    remember(e, s->page, h, s->bytes);
}

static void emit(struct state_out *o, const struct slot *s, struct mig_page_counts *c)
{
    size_t at = o->len;
    state_put_u64(o, s->page);
    uint8_t kind = s->kind;
    if (kind == TRY_ZSTD)
        kind = !ZSTD_isError(s->n) && s->n < WORTH ? MIG_PAGE_ZSTD : MIG_PAGE_RAW;
    state_put_u8(o, kind);
    switch (kind) {
    case MIG_PAGE_ZERO: c->zero++; break;
    case MIG_PAGE_DEDUP: state_put_u64(o, s->ref); c->dedup++; break;
    case MIG_PAGE_DELTA: put_payload(o, s->out, s->n); c->delta++; break;
    case MIG_PAGE_ZSTD: put_payload(o, s->out, s->n); c->compressed++; break;
    default: state_put_bytes(o, s->bytes, PAGE); c->normal++; break;
    }
    c->raw_bytes += PAGE;
    c->wire_bytes += o->len - at;
}

void mig_encode_pages(struct mig_encoder *e, struct gmem *ram, const uint64_t *pages,
                      unsigned n, struct state_out *o, struct mig_page_counts *c)
{
    while (n) {
        unsigned k = n < MIG_BATCH_MAX ? n : MIG_BATCH_MAX, ntodo = 0;
        for (unsigned i = 0; i < k; i++) {
            e->slots[i].page = pages[i];
            classify(e, ram, &e->slots[i]);
            if (e->slots[i].kind == TRY_ZSTD)
                e->todo[ntodo++] = i;
        }
        if (e->pool && ntodo > 1)
            zpool_run(e->pool, e->zc, e->slots, e->todo, ntodo);
        else
            for (unsigned t = 0; t < ntodo; t++)
                compress_slot(e->zc, &e->slots[e->todo[t]]);
        for (unsigned i = 0; i < k; i++)
            emit(o, &e->slots[i], c);
        pages += k;
        n -= k;
    }
}

void mig_encode_page(struct mig_encoder *e, struct gmem *ram, uint64_t p, struct state_out *o,
                     struct mig_page_counts *c)
{
    mig_encode_pages(e, ram, &p, 1, o, c);
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
