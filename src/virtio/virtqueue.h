/* Split virtqueues (virtio 1.2, section 2.7): the device side. A driver
 * in the guest publishes descriptor chains in the available ring; the
 * device pops them, reads/writes their buffers and returns them through
 * the used ring. Everything read from guest RAM is hostile: every
 * descriptor address and length, every ring index and the ring addresses
 * themselves are checked against guest RAM, and loops, over-long chains,
 * nested or misplaced indirect tables and readable-after-writable buffers
 * are reported as errors (the transport then sets DEVICE_NEEDS_RESET).
 *
 * Guest RAM is little-endian and so is the host (x86-64, riscv64, arm64).
 * Threads: a queue is used by one thread at a time (the device's lock). */
#ifndef CORRAL_VIRTIO_VIRTQUEUE_H
#define CORRAL_VIRTIO_VIRTQUEUE_H

#include "core/types.h"
#include "mem/gmem.h"

#define VIRTQ_MAX_SIZE 1024  /* QueueNumMax offered to drivers */
#define VIRTQ_MAX_CHAIN 1024 /* descriptors in one chain, indirect included */

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* One queue: what the driver programmed plus the device's ring cursors. */
struct virtq {
    struct gmem *mem;
    uint32_t num;          /* queue size, a power of 2 <= VIRTQ_MAX_SIZE */
    bool ready;
    bool event_idx;        /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;         /* VIRTIO_F_INDIRECT_DESC negotiated */
    gpa_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail;   /* next available-ring slot to pop */
    uint16_t used_idx;     /* our copy of used->idx */
    uint16_t signalled;    /* used_idx when the driver was last considered */
    /* Host pointers derived from the gpas by virtq_enable (never saved). */
    uint8_t *desc, *avail, *used;
    /* Metrics (never saved; kept across device resets): chains completed,
     * bytes the device read from and wrote into guest buffers. */
    struct virtq_stats {
        _Atomic uint64_t requests, bytes_read, bytes_written;
    } stats;
};

/* A popped chain: device-readable segments first (`nout`), then
 * device-writable (`nin`). Host pointers are valid while RAM is mapped. */
struct virtq_seg {
    uint8_t *host;
    gpa_t gpa;
    uint32_t len;
};

struct virtq_chain {
    uint16_t head;
    unsigned nout, nin;
    uint64_t out_len, in_len;
    struct virtq_seg seg[VIRTQ_MAX_CHAIN];
};

/* Saved state of one queue. */
struct virtq_state {
    uint32_t num;
    uint32_t ready;
    uint64_t desc, avail, used;
    uint16_t last_avail, used_idx, signalled, pad;
};

void virtq_init(struct virtq *q, struct gmem *mem);
/* Back to the reset state (size num_max, nothing programmed). */
void virtq_reset(struct virtq *q, uint32_t num_max);
/* The driver set QueueReady = 1: check the rings lie in RAM with the
 * alignment the spec requires. -EINVAL with a reason in `err`. */
int virtq_enable(struct virtq *q, char *err, size_t errlen) WARN_UNUSED;

/* Pop the next chain. 1: one popped into `c`; 0: none available; -EINVAL:
 * malformed (reason in `err`; the queue must not be used again until
 * reset). With EVENT_IDX an empty ring re-arms avail_event. */
int virtq_pop(struct virtq *q, struct virtq_chain *c, char *err, size_t errlen) WARN_UNUSED;
/* Put the chain just popped back (a rate-limited device takes it again
 * later); the guest cannot tell it was ever popped. */
void virtq_unpop(struct virtq *q);
/* Return a chain with `written` bytes put into its writable segments. */
void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written);
/* After one or more pushes: does the driver want an interrupt now? */
bool virtq_need_notify(struct virtq *q);
/* Does the ring hold chains not yet popped? (reads guest RAM) */
bool virtq_has_avail(struct virtq *q);

/* Copy helpers over a chain's readable / writable segments, from a byte
 * offset. Return bytes copied (short when the chain is shorter). */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len);
size_t virtq_chain_write(struct gmem *mem, const struct virtq_chain *c, size_t off,
                         const void *buf, size_t len);

void virtq_save(const struct virtq *q, struct virtq_state *out);
/* Restore; -EINVAL when the saved rings do not fit in RAM. */
int virtq_load(struct virtq *q, const struct virtq_state *in) WARN_UNUSED;

/* Explicit encoding of one queue inside the transport's section:
 * u32 num, u32 ready, u64 desc, avail, used, u16 last_avail, used_idx,
 * signalled. Decoding only fills `s` (the caller validates). */
struct state_out;
struct state_in;
void virtq_save_state(const struct virtq_state *s, struct state_out *o);
void virtq_load_state(struct virtq_state *s, struct state_in *in);

#endif
