/* qcow2 guest I/O: mapping a guest range to host bytes, backing file or
 * zeros; reads (with decompression of zlib/zstd clusters); writes (in
 * place to allocated clusters, else copy-up of the whole cluster into a
 * newly allocated one); discard and write-zeroes (zero clusters in v3);
 * flush (fdatasync, then the deferred refcount drops). */
#include "block/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "core/log.h"

static struct qcow2 *to_q(struct blk_backend *b)
{
    return (struct qcow2 *)b;
}

int qcow2_map(struct qcow2 *q, uint64_t goff, uint64_t len, struct qcow2_extent *e)
{
    uint64_t gc = goff >> q->cluster_bits, in = goff & (q->cs - 1);
    if (len > q->cs - in)
        len = q->cs - in;
    uint64_t entry, bm;
    int r = qcow2_l2_entry(q, gc, &entry, &bm);
    if (r)
        return r;
    e->len = len;
    e->host = 0;
    if (entry & QCOW2_OFLAG_COMPRESSED) {
        e->kind = Q2_COMPRESSED;
        e->host = entry;
        return 0;
    }
    uint64_t off = entry & QCOW2_OFFSET_MASK;
    if (!q->ext_l2) {
        if (q->version >= 3 && (entry & QCOW2_OFLAG_ZERO))
            e->kind = Q2_ZERO;
        else if (off)
            e->kind = Q2_DATA, e->host = off + in;
        else
            e->kind = Q2_UNALLOC;
        return 0;
    }
    /* Extended L2: one kind per subcluster; extend over equal neighbours. */
    unsigned sc = (unsigned)(in / q->sc_size);
    enum qcow2_kind k0 = Q2_UNALLOC;
    for (unsigned s = sc; s < 32; s++) {
        bool a = bm >> s & 1, z = bm >> (32 + s) & 1;
        enum qcow2_kind k = a ? Q2_DATA : z ? Q2_ZERO : Q2_UNALLOC;
        if ((a && z) || (a && !off)) {
            qcow2_mark_corrupt(q, "invalid subcluster bitmap");
            return -EIO;
        }
        if (s == sc)
            k0 = k;
        else if (k != k0) {
            uint64_t l = (uint64_t)s * q->sc_size - in;
            if (l < len)
                e->len = l;
            break;
        }
    }
    e->kind = k0;
    if (k0 == Q2_DATA)
        e->host = off + in;
    return 0;
}

/* Vector cursor over a request. */
struct cur {
    struct iovec *iov;
    int n;
};

/* The next len bytes of the cursor as q->siov[0..*cnt), cursor advanced. */
static int take(struct qcow2 *q, struct cur *c, uint64_t len, int *cnt)
{
    if (q->siov_cap < c->n) {
        struct iovec *v = realloc(q->siov, (size_t)c->n * sizeof(*v));
        if (!v)
            return -ENOMEM;
        q->siov = v;
        q->siov_cap = c->n;
    }
    int k = 0;
    while (len && c->n > 0) {
        size_t l = c->iov[0].iov_len < len ? c->iov[0].iov_len : (size_t)len;
        q->siov[k++] = (struct iovec){ .iov_base = c->iov[0].iov_base, .iov_len = l };
        blk_iov_advance(&c->iov, &c->n, l);
        len -= l;
    }
    *cnt = k;
    return len ? -EINVAL : 0;
}

static void cur_zero(struct cur *c, uint64_t len)
{
    while (len && c->n > 0) {
        size_t l = c->iov[0].iov_len < len ? c->iov[0].iov_len : (size_t)len;
        memset(c->iov[0].iov_base, 0, l);
        blk_iov_advance(&c->iov, &c->n, l);
        len -= l;
    }
}

static void cur_copy(struct cur *c, const uint8_t *src, uint64_t len, bool to_iov)
{
    uint8_t *p = (uint8_t *)src;
    while (len && c->n > 0) {
        size_t l = c->iov[0].iov_len < len ? c->iov[0].iov_len : (size_t)len;
        if (to_iov)
            memcpy(c->iov[0].iov_base, p, l);
        else
            memcpy(p, c->iov[0].iov_base, l);
        p += l;
        blk_iov_advance(&c->iov, &c->n, l);
        len -= l;
    }
}

static int decompress(struct qcow2 *q, uint64_t entry)
{
    if (q->zcache_entry == entry)
        return 0;
    q->zcache_entry = 0;
    uint64_t o, l;
    qcow2_compressed_range(q, entry, &o, &l);
    if (l > 2 * q->cs + 512)
        l = 2 * q->cs + 512;
    int r = blk_file_pread(&q->f, q->zin, (size_t)l, o);
    if (r)
        return r;
    bool ok = false;
    if (q->compression == 0) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (inflateInit2(&zs, -12) != Z_OK)
            return -ENOMEM;
        zs.next_in = q->zin;
        zs.avail_in = (uInt)l;
        zs.next_out = q->zout;
        zs.avail_out = (uInt)q->cs;
        int zr = inflate(&zs, Z_FINISH);
        ok = (zr == Z_STREAM_END || zr == Z_BUF_ERROR) && zs.avail_out == 0;
        inflateEnd(&zs);
    } else {
        if (!q->zstd && !(q->zstd = ZSTD_createDCtx()))
            return -ENOMEM;
        ZSTD_DCtx_reset(q->zstd, ZSTD_reset_session_only);
        ZSTD_inBuffer in = { q->zin, (size_t)l, 0 };
        ZSTD_outBuffer out = { q->zout, (size_t)q->cs, 0 };
        while (out.pos < out.size && in.pos < in.size) {
            size_t zr = ZSTD_decompressStream(q->zstd, &out, &in);
            if (ZSTD_isError(zr) || zr == 0)
                break;
        }
        ok = out.pos == out.size;
    }
    if (!ok) {
        log_warn("%s: compressed cluster at host offset %llu does not decompress", q->b.path,
                 (unsigned long long)o);
        return -EIO;
    }
    q->zcache_entry = entry;
    return 0;
}

static int read_backing(struct qcow2 *q, struct cur *c, uint64_t goff, uint64_t len)
{
    uint64_t have = 0;
    if (q->backing && goff < q->backing->size)
        have = q->backing->size - goff < len ? q->backing->size - goff : len;
    if (have) {
        int k, r = take(q, c, have, &k);
        if (r)
            return r;
        /* The backing consumes its vector: hand it a copy of ours. */
        struct iovec *v = malloc((size_t)k * sizeof(*v));
        if (!v)
            return -ENOMEM;
        memcpy(v, q->siov, (size_t)k * sizeof(*v));
        r = q->backing->ops->preadv(q->backing, v, k, goff);
        free(v);
        if (r)
            return r;
    }
    cur_zero(c, len - have);
    return 0;
}

static int q_read(struct qcow2 *q, struct cur *c, uint64_t off, uint64_t len)
{
    int r;
    while (len) {
        struct qcow2_extent e, nx;
        if ((r = qcow2_map(q, off, len, &e)))
            return r;
        /* Merge runs of one kind (host-contiguous for data). */
        while (e.len < len && e.kind != Q2_COMPRESSED) {
            if ((r = qcow2_map(q, off + e.len, len - e.len, &nx)))
                return r;
            if (nx.kind != e.kind || (e.kind == Q2_DATA && nx.host != e.host + e.len))
                break;
            e.len += nx.len;
        }
        switch (e.kind) {
        case Q2_ZERO:
            cur_zero(c, e.len);
            break;
        case Q2_UNALLOC:
            if ((r = read_backing(q, c, off, e.len)))
                return r;
            break;
        case Q2_DATA: {
            int k;
            if ((r = take(q, c, e.len, &k)) || (r = blk_file_preadv(&q->f, q->siov, k, e.host)))
                return r;
            break;
        }
        case Q2_COMPRESSED:
            if ((r = decompress(q, e.host)))
                return r;
            cur_copy(c, q->zout + (off & (q->cs - 1)), e.len, true);
            break;
        }
        off += e.len;
        len -= e.len;
    }
    return 0;
}

static uint64_t iov_total(const struct iovec *iov, int n)
{
    uint64_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

static int qcow2_preadv(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    struct qcow2 *q = to_q(b);
    uint64_t len = iov_total(iov, n);
    struct cur c = { iov, n };
    if (off >= b->size) {
        cur_zero(&c, len);
        return 0;
    }
    uint64_t in = b->size - off < len ? b->size - off : len;
    int r = q_read(q, &c, off, in);
    if (!r)
        cur_zero(&c, len - in);
    return r;
}

/* The bytes [skip, skip + len) of iov[0..n) as out[0..return): at most
 * `max` entries, -1 when more are needed. */
static int iov_slice(const struct iovec *iov, int n, uint64_t skip, uint64_t len,
                     struct iovec *out, int max)
{
    int k = 0;
    for (int i = 0; i < n && len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t l = iov[i].iov_len - (size_t)skip;
        if (l > len)
            l = (size_t)len;
        if (k == max)
            return -1;
        out[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, l };
        skip = 0;
        len -= l;
    }
    return len ? -1 : k;
}

#define TRY_IOV 256 /* a request's buffers past this go to a worker */

/* A read the page cache and the L2 cache can answer at once (blk_ops
 * try_rw): clusters whose L2 entries are cached, each plain data, zero
 * or unallocated (no backing file), the data read with RWF_NOWAIT in one
 * preadv2 per run of host-contiguous clusters; -EAGAIN for anything else,
 * and for every write (the worker then does the whole read again: what
 * landed in the guest's buffers meanwhile is overwritten). The caller runs
 * it where no other request of this image can run (qcow2 is not
 * concurrent: the disk's workers are idle). */
static int qcow2_try_rw(struct blk_backend *b, bool write, const struct iovec *iov, int n,
                        uint64_t off)
{
    struct qcow2 *q = to_q(b);
    uint64_t len = iov_total(iov, n);
    if (write || q->f.direct || !len || off >= b->size || b->size - off < len || q->ext_l2 ||
        n > TRY_IOV)
        return -EAGAIN;
    struct iovec part[TRY_IOV];
    uint64_t done = 0;
    while (done < len) {
        /* a run: clusters of one kind (zero, or data at consecutive host
         * offsets) from off + done */
        uint64_t host0 = 0, run = 0;
        bool zero = false;
        while (done + run < len) {
            uint64_t at = off + done + run, entry, bm;
            if (qcow2_l2_entry_cached(q, at >> q->cluster_bits, &entry, &bm) ||
                (entry & QCOW2_OFLAG_COMPRESSED))
                return -EAGAIN;
            uint64_t host = entry & QCOW2_OFFSET_MASK;
            bool zflag = q->version >= 3 && (entry & QCOW2_OFLAG_ZERO);
            if (!host && !zflag && q->backing)
                return -EAGAIN; /* the backing file's */
            bool z = zflag || !host;
            uint64_t in = at & (q->cs - 1), l = q->cs - in;
            if (l > len - done - run)
                l = len - done - run;
            if (run && (z != zero || (!z && host + in != host0 + run)))
                break;
            if (!run) {
                zero = z;
                host0 = host + in;
            }
            run += l;
        }
        int k = iov_slice(iov, n, done, run, part, TRY_IOV);
        if (k < 0)
            return -EAGAIN;
        if (zero) {
            for (int i = 0; i < k; i++)
                memset(part[i].iov_base, 0, part[i].iov_len);
        } else {
            ssize_t got = preadv2(q->f.fd, part, k, (off_t)host0, RWF_NOWAIT);
            if (got != (ssize_t)run)
                return -EAGAIN; /* short: the worker reads it whole */
        }
        done += run;
    }
    return 0;
}

int qcow2_read_cluster_range(struct qcow2 *q, uint64_t goff, uint8_t *buf, uint64_t len)
{
    struct iovec v = { .iov_base = buf, .iov_len = (size_t)len };
    return qcow2_preadv(&q->b, &v, 1, goff);
}

/* A write into a cluster that has no host cluster of its own (or whose
 * subclusters are not all allocated): build the whole cluster, write it
 * to its new (or preallocated) home, then point the L2 entry at it. */
static int cow_cluster(struct qcow2 *q, struct cur *c, uint64_t off, uint64_t len)
{
    uint64_t gc = off >> q->cluster_bits, in = off & (q->cs - 1);
    uint64_t entry, bm;
    int r = qcow2_l2_entry(q, gc, &entry, &bm);
    if (r)
        return r;
    uint64_t old = entry & QCOW2_OFFSET_MASK, host;
    bool compressed = entry & QCOW2_OFLAG_COMPRESSED;
    bool reuse = !compressed && old;
    if (reuse)
        host = old;
    else if ((r = qcow2_alloc_cluster(q, &host)))
        return r;
    if (in == 0 && len == q->cs) {
        int k;
        if ((r = take(q, c, len, &k)) || (r = blk_file_pwritev(&q->f, q->siov, k, host)))
            return r;
    } else {
        if ((r = qcow2_read_cluster_range(q, gc << q->cluster_bits, q->cbuf, q->cs)))
            return r;
        cur_copy(c, q->cbuf + in, len, false);
        if ((r = blk_file_pwrite(&q->f, q->cbuf, q->cs, host)))
            return r;
    }
    if (compressed && q->zcache_entry == entry)
        q->zcache_entry = 0;
    if ((r = qcow2_l2_set(q, gc, host | QCOW2_OFLAG_COPIED, q->ext_l2 ? 0xffffffffULL : 0)))
        return r;
    return compressed ? qcow2_free_later(q, entry) : 0;
}

static int write_check(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (q->b.readonly)
        return -EROFS;
    if (q->corrupt)
        return -EIO;
    if (off > q->b.size || len > q->b.size - off)
        return -EINVAL;
    return 0;
}

static int qcow2_pwritev(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    struct qcow2 *q = to_q(b);
    uint64_t len = iov_total(iov, n);
    int r = write_check(q, off, len);
    if (r)
        return r;
    struct cur c = { iov, n };
    while (len) {
        struct qcow2_extent e, nx;
        if ((r = qcow2_map(q, off, len, &e)))
            return r;
        if (e.kind == Q2_DATA) {
            while (e.len < len) {
                if ((r = qcow2_map(q, off + e.len, len - e.len, &nx)))
                    return r;
                if (nx.kind != Q2_DATA || nx.host != e.host + e.len)
                    break;
                e.len += nx.len;
            }
            int k;
            if ((r = take(q, &c, e.len, &k)) ||
                (r = blk_file_pwritev(&q->f, q->siov, k, e.host)))
                return r;
        } else {
            uint64_t in = off & (q->cs - 1);
            e.len = q->cs - in < len ? q->cs - in : len;
            if ((r = cow_cluster(q, &c, off, e.len)))
                return r;
        }
        off += e.len;
        len -= e.len;
    }
    return 0;
}

/* Whole cluster gc becomes zeros (zero=true) or deallocated. */
static int drop_cluster(struct qcow2 *q, uint64_t gc, bool zero)
{
    uint64_t entry, bm;
    int r = qcow2_l2_entry(q, gc, &entry, &bm);
    if (r)
        return r;
    uint64_t ne = 0, nb = 0;
    bool want_zero = q->backing != NULL; /* else unallocated reads as zeros */
    if (want_zero) {
        if (q->version < 3)
            return zero ? 1 : 0; /* v2 has no zero clusters: caller writes zeros */
        if (q->ext_l2)
            nb = 0xffffffff00000000ULL;
        else
            ne = QCOW2_OFLAG_ZERO;
    }
    if (entry == ne && bm == nb)
        return 0;
    if (q->zcache_entry == entry)
        q->zcache_entry = 0;
    if ((r = qcow2_l2_set(q, gc, ne, nb)))
        return r;
    if ((entry & QCOW2_OFLAG_COMPRESSED) || (entry & QCOW2_OFFSET_MASK))
        return qcow2_free_later(q, entry);
    return 0;
}

static int write_zero_bytes(struct qcow2 *q, uint64_t off, uint64_t len)
{
    static const uint8_t zeros[65536] __attribute__((aligned(4096)));
    while (len) {
        /* Already zero: nothing to do. */
        struct qcow2_extent e;
        int r = qcow2_map(q, off, len, &e);
        if (r)
            return r;
        uint64_t l = e.len < sizeof(zeros) ? e.len : sizeof(zeros);
        if (e.kind == Q2_ZERO || (e.kind == Q2_UNALLOC && !q->backing)) {
            l = e.len;
        } else {
            struct iovec v = { .iov_base = (void *)zeros, .iov_len = (size_t)l };
            if ((r = qcow2_pwritev(&q->b, &v, 1, off)))
                return r;
        }
        off += l;
        len -= l;
    }
    return 0;
}

static int range_op(struct blk_backend *b, uint64_t off, uint64_t len, bool zero)
{
    struct qcow2 *q = to_q(b);
    int r = write_check(q, off, len);
    if (r)
        return r;
    uint64_t end = off + len;
    while (off < end) {
        uint64_t in = off & (q->cs - 1);
        uint64_t l = q->cs - in < end - off ? q->cs - in : end - off;
        /* Whole clusters (or up to the end of the disk) change mapping. */
        bool whole = in == 0 && (l == q->cs || off + l == q->b.size);
        r = whole ? drop_cluster(q, off >> q->cluster_bits, zero) : (zero ? 1 : 0);
        if (r < 0)
            return r;
        if (r == 1 && (r = write_zero_bytes(q, off, l)))
            return r;
        off += l;
    }
    return 0;
}

static int qcow2_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
    return range_op(b, off, len, false);
}

static int qcow2_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len)
{
    return range_op(b, off, len, true);
}

static int qcow2_flush(struct blk_backend *b)
{
    struct qcow2 *q = to_q(b);
    if (b->readonly || q->cache == BLK_CACHE_UNSAFE)
        return 0;
    int r = blk_file_sync(&q->f);
    return r ? r : qcow2_free_pending(q);
}

int qcow2_make_readonly(struct blk_backend *b);
int qcow2_make_writable(struct blk_backend *b);
void qcow2_close(struct blk_backend *b);

const struct blk_backend_ops qcow2_ops = {
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .try_rw = qcow2_try_rw,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .make_readonly = qcow2_make_readonly,
    .make_writable = qcow2_make_writable,
    .inactivate = qcow2_inactivate,
    .activate = qcow2_activate,
    .close = qcow2_close,
};
