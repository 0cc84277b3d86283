/* Content fingerprints of disk images, so a snapshot can tell whether a
 * raw disk still holds what the guest saw when it was taken (a raw image
 * has no overlay to freeze it). Content-based: a hole and a run of
 * written zeros hash alike; only data extents are read. */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define FP_CHUNK (64 * 1024)

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w)
            return false;
    }
    return true;
}

int blk_fingerprint(const char *path, uint64_t *size_out, uint64_t *fp_out, char *err,
                    size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s: not a regular file", path);
        return -EINVAL;
    }
    uint8_t *buf = malloc(FP_CHUNK);
    XXH3_state_t *h = XXH3_createState();
    int r = 0;
    if (!buf || !h) {
        r = -ENOMEM;
        goto out;
    }
    XXH3_64bits_reset(h);
    uint64_t size = (uint64_t)st.st_size;
    XXH3_64bits_update(h, &size, sizeof(size));
    off_t off = 0;
    while ((uint64_t)off < size) {
        off_t data = lseek(fd, off, SEEK_DATA);
        if (data < 0)
            break; /* ENXIO: only a hole is left */
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0)
            hole = (off_t)size;
        /* Chunks on a FP_CHUNK grid, so the same content always splits
         * the same way whatever the extents look like. */
        off_t pos = data - data % FP_CHUNK;
        for (; pos < hole; pos += FP_CHUNK) {
            ssize_t n = pread(fd, buf, FP_CHUNK, pos);
            if (n < 0) {
                r = -errno;
                goto out;
            }
            if (n == 0)
                break;
            memset(buf + n, 0, FP_CHUNK - (size_t)n);
            if (all_zero(buf, FP_CHUNK))
                continue;
            uint64_t at = (uint64_t)pos;
            XXH3_64bits_update(h, &at, sizeof(at));
            XXH3_64bits_update(h, buf, FP_CHUNK);
        }
        off = pos;
    }
    *size_out = size;
    *fp_out = XXH3_64bits_digest(h);
out:
    if (r)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-r));
    XXH3_freeState(h);
    free(buf);
    close(fd);
    return r;
}
