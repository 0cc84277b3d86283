/* virtio-mmio transport, version 2 (virtio 1.2 section 4.2): registers,
 * feature negotiation, the status state machine, queue setup, notify,
 * interrupts and config space. A device (virtio_blk.c, virtio_net.c,
 * virtio_rng.c) embeds a struct virtio_dev and fills an ops table; the
 * transport keeps the two apart.
 *
 * Threads: MMIO handlers run on hart threads. QueueNotify only sets a bit
 * and writes an eventfd; the I/O thread then calls ops->queue_notify with
 * the device lock held (unless the device's queue_notify_hart took the
 * notify on the hart: virtio-blk hands requests to its workers there). Devices process queues only under that lock.
 * InterruptStatus/ACK use a separate small lock so a hart's interrupt
 * handler never waits for a slow disk operation.
 * Lock order: dev->lock, then dev->irq_lock, then the PLIC's. */
#ifndef CORRAL_VIRTIO_VIRTIO_MMIO_H
#define CORRAL_VIRTIO_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/iothread.h"
#include "core/log.h"
#include "core/types.h"
#include "devices/irq.h"
#include "mem/bus.h"
#include "virtio/virtqueue.h"

#define VIRTIO_MMIO_BASE 0x10001000ULL
#define VIRTIO_MMIO_SIZE 0x1000ULL
#define VIRTIO_MMIO_SLOTS 8
#define VIRTIO_MMIO_IRQ(n) (1 + (n)) /* PLIC source of slot n */

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_CONFIG_MAX 256

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Transport feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

struct virtio_dev;
struct state_out;
struct state_in;

typedef void virtio_counter_fn(void *ctx, const char *name, uint64_t value);
struct virtio_dev_ops {
    const char *name;          /* "virtio-blk": log lines */
    uint32_t device_id;
    unsigned nqueues;
    /* A queue was notified (I/O thread, lock held, device DRIVER_OK). */
    void (*queue_notify)(struct virtio_dev *d, unsigned q);
    /* Optional: QueueNotify on the writing hart thread, no lock held.
     * True: handled there (it must not wait: try the device lock, make
     * no blocking call); false: the I/O thread calls queue_notify. */
    bool (*queue_notify_hart)(struct virtio_dev *d, unsigned q);
    /* Device-specific part of a reset (lock held). Optional. */
    void (*reset)(struct virtio_dev *d);
    /* The driver wrote config space bytes [off, off+len). Optional. */
    void (*config_write)(struct virtio_dev *d, uint32_t off, const void *buf, unsigned len);
    /* DRIVER_OK was just set (lock held). Optional. */
    void (*driver_ok)(struct virtio_dev *d);
    /* Device-specific saved fields after the transport's (lock held;
     * see virtio_mmio_save_state). Optional: no fields. */
    void (*save_state)(struct virtio_dev *d, struct state_out *o);
    int (*load_state)(struct virtio_dev *d, struct state_in *in, uint32_t version);
    /* Device-specific counters for GET /metrics (any thread, relaxed
     * reads; names are static strings). Optional. */
    void (*counters)(const struct virtio_dev *d, virtio_counter_fn *emit, void *ctx);
};

struct virtio_dev {
    pthread_mutex_t lock;      /* registers, queues, device state */
    pthread_mutex_t irq_lock;  /* isr and the irq level */
    const struct virtio_dev_ops *ops;
    struct gmem *mem;
    struct iothread *io;
    struct irq_line irq;
    char name[40];             /* "virtio-blk@10001000" */

    uint64_t host_features;
    uint64_t driver_features;
    uint32_t dev_features_sel, drv_features_sel;
    uint32_t queue_sel;
    uint32_t status;
    uint32_t config_gen;
    _Atomic uint32_t isr;
    bool broken;               /* NEEDS_RESET: queues are not processed */
    struct log_ratelimit log_rl; /* guest-triggered lines (a reset re-arms `broken`) */
    struct virtq vq[VIRTIO_MAX_QUEUES];
    uint32_t queue_num_max;

    uint8_t config[VIRTIO_CONFIG_MAX]; /* device config space (LE) */
    uint32_t config_len;

    int notify_fd;             /* eventfd: hart -> I/O thread */
    _Atomic uint32_t notify_pending; /* bit per queue */
};

/* Saved transport state (section "virtio-mmio", version 1). */
struct virtio_mmio_state {
    uint64_t driver_features;
    uint32_t dev_features_sel, drv_features_sel, queue_sel, status;
    uint32_t config_gen, isr, broken, pad;
    struct virtq_state vq[VIRTIO_MAX_QUEUES];
};

/* Set up the transport part of a device. `features` are the device's own
 * bits; VERSION_1, INDIRECT_DESC and EVENT_IDX are added here. */
int virtio_mmio_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
                     uint64_t features, struct gmem *mem, struct iothread *io,
                     struct irq_line irq, uint32_t config_len) WARN_UNUSED;
void virtio_mmio_destroy(struct virtio_dev *d);
int virtio_mmio_attach(struct virtio_dev *d, struct bus *b, gpa_t base) WARN_UNUSED;
/* Machine reset: as if the driver wrote 0 to Status. */
void virtio_mmio_reset(struct virtio_dev *d);

/* For devices, lock held: */
/* A chain on queue `q` was malformed: set NEEDS_RESET, log `why` once. */
void virtio_mmio_queue_error_locked(struct virtio_dev *d, unsigned q, const char *why);
/* After pushing used chains on `q`: interrupt if the driver wants one. */
void virtio_mmio_used_locked(struct virtio_dev *d, unsigned q);
/* The device changed its config space: bump generation, interrupt. */
void virtio_mmio_config_changed_locked(struct virtio_dev *d);
/* Queue q can be processed now (driver ready, device not broken). */
bool virtio_mmio_queue_live_locked(const struct virtio_dev *d, unsigned q);

void virtio_mmio_save(struct virtio_dev *d, struct virtio_mmio_state *out);
int virtio_mmio_load(struct virtio_dev *d, const struct virtio_mmio_state *in) WARN_UNUSED;

/* Saved state, section "virtio", version 1 (the machine names it by
 * slot): u32 device_id, u64 driver_features, u32 dev_features_sel,
 * drv_features_sel, queue_sel, status, config_gen, isr, broken, u32
 * nqueues, per queue (virtq_save_state), then the device's own fields
 * (ops->save_state). Load checks the device id and the features against
 * this device, and refuses rings outside RAM. Harts and the I/O thread
 * stopped. */
#define VIRTIO_STATE_VERSION 1
void virtio_mmio_save_state(struct virtio_dev *d, struct state_out *o);
int virtio_mmio_load_state(struct virtio_dev *d, struct state_in *in,
                           uint32_t version) WARN_UNUSED;
/* After a load: process every queue that holds chains the guest already
 * made available, as if it had just notified. Any thread. */
void virtio_mmio_kick_queues(struct virtio_dev *d);

#endif
