/* virtio-rng (virtio 1.2 section 5.4): one queue of device-writable
 * buffers, filled from the host's getrandom(). Threads: as virtio_mmio.h. */
#ifndef CORRAL_DEVICES_VIRTIO_RNG_H
#define CORRAL_DEVICES_VIRTIO_RNG_H

#include "virtio/virtio_mmio.h"

struct virtio_rng;

struct virtio_rng_state {
    struct virtio_mmio_state mmio;
};

struct virtio_rng *virtio_rng_create(struct gmem *mem, struct iothread *io, struct irq_line irq);
void virtio_rng_destroy(struct virtio_rng *r);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);

void virtio_rng_save(struct virtio_rng *r, struct virtio_rng_state *out);
int virtio_rng_load(struct virtio_rng *r, const struct virtio_rng_state *in) WARN_UNUSED;

#endif
