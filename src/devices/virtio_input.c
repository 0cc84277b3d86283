/* virtio-input (virtio 1.2 section 5.8), device ID 18: the power button.
 *
 * Config space (struct virtio_input_config, <linux/virtio_input.h>):
 *   0 select, 1 subsel  written by the driver; the device then fills
 *   2 size              bytes of `u` that answer (0: nothing to say)
 *   8 u[128]            string, bitmap or devids
 * What it answers:
 *   ID_NAME "Corral power button", ID_SERIAL "corral-power0",
 *   ID_DEVIDS {BUS_VIRTUAL, vendor 0, product 1, version 1},
 *   PROP_BITS none, EV_BITS: EV_SYN {SYN_REPORT}, EV_KEY {KEY_POWER};
 *   every other select (ABS_INFO, other event types) size 0.
 *
 * Queues: 0 eventq, buffers the driver posts for the device to fill with
 * one struct virtio_input_event (8 bytes) each; 1 statusq, buffers from
 * the driver (LEDs and the like), consumed and ignored. Events the driver
 * has no buffer for yet wait in a small FIFO, flushed when it posts some;
 * a device reset drops them (they were meant for the driver instance
 * that was there).
 *
 * Why a power button and no Ctrl-Alt-Del key: Firecracker's SendCtrlAltDel
 * makes an x86 guest reboot, which ends a Firecracker VM. Here the same
 * request must end the VM too, and a Linux guest takes Ctrl-Alt-Del as a
 * reboot (Corral reboots in place) or, with a shell as PID 1 and the
 * kernel's default C_A_D, as an immediate unsynced restart. So both
 * Shutdown and SendCtrlAltDel press KEY_POWER (vm/vm.c); a systemd guest
 * handles it through systemd-logind (udev tags key devices
 * "power-switch"; HandlePowerKey=poweroff by default), busybox through
 * acpid (guest/acpid.conf). */
#include "devices/virtio_input.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <linux/input.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_input.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

#define INPUT_NAME "Corral power button"
#define INPUT_SERIAL "corral-power0"

enum { EVENTQ, STATUSQ, INPUT_NQUEUES };

struct virtio_input {
    struct virtio_dev vdev; /* first */
    struct virtq_chain chain;
    struct virtio_input_event fifo[VIRTIO_INPUT_PENDING_MAX];
    uint32_t head, count;   /* FIFO of events waiting for a buffer */
    uint64_t presses, dropped;
};

static struct virtio_input_config *cfg(struct virtio_dev *d)
{
    return (struct virtio_input_config *)d->config;
}

static void set_bit_in(uint8_t *bitmap, unsigned bit)
{
    bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* Fill `size` and `u` for the current select/subsel (5.8.5). */
static void answer_select(struct virtio_dev *d)
{
    struct virtio_input_config *c = cfg(d);
    memset(&c->u, 0, sizeof(c->u));
    c->size = 0;
    switch (c->select) {
    case VIRTIO_INPUT_CFG_ID_NAME:
        if (c->subsel == 0) {
            memcpy(c->u.string, INPUT_NAME, strlen(INPUT_NAME));
            c->size = (uint8_t)strlen(INPUT_NAME);
        }
        break;
    case VIRTIO_INPUT_CFG_ID_SERIAL:
        if (c->subsel == 0) {
            memcpy(c->u.string, INPUT_SERIAL, strlen(INPUT_SERIAL));
            c->size = (uint8_t)strlen(INPUT_SERIAL);
        }
        break;
    case VIRTIO_INPUT_CFG_ID_DEVIDS:
        if (c->subsel == 0) {
            struct virtio_input_devids ids = {
                .bustype = BUS_VIRTUAL, .vendor = 0, .product = 1, .version = 1,
            };
            memcpy(&c->u.ids, &ids, sizeof(ids)); /* little-endian host */
            c->size = sizeof(ids);
        }
        break;
    case VIRTIO_INPUT_CFG_EV_BITS:
        if (c->subsel == EV_SYN) {
            set_bit_in(c->u.bitmap, SYN_REPORT);
            c->size = SYN_REPORT / 8 + 1;
        } else if (c->subsel == EV_KEY) {
            set_bit_in(c->u.bitmap, KEY_POWER);
            c->size = KEY_POWER / 8 + 1;
        }
        break;
    default: /* UNSET, PROP_BITS (no properties), ABS_INFO (no axes) */
        break;
    }
}

static void input_config_write(struct virtio_dev *d, uint32_t off, const void *buf,
                               unsigned len)
{
    /* Only select and subsel are the driver's; the rest is read-only. */
    const uint8_t *p = buf;
    for (unsigned i = 0; i < len; i++) {
        if (off + i == offsetof(struct virtio_input_config, select))
            cfg(d)->select = p[i];
        else if (off + i == offsetof(struct virtio_input_config, subsel))
            cfg(d)->subsel = p[i];
    }
    answer_select(d);
}

/* Move waiting events into the driver's buffers. Lock held. */
static void flush_events(struct virtio_input *in)
{
    struct virtio_dev *d = &in->vdev;
    struct virtq *q = &d->vq[EVENTQ];
    char why[200];
    bool pushed = false;
    if (!virtio_mmio_queue_live_locked(d, EVENTQ))
        return;
    while (in->count) {
        int k = virtq_pop(q, &in->chain, why, sizeof(why));
        if (k == 0)
            break;
        if (k < 0) {
            virtio_mmio_queue_error_locked(d, EVENTQ, why);
            return;
        }
        const struct virtq_chain *c = &in->chain;
        uint32_t written = 0;
        /* A buffer too small for an event goes back empty; the event
         * waits for the next one. */
        if (c->in_len >= sizeof(struct virtio_input_event)) {
            const struct virtio_input_event *e = &in->fifo[in->head];
            written = (uint32_t)virtq_chain_write(d->mem, c, 0, e, sizeof(*e));
            in->head = (in->head + 1) % VIRTIO_INPUT_PENDING_MAX;
            in->count--;
        }
        virtq_push(q, c, written);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, EVENTQ);
}

/* Status buffers (LED state and the like): nothing here to light. */
static void drain_status(struct virtio_input *in)
{
    struct virtio_dev *d = &in->vdev;
    struct virtq *q = &d->vq[STATUSQ];
    char why[200];
    bool pushed = false;
    for (;;) {
        int k = virtq_pop(q, &in->chain, why, sizeof(why));
        if (k == 0)
            break;
        if (k < 0) {
            virtio_mmio_queue_error_locked(d, STATUSQ, why);
            return;
        }
        virtq_push(q, &in->chain, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, STATUSQ);
}

static void input_queue_notify(struct virtio_dev *d, unsigned qi)
{
    struct virtio_input *in = (struct virtio_input *)d;
    if (qi == EVENTQ)
        flush_events(in);
    else if (qi == STATUSQ)
        drain_status(in);
}

static void input_reset(struct virtio_dev *d)
{
    struct virtio_input *in = (struct virtio_input *)d;
    in->head = in->count = 0;
    cfg(d)->select = cfg(d)->subsel = 0;
    answer_select(d);
}

/* Linux posts its event buffers right after DRIVER_OK; a driver that
 * posted them before gets what waits now. */
static void input_driver_ok(struct virtio_dev *d)
{
    flush_events((struct virtio_input *)d);
}

static void push_event(struct virtio_input *in, uint16_t type, uint16_t code, uint32_t value)
{
    uint32_t tail = (in->head + in->count) % VIRTIO_INPUT_PENDING_MAX;
    in->fifo[tail] = (struct virtio_input_event){ .type = type, .code = code, .value = value };
    in->count++;
}

int virtio_input_press_power(struct virtio_input *in)
{
    struct virtio_dev *d = &in->vdev;
    int r = 0;
    pthread_mutex_lock(&d->lock);
    if (!(d->status & VIRTIO_STATUS_DRIVER_OK) || d->broken) {
        r = -ENODEV;
    } else if (in->count > VIRTIO_INPUT_PENDING_MAX - 4) {
        r = -ENOSPC;
    } else {
        push_event(in, EV_KEY, KEY_POWER, 1);
        push_event(in, EV_SYN, SYN_REPORT, 0);
        push_event(in, EV_KEY, KEY_POWER, 0);
        push_event(in, EV_SYN, SYN_REPORT, 0);
        in->presses++;
        flush_events(in);
    }
    if (r)
        in->dropped++;
    pthread_mutex_unlock(&d->lock);
    return r;
}

void virtio_input_get_stats(struct virtio_input *in, struct virtio_input_stats *out)
{
    pthread_mutex_lock(&in->vdev.lock);
    out->presses = in->presses;
    out->dropped = in->dropped;
    out->pending = in->count;
    pthread_mutex_unlock(&in->vdev.lock);
}

/* ---- saved state (after the transport's fields, virtio_mmio_save_state):
 * u8 select, u8 subsel, u64 presses, u64 dropped, u32 count, per waiting
 * event {u16 type, u16 code, u32 value}, oldest first. */
static void input_save_state(struct virtio_dev *d, struct state_out *o)
{
    struct virtio_input *in = (struct virtio_input *)d;
    state_put_u8(o, cfg(d)->select);
    state_put_u8(o, cfg(d)->subsel);
    state_put_u64(o, in->presses);
    state_put_u64(o, in->dropped);
    state_put_u32(o, in->count);
    for (uint32_t i = 0; i < in->count; i++) {
        const struct virtio_input_event *e = &in->fifo[(in->head + i) % VIRTIO_INPUT_PENDING_MAX];
        state_put_u16(o, e->type);
        state_put_u16(o, e->code);
        state_put_u32(o, e->value);
    }
}

/* Only what this device can produce: the power key pressed or released,
 * and SYN_REPORT. */
static bool event_ok(const struct virtio_input_event *e)
{
    if (e->type == EV_KEY)
        return e->code == KEY_POWER && e->value <= 1;
    return e->type == EV_SYN && e->code == SYN_REPORT && e->value == 0;
}

static int input_load_state(struct virtio_dev *d, struct state_in *sin, uint32_t version)
{
    (void)version;
    struct virtio_input *in = (struct virtio_input *)d;
    uint8_t select = state_get_u8(sin), subsel = state_get_u8(sin);
    uint64_t presses = state_get_u64(sin), dropped = state_get_u64(sin);
    uint32_t count = state_get_u32(sin);
    if (state_in_status(sin))
        return -EINVAL;
    if (count > VIRTIO_INPUT_PENDING_MAX)
        return state_in_fail(sin, "%u waiting input events; at most %d", count,
                             VIRTIO_INPUT_PENDING_MAX);
    struct virtio_input_event fifo[VIRTIO_INPUT_PENDING_MAX];
    for (uint32_t i = 0; i < count; i++) {
        fifo[i].type = state_get_u16(sin);
        fifo[i].code = state_get_u16(sin);
        fifo[i].value = state_get_u32(sin);
        if (state_in_status(sin))
            return -EINVAL;
        if (!event_ok(&fifo[i]))
            return state_in_fail(sin, "input event %u: type %u code %u value %u is not "
                                 "the power button's", i, fifo[i].type, fifo[i].code,
                                 fifo[i].value);
    }
    memcpy(in->fifo, fifo, count * sizeof(fifo[0]));
    in->head = 0;
    in->count = count;
    in->presses = presses;
    in->dropped = dropped;
    cfg(d)->select = select;
    cfg(d)->subsel = subsel;
    answer_select(d);
    return 0;
}

static const struct virtio_dev_ops input_ops = {
    .name = "virtio-input",
    .device_id = VIRTIO_ID_INPUT,
    .nqueues = INPUT_NQUEUES,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
    .config_write = input_config_write,
    .driver_ok = input_driver_ok,
    .save_state = input_save_state,
    .load_state = input_load_state,
};

struct virtio_input *virtio_input_create(struct gmem *mem, struct iothread *io,
                                         struct irq_line irq)
{
    struct virtio_input *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    _Static_assert(sizeof(struct virtio_input_config) <= VIRTIO_CONFIG_MAX, "config space");
    if (virtio_mmio_init(&in->vdev, &input_ops, 0, mem, io, irq,
                         sizeof(struct virtio_input_config))) {
        free(in);
        return NULL;
    }
    answer_select(&in->vdev);
    return in;
}

void virtio_input_destroy(struct virtio_input *in)
{
    if (!in)
        return;
    virtio_mmio_destroy(&in->vdev);
    free(in);
}

struct virtio_dev *virtio_input_dev(struct virtio_input *in)
{
    return &in->vdev;
}
