/* virtio-net (virtio 1.2 section 5.1) over a network backend: one
 * receive and one transmit queue, a control queue for the guest's
 * announce acknowledgement, MAC address and link status in config
 * space, no offloads (the guest computes checksums and segments itself).
 * Threads: as virtio_mmio.h; the backend's callbacks run on the I/O
 * thread. create/destroy on the main thread with the I/O thread stopped. */
#ifndef CORRAL_DEVICES_VIRTIO_NET_H
#define CORRAL_DEVICES_VIRTIO_NET_H

#include "core/ratelimit.h"
#include "net/net.h"
#include "virtio/virtio_mmio.h"

struct virtio_net;

struct virtio_net_state {
    struct virtio_mmio_state mmio;
    uint8_t mac[6];
    uint16_t status;
};

/* Takes ownership of `nb`. */
struct virtio_net *virtio_net_create(struct net_backend *nb, const uint8_t mac[6],
                                     struct gmem *mem, struct iothread *io, struct irq_line irq);
void virtio_net_destroy(struct virtio_net *n);
struct virtio_dev *virtio_net_dev(struct virtio_net *n);
/* Link up/down as the guest sees it (config change interrupt). Any thread. */
void virtio_net_set_link(struct virtio_net *n, bool up);

/* Start limiting received (rx) and transmitted (tx) frames, with full
 * buckets; what the old limits held back is taken up again at once. Any
 * thread; never waits for the device. No effect without an I/O thread. */
void virtio_net_set_rate_limits(struct virtio_net *n, const struct ratelimit_cfg *rx,
                                const struct ratelimit_cfg *tx);

/* The guest's MAC moved (after a live migration): RARP frames on the
 * backend over the next second, and a guest announce request. Any thread. */
void virtio_net_announce(struct virtio_net *n);

void virtio_net_save(struct virtio_net *n, struct virtio_net_state *out);
int virtio_net_load(struct virtio_net *n, const struct virtio_net_state *in) WARN_UNUSED;

#endif
