/* virtio-net (virtio 1.2 section 5.1). Queue 0 receives, queue 1
 * transmits, queue 2 carries control commands (only the announce
 * acknowledgement is offered: CTRL_VQ + GUEST_ANNOUNCE). Every buffer starts with the 12-byte virtio_net_hdr (VERSION_1
 * layout: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
 * num_buffers); with no offload features it is all zero except
 * num_buffers = 1 on receive.
 *
 * Config space: 0 mac[6]  6 status u16 (bit 0 LINK_UP, bit 1 ANNOUNCE)
 *               8 max_virtqueue_pairs u16  10 mtu u16
 *
 * Announcing (after a live migration, virtio_net_announce): the guest's
 * MAC now lives behind another host port, and switches (a bridge, the
 * overlay) must learn it before traffic finds it. Two ways, as QEMU does:
 * the device sends RARP frames from the guest's MAC itself, a few times
 * with growing gaps (the I/O thread's announce timer), and a driver that
 * took GUEST_ANNOUNCE is asked through the ANNOUNCE status bit to send
 * its own gratuitous ARP / neighbour advertisements for every address it
 * has; it acknowledges on the control queue, which clears the bit.
 *
 * Frames arriving while the guest has posted no receive buffers wait in a
 * short FIFO; when that is full the backend is told to hold off (TAP
 * stops reading; slirp drops and TCP retransmits).
 *
 * Rate limiting (core/ratelimit.h), one limiter per direction: a frame
 * costs its bytes (without the virtio header) and one op. A transmit chain
 * the tx buckets cannot pay for goes back into the ring; a received frame
 * the rx buckets cannot pay for waits in the FIFO above (and a full FIFO
 * holds the backend off). A timer per direction on the I/O thread takes
 * the queue up again when the tokens are there; no thread sleeps. */
#include "devices/virtio_net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "core/log.h"
#include "core/ratelimit.h"
#include "state/state.h"

#define HDR_LEN 12
#define CONFIG_LEN 12
#define RXQ 0
#define TXQ 1
#define CTRLQ 2
#define PENDING_MAX 64
#define STATUS_BITS (VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE)
/* RARP rounds after a move, 50 ms apart and 100 ms more each time
 * (QEMU's announce defaults). */
#define ANNOUNCE_ROUNDS 5
#define ANNOUNCE_FIRST_MS 50
#define ANNOUNCE_STEP_MS 100

struct pending_frame {
    size_t len;
    uint8_t *data;
};

struct virtio_net {
    struct virtio_dev vdev; /* first */
    struct net_backend *nb;
    uint8_t mac[6];
    uint16_t status;
    struct pending_frame pending[PENDING_MAX];
    unsigned pend_head, pend_count;
    bool backend_held;      /* told the backend we are full */
    /* Separate: slirp may deliver a reply while we are transmitting. */
    struct virtq_chain rx_chain, tx_chain, ctrl_chain;
    struct iovec iov[VIRTQ_MAX_CHAIN];
    /* Announcing: RARP rounds still to send (I/O thread) and counters. */
    struct iothread_timer *announce_timer;
    _Atomic unsigned announce_left, announce_round;
    _Atomic uint64_t rx_packets, tx_packets, announce_frames, guest_announces, announce_acks;
    /* Frame bytes (no virtio header) and frames lost: guest-bound ones the
     * driver was not ready for, had no room for or that overflowed the
     * pending queue; host-bound ones the backend refused or the link was
     * down for. */
    _Atomic uint64_t rx_bytes, tx_bytes, rx_dropped, tx_dropped;
    /* Under vdev.lock. Timers are NULL without an I/O thread (no limit).
     * New limits arrive in the mailbox (rx, tx) for the I/O thread. */
    struct ratelimit rx_rl, tx_rl;
    struct iothread_timer *rx_timer, *tx_timer;
    bool rx_throttled, tx_throttled; /* waiting for their timer */
    struct ratelimit_mailbox rl_new;
};

/* Limits posted by virtio_net_set_rate_limits: full buckets, nothing held
 * back any more. Lock held. */
static void take_new_limits(struct virtio_net *n)
{
    struct ratelimit_cfg rx, tx;
    if (!ratelimit_mailbox_take(&n->rl_new, &rx, &tx))
        return;
    int64_t now = iothread_now_ns();
    ratelimit_apply(&n->rx_rl, &rx, now);
    ratelimit_apply(&n->tx_rl, &tx, now);
    n->rx_throttled = n->tx_throttled = false;
}

/* Can the frame of `len` bytes pass `rl` now? If not, arm `t` for when it
 * can and mark the direction throttled. */
static bool pay(struct ratelimit *rl, struct iothread_timer *t, bool *throttled, uint64_t len)
{
    int64_t retry;
    if (!t || !ratelimit_active(rl) || ratelimit_try(rl, len, iothread_now_ns(), &retry))
        return true;
    iothread_timer_mod(t, retry);
    *throttled = true;
    return false;
}

static void update_config(struct virtio_net *n)
{
    uint8_t *cf = n->vdev.config;
    uint16_t pairs = 1, mtu = 1500;
    memcpy(cf, n->mac, 6);
    memcpy(cf + 6, &n->status, 2);
    memcpy(cf + 8, &pairs, 2);
    memcpy(cf + 10, &mtu, 2);
}

/* Put one frame into the next receive chain. 1 delivered (or dropped as
 * too big), 0 no buffer, -1 queue broken. Lock held. */
static int deliver(struct virtio_net *n, const uint8_t *frame, size_t len)
{
    struct virtio_dev *d = &n->vdev;
    if (!virtio_mmio_queue_live_locked(d, RXQ))
        return d->broken ? -1 : 0;
    take_new_limits(n);
    if (n->rx_throttled)
        return 0;
    char why[200];
    int r = virtq_pop(&d->vq[RXQ], &n->rx_chain, why, sizeof(why));
    if (r == 0)
        return 0;
    if (r < 0) {
        virtio_mmio_queue_error_locked(d, RXQ, why);
        return -1;
    }
    if (!pay(&n->rx_rl, n->rx_timer, &n->rx_throttled, len)) {
        virtq_unpop(&d->vq[RXQ]);
        return 0;
    }
    uint32_t written = 0;
    if (n->rx_chain.in_len >= HDR_LEN + len) {
        uint8_t hdr[HDR_LEN] = { 0 };
        hdr[10] = 1; /* num_buffers */
        virtq_chain_write(d->mem, &n->rx_chain, 0, hdr, HDR_LEN);
        virtq_chain_write(d->mem, &n->rx_chain, HDR_LEN, frame, len);
        written = (uint32_t)(HDR_LEN + len);
    }
    virtq_push(&d->vq[RXQ], &n->rx_chain, written);
    virtio_mmio_used_locked(d, RXQ);
    if (written) {
        atomic_fetch_add_explicit(&n->rx_packets, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&n->rx_bytes, len, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&n->rx_dropped, 1, memory_order_relaxed);
    }
    return 1;
}

static void flush_pending(struct virtio_net *n)
{
    while (n->pend_count) {
        struct pending_frame *p = &n->pending[n->pend_head];
        int r = deliver(n, p->data, p->len);
        if (r == 0)
            return;
        free(p->data);
        p->data = NULL;
        n->pend_head = (n->pend_head + 1) % PENDING_MAX;
        n->pend_count--;
        if (r < 0)
            return;
    }
}

static void drop_pending(struct virtio_net *n)
{
    while (n->pend_count) {
        free(n->pending[n->pend_head].data);
        n->pending[n->pend_head].data = NULL;
        n->pend_head = (n->pend_head + 1) % PENDING_MAX;
        n->pend_count--;
    }
    n->pend_head = 0;
}

/* Backend -> guest (I/O thread). */
static bool net_rx(void *opaque, const uint8_t *frame, size_t len)
{
    struct virtio_net *n = opaque;
    bool taken = true;
    pthread_mutex_lock(&n->vdev.lock);
    if (!(n->status & VIRTIO_NET_S_LINK_UP) || !(n->vdev.status & VIRTIO_STATUS_DRIVER_OK) ||
        n->vdev.broken) {
        /* link down or no driver: the frame is lost, as on a wire */
        atomic_fetch_add_explicit(&n->rx_dropped, 1, memory_order_relaxed);
        goto out;
    }
    if (!n->pend_count && deliver(n, frame, len) != 0)
        goto out;
    if (n->pend_count < PENDING_MAX) {
        uint8_t *copy = malloc(len);
        if (copy) {
            memcpy(copy, frame, len);
            n->pending[(n->pend_head + n->pend_count) % PENDING_MAX] =
                (struct pending_frame){ .len = len, .data = copy };
            n->pend_count++;
        } else {
            atomic_fetch_add_explicit(&n->rx_dropped, 1, memory_order_relaxed);
        }
        goto out;
    }
    taken = false;
    n->backend_held = true;
out:
    pthread_mutex_unlock(&n->vdev.lock);
    return taken;
}

static void transmit(struct virtio_net *n)
{
    struct virtio_dev *d = &n->vdev;
    struct virtq *q = &d->vq[TXQ];
    char why[200];
    bool pushed = false;
    if (n->tx_throttled)
        return; /* the timer takes the queue up again */
    for (;;) {
        int r = virtq_pop(q, &n->tx_chain, why, sizeof(why));
        if (r == 0)
            break;
        if (r < 0) {
            virtio_mmio_queue_error_locked(d, TXQ, why);
            return;
        }
        const struct virtq_chain *c = &n->tx_chain;
        uint64_t frame = c->out_len > HDR_LEN ? c->out_len - HDR_LEN : 0;
        if (!pay(&n->tx_rl, n->tx_timer, &n->tx_throttled, frame)) {
            virtq_unpop(q);
            break;
        }
        if (c->out_len > HDR_LEN && c->out_len - HDR_LEN <= NET_MAX_FRAME) {
            uint64_t skip = HDR_LEN;
            int k = 0;
            for (unsigned i = 0; i < c->nout; i++) {
                const struct virtq_seg *s = &c->seg[i];
                if (skip >= s->len) {
                    skip -= s->len;
                    continue;
                }
                n->iov[k++] = (struct iovec){ .iov_base = s->host + skip,
                                              .iov_len = s->len - skip };
                skip = 0;
            }
            if ((n->status & VIRTIO_NET_S_LINK_UP) && n->nb->ops->send(n->nb, n->iov, k) == 0) {
                atomic_fetch_add_explicit(&n->tx_packets, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&n->tx_bytes, frame, memory_order_relaxed);
            } else {
                atomic_fetch_add_explicit(&n->tx_dropped, 1, memory_order_relaxed);
            }
        } else {
            atomic_fetch_add_explicit(&n->tx_dropped, 1, memory_order_relaxed);
        }
        virtq_push(q, &n->tx_chain, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, TXQ);
}

/* Control queue: {u8 class, u8 command, data...} then one writable ack
 * byte. Only VIRTIO_NET_CTRL_ANNOUNCE_ACK is offered; anything else is
 * answered VIRTIO_NET_ERR, as a device without that feature would. */
static void control(struct virtio_net *n)
{
    struct virtio_dev *d = &n->vdev;
    struct virtq *q = &d->vq[CTRLQ];
    char why[200];
    bool pushed = false;
    for (;;) {
        int r = virtq_pop(q, &n->ctrl_chain, why, sizeof(why));
        if (r == 0)
            break;
        const struct virtq_chain *c = &n->ctrl_chain;
        if (r > 0 && c->in_len < 1)
            snprintf(why, sizeof(why), "a control command with no room for its ack");
        if (r < 0 || c->in_len < 1) {
            virtio_mmio_queue_error_locked(d, CTRLQ, why);
            return;
        }
        uint8_t cmd[2] = { 0xff, 0xff }, ack = VIRTIO_NET_ERR;
        if (virtq_chain_read(c, 0, cmd, sizeof(cmd)) == sizeof(cmd) &&
            cmd[0] == VIRTIO_NET_CTRL_ANNOUNCE && cmd[1] == VIRTIO_NET_CTRL_ANNOUNCE_ACK &&
            (d->driver_features & (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE))) {
            n->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
            update_config(n);
            atomic_fetch_add_explicit(&n->announce_acks, 1, memory_order_relaxed);
            ack = VIRTIO_NET_OK;
        }
        virtq_chain_write(d->mem, c, c->in_len - 1, &ack, 1);
        virtq_push(q, c, c->in_len);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, CTRLQ);
}

static void net_queue_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_net *n = (struct virtio_net *)d;
    take_new_limits(n);
    if (q == TXQ) {
        transmit(n);
        return;
    }
    if (q == CTRLQ) {
        control(n);
        return;
    }
    flush_pending(n);
    if (n->backend_held && n->pend_count < PENDING_MAX) {
        n->backend_held = false;
        n->nb->ops->set_rx(n->nb, true);
    }
}

/* A direction's tokens are there (I/O thread). */
static void rl_timer(struct virtio_net *n, unsigned q)
{
    pthread_mutex_lock(&n->vdev.lock);
    take_new_limits(n);
    if (q == RXQ)
        n->rx_throttled = false;
    else
        n->tx_throttled = false;
    if (virtio_mmio_queue_live_locked(&n->vdev, q))
        net_queue_notify(&n->vdev, q);
    pthread_mutex_unlock(&n->vdev.lock);
}

static void rx_timer_cb(void *opaque)
{
    rl_timer(opaque, RXQ);
}

static void tx_timer_cb(void *opaque)
{
    rl_timer(opaque, TXQ);
}

void virtio_net_set_rate_limits(struct virtio_net *n, const struct ratelimit_cfg *rx,
                                const struct ratelimit_cfg *tx)
{
    if (!n->rx_timer)
        return; /* no I/O thread: no limit */
    /* As virtio_blk_set_rate_limit: no device lock; both timers run their
     * queue under the new limits at once. */
    ratelimit_mailbox_post(&n->rl_new, rx, tx);
    iothread_timer_mod(n->rx_timer, 0);
    iothread_timer_mod(n->tx_timer, 0);
}

static void net_reset(struct virtio_dev *d)
{
    struct virtio_net *n = (struct virtio_net *)d;
    n->rx_throttled = n->tx_throttled = false;
    n->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
    update_config(n);
    drop_pending(n);
    if (n->backend_held) {
        n->backend_held = false;
        n->nb->ops->set_rx(n->nb, true);
    }
}

/* Saved fields after the transport's: mac[6], u16 status (LINK_UP,
 * ANNOUNCE: a guest that had not acknowledged is asked again), u8
 * has_backend_state, then the backend's subsection. Frames queued for a
 * guest with no free buffers are not saved: they are lost as on a wire. */
static void net_save_state(struct virtio_dev *d, struct state_out *o)
{
    struct virtio_net *n = (struct virtio_net *)d;
    state_put_bytes(o, n->mac, 6);
    state_put_u16(o, n->status);
    bool be = n->nb->ops->save_state != NULL;
    state_put_u8(o, be);
    if (be)
        n->nb->ops->save_state(n->nb, o);
}

static int net_load_state(struct virtio_dev *d, struct state_in *in, uint32_t version)
{
    struct virtio_net *n = (struct virtio_net *)d;
    uint8_t mac[6];
    state_get_bytes(in, mac, 6);
    uint16_t status = state_get_u16(in);
    uint8_t be = state_get_u8(in);
    if (state_in_status(in))
        return -EINVAL;
    if (be > 1 || (be && !n->nb->ops->load_state))
        return state_in_fail(in, "saved network backend state does not fit this backend");
    memcpy(n->mac, mac, 6);
    n->status = status & STATUS_BITS;
    update_config(n);
    drop_pending(n);
    return be ? n->nb->ops->load_state(n->nb, in) : 0;
}

/* A RARP request from the guest's MAC to everyone (RFC 903; what QEMU
 * sends), padded to the 60-byte minimum frame. */
static size_t rarp_frame(const uint8_t mac[6], uint8_t f[60])
{
    static const uint8_t arp_fixed[8] = { 0, 1, 8, 0, 6, 4, 0, 3 }; /* ether, IPv4, 6, 4, op 3 */
    memset(f, 0, 60);
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x80;
    f[13] = 0x35;
    memcpy(f + 14, arp_fixed, sizeof(arp_fixed));
    memcpy(f + 22, mac, 6); /* sender hardware address; IPv4 0.0.0.0 */
    memcpy(f + 32, mac, 6); /* target hardware address; IPv4 0.0.0.0 */
    return 60;
}

/* One announce round (I/O thread: the backend's send is called here). */
static void announce_cb(void *opaque)
{
    struct virtio_net *n = opaque;
    unsigned left = atomic_load(&n->announce_left);
    if (!left)
        return;
    uint8_t frame[60];
    pthread_mutex_lock(&n->vdev.lock);
    bool up = n->status & VIRTIO_NET_S_LINK_UP;
    rarp_frame(n->mac, frame);
    pthread_mutex_unlock(&n->vdev.lock);
    if (up) {
        struct iovec iov = { .iov_base = frame, .iov_len = sizeof(frame) };
        if (n->nb->ops->send(n->nb, &iov, 1) == 0)
            atomic_fetch_add_explicit(&n->announce_frames, 1, memory_order_relaxed);
    }
    unsigned round = atomic_fetch_add(&n->announce_round, 1);
    if (atomic_fetch_sub(&n->announce_left, 1) > 1)
        iothread_timer_mod(n->announce_timer,
                           iothread_now_ns() +
                               (int64_t)(ANNOUNCE_FIRST_MS + ANNOUNCE_STEP_MS * round) * 1000000);
}

static void net_counters(const struct virtio_dev *d, virtio_counter_fn *emit, void *ctx)
{
    struct virtio_net *n = (struct virtio_net *)d; /* relaxed loads only */
    emit(ctx, "rx_packets", atomic_load_explicit(&n->rx_packets, memory_order_relaxed));
    emit(ctx, "tx_packets", atomic_load_explicit(&n->tx_packets, memory_order_relaxed));
    emit(ctx, "rx_bytes", atomic_load_explicit(&n->rx_bytes, memory_order_relaxed));
    emit(ctx, "tx_bytes", atomic_load_explicit(&n->tx_bytes, memory_order_relaxed));
    emit(ctx, "rx_dropped", atomic_load_explicit(&n->rx_dropped, memory_order_relaxed));
    emit(ctx, "tx_dropped", atomic_load_explicit(&n->tx_dropped, memory_order_relaxed));
    emit(ctx, "announce_frames", atomic_load_explicit(&n->announce_frames, memory_order_relaxed));
    emit(ctx, "guest_announces", atomic_load_explicit(&n->guest_announces, memory_order_relaxed));
    emit(ctx, "announce_acks", atomic_load_explicit(&n->announce_acks, memory_order_relaxed));
}

static const struct virtio_dev_ops net_ops = {
    .name = "virtio-net",
    .counters = net_counters,
    .device_id = 1,
    .nqueues = 3,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
    .save_state = net_save_state,
    .load_state = net_load_state,
};

struct virtio_net *virtio_net_create(struct net_backend *nb, const uint8_t mac[6],
                                     struct gmem *mem, struct iothread *io, struct irq_line irq)
{
    struct virtio_net *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    uint64_t f = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
                 (1ULL << VIRTIO_NET_F_MTU) | (1ULL << VIRTIO_NET_F_CTRL_VQ) |
                 (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE);
    if (virtio_mmio_init(&n->vdev, &net_ops, f, mem, io, irq, CONFIG_LEN)) {
        free(n);
        return NULL;
    }
    if (io && (!(n->rx_timer = iothread_timer_new(io, rx_timer_cb, n)) ||
               !(n->tx_timer = iothread_timer_new(io, tx_timer_cb, n)) ||
               !(n->announce_timer = iothread_timer_new(io, announce_cb, n)))) {
        iothread_timer_free(n->rx_timer);
        iothread_timer_free(n->tx_timer);
        virtio_mmio_destroy(&n->vdev);
        free(n);
        return NULL;
    }
    ratelimit_mailbox_init(&n->rl_new);
    n->nb = nb;
    memcpy(n->mac, mac, 6);
    n->status = VIRTIO_NET_S_LINK_UP;
    update_config(n);
    nb->rx = net_rx;
    nb->rx_opaque = n;
    return n;
}

void virtio_net_destroy(struct virtio_net *n)
{
    if (!n)
        return;
    net_close(n->nb);
    drop_pending(n);
    iothread_timer_free(n->rx_timer);
    iothread_timer_free(n->tx_timer);
    iothread_timer_free(n->announce_timer);
    ratelimit_mailbox_destroy(&n->rl_new);
    virtio_mmio_destroy(&n->vdev);
    free(n);
}

struct virtio_dev *virtio_net_dev(struct virtio_net *n)
{
    return &n->vdev;
}

void virtio_net_set_link(struct virtio_net *n, bool up)
{
    pthread_mutex_lock(&n->vdev.lock);
    uint16_t s = (uint16_t)((n->status & ~VIRTIO_NET_S_LINK_UP) | (up ? VIRTIO_NET_S_LINK_UP : 0));
    if (s != n->status) {
        n->status = s;
        update_config(n);
        virtio_mmio_config_changed_locked(&n->vdev);
    }
    pthread_mutex_unlock(&n->vdev.lock);
}

void virtio_net_save(struct virtio_net *n, struct virtio_net_state *out)
{
    memset(out, 0, sizeof(*out));
    virtio_mmio_save(&n->vdev, &out->mmio);
    pthread_mutex_lock(&n->vdev.lock);
    memcpy(out->mac, n->mac, 6);
    out->status = n->status;
    pthread_mutex_unlock(&n->vdev.lock);
}

int virtio_net_load(struct virtio_net *n, const struct virtio_net_state *in)
{
    pthread_mutex_lock(&n->vdev.lock);
    memcpy(n->mac, in->mac, 6);
    n->status = in->status & STATUS_BITS;
    update_config(n);
    drop_pending(n);
    pthread_mutex_unlock(&n->vdev.lock);
    return virtio_mmio_load(&n->vdev, &in->mmio);
}

void virtio_net_announce(struct virtio_net *n)
{
    struct virtio_dev *d = &n->vdev;
    pthread_mutex_lock(&d->lock);
    if ((d->driver_features & (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE)) &&
        (d->status & VIRTIO_STATUS_DRIVER_OK) && !d->broken) {
        n->status |= VIRTIO_NET_S_ANNOUNCE;
        update_config(n);
        virtio_mmio_config_changed_locked(d);
        atomic_fetch_add_explicit(&n->guest_announces, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&d->lock);
    if (!n->announce_timer)
        return; /* no I/O thread: no backend to send on */
    atomic_store(&n->announce_round, 0);
    atomic_store(&n->announce_left, ANNOUNCE_ROUNDS);
    iothread_timer_mod(n->announce_timer, 0);
}
