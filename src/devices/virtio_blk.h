/* virtio-blk (virtio 1.2 section 5.2) over a block backend. Requests are
 * popped and answered on the I/O thread and run on the disk's workers
 * (block/aio.h), several at once; stopping the I/O thread drains them. Threads: as virtio_mmio.h; create/destroy on
 * the main thread with harts and the I/O thread stopped. */
#ifndef CORRAL_DEVICES_VIRTIO_BLK_H
#define CORRAL_DEVICES_VIRTIO_BLK_H

#include "block/block.h"
#include "core/ratelimit.h"
#include "virtio/virtio_mmio.h"

#define VIRTIO_BLK_ID_BYTES 20

struct virtio_blk;

struct virtio_blk_state {
    struct virtio_mmio_state mmio;
    uint64_t capacity; /* sectors; must match on load */
};

/* Takes ownership of `be`. `serial` (get-id) may be NULL. */
struct virtio_blk *virtio_blk_create(struct blk_backend *be, const char *serial,
                                     struct gmem *mem, struct iothread *io, struct irq_line irq);
void virtio_blk_destroy(struct virtio_blk *b);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);
/* The image behind the disk (snapshots record and fingerprint it). */
struct blk_backend *virtio_blk_backend(struct virtio_blk *b);
/* The device's image as a pointer the block layer may replace (a new
 * overlay put over the running image). Device quiesced. */
struct blk_backend **virtio_blk_backend_slot(struct virtio_blk *b);

/* Stop taking requests and wait until those in flight have landed (the
 * I/O thread answers them; a paused machine's are answered already):
 * afterwards nothing uses the backend until virtio_blk_resume, which
 * takes up what the driver offered meanwhile. Not the I/O thread or a
 * hart; not while a storage-migration copy runs. */
void virtio_blk_quiesce(struct virtio_blk *b);
void virtio_blk_resume(struct virtio_blk *b);

/* Start limiting to `c` (no limit when it limits nothing), with full
 * buckets; requests held back by the old limit are taken up again at once
 * under the new one. Any thread; never waits for the device (the I/O
 * thread takes the limit up). No effect on a device without an I/O
 * thread. */
void virtio_blk_set_rate_limit(struct virtio_blk *b, const struct ratelimit_cfg *c);

/* Storage migration (docs/migration.md): from track_start on, every
 * chunk of 2^shift bytes counts as changed until copied, and every write,
 * discard or write-zeroes marks its chunks changed again. track_copy
 * takes up to `max` changed chunks, reads them into buf (max << shift
 * bytes; the last chunk of the disk may be short) and lists them in
 * `chunks`; it runs on one of the disk's workers and waits for it, or
 * directly when `io_stopped` (machine paused). Returns the count or -errno. Not the
 * I/O thread. */
int virtio_blk_track_start(struct virtio_blk *b, unsigned shift) WARN_UNUSED;
void virtio_blk_track_stop(struct virtio_blk *b);
uint64_t virtio_blk_track_pending(struct virtio_blk *b);
int virtio_blk_track_copy(struct virtio_blk *b, uint8_t *buf, uint64_t *chunks, unsigned max,
                          bool io_stopped) WARN_UNUSED;

void virtio_blk_save(struct virtio_blk *b, struct virtio_blk_state *out);
int virtio_blk_load(struct virtio_blk *b, const struct virtio_blk_state *in) WARN_UNUSED;

#endif
