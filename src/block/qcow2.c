/* qcow2 images: header and extensions, open (validation, dirty-bit
 * repair, backing file), close, and the read-only/read-write switches
 * used for backing files. Mapping and I/O are in qcow2_io.c, tables and
 * refcounts in qcow2_meta.c, overlays and commit in qcow2_create.c.
 *
 * Header (big-endian): 0 magic, 4 version, 8 backing_file_offset,
 * 16 backing_file_size, 20 cluster_bits, 24 size, 32 crypt_method,
 * 36 l1_size, 40 l1_table_offset, 48 refcount_table_offset,
 * 56 refcount_table_clusters, 60 nb_snapshots, 64 snapshots_offset;
 * v3: 72 incompatible, 80 compatible, 88 autoclear features,
 * 96 refcount_order, 100 header_length, 104 compression_type. */
#include "block/qcow2.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/log.h"

enum {
    EXT_END = 0, EXT_BACKING_FMT = 0xe2792aca, EXT_FEATURES = 0x6803f857,
    EXT_DATA_FILE = 0x44415441, EXT_CRYPTO = 0x0537be77,
};
#define MAX_L1_BYTES (32u << 20)
#define MAX_RT_BYTES (8u << 20)

static int bad(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: corrupt qcow2 image: %s", path, what);
    return -EINVAL;
}

int qcow2_write_incompat(struct qcow2 *q, uint64_t bits)
{
    uint8_t v[8];
    q2_put64(v, bits);
    int r = blk_file_pwrite(&q->f, v, 8, 72);
    if (!r)
        r = blk_file_sync(&q->f);
    if (!r)
        q->incompat = bits;
    return r;
}

void qcow2_mark_corrupt(struct qcow2 *q, const char *what)
{
    if (!q->corrupt)
        log_warn("%s: corrupt qcow2 metadata (%s): no more writes to this image (run "
                 "qemu-img check)", q->b.path, what);
    q->corrupt = true;
}

/* Names of unknown incompatible features from the feature-name table. */
static void feature_names(const uint8_t *tbl, uint32_t len, uint64_t bits, char *out,
                          size_t outlen)
{
    size_t used = 0;
    out[0] = 0;
    for (int bit = 0; bit < 64; bit++) {
        if (!(bits & (1ULL << bit)))
            continue;
        const char *name = NULL;
        char buf[48];
        for (uint32_t i = 0; i + 48 <= len; i += 48)
            if (tbl[i] == 0 && tbl[i + 1] == bit) {
                memcpy(buf, tbl + i + 2, 46);
                buf[46] = 0;
                name = buf;
                break;
            }
        int n = name ? snprintf(out + used, outlen - used, "%s'%s'", used ? ", " : "", name)
                     : snprintf(out + used, outlen - used, "%sbit %d", used ? ", " : "", bit);
        if (n < 0 || (size_t)n >= outlen - used)
            break;
        used += (size_t)n;
    }
}

static int parse_header(struct qcow2 *q, const char *path, char *err, size_t errlen)
{
    uint8_t h[112] = { 0 };
    int r = blk_file_pread(&q->f, h, sizeof(h), 0);
    if (r) {
        snprintf(err, errlen, "%s: cannot read the qcow2 header: %s", path, strerror(-r));
        return r;
    }
    uint64_t fsize = q->f.size;
    if (fsize < 72 || q2_be32(h) != QCOW2_MAGIC)
        return bad(err, errlen, path, "no qcow2 header (file too short or wrong magic)");
    q->version = q2_be32(h + 4);
    if (q->version != 2 && q->version != 3) {
        snprintf(err, errlen, "%s: qcow2 version %u is not supported (2 or 3)", path,
                 q->version);
        return -ENOTSUP;
    }
    uint64_t bf_off = q2_be64(h + 8);
    uint32_t bf_size = q2_be32(h + 16);
    q->cluster_bits = q2_be32(h + 20);
    if (q->cluster_bits < 9 || q->cluster_bits > 21)
        return bad(err, errlen, path, "cluster_bits outside 9..21");
    q->cs = 1ULL << q->cluster_bits;
    q->b.size = q2_be64(h + 24);
    if (q->b.size > (1ULL << 60))
        return bad(err, errlen, path, "virtual size too large");
    if (q2_be32(h + 32)) {
        snprintf(err, errlen, "%s: encrypted qcow2 images are not supported", path);
        return -ENOTSUP;
    }
    q->l1_size = q2_be32(h + 36);
    q->l1_offset = q2_be64(h + 40);
    q->rt_offset = q2_be64(h + 48);
    q->rt_clusters = q2_be32(h + 56);
    q->nb_snapshots = q2_be32(h + 60);
    uint64_t snap_off = q2_be64(h + 64);
    q->refcount_order = 4;
    q->header_length = 72;
    if (q->version == 3) {
        if (fsize < 104)
            return bad(err, errlen, path, "file shorter than the v3 header");
        q->incompat = q2_be64(h + 72);
        q->compat = q2_be64(h + 80);
        q->autoclear = q2_be64(h + 88);
        q->refcount_order = q2_be32(h + 96);
        q->header_length = q2_be32(h + 100);
        if (q->header_length < 104 || q->header_length % 8 || q->header_length > q->cs)
            return bad(err, errlen, path, "header_length not a multiple of 8 in 104..cluster");
        if (q->header_length > 104)
            q->compression = h[104];
    }
    if (q->refcount_order > 6)
        return bad(err, errlen, path, "refcount_order above 6");
    q->refcount_bits = 1u << q->refcount_order;
    q->rb_entries = q->cs * 8 / q->refcount_bits;

    /* The first cluster holds extensions and the backing file name. */
    uint64_t c0 = q->cs < fsize ? q->cs : fsize;
    uint8_t *hc = calloc(1, q->cs);
    if (!hc) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((r = blk_file_pread(&q->f, hc, (size_t)c0, 0))) {
        snprintf(err, errlen, "%s: cannot read the qcow2 header: %s", path, strerror(-r));
        goto out;
    }
    const uint8_t *ftbl = NULL;
    uint32_t ftbl_len = 0;
    uint64_t ext_end = bf_off && bf_off < q->cs ? bf_off : q->cs;
    for (uint64_t p = q->header_length; p + 8 <= ext_end;) {
        uint32_t type = q2_be32(hc + p), len = q2_be32(hc + p + 4);
        if (type == EXT_END)
            break;
        if (len > ext_end - p - 8) {
            r = bad(err, errlen, path, "header extension runs past the first cluster");
            goto out;
        }
        const uint8_t *d = hc + p + 8;
        if (type == EXT_BACKING_FMT) {
            if (len >= sizeof(q->backing_fmt)) {
                r = bad(err, errlen, path, "backing format name too long");
                goto out;
            }
            memcpy(q->backing_fmt, d, len);
            q->backing_fmt[len] = 0;
        } else if (type == EXT_FEATURES) {
            ftbl = d;
            ftbl_len = len;
        } else if (type == EXT_DATA_FILE || type == EXT_CRYPTO) {
            snprintf(err, errlen, "%s: qcow2 %s is not supported", path,
                     type == EXT_DATA_FILE ? "external data file" : "encryption");
            r = -ENOTSUP;
            goto out;
        }
        p += 8 + (((uint64_t)len + 7) & ~7ULL);
    }
    uint64_t unknown = q->incompat & ~(uint64_t)QCOW2_INCOMPAT_KNOWN;
    if (unknown) {
        char names[256];
        feature_names(ftbl, ftbl_len, unknown, names, sizeof(names));
        snprintf(err, errlen, "%s: qcow2 image uses unsupported incompatible features: %s",
                 path, names);
        r = -ENOTSUP;
        goto out;
    }
    if (q->incompat & QCOW2_INCOMPAT_DATA_FILE) {
        snprintf(err, errlen, "%s: qcow2 external data file is not supported", path);
        r = -ENOTSUP;
        goto out;
    }
    if (q->compression > 1 || (q->compression && !(q->incompat & QCOW2_INCOMPAT_COMPRESSION))) {
        r = bad(err, errlen, path, "unknown compression type");
        goto out;
    }
    q->ext_l2 = q->incompat & QCOW2_INCOMPAT_EXTL2;
    if (q->ext_l2 && q->cluster_bits < 14) {
        r = bad(err, errlen, path, "extended L2 entries with clusters below 16 KiB");
        goto out;
    }
    q->l2_esize = q->ext_l2 ? 16 : 8;
    q->l2_entries = q->cs / q->l2_esize;
    q->sc_size = q->ext_l2 ? q->cs / 32 : q->cs;
    if (bf_off) {
        if (bf_size == 0 || bf_size >= sizeof(q->backing_name) || bf_off >= c0 ||
            bf_size > c0 - bf_off) {
            r = bad(err, errlen, path, "backing file name outside the first cluster or too "
                    "long");
            goto out;
        }
        memcpy(q->backing_name, hc + bf_off, bf_size);
        q->backing_name[bf_size] = 0;
        if (strlen(q->backing_name) != bf_size) {
            r = bad(err, errlen, path, "backing file name contains a NUL byte");
            goto out;
        }
    }
    /* Tables: aligned, inside the file, sized within QEMU's limits. */
    uint64_t per_l1 = q->cs * q->l2_entries;
    uint64_t need_l1 = (q->b.size + per_l1 - 1) / per_l1;
    if ((uint64_t)q->l1_size * 8 > MAX_L1_BYTES) {
        r = bad(err, errlen, path, "L1 table larger than 32 MiB");
        goto out;
    }
    if (q->l1_size < need_l1) {
        r = bad(err, errlen, path, "L1 table too small for the virtual size");
        goto out;
    }
    if (q->l1_size && ((q->l1_offset & (q->cs - 1)) || q->l1_offset >= fsize ||
                       q->l1_size * 8ULL > fsize - q->l1_offset)) {
        r = bad(err, errlen, path, "L1 table offset unaligned or outside the file");
        goto out;
    }
    if (q->rt_clusters == 0 || (uint64_t)q->rt_clusters * q->cs > MAX_RT_BYTES ||
        (q->rt_offset & (q->cs - 1)) || q->rt_offset >= fsize ||
        (uint64_t)q->rt_clusters * q->cs > fsize - q->rt_offset + q->cs - 1) {
        r = bad(err, errlen, path, "refcount table offset or size invalid");
        goto out;
    }
    if (q->nb_snapshots && (snap_off & (q->cs - 1))) {
        r = bad(err, errlen, path, "snapshot table offset unaligned");
        goto out;
    }
    r = 0;
out:
    free(hc);
    return r;
}

static int load_tables(struct qcow2 *q, const char *path, char *err, size_t errlen)
{
    uint64_t fsize = q->f.size;
    q->l1 = calloc(q->l1_size ? q->l1_size : 1, 8);
    q->rt_entries = (uint64_t)q->rt_clusters * q->cs / 8;
    q->rt = calloc(q->rt_entries, 8);
    if (!q->l1 || !q->rt) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int r = blk_file_pread(&q->f, q->l1, q->l1_size * 8ULL, q->l1_offset);
    if (!r)
        r = blk_file_pread(&q->f, q->rt, q->rt_entries * 8, q->rt_offset);
    if (r) {
        snprintf(err, errlen, "%s: cannot read qcow2 tables: %s", path, strerror(-r));
        return r;
    }
    for (uint32_t i = 0; i < q->l1_size; i++) {
        q->l1[i] = __builtin_bswap64(q->l1[i]);
        uint64_t o = q->l1[i] & QCOW2_OFFSET_MASK;
        if ((q->l1[i] & QCOW2_L1_RESERVED) || (o && o + q->cs > fsize + q->cs - 1) ||
            (o && o < q->cs)) {
            char what[96];
            snprintf(what, sizeof(what), "L1 entry %u points outside the file or has "
                     "reserved bits set", i);
            return bad(err, errlen, path, what);
        }
    }
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        q->rt[i] = __builtin_bswap64(q->rt[i]);
        if ((q->rt[i] & QCOW2_RT_RESERVED) || q->rt[i] >= fsize || (q->rt[i] && q->rt[i] < q->cs)) {
            char what[96];
            snprintf(what, sizeof(what), "refcount table entry %llu points outside the file",
                     (unsigned long long)i);
            return bad(err, errlen, path, what);
        }
    }
    return 0;
}

static int open_backing(struct qcow2 *q, const char *path, struct blk_chain *chain, char *err,
                        size_t errlen)
{
    char full[PATH_MAX + 1024];
    if (q->backing_name[0] == '/') {
        snprintf(full, sizeof(full), "%s", q->backing_name);
    } else {
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 0;
        if (slash)
            snprintf(full, sizeof(full), "%.*s/%s", dl, path, q->backing_name);
        else
            snprintf(full, sizeof(full), "%s", q->backing_name);
    }
    const char *fmt = q->backing_fmt[0] ? q->backing_fmt : NULL;
    if (fmt && strcmp(fmt, "raw") && strcmp(fmt, "qcow2")) {
        snprintf(err, errlen, "%s: backing format '%s' is not supported (raw or qcow2)", path,
                 fmt);
        return -ENOTSUP;
    }
    struct blk_open_opts o = { .format = fmt, .readonly = true, .cache = q->cache };
    char sub[512];
    int r = blk_open_chain(full, &o, chain, &q->backing, sub, sizeof(sub));
    if (r)
        snprintf(err, errlen, "%s: backing file: %s", path, sub);
    return r;
}

/* Writers: unknown autoclear bits cleared (we do not maintain what they
 * describe), refcounts checked (or rebuilt after a crash with lazy
 * refcounts), the dirty bit set while open when lazy refcounts are on. */
static int open_writable(struct qcow2 *q, const char *path, char *err, size_t errlen)
{
    int r;
    if (q->incompat & QCOW2_INCOMPAT_CORRUPT) {
        snprintf(err, errlen, "%s: the qcow2 image is marked corrupt; repair it with "
                 "'qemu-img check -r all' or open it readonly", path);
        return -EINVAL;
    }
    if (q->nb_snapshots) {
        snprintf(err, errlen, "%s: writing qcow2 images with internal snapshots is not "
                 "supported (add ,readonly or 'qemu-img convert' it)", path);
        return -ENOTSUP;
    }
    bool dirty = q->incompat & QCOW2_INCOMPAT_DIRTY;
    if ((r = qcow2_check(q, dirty, err, errlen)))
        return r;
    if (dirty) {
        log_warn("%s: qcow2 dirty bit set (not closed cleanly): refcounts repaired", path);
        if ((r = qcow2_write_incompat(q, q->incompat & ~(uint64_t)QCOW2_INCOMPAT_DIRTY)))
            goto err_io;
    }
    if (q->version == 3 && q->autoclear) {
        uint8_t z[8] = { 0 };
        if ((r = blk_file_pwrite(&q->f, z, 8, 88)) || (r = blk_file_sync(&q->f)))
            goto err_io;
        q->autoclear = 0;
    }
    if (q->version == 3 && (q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS)) {
        if ((r = qcow2_write_incompat(q, q->incompat | QCOW2_INCOMPAT_DIRTY)))
            goto err_io;
        q->dirty_set = true;
    }
    return 0;
err_io:
    snprintf(err, errlen, "%s: cannot update the qcow2 header: %s", path, strerror(-r));
    return r;
}

static void qcow2_free(struct qcow2 *q)
{
    qcow2_meta_free(q);
    free(q->l1);
    free(q->rt);
    free(q->cbuf);
    free(q->siov);
    free(q->zin);
    free(q->zout);
    if (q->zstd)
        ZSTD_freeDCtx(q->zstd);
    blk_close(q->backing);
    blk_file_close(&q->f);
    free(q);
}

bool blk_is_qcow2(const struct blk_backend *b)
{
    return b && b->ops == &qcow2_ops;
}

int blk_qcow2_from_file(const char *path, struct blk_file *f, bool readonly,
                        enum blk_cache cache, struct blk_chain *chain,
                        struct blk_backend *backing, struct blk_backend **out, char *err,
                        size_t errlen)
{
    struct qcow2 *q = calloc(1, sizeof(*q));
    if (!q) {
        blk_file_close(f);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int r;
    q->f = *f;
    q->cache = cache;
    q->b.cache = cache;
    q->b.ops = &qcow2_ops;
    q->b.readonly = readonly;
    q->b.format = "qcow2";
    snprintf(q->b.path, sizeof(q->b.path), "%s", path);
    if ((r = parse_header(q, path, err, errlen)) || (r = load_tables(q, path, err, errlen)))
        goto err_free;
    q->b.phys_block = q->f.blksize;
    q->end = (q->f.size + q->cs - 1) & ~(q->cs - 1);
    q->cbuf = aligned_alloc(4096, q->cs < 4096 ? 4096 : q->cs);
    q->zout = malloc(q->cs);
    q->zin = malloc(2 * q->cs + 512);
    if (!q->cbuf || !q->zout || !q->zin || qcow2_meta_init(q)) {
        snprintf(err, errlen, "out of memory");
        r = -ENOMEM;
        goto err_free;
    }
    if (backing) {
        q->backing = backing;
    } else if (q->backing_name[0]) {
        if ((r = open_backing(q, path, chain, err, errlen)))
            goto err_free;
    }
    if (!readonly && (r = open_writable(q, path, err, errlen)))
        goto err_unborrow;
    *out = &q->b;
    return 0;
err_unborrow:
    if (backing)
        q->backing = NULL; /* the caller's */
err_free:
    qcow2_free(q);
    return r;
}

/* Everything a writer must leave behind for a clean image. */
static int finish_writes(struct qcow2 *q)
{
    int r = blk_file_sync(&q->f);
    if (!r)
        r = qcow2_free_pending(q);
    if (!r)
        r = qcow2_release_reserved(q);
    if (!r)
        r = blk_file_sync(&q->f);
    if (!r && q->dirty_set) {
        r = qcow2_write_incompat(q, q->incompat & ~(uint64_t)QCOW2_INCOMPAT_DIRTY);
        if (!r)
            q->dirty_set = false;
    }
    return r;
}

int qcow2_make_readonly(struct blk_backend *b)
{
    struct qcow2 *q = (struct qcow2 *)b;
    if (b->readonly)
        return 0;
    int r = finish_writes(q);
    if (r)
        return r;
    char err[16];
    b->readonly = true;
    return blk_file_lock_readonly(&q->f, b->path, err, sizeof(err));
}

int qcow2_make_writable(struct blk_backend *b)
{
    struct qcow2 *q = (struct qcow2 *)b;
    char err[512];
    if (!b->readonly)
        return 0;
    int r = blk_file_lock_writer(&q->f, b->path, err, sizeof(err));
    if (r) {
        log_warn("%s", err);
        return r;
    }
    q->f.size = blk_file_cur_size(&q->f);
    if ((r = open_writable(q, b->path, err, sizeof(err)))) {
        log_warn("%s", err);
        char e2[16];
        if (blk_file_lock_readonly(&q->f, b->path, e2, sizeof(e2)))
            log_warn("%s: cannot drop the write lock", b->path);
        return r;
    }
    b->readonly = false;
    return 0;
}

/* The source of a migration on shared storage: leave a clean image (the
 * destination opens it afresh) and let go of the locks. Nothing is
 * written until qcow2_activate: the guest is stopped. */
int qcow2_inactivate(struct blk_backend *b)
{
    struct qcow2 *q = (struct qcow2 *)b;
    if (q->f.inactive)
        return 0;
    if (!b->readonly && !q->corrupt) {
        int r = finish_writes(q);
        if (r)
            return r;
    }
    blk_file_inactivate(&q->f);
    return 0;
}

/* Take the image back: a migration that failed before the destination
 * ran, so the tables we hold are still the file's. */
int qcow2_activate(struct blk_backend *b, char *err, size_t errlen)
{
    struct qcow2 *q = (struct qcow2 *)b;
    if (!q->f.inactive)
        return 0;
    int r = blk_file_activate(&q->f, b->path, err, errlen);
    if (r)
        return r;
    if (!b->readonly && q->version == 3 && (q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS)) {
        if ((r = qcow2_write_incompat(q, q->incompat | QCOW2_INCOMPAT_DIRTY))) {
            snprintf(err, errlen, "%s: cannot update the qcow2 header: %s", b->path,
                     strerror(-r));
            return r;
        }
        q->dirty_set = true;
    }
    return 0;
}

void qcow2_close(struct blk_backend *b)
{
    struct qcow2 *q = (struct qcow2 *)b;
    if (!b->readonly && !q->corrupt) {
        int r = finish_writes(q);
        if (r)
            log_warn("%s: closing the qcow2 image: %s", b->path, strerror(-r));
    }
    qcow2_free(q);
}
