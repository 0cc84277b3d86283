/* Host image files under the block formats: opening (regular files and
 * block devices only, never blocking on a FIFO), QEMU-compatible OFD
 * image locks, and whole-transfer I/O that handles O_DIRECT alignment
 * with bounce buffers. Internal to src/block. Same threads as block.h. */
#ifndef CORRAL_BLOCK_FILE_H
#define CORRAL_BLOCK_FILE_H

#include <stddef.h>
#include <sys/uio.h>

#include "block/block.h"

struct blk_file {
    int fd;
    bool direct;        /* O_DIRECT: buffers, offsets, lengths aligned */
    bool writable;      /* holds the writer's locks */
    bool inactive;      /* holds only the consistent-read lock (a migration's hand-over) */
    bool want_write;    /* opened read-write: what activation takes */
    uint32_t align;     /* O_DIRECT alignment */
    uint32_t blksize;   /* st_blksize, sanitised */
    uint64_t size;      /* at open */
};

int blk_file_open(struct blk_file *f, const char *path, bool readonly, enum blk_cache cache,
                  char *err, size_t errlen) WARN_UNUSED;
/* Open for a migration's destination while the source still runs on the
 * same (shared) file: read-write, but holding only the shared
 * consistent-read lock and checking nothing against writers;
 * blk_file_activate takes the rest once the source has let go. */
int blk_file_open_inactive(struct blk_file *f, const char *path, bool readonly,
                           enum blk_cache cache, char *err, size_t errlen) WARN_UNUSED;
/* Take the locks an open would have taken: -EBUSY (message in err) while
 * another process still holds what we need. */
int blk_file_activate(struct blk_file *f, const char *path, char *err, size_t errlen) WARN_UNUSED;
/* Let go of every lock but the shared consistent-read one (the source's
 * side of the hand-over; the caller has flushed). */
void blk_file_inactivate(struct blk_file *f);
void blk_file_close(struct blk_file *f);
/* Drop the writer's lock bytes and O_RDWR use: keep a shared reader lock. */
int blk_file_lock_readonly(struct blk_file *f, const char *path, char *err,
                           size_t errlen) WARN_UNUSED;
/* Take the writer's lock bytes (after lock_readonly): -EBUSY with a message
 * when another process reads or writes the file. */
int blk_file_lock_writer(struct blk_file *f, const char *path, char *err,
                         size_t errlen) WARN_UNUSED;

/* Whole transfers; reads past the end of the file are zero-filled. */
int blk_file_pread(struct blk_file *f, void *buf, size_t len, uint64_t off) WARN_UNUSED;
int blk_file_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off) WARN_UNUSED;
/* The vector is consumed. */
int blk_file_preadv(struct blk_file *f, struct iovec *iov, int n, uint64_t off) WARN_UNUSED;
int blk_file_pwritev(struct blk_file *f, struct iovec *iov, int n, uint64_t off) WARN_UNUSED;
int blk_file_sync(struct blk_file *f) WARN_UNUSED;
int blk_file_truncate(struct blk_file *f, uint64_t size) WARN_UNUSED;
uint64_t blk_file_cur_size(struct blk_file *f);

/* Drop `done` bytes from the front of a vector. */
void blk_iov_advance(struct iovec **iov, int *n, size_t done);

#endif
