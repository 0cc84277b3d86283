/* virtio-blk (virtio 1.2 section 5.2). One request queue. A request is a
 * chain: a 16-byte device-readable header {u32 type, u32 reserved,
 * u64 sector}, data (readable for writes, writable for reads), and one
 * device-writable status byte at the very end. Requests run on the I/O
 * thread straight between guest RAM and the backend (preadv/pwritev on
 * host pointers into RAM).
 *
 * Config space (little-endian, byte offsets):
 *   0 capacity u64 (512-byte sectors)   12 seg_max u32   20 blk_size u32
 *   24 physical_block_exp u8  25 alignment_offset u8  26 min_io_size u16
 *   28 opt_io_size u32   36 max_discard_sectors u32  40 max_discard_seg u32
 *   44 discard_sector_alignment u32  48 max_write_zeroes_sectors u32
 *   52 max_write_zeroes_seg u32  56 write_zeroes_may_unmap u8
 * A chain with no header or no writable status byte is malformed (the
 * device cannot even report an error): NEEDS_RESET. Anything else wrong
 * with a request (out of range, write to a readonly disk, bad length)
 * completes it with VIRTIO_BLK_S_IOERR/UNSUPP.
 *
 * Rate limiting (core/ratelimit.h): a read or write costs its data bytes
 * and one op, any other request one op. When the buckets cannot pay for
 * the next request it goes back into the ring (the guest cannot tell) and
 * the queue rests until a timer on the I/O thread says the tokens are
 * there; notifications meanwhile are ignored. No thread ever sleeps. */
#include "devices/virtio_blk.h"

#include "block/blk_dirty.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ratelimit.h"
#include "state/state.h"

enum {
    F_SEG_MAX = 2, F_RO = 5, F_BLK_SIZE = 6, F_FLUSH = 9, F_TOPOLOGY = 10,
    F_DISCARD = 13, F_WRITE_ZEROES = 14,
};
enum {
    T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13,
};
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

#define SECTOR 512ULL
#define CONFIG_LEN 60
#define MAX_RANGES 32          /* discard / write-zeroes segments per request */
#define MAX_RANGE_SECTORS (1u << 22) /* 2 GiB per range */

struct virtio_blk {
    struct virtio_dev vdev; /* first: ops get a virtio_dev */
    struct blk_backend *be;
    uint64_t capacity;      /* sectors */
    char serial[VIRTIO_BLK_ID_BYTES];
    struct virtq_chain chain;
    struct iovec iov[VIRTQ_MAX_CHAIN];
    /* Under vdev.lock. The timer is NULL without an I/O thread (then no
     * limit applies: nothing could wake the queue). A new limit arrives in
     * the mailbox and is taken up on the I/O thread. */
    struct ratelimit rl;
    struct iothread_timer *rl_timer;
    bool throttled;         /* waiting for rl_timer */
    struct ratelimit_mailbox rl_new;
    /* Storage migration (virtio_blk_track_*): the changed-chunk map the
     * write paths mark (set and cleared under vdev.lock), and one copy
     * request at a time handed to the I/O thread. */
    struct blk_dirty *track;
    struct iothread_timer *copy_timer;
    pthread_mutex_t copy_lock;
    pthread_cond_t copy_cond;
    struct copy_req {
        uint8_t *buf;
        uint64_t *chunks;
        unsigned max;
        int result;
        bool pending;
    } copy;
};

struct blk_range {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* iovecs for bytes [skip, skip+len) of the chain's readable (in=false) or
 * writable (in=true) part. */
static int build_iov(struct virtio_blk *b, bool in, uint64_t skip, uint64_t len)
{
    const struct virtq_chain *c = &b->chain;
    unsigned first = in ? c->nout : 0, end = in ? c->nout + c->nin : c->nout;
    int n = 0;
    for (unsigned k = first; k < end && len; k++) {
        const struct virtq_seg *s = &c->seg[k];
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        uint64_t take = s->len - skip;
        if (take > len)
            take = len;
        b->iov[n++] = (struct iovec){ .iov_base = s->host + skip, .iov_len = (size_t)take };
        len -= take;
        skip = 0;
    }
    return n;
}

static bool in_range(struct virtio_blk *b, uint64_t sector, uint64_t nsectors)
{
    return sector <= b->capacity && nsectors <= b->capacity - sector;
}

static uint8_t do_rw(struct virtio_blk *b, bool write, uint64_t sector, uint32_t *written)
{
    const struct virtq_chain *c = &b->chain;
    uint64_t len = write ? c->out_len - 16 : c->in_len - 1;
    if (len % SECTOR || !in_range(b, sector, len / SECTOR))
        return S_IOERR;
    if (write && b->be->readonly)
        return S_IOERR;
    int n = build_iov(b, !write, write ? 16 : 0, len);
    if (n == 0)
        return S_OK;
    int r = write ? b->be->ops->pwritev(b->be, b->iov, n, sector * SECTOR)
                  : b->be->ops->preadv(b->be, b->iov, n, sector * SECTOR);
    if (write && b->track)
        blk_dirty_mark(b->track, sector * SECTOR, len); /* even a failed write may land */
    if (r) {
        log_warn("%s: %s at sector %llu: %s", b->vdev.name, write ? "write" : "read",
                 (unsigned long long)sector, strerror(-r));
        return S_IOERR;
    }
    if (!write) {
        /* Pages just filled may have held decoded code. */
        uint64_t left = len;
        for (unsigned k = c->nout; k < c->nout + c->nin && left; k++) {
            uint64_t l = c->seg[k].len < left ? c->seg[k].len : left;
            gmem_host_wrote(b->vdev.mem, c->seg[k].gpa, l);
            left -= l;
        }
        *written = (uint32_t)len;
    }
    return S_OK;
}

static uint8_t do_ranges(struct virtio_blk *b, bool zeroes)
{
    const struct virtq_chain *c = &b->chain;
    uint64_t bytes = c->out_len - 16;
    if (b->be->readonly)
        return S_IOERR;
    if (bytes == 0 || bytes % sizeof(struct blk_range) ||
        bytes / sizeof(struct blk_range) > MAX_RANGES)
        return S_UNSUPP;
    struct blk_range rg[MAX_RANGES];
    unsigned n = (unsigned)(bytes / sizeof(struct blk_range));
    virtq_chain_read(c, 16, rg, n * sizeof(rg[0]));
    for (unsigned i = 0; i < n; i++) {
        if (rg[i].flags & ~1u || (!zeroes && rg[i].flags))
            return S_UNSUPP;
        if (rg[i].num_sectors > MAX_RANGE_SECTORS ||
            !in_range(b, rg[i].sector, rg[i].num_sectors))
            return S_IOERR;
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t off = rg[i].sector * SECTOR, len = rg[i].num_sectors * SECTOR;
        int r = zeroes ? b->be->ops->write_zeroes(b->be, off, len)
                       : b->be->ops->discard(b->be, off, len);
        if (b->track)
            blk_dirty_mark(b->track, off, len);
        if (r)
            return S_IOERR;
    }
    return S_OK;
}

/* One request; false when the chain is malformed. */
static bool do_request(struct virtio_blk *b, uint32_t *written)
{
    const struct virtq_chain *c = &b->chain;
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr;
    if (c->out_len < sizeof(hdr) || c->in_len < 1)
        return false;
    virtq_chain_read(c, 0, &hdr, sizeof(hdr));
    /* Buffers in the wrong direction (a read into device-readable memory,
     * a write from device-writable memory) are a broken driver. */
    if ((hdr.type == T_IN || hdr.type == T_GET_ID) && c->out_len != sizeof(hdr))
        return false;
    if (hdr.type == T_OUT && c->in_len != 1)
        return false;
    uint8_t status;
    *written = 0;
    switch (hdr.type) {
    case T_IN:
        status = do_rw(b, false, hdr.sector, written);
        break;
    case T_OUT:
        status = do_rw(b, true, hdr.sector, written);
        break;
    case T_FLUSH:
        status = b->be->readonly || b->be->ops->flush(b->be) == 0 ? S_OK : S_IOERR;
        break;
    case T_GET_ID: {
        size_t room = c->in_len - 1;
        size_t n = room < VIRTIO_BLK_ID_BYTES ? room : VIRTIO_BLK_ID_BYTES;
        *written = (uint32_t)virtq_chain_write(b->vdev.mem, c, 0, b->serial, n);
        status = S_OK;
        break;
    }
    case T_DISCARD:
        status = do_ranges(b, false);
        break;
    case T_WRITE_ZEROES:
        status = do_ranges(b, true);
        break;
    default:
        status = S_UNSUPP;
        break;
    }
    virtq_chain_write(b->vdev.mem, c, c->in_len - 1, &status, 1);
    *written += 1;
    return true;
}

/* Pay for the chain just popped, or arm the timer for when the tokens
 * will be there and return false. A chain too short for a header costs
 * nothing: do_request refuses it. */
static bool pay(struct virtio_blk *b)
{
    const struct virtq_chain *c = &b->chain;
    uint32_t type;
    if (!b->rl_timer || !ratelimit_active(&b->rl) || c->out_len < 16 || c->in_len < 1)
        return true;
    virtq_chain_read(c, 0, &type, sizeof(type));
    uint64_t bytes = type == T_IN ? c->in_len - 1 : type == T_OUT ? c->out_len - 16 : 0;
    int64_t retry;
    if (ratelimit_try(&b->rl, bytes, iothread_now_ns(), &retry))
        return true;
    iothread_timer_mod(b->rl_timer, retry);
    b->throttled = true;
    return false;
}

/* A limit posted by virtio_blk_set_rate_limit: full buckets, and what
 * the old one held back is taken up now. Lock held. */
static void take_new_limit(struct virtio_blk *b)
{
    struct ratelimit_cfg c;
    if (!ratelimit_mailbox_take(&b->rl_new, &c, NULL))
        return;
    ratelimit_apply(&b->rl, &c, iothread_now_ns());
    b->throttled = false;
}

static void blk_queue_notify(struct virtio_dev *d, unsigned qi)
{
    struct virtio_blk *b = (struct virtio_blk *)d;
    struct virtq *q = &d->vq[qi];
    char why[200];
    bool pushed = false;
    take_new_limit(b);
    if (b->throttled)
        return; /* the timer takes the queue up again */
    for (;;) {
        int r = virtq_pop(q, &b->chain, why, sizeof(why));
        if (r == 0)
            break;
        if (r < 0) {
            virtio_mmio_queue_error_locked(d, qi, why);
            return;
        }
        if (!pay(b)) {
            virtq_unpop(q);
            break;
        }
        uint32_t written;
        if (!do_request(b, &written)) {
            snprintf(why, sizeof(why), "request at descriptor %u: no 16-byte header, no "
                     "device-writable status byte, or data buffers in the wrong direction",
                     b->chain.head);
            virtio_mmio_queue_error_locked(d, qi, why);
            return;
        }
        virtq_push(q, &b->chain, written);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, qi);
}

/* The tokens are there, or a new limit was posted (I/O thread). */
static void blk_rl_timer(void *opaque)
{
    struct virtio_blk *b = opaque;
    pthread_mutex_lock(&b->vdev.lock);
    take_new_limit(b);
    b->throttled = false;
    if (virtio_mmio_queue_live_locked(&b->vdev, 0))
        blk_queue_notify(&b->vdev, 0);
    pthread_mutex_unlock(&b->vdev.lock);
}

static void blk_reset(struct virtio_dev *d)
{
    ((struct virtio_blk *)d)->throttled = false;
}

void virtio_blk_set_rate_limit(struct virtio_blk *b, const struct ratelimit_cfg *c)
{
    if (!b->rl_timer)
        return; /* no I/O thread: no limit (see struct virtio_blk) */
    /* Not the device lock: the I/O thread holds it across disk I/O. The
     * timer (thread-safe: it takes only the timer list's lock) runs the
     * queue under the new limit at once. */
    ratelimit_mailbox_post(&b->rl_new, c, NULL);
    iothread_timer_mod(b->rl_timer, 0);
}

/* Saved fields after the transport's: u64 capacity (sectors), which must
 * match the disk this process opened. The limiter is not saved: its
 * configuration is the VM's, and its buckets start full. */
static void blk_save_state(struct virtio_dev *d, struct state_out *o)
{
    struct virtio_blk *b = (struct virtio_blk *)d;
    state_put_u64(o, b->capacity);
}

static int blk_load_state(struct virtio_dev *d, struct state_in *in, uint32_t version)
{
    struct virtio_blk *b = (struct virtio_blk *)d;
    uint64_t cap = state_get_u64(in);
    if (state_in_status(in))
        return -EINVAL;
    if (cap != b->capacity)
        return state_in_fail(in, "disk %s has %llu sectors, the snapshot %llu", b->be->path,
                             (unsigned long long)b->capacity, (unsigned long long)cap);
    return 0;
}

static const struct virtio_dev_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = 2,
    .nqueues = 1,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
    .save_state = blk_save_state,
    .load_state = blk_load_state,
};

/* ---- storage migration ---- */

/* Take up to `max` changed chunks and read each into its slot of `buf`.
 * On the I/O thread while it runs (the backend is its alone), or on the
 * caller's thread with the I/O thread stopped. Device lock held. */
static int copy_chunks_locked(struct virtio_blk *b, uint8_t *buf, uint64_t *chunks, unsigned max)
{
    unsigned n = 0;
    uint64_t cs = 1ULL << b->track->shift;
    while (n < max && blk_dirty_take(b->track, &chunks[n])) {
        uint64_t len = blk_dirty_chunk_len(b->track, chunks[n]);
        struct iovec iov = { .iov_base = buf + n * cs, .iov_len = (size_t)len };
        int r = b->be->ops->preadv(b->be, &iov, 1, chunks[n] << b->track->shift);
        if (r) {
            blk_dirty_mark(b->track, chunks[n] << b->track->shift, len);
            return r;
        }
        n++;
    }
    return (int)n;
}

static void blk_copy_timer(void *opaque)
{
    struct virtio_blk *b = opaque;
    pthread_mutex_lock(&b->copy_lock);
    if (b->copy.pending) {
        pthread_mutex_lock(&b->vdev.lock);
        b->copy.result = b->track ? copy_chunks_locked(b, b->copy.buf, b->copy.chunks, b->copy.max)
                                  : -EINVAL;
        pthread_mutex_unlock(&b->vdev.lock);
        b->copy.pending = false;
        pthread_cond_broadcast(&b->copy_cond);
    }
    pthread_mutex_unlock(&b->copy_lock);
}

int virtio_blk_track_start(struct virtio_blk *b, unsigned shift)
{
    struct blk_dirty *d;
    int r = blk_dirty_new(&d, b->be->size, shift);
    if (r)
        return r;
    pthread_mutex_lock(&b->vdev.lock);
    blk_dirty_free(b->track);
    b->track = d;
    pthread_mutex_unlock(&b->vdev.lock);
    return 0;
}

void virtio_blk_track_stop(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->vdev.lock);
    blk_dirty_free(b->track);
    b->track = NULL;
    pthread_mutex_unlock(&b->vdev.lock);
}

uint64_t virtio_blk_track_pending(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->vdev.lock);
    uint64_t n = b->track ? blk_dirty_count(b->track) : 0;
    pthread_mutex_unlock(&b->vdev.lock);
    return n;
}

int virtio_blk_track_copy(struct virtio_blk *b, uint8_t *buf, uint64_t *chunks, unsigned max,
                          bool io_stopped)
{
    if (io_stopped || !b->copy_timer) {
        pthread_mutex_lock(&b->vdev.lock);
        int r = b->track ? copy_chunks_locked(b, buf, chunks, max) : -EINVAL;
        pthread_mutex_unlock(&b->vdev.lock);
        return r;
    }
    pthread_mutex_lock(&b->copy_lock);
    b->copy = (struct copy_req){ .buf = buf, .chunks = chunks, .max = max, .pending = true };
    iothread_timer_mod(b->copy_timer, 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    int w = 0;
    while (b->copy.pending && w != ETIMEDOUT)
        w = pthread_cond_timedwait(&b->copy_cond, &b->copy_lock, &until);
    int r = b->copy.pending ? -ETIMEDOUT : b->copy.result;
    b->copy.pending = false;
    pthread_mutex_unlock(&b->copy_lock);
    return r;
}

struct virtio_blk *virtio_blk_create(struct blk_backend *be, const char *serial,
                                     struct gmem *mem, struct iothread *io, struct irq_line irq)
{
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    uint64_t f = (1ULL << F_SEG_MAX) | (1ULL << F_BLK_SIZE) | (1ULL << F_FLUSH) |
                 (1ULL << F_TOPOLOGY);
    if (be->readonly)
        f |= 1ULL << F_RO;
    else
        f |= (1ULL << F_DISCARD) | (1ULL << F_WRITE_ZEROES);
    if (virtio_mmio_init(&b->vdev, &blk_ops, f, mem, io, irq, CONFIG_LEN)) {
        free(b);
        return NULL;
    }
    if (io && (!(b->rl_timer = iothread_timer_new(io, blk_rl_timer, b)) ||
               !(b->copy_timer = iothread_timer_new(io, blk_copy_timer, b)))) {
        iothread_timer_free(b->rl_timer);
        virtio_mmio_destroy(&b->vdev);
        free(b);
        return NULL;
    }
    ratelimit_mailbox_init(&b->rl_new);
    pthread_mutex_init(&b->copy_lock, NULL);
    pthread_cond_init(&b->copy_cond, NULL);
    b->be = be;
    b->capacity = be->size / SECTOR;
    if (serial) /* 20 bytes, NUL-padded, not NUL-terminated when full */
        memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));

    uint8_t *cf = b->vdev.config;
    memcpy(cf + 0, &b->capacity, 8);
    put32(cf + 12, b->vdev.queue_num_max - 2);
    put32(cf + 20, (uint32_t)SECTOR);
    unsigned exp = 0;
    while ((SECTOR << (exp + 1)) <= be->phys_block && exp < 7)
        exp++;
    cf[24] = (uint8_t)exp;
    uint16_t min_io = (uint16_t)(1u << exp);
    memcpy(cf + 26, &min_io, 2);
    put32(cf + 28, 0);
    put32(cf + 36, MAX_RANGE_SECTORS);
    put32(cf + 40, MAX_RANGES);
    put32(cf + 44, 1u << exp);
    put32(cf + 48, MAX_RANGE_SECTORS);
    put32(cf + 52, MAX_RANGES);
    cf[56] = 1;
    return b;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
    if (!b)
        return;
    iothread_timer_free(b->rl_timer);
    iothread_timer_free(b->copy_timer);
    ratelimit_mailbox_destroy(&b->rl_new);
    virtio_blk_track_stop(b);
    pthread_mutex_destroy(&b->copy_lock);
    pthread_cond_destroy(&b->copy_cond);
    virtio_mmio_destroy(&b->vdev);
    blk_close(b->be);
    free(b);
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
    return &b->vdev;
}

void virtio_blk_save(struct virtio_blk *b, struct virtio_blk_state *out)
{
    memset(out, 0, sizeof(*out));
    virtio_mmio_save(&b->vdev, &out->mmio);
    out->capacity = b->capacity;
}

int virtio_blk_load(struct virtio_blk *b, const struct virtio_blk_state *in)
{
    if (in->capacity != b->capacity)
        return -EINVAL;
    return virtio_mmio_load(&b->vdev, &in->mmio);
}

struct blk_backend *virtio_blk_backend(struct virtio_blk *b)
{
    return b->be;
}

struct blk_backend **virtio_blk_backend_slot(struct virtio_blk *b)
{
    return &b->be;
}
