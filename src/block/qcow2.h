/* qcow2 internals shared by qcow2*.c (QEMU's docs/interop/qcow2.txt).
 * All multi-byte fields on disk are big-endian; tables in memory are kept
 * in disk byte order inside the caches and converted at each access. */
#ifndef CORRAL_BLOCK_QCOW2_H
#define CORRAL_BLOCK_QCOW2_H

#include "block/raw.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_OFLAG_COPIED (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO 1ULL
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ULL /* bits 9..55 */
#define QCOW2_L1_RESERVED 0x7f000000000001ffULL
#define QCOW2_L2_RESERVED 0x3f000000000001feULL
#define QCOW2_RT_RESERVED 0x00000000000001ffULL

enum {
    QCOW2_INCOMPAT_DIRTY = 1 << 0,
    QCOW2_INCOMPAT_CORRUPT = 1 << 1,
    QCOW2_INCOMPAT_DATA_FILE = 1 << 2,
    QCOW2_INCOMPAT_COMPRESSION = 1 << 3,
    QCOW2_INCOMPAT_EXTL2 = 1 << 4,
    QCOW2_INCOMPAT_KNOWN = 0x1f,
    QCOW2_COMPAT_LAZY_REFCOUNTS = 1 << 0,
};

/* What one guest range maps to. */
enum qcow2_kind {
    Q2_UNALLOC,     /* read from the backing file (zeros without one) */
    Q2_ZERO,        /* reads as zeros */
    Q2_DATA,        /* host bytes at host */
    Q2_COMPRESSED,  /* whole cluster; host = the L2 entry */
};

struct qcow2_extent {
    enum qcow2_kind kind;
    uint64_t host;  /* DATA: host offset of the range's first byte */
    uint64_t len;   /* bytes from the guest offset, within one cluster */
};

struct qcow2_l2slot {
    uint64_t off;   /* host offset of the table; 0 = empty slot */
    uint64_t used;  /* LRU tick */
    uint8_t *tbl;
};

struct qcow2_rbslot {
    uint64_t off;
    uint64_t used;
    uint8_t *blk;
};

struct qcow2 {
    struct blk_backend b;
    struct blk_file f;
    struct blk_backend *backing;
    enum blk_cache cache;
    uint32_t version, cluster_bits, header_length;
    uint64_t cs;                /* cluster size */
    uint64_t incompat, compat, autoclear;
    uint32_t refcount_order, refcount_bits;
    uint64_t rb_entries;        /* refcounts per refblock */
    uint8_t compression;        /* 0 zlib, 1 zstd */
    bool ext_l2;
    uint32_t l2_esize;          /* bytes per L2 entry: 8 or 16 */
    uint64_t l2_entries;        /* entries per L2 table */
    uint64_t sc_size;           /* subcluster size (ext_l2), else cs */
    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1;               /* host order */
    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_entries;
    uint64_t *rt;               /* host order */
    uint32_t nb_snapshots;
    uint64_t end;               /* host file end (bytes; allocations go here) */
    char backing_name[1024];
    char backing_fmt[32];
    /* Caches (bounded; write-through). */
    struct qcow2_l2slot *l2c;
    unsigned nl2c;
    struct qcow2_rbslot rbc[4];
    uint64_t tick;
    /* Allocation: reserved run (refcounts already 1 and synced). */
    uint64_t reserved[1024];    /* cluster indices */
    unsigned res_next, res_end;
    uint64_t free_hint;         /* cluster index to scan from */
    uint64_t *pend_free;        /* host offsets freed in L2, refcount not yet dropped */
    unsigned npend, pend_cap;
    /* Scratch. */
    uint8_t *cbuf;              /* a cluster: copy-up buffer */
    struct iovec *siov;         /* sub-vectors of a request */
    int siov_cap;
    uint8_t *zin;               /* compressed input (2 clusters) */
    uint64_t zcache_entry;      /* L2 entry whose data is in zout; 0 = none */
    uint8_t *zout;
    void *zstd;                 /* ZSTD_DCtx */
    bool dirty_set;             /* we set the dirty bit */
    bool corrupt;               /* metadata found bad while running: no more writes */
};

static inline uint64_t q2_be64(const uint8_t *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline uint32_t q2_be32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline void q2_put64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    __builtin_memcpy(p, &v, 8);
}
static inline void q2_put32(uint8_t *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    __builtin_memcpy(p, &v, 4);
}

/* qcow2_meta.c: L2 tables, refcounts, allocation. */
int qcow2_meta_init(struct qcow2 *q) WARN_UNUSED;
void qcow2_meta_free(struct qcow2 *q);
/* The L2 table at host offset `off`, through the cache (NULL + *r). */
uint8_t *qcow2_l2_get(struct qcow2 *q, uint64_t off, int *r);
/* Entry i of the table for guest cluster index `gc` (0,0 when no table). */
int qcow2_l2_entry(struct qcow2 *q, uint64_t gc, uint64_t *entry, uint64_t *bitmap) WARN_UNUSED;
/* The same from the L2 cache only: -EAGAIN when the table is not in it
 * (nothing read from the image). */
int qcow2_l2_entry_cached(struct qcow2 *q, uint64_t gc, uint64_t *entry,
                          uint64_t *bitmap) WARN_UNUSED;
/* Set entry (and bitmap for ext_l2) for guest cluster gc, allocating the
 * L2 table when needed. Written through to the file. */
int qcow2_l2_set(struct qcow2 *q, uint64_t gc, uint64_t entry, uint64_t bitmap) WARN_UNUSED;
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *rc) WARN_UNUSED;
int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t rc) WARN_UNUSED;
/* One cluster whose refcount is already 1 on stable storage. */
int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *host) WARN_UNUSED;
/* The cluster at host lost its reference (L2 entry already written). */
int qcow2_free_later(struct qcow2 *q, uint64_t entry) WARN_UNUSED;
/* After a sync: drop the refcounts of the pending frees. */
int qcow2_free_pending(struct qcow2 *q) WARN_UNUSED;
/* Give back the reserved run (close, make_readonly). */
int qcow2_release_reserved(struct qcow2 *q) WARN_UNUSED;
/* Walk all metadata: refuse overlaps, out-of-file references, refcounts
 * lower than the references; with `repair`, rewrite refcounts to match. */
int qcow2_check(struct qcow2 *q, bool repair, char *err, size_t errlen) WARN_UNUSED;
/* Host range of a compressed L2 entry. */
void qcow2_compressed_range(const struct qcow2 *q, uint64_t entry, uint64_t *off, uint64_t *len);

/* qcow2_io.c */
/* The mapping at guest offset goff (at most len bytes, one cluster). */
int qcow2_map(struct qcow2 *q, uint64_t goff, uint64_t len, struct qcow2_extent *e) WARN_UNUSED;
extern const struct blk_backend_ops qcow2_ops;
int qcow2_inactivate(struct blk_backend *b);
int qcow2_activate(struct blk_backend *b, char *err, size_t errlen);
int qcow2_read_cluster_range(struct qcow2 *q, uint64_t goff, uint8_t *buf, uint64_t len) WARN_UNUSED;
/* Header writes (qcow2.c). */
int qcow2_write_incompat(struct qcow2 *q, uint64_t bits) WARN_UNUSED;
void qcow2_mark_corrupt(struct qcow2 *q, const char *what);

#endif
