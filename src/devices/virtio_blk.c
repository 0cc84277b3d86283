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

#include "block/aio.h"
#include "block/blk_dirty.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

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

#define MAX_INFLIGHT 32    /* requests popped and not yet used, per queue */
#define RAW_WORKERS 4      /* threads per disk whose backend is concurrent */

struct blk_range {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

/* One request from pop to push. Filled under the device lock on the I/O
 * thread, run by a worker with no device lock (only `status` and the
 * guest's data buffers change there), completed under the lock again. */
struct blk_req {
    struct blk_aio_job job; /* first: the pool hands jobs back */
    struct virtio_blk *b;
    struct blk_backend *be; /* the image when popped */
    struct blk_req *next_free;
    uint32_t type;
    uint64_t sector, len;   /* len: data bytes of a read or write */
    int niov;
    unsigned nrg;
    uint8_t status;
    uint32_t written;       /* bytes put into the writable part, status excluded */
    struct blk_range rg[MAX_RANGES];
    struct iovec iov[VIRTQ_MAX_CHAIN];
    struct virtq_chain chain;
};

struct virtio_blk {
    struct virtio_dev vdev; /* first: ops get a virtio_dev */
    struct blk_backend *be;
    uint64_t capacity;      /* sectors */
    char serial[VIRTIO_BLK_ID_BYTES];
    /* Asynchronous requests (NULL without an I/O thread: then requests
     * run inline in queue_notify, as the fuzzer and unit tests without
     * an I/O thread expect). Under vdev.lock: the free list, how many
     * requests exist (at most MAX_INFLIGHT) and `starved` (the queue
     * stopped popping for want of a free request; a completion takes it
     * up again). */
    struct blk_aio *aio;
    struct iothread *io;
    struct blk_req *free_reqs;
    unsigned nreqs;
    bool starved;
    bool quiesced;          /* virtio_blk_quiesce: pop nothing */
    /* Under vdev.lock. The timer is NULL without an I/O thread (then no
     * limit applies: nothing could wake the queue). A new limit arrives in
     * the mailbox and is taken up on the I/O thread. */
    struct ratelimit rl;
    struct iothread_timer *rl_timer;
    bool throttled;         /* waiting for rl_timer */
    struct ratelimit_mailbox rl_new;
    /* Storage migration (virtio_blk_track_*): the changed-chunk map,
     * under track_lock (not vdev.lock: workers mark it as each write
     * lands, and never take the device lock). */
    pthread_mutex_t track_lock;
    struct blk_dirty *track;
    pthread_mutex_t copy_lock;
    pthread_cond_t copy_cond;
};

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* iovecs for bytes [skip, skip+len) of the chain's readable (in=false) or
 * writable (in=true) part. */
static int build_iov(struct blk_req *q, bool in, uint64_t skip, uint64_t len)
{
    const struct virtq_chain *c = &q->chain;
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
        q->iov[n++] = (struct iovec){ .iov_base = s->host + skip, .iov_len = (size_t)take };
        len -= take;
        skip = 0;
    }
    return n;
}

static bool in_range(struct virtio_blk *b, uint64_t sector, uint64_t nsectors)
{
    return sector <= b->capacity && nsectors <= b->capacity - sector;
}

static void track_mark(struct virtio_blk *b, uint64_t off, uint64_t len)
{
    pthread_mutex_lock(&b->track_lock);
    if (b->track)
        blk_dirty_mark(b->track, off, len);
    pthread_mutex_unlock(&b->track_lock);
}

/* ---- a request, in three steps ---- */

enum prep { PREP_MALFORMED, PREP_DONE, PREP_RUN };

static enum prep prep_rw(struct virtio_blk *b, struct blk_req *q, bool write)
{
    const struct virtq_chain *c = &q->chain;
    q->len = write ? c->out_len - 16 : c->in_len - 1;
    if (q->len % SECTOR || !in_range(b, q->sector, q->len / SECTOR) ||
        (write && b->be->readonly)) {
        q->status = S_IOERR;
        return PREP_DONE;
    }
    q->niov = build_iov(q, !write, write ? 16 : 0, q->len);
    if (q->niov == 0)
        return PREP_DONE;
    q->job.start = q->sector * SECTOR;
    q->job.end = q->job.start + q->len;
    q->job.writes = write;
    return PREP_RUN;
}

static enum prep prep_ranges(struct virtio_blk *b, struct blk_req *q, bool zeroes)
{
    const struct virtq_chain *c = &q->chain;
    uint64_t bytes = c->out_len - 16;
    q->status = S_UNSUPP;
    if (b->be->readonly) {
        q->status = S_IOERR;
        return PREP_DONE;
    }
    if (bytes == 0 || bytes % sizeof(struct blk_range) ||
        bytes / sizeof(struct blk_range) > MAX_RANGES)
        return PREP_DONE;
    q->nrg = (unsigned)(bytes / sizeof(struct blk_range));
    virtq_chain_read(c, 16, q->rg, q->nrg * sizeof(q->rg[0]));
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < q->nrg; i++) {
        if (q->rg[i].flags & ~1u || (!zeroes && q->rg[i].flags))
            return PREP_DONE;
        if (q->rg[i].num_sectors > MAX_RANGE_SECTORS ||
            !in_range(b, q->rg[i].sector, q->rg[i].num_sectors)) {
            q->status = S_IOERR;
            return PREP_DONE;
        }
        uint64_t s = q->rg[i].sector * SECTOR, e = s + q->rg[i].num_sectors * SECTOR;
        lo = s < lo ? s : lo;
        hi = e > hi ? e : hi;
    }
    q->status = S_OK;
    if (lo >= hi)
        return PREP_DONE;
    q->job.start = lo;
    q->job.end = hi;
    q->job.writes = true;
    return PREP_RUN;
}

/* Check the request just popped (I/O thread, lock held): malformed, done
 * already (status set), or to run on a worker. The header and the
 * discard ranges are copied out of guest RAM here, once. */
static enum prep prepare(struct virtio_blk *b, struct blk_req *q)
{
    const struct virtq_chain *c = &q->chain;
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr;
    if (c->out_len < sizeof(hdr) || c->in_len < 1)
        return PREP_MALFORMED;
    virtq_chain_read(c, 0, &hdr, sizeof(hdr));
    /* Buffers in the wrong direction (a read into device-readable memory,
     * a write from device-writable memory) are a broken driver. */
    if ((hdr.type == T_IN || hdr.type == T_GET_ID) && c->out_len != sizeof(hdr))
        return PREP_MALFORMED;
    if (hdr.type == T_OUT && c->in_len != 1)
        return PREP_MALFORMED;
    q->type = hdr.type;
    q->sector = hdr.sector;
    q->be = b->be;
    q->status = S_OK;
    q->written = 0;
    q->len = 0;
    q->niov = 0;
    q->nrg = 0;
    q->job = (struct blk_aio_job){ .exclusive = !b->be->concurrent };
    switch (hdr.type) {
    case T_IN:
        return prep_rw(b, q, false);
    case T_OUT:
        return prep_rw(b, q, true);
    case T_FLUSH:
        return b->be->readonly ? PREP_DONE : PREP_RUN;
    case T_GET_ID: {
        size_t room = c->in_len - 1;
        size_t n = room < VIRTIO_BLK_ID_BYTES ? room : VIRTIO_BLK_ID_BYTES;
        q->written = (uint32_t)virtq_chain_write(b->vdev.mem, c, 0, b->serial, n);
        return PREP_DONE;
    }
    case T_DISCARD:
        return prep_ranges(b, q, false);
    case T_WRITE_ZEROES:
        return prep_ranges(b, q, true);
    default:
        q->status = S_UNSUPP;
        return PREP_DONE;
    }
}

/* A read or write is over (r: 0 or -errno). */
static void rw_landed(struct blk_req *q, int r)
{
    struct virtio_blk *b = q->b;
    bool write = q->type == T_OUT;
    if (write)
        track_mark(b, q->sector * SECTOR, q->len);
    if (r) {
        log_warn("%s: %s at sector %llu: %s", b->vdev.name, write ? "write" : "read",
                 (unsigned long long)q->sector, strerror(-r));
        q->status = S_IOERR;
    } else if (!write) {
        q->written = (uint32_t)q->len;
    }
}

/* The shortcut of the I/O thread and of a notifying hart (lock held): a
 * read or write the page cache can take at once is done here, without
 * waking a worker; nothing waits for the disk. Only with the pool idle,
 * so it overtakes nothing it could conflict with, and so no worker uses
 * a backend whose requests run one at a time (qcow2): every job is
 * submitted under the device lock. */
static bool try_now(struct virtio_blk *b, struct blk_req *q)
{
    struct blk_backend *be = q->be;
    if ((q->type != T_IN && q->type != T_OUT) || !be->ops->try_rw || blk_aio_busy(b->aio))
        return false;
    if (be->ops->try_rw(be, q->type == T_OUT, q->iov, q->niov, q->sector * SECTOR))
        return false;
    rw_landed(q, 0);
    return true;
}

/* The disk part, on a worker (or inline without an I/O thread). No
 * device lock: only the request, its backend and the guest buffers. A
 * write marks its chunks changed once it has landed (even a failed one
 * may have), so a storage-migration copy that read the chunk meanwhile
 * is sent again. */
static void req_run(struct blk_aio_job *j)
{
    struct blk_req *q = (struct blk_req *)j;
    struct virtio_blk *b = q->b;
    struct blk_backend *be = q->be;
    int r = 0;
    switch (q->type) {
    case T_IN:
    case T_OUT: {
        uint64_t off = q->sector * SECTOR;
        bool write = q->type == T_OUT;
        r = write ? be->ops->pwritev(be, q->iov, q->niov, off)
                  : be->ops->preadv(be, q->iov, q->niov, off);
        rw_landed(q, r);
        break;
    }
    case T_FLUSH:
        r = be->ops->flush(be);
        break;
    case T_DISCARD:
    case T_WRITE_ZEROES:
        for (unsigned i = 0; i < q->nrg && !r; i++) {
            uint64_t off = q->rg[i].sector * SECTOR, len = q->rg[i].num_sectors * SECTOR;
            r = q->type == T_WRITE_ZEROES ? be->ops->write_zeroes(be, off, len)
                                          : be->ops->discard(be, off, len);
            track_mark(b, off, len);
        }
        break;
    }
    if (r)
        q->status = S_IOERR;
}

static struct blk_req *req_get_locked(struct virtio_blk *b)
{
    struct blk_req *q = b->free_reqs;
    if (q) {
        b->free_reqs = q->next_free;
        return q;
    }
    if (b->nreqs == (b->aio ? MAX_INFLIGHT : 1) || !(q = malloc(sizeof(*q))))
        return NULL;
    b->nreqs++;
    q->b = b;
    return q;
}

static void req_put_locked(struct virtio_blk *b, struct blk_req *q)
{
    q->next_free = b->free_reqs;
    b->free_reqs = q;
}

/* Pages a read filled may have held decoded code. */
static void req_wrote_ram(struct virtio_blk *b, struct blk_req *q)
{
    const struct virtq_chain *c = &q->chain;
    if (q->type != T_IN || !q->niov)
        return;
    uint64_t left = q->len;
    for (unsigned k = c->nout; k < c->nout + c->nin && left; k++) {
        uint64_t l = c->seg[k].len < left ? c->seg[k].len : left;
        gmem_host_wrote(b->vdev.mem, c->seg[k].gpa, l);
        left -= l;
    }
}

/* Status byte, used ring, request back to the free list. Lock held. */
static void req_finish_locked(struct virtio_blk *b, struct blk_req *q)
{
    const struct virtq_chain *c = &q->chain;
    req_wrote_ram(b, q);
    virtq_chain_write(b->vdev.mem, c, c->in_len - 1, &q->status, 1);
    virtq_push(&b->vdev.vq[0], c, q->written + 1);
    req_put_locked(b, q);
}

/* A worker's request is over: answer it at once when the device lock is
 * free (no second wake-up of the I/O thread), else leave it to the I/O
 * thread. Never wait for the lock: a reset holds it while it waits for
 * the workers; but try a few times, since the hart that handed the
 * request over may still hold it for the rest of its QueueNotify, and
 * the I/O thread's wake-up costs more. A starved queue is the I/O
 * thread's to take up again. */
#define FINISH_LOCK_TRIES 64

static void req_finish_worker(struct blk_aio_job *j)
{
    struct blk_req *q = (struct blk_req *)j;
    struct virtio_blk *b = q->b;
    for (int k = 0; pthread_mutex_trylock(&b->vdev.lock); k++) {
        if (k == FINISH_LOCK_TRIES) {
            blk_aio_post_done(b->aio, j);
            return;
        }
        sched_yield();
    }
    if (b->starved) {
        pthread_mutex_unlock(&b->vdev.lock);
        blk_aio_post_done(b->aio, j);
        return;
    }
    req_finish_locked(b, q);
    virtio_mmio_used_locked(&b->vdev, 0);
    pthread_mutex_unlock(&b->vdev.lock);
}

/* Every request the workers finished goes to the used ring, in the order
 * they finished. Lock held. */
static void complete_locked(struct virtio_blk *b)
{
    struct blk_aio_job *j = blk_aio_reap(b->aio);
    if (!j)
        return;
    while (j) {
        struct blk_aio_job *next = j->next;
        req_finish_locked(b, (struct blk_req *)j);
        j = next;
    }
    virtio_mmio_used_locked(&b->vdev, 0);
}

/* Pay for the chain just popped, or arm the timer for when the tokens
 * will be there and return false. A chain too short for a header costs
 * nothing: prepare refuses it. */
static bool pay(struct virtio_blk *b, const struct virtq_chain *c)
{
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

/* A read the page cache may answer at once (try_now: RWF_NOWAIT, which
 * returns EAGAIN rather than wait for the disk). Not with cache=none:
 * O_DIRECT reads always wait for the device. */
static bool read_may_be_cached(const struct blk_req *q)
{
    return q->type == T_IN && q->be->ops->try_rw && q->be->cache != BLK_CACHE_NONE;
}

/* Cached reads the notifying hart copies itself, per QueueNotify: a few
 * microseconds each, where the I/O thread's wake-up and the interrupt's
 * way back cost more than the copy (one request in flight: the guest
 * waits for exactly that). Bigger reads, or more, stay the I/O thread's
 * so that a hart never spends long in one MMIO store. */
#define HART_READ_MAX (128u << 10)
#define HART_READ_BUDGET (256u << 10)

/* Pop what the driver made available and hand it to the workers; at
 * most MAX_INFLIGHT requests are out at once. `on_hart`: called by
 * blk_queue_notify_hart, so no system call that can wait for the disk:
 * a small cached read is copied here (RWF_NOWAIT) or, not cached, goes
 * to a worker; a read past the hart's budget is put back, and false
 * returned (the I/O thread takes the queue up from there). */
static bool pop_requests(struct virtio_blk *b, unsigned qi, bool on_hart)
{
    struct virtio_dev *d = &b->vdev;
    struct virtq *vq = &d->vq[qi];
    char why[200];
    bool pushed = false, left = false;
    uint64_t hart_read = 0;
    take_new_limit(b);
    b->starved = false;
    if (b->throttled || b->quiesced)
        return true; /* the timer, or virtio_blk_resume, takes the queue up again */
    for (;;) {
        struct blk_req *q = req_get_locked(b);
        if (!q) {
            b->starved = true; /* a completion takes the queue up again */
            break;
        }
        int r = virtq_pop(vq, &q->chain, why, sizeof(why));
        if (r <= 0) {
            req_put_locked(b, q);
            if (r < 0) {
                virtio_mmio_queue_error_locked(d, qi, why);
                return true;
            }
            break;
        }
        if (!pay(b, &q->chain)) {
            virtq_unpop(vq);
            req_put_locked(b, q);
            break;
        }
        switch (prepare(b, q)) {
        case PREP_MALFORMED:
            snprintf(why, sizeof(why), "request at descriptor %u: no 16-byte header, no "
                     "device-writable status byte, or data buffers in the wrong direction",
                     q->chain.head);
            req_put_locked(b, q);
            if (pushed)
                virtio_mmio_used_locked(d, qi);
            virtio_mmio_queue_error_locked(d, qi, why);
            return true;
        case PREP_RUN: {
            bool may_be_cached = read_may_be_cached(q);
            if (on_hart && may_be_cached &&
                (q->len > HART_READ_MAX || hart_read + q->len > HART_READ_BUDGET)) {
                virtq_unpop(vq);
                req_put_locked(b, q);
                left = true;
                goto out;
            }
            q->job.run = req_run;
            q->job.finish = req_finish_worker;
            if (on_hart && may_be_cached)
                hart_read += q->len;
            if (!b->aio) {
                req_run(&q->job);
            } else if ((on_hart && !may_be_cached) || !try_now(b, q)) {
                blk_aio_submit(b->aio, &q->job);
                break;
            }
        }
            /* fall through */
        case PREP_DONE:
            req_finish_locked(b, q);
            pushed = true;
            break;
        }
    }
out:
    if (pushed)
        virtio_mmio_used_locked(d, qi);
    return !left;
}

static void blk_queue_notify(struct virtio_dev *d, unsigned qi)
{
    pop_requests((struct virtio_blk *)d, qi, false);
}

/* QueueNotify on the hart that wrote it: writes, flushes and discards
 * go to the workers from here, instead of waking the I/O thread only to
 * pass them on (a buffered write, which ext4 will not take with
 * RWF_NOWAIT, cost two thread wake-ups before a worker started it; now
 * one; O_DIRECT reads too). A small read the page cache holds is copied
 * on the hart and answered at once (no thread wake-up at all); one it
 * does not hold goes to a worker. Never waits: the device lock is only
 * tried, and a rate limit in force, like anything else unusual, is left
 * to the I/O thread (false). */
static bool blk_queue_notify_hart(struct virtio_dev *d, unsigned qi)
{
    struct virtio_blk *b = (struct virtio_blk *)d;
    if (!b->aio || pthread_mutex_trylock(&d->lock))
        return false;
    bool mine = virtio_mmio_queue_live_locked(d, qi) && !b->quiesced && !b->throttled &&
                !(b->rl_timer && ratelimit_active(&b->rl));
    if (mine)
        mine = pop_requests(b, qi, true);
    pthread_mutex_unlock(&d->lock);
    return mine;
}

/* Workers finished requests (I/O thread). */
static void blk_aio_ready(void *opaque, uint32_t events)
{
    struct virtio_blk *b = opaque;
    blk_aio_clear_fd(b->aio); /* before reaping: a later completion rings again */
    pthread_mutex_lock(&b->vdev.lock);
    complete_locked(b);
    if (b->starved && virtio_mmio_queue_live_locked(&b->vdev, 0))
        blk_queue_notify(&b->vdev, 0);
    pthread_mutex_unlock(&b->vdev.lock);
}

/* The I/O thread stopped (pause, snapshot, shutdown): let every request
 * in flight land and complete it, so the saved rings hold no request the
 * device has taken and not answered. Caller of iothread_stop. */
static void blk_drain(void *opaque)
{
    struct virtio_blk *b = opaque;
    pthread_mutex_lock(&b->vdev.lock);
    blk_aio_wait_idle(b->aio);
    complete_locked(b);
    pthread_mutex_unlock(&b->vdev.lock);
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

/* Lock held (a hart's Status write, or a machine reset). Requests in
 * flight still write into guest RAM: wait for them (the workers never
 * take the device lock), then drop them unanswered, as the reset queue
 * has no used ring to take them. */
static void blk_reset(struct virtio_dev *d)
{
    struct virtio_blk *b = (struct virtio_blk *)d;
    b->throttled = false;
    b->starved = false;
    if (!b->aio)
        return;
    blk_aio_wait_idle(b->aio);
    for (struct blk_aio_job *j = blk_aio_reap(b->aio), *next; j; j = next) {
        next = j->next;
        req_wrote_ram(b, (struct blk_req *)j);
        req_put_locked(b, (struct blk_req *)j);
    }
}

void virtio_blk_set_rate_limit(struct virtio_blk *b, const struct ratelimit_cfg *c)
{
    if (!b->rl_timer)
        return; /* no I/O thread: no limit (see struct virtio_blk) */
    /* Not the device lock: a reset may hold it while requests drain. The
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
    .queue_notify_hart = blk_queue_notify_hart,
    .reset = blk_reset,
    .save_state = blk_save_state,
    .load_state = blk_load_state,
};

void virtio_blk_quiesce(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->vdev.lock);
    b->quiesced = true;
    pthread_mutex_unlock(&b->vdev.lock);
    if (b->aio)
        blk_aio_wait_idle(b->aio); /* the I/O thread answers them */
}

void virtio_blk_resume(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->vdev.lock);
    b->quiesced = false;
    if (virtio_mmio_queue_live_locked(&b->vdev, 0))
        blk_queue_notify(&b->vdev, 0); /* what the driver offered meanwhile */
    pthread_mutex_unlock(&b->vdev.lock);
}

/* ---- storage migration ---- */

/* Take up to `max` changed chunks and read each into its slot of `buf`.
 * On a worker (exclusive when the image is qcow2), or on the caller's
 * thread with the I/O thread stopped and the workers idle. A write in
 * flight to a chunk being read marks it again when it lands, so a torn
 * read is always sent again. */
static int copy_chunks(struct virtio_blk *b, uint8_t *buf, uint64_t *chunks, unsigned max)
{
    unsigned n = 0;
    pthread_mutex_lock(&b->track_lock);
    if (!b->track) {
        pthread_mutex_unlock(&b->track_lock);
        return -EINVAL;
    }
    unsigned shift = b->track->shift;
    while (n < max && blk_dirty_take(b->track, &chunks[n]))
        n++;
    uint64_t *lens = n ? calloc(n, sizeof(*lens)) : NULL;
    for (unsigned i = 0; i < n && lens; i++)
        lens[i] = blk_dirty_chunk_len(b->track, chunks[i]);
    pthread_mutex_unlock(&b->track_lock);
    if (n && !lens) {
        for (unsigned i = 0; i < n; i++)
            track_mark(b, chunks[i] << shift, 1);
        return -ENOMEM;
    }
    int r = 0;
    for (unsigned i = 0; i < n; i++) {
        struct iovec iov = { .iov_base = buf + ((uint64_t)i << shift), .iov_len = (size_t)lens[i] };
        if (!r)
            r = b->be->ops->preadv(b->be, &iov, 1, chunks[i] << shift);
        if (r) /* not copied: changed still */
            track_mark(b, chunks[i] << shift, lens[i]);
    }
    free(lens);
    return r ? r : (int)n;
}

struct copy_job {
    struct blk_aio_job job; /* first */
    struct virtio_blk *b;
    uint8_t *buf;
    uint64_t *chunks;
    unsigned max;
    int result;
    bool done;
};

static void copy_run(struct blk_aio_job *j)
{
    struct copy_job *c = (struct copy_job *)j;
    c->result = copy_chunks(c->b, c->buf, c->chunks, c->max);
}

static void copy_finish(struct blk_aio_job *j)
{
    struct copy_job *c = (struct copy_job *)j;
    struct virtio_blk *b = c->b;
    pthread_mutex_lock(&b->copy_lock);
    c->done = true;
    pthread_cond_broadcast(&b->copy_cond);
    pthread_mutex_unlock(&b->copy_lock); /* c is the waiter's again */
}

int virtio_blk_track_start(struct virtio_blk *b, unsigned shift)
{
    struct blk_dirty *d;
    int r = blk_dirty_new(&d, b->be->size, shift);
    if (r)
        return r;
    pthread_mutex_lock(&b->track_lock);
    blk_dirty_free(b->track);
    b->track = d;
    pthread_mutex_unlock(&b->track_lock);
    return 0;
}

void virtio_blk_track_stop(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->track_lock);
    blk_dirty_free(b->track);
    b->track = NULL;
    pthread_mutex_unlock(&b->track_lock);
}

uint64_t virtio_blk_track_pending(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->track_lock);
    uint64_t n = b->track ? blk_dirty_count(b->track) : 0;
    pthread_mutex_unlock(&b->track_lock);
    return n;
}

int virtio_blk_track_copy(struct virtio_blk *b, uint8_t *buf, uint64_t *chunks, unsigned max,
                          bool io_stopped)
{
    if (io_stopped || !b->aio)
        return copy_chunks(b, buf, chunks, max);
    /* Through the workers: a qcow2 image is used by one of them at a
     * time, and the copy waits its turn like a request. */
    struct copy_job c = {
        .job = { .run = copy_run, .finish = copy_finish, .exclusive = !b->be->concurrent },
        .b = b, .buf = buf, .chunks = chunks, .max = max,
    };
    /* Under the device lock, as every job (try_now's rule). */
    pthread_mutex_lock(&b->vdev.lock);
    blk_aio_submit(b->aio, &c.job);
    pthread_mutex_unlock(&b->vdev.lock);
    pthread_mutex_lock(&b->copy_lock);
    while (!c.done)
        pthread_cond_wait(&b->copy_cond, &b->copy_lock);
    pthread_mutex_unlock(&b->copy_lock);
    return c.result;
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
    if (virtio_mmio_init(&b->vdev, &blk_ops, f, mem, io, irq, CONFIG_LEN))
        goto err_free;
    if (io) {
        if (!(b->rl_timer = iothread_timer_new(io, blk_rl_timer, b)))
            goto err_mmio;
        if (blk_aio_create(&b->aio, be->concurrent ? RAW_WORKERS : 1))
            goto err_timer;
        if (iothread_add_fd(io, blk_aio_fd(b->aio), EPOLLIN, blk_aio_ready, b))
            goto err_aio;
        if (iothread_add_drain(io, blk_drain, b))
            goto err_fd;
        b->io = io;
    }
    ratelimit_mailbox_init(&b->rl_new);
    pthread_mutex_init(&b->track_lock, NULL);
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

err_fd:
    iothread_del_fd(io, blk_aio_fd(b->aio));
err_aio:
    blk_aio_destroy(b->aio);
err_timer:
    iothread_timer_free(b->rl_timer);
err_mmio:
    virtio_mmio_destroy(&b->vdev);
err_free:
    free(b);
    return NULL;
}

/* With the I/O thread stopped (so drained: nothing in flight). */
void virtio_blk_destroy(struct virtio_blk *b)
{
    if (!b)
        return;
    if (b->io) {
        iothread_del_drain(b->io, b);
        iothread_del_fd(b->io, blk_aio_fd(b->aio));
    }
    if (b->aio) {
        blk_aio_wait_idle(b->aio);
        blk_aio_destroy(b->aio);
    }
    while (b->free_reqs) {
        struct blk_req *q = b->free_reqs;
        b->free_reqs = q->next_free;
        free(q);
    }
    iothread_timer_free(b->rl_timer);
    ratelimit_mailbox_destroy(&b->rl_new);
    virtio_blk_track_stop(b);
    pthread_mutex_destroy(&b->track_lock);
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
