/* Host image files: open, lock, transfer. Locks follow QEMU's scheme so
 * Corral and QEMU exclude each other too: an OFD read lock on byte
 * 100+p for each permission p held, and on byte 200+p for each
 * permission p not shared with others (p: 0 consistent read, 1 write,
 * 3 resize). A conflict is another description's lock on a byte we must
 * see free, found with F_OFD_GETLK (our own locks never conflict).
 * O_DIRECT transfers whose buffers, offset or length are not aligned go
 * through an aligned bounce buffer (read-modify-write at the edges). */
#include "block/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { LOCK_PERM_BASE = 100, LOCK_SHARED_BASE = 200 };
enum { PERM_READ = 0, PERM_WRITE = 1, PERM_RESIZE = 3 };
#define DIRECT_ALIGN 4096u

static int lock_byte(int fd, int byte, short type)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* true when another open file description holds a lock on the byte. */
static bool byte_taken(int fd, int byte)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return false;
    return fl.l_type != F_UNLCK;
}

static bool lock_unsupported(int r)
{
    return r == -EOPNOTSUPP || r == -ENOLCK || r == -EINVAL;
}

static int apply_locks(struct blk_file *f, const char *path, bool writer, char *err,
                       size_t errlen)
{
    int held[3], nheld = 0;
    held[nheld++] = PERM_READ;
    if (writer) {
        held[nheld++] = PERM_WRITE;
        held[nheld++] = PERM_RESIZE;
    }
    static const int unshared[] = { PERM_WRITE, PERM_RESIZE };
    int r = 0;
    for (int i = 0; i < nheld && !r; i++)
        r = lock_byte(f->fd, LOCK_PERM_BASE + held[i], F_RDLCK);
    for (unsigned i = 0; i < 2 && !r; i++)
        r = lock_byte(f->fd, LOCK_SHARED_BASE + unshared[i], F_RDLCK);
    if (r && lock_unsupported(r))
        return 0; /* the file system has no OFD locks: run unlocked, as QEMU */
    if (r) {
        snprintf(err, errlen, "%s: cannot lock the image: %s", path, strerror(-r));
        return r;
    }
    /* Someone holding what we refuse to share, or refusing what we hold. */
    for (int i = 0; i < nheld; i++)
        if (byte_taken(f->fd, LOCK_SHARED_BASE + held[i])) {
            snprintf(err, errlen, "%s: in use by another process that does not share %s "
                     "(its lock on byte %d): failed to get \"%s\" lock", path,
                     held[i] == PERM_READ ? "reading" : held[i] == PERM_WRITE ? "writing"
                                                                             : "resizing",
                     LOCK_SHARED_BASE + held[i], held[i] == PERM_READ ? "consistent read"
                                                                      : "write");
            return -EBUSY;
        }
    for (unsigned i = 0; i < 2; i++)
        if (byte_taken(f->fd, LOCK_PERM_BASE + unshared[i])) {
            snprintf(err, errlen, "%s: in use by another process that %s it (its lock on "
                     "byte %d): failed to get shared \"write\" lock%s", path,
                     unshared[i] == PERM_WRITE ? "writes" : "resizes",
                     LOCK_PERM_BASE + unshared[i],
                     writer ? "" : " (is another VM using it read-write?)");
            return -EBUSY;
        }
    return 0;
}

static int file_open(struct blk_file *f, const char *path, bool readonly, enum blk_cache cache,
                     bool inactive, char *err, size_t errlen)
{
    struct stat st;
    int r;
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    if (stat(path, &st) < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return r;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a disk image", path);
        return -EISDIR;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file or block device", path);
        return -EINVAL;
    }
    /* O_NONBLOCK: the file may have been swapped for a FIFO since stat. */
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    if (cache == BLK_CACHE_NONE)
        flags |= O_DIRECT;
    int fd = open(path, flags);
    if (fd < 0) {
        r = -errno;
        if (errno == EINVAL && cache == BLK_CACHE_NONE)
            snprintf(err, errlen, "%s: cache=none: the file system does not support O_DIRECT",
                     path);
        else
            snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                     (errno == EACCES || errno == EROFS) && !readonly ? " (add ,readonly?)"
                                                                      : "");
        return r;
    }
    if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        snprintf(err, errlen, "%s: not a regular file or block device", path);
        close(fd);
        return -EINVAL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    f->fd = fd;
    f->direct = cache == BLK_CACHE_NONE;
    f->align = f->direct ? DIRECT_ALIGN : 1;
    uint32_t pb = st.st_blksize > 0 ? (uint32_t)st.st_blksize : 512;
    if (pb < 512 || pb > 65536 || (pb & (pb - 1)))
        pb = 4096;
    f->blksize = pb;
    f->want_write = !readonly;
    if (inactive) {
        /* Only "I read": the source still writes and refuses sharing. */
        if ((r = lock_byte(fd, LOCK_PERM_BASE + PERM_READ, F_RDLCK)) && !lock_unsupported(r)) {
            snprintf(err, errlen, "%s: cannot lock the image: %s", path, strerror(-r));
            goto err_close;
        }
        f->inactive = true;
    } else if ((r = apply_locks(f, path, !readonly, err, errlen))) {
        goto err_close;
    }
    f->writable = !readonly && !inactive;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto err_close;
    }
    f->size = (uint64_t)end;
    return 0;
err_close:
    close(fd);
    f->fd = -1;
    return r;
}

int blk_file_open(struct blk_file *f, const char *path, bool readonly, enum blk_cache cache,
                  char *err, size_t errlen)
{
    return file_open(f, path, readonly, cache, false, err, errlen);
}

int blk_file_open_inactive(struct blk_file *f, const char *path, bool readonly,
                           enum blk_cache cache, char *err, size_t errlen)
{
    return file_open(f, path, readonly, cache, true, err, errlen);
}

int blk_file_activate(struct blk_file *f, const char *path, char *err, size_t errlen)
{
    if (!f->inactive)
        return 0;
    int r = apply_locks(f, path, f->want_write, err, errlen);
    if (r) {
        f->inactive = false;
        blk_file_inactivate(f); /* back to holding only the read lock */
        return r;
    }
    f->inactive = false;
    f->writable = f->want_write;
    return 0;
}

void blk_file_inactivate(struct blk_file *f)
{
    if (f->inactive || f->fd < 0)
        return;
    for (int b = LOCK_PERM_BASE + 1; b < LOCK_PERM_BASE + 4; b++)
        (void)lock_byte(f->fd, b, F_UNLCK);
    for (int b = LOCK_SHARED_BASE; b < LOCK_SHARED_BASE + 4; b++)
        (void)lock_byte(f->fd, b, F_UNLCK);
    f->inactive = true;
    f->writable = false;
}

void blk_file_close(struct blk_file *f)
{
    if (f->fd >= 0)
        close(f->fd); /* drops the OFD locks */
    f->fd = -1;
}

int blk_file_lock_readonly(struct blk_file *f, const char *path, char *err, size_t errlen)
{
    if (!f->writable)
        return 0;
    (void)lock_byte(f->fd, LOCK_PERM_BASE + PERM_WRITE, F_UNLCK);
    (void)lock_byte(f->fd, LOCK_PERM_BASE + PERM_RESIZE, F_UNLCK);
    f->writable = false;
    (void)path, (void)err, (void)errlen;
    return 0;
}

/* A read-only descriptor cannot write: open the file again read-write and
 * move the locks over (our old description would conflict with the new). */
static int reopen_rw(struct blk_file *f, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (f->direct ? O_DIRECT : 0));
    if (fd < 0) {
        int r = -errno;
        snprintf(err, errlen, "%s: cannot reopen read-write: %s", path, strerror(errno));
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        snprintf(err, errlen, "%s: not a regular file or block device", path);
        close(fd);
        return -EINVAL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    for (int b = LOCK_PERM_BASE; b < LOCK_SHARED_BASE + 4; b++)
        (void)lock_byte(f->fd, b, F_UNLCK);
    struct blk_file nf = *f;
    nf.fd = fd;
    int r = apply_locks(&nf, path, true, err, errlen);
    if (r) {
        close(fd);
        char e2[8];
        (void)apply_locks(f, path, false, e2, sizeof(e2));
        return r;
    }
    close(f->fd);
    f->fd = fd;
    f->writable = true;
    return 0;
}

int blk_file_lock_writer(struct blk_file *f, const char *path, char *err, size_t errlen)
{
    int fl = fcntl(f->fd, F_GETFL);
    if (fl >= 0 && (fl & O_ACCMODE) == O_RDONLY)
        return reopen_rw(f, path, err, errlen);
    int r = apply_locks(f, path, true, err, errlen);
    if (r) {
        (void)lock_byte(f->fd, LOCK_PERM_BASE + PERM_WRITE, F_UNLCK);
        (void)lock_byte(f->fd, LOCK_PERM_BASE + PERM_RESIZE, F_UNLCK);
        return r;
    }
    f->writable = true;
    return 0;
}

void blk_iov_advance(struct iovec **iov, int *n, size_t done)
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

static int plain_rw(int fd, bool write, struct iovec *iov, int n, uint64_t off)
{
    while (n > 0 && iov[0].iov_len == 0) {
        iov++;
        n--;
    }
    while (n > 0) {
        int cnt = n > IOV_MAX ? IOV_MAX : n;
        ssize_t got = write ? pwritev(fd, iov, cnt, (off_t)off) : preadv(fd, iov, cnt, (off_t)off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == 0) {
            if (write)
                return -EIO;
            for (int i = 0; i < n; i++) /* past the end of the file: zeros */
                memset(iov[i].iov_base, 0, iov[i].iov_len);
            return 0;
        }
        off += (uint64_t)got;
        blk_iov_advance(&iov, &n, (size_t)got);
    }
    return 0;
}

static bool iov_aligned(const struct blk_file *f, const struct iovec *iov, int n, uint64_t off)
{
    uint64_t a = f->align - 1;
    if (off & a)
        return false;
    for (int i = 0; i < n; i++)
        if (((uintptr_t)iov[i].iov_base & a) || (iov[i].iov_len & a))
            return false;
    return true;
}

/* O_DIRECT through an aligned bounce buffer, in 1 MiB pieces. */
static int bounce_rw(struct blk_file *f, bool write, struct iovec *iov, int n, uint64_t off)
{
    const uint64_t a = f->align, piece = 1u << 20;
    uint8_t *buf = aligned_alloc(a, piece + 2 * a);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    while (n > 0) {
        size_t want = 0;
        for (int i = 0; i < n && want < piece; i++)
            want += iov[i].iov_len;
        if (want > piece)
            want = piece;
        if (want == 0)
            break;
        uint64_t aoff = off & ~(a - 1), aend = (off + want + a - 1) & ~(a - 1);
        struct iovec bv = { .iov_base = buf, .iov_len = (size_t)(aend - aoff) };
        size_t head = (size_t)(off - aoff);
        if (!write || head || aend != off + want) {
            struct iovec rv = bv;
            if ((r = plain_rw(f->fd, false, &rv, 1, aoff)))
                break;
        }
        size_t done = 0;
        for (int i = 0; done < want; i++) {
            size_t l = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
            if (write)
                memcpy(buf + head + done, iov[i].iov_base, l);
            else
                memcpy(iov[i].iov_base, buf + head + done, l);
            done += l;
        }
        if (write) {
            /* Never grow the file with the bounce's padding past its end. */
            uint64_t end = blk_file_cur_size(f);
            if ((r = plain_rw(f->fd, true, &bv, 1, aoff)))
                break;
            if (aend > off + want && aend > end && off + want > end &&
                ftruncate(f->fd, (off_t)(off + want)) < 0) {
                r = -errno;
                break;
            }
        }
        blk_iov_advance(&iov, &n, want);
        off += want;
    }
    free(buf);
    return r;
}

int blk_file_preadv(struct blk_file *f, struct iovec *iov, int n, uint64_t off)
{
    if (f->direct && !iov_aligned(f, iov, n, off))
        return bounce_rw(f, false, iov, n, off);
    return plain_rw(f->fd, false, iov, n, off);
}

int blk_file_pwritev(struct blk_file *f, struct iovec *iov, int n, uint64_t off)
{
    if (f->direct && !iov_aligned(f, iov, n, off))
        return bounce_rw(f, true, iov, n, off);
    return plain_rw(f->fd, true, iov, n, off);
}

int blk_file_pread(struct blk_file *f, void *buf, size_t len, uint64_t off)
{
    struct iovec v = { .iov_base = buf, .iov_len = len };
    return blk_file_preadv(f, &v, 1, off);
}

int blk_file_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
    return blk_file_pwritev(f, &v, 1, off);
}

int blk_file_sync(struct blk_file *f)
{
    return fdatasync(f->fd) < 0 ? -errno : 0;
}

int blk_file_truncate(struct blk_file *f, uint64_t size)
{
    return ftruncate(f->fd, (off_t)size) < 0 ? -errno : 0;
}

uint64_t blk_file_cur_size(struct blk_file *f)
{
    off_t end = lseek(f->fd, 0, SEEK_END);
    return end < 0 ? 0 : (uint64_t)end;
}
