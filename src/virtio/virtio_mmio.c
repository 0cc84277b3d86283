/* virtio-mmio version 2 (virtio 1.2 section 4.2.2). Register map, 32-bit
 * registers at byte offsets from the slot base:
 *   000 R  MagicValue 0x74726976 ("virt")   004 R  Version 2
 *   008 R  DeviceID                          00c R  VendorID
 *   010 R  DeviceFeatures (by 014 W DeviceFeaturesSel)
 *   020 W  DriverFeatures (by 024 W DriverFeaturesSel)
 *   030 W  QueueSel     034 R QueueNumMax    038 W QueueNum
 *   044 RW QueueReady   050 W QueueNotify
 *   060 R  InterruptStatus                   064 W InterruptACK
 *   070 RW Status
 *   080/084 W QueueDescLow/High   090/094 W QueueDriverLow/High
 *   0a0/0a4 W QueueDeviceLow/High
 *   0ac W  SHMSel  0b0/0b4 R SHMLen (all ones: no region)  0b8/0bc R SHMBase
 *   0c0 RW QueueReset (VIRTIO_F_RING_RESET is not offered: reads 0)
 *   0fc R  ConfigGeneration
 *   100+   device config space, byte-addressed, widths 1/2/4/8
 * Writes the spec forbids in the current state (queue addresses of a
 * ready queue, features after FEATURES_OK) are ignored, never fatal. */
#include "virtio/virtio_mmio.h"

#include "state/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

enum {
    R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
    R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014,
    R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044, R_QUEUE_NOTIFY = 0x050,
    R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
    R_QUEUE_DESC_LO = 0x080, R_QUEUE_DESC_HI = 0x084,
    R_QUEUE_DRIVER_LO = 0x090, R_QUEUE_DRIVER_HI = 0x094,
    R_QUEUE_DEVICE_LO = 0x0a0, R_QUEUE_DEVICE_HI = 0x0a4,
    R_SHM_SEL = 0x0ac, R_SHM_LEN_LO = 0x0b0, R_SHM_LEN_HI = 0x0b4,
    R_SHM_BASE_LO = 0x0b8, R_SHM_BASE_HI = 0x0bc, R_QUEUE_RESET = 0x0c0,
    R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u
#define VIRTIO_MMIO_VENDOR 0x4c524f43u /* "CORL" */

static void set_isr(struct virtio_dev *d, uint32_t set, uint32_t clear)
{
    pthread_mutex_lock(&d->irq_lock);
    uint32_t v = (atomic_load(&d->isr) | set) & ~clear;
    atomic_store(&d->isr, v);
    irq_set(&d->irq, v != 0);
    pthread_mutex_unlock(&d->irq_lock);
}

static void notify_ready(void *opaque, uint32_t events)
{
    struct virtio_dev *d = opaque;
    uint64_t v;
    if (read(d->notify_fd, &v, sizeof(v)) < 0)
        return;
    uint32_t bits = atomic_exchange(&d->notify_pending, 0);
    pthread_mutex_lock(&d->lock);
    for (unsigned q = 0; q < d->ops->nqueues; q++)
        if ((bits & (1u << q)) && virtio_mmio_queue_live_locked(d, q))
            d->ops->queue_notify(d, q);
    pthread_mutex_unlock(&d->lock);
}

bool virtio_mmio_queue_live_locked(const struct virtio_dev *d, unsigned q)
{
    return q < d->ops->nqueues && !d->broken && (d->status & VIRTIO_STATUS_DRIVER_OK) &&
           d->vq[q].ready;
}

void virtio_mmio_queue_error_locked(struct virtio_dev *d, unsigned q, const char *why)
{
    if (d->broken)
        return;
    d->broken = true;
    if (log_ratelimit_ok(&d->log_rl, d->name))
        log_error("%s: queue %u: %s; device needs reset", d->name, q, why);
    d->status |= VIRTIO_STATUS_NEEDS_RESET;
    if (d->status & VIRTIO_STATUS_DRIVER_OK)
        set_isr(d, VIRTIO_INT_CONFIG, 0);
}

void virtio_mmio_used_locked(struct virtio_dev *d, unsigned q)
{
    if (virtq_need_notify(&d->vq[q]))
        set_isr(d, VIRTIO_INT_USED, 0);
}

void virtio_mmio_config_changed_locked(struct virtio_dev *d)
{
    d->config_gen++;
    if (d->status & VIRTIO_STATUS_DRIVER_OK)
        set_isr(d, VIRTIO_INT_CONFIG, 0);
}

static void reset_locked(struct virtio_dev *d)
{
    d->driver_features = 0;
    d->dev_features_sel = d->drv_features_sel = 0;
    d->queue_sel = 0;
    d->status = 0;
    d->broken = false;
    atomic_store(&d->notify_pending, 0);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        virtq_reset(&d->vq[q], d->queue_num_max);
    if (d->ops->reset)
        d->ops->reset(d);
    set_isr(d, 0, ~0u);
}

void virtio_mmio_reset(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
    reset_locked(d);
    pthread_mutex_unlock(&d->lock);
}

static void apply_features(struct virtio_dev *d)
{
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        d->vq[q].event_idx = d->driver_features & (1ULL << VIRTIO_F_EVENT_IDX);
        d->vq[q].indirect = d->driver_features & (1ULL << VIRTIO_F_INDIRECT_DESC);
    }
}

static void write_status(struct virtio_dev *d, uint32_t v)
{
    if (v == 0) {
        reset_locked(d);
        return;
    }
    /* FEATURES_OK only sticks when the driver's features are a subset of
     * ours and include VERSION_1 (no legacy interface here). */
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
        if ((d->driver_features & ~d->host_features) ||
            !(d->driver_features & (1ULL << VIRTIO_F_VERSION_1)))
            v &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
        else
            apply_features(d);
    }
    if ((v & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK) &&
        !(v & VIRTIO_STATUS_FEATURES_OK))
        v &= ~(uint32_t)VIRTIO_STATUS_DRIVER_OK;
    /* NEEDS_RESET is the device's to set and only a reset clears it. */
    v = (v & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET) | (d->status & VIRTIO_STATUS_NEEDS_RESET);
    bool became_ok = (v & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_DRIVER_OK);
    d->status = v;
    if (became_ok && d->ops->driver_ok && !d->broken)
        d->ops->driver_ok(d);
}

static void set_addr_half(gpa_t *a, bool high, uint32_t v)
{
    if (high)
        *a = (*a & 0xffffffffULL) | ((uint64_t)v << 32);
    else
        *a = (*a & ~0xffffffffULL) | v;
}

static void write_queue_reg(struct virtio_dev *d, uint64_t off, uint32_t v)
{
    if (d->queue_sel >= d->ops->nqueues)
        return;
    struct virtq *q = &d->vq[d->queue_sel];
    if (off == R_QUEUE_READY) {
        if (!v) {
            q->ready = false;
            return;
        }
        if (q->ready)
            return;
        char why[160];
        if (virtq_enable(q, why, sizeof(why)))
            virtio_mmio_queue_error_locked(d, d->queue_sel, why);
        return;
    }
    if (q->ready)
        return; /* the spec forbids changing a live queue */
    switch (off) {
    case R_QUEUE_NUM: q->num = v; break;
    case R_QUEUE_DESC_LO: case R_QUEUE_DESC_HI:
        set_addr_half(&q->desc_gpa, off == R_QUEUE_DESC_HI, v); break;
    case R_QUEUE_DRIVER_LO: case R_QUEUE_DRIVER_HI:
        set_addr_half(&q->avail_gpa, off == R_QUEUE_DRIVER_HI, v); break;
    case R_QUEUE_DEVICE_LO: case R_QUEUE_DEVICE_HI:
        set_addr_half(&q->used_gpa, off == R_QUEUE_DEVICE_HI, v); break;
    }
}

static uint32_t read_reg_locked(struct virtio_dev *d, uint64_t off)
{
    struct virtq *q = d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;
    switch (off) {
    case R_MAGIC: return VIRTIO_MMIO_MAGIC;
    case R_VERSION: return 2;
    case R_DEVICE_ID: return d->ops->device_id;
    case R_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case R_DEV_FEATURES:
        if (d->dev_features_sel > 1)
            return 0;
        return (uint32_t)(d->host_features >> (32 * d->dev_features_sel));
    case R_QUEUE_NUM_MAX: return q ? d->queue_num_max : 0;
    case R_QUEUE_READY: return q ? q->ready : 0;
    case R_INT_STATUS: return atomic_load(&d->isr);
    case R_STATUS: return d->status;
    case R_SHM_LEN_LO: case R_SHM_LEN_HI: case R_SHM_BASE_LO: case R_SHM_BASE_HI:
        return 0xffffffffu;
    case R_CONFIG_GEN: return d->config_gen;
    default: return 0;
    }
}

static int mmio_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    struct virtio_dev *d = opaque;
    *val = 0;
    if (off >= R_CONFIG) {
        uint64_t c = off - R_CONFIG;
        pthread_mutex_lock(&d->lock);
        if (c < d->config_len && size <= d->config_len - c) {
            uint64_t v = 0;
            memcpy(&v, d->config + c, size);
            *val = v;
        }
        pthread_mutex_unlock(&d->lock);
        return 0;
    }
    if (size != 4 || (off & 3))
        return 0; /* non-config registers are 32-bit only: read as 0 */
    if (off == R_INT_STATUS) {
        *val = atomic_load(&d->isr);
        return 0;
    }
    pthread_mutex_lock(&d->lock);
    *val = read_reg_locked(d, off);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static int mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct virtio_dev *d = opaque;
    if (off >= R_CONFIG) {
        uint64_t c = off - R_CONFIG;
        pthread_mutex_lock(&d->lock);
        if (d->ops->config_write && c < d->config_len && size <= d->config_len - c)
            d->ops->config_write(d, (uint32_t)c, &val, size);
        pthread_mutex_unlock(&d->lock);
        return 0;
    }
    if (size != 4 || (off & 3))
        return 0;
    uint32_t v = (uint32_t)val;
    switch (off) {
    case R_QUEUE_NOTIFY:
        /* Hot path: no device lock, the I/O thread does the work (or
         * the device on this hart, without waiting). */
        if (v < d->ops->nqueues &&
            !(d->ops->queue_notify_hart && d->ops->queue_notify_hart(d, v))) {
            atomic_fetch_or(&d->notify_pending, 1u << v);
            uint64_t one = 1;
            if (write(d->notify_fd, &one, sizeof(one)) < 0) {
                /* counter saturated: a wake-up is pending anyway */
            }
        }
        return 0;
    case R_INT_ACK:
        set_isr(d, 0, v);
        return 0;
    }
    pthread_mutex_lock(&d->lock);
    switch (off) {
    case R_DEV_FEATURES_SEL: d->dev_features_sel = v; break;
    case R_DRV_FEATURES_SEL: d->drv_features_sel = v; break;
    case R_DRV_FEATURES:
        if (d->drv_features_sel <= 1 && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned sh = 32 * d->drv_features_sel;
            d->driver_features = (d->driver_features & ~(0xffffffffULL << sh)) |
                                 ((uint64_t)v << sh);
        }
        break;
    case R_QUEUE_SEL: d->queue_sel = v; break;
    case R_STATUS: write_status(d, v); break;
    case R_QUEUE_NUM: case R_QUEUE_READY:
    case R_QUEUE_DESC_LO: case R_QUEUE_DESC_HI:
    case R_QUEUE_DRIVER_LO: case R_QUEUE_DRIVER_HI:
    case R_QUEUE_DEVICE_LO: case R_QUEUE_DEVICE_HI:
        write_queue_reg(d, off, v);
        break;
    default:
        break; /* read-only or unknown: ignored */
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static const struct mmio_ops virtio_mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

int virtio_mmio_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
                     uint64_t features, struct gmem *mem, struct iothread *io,
                     struct irq_line irq, uint32_t config_len)
{
    if (ops->nqueues == 0 || ops->nqueues > VIRTIO_MAX_QUEUES || config_len > VIRTIO_CONFIG_MAX)
        return -EINVAL;
    memset(d, 0, sizeof(*d));
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    /* Recursive: a backend called under the lock (slirp answering an ARP
     * while we transmit) may deliver a packet straight back. */
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&d->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&d->irq_lock, NULL);
    d->ops = ops;
    d->mem = mem;
    d->io = io;
    d->irq = irq;
    d->config_len = config_len;
    d->host_features = features | (1ULL << VIRTIO_F_VERSION_1) |
                       (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
    d->queue_num_max = 256;
    snprintf(d->name, sizeof(d->name), "%s", ops->name);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        virtq_init(&d->vq[q], mem);
        virtq_reset(&d->vq[q], d->queue_num_max);
    }
    d->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->notify_fd < 0) {
        int r = -errno;
        pthread_mutex_destroy(&d->lock);
        pthread_mutex_destroy(&d->irq_lock);
        return r;
    }
    if (io) {
        int r = iothread_add_fd(io, d->notify_fd, EPOLLIN, notify_ready, d);
        if (r) {
            close(d->notify_fd);
            pthread_mutex_destroy(&d->lock);
            pthread_mutex_destroy(&d->irq_lock);
            return r;
        }
    }
    return 0;
}

void virtio_mmio_destroy(struct virtio_dev *d)
{
    if (d->notify_fd < 0)
        return;
    if (d->io)
        iothread_del_fd(d->io, d->notify_fd);
    close(d->notify_fd);
    d->notify_fd = -1;
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->irq_lock);
}

int virtio_mmio_attach(struct virtio_dev *d, struct bus *b, gpa_t base)
{
    snprintf(d->name, sizeof(d->name), "%s@%llx", d->ops->name, (unsigned long long)base);
    return bus_add_mmio(b, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, d, d->ops->name);
}

void virtio_mmio_save(struct virtio_dev *d, struct virtio_mmio_state *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&d->lock);
    out->driver_features = d->driver_features;
    out->dev_features_sel = d->dev_features_sel;
    out->drv_features_sel = d->drv_features_sel;
    out->queue_sel = d->queue_sel;
    out->status = d->status;
    out->config_gen = d->config_gen;
    out->isr = atomic_load(&d->isr);
    out->broken = d->broken;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        virtq_save(&d->vq[q], &out->vq[q]);
    pthread_mutex_unlock(&d->lock);
}

int virtio_mmio_load(struct virtio_dev *d, const struct virtio_mmio_state *in)
{
    int r = 0;
    if (in->driver_features & ~d->host_features)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    d->driver_features = in->driver_features;
    d->dev_features_sel = in->dev_features_sel;
    d->drv_features_sel = in->drv_features_sel;
    d->queue_sel = in->queue_sel;
    d->status = in->status;
    d->config_gen = in->config_gen;
    d->broken = in->broken;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES && !r; q++)
        r = virtq_load(&d->vq[q], &in->vq[q]);
    if (d->status & VIRTIO_STATUS_FEATURES_OK)
        apply_features(d);
    pthread_mutex_unlock(&d->lock);
    set_isr(d, in->isr, ~in->isr);
    return r;
}

void virtio_mmio_save_state(struct virtio_dev *d, struct state_out *o)
{
    struct virtio_mmio_state s;
    virtio_mmio_save(d, &s);
    state_put_u32(o, d->ops->device_id);
    state_put_u64(o, s.driver_features);
    state_put_u32(o, s.dev_features_sel);
    state_put_u32(o, s.drv_features_sel);
    state_put_u32(o, s.queue_sel);
    state_put_u32(o, s.status);
    state_put_u32(o, s.config_gen);
    state_put_u32(o, s.isr);
    state_put_u32(o, s.broken);
    state_put_u32(o, VIRTIO_MAX_QUEUES);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        virtq_save_state(&s.vq[q], o);
    pthread_mutex_lock(&d->lock);
    if (d->ops->save_state)
        d->ops->save_state(d, o);
    pthread_mutex_unlock(&d->lock);
}

int virtio_mmio_load_state(struct virtio_dev *d, struct state_in *in, uint32_t version)
{
    static struct virtio_mmio_state zero;
    struct virtio_mmio_state s = zero;
    uint32_t id = state_get_u32(in);
    if (state_in_status(in))
        return -EINVAL;
    if (id != d->ops->device_id)
        return state_in_fail(in, "saved virtio device id %u, this slot holds %s (id %u)", id,
                             d->ops->name, d->ops->device_id);
    s.driver_features = state_get_u64(in);
    s.dev_features_sel = state_get_u32(in);
    s.drv_features_sel = state_get_u32(in);
    s.queue_sel = state_get_u32(in);
    s.status = state_get_u32(in);
    s.config_gen = state_get_u32(in);
    s.isr = state_get_u32(in);
    s.broken = state_get_u32(in);
    if (state_get_u32(in) != VIRTIO_MAX_QUEUES)
        return state_in_fail(in, "bad queue count");
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        virtq_load_state(&s.vq[q], in);
    if (state_in_status(in))
        return -EINVAL;
    if (s.driver_features & ~d->host_features)
        return state_in_fail(in, "driver features 0x%llx not offered by this %s",
                             (unsigned long long)s.driver_features, d->ops->name);
    if (s.dev_features_sel > 1 || s.drv_features_sel > 1 || s.queue_sel >= VIRTIO_MAX_QUEUES ||
        s.status > 0xff || s.isr > 3 || s.broken > 1)
        return state_in_fail(in, "transport register out of range");
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        uint32_t num = s.vq[q].num;
        if (num > VIRTQ_MAX_SIZE || (num & (num - 1)) || s.vq[q].ready > 1 ||
            (s.vq[q].ready && !num))
            return state_in_fail(in, "queue %u: bad size %u", q, num);
    }
    if (virtio_mmio_load(d, &s))
        return state_in_fail(in, "a queue's rings lie outside guest RAM");
    int r = 0;
    pthread_mutex_lock(&d->lock);
    if (d->ops->load_state)
        r = d->ops->load_state(d, in, version);
    pthread_mutex_unlock(&d->lock);
    return r ? r : state_in_status(in);
}

void virtio_mmio_kick_queues(struct virtio_dev *d)
{
    uint32_t bits = 0;
    pthread_mutex_lock(&d->lock);
    for (unsigned q = 0; q < d->ops->nqueues; q++)
        if (virtio_mmio_queue_live_locked(d, q))
            bits |= 1u << q;
    pthread_mutex_unlock(&d->lock);
    if (!bits)
        return;
    atomic_fetch_or(&d->notify_pending, bits);
    uint64_t one = 1;
    if (write(d->notify_fd, &one, sizeof(one)) < 0) {
        /* counter saturated: the I/O thread is due to look anyway */
    }
}
