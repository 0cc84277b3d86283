/* A qcow2 image that a live migration's destination opens on shared
 * storage (blk_open_opts.inactive) while the source still runs on it: only
 * the consistent-read lock is held and nothing of its metadata is kept but
 * the virtual size, because the source's writes change the tables under
 * us. Activation, once the source has flushed and let go, opens the image
 * as qcow2 for real (header, tables and checks read fresh) and
 * blk_activate puts that backend in the device's place. Until then no I/O
 * reaches it (the guest has not run here yet). */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/file.h"
#include "block/raw.h"

struct handover {
    struct blk_backend b;
    struct blk_file f;            /* inactive until activation */
    struct blk_backend *inner;    /* the qcow2 backend, once activated */
};

static int not_yet(void)
{
    return -EIO; /* nothing may use the disk before the hand-over */
}

static int h_preadv(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    return not_yet();
}

static int h_pwritev(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    return not_yet();
}

static int h_flush(struct blk_backend *b)
{
    return 0; /* nothing written here */
}

static int h_range(struct blk_backend *b, uint64_t off, uint64_t len)
{
    return not_yet();
}

static int h_mode(struct blk_backend *b)
{
    return not_yet();
}

static int h_activate(struct blk_backend *b, char *err, size_t errlen)
{
    struct handover *h = (struct handover *)b;
    if (h->inner)
        return 0;
    int r = blk_file_activate(&h->f, b->path, err, errlen);
    if (r)
        return r; /* -EBUSY while the source holds it: still inactive */
    struct stat st;
    struct blk_chain chain = { .depth = 0 };
    if (fstat(h->f.fd, &st) == 0) {
        chain.dev[0] = st.st_dev;
        chain.ino[0] = st.st_ino;
        chain.depth = 1;
    }
    h->f.size = blk_file_cur_size(&h->f);
    struct blk_backend *q;
    r = blk_qcow2_from_file(b->path, &h->f, b->readonly, b->cache, &chain, NULL, &q, err,
                            errlen);
    h->f.fd = -1; /* blk_qcow2_from_file took the file, or closed it */
    if (r)
        return r;
    if (q->size != b->size) {
        snprintf(err, errlen, "%s: the qcow2 image's size changed during the migration "
                 "(%llu, was %llu)", b->path, (unsigned long long)q->size,
                 (unsigned long long)b->size);
        blk_close(q);
        return -EINVAL;
    }
    h->inner = q;
    return 0;
}

static void h_close(struct blk_backend *b)
{
    struct handover *h = (struct handover *)b;
    if (h->inner)
        blk_close(h->inner);
    if (h->f.fd >= 0)
        blk_file_close(&h->f);
    free(h);
}

const struct blk_backend_ops qcow2_handover_ops = {
    .preadv = h_preadv,
    .pwritev = h_pwritev,
    .flush = h_flush,
    .discard = h_range,
    .write_zeroes = h_range,
    .make_readonly = h_mode,
    .make_writable = h_mode,
    .activate = h_activate,
    .close = h_close,
};

int blk_qcow2_handover_open(const char *path, struct blk_file *f, bool readonly,
                            enum blk_cache cache, struct blk_backend **out, char *err,
                            size_t errlen)
{
    /* The virtual size now (the device's capacity); the rest at activation. */
    uint8_t head[32];
    int r = blk_file_pread(f, head, sizeof(head), 0);
    uint32_t magic, version;
    uint64_t size;
    memcpy(&magic, head, 4);
    memcpy(&version, head + 4, 4);
    memcpy(&size, head + 24, 8);
    if (r || be32toh(magic) != 0x514649fb || (be32toh(version) != 2 && be32toh(version) != 3)) {
        snprintf(err, errlen, "%s: not a qcow2 v2/v3 image%s%s", path, r ? ": " : "",
                 r ? strerror(-r) : "");
        blk_file_close(f);
        return r ? r : -EINVAL;
    }
    struct handover *h = calloc(1, sizeof(*h));
    if (!h) {
        blk_file_close(f);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    h->f = *f;
    h->b.ops = &qcow2_handover_ops;
    h->b.size = be64toh(size);
    h->b.phys_block = f->blksize;
    h->b.readonly = readonly;
    h->b.concurrent = false; /* as qcow2: one request at a time */
    h->b.cache = cache;
    h->b.format = "qcow2";
    snprintf(h->b.path, sizeof(h->b.path), "%s", path);
    *out = &h->b;
    return 0;
}

struct blk_backend *blk_qcow2_handover_finish(struct blk_backend *b)
{
    struct handover *h = (struct handover *)b;
    struct blk_backend *q = h->inner;
    h->inner = NULL;
    h_close(b);
    return q;
}
