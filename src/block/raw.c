/* Raw image backend: the guest's disk is the file's bytes. Flush is
 * fdatasync; discard and write-zeroes punch holes so a sparse image stays
 * sparse. Locks and O_DIRECT live in file.c. */
#include "block/raw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

struct raw {
    struct blk_backend b;
    struct blk_file f;
    enum blk_cache cache;
};

static struct raw *to_raw(struct blk_backend *b)
{
    return (struct raw *)b;
}

static int raw_preadv(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    return blk_file_preadv(&to_raw(b)->f, iov, n, off);
}

static int raw_pwritev(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    return blk_file_pwritev(&to_raw(b)->f, iov, n, off);
}

static int raw_try_rw(struct blk_backend *b, bool write, const struct iovec *iov, int n,
                      uint64_t off)
{
    struct raw *r = to_raw(b);
    if (r->f.direct)
        return -EAGAIN; /* O_DIRECT with RWF_NOWAIT still waits for the device */
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    ssize_t got = write ? pwritev2(r->f.fd, iov, n, (off_t)off, RWF_NOWAIT)
                        : preadv2(r->f.fd, iov, n, (off_t)off, RWF_NOWAIT);
    return got >= 0 && (size_t)got == want ? 0 : -EAGAIN;
}

static int raw_flush(struct blk_backend *b)
{
    struct raw *r = to_raw(b);
    return r->cache == BLK_CACHE_UNSAFE ? 0 : blk_file_sync(&r->f);
}

static int raw_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
    if (fallocate(to_raw(b)->f.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) < 0)
        return errno == EOPNOTSUPP ? 0 : -errno; /* a hint: fine to ignore */
    return 0;
}

static int raw_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len)
{
    struct blk_file *f = &to_raw(b)->f;
    if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    static const uint8_t zeros[65536] __attribute__((aligned(4096)));
    while (len) {
        size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
        int r = blk_file_pwrite(f, zeros, n, off);
        if (r)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

static int raw_make_readonly(struct blk_backend *b)
{
    struct raw *r = to_raw(b);
    char err[16];
    int e = b->readonly ? 0 : raw_flush(b);
    if (e)
        return e;
    b->readonly = true;
    return blk_file_lock_readonly(&r->f, b->path, err, sizeof(err));
}

static int raw_inactivate(struct blk_backend *b)
{
    struct raw *r = to_raw(b);
    int e = b->readonly ? 0 : raw_flush(b);
    if (e)
        return e;
    blk_file_inactivate(&r->f);
    return 0;
}

static int raw_activate(struct blk_backend *b, char *err, size_t errlen)
{
    return blk_file_activate(&to_raw(b)->f, b->path, err, errlen);
}

static int raw_make_writable(struct blk_backend *b)
{
    struct raw *r = to_raw(b);
    char err[256];
    if (!b->readonly)
        return 0;
    int e = blk_file_lock_writer(&r->f, b->path, err, sizeof(err));
    if (e)
        return e;
    b->readonly = false;
    return 0;
}

static void raw_close(struct blk_backend *b)
{
    struct raw *r = to_raw(b);
    blk_file_close(&r->f);
    free(r);
}

static const struct blk_backend_ops raw_ops = {
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .try_rw = raw_try_rw,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .make_readonly = raw_make_readonly,
    .make_writable = raw_make_writable,
    .inactivate = raw_inactivate,
    .activate = raw_activate,
    .close = raw_close,
};

int blk_raw_from_file(const char *path, struct blk_file *f, bool readonly, enum blk_cache cache,
                      struct blk_backend **out, char *err, size_t errlen)
{
    struct raw *rw = calloc(1, sizeof(*rw));
    if (!rw) {
        blk_file_close(f);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rw->f = *f;
    rw->cache = cache;
    rw->b.cache = cache;
    rw->b.ops = &raw_ops;
    rw->b.size = f->size;
    rw->b.readonly = readonly;
    rw->b.format = "raw";
    rw->b.concurrent = true;
    rw->b.phys_block = f->blksize;
    snprintf(rw->b.path, sizeof(rw->b.path), "%s", path);
    *out = &rw->b;
    return 0;
}

int blk_raw_open(const char *path, bool readonly, struct blk_backend **out, char *err,
                 size_t errlen)
{
    struct blk_open_opts o = { .format = "raw", .readonly = readonly };
    return blk_open_ex(path, &o, out, err, errlen);
}
