/* virtio-blk, virtio-rng and virtio-input (the power button) behind the
 * virtio-mmio transport: the harness brings each device to DRIVER_OK with
 * its queues at input-chosen addresses, fills guest RAM from the input,
 * then replays fuzzed register accesses; every queue notification is
 * served synchronously (as the I/O thread would), so the request parsers
 * see hostile chains. virtio-net needs a network backend and is not
 * covered here.
 * Input: 8-byte header (queue base offsets: blk, rng, input), 8 KiB of
 * RAM, then 8-byte records: device (low 2 bits: 0 blk, 1 rng, 2 input,
 * 3 press the power button), offset (u16), value (u32), and a flags byte. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_input.h"
#include "devices/virtio_rng.h"
#include "virtio/virtio_mmio.h"

#include "../unit/virtio_driver.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (64 * 1024)
#define RAM_IN 8192
#define BLK_MMIO VIRTIO_MMIO_BASE
#define RNG_MMIO (VIRTIO_MMIO_BASE + VIRTIO_MMIO_SIZE)
#define INPUT_MMIO (VIRTIO_MMIO_BASE + 2 * VIRTIO_MMIO_SIZE)

static void no_irq(void *opaque, unsigned line, bool level)
{
    (void)opaque, (void)line, (void)level;
}

static void wr(struct bus *b, gpa_t pa, uint32_t v)
{
    (void)bus_write(b, pa, 4, v);
}

/* As the I/O thread's notify handler does. */
static void serve(struct virtio_dev *d)
{
    virtio_driver_serve(d);
}

static void bring_up(struct bus *b, gpa_t mmio, unsigned nq, uint16_t base)
{
    wr(b, mmio + 0x070, 0);
    wr(b, mmio + 0x070, 1);
    wr(b, mmio + 0x070, 3);
    wr(b, mmio + 0x024, 1);
    wr(b, mmio + 0x020, 1); /* VERSION_1 */
    wr(b, mmio + 0x070, 11);
    for (unsigned q = 0; q < nq; q++) {
        gpa_t at = RAM_BASE + (base % RAM_IN & ~0xfu) + q * 0x400;
        wr(b, mmio + 0x030, q);
        wr(b, mmio + 0x038, 16);
        wr(b, mmio + 0x080, (uint32_t)at);
        wr(b, mmio + 0x084, (uint32_t)(at >> 32));
        wr(b, mmio + 0x090, (uint32_t)(at + 0x100));
        wr(b, mmio + 0x094, (uint32_t)((at + 0x100) >> 32));
        wr(b, mmio + 0x0a0, (uint32_t)(at + 0x200));
        wr(b, mmio + 0x0a4, (uint32_t)((at + 0x200) >> 32));
        wr(b, mmio + 0x044, 1);
    }
    wr(b, mmio + 0x070, 15);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bus bus;
    static struct virtio_blk *blk;
    static struct virtio_rng *rng;
    static struct virtio_input *input;
    static bool init;
    if (!init) {
        if (gmem_init(&bus.ram, RAM_BASE, RAM_SIZE))
            return 0;
        int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
            return 0;
        char path[64], err[256];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        struct blk_backend *be;
        if (blk_open(path, "raw", false, &be, err, sizeof(err)))
            return 0;
        struct irq_line irq = { .set = no_irq };
        blk = virtio_blk_create(be, "fuzz", &bus.ram, NULL, irq);
        rng = virtio_rng_create(&bus.ram, NULL, irq);
        input = virtio_input_create(&bus.ram, NULL, irq);
        if (!blk || !rng || !input || virtio_mmio_attach(virtio_blk_dev(blk), &bus, BLK_MMIO) ||
            virtio_mmio_attach(virtio_rng_dev(rng), &bus, RNG_MMIO) ||
            virtio_mmio_attach(virtio_input_dev(input), &bus, INPUT_MMIO))
            return 0;
        init = true;
    }
    uint16_t hdr[4];
    if (!virtio_driver_take_input(&bus.ram, data, size, RAM_IN, hdr))
        return 0;
    struct virtio_dev *devs[3] = { virtio_blk_dev(blk), virtio_rng_dev(rng),
                                   virtio_input_dev(input) };
    const gpa_t mmio[3] = { BLK_MMIO, RNG_MMIO, INPUT_MMIO };
    bring_up(&bus, BLK_MMIO, 1, hdr[0]);
    bring_up(&bus, RNG_MMIO, 1, hdr[1]);
    bring_up(&bus, INPUT_MMIO, 2, hdr[2]);
    /* Every device looks at its queues once, as if notified; the power
     * button has a press to deliver into whatever chains RAM holds. */
    wr(&bus, BLK_MMIO + 0x050, 0);
    wr(&bus, RNG_MMIO + 0x050, 0);
    wr(&bus, INPUT_MMIO + 0x050, 1);
    (void)!virtio_input_press_power(input);
    for (unsigned k = 0; k < 3; k++)
        serve(devs[k]);
    for (size_t i = 8 + RAM_IN; i + 8 <= size; i += 8) {
        unsigned d = data[i] & 3;
        if (d == 3) {
            (void)!virtio_input_press_power(input);
            serve(devs[2]);
            continue;
        }
        uint16_t off;
        uint32_t val;
        memcpy(&off, data + i + 1, 2);
        memcpy(&val, data + i + 3, 4);
        uint8_t flags = data[i + 7];
        gpa_t pa = mmio[d] + off % VIRTIO_MMIO_SIZE;
        unsigned width = 1u << (flags >> 1 & 3);
        if (flags & 1) {
            (void)bus_write(&bus, pa, width, val);
        } else {
            uint64_t got;
            (void)bus_read(&bus, pa, width, &got);
        }
        serve(devs[d]);
    }
    return 0;
}
