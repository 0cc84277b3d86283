/* virtio-input (virtio 1.2 section 5.8) as the board's power button: a
 * keyboard whose only key is KEY_POWER, so that Linux (virtio_input +
 * evdev) reports a press on /dev/input/eventN like any power button and
 * busybox acpid or systemd-logind shut the guest down cleanly.
 *
 * Threads: queues run on the I/O thread under the device lock (as
 * virtio_mmio.h); virtio_input_press_power takes that lock and may be
 * called from any thread (the VM's main loop). It never blocks on the
 * guest. */
#ifndef CORRAL_DEVICES_VIRTIO_INPUT_H
#define CORRAL_DEVICES_VIRTIO_INPUT_H

#include "virtio/virtio_mmio.h"

#define VIRTIO_INPUT_PENDING_MAX 64 /* events held while the driver has no buffer */

struct virtio_input;

/* Counters (GET /metrics could show them; tests read them). */
struct virtio_input_stats {
    uint64_t presses;        /* presses accepted */
    uint64_t dropped;        /* presses refused: no driver, or the queue full */
    uint32_t pending;        /* events waiting for a buffer of the driver */
};

struct virtio_input *virtio_input_create(struct gmem *mem, struct iothread *io,
                                         struct irq_line irq);
void virtio_input_destroy(struct virtio_input *in);
struct virtio_dev *virtio_input_dev(struct virtio_input *in);

/* Press and release the power button: EV_KEY KEY_POWER 1, EV_SYN, EV_KEY
 * KEY_POWER 0, EV_SYN, delivered at once into the driver's buffers or
 * held until it posts some. 0 when a driver will see it; -ENODEV when no
 * driver has the device (not DRIVER_OK, or NEEDS_RESET): nobody in the
 * guest can hear the button; -ENOSPC when earlier presses still wait. */
int virtio_input_press_power(struct virtio_input *in) WARN_UNUSED;
void virtio_input_get_stats(struct virtio_input *in, struct virtio_input_stats *out);

#endif
