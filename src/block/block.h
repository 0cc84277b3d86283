/* Block backends: what a virtio-blk device reads and writes. An ops table
 * so image formats (raw today, qcow2 later) plug in behind one interface.
 * Threads: opened on the main thread; I/O calls from one thread at a time
 * (the I/O thread). Offsets and lengths are bytes. */
#ifndef CORRAL_BLOCK_BLOCK_H
#define CORRAL_BLOCK_BLOCK_H

#include <sys/types.h>
#include <sys/uio.h>

#include "core/types.h"

struct blk_backend;

struct blk_backend_ops {
    /* Whole transfer or -errno (a read past the end is zero-filled). The
     * vector is consumed (modified) as the transfer proceeds. */
    int (*preadv)(struct blk_backend *b, struct iovec *iov, int n, uint64_t off);
    int (*pwritev)(struct blk_backend *b, struct iovec *iov, int n, uint64_t off);
    int (*flush)(struct blk_backend *b);
    /* Deallocate; reads of the range may return anything afterwards. */
    int (*discard)(struct blk_backend *b, uint64_t off, uint64_t len);
    /* The range reads as zeros afterwards (punching a hole if it can). */
    int (*write_zeroes)(struct blk_backend *b, uint64_t off, uint64_t len);
    void (*close)(struct blk_backend *b);
};

struct blk_backend {
    const struct blk_backend_ops *ops;
    uint64_t size;          /* bytes */
    uint32_t phys_block;    /* preferred I/O size of the file (bytes) */
    bool readonly;
    char path[256];
};

/* Open a raw image (regular file or block device). Fails with one line in
 * `err` for a missing file, a directory, no permission, or an image in
 * use by another writer (flock). */
int blk_raw_open(const char *path, bool readonly, struct blk_backend **out, char *err,
                 size_t errlen) WARN_UNUSED;
/* Open by format name ("raw" or NULL). */
int blk_open(const char *path, const char *format, bool readonly, struct blk_backend **out,
             char *err, size_t errlen) WARN_UNUSED;
void blk_close(struct blk_backend *b);

/* A content fingerprint of the image file at `path` (its size and the
 * hash of every non-zero 64 KiB chunk with its offset): snapshots refuse
 * a raw disk that changed since. */
int blk_fingerprint(const char *path, uint64_t *size, uint64_t *fp, char *err,
                    size_t errlen) WARN_UNUSED;

#endif
