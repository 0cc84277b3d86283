/* virtio-vsock (virtio 1.2 section 5.10). Device ID 19, three queues:
 * 0 rx (device -> driver packets), 1 tx (driver -> device), 2 event.
 * Config space: 0 guest_cid (le64). No feature bits: stream sockets only.
 *
 * Every packet starts with the 44-byte struct virtio_vsock_hdr (src/dst
 * cid and port, payload len, type, op, flags, buf_alloc, fwd_cnt). The
 * host side here is CID 2; a connection is the pair (guest port, host
 * port) and is backed by one host unix socket (virtio_vsock.h for how
 * they are made).
 *
 * Flow control, both ways (5.10.6.3): each side advertises buf_alloc (its
 * receive buffer) and fwd_cnt (bytes it has consumed); a sender keeps
 * what it has sent minus the peer's fwd_cnt within the peer's buf_alloc.
 * Guest -> host bytes wait in a per-connection ring of VSOCK_BUF_ALLOC
 * until the host socket takes them; a guest that overruns the credit we
 * gave gets its connection reset. Host -> guest bytes are read from the
 * host socket only when the guest has credit and rx buffers, so nothing
 * is buffered on that side and a slow guest holds the host writer off.
 *
 * The guest is hostile: a chain shorter than a header, or an rx buffer
 * with no room for one, is a queue error (DEVICE_NEEDS_RESET); a packet
 * with a bad length, type or op, for no connection, or against the state
 * of its connection gets an RST; packets from another CID or to another
 * CID than the host's are dropped. Connections and RST replies waiting
 * for rx buffers are bounded; while the RST ring is full the tx queue is
 * not read (the guest must post rx buffers first).
 *
 * Snapshots: the transport state and the CID are saved, connections are
 * not. After a load every connection is gone and the driver is sent
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, as Firecracker does. */
#include "devices/virtio_vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>

#include "core/log.h"
#include "state/state.h"

#define RXQ 0
#define TXQ 1
#define EVQ 2
#define HDR_LEN ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define MAX_PAYLOAD (64 * 1024)   /* per packet, both ways (Linux's maximum) */
#define RST_RING 32
#define HELLO_MAX 32              /* "CONNECT 4294967295\n" fits */
#define EPHEMERAL_FIRST 1024u     /* host ports for host-initiated connections */
#define CREDIT_STEP (VSOCK_BUF_ALLOC / 4) /* freed bytes that earn an update */

_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");

enum conn_state {
    C_FREE = 0,
    C_HELLO,     /* host accepted, reading "CONNECT <port>\n" */
    C_REQUEST,   /* REQUEST sent (or to send) to the guest, awaiting RESPONSE */
    C_OPEN,
    C_CLOSING,   /* the guest shut down both ways: flush to host, then RST */
};

struct conn {
    enum conn_state st;
    struct virtio_vsock *v;
    int fd;
    bool registered;
    uint32_t events;
    uint32_t host_port, guest_port;
    /* "OK <port>\n" still to write to the host, before any data. */
    char ok[24];
    unsigned ok_len, ok_off;
    /* Guest -> host ring (VSOCK_BUF_ALLOC bytes, allocated on first use). */
    uint8_t *ring;
    uint32_t ring_head, ring_len;
    uint32_t fwd_cnt, fwd_sent;
    /* Host -> guest: the guest's credit and what we sent. */
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    bool host_readable, host_eof, hup, host_wr_shut;
    bool guest_shut_send, guest_shut_rcv;
    /* Control packets owed to the guest. */
    bool need_request, need_response, need_credit, need_shutdown, need_rst;
};

struct rst_reply {
    uint32_t src_port, dst_port; /* ours (host), the guest's */
};

struct virtio_vsock {
    struct virtio_dev vdev; /* first */
    uint64_t cid;
    char uds[VSOCK_UDS_MAX + 1];
    int listen_fd;
    struct conn conns[VSOCK_MAX_CONNS];
    unsigned next_conn;      /* round robin for data */
    uint32_t next_port;
    struct rst_reply rst[RST_RING];
    unsigned rst_head, rst_count;
    bool reset_event;        /* TRANSPORT_RESET owed on the event queue */
    /* A driver reset (a hart thread) leaves the host sockets to the I/O
     * thread: every callback drops them first (settle). */
    bool drop_pending;
    struct iothread_timer *drop_timer;
    struct virtq_chain chain;
    uint8_t scratch[MAX_PAYLOAD];
    _Atomic uint64_t conns_opened, rst_sent, bad_packets;
};

static bool live(struct virtio_vsock *v)
{
    return !v->vdev.broken && (v->vdev.status & VIRTIO_STATUS_DRIVER_OK);
}

/* ---- host sockets ---- */

static void set_events(struct conn *c)
{
    struct virtio_vsock *v = c->v;
    if (!v->vdev.io || c->st == C_FREE)
        return;
    uint32_t want = 0;
    if (c->st == C_HELLO ||
        (c->st == C_OPEN && !c->host_readable && !c->host_eof && !c->guest_shut_rcv))
        want |= EPOLLIN;
    if (c->ok_off < c->ok_len || c->ring_len)
        want |= EPOLLOUT;
    if (c->hup) {
        /* HUP is reported whatever we ask for: stop listening, the rest
         * is read and written without waiting. */
        if (c->registered)
            iothread_del_fd(v->vdev.io, c->fd);
        c->registered = false;
        return;
    }
    if (c->registered && want != c->events && iothread_mod_fd(v->vdev.io, c->fd, want) == 0)
        c->events = want;
}

static void conn_free(struct conn *c)
{
    struct virtio_vsock *v = c->v;
    if (c->registered && v->vdev.io)
        iothread_del_fd(v->vdev.io, c->fd);
    if (c->fd >= 0)
        close(c->fd);
    free(c->ring);
    memset(c, 0, sizeof(*c));
    c->v = v;
    c->fd = -1;
}

static void drop_all(struct virtio_vsock *v)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        if (v->conns[i].st != C_FREE)
            conn_free(&v->conns[i]);
    v->rst_head = v->rst_count = 0;
}

/* Reset the connection towards the guest (it was open there) or just
 * drop it (the guest never heard of it). */
static void conn_reset(struct conn *c)
{
    if (c->st == C_HELLO || (c->st == C_REQUEST && c->need_request)) {
        conn_free(c);
        return;
    }
    c->need_rst = true;
    c->ring_len = 0;
    c->need_request = c->need_response = c->need_credit = c->need_shutdown = false;
}

static void conn_fd_cb(void *opaque, uint32_t events);

static struct conn *conn_new(struct virtio_vsock *v, int fd, enum conn_state st)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct conn *c = &v->conns[i];
        if (c->st != C_FREE)
            continue;
        c->v = v;
        c->fd = fd;
        c->st = st;
        if (v->vdev.io) {
            c->events = st == C_HELLO ? EPOLLIN : 0;
            if (iothread_add_fd(v->vdev.io, fd, c->events, conn_fd_cb, c)) {
                c->st = C_FREE;
                return NULL;
            }
            c->registered = true;
        }
        atomic_fetch_add_explicit(&v->conns_opened, 1, memory_order_relaxed);
        return c;
    }
    return NULL;
}

static struct conn *conn_find(struct virtio_vsock *v, uint32_t guest_port, uint32_t host_port)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct conn *c = &v->conns[i];
        if (c->st != C_FREE && c->st != C_HELLO && c->guest_port == guest_port &&
            c->host_port == host_port)
            return c;
    }
    return NULL;
}

static bool host_port_used(struct virtio_vsock *v, uint32_t port)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        if (v->conns[i].st != C_FREE && v->conns[i].st != C_HELLO &&
            v->conns[i].host_port == port)
            return true;
    return false;
}

static uint32_t alloc_host_port(struct virtio_vsock *v)
{
    for (;;) {
        uint32_t p = v->next_port++;
        if (v->next_port < EPHEMERAL_FIRST || v->next_port == UINT32_MAX)
            v->next_port = EPHEMERAL_FIRST;
        if (!host_port_used(v, p))
            return p; /* at most VSOCK_MAX_CONNS are in use */
    }
}

/* Write what the guest sent (the OK line first) to the host socket. */
static void flush_host(struct conn *c)
{
    while (c->ok_off < c->ok_len) {
        ssize_t n = send(c->fd, c->ok + c->ok_off, c->ok_len - c->ok_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_reset(c);
            return;
        }
        c->ok_off += (unsigned)n;
    }
    while (c->ring_len) {
        uint32_t chunk = VSOCK_BUF_ALLOC - c->ring_head;
        if (chunk > c->ring_len)
            chunk = c->ring_len;
        ssize_t n = send(c->fd, c->ring + c->ring_head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_reset(c);
            return;
        }
        c->ring_head = (c->ring_head + (uint32_t)n) % VSOCK_BUF_ALLOC;
        c->ring_len -= (uint32_t)n;
        c->fwd_cnt += (uint32_t)n;
    }
    if (c->fwd_cnt - c->fwd_sent >= CREDIT_STEP && c->st == C_OPEN)
        c->need_credit = true;
    if (c->ring_len)
        return;
    if (c->st == C_CLOSING) {
        c->need_rst = true;
    } else if (c->guest_shut_send && !c->host_wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->host_wr_shut = true;
    }
}

/* "CONNECT <port>\n" from a host process. Reads no byte past the line. */
static void read_hello(struct conn *c)
{
    struct virtio_vsock *v = c->v;
    char buf[HELLO_MAX];
    ssize_t n = recv(c->fd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_free(c);
        return;
    }
    char *nl = memchr(buf, '\n', (size_t)n);
    if (!nl) {
        if (n >= HELLO_MAX - 1)
            conn_free(c); /* no line in the first bytes: not our protocol */
        return;
    }
    size_t line = (size_t)(nl - buf) + 1;
    if (recv(c->fd, buf, line, MSG_DONTWAIT) != (ssize_t)line) {
        conn_free(c);
        return;
    }
    buf[line - 1] = 0;
    char *end;
    errno = 0;
    unsigned long port = strncmp(buf, "CONNECT ", 8) ? 0 : strtoul(buf + 8, &end, 10);
    if (strncmp(buf, "CONNECT ", 8) || buf[8] < '0' || buf[8] > '9' || errno ||
        (*end && *end != '\r') || port > UINT32_MAX) {
        log_warn("%s: a host connection sent '%.24s', not CONNECT <port>", v->vdev.name, buf);
        conn_free(c);
        return;
    }
    c->guest_port = (uint32_t)port;
    c->host_port = alloc_host_port(v);
    c->st = C_REQUEST;
    c->need_request = true;
}

static void listen_accept(struct virtio_vsock *v)
{
    for (;;) {
        int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN; on EMFILE the next connection retries */
        }
        if (!conn_new(v, fd, C_HELLO)) {
            log_warn("%s: %d connections open: a host connection is refused", v->vdev.name,
                     VSOCK_MAX_CONNS);
            close(fd);
        }
    }
}

/* ---- device -> guest ---- */

static void fill_hdr(struct virtio_vsock *v, struct virtio_vsock_hdr *h, uint32_t src_port,
                     uint32_t dst_port, uint16_t op)
{
    memset(h, 0, sizeof(*h));
    h->src_cid = VSOCK_HOST_CID;
    h->dst_cid = v->cid;
    h->src_port = src_port;
    h->dst_port = dst_port;
    h->type = VIRTIO_VSOCK_TYPE_STREAM;
    h->op = op;
    h->buf_alloc = VSOCK_BUF_ALLOC;
}

static uint32_t peer_credit(const struct conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Which control packet `c` owes, 0 when none. */
static uint16_t pending_op(const struct conn *c, uint32_t *flags)
{
    *flags = 0;
    if (c->need_rst)
        return VIRTIO_VSOCK_OP_RST;
    if (c->need_request)
        return VIRTIO_VSOCK_OP_REQUEST;
    if (c->need_response)
        return VIRTIO_VSOCK_OP_RESPONSE;
    if (c->need_shutdown) {
        *flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
        return VIRTIO_VSOCK_OP_SHUTDOWN;
    }
    if (c->need_credit)
        return VIRTIO_VSOCK_OP_CREDIT_UPDATE;
    return 0;
}

static bool wants_data(const struct conn *c)
{
    return c->st == C_OPEN && c->host_readable && !c->host_eof && !c->guest_shut_rcv &&
           peer_credit(c) > 0;
}

/* Pop an rx chain with room for a header. 1 ok, 0 none, -1 broken. */
static int pop_rx(struct virtio_vsock *v)
{
    struct virtio_dev *d = &v->vdev;
    char why[200];
    int r = virtq_pop(&d->vq[RXQ], &v->chain, why, sizeof(why));
    if (r > 0 && v->chain.in_len < HDR_LEN) {
        snprintf(why, sizeof(why), "an rx buffer of %llu bytes, less than a packet header",
                 (unsigned long long)v->chain.in_len);
        r = -EINVAL;
    }
    if (r < 0) {
        virtio_mmio_queue_error_locked(d, RXQ, why);
        return -1;
    }
    return r;
}

static void push_rx(struct virtio_vsock *v, struct virtio_vsock_hdr *h, uint32_t payload)
{
    struct virtio_dev *d = &v->vdev;
    virtq_chain_write(d->mem, &v->chain, 0, h, HDR_LEN);
    if (payload)
        virtq_chain_write(d->mem, &v->chain, HDR_LEN, v->scratch, payload);
    virtq_push(&d->vq[RXQ], &v->chain, HDR_LEN + payload);
}

/* Send one control packet of `c`. */
static void send_control(struct virtio_vsock *v, struct conn *c, uint16_t op, uint32_t flags)
{
    struct virtio_vsock_hdr h;
    fill_hdr(v, &h, c->host_port, c->guest_port, op);
    h.flags = flags;
    h.fwd_cnt = c->fwd_cnt;
    push_rx(v, &h, 0);
    c->fwd_sent = c->fwd_cnt;
    switch (op) {
    case VIRTIO_VSOCK_OP_RST:
        atomic_fetch_add_explicit(&v->rst_sent, 1, memory_order_relaxed);
        conn_free(c);
        return;
    case VIRTIO_VSOCK_OP_REQUEST: c->need_request = false; break;
    case VIRTIO_VSOCK_OP_RESPONSE: c->need_response = false; break;
    case VIRTIO_VSOCK_OP_SHUTDOWN: c->need_shutdown = false; break;
    default: break;
    }
    c->need_credit = false;
}

/* Read host bytes into one RW packet of `c`: 1 sent, 0 nothing to send,
 * -1 nothing sent but `c` now owes a control packet (the chain is put
 * back for both). */
static int send_data(struct virtio_vsock *v, struct conn *c)
{
    uint32_t room = (uint32_t)(v->chain.in_len - HDR_LEN < MAX_PAYLOAD ? v->chain.in_len - HDR_LEN
                                                                      : MAX_PAYLOAD);
    uint32_t credit = peer_credit(c);
    if (room > credit)
        room = credit;
    if (!room) {
        virtq_unpop(&v->vdev.vq[RXQ]);
        c->host_readable = false; /* a zero-room buffer: wait for the next */
        return 0;
    }
    ssize_t n = recv(c->fd, v->scratch, room, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
        n = recv(c->fd, v->scratch, room, MSG_DONTWAIT);
    if (n > 0) {
        struct virtio_vsock_hdr h;
        fill_hdr(v, &h, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_RW);
        h.len = (uint32_t)n;
        h.fwd_cnt = c->fwd_cnt;
        push_rx(v, &h, (uint32_t)n);
        c->fwd_sent = c->fwd_cnt;
        c->need_credit = false;
        c->tx_cnt += (uint32_t)n;
        return 1;
    }
    virtq_unpop(&v->vdev.vq[RXQ]);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->host_readable = false;
        set_events(c);
        return 0;
    }
    if (n == 0) {
        c->host_eof = true;
        c->need_shutdown = true;
    } else {
        conn_reset(c);
    }
    if (c->st != C_FREE)
        set_events(c);
    return -1;
}

/* Everything owed to the guest, while it has rx buffers. Lock held. */
static void rx_run(struct virtio_vsock *v)
{
    struct virtio_dev *d = &v->vdev;
    bool pushed = false;
    while (virtio_mmio_queue_live_locked(d, RXQ)) {
        if (v->rst_count) {
            if (pop_rx(v) <= 0)
                break;
            struct rst_reply *r = &v->rst[v->rst_head];
            struct virtio_vsock_hdr h;
            fill_hdr(v, &h, r->src_port, r->dst_port, VIRTIO_VSOCK_OP_RST);
            push_rx(v, &h, 0);
            v->rst_head = (v->rst_head + 1) % RST_RING;
            v->rst_count--;
            atomic_fetch_add_explicit(&v->rst_sent, 1, memory_order_relaxed);
            pushed = true;
            continue;
        }
        bool any = false, stop = false;
        for (unsigned k = 0; k < VSOCK_MAX_CONNS && !stop; k++) {
            struct conn *c = &v->conns[(v->next_conn + k) % VSOCK_MAX_CONNS];
            uint32_t flags;
            uint16_t op = c->st == C_FREE || c->st == C_HELLO ? 0 : pending_op(c, &flags);
            if (!op && !wants_data(c))
                continue;
            int r = pop_rx(v);
            if (r <= 0) {
                stop = true;
                break;
            }
            if (op) {
                send_control(v, c, op, flags);
                any = pushed = true;
            } else {
                int sent = send_data(v, c);
                any |= sent != 0;
                pushed |= sent > 0;
            }
        }
        v->next_conn = (v->next_conn + 1) % VSOCK_MAX_CONNS;
        if (stop || !any)
            break;
    }
    if (pushed)
        virtio_mmio_used_locked(d, RXQ);
}

static void queue_rst(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
    if (v->rst_count >= RST_RING)
        return; /* tx stops before this can happen (tx_run) */
    v->rst[(v->rst_head + v->rst_count) % RST_RING] =
        (struct rst_reply){ .src_port = h->dst_port, .dst_port = h->src_port };
    v->rst_count++;
}

/* ---- guest -> device ---- */

/* A guest connection to host port P: connect to "<uds>_<P>" (a unix
 * socket connect does not wait: it is there and listening, or not). */
static void guest_request(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int n = snprintf(path, sizeof(path), "%s_%u", v->uds, h->dst_port);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
        queue_rst(v, h);
        return;
    }
    memcpy(sa.sun_path, path, (size_t)n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        queue_rst(v, h);
        return;
    }
    struct conn *c = conn_new(v, fd, C_OPEN);
    if (!c) {
        close(fd);
        queue_rst(v, h);
        return;
    }
    c->guest_port = h->src_port;
    c->host_port = h->dst_port;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    c->need_response = true;
    set_events(c);
}

/* Take the payload of an RW packet into the ring. False: the guest broke
 * the credit we gave it. */
static bool take_payload(struct virtio_vsock *v, struct conn *c, uint32_t len)
{
    if (len > VSOCK_BUF_ALLOC - c->ring_len)
        return false;
    if (!c->ring && !(c->ring = malloc(VSOCK_BUF_ALLOC)))
        return false;
    uint32_t tail = (c->ring_head + c->ring_len) % VSOCK_BUF_ALLOC;
    uint32_t first = VSOCK_BUF_ALLOC - tail < len ? VSOCK_BUF_ALLOC - tail : len;
    virtq_chain_read(&v->chain, HDR_LEN, c->ring + tail, first);
    if (first < len)
        virtq_chain_read(&v->chain, HDR_LEN + first, c->ring, len - first);
    c->ring_len += len;
    return true;
}

static void guest_packet(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
    if (h->src_cid != v->cid || h->dst_cid != VSOCK_HOST_CID) {
        atomic_fetch_add_explicit(&v->bad_packets, 1, memory_order_relaxed);
        return;
    }
    struct conn *c = conn_find(v, h->src_port, h->dst_port);
    bool bad = h->type != VIRTIO_VSOCK_TYPE_STREAM ||
               (h->len && h->op != VIRTIO_VSOCK_OP_RW) || h->len > MAX_PAYLOAD ||
               h->len > v->chain.out_len - HDR_LEN;
    if (bad)
        atomic_fetch_add_explicit(&v->bad_packets, 1, memory_order_relaxed);
    if (h->op == VIRTIO_VSOCK_OP_RST) {
        if (c)
            conn_free(c);
        return;
    }
    if (!c) {
        if (!bad && h->op == VIRTIO_VSOCK_OP_REQUEST)
            guest_request(v, h);
        else
            queue_rst(v, h);
        return;
    }
    if (bad) {
        conn_reset(c);
        return;
    }
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case VIRTIO_VSOCK_OP_RESPONSE:
        if (c->st != C_REQUEST || c->need_request) {
            conn_reset(c);
            return;
        }
        c->st = C_OPEN;
        c->ok_len = (unsigned)snprintf(c->ok, sizeof(c->ok), "OK %u\n", c->host_port);
        flush_host(c);
        break;
    case VIRTIO_VSOCK_OP_RW:
        if ((c->st != C_OPEN && c->st != C_CLOSING) || c->guest_shut_send ||
            !take_payload(v, c, h->len)) {
            conn_reset(c);
            return;
        }
        flush_host(c);
        break;
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        if (c->st != C_OPEN && c->st != C_CLOSING) {
            conn_reset(c);
            return;
        }
        c->guest_shut_send |= (h->flags & VIRTIO_VSOCK_SHUTDOWN_SEND) != 0;
        c->guest_shut_rcv |= (h->flags & VIRTIO_VSOCK_SHUTDOWN_RCV) != 0;
        if (c->guest_shut_send && c->guest_shut_rcv)
            c->st = C_CLOSING;
        flush_host(c);
        break;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        break; /* the credit fields above are the update */
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        c->need_credit = true;
        break;
    default: /* REQUEST on an open connection, INVALID, unknown ops */
        conn_reset(c);
        return;
    }
    if (c->st != C_FREE)
        set_events(c);
}

static void tx_run(struct virtio_vsock *v)
{
    struct virtio_dev *d = &v->vdev;
    struct virtq *q = &d->vq[TXQ];
    char why[200];
    bool pushed = false;
    /* Each packet may owe one RST: stop while the ring could not hold it. */
    while (v->rst_count < RST_RING) {
        int r = virtq_pop(q, &v->chain, why, sizeof(why));
        if (r == 0)
            break;
        if (r > 0 && v->chain.out_len < HDR_LEN) {
            snprintf(why, sizeof(why), "a tx packet of %llu bytes, less than its header",
                     (unsigned long long)v->chain.out_len);
            r = -EINVAL;
        }
        if (r < 0) {
            virtio_mmio_queue_error_locked(d, TXQ, why);
            return;
        }
        struct virtio_vsock_hdr h;
        virtq_chain_read(&v->chain, 0, &h, HDR_LEN);
        guest_packet(v, &h);
        virtq_push(q, &v->chain, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, TXQ);
}

static void event_run(struct virtio_vsock *v)
{
    struct virtio_dev *d = &v->vdev;
    if (!v->reset_event)
        return;
    char why[200];
    int r = virtq_pop(&d->vq[EVQ], &v->chain, why, sizeof(why));
    if (r == 0)
        return;
    if (r < 0 || v->chain.in_len < sizeof(struct virtio_vsock_event)) {
        virtio_mmio_queue_error_locked(d, EVQ, r < 0 ? why : "an event buffer under 4 bytes");
        return;
    }
    struct virtio_vsock_event ev = { .id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET };
    virtq_chain_write(d->mem, &v->chain, 0, &ev, sizeof(ev));
    virtq_push(&d->vq[EVQ], &v->chain, sizeof(ev));
    v->reset_event = false;
    virtio_mmio_used_locked(d, EVQ);
}

/* Connections of before a reset or a load go, on the thread that owns
 * their sockets. Lock held. */
static void settle(struct virtio_vsock *v)
{
    if (v->drop_pending) {
        drop_all(v);
        v->drop_pending = false;
    }
}

static void vsock_queue_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_vsock *v = (struct virtio_vsock *)d;
    settle(v);
    if (q == EVQ) {
        event_run(v);
        return;
    }
    if (q == RXQ) {
        /* Room for replies again: the tx ring may hold packets left there
         * while the RST ring was full. */
        rx_run(v);
        if (virtio_mmio_queue_live_locked(d, TXQ))
            tx_run(v);
    } else {
        tx_run(v);
    }
    rx_run(v);
}

/* ---- I/O thread callbacks ---- */

static void serve_conn(struct conn *c, uint32_t events)
{
    if (events & (EPOLLHUP | EPOLLERR))
        c->hup = true;
    if (c->st == C_HELLO) {
        read_hello(c);
    } else if (c->st != C_FREE) {
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            c->host_readable = true;
        flush_host(c);
    }
    if (c->st != C_FREE)
        set_events(c);
}

static void conn_fd_cb(void *opaque, uint32_t events)
{
    struct conn *c = opaque;
    struct virtio_vsock *v = c->v;
    pthread_mutex_lock(&v->vdev.lock);
    settle(v);
    if (c->st != C_FREE) {
        serve_conn(c, events);
        if (live(v))
            rx_run(v);
    }
    pthread_mutex_unlock(&v->vdev.lock);
}

static void listen_cb(void *opaque, uint32_t events)
{
    struct virtio_vsock *v = opaque;
    pthread_mutex_lock(&v->vdev.lock);
    settle(v);
    listen_accept(v);
    pthread_mutex_unlock(&v->vdev.lock);
}

static void drop_timer_cb(void *opaque)
{
    struct virtio_vsock *v = opaque;
    pthread_mutex_lock(&v->vdev.lock);
    settle(v);
    pthread_mutex_unlock(&v->vdev.lock);
}

void virtio_vsock_poll(struct virtio_vsock *v)
{
    pthread_mutex_lock(&v->vdev.lock);
    settle(v);
    listen_accept(v);
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        if (v->conns[i].st != C_FREE)
            serve_conn(&v->conns[i], EPOLLIN);
    if (live(v))
        rx_run(v);
    pthread_mutex_unlock(&v->vdev.lock);
}

unsigned virtio_vsock_nconns(struct virtio_vsock *v)
{
    unsigned n = 0;
    pthread_mutex_lock(&v->vdev.lock);
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        n += v->conns[i].st != C_FREE;
    pthread_mutex_unlock(&v->vdev.lock);
    return n;
}

/* ---- reset, state, metrics ---- */

/* Lock held; on a hart thread (the driver wrote 0 to Status) or with the
 * I/O thread stopped (machine reset, load). */
static void drop_later(struct virtio_vsock *v)
{
    v->drop_pending = true;
    v->rst_head = v->rst_count = 0;
    if (!v->drop_timer)
        settle(v); /* no I/O thread: this thread owns the sockets */
    else
        iothread_timer_mod(v->drop_timer, 0);
}

static void vsock_reset(struct virtio_dev *d)
{
    struct virtio_vsock *v = (struct virtio_vsock *)d;
    drop_later(v);
    v->reset_event = false;
}

/* Saved fields after the transport's: u64 guest_cid. Connections are not
 * saved: a restored guest is told its transport was reset. */
static void vsock_save_state(struct virtio_dev *d, struct state_out *o)
{
    struct virtio_vsock *v = (struct virtio_vsock *)d;
    state_put_u64(o, v->cid);
}

static int vsock_load_state(struct virtio_dev *d, struct state_in *in, uint32_t version)
{
    struct virtio_vsock *v = (struct virtio_vsock *)d;
    uint64_t cid = state_get_u64(in);
    if (state_in_status(in))
        return -EINVAL;
    if (cid != v->cid)
        return state_in_fail(in, "vsock guest_cid %llu; this device has %llu",
                             (unsigned long long)cid, (unsigned long long)v->cid);
    drop_later(v);
    v->reset_event = true;
    return 0;
}

static void vsock_counters(const struct virtio_dev *d, virtio_counter_fn *emit, void *ctx)
{
    struct virtio_vsock *v = (struct virtio_vsock *)d;
    emit(ctx, "conns_opened", atomic_load_explicit(&v->conns_opened, memory_order_relaxed));
    emit(ctx, "rst_sent", atomic_load_explicit(&v->rst_sent, memory_order_relaxed));
    emit(ctx, "bad_packets", atomic_load_explicit(&v->bad_packets, memory_order_relaxed));
}

static const struct virtio_dev_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .nqueues = 3,
    .queue_notify = vsock_queue_notify,
    .reset = vsock_reset,
    .save_state = vsock_save_state,
    .load_state = vsock_load_state,
    .counters = vsock_counters,
};

static int listen_uds(struct virtio_vsock *v, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    memcpy(sa.sun_path, v->uds, strlen(v->uds) + 1);
    if (lstat(v->uds, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "uds_path %s: exists and is not a socket", v->uds);
            return -EEXIST;
        }
        unlink(v->uds); /* a stale socket of an earlier run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        snprintf(err, errlen, "uds_path %s: %s", v->uds, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    v->listen_fd = fd;
    return 0;
}

struct virtio_vsock *virtio_vsock_create(uint64_t guest_cid, const char *uds_path,
                                         struct gmem *mem, struct iothread *io,
                                         struct irq_line irq, char *err, size_t errlen)
{
    if (guest_cid < VSOCK_MIN_GUEST_CID || guest_cid > VSOCK_MAX_GUEST_CID) {
        snprintf(err, errlen, "guest_cid %llu: from %d to %llu", (unsigned long long)guest_cid,
                 VSOCK_MIN_GUEST_CID, VSOCK_MAX_GUEST_CID);
        return NULL;
    }
    if (!uds_path || !uds_path[0] || strlen(uds_path) > VSOCK_UDS_MAX) {
        snprintf(err, errlen, "uds_path: a path of 1 to %d bytes", VSOCK_UDS_MAX);
        return NULL;
    }
    struct virtio_vsock *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->cid = guest_cid;
    v->listen_fd = -1;
    v->next_port = EPHEMERAL_FIRST;
    snprintf(v->uds, sizeof(v->uds), "%s", uds_path);
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        v->conns[i].v = v;
        v->conns[i].fd = -1;
    }
    struct virtio_vsock_config cfg = { .guest_cid = guest_cid };
    if (virtio_mmio_init(&v->vdev, &vsock_ops, 0, mem, io, irq, sizeof(cfg))) {
        snprintf(err, errlen, "cannot create the device");
        free(v);
        return NULL;
    }
    memcpy(v->vdev.config, &cfg, sizeof(cfg));
    if (io && !(v->drop_timer = iothread_timer_new(io, drop_timer_cb, v))) {
        snprintf(err, errlen, "out of memory");
        goto err_mmio;
    }
    if (listen_uds(v, err, errlen))
        goto err_timer;
    if (io && iothread_add_fd(io, v->listen_fd, EPOLLIN, listen_cb, v)) {
        snprintf(err, errlen, "uds_path %s: cannot watch the socket", v->uds);
        goto err_listen;
    }
    return v;
err_listen:
    close(v->listen_fd);
    unlink(v->uds);
err_timer:
    iothread_timer_free(v->drop_timer);
err_mmio:
    virtio_mmio_destroy(&v->vdev);
    free(v);
    return NULL;
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
    if (!v)
        return;
    drop_all(v);
    if (v->listen_fd >= 0) {
        if (v->vdev.io)
            iothread_del_fd(v->vdev.io, v->listen_fd);
        close(v->listen_fd);
        unlink(v->uds);
    }
    iothread_timer_free(v->drop_timer);
    virtio_mmio_destroy(&v->vdev);
    free(v);
}

struct virtio_dev *virtio_vsock_dev(struct virtio_vsock *v)
{
    return &v->vdev;
}
