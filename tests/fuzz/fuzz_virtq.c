/* The virtqueue walker on hostile rings: the input is guest RAM (rings,
 * descriptor tables, indirect tables) plus a header choosing the queue
 * size, ring addresses and negotiated features. virtq_pop must refuse
 * what is malformed (-EINVAL) and never read or write outside RAM. */
#include <stdint.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define BASE 0x80000000ULL
#define RAM (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gmem mem;
    static bool init;
    static struct virtq_chain chain;
    char err[256];
    if (!init) {
        if (gmem_init(&mem, BASE, RAM))
            return 0;
        init = true;
    }
    if (size < 16)
        return 0;
    uint16_t hdr[8];
    memcpy(hdr, data, 16);
    uint8_t *ram = gmem_ptr(&mem, BASE, RAM);
    size_t n = size - 16 < RAM ? size - 16 : RAM;
    memset(ram, 0, RAM);
    memcpy(ram, data + 16, n);

    struct virtq q;
    virtq_init(&q, &mem);
    virtq_reset(&q, 256);
    q.num = 1u << (hdr[0] % 9); /* 1 .. 256 */
    /* Addresses may point anywhere near RAM, including past its end. */
    q.desc_gpa = BASE - 0x100 + hdr[1] * 2ULL;
    q.avail_gpa = BASE - 0x100 + hdr[2] * 2ULL;
    q.used_gpa = BASE - 0x100 + hdr[3] * 2ULL;
    q.indirect = hdr[4] & 1;
    q.event_idx = hdr[4] & 2;
    q.last_avail = hdr[5];
    q.used_idx = hdr[6];
    if (virtq_enable(&q, err, sizeof(err)))
        return 0;
    for (int i = 0; i < 64; i++) {
        int r = virtq_pop(&q, &chain, err, sizeof(err));
        if (r <= 0)
            break;
        uint8_t buf[64];
        size_t got = virtq_chain_read(&chain, hdr[7] % 128, buf, sizeof(buf));
        size_t put = virtq_chain_write(&mem, &chain, 0, buf, got);
        virtq_push(&q, &chain, (uint32_t)put);
        (void)virtq_need_notify(&q);
    }
    return 0;
}
