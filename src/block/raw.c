/* Raw image backend: the guest's disk is the file's bytes. Flush is
 * fdatasync; discard and write-zeroes punch holes so a sparse image stays
 * sparse. The image is flock()ed (exclusive for writers, shared for
 * readers) so two VMs never write one disk. */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw {
    struct blk_backend b;
    int fd;
};

static struct raw *to_raw(struct blk_backend *b)
{
    return (struct raw *)b;
}

/* Drop `done` bytes from the front of the vector (after a short
 * transfer). */
static void iov_advance(struct iovec **iov, int *n, size_t done)
{
    while (*n > 0 && done >= (*iov)[0].iov_len) {
        done -= (*iov)[0].iov_len;
        (*iov)++;
        (*n)--;
    }
    if (*n > 0 && done) {
        (*iov)[0].iov_base = (uint8_t *)(*iov)[0].iov_base + done;
        (*iov)[0].iov_len -= done;
    }
}

static int raw_preadv(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    struct raw *r = to_raw(b);
    while (n > 0) {
        ssize_t got = preadv(r->fd, iov, n > IOV_MAX ? IOV_MAX : n, (off_t)off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == 0) {
            /* Past the end of the file (it shrank?): zeros. */
            for (int i = 0; i < n; i++)
                memset(iov[i].iov_base, 0, iov[i].iov_len);
            return 0;
        }
        off += (uint64_t)got;
        iov_advance(&iov, &n, (size_t)got);
    }
    return 0;
}

static int raw_pwritev(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    struct raw *r = to_raw(b);
    while (n > 0) {
        ssize_t put = pwritev(r->fd, iov, n > IOV_MAX ? IOV_MAX : n, (off_t)off);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (put == 0)
            return -EIO;
        off += (uint64_t)put;
        iov_advance(&iov, &n, (size_t)put);
    }
    return 0;
}

static int raw_flush(struct blk_backend *b)
{
    return fdatasync(to_raw(b)->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
    if (fallocate(to_raw(b)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) < 0)
        return errno == EOPNOTSUPP ? 0 : -errno; /* a hint: fine to ignore */
    return 0;
}

static int raw_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len)
{
    int fd = to_raw(b)->fd;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    static const uint8_t zeros[65536];
    while (len) {
        size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
        ssize_t p = pwrite(fd, zeros, n, (off_t)off);
        if (p <= 0)
            return p < 0 ? -errno : -EIO;
        off += (uint64_t)p;
        len -= (uint64_t)p;
    }
    return 0;
}

static void raw_close(struct blk_backend *b)
{
    struct raw *r = to_raw(b);
    close(r->fd);
    free(r);
}

static const struct blk_backend_ops raw_ops = {
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .close = raw_close,
};

int blk_raw_open(const char *path, bool readonly, struct blk_backend **out, char *err,
                 size_t errlen)
{
    struct stat st;
    int r;
    if (stat(path, &st) < 0) {
        r = -errno;
        snprintf(err, errlen, "--disk %s: %s", path, strerror(errno));
        return r;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--disk %s: is a directory, not a disk image", path);
        return -EISDIR;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        snprintf(err, errlen, "--disk %s: not a regular file or block device", path);
        return -EINVAL;
    }
    int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        snprintf(err, errlen, "--disk %s: %s%s", path, strerror(errno),
                 (errno == EACCES || errno == EROFS) && !readonly ? " (add ,readonly?)" : "");
        return r;
    }
    if (flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        r = -errno;
        snprintf(err, errlen, "--disk %s: in use by another process (%s)", path,
                 errno == EWOULDBLOCK ? "locked" : strerror(errno));
        close(fd);
        return r == -EWOULDBLOCK ? -EBUSY : r;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        r = -errno;
        snprintf(err, errlen, "--disk %s: %s", path, strerror(errno));
        close(fd);
        return r;
    }
    struct raw *rw = calloc(1, sizeof(*rw));
    if (!rw) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rw->fd = fd;
    rw->b.ops = &raw_ops;
    rw->b.size = (uint64_t)end;
    rw->b.readonly = readonly;
    uint32_t pb = st.st_blksize > 0 ? (uint32_t)st.st_blksize : 512;
    if (pb < 512 || pb > 65536 || (pb & (pb - 1)))
        pb = 4096;
    rw->b.phys_block = pb;
    snprintf(rw->b.path, sizeof(rw->b.path), "%s", path);
    *out = &rw->b;
    return 0;
}

int blk_open(const char *path, const char *format, bool readonly, struct blk_backend **out,
             char *err, size_t errlen)
{
    if (format && strcmp(format, "raw") != 0) {
        snprintf(err, errlen, "--disk %s: format=%s is not supported (raw only)", path, format);
        return -ENOTSUP;
    }
    return blk_raw_open(path, readonly, out, err, errlen);
}

void blk_close(struct blk_backend *b)
{
    if (b)
        b->ops->close(b);
}
