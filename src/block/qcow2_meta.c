/* qcow2 metadata: the bounded L2 table cache, refcount blocks, cluster
 * allocation and freeing, and the consistency walk run before writing.
 *
 * Crash safety (kill -9 or power loss must never corrupt, leaks are
 * fine): a cluster's refcount is on stable storage before anything
 * points to it (clusters are reserved in batches: refcounts set to 1,
 * one fdatasync, then handed out); a new L2 table's content is synced
 * before the L1 entry points to it; a freed cluster's refcount drops only
 * after the L2 entry that no longer names it has been synced (frees wait
 * for the next flush). Every table write is a single small pwrite of an
 * aligned entry. */
#include "block/qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define L2_CACHE_BYTES (4u << 20)
#define RESERVE_BYTES (64u << 20)

int qcow2_meta_init(struct qcow2 *q)
{
    unsigned n = (unsigned)(L2_CACHE_BYTES / q->cs);
    n = n < 4 ? 4 : n > 64 ? 64 : n;
    q->l2c = calloc(n, sizeof(*q->l2c));
    if (!q->l2c)
        return -ENOMEM;
    q->nl2c = n;
    return 0;
}

void qcow2_meta_free(struct qcow2 *q)
{
    for (unsigned i = 0; q->l2c && i < q->nl2c; i++)
        free(q->l2c[i].tbl);
    free(q->l2c);
    q->l2c = NULL;
    for (unsigned i = 0; i < ARRAY_SIZE(q->rbc); i++)
        free(q->rbc[i].blk);
    free(q->pend_free);
}

/* A table cluster through a small LRU cache (slots of cs bytes). */
static uint8_t *cache_get(struct qcow2 *q, uint64_t off, uint64_t *slot_off, uint64_t *slot_used,
                          uint8_t **slot_tbl, size_t stride, unsigned n, bool fresh, int *r)
{
    unsigned victim = 0;
    uint64_t oldest = UINT64_MAX;
    for (unsigned i = 0; i < n; i++) {
        uint64_t *so = (uint64_t *)((uint8_t *)slot_off + i * stride);
        uint64_t *su = (uint64_t *)((uint8_t *)slot_used + i * stride);
        if (*so == off && off) {
            *su = ++q->tick;
            uint8_t **t = (uint8_t **)((uint8_t *)slot_tbl + i * stride);
            if (fresh)
                memset(*t, 0, q->cs);
            return *t;
        }
        if (*su < oldest) {
            oldest = *su;
            victim = i;
        }
    }
    uint64_t *so = (uint64_t *)((uint8_t *)slot_off + victim * stride);
    uint64_t *su = (uint64_t *)((uint8_t *)slot_used + victim * stride);
    uint8_t **t = (uint8_t **)((uint8_t *)slot_tbl + victim * stride);
    if (!*t && !(*t = aligned_alloc(4096, q->cs < 4096 ? 4096 : q->cs))) {
        *r = -ENOMEM;
        return NULL;
    }
    *so = 0;
    if (fresh)
        memset(*t, 0, q->cs);
    else if ((*r = blk_file_pread(&q->f, *t, q->cs, off)))
        return NULL;
    *so = off;
    *su = ++q->tick;
    return *t;
}

static uint8_t *l2_get(struct qcow2 *q, uint64_t off, bool fresh, int *r)
{
    return cache_get(q, off, &q->l2c[0].off, &q->l2c[0].used, &q->l2c[0].tbl,
                     sizeof(q->l2c[0]), q->nl2c, fresh, r);
}

uint8_t *qcow2_l2_get(struct qcow2 *q, uint64_t off, int *r)
{
    return l2_get(q, off, false, r);
}

static uint8_t *rb_get(struct qcow2 *q, uint64_t off, bool fresh, int *r)
{
    return cache_get(q, off, &q->rbc[0].off, &q->rbc[0].used, &q->rbc[0].blk,
                     sizeof(q->rbc[0]), ARRAY_SIZE(q->rbc), fresh, r);
}

/* The L2 table at `off` if the cache holds it (no read, no LRU tick). */
static uint8_t *l2_peek(const struct qcow2 *q, uint64_t off)
{
    for (unsigned i = 0; i < q->nl2c; i++)
        if (q->l2c[i].off == off && q->l2c[i].tbl)
            return q->l2c[i].tbl;
    return NULL;
}

static int l2_entry(struct qcow2 *q, uint64_t gc, uint64_t *entry, uint64_t *bitmap,
                    bool cached_only)
{
    uint64_t l1i = gc / q->l2_entries;
    *entry = *bitmap = 0;
    if (l1i >= q->l1_size)
        return 0;
    uint64_t l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
    if (!l2off)
        return 0;
    int r = -EAGAIN;
    uint8_t *t = cached_only ? l2_peek(q, l2off) : qcow2_l2_get(q, l2off, &r);
    if (!t)
        return r;
    const uint8_t *e = t + (gc % q->l2_entries) * q->l2_esize;
    *entry = q2_be64(e);
    if (q->ext_l2)
        *bitmap = q2_be64(e + 8);
    return 0;
}

int qcow2_l2_entry(struct qcow2 *q, uint64_t gc, uint64_t *entry, uint64_t *bitmap)
{
    return l2_entry(q, gc, entry, bitmap, false);
}

int qcow2_l2_entry_cached(struct qcow2 *q, uint64_t gc, uint64_t *entry, uint64_t *bitmap)
{
    return l2_entry(q, gc, entry, bitmap, true);
}

int qcow2_l2_set(struct qcow2 *q, uint64_t gc, uint64_t entry, uint64_t bitmap)
{
    uint64_t l1i = gc / q->l2_entries;
    int r = 0;
    if (l1i >= q->l1_size)
        return -EIO;
    uint64_t l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
    uint8_t *t;
    if (!l2off) {
        if ((r = qcow2_alloc_cluster(q, &l2off)))
            return r;
        if (!(t = l2_get(q, l2off, true, &r)))
            return r;
        if ((r = blk_file_pwrite(&q->f, t, q->cs, l2off)) || (r = blk_file_sync(&q->f)))
            return r;
        uint8_t v[8];
        q2_put64(v, l2off | QCOW2_OFLAG_COPIED);
        if ((r = blk_file_pwrite(&q->f, v, 8, q->l1_offset + l1i * 8)))
            return r;
        q->l1[l1i] = l2off | QCOW2_OFLAG_COPIED;
    } else if (!(t = qcow2_l2_get(q, l2off, &r))) {
        return r;
    }
    uint8_t *e = t + (gc % q->l2_entries) * q->l2_esize;
    q2_put64(e, entry);
    if (q->ext_l2)
        q2_put64(e + 8, bitmap);
    return blk_file_pwrite(&q->f, e, q->l2_esize, l2off + (uint64_t)(e - t));
}

static uint64_t rc_max(const struct qcow2 *q)
{
    return q->refcount_bits == 64 ? UINT64_MAX : (1ULL << q->refcount_bits) - 1;
}

static uint64_t rb_read(const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
    switch (q->refcount_bits) {
    case 1: case 2: case 4: {
        unsigned per = 8 / q->refcount_bits;
        return (blk[i / per] >> ((i % per) * q->refcount_bits)) & rc_max(q);
    }
    case 8: return blk[i];
    case 16: return (uint64_t)blk[2 * i] << 8 | blk[2 * i + 1];
    case 32: return q2_be32(blk + 4 * i);
    default: return q2_be64(blk + 8 * i);
    }
}

/* Store and return the byte range to write back. */
static void rb_write(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v, uint64_t *at,
                     unsigned *len)
{
    switch (q->refcount_bits) {
    case 1: case 2: case 4: {
        unsigned per = 8 / q->refcount_bits, sh = (unsigned)(i % per) * q->refcount_bits;
        blk[i / per] = (uint8_t)((blk[i / per] & ~(rc_max(q) << sh)) | (v << sh));
        *at = i / per;
        *len = 1;
        return;
    }
    case 8: blk[i] = (uint8_t)v; *at = i; *len = 1; return;
    case 16: blk[2 * i] = (uint8_t)(v >> 8); blk[2 * i + 1] = (uint8_t)v; *at = 2 * i; *len = 2;
        return;
    case 32: q2_put32(blk + 4 * i, (uint32_t)v); *at = 4 * i; *len = 4; return;
    default: q2_put64(blk + 8 * i, v); *at = 8 * i; *len = 8; return;
    }
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *rc)
{
    uint64_t ri = cluster / q->rb_entries;
    *rc = 0;
    if (ri >= q->rt_entries || !q->rt[ri])
        return 0;
    int r = 0;
    uint8_t *blk = rb_get(q, q->rt[ri], false, &r);
    if (!blk)
        return r;
    *rc = rb_read(q, blk, cluster % q->rb_entries);
    return 0;
}

static void note_end(struct qcow2 *q, uint64_t cluster)
{
    if ((cluster + 1) * q->cs > q->end)
        q->end = (cluster + 1) * q->cs;
}

/* A bigger refcount table (covering group ri) at the end of the file,
 * with the refcount blocks its own clusters need placed just before it:
 * everything written and synced, then the header switched (one 12-byte
 * write, synced), then the old table's clusters freed. */
static int grow_table(struct qcow2 *q, uint64_t ri, uint64_t avoid)
{
    const uint64_t E = q->rb_entries;
    uint64_t want = q->rt_entries * 2 > ri + 1 ? q->rt_entries * 2 : ri + 1;
    uint64_t ntc = (want * 8 + q->cs - 1) / q->cs;
    if (ntc * q->cs > (8u << 20))
        return -ENOSPC;
    uint64_t nent = ntc * q->cs / 8;
    uint64_t S = q->end / q->cs > avoid + 1 ? q->end / q->cs : avoid + 1, nrb = 0;
    uint64_t groups[64];
    for (;;) {
        uint64_t n = 0, rend = S + nrb + ntc;
        for (uint64_t g = S / E; g <= (rend - 1) / E && n < 64; g++)
            if (g >= q->rt_entries || !q->rt[g])
                groups[n++] = g;
        if (ri >= q->rt_entries && (ri < S / E || ri > (rend - 1) / E) && n < 64)
            groups[n++] = ri;
        if (n >= 64)
            return -ENOSPC;
        if (n == nrb)
            break;
        nrb = n;
    }
    uint64_t *nrt = calloc(nent, 8);
    uint8_t *blk = aligned_alloc(4096, q->cs < 4096 ? 4096 : q->cs);
    int r = 0;
    if (!nrt || !blk) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(nrt, q->rt, q->rt_entries * 8);
    uint64_t rend = S + nrb + ntc;
    for (uint64_t i = 0; i < nrb; i++) {
        uint64_t g = groups[i];
        nrt[g] = (S + i) * q->cs;
        memset(blk, 0, q->cs);
        for (uint64_t c = S; c < rend; c++)
            if (c / E == g) {
                uint64_t at;
                unsigned len;
                rb_write(q, blk, c % E, 1, &at, &len);
            }
        if ((r = blk_file_pwrite(&q->f, blk, q->cs, (S + i) * q->cs)))
            goto out;
    }
    /* Region clusters in groups that already have a block. */
    for (uint64_t c = S; c < rend; c++)
        if (c / E < q->rt_entries && q->rt[c / E] && (r = qcow2_refcount_set(q, c, 1)))
            goto out;
    for (uint64_t i = 0; i < nent; i++)
        nrt[i] = __builtin_bswap64(nrt[i]);
    r = blk_file_pwrite(&q->f, nrt, ntc * q->cs, (S + nrb) * q->cs);
    for (uint64_t i = 0; i < nent; i++)
        nrt[i] = __builtin_bswap64(nrt[i]);
    if (r || (r = blk_file_sync(&q->f)))
        goto out;
    uint8_t h[12];
    q2_put64(h, (S + nrb) * q->cs);
    q2_put32(h + 8, (uint32_t)ntc);
    if ((r = blk_file_pwrite(&q->f, h, 12, 48)) || (r = blk_file_sync(&q->f)))
        goto out;
    uint64_t old_off = q->rt_offset, old_c = q->rt_clusters;
    free(q->rt);
    q->rt = nrt;
    nrt = NULL;
    q->rt_entries = nent;
    q->rt_offset = (S + nrb) * q->cs;
    q->rt_clusters = (uint32_t)ntc;
    note_end(q, rend - 1);
    for (uint64_t c = old_off / q->cs; c < old_off / q->cs + old_c && !r; c++) {
        r = qcow2_refcount_set(q, c, 0);
        if (c < q->free_hint)
            q->free_hint = c;
    }
out:
    free(nrt);
    free(blk);
    return r;
}

/* A refcount block for group ri, placed inside its own group (all of
 * whose clusters are free, having no refcount block) but not at `avoid`. */
static int new_refblock(struct qcow2 *q, uint64_t ri, uint64_t avoid)
{
    if (ri >= q->rt_entries)
        return grow_table(q, ri, avoid);
    uint64_t c = ri * q->rb_entries;
    if (c == avoid)
        c++;
    int r = 0;
    uint8_t *blk = rb_get(q, c * q->cs, true, &r);
    if (!blk)
        return r;
    uint64_t at;
    unsigned len;
    rb_write(q, blk, c % q->rb_entries, 1, &at, &len);
    if ((r = blk_file_pwrite(&q->f, blk, q->cs, c * q->cs)) || (r = blk_file_sync(&q->f)))
        return r;
    uint8_t v[8];
    q2_put64(v, c * q->cs);
    if ((r = blk_file_pwrite(&q->f, v, 8, q->rt_offset + ri * 8)) || (r = blk_file_sync(&q->f)))
        return r;
    q->rt[ri] = c * q->cs;
    note_end(q, c);
    return 0;
}

int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t rc)
{
    uint64_t ri = cluster / q->rb_entries;
    int r = 0;
    if (rc > rc_max(q))
        return -EOVERFLOW;
    if (ri >= q->rt_entries || !q->rt[ri]) {
        if (!rc)
            return 0;
        if ((r = new_refblock(q, ri, cluster)))
            return r;
    }
    uint8_t *blk = rb_get(q, q->rt[ri], false, &r);
    if (!blk)
        return r;
    uint64_t at;
    unsigned len;
    rb_write(q, blk, cluster % q->rb_entries, rc, &at, &len);
    return blk_file_pwrite(&q->f, blk + at, len, q->rt[ri] + at);
}

static int reserve(struct qcow2 *q)
{
    unsigned want = (unsigned)(RESERVE_BYTES / q->cs);
    want = want < 1 ? 1 : want > ARRAY_SIZE(q->reserved) ? ARRAY_SIZE(q->reserved) : want;
    unsigned got = 0;
    int r = 0;
    uint64_t c = q->free_hint;
    while (got < want) {
        uint64_t rc;
        if ((r = qcow2_refcount_get(q, c, &rc)))
            break;
        if (rc == 0) {
            if ((r = qcow2_refcount_set(q, c, 1)))
                break;
            q->reserved[got++] = c;
            note_end(q, c);
        }
        c++;
    }
    q->free_hint = c;
    if (got == 0)
        return r ? r : -ENOSPC;
    /* Keep reserved clusters inside the file: a leak after a crash is
     * then a plain leak for qemu-img check. */
    if (!r && blk_file_cur_size(&q->f) < q->end)
        r = blk_file_truncate(&q->f, q->end);
    if (!r)
        r = blk_file_sync(&q->f);
    if (r) {
        for (unsigned i = 0; i < got; i++)
            if (qcow2_refcount_set(q, q->reserved[i], 0))
                break; /* a leak at worst */
        return r;
    }
    q->res_next = 0;
    q->res_end = got;
    return 0;
}

int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *host)
{
    if (q->res_next == q->res_end) {
        int r = reserve(q);
        if (r)
            return r;
    }
    *host = q->reserved[q->res_next++] * q->cs;
    return 0;
}

int qcow2_release_reserved(struct qcow2 *q)
{
    int r = 0;
    while (q->res_next < q->res_end) {
        uint64_t c = q->reserved[q->res_next++];
        if ((r = qcow2_refcount_set(q, c, 0)))
            return r;
        if (c < q->free_hint)
            q->free_hint = c;
    }
    /* Trim unreferenced clusters off the end of the file. */
    uint64_t end = q->end;
    while (end > q->cs) {
        uint64_t rc;
        if ((r = qcow2_refcount_get(q, end / q->cs - 1, &rc)))
            return r;
        if (rc)
            break;
        end -= q->cs;
    }
    if (end < q->end && end < blk_file_cur_size(&q->f)) {
        if ((r = blk_file_truncate(&q->f, end)))
            return r;
    }
    q->end = end;
    return 0;
}

void qcow2_compressed_range(const struct qcow2 *q, uint64_t entry, uint64_t *off, uint64_t *len)
{
    unsigned x = 62 - (q->cluster_bits - 8);
    uint64_t desc = entry & ((1ULL << 62) - 1);
    uint64_t o = desc & ((1ULL << x) - 1);
    uint64_t nsect = desc >> x;
    *off = o;
    *len = (nsect + 1) * 512 - (o & 511);
}

int qcow2_free_later(struct qcow2 *q, uint64_t entry)
{
    uint64_t first, last;
    if (entry & QCOW2_OFLAG_COMPRESSED) {
        uint64_t o, l;
        qcow2_compressed_range(q, entry, &o, &l);
        first = o / q->cs;
        last = (o + l - 1) / q->cs;
    } else {
        first = last = (entry & QCOW2_OFFSET_MASK) / q->cs;
        if (!first)
            return 0;
    }
    for (uint64_t c = first; c <= last; c++) {
        if (q->npend == q->pend_cap) {
            unsigned cap = q->pend_cap ? q->pend_cap * 2 : 256;
            uint64_t *p = realloc(q->pend_free, cap * sizeof(*p));
            if (!p)
                return -ENOMEM;
            q->pend_free = p;
            q->pend_cap = cap;
        }
        q->pend_free[q->npend++] = c;
    }
    if (q->npend >= 4096) {
        int r = blk_file_sync(&q->f);
        return r ? r : qcow2_free_pending(q);
    }
    return 0;
}

int qcow2_free_pending(struct qcow2 *q)
{
    for (unsigned i = 0; i < q->npend; i++) {
        uint64_t c = q->pend_free[i], rc;
        int r = qcow2_refcount_get(q, c, &rc);
        if (!r && rc)
            r = qcow2_refcount_set(q, c, rc - 1);
        if (r)
            return r;
        if (rc == 1 && c < q->free_hint)
            q->free_hint = c;
    }
    q->npend = 0;
    return 0;
}

/* --- consistency walk --- */

struct walk {
    struct qcow2 *q;
    uint16_t *refs;     /* bit 15: used by non-compressed data or metadata */
    uint64_t n;
    char *err;
    size_t errlen;
};

static int wbad(struct walk *w, const char *fmt, unsigned long long a)
{
    char what[160];
    snprintf(what, sizeof(what), fmt, a);
    snprintf(w->err, w->errlen, "%s: corrupt qcow2 image: %s", w->q->b.path, what);
    return -EINVAL;
}

static int mark(struct walk *w, uint64_t off, uint64_t len, bool compressed, const char *what)
{
    if (!len)
        return 0;
    uint64_t cs = w->q->cs;
    for (uint64_t c = off / cs; c <= (off + len - 1) / cs; c++) {
        if (c >= w->n) {
            char f[128];
            snprintf(f, sizeof(f), "%s at offset %%llu is past the end of the file", what);
            return wbad(w, f, (unsigned long long)off);
        }
        uint16_t v = w->refs[c];
        if (!compressed && (v & 0x7fff)) {
            char f[160];
            snprintf(f, sizeof(f), "cluster at offset %%llu used twice (%s overlaps other "
                     "metadata or data: a cluster loop)", what);
            return wbad(w, f, (unsigned long long)(c * cs));
        }
        if (compressed && (v & 0x8000))
            return wbad(w, "compressed data at offset %llu overlaps metadata or data",
                        (unsigned long long)(c * cs));
        uint16_t cnt = v & 0x7fff;
        if (cnt < 0x7fff)
            cnt++;
        w->refs[c] = cnt | (compressed ? 0 : 0x8000);
    }
    return 0;
}

static int walk_l2(struct walk *w, uint64_t l2off)
{
    struct qcow2 *q = w->q;
    int r = 0;
    const uint8_t *t = qcow2_l2_get(q, l2off, &r);
    if (!t)
        return r;
    for (uint64_t i = 0; i < q->l2_entries; i++) {
        uint64_t e = q2_be64(t + i * q->l2_esize);
        uint64_t bm = q->ext_l2 ? q2_be64(t + i * q->l2_esize + 8) : 0;
        if (e & QCOW2_OFLAG_COMPRESSED) {
            if (bm)
                return wbad(w, "compressed cluster with a subcluster bitmap in the L2 table "
                            "at %llu", (unsigned long long)l2off);
            uint64_t o, l;
            qcow2_compressed_range(q, e, &o, &l);
            if ((r = mark(w, o, l, true, "compressed data")))
                return r;
            continue;
        }
        uint64_t off = e & QCOW2_OFFSET_MASK;
        if ((e & QCOW2_L2_RESERVED) || (q->ext_l2 && (e & 1)))
            return wbad(w, "L2 entry with reserved bits set in the table at %llu",
                        (unsigned long long)l2off);
        if (off & (q->cs - 1))
            return wbad(w, "unaligned data cluster offset in the L2 table at %llu",
                        (unsigned long long)l2off);
        if (q->ext_l2 && ((bm & (bm >> 32) & 0xffffffffULL) || (!off && (bm & 0xffffffffULL))))
            return wbad(w, "invalid subcluster bitmap in the L2 table at %llu",
                        (unsigned long long)l2off);
        if (off && (r = mark(w, off, q->cs, false, "a data cluster")))
            return r;
    }
    return 0;
}

int qcow2_check(struct qcow2 *q, bool repair, char *err, size_t errlen)
{
    struct walk w = { .q = q, .err = err, .errlen = errlen };
    w.n = (q->f.size + q->cs - 1) / q->cs;
    if (w.n < 1)
        w.n = 1;
    w.refs = calloc(w.n, sizeof(*w.refs));
    if (!w.refs) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int r;
    if ((r = mark(&w, 0, q->cs, false, "the header")) ||
        (r = mark(&w, q->l1_offset, q->l1_size * 8ULL, false, "the L1 table")) ||
        (r = mark(&w, q->rt_offset, (uint64_t)q->rt_clusters * q->cs, false,
                  "the refcount table")))
        goto out;
    for (uint64_t i = 0; i < q->rt_entries; i++)
        if (q->rt[i] && (r = mark(&w, q->rt[i], q->cs, false, "a refcount block")))
            goto out;
    for (uint32_t i = 0; i < q->l1_size; i++) {
        uint64_t l2 = q->l1[i] & QCOW2_OFFSET_MASK;
        if (!l2)
            continue;
        if ((r = mark(&w, l2, q->cs, false, "an L2 table")))
            goto out;
        if ((r = walk_l2(&w, l2))) {
            if (r != -EINVAL)
                snprintf(err, errlen, "%s: cannot read an L2 table: %s", q->b.path,
                         strerror(-r));
            goto out;
        }
    }
    bool fixed = false;
    for (uint64_t c = 0; c < w.n; c++) {
        uint64_t want = w.refs[c] & 0x7fff, have;
        if (want > rc_max(q)) {
            r = wbad(&w, "refcount overflow at cluster offset %llu",
                     (unsigned long long)(c * q->cs));
            goto out;
        }
        if ((r = qcow2_refcount_get(q, c, &have))) {
            snprintf(err, errlen, "%s: cannot read a refcount block: %s", q->b.path,
                     strerror(-r));
            goto out;
        }
        if (have == want || (have > want && !repair))
            continue;
        if (!repair) {
            r = wbad(&w, "refcount below the number of references for the cluster at offset "
                     "%llu (repair it with 'qemu-img check -r all')",
                     (unsigned long long)(c * q->cs));
            goto out;
        }
        uint64_t ri = c / q->rb_entries;
        if (ri >= q->rt_entries || !q->rt[ri]) {
            r = wbad(&w, "dirty image misses the refcount block for cluster offset %llu; "
                     "repair it with 'qemu-img check -r all'", (unsigned long long)(c * q->cs));
            goto out;
        }
        if ((r = qcow2_refcount_set(q, c, want))) {
            snprintf(err, errlen, "%s: cannot repair refcounts: %s", q->b.path, strerror(-r));
            goto out;
        }
        fixed = true;
    }
    if (fixed && (r = blk_file_sync(&q->f)))
        snprintf(err, errlen, "%s: cannot repair refcounts: %s", q->b.path, strerror(-r));
out:
    free(w.refs);
    return r;
}
