/* Block backends: what a virtio-blk device reads and writes. An ops table
 * so image formats (raw, qcow2) plug in behind one interface.
 * Threads: opened on the main thread; I/O calls from one thread at a time
 * (a disk's worker, block/aio.h), or several at once when `concurrent`. Offsets and lengths are bytes. */
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
    /* Optional: the whole read or write at once if it needs no wait for
     * the disk (the page cache has it: RWF_NOWAIT), else -EAGAIN and
     * nothing is known (the caller does it with preadv/pwritev, which
     * may write the same bytes again). The vector is left as it was. */
    int (*try_rw)(struct blk_backend *b, bool write, const struct iovec *iov, int n,
                  uint64_t off);
    int (*flush)(struct blk_backend *b);
    /* Deallocate; reads of the range may return anything afterwards. */
    int (*discard)(struct blk_backend *b, uint64_t off, uint64_t len);
    /* The range reads as zeros afterwards (punching a hole if it can). */
    int (*write_zeroes)(struct blk_backend *b, uint64_t off, uint64_t len);
    /* Finish writing (flush, release what a writer holds) and keep the
     * image open read-only with a shared lock: it becomes a backing file. */
    int (*make_readonly)(struct blk_backend *b);
    /* Back to read-write (undoes make_readonly; commit, failed overlay
     * switches). -EBUSY when another process now uses the file. */
    int (*make_writable)(struct blk_backend *b);
    /* Optional: a live migration's hand-over of an image both ends open
     * (shared storage). The source flushes and lets go of its locks
     * (inactivate) before it sends the devices; the destination, which
     * opened with blk_open_opts.inactive, takes them (activate: -EBUSY
     * while the source still holds them). Call activate through
     * blk_activate: a qcow2 image is opened for real then, by a new
     * backend that takes the stand-in's place. */
    int (*inactivate)(struct blk_backend *b);
    int (*activate)(struct blk_backend *b, char *err, size_t errlen);
    void (*close)(struct blk_backend *b);
};

/* Host caching of the image file. */
enum blk_cache {
    BLK_CACHE_WRITEBACK = 0, /* page cache; guest flush = fdatasync */
    BLK_CACHE_NONE,          /* O_DIRECT; guest flush = fdatasync */
    BLK_CACHE_UNSAFE,        /* page cache; guest flush ignored */
};

struct blk_backend {
    const struct blk_backend_ops *ops;
    uint64_t size;          /* bytes */
    uint32_t phys_block;    /* preferred I/O size of the file (bytes) */
    bool readonly;
    /* preadv/pwritev/flush/discard/write_zeroes may run on several
     * threads at once (raw: plain file calls). qcow2's metadata caches
     * are not: its requests run one at a time (block/aio.h). */
    bool concurrent;
    enum blk_cache cache;
    const char *format;     /* "raw" or "qcow2" */
    char path[4096];
};

struct blk_open_opts {
    const char *format;     /* "raw", "qcow2" or NULL: probe */
    bool readonly;
    enum blk_cache cache;
    bool inactive; /* a migration's destination: see blk_backend_ops.activate */
};

/* Open an image. Only regular files and block devices (a FIFO or socket
 * fails at once, never blocks). Writers take QEMU-compatible OFD locks
 * (a second writer, or a writer of a file in use as a backing file, is
 * refused); readers share. Without a format, a writable image whose
 * content looks like qcow2 is refused (format= must say so: a guest can
 * write a qcow2 header into a raw disk). Errors: one line in `err` naming
 * the file and the problem. Main thread. */
int blk_open_ex(const char *path, const struct blk_open_opts *o, struct blk_backend **out,
                char *err, size_t errlen) WARN_UNUSED;
/* blk_open_ex with cache=writeback. */
int blk_open(const char *path, const char *format, bool readonly, struct blk_backend **out,
             char *err, size_t errlen) WARN_UNUSED;
int blk_raw_open(const char *path, bool readonly, struct blk_backend **out, char *err,
                 size_t errlen) WARN_UNUSED;
void blk_close(struct blk_backend *b);
/* Activate the backend in *slot (blk_backend_ops.activate), replacing it
 * when a qcow2 image was opened for real. 0, -EBUSY (try again) or an
 * error in err; *slot is usable either way. No I/O on it meanwhile. */
int blk_activate(struct blk_backend **slot, char *err, size_t errlen) WARN_UNUSED;
/* "writeback", "none", "unsafe" -> 0 and *out, else -EINVAL. */
int blk_parse_cache(const char *s, enum blk_cache *out) WARN_UNUSED;

/* Write a fresh qcow2 v3 image (64 KiB clusters) at overlay_path whose
 * backing file is backing_path (stored as given: a relative name is
 * resolved against the overlay's directory) in backing_fmt ("raw",
 * "qcow2", NULL: probed). size 0 = the backing file's size. Atomic: temp
 * file + fsync + rename; an existing file at overlay_path is refused. */
int blk_qcow2_create_overlay(const char *overlay_path, const char *backing_path,
                             const char *backing_fmt, uint64_t size, char *err,
                             size_t errlen) WARN_UNUSED;

/* Put a new overlay over the running image *b: creates overlay_path over
 * (*b)->path, makes *b read-only (it becomes the overlay's backing file,
 * still open) and replaces *b by the overlay opened read-write. On error
 * *b is unchanged and still usable. The caller must keep I/O off *b for
 * the duration (device quiesced). */
int blk_reopen_overlay(struct blk_backend **b, const char *overlay_path, char *err,
                       size_t errlen) WARN_UNUSED;

/* Copy every cluster allocated in the qcow2 overlay at top_path into its
 * backing file (opened read-write for the copy), then flush. The overlay
 * stays valid (its data now equals the base's). Stopped VMs: the files
 * must not be open. For a running disk use blk_commit_backend. */
int blk_commit(const char *top_path, char *err, size_t errlen) WARN_UNUSED;
/* Commit an open qcow2 backend's own clusters into its backing file: the
 * backing (opened read-only for the VM) is reopened read-write for the
 * copy and back to read-only after. The caller keeps I/O off b. */
int blk_commit_backend(struct blk_backend *b, char *err, size_t errlen) WARN_UNUSED;

/* A content fingerprint of the image file at `path` (its size and the
 * hash of every non-zero 64 KiB chunk with its offset): snapshots refuse
 * a raw disk that changed since. */
int blk_fingerprint(const char *path, uint64_t *size, uint64_t *fp, char *err,
                    size_t errlen) WARN_UNUSED;

#endif
