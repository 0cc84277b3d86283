/* Snapshot file plumbing (snapshot_files.h). */
#include "vm/snapshot_files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#define MiB (1024ULL * 1024)
/* One 4 KiB sample every FP_STRIDE: 64 reads for 512 MiB, cheap even when
 * the file is not in the page cache (it was written with O_DIRECT). */
#define FP_STRIDE (8 * MiB)
#define FP_SAMPLE 4096
#define SEAL_XATTR "user.corral.seal"
#define SEAL_LEN 32

int snap_tmp_create(const char *path, char *tmp)
{
    if (snprintf(tmp, SNAP_PATH_MAX, "%s.XXXXXX", path) >= SNAP_PATH_MAX)
        return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int fsync_dir_of(const char *path)
{
    char copy[SNAP_PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int r = fsync(dfd) ? -errno : 0;
    close(dfd);
    return r;
}

int snap_tmp_commit_pair(int fd1, const char *tmp1, const char *path1, int fd2,
                        const char *tmp2, const char *path2)
{
    int r = 0;
    /* Both durable before either name changes; then the first, then the
     * second (a crash between them leaves an old state that refuses the
     * new memory file by its fingerprint); one directory sync when they
     * share a directory. */
    if (fsync(fd1) || fsync(fd2))
        r = -errno;
    if (close(fd1) && !r)
        r = -errno;
    if (close(fd2) && !r)
        r = -errno;
    if (!r && rename(tmp1, path1))
        r = -errno;
    if (r) {
        unlink(tmp1);
        unlink(tmp2);
        return r;
    }
    if (rename(tmp2, path2)) {
        r = -errno;
        unlink(tmp2);
        return r;
    }
    char d1[SNAP_PATH_MAX], d2[SNAP_PATH_MAX];
    snprintf(d1, sizeof(d1), "%s", path1);
    snprintf(d2, sizeof(d2), "%s", path2);
    r = fsync_dir_of(path1);
    if (!r && strcmp(dirname(d1), dirname(d2)))
        r = fsync_dir_of(path2);
    return r;
}

int snap_tmp_commit(int fd, const char *tmp, const char *path)
{
    int r = 0;
    if (fsync(fd))
        r = -errno;
    if (close(fd) && !r)
        r = -errno;
    if (!r && rename(tmp, path))
        r = -errno;
    if (r) {
        unlink(tmp);
        return r;
    }
    return fsync_dir_of(path);
}

int snap_abs_path(const char *path, char *out)
{
    char copy[SNAP_PATH_MAX], copy2[SNAP_PATH_MAX], dir[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(copy2, sizeof(copy2), "%s", path);
    if (!realpath(dirname(copy), dir))
        return -errno;
    if (snprintf(out, SNAP_PATH_MAX, "%s/%s", dir, basename(copy2)) >= SNAP_PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

int snap_write_at(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static bool wanted(const uint8_t *ram, const uint64_t *pages, uint64_t p)
{
    if (pages)
        return (pages[p >> 6] >> (p & 63)) & 1;
    return !gmem_page_is_zero(ram + (p << GMEM_PAGE_SHIFT));
}

/* Pages of anonymous memory that were ever touched (present or swapped),
 * from /proc/self/pagemap: the others read as zero, and looking at them
 * would fault each one in. */
static uint64_t *touched_pages(const uint8_t *ram, uint64_t size)
{
    uint64_t npages = size >> GMEM_PAGE_SHIFT;
    uint64_t *bits = calloc((npages + 63) / 64, sizeof(uint64_t));
    uint64_t *ent = malloc(4096 * sizeof(uint64_t));
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (!bits || !ent || fd < 0)
        goto fail;
    uint64_t first = (uintptr_t)ram >> GMEM_PAGE_SHIFT;
    for (uint64_t p = 0; p < npages; p += 4096) {
        uint64_t n = npages - p < 4096 ? npages - p : 4096;
        ssize_t got = pread(fd, ent, n * 8, (off_t)((first + p) * 8));
        if (got != (ssize_t)(n * 8))
            goto fail;
        for (uint64_t i = 0; i < n; i++)
            if (ent[i] & (3ULL << 62)) /* present | swapped */
                bits[(p + i) >> 6] |= 1ULL << ((p + i) & 63);
    }
    close(fd);
    free(ent);
    return bits;
fail:
    if (fd >= 0)
        close(fd);
    free(ent);
    free(bits);
    return NULL;
}

/* Write the runs of wanted pages (16 MiB per write at most). */
static int write_runs(const uint8_t *ram, uint64_t size, int fd, const uint64_t *pages,
                      const uint64_t *touched)
{
    if (ftruncate(fd, (off_t)size))
        return -errno;
    uint64_t npages = size >> GMEM_PAGE_SHIFT, p = 0;
    while (p < npages) {
        if (touched && !((touched[p >> 6] >> (p & 63)) & 1)) {
            p++;
            continue;
        }
        if (!wanted(ram, pages, p)) {
            p++;
            continue;
        }
        uint64_t start = p;
        while (p < npages && p - start < 4096 &&
               (!touched || ((touched[p >> 6] >> (p & 63)) & 1)) && wanted(ram, pages, p))
            p++;
        int r = snap_write_at(fd, ram + (start << GMEM_PAGE_SHIFT), (p - start) << GMEM_PAGE_SHIFT,
                              start << GMEM_PAGE_SHIFT);
        if (r)
            return r;
    }
    return 0;
}

/* Page-aligned runs straight from guest RAM to the disk: no copy into the
 * page cache now and no write-back at fsync (where the file system
 * allows it; else buffered writes). */
static void try_direct(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_DIRECT);
}

int snap_write_full(const struct gmem *m, int fd)
{
    try_direct(fd);
    uint64_t *touched = m->file_backed ? NULL : touched_pages(m->host, m->size);
    int r = write_runs(m->host, m->size, fd, NULL, touched);
    free(touched);
    return r;
}

int snap_write_diff(const uint8_t *ram, uint64_t size, const uint64_t *pages, int fd)
{
    /* Buffered: a diff is many scattered single pages, which direct I/O
     * would write one synchronous request at a time. */
    return write_runs(ram, size, fd, pages, NULL);
}

int snap_fingerprint_ram(const uint8_t *ram, uint64_t size, const uint64_t *pages,
                         uint64_t *fp)
{
    static const uint8_t zeros[FP_SAMPLE];
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return -ENOMEM;
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &size, sizeof(size));
    for (uint64_t off = 0; off < size; off += FP_STRIDE) {
        uint64_t p = off >> GMEM_PAGE_SHIFT;
        bool in_file = !pages || ((pages[p >> 6] >> (p & 63)) & 1);
        XXH3_64bits_update(h, in_file ? ram + off : zeros, FP_SAMPLE);
    }
    *fp = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

int snap_fingerprint(int fd, uint64_t size, uint64_t *fp)
{
    uint8_t buf[FP_SAMPLE];
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return -ENOMEM;
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &size, sizeof(size));
    int r = 0;
    for (uint64_t off = 0; off < size; off += FP_STRIDE) {
        ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);
        if (n < 0) {
            r = -errno;
            break;
        }
        memset(buf + n, 0, sizeof(buf) - (size_t)n);
        XXH3_64bits_update(h, buf, sizeof(buf));
    }
    *fp = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return r;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The seal: "CSL1", fingerprint, size, mtime in ns, as little-endian. */
static void seal_bytes(const struct stat *st, uint64_t fp, uint8_t out[SEAL_LEN])
{
    memset(out, 0, SEAL_LEN);
    memcpy(out, "CSL1", 4);
    put_le64(out + 8, fp);
    put_le64(out + 16, (uint64_t)st->st_size);
    put_le64(out + 24, (uint64_t)st->st_mtim.tv_sec * 1000000000ULL +
                           (uint64_t)st->st_mtim.tv_nsec);
}

void snap_seal(int fd, uint64_t fp)
{
    struct stat st;
    uint8_t seal[SEAL_LEN];
    if (fstat(fd, &st))
        return;
    seal_bytes(&st, fp, seal);
    (void)fsetxattr(fd, SEAL_XATTR, seal, sizeof(seal), 0);
}

static bool seal_intact(int fd, const struct stat *st, uint64_t fp)
{
    uint8_t want[SEAL_LEN], got[SEAL_LEN];
    seal_bytes(st, fp, want);
    return fgetxattr(fd, SEAL_XATTR, got, sizeof(got)) == SEAL_LEN &&
           !memcmp(want, got, SEAL_LEN);
}

int snap_open_layer(const struct vm_snap_layer *l, uint64_t size, char *err, size_t errlen)
{
    int fd = open(l->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "memory file %s: %s", l->path, strerror(e));
        return -EINVAL;
    }
    struct stat st;
    uint64_t fp = 0;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "memory file %s: not a regular file", l->path);
        goto bad;
    }
    if ((uint64_t)st.st_size != size) {
        snprintf(err, errlen, "memory file %s: %llu bytes, but the snapshot's RAM is %llu",
                 l->path, (unsigned long long)st.st_size, (unsigned long long)size);
        goto bad;
    }
    if (seal_intact(fd, &st, l->fingerprint))
        return fd;
    if (snap_fingerprint(fd, size, &fp) || fp != l->fingerprint) {
        snprintf(err, errlen, "memory file %s does not belong to this snapshot "
                 "(content fingerprint differs)", l->path);
        goto bad;
    }
    return fd;
bad:
    close(fd);
    return -EINVAL;
}

int snap_apply_diff(struct gmem *ram, const struct vm_snap_layer *l, int fd)
{
    uint64_t npages = gmem_npages(ram);
    for (uint64_t p = 0; p < npages;) {
        if (!((l->pages[p >> 6] >> (p & 63)) & 1)) {
            p++;
            continue;
        }
        uint64_t start = p;
        while (p < npages && ((l->pages[p >> 6] >> (p & 63)) & 1) && p - start < 4096)
            p++;
        uint64_t off = start << GMEM_PAGE_SHIFT, len = (p - start) << GMEM_PAGE_SHIFT;
        uint8_t *dst = ram->host + off;
        uint64_t done = 0;
        while (done < len) {
            ssize_t n = pread(fd, dst + done, len - done, (off_t)(off + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            done += (uint64_t)n;
        }
        gmem_host_wrote(ram, ram->base + off, len);
    }
    return 0;
}

int snap_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, char *err,
                   size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -EINVAL;
    }
    struct stat st;
    int r = -EINVAL;
    uint8_t *b = NULL;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: %llu bytes is too large for a state file", path,
                 (unsigned long long)st.st_size);
        goto out;
    }
    b = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!b) {
        snprintf(err, errlen, "%s: out of memory", path);
        r = -ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: read failed", path);
            goto out;
        }
        got += (size_t)n;
    }
    *buf = b;
    *len = got;
    b = NULL;
    r = 0;
out:
    free(b);
    close(fd);
    return r;
}
