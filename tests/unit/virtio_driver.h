/* A fake virtio-mmio driver for the device unit tests (and the serve
 * step for the fuzzers): register access on one device, queue setup with
 * the rings at VDRV_QRING(q) (desc; avail +0x1000; used +0x2000), posting
 * single-descriptor chains, and serving notifications as the I/O thread
 * does. The includer defines `bus` (struct bus), VDRV_MMIO, VDRV_QN and
 * VDRV_QRING(q) first; the fuzzers only use virtio_driver_serve. */
#ifndef CORRAL_TESTS_VIRTIO_DRIVER_H
#define CORRAL_TESTS_VIRTIO_DRIVER_H

#include <string.h>
#include <unistd.h>

#include "virtio/virtio_mmio.h"

/* What the I/O thread does on the notify eventfd. */
static inline void virtio_driver_serve(struct virtio_dev *d)
{
    uint64_t v;
    if (read(d->notify_fd, &v, sizeof(v)) < 0) {
        /* no notification pending */
    }
    uint32_t bits = atomic_exchange(&d->notify_pending, 0);
    pthread_mutex_lock(&d->lock);
    for (unsigned q = 0; q < d->ops->nqueues; q++)
        if ((bits >> q & 1) && virtio_mmio_queue_live_locked(d, q))
            d->ops->queue_notify(d, q);
    pthread_mutex_unlock(&d->lock);
}

/* Fuzzers: an input's 8-byte header into hdr[4], its next `max` bytes
 * into guest RAM from its base (the rest of RAM zero). False when the
 * input is shorter than the header. */
static inline bool virtio_driver_take_input(struct gmem *mem, const uint8_t *data, size_t size,
                                            size_t max, uint16_t hdr[4])
{
    if (size < 8)
        return false;
    memcpy(hdr, data, 8);
    uint8_t *ram = gmem_ptr(mem, mem->base, mem->size);
    memset(ram, 0, mem->size);
    size_t n = size - 8 < max ? size - 8 : max;
    memcpy(ram, data + 8, n);
    return true;
}

#ifdef VDRV_MMIO
static uint64_t rd(uint64_t off, unsigned width)
{
    uint64_t v = 0;
    assert_int_equal(bus_read(&bus, VDRV_MMIO + off, width, &v), 0);
    return v;
}

static void wr(uint64_t off, unsigned width, uint64_t v)
{
    assert_int_equal(bus_write(&bus, VDRV_MMIO + off, width, v), 0);
}

static void *ram(gpa_t a)
{
    return gmem_ptr(&bus.ram, a, 1);
}

static void queue_up(unsigned q)
{
    gpa_t desc = VDRV_QRING(q), avail = desc + 0x1000, used = desc + 0x2000;
    wr(0x030, 4, q);
    wr(0x038, 4, VDRV_QN);
    wr(0x080, 4, (uint32_t)desc);
    wr(0x084, 4, desc >> 32);
    wr(0x090, 4, (uint32_t)avail);
    wr(0x094, 4, avail >> 32);
    wr(0x0a0, 4, (uint32_t)used);
    wr(0x0a4, 4, used >> 32);
    wr(0x044, 4, 1);
}

/* Reset and negotiate VERSION_1 only (FEATURES_OK set, no queue yet). */
static void features_ok(void)
{
    wr(0x070, 4, 0);
    wr(0x070, 4, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(0x024, 4, 1);
    wr(0x020, 4, 1);
    wr(0x070, 4, 3 | VIRTIO_STATUS_FEATURES_OK);
}

static uint16_t used_idx(unsigned q)
{
    return __atomic_load_n((uint16_t *)ram(VDRV_QRING(q) + 0x2000 + 2), __ATOMIC_ACQUIRE);
}

/* Descriptor `i` of queue q: a buffer of `len` bytes, made available. */
static void post(unsigned q, unsigned i, gpa_t addr, uint32_t len, uint16_t flags)
{
    struct virtq_desc d = { .addr = addr, .len = len, .flags = flags };
    memcpy(ram(VDRV_QRING(q) + 16ULL * i), &d, sizeof(d));
    uint16_t *idx = ram(VDRV_QRING(q) + 0x1000 + 2);
    uint16_t *ring = ram(VDRV_QRING(q) + 0x1000 + 4);
    ring[*idx % VDRV_QN] = (uint16_t)i;
    __atomic_store_n(idx, (uint16_t)(*idx + 1), __ATOMIC_RELEASE);
}
#endif

#endif
