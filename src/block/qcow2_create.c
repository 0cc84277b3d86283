/* Writing new qcow2 overlays (atomically), switching a running disk onto
 * one, and committing an overlay's clusters into its backing file. */
#include "block/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define NEW_CLUSTER_BITS 16

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Layout: cluster 0 header + backing format extension + backing name,
 * 1 refcount table, 2 refcount block, 3.. L1 table. */
static int build_image(int fd, const char *backing, const char *fmt, uint64_t size)
{
    const uint64_t cs = 1ULL << NEW_CLUSTER_BITS;
    uint64_t per_l1 = cs * (cs / 8);
    uint64_t l1_size = (size + per_l1 - 1) / per_l1;
    if (l1_size == 0)
        l1_size = 1;
    uint64_t l1_clusters = (l1_size * 8 + cs - 1) / cs;
    uint64_t nclusters = 3 + l1_clusters;
    if (nclusters > cs * 8 / 16)
        return -EFBIG;
    uint8_t *img = calloc(1, cs * 3);
    if (!img)
        return -ENOMEM;
    uint8_t *h = img;
    q2_put32(h + 0, QCOW2_MAGIC);
    q2_put32(h + 4, 3);
    q2_put32(h + 20, NEW_CLUSTER_BITS);
    q2_put64(h + 24, size);
    q2_put32(h + 36, (uint32_t)l1_size);
    q2_put64(h + 40, 3 * cs);
    q2_put64(h + 48, cs);
    q2_put32(h + 56, 1);
    q2_put32(h + 96, 4);
    q2_put32(h + 100, 112);
    size_t p = 112;
    if (backing && fmt) {
        size_t fl = strlen(fmt);
        q2_put32(h + p, 0xe2792aca);
        q2_put32(h + p + 4, (uint32_t)fl);
        memcpy(h + p + 8, fmt, fl);
        p += 8 + ((fl + 7) & ~(size_t)7);
    }
    p += 8; /* end of extensions */
    if (backing) {
        size_t bl = strlen(backing);
        q2_put64(h + 8, p);
        q2_put32(h + 16, (uint32_t)bl);
        memcpy(h + p, backing, bl);
    }
    q2_put64(img + cs, 2 * cs);
    for (uint64_t c = 0; c < nclusters; c++) {
        img[2 * cs + 2 * c] = 0;
        img[2 * cs + 2 * c + 1] = 1;
    }
    int r = write_all(fd, img, cs * 3, 0);
    free(img);
    if (!r && ftruncate(fd, (off_t)(nclusters * cs)) < 0)
        r = -errno;
    return r;
}

int blk_qcow2_create_overlay(const char *overlay_path, const char *backing_path,
                             const char *backing_fmt, uint64_t size, char *err, size_t errlen)
{
    int r;
    if (backing_path && (strlen(backing_path) == 0 || strlen(backing_path) > 1023)) {
        snprintf(err, errlen, "%s: backing file name empty or longer than 1023 bytes",
                 overlay_path);
        return -EINVAL;
    }
    if (backing_fmt && strcmp(backing_fmt, "raw") && strcmp(backing_fmt, "qcow2")) {
        snprintf(err, errlen, "%s: backing format %s is not supported (raw or qcow2)",
                 overlay_path, backing_fmt);
        return -EINVAL;
    }
    char fmtbuf[8];
    if (backing_path && (!size || !backing_fmt)) {
        /* Learn the size / format: open the backing as the overlay will. */
        char full[PATH_MAX + 1100];
        if (backing_path[0] == '/') {
            snprintf(full, sizeof(full), "%s", backing_path);
        } else {
            char tmp[PATH_MAX];
            snprintf(tmp, sizeof(tmp), "%s", overlay_path);
            snprintf(full, sizeof(full), "%s/%s", dirname(tmp), backing_path);
        }
        struct blk_backend *bb;
        struct blk_open_opts o = { .format = backing_fmt, .readonly = true };
        char sub[512];
        if ((r = blk_open_ex(full, &o, &bb, sub, sizeof(sub)))) {
            snprintf(err, errlen, "%s: backing file: %s", overlay_path, sub);
            return r;
        }
        if (!size)
            size = bb->size;
        snprintf(fmtbuf, sizeof(fmtbuf), "%s", bb->format);
        backing_fmt = fmtbuf;
        blk_close(bb);
    }
    if (size == 0 || size > (1ULL << 50)) {
        snprintf(err, errlen, "%s: overlay size must be 1 byte..1 PiB", overlay_path);
        return -EINVAL;
    }
    struct stat st;
    if (lstat(overlay_path, &st) == 0) {
        snprintf(err, errlen, "%s: already exists (refusing to overwrite)", overlay_path);
        return -EEXIST;
    }
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", overlay_path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", overlay_path);
        return -ENAMETOOLONG;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: cannot create: %s", overlay_path, strerror(errno));
        return r;
    }
    (void)fchmod(fd, 0644);
    if ((r = build_image(fd, backing_path, backing_fmt, size)) || (fsync(fd) < 0 && (r = -errno))) {
        snprintf(err, errlen, "%s: cannot write: %s", overlay_path, strerror(-r));
        goto err_unlink;
    }
    close(fd);
    fd = -1;
    /* link() + unlink(): never replaces a file that appeared meanwhile. */
    if (link(tmp, overlay_path) < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: cannot create: %s", overlay_path, strerror(errno));
        goto err_unlink;
    }
    unlink(tmp);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", overlay_path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
err_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return r;
}

int blk_reopen_overlay(struct blk_backend **b, const char *overlay_path, char *err,
                       size_t errlen)
{
    struct blk_backend *old = *b;
    char abs[PATH_MAX];
    int r;
    if (old->readonly) {
        snprintf(err, errlen, "%s: the disk is read-only: no overlay needed", old->path);
        return -EROFS;
    }
    if (!realpath(old->path, abs)) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", old->path, strerror(errno));
        return r;
    }
    if ((r = old->ops->flush(old))) {
        snprintf(err, errlen, "%s: flush before the overlay failed: %s", old->path,
                 strerror(-r));
        return r;
    }
    if ((r = blk_qcow2_create_overlay(overlay_path, abs, old->format, old->size, err, errlen)))
        return r;
    struct blk_file f;
    if ((r = blk_file_open(&f, overlay_path, false, old->cache, err,
                           errlen)))
        goto err_unlink;
    if ((r = old->ops->make_readonly(old))) {
        snprintf(err, errlen, "%s: cannot make read-only: %s", old->path, strerror(-r));
        blk_file_close(&f);
        goto err_unlink;
    }
    struct blk_chain chain = { .depth = 0 };
    struct blk_backend *nb;
    if ((r = blk_qcow2_from_file(overlay_path, &f, false, old->cache, &chain, old, &nb,
                                 err, errlen))) {
        if (old->ops->make_writable(old))
            log_warn("%s: could not return to read-write after a failed overlay",
                     old->path);
        goto err_unlink;
    }
    *b = nb;
    return 0;
err_unlink:
    unlink(overlay_path);
    return r;
}

int blk_commit_backend(struct blk_backend *b, char *err, size_t errlen)
{
    if (!blk_is_qcow2(b) || !((struct qcow2 *)b)->backing) {
        snprintf(err, errlen, "%s: not a qcow2 image with a backing file", b->path);
        return -EINVAL;
    }
    struct qcow2 *q = (struct qcow2 *)b;
    struct blk_backend *base = q->backing;
    int r = base->ops->make_writable(base);
    if (r) {
        snprintf(err, errlen, "%s: cannot open the backing file %s for writing: %s", b->path,
                 base->path, strerror(-r));
        return r;
    }
    uint8_t *buf = malloc(q->cs);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    uint64_t lim = b->size < base->size ? b->size : base->size;
    for (uint64_t off = 0; off < lim;) {
        struct qcow2_extent e;
        if ((r = qcow2_map(q, off, lim - off, &e)))
            break;
        if (e.kind == Q2_ZERO) {
            r = base->ops->write_zeroes(base, off, e.len);
        } else if (e.kind != Q2_UNALLOC) {
            if (!(r = qcow2_read_cluster_range(q, off, buf, e.len))) {
                struct iovec v = { .iov_base = buf, .iov_len = (size_t)e.len };
                r = base->ops->pwritev(base, &v, 1, off);
            }
        }
        if (r)
            break;
        off += e.len;
    }
    if (!r)
        r = base->ops->flush(base);
out:
    free(buf);
    if (r)
        snprintf(err, errlen, "%s: commit into %s failed: %s", b->path, base->path,
                 strerror(-r));
    int r2 = base->ops->make_readonly(base);
    return r ? r : r2;
}

int blk_commit(const char *top_path, char *err, size_t errlen)
{
    struct blk_backend *b;
    struct blk_open_opts o = { .format = "qcow2", .readonly = true };
    int r = blk_open_ex(top_path, &o, &b, err, errlen);
    if (r)
        return r;
    r = blk_commit_backend(b, err, errlen);
    blk_close(b);
    return r;
}
