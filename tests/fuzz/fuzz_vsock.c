/* virtio-vsock behind the virtio-mmio transport with real host sockets:
 * the harness brings the device to DRIVER_OK with its three queues at
 * input-chosen addresses, fills guest RAM from the input (rings, packet
 * headers, payloads), then replays records: register accesses, queue
 * notifications, host connections sending a CONNECT line, and host
 * bytes; every notification is served synchronously and the host side
 * polled (virtio_vsock_poll), as the I/O thread would. A listener on
 * "<uds>_1" takes guest connections to host port 1.
 * Input: 8-byte header (u16 queue base offsets: rx, tx, event; u16
 * unused), 8 KiB of RAM, then 8-byte records: kind (low 2 bits: 0 MMIO
 * access, 1 notify queue val % 3, 2 host connect + "CONNECT val\n",
 * 3 host write of 8 bytes to every host connection), offset (u16), value
 * (u32), flags (MMIO: bit 0 write, bits 1-2 log2 width). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio_vsock.h"
#include "virtio/virtio_mmio.h"

#include "../unit/virtio_driver.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (64 * 1024)
#define RAM_IN 8192
#define MMIO VIRTIO_MMIO_BASE
#define MAX_HOST 8

static void no_irq(void *opaque, unsigned line, bool level)
{
    (void)opaque, (void)line, (void)level;
}

static void wr(struct bus *b, gpa_t pa, uint32_t v)
{
    (void)bus_write(b, pa, 4, v);
}

static void serve(struct virtio_vsock *v)
{
    virtio_driver_serve(virtio_vsock_dev(v));
    virtio_vsock_poll(v);
}

static int unix_socket(const char *path, bool listening)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int r = listening ? bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 64)
                      : connect(s, (struct sockaddr *)&sa, sizeof(sa));
    if (r) {
        close(s);
        return -1;
    }
    return s;
}

static char dir[] = "/tmp/fuzz_vsock.XXXXXX", uds[64], port1[80];

/* The sockets' directory goes at exit (the device's socket is removed
 * by destroy, which a fuzzer never reaches). */
static void remove_dir(void)
{
    unlink(uds);
    unlink(port1);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bus bus;
    static struct virtio_vsock *vs;
    static int listener = -1;
    if (!vs) {
        char err[256] = "";
        if (!mkdtemp(dir) || gmem_init(&bus.ram, RAM_BASE, RAM_SIZE))
            return 0;
        atexit(remove_dir);
        snprintf(uds, sizeof(uds), "%s/v", dir);
        snprintf(port1, sizeof(port1), "%s_1", uds);
        listener = unix_socket(port1, true);
        vs = virtio_vsock_create(3, uds, &bus.ram, NULL, (struct irq_line){ .set = no_irq }, err,
                                 sizeof(err));
        if (!vs || listener < 0 || virtio_mmio_attach(virtio_vsock_dev(vs), &bus, MMIO)) {
            fprintf(stderr, "fuzz_vsock: setup: %s\n", err);
            abort();
        }
    }
    uint16_t hdr[4];
    if (!virtio_driver_take_input(&bus.ram, data, size, RAM_IN, hdr))
        return 0;
    /* Reset, negotiate VERSION_1, queues at the header's offsets. */
    wr(&bus, MMIO + 0x070, 0);
    wr(&bus, MMIO + 0x070, 3);
    wr(&bus, MMIO + 0x024, 1);
    wr(&bus, MMIO + 0x020, 1);
    wr(&bus, MMIO + 0x070, 11);
    for (unsigned q = 0; q < 3; q++) {
        gpa_t at = RAM_BASE + (hdr[q] % RAM_IN & ~0xfu);
        wr(&bus, MMIO + 0x030, q);
        wr(&bus, MMIO + 0x038, 16);
        wr(&bus, MMIO + 0x080, (uint32_t)at);
        wr(&bus, MMIO + 0x084, (uint32_t)(at >> 32));
        wr(&bus, MMIO + 0x090, (uint32_t)(at + 0x100));
        wr(&bus, MMIO + 0x094, (uint32_t)((at + 0x100) >> 32));
        wr(&bus, MMIO + 0x0a0, (uint32_t)(at + 0x200));
        wr(&bus, MMIO + 0x0a4, (uint32_t)((at + 0x200) >> 32));
        wr(&bus, MMIO + 0x044, 1);
    }
    wr(&bus, MMIO + 0x070, 15);
    for (unsigned q = 0; q < 3; q++)
        wr(&bus, MMIO + 0x050, q);
    serve(vs);
    int host[MAX_HOST];
    unsigned nhost = 0;
    for (size_t i = 8 + RAM_IN; i + 8 <= size; i += 8) {
        uint16_t off;
        uint32_t val;
        memcpy(&off, data + i + 1, 2);
        memcpy(&val, data + i + 3, 4);
        uint8_t flags = data[i + 7];
        switch (data[i] & 3) {
        case 0: {
            gpa_t pa = MMIO + off % VIRTIO_MMIO_SIZE;
            unsigned width = 1u << (flags >> 1 & 3);
            uint64_t got;
            if (flags & 1)
                (void)bus_write(&bus, pa, width, val);
            else
                (void)bus_read(&bus, pa, width, &got);
            break;
        }
        case 1:
            wr(&bus, MMIO + 0x050, val % 3);
            break;
        case 2:
            if (nhost < MAX_HOST && (host[nhost] = unix_socket(uds, false)) >= 0) {
                char line[32];
                int k = snprintf(line, sizeof(line), "CONNECT %u\n", val);
                (void)!send(host[nhost++], line, (size_t)k, MSG_NOSIGNAL);
            }
            break;
        case 3:
            for (unsigned h = 0; h < nhost; h++)
                (void)!send(host[h], data + i, 8, MSG_NOSIGNAL | MSG_DONTWAIT);
            break;
        }
        serve(vs);
    }
    for (unsigned h = 0; h < nhost; h++)
        close(host[h]);
    int c;
    while ((c = accept(listener, NULL, NULL)) >= 0)
        close(c);
    return 0;
}
