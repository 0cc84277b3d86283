/* virtio-rng (virtio 1.2 section 5.4). Device ID 4, no config space, no
 * feature bits. Each chain's writable buffers are filled with bytes from
 * getrandom() (the host's CSPRNG; never blocks once the host is booted).
 * A chain with no writable buffer is returned with length 0. */
#include "devices/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"

#define RNG_MAX_PER_CHAIN (64 * 1024) /* bytes per request, like QEMU's quota */

struct virtio_rng {
    struct virtio_dev vdev; /* first */
    struct virtq_chain chain;
};

/* Fill [p, p+len) with random bytes; false on a host failure. */
static bool fill_random(uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void rng_queue_notify(struct virtio_dev *d, unsigned qi)
{
    struct virtio_rng *r = (struct virtio_rng *)d;
    struct virtq *q = &d->vq[qi];
    char why[200];
    bool pushed = false;
    for (;;) {
        int k = virtq_pop(q, &r->chain, why, sizeof(why));
        if (k == 0)
            break;
        if (k < 0) {
            virtio_mmio_queue_error_locked(d, qi, why);
            return;
        }
        const struct virtq_chain *c = &r->chain;
        uint32_t written = 0;
        for (unsigned i = c->nout; i < c->nout + c->nin && written < RNG_MAX_PER_CHAIN; i++) {
            uint32_t len = c->seg[i].len;
            if (len > RNG_MAX_PER_CHAIN - written)
                len = RNG_MAX_PER_CHAIN - written;
            if (!fill_random(c->seg[i].host, len)) {
                log_warn("%s: getrandom: %s", d->name, strerror(errno));
                break;
            }
            gmem_host_wrote(d->mem, c->seg[i].gpa, len);
            written += len;
        }
        virtq_push(q, c, written);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, qi);
}

static const struct virtio_dev_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = 4,
    .nqueues = 1,
    .queue_notify = rng_queue_notify,
};

struct virtio_rng *virtio_rng_create(struct gmem *mem, struct iothread *io, struct irq_line irq)
{
    struct virtio_rng *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (virtio_mmio_init(&r->vdev, &rng_ops, 0, mem, io, irq, 0)) {
        free(r);
        return NULL;
    }
    return r;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
    if (!r)
        return;
    virtio_mmio_destroy(&r->vdev);
    free(r);
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
    return &r->vdev;
}

void virtio_rng_save(struct virtio_rng *r, struct virtio_rng_state *out)
{
    virtio_mmio_save(&r->vdev, &out->mmio);
}

int virtio_rng_load(struct virtio_rng *r, const struct virtio_rng_state *in)
{
    return virtio_mmio_load(&r->vdev, &in->mmio);
}
