/* virtio-blk (virtio 1.2 section 5.2) over a block backend. Requests are
 * served on the I/O thread. Threads: as virtio_mmio.h; create/destroy on
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

/* Start limiting to `c` (no limit when it limits nothing), with full
 * buckets; requests held back by the old limit are taken up again at once
 * under the new one. Any thread; never waits for the device (the I/O
 * thread takes the limit up). No effect on a device without an I/O
 * thread. */
void virtio_blk_set_rate_limit(struct virtio_blk *b, const struct ratelimit_cfg *c);

void virtio_blk_save(struct virtio_blk *b, struct virtio_blk_state *out);
int virtio_blk_load(struct virtio_blk *b, const struct virtio_blk_state *in) WARN_UNUSED;

#endif
