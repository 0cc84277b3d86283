/* The virt board's device table (virt.h): one entry per device with its
 * place on the board and the generic ops the machine uses for reset, the
 * device tree, save, load and metrics, so snapshot, migration, reset, the
 * device tree and GET /metrics walk one list instead of knowing every kind. */
#include "machine/virt.h"

#include <errno.h>
#include <stdio.h>

#include "devices/clint.h"
#include "devices/goldfish_rtc.h"
#include "devices/plic.h"
#include "devices/sifive_test.h"
#include "devices/uart16550.h"
#include "machine/memmap.h"
#include "virtio/virtio_mmio.h"

static void clint_reset_op(void *d) { clint_reset(d); }
static void clint_save_op(void *d, struct state_out *o) { clint_save_state(d, o); }
static int clint_load_op(void *d, struct state_in *in, uint32_t v)
{
    return clint_load_state(d, in, v);
}
static const struct machine_device_ops clint_dev_ops = {
    .kind = "clint", .fdt_node = fdt_node_clint, .state_version = CLINT_STATE_VERSION,
    .reset = clint_reset_op, .save = clint_save_op, .load = clint_load_op,
};

static void plic_reset_op(void *d) { plic_reset(d); }
static void plic_save_op(void *d, struct state_out *o) { plic_save_state(d, o); }
static int plic_load_op(void *d, struct state_in *in, uint32_t v)
{
    return plic_load_state(d, in, v);
}
static const struct machine_device_ops plic_dev_ops = {
    .kind = "plic", .fdt_node = fdt_node_plic, .state_version = PLIC_STATE_VERSION,
    .reset = plic_reset_op, .save = plic_save_op, .load = plic_load_op,
};

static void uart_reset_op(void *d) { uart_reset(d); }
static void uart_save_op(void *d, struct state_out *o) { uart_save_state(d, o); }
static int uart_load_op(void *d, struct state_in *in, uint32_t v)
{
    return uart_load_state(d, in, v);
}
static const struct machine_device_ops uart_dev_ops = {
    .kind = "uart", .fdt_node = fdt_node_uart, .state_version = UART_STATE_VERSION,
    .reset = uart_reset_op, .save = uart_save_op, .load = uart_load_op,
};

static void rtc_save_op(void *d, struct state_out *o) { goldfish_rtc_save_state(d, o); }
static int rtc_load_op(void *d, struct state_in *in, uint32_t v)
{
    return goldfish_rtc_load_state(d, in, v);
}
static const struct machine_device_ops rtc_dev_ops = {
    .kind = "rtc", .fdt_node = fdt_node_rtc, .state_version = GOLDFISH_RTC_STATE_VERSION,
    .save = rtc_save_op, .load = rtc_load_op,
};

static void test_save_op(void *d, struct state_out *o) { sifive_test_save_state(d, o); }
static int test_load_op(void *d, struct state_in *in, uint32_t v)
{
    return sifive_test_load_state(d, in, v);
}
static const struct machine_device_ops test_dev_ops = {
    .kind = "test-finisher", .fdt_node = fdt_node_test, .state_version = SIFIVE_TEST_STATE_VERSION,
    .save = test_save_op, .load = test_load_op,
};

static void virtio_reset_op(void *d) { virtio_mmio_reset(d); }
static void virtio_save_op(void *d, struct state_out *o) { virtio_mmio_save_state(d, o); }
static int virtio_load_op(void *d, struct state_in *in, uint32_t v)
{
    return virtio_mmio_load_state(d, in, v);
}
static void emit_metric(void *ctx, const char *name, uint64_t value)
{
    machine_metric(ctx, name, value);
}
/* Requests completed and bytes moved, summed over the queues, then the
 * device's own counters. */
static void virtio_metrics_op(const void *dev, struct machine_metrics *out)
{
    const struct virtio_dev *d = dev;
    uint64_t req = 0, rdb = 0, wrb = 0;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        req += atomic_load_explicit(&d->vq[q].stats.requests, memory_order_relaxed);
        rdb += atomic_load_explicit(&d->vq[q].stats.bytes_read, memory_order_relaxed);
        wrb += atomic_load_explicit(&d->vq[q].stats.bytes_written, memory_order_relaxed);
    }
    out->label = d->name;
    machine_metric(out, "requests", req);
    machine_metric(out, "bytes_read", rdb);
    machine_metric(out, "bytes_written", wrb);
    if (d->ops->counters)
        d->ops->counters(d, emit_metric, out);
}
static const struct machine_device_ops virtio_dev_ops = {
    .kind = "virtio", .fdt_node = fdt_node_virtio, .state_version = VIRTIO_STATE_VERSION,
    .reset = virtio_reset_op, .save = virtio_save_op, .load = virtio_load_op,
    .metrics = virtio_metrics_op,
};

void machine_metric(struct machine_metrics *out, const char *name, uint64_t value)
{
    if (out->n < MACHINE_MAX_METRICS) {
        out->m[out->n].name = name;
        out->m[out->n].value = value;
        out->n++;
    }
}

static int add(struct machine *m, const char *name, const struct machine_device_ops *ops,
               void *dev, gpa_t base, uint64_t size, uint32_t irq)
{
    if (m->ndevices >= MACHINE_MAX_DEVICES)
        return -ENOSPC;
    struct machine_device *d = &m->devices[m->ndevices++];
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->ops = ops;
    d->dev = dev;
    d->base = base;
    d->size = size;
    d->irq = irq;
    return 0;
}

static int add_region(struct machine *m, const char *name, const struct machine_device_ops *ops,
                      void *dev, enum virt_region r)
{
    return add(m, name, ops, dev, virt_memmap[r].base, virt_memmap[r].size, virt_memmap[r].irq);
}

int machine_build_device_table(struct machine *m)
{
    int r;
    m->ndevices = 0;
    if ((r = add_region(m, "test-finisher", &test_dev_ops, m->finisher, VIRT_TEST)) ||
        (r = add_region(m, "rtc", &rtc_dev_ops, m->rtc, VIRT_RTC)) ||
        (r = add_region(m, "uart", &uart_dev_ops, m->uart, VIRT_UART0)))
        return r;
    /* Ascending slots: Linux probes nodes in blob order, so slot 0 becomes
     * virtio0 and the first disk /dev/vda. */
    for (unsigned i = 0; i < m->nvirtio; i++) {
        char name[24];
        snprintf(name, sizeof(name), "virtio.%u", i);
        if ((r = add(m, name, &virtio_dev_ops, m->virtio[i], virt_virtio_base(i),
                     virt_memmap[VIRT_VIRTIO].size, virt_virtio_irq(i))))
            return r;
    }
    if ((r = add_region(m, "clint", &clint_dev_ops, m->clint, VIRT_CLINT)) ||
        (r = add_region(m, "plic", &plic_dev_ops, m->plic, VIRT_PLIC)))
        return r;
    return 0;
}

void machine_reset_devices(struct machine *m)
{
    for (unsigned i = 0; i < m->ndevices; i++)
        if (m->devices[i].ops->reset)
            m->devices[i].ops->reset(m->devices[i].dev);
}
