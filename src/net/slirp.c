/* User-mode networking through libslirp: a NAT'ed 10.0.2.0/24 network
 * with the gateway (and the host's loopback) at 10.0.2.2, DNS at
 * 10.0.2.3 and DHCP handing out 10.0.2.15, as QEMU's -net user. Host
 * port forwards bind on 127.0.0.1 unless a host address is given.
 * libslirp is single-threaded: every call into it happens on the I/O
 * thread, which polls slirp's sockets as a poll source and runs its timers. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/mmds.h"
#include "state/state.h"

/* MMDS: libslirp forwards guest connections to a callback only for an
 * address of its own network, so the guest's packets to the MMDS address
 * (169.254.169.254 by default) are rewritten to MMDS_FWD_ADDR on the way
 * in and back on the way out, and its ARP requests for that address are
 * answered here. Anything else sent to the MMDS address is dropped: it
 * must not reach a metadata service of the host's own network. */
#define MMDS_FWD_ADDR "10.0.2.4"
#define MMDS_PORT 80
#define MMDS_MAX_CONNS 8
static const uint8_t mmds_mac[6] = { 0x52, 0x55, 0xa9, 0xfe, 0xa9, 0xfe };

struct net_user {
    struct net_backend nb;
    struct iothread *io;
    Slirp *slirp;
    struct pollfd *pfds;   /* this round's pollfds (fill -> dispatch) */
    int npfds, maxpfds;
    struct mmds *mmds;     /* NULL: no MMDS on this interface */
    struct in_addr mmds_fwd;
    /* libslirp's guestfwd has no notion of connections: one conversation
     * at a time, restarted by the guest's SYN. */
    struct mmds_conn mconn;
    /* The guest's connections to MMDS that libslirp holds, at most
     * MMDS_MAX_CONNS (a new one resets the oldest). */
    struct mmds_tcp {
        bool open;
        uint8_t hdr[14 + 24]; /* its last segment: ethernet, IPv4, the ports */
        uint32_t next_seq;    /* the sequence number after that segment */
        uint64_t opened;      /* order of the SYNs */
    } mmds_tcp[MMDS_MAX_CONNS];
    uint64_t mmds_syns;
    /* MMDS only (net_user_open_mmds, for a TAP or VDE interface): nothing
     * but the guest's TCP to MMDS reaches libslirp, so the stack cannot
     * become a way out to the host's network; libslirp's ARP requests
     * for the guest are answered here with the MAC its MMDS frames came
     * from (the guest's address is not on libslirp's network, and its
     * kernel might not answer an asker from another subnet). */
    bool mmds_only;
    uint8_t guest_mac[6];
    uint8_t buf[NET_MAX_FRAME];
    uint8_t txbuf[NET_MAX_FRAME];
};

static void mmds_from_slirp(struct net_user *u, const uint8_t *f, size_t len);
static const struct net_backend_ops user_ops;

struct slirp_timer {
    struct iothread_timer *t;
    SlirpTimerCb cb;
    void *cb_opaque;
};

static bool answer_slirp_arp(struct net_user *u, const uint8_t *f, size_t len);

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_user *u = opaque;
    if (u->mmds_only && answer_slirp_arp(u, buf, len))
        return (ssize_t)len;
    if (u->mmds)
        mmds_from_slirp(u, buf, len);
    else if (u->nb.rx)
        u->nb.rx(u->nb.rx_opaque, buf, len); /* dropped when full: TCP retries */
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    log_warn("user network: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return iothread_now_ns();
}

static void timer_fire(void *opaque)
{
    struct slirp_timer *st = opaque;
    st->cb(st->cb_opaque);
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct net_user *u = opaque;
    struct slirp_timer *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->cb = cb;
    st->cb_opaque = cb_opaque;
    st->t = iothread_timer_new(u->io, timer_fire, st);
    if (!st->t) {
        free(st);
        return NULL;
    }
    return st;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct slirp_timer *st = timer;
    if (!st)
        return;
    iothread_timer_free(st->t);
    free(st);
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_timer *st = timer;
    if (st)
        iothread_timer_mod(st->t, expire_ms * 1000000);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    /* pollfds are gathered afresh every round */
}

static void cb_notify(void *opaque)
{
    struct net_user *u = opaque;
    iothread_kick(u->io);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_register_poll_fd,
    .notify = cb_notify,
};

static int add_poll(int fd, int events, void *opaque)
{
    struct net_user *u = opaque;
    if (u->npfds >= u->maxpfds)
        return -1;
    short ev = 0;
    if (events & SLIRP_POLL_IN)
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        ev |= POLLPRI;
    u->pfds[u->npfds] = (struct pollfd){ .fd = fd, .events = ev };
    return u->npfds++;
}

static int get_revents(int idx, void *opaque)
{
    struct net_user *u = opaque;
    if (idx < 0 || idx >= u->npfds)
        return 0;
    short rev = u->pfds[idx].revents;
    int r = 0;
    if (rev & POLLIN)
        r |= SLIRP_POLL_IN;
    if (rev & POLLOUT)
        r |= SLIRP_POLL_OUT;
    if (rev & POLLPRI)
        r |= SLIRP_POLL_PRI;
    if (rev & (POLLERR | POLLNVAL))
        r |= SLIRP_POLL_ERR;
    if (rev & POLLHUP)
        r |= SLIRP_POLL_HUP;
    return r;
}

static int src_fill(void *opaque, struct pollfd *fds, int max, int *timeout_ms)
{
    struct net_user *u = opaque;
    u->pfds = fds;
    u->npfds = 0;
    u->maxpfds = max;
    uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
    slirp_pollfds_fill(u->slirp, &t, add_poll, u);
    *timeout_ms = t == UINT32_MAX ? -1 : (int)(t > 60000 ? 60000 : t);
    return u->npfds;
}

/* ---- MMDS ---- */

static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* An address in a header changes from `from` to `to`: the IPv4 header's
 * checksum is recomputed, the TCP one updated (RFC 1624, eqn. 3). */
static void rewrite_addr(uint8_t *ip, size_t ihl, uint8_t *field, const void *to)
{
    uint8_t from[4];
    memcpy(from, field, 4);
    memcpy(field, to, 4);
    uint32_t s = 0;
    put16(ip + 10, 0);
    for (size_t i = 0; i < ihl; i += 2)
        s += get16(ip + i);
    put16(ip + 10, (uint16_t)~csum_fold(s));
    uint8_t *tsum = ip + ihl + 16;
    s = (uint16_t)~get16(tsum);
    for (int i = 0; i < 4; i += 2)
        s += (uint16_t)~get16(from + i) + (uint32_t)get16(field + i);
    put16(tsum, (uint16_t)~csum_fold(s));
}

/* The IPv4 header of an ethernet frame carrying TCP with its first 20
 * bytes there; NULL for anything else. */
static uint8_t *tcp_ip_header(uint8_t *f, size_t len, size_t *ihl)
{
    if (len < 14 + 20 || get16(f + 12) != 0x0800)
        return NULL;
    uint8_t *ip = f + 14;
    *ihl = (size_t)(ip[0] & 0x0f) * 4;
    if ((ip[0] >> 4) != 4 || *ihl < 20 || len < 14 + *ihl + 20)
        return NULL;
    return ip;
}

/* The guest's ARP request for the MMDS address: answered. */
static bool mmds_arp(struct net_user *u, const uint8_t *f, size_t len, const void *mip)
{
    const uint8_t *a = f + 14;
    if (len < 14 + 28 || get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 ||
        get16(a + 6) != 1 || memcmp(a + 24, mip, 4))
        return false;
    uint8_t *r = u->txbuf;
    memset(r, 0, 60);
    memcpy(r, a + 8, 6);             /* to the asker */
    memcpy(r + 6, mmds_mac, 6);
    put16(r + 12, 0x0806);
    put16(r + 14, 1);
    put16(r + 16, 0x0800);
    r[18] = 6;
    r[19] = 4;
    put16(r + 20, 2);                /* reply */
    memcpy(r + 22, mmds_mac, 6);
    memcpy(r + 28, mip, 4);
    memcpy(r + 32, a + 8, 10);       /* the asker's MAC and address */
    if (u->nb.rx)
        u->nb.rx(u->nb.rx_opaque, r, 60);
    return true;
}

/* libslirp asks (ARP) for the guest's MAC before it answers the guest
 * (MMDS-only mode): the reply, as the guest would give it, goes straight
 * back into libslirp. True when `f` was such a request. */
static bool answer_slirp_arp(struct net_user *u, const uint8_t *f, size_t len)
{
    const uint8_t *a = f + 14;
    if (len < 14 + 28 || get16(f + 12) != 0x0806 || get16(a + 6) != 1)
        return false;
    uint8_t r[60];
    memset(r, 0, sizeof(r));
    memcpy(r, a + 8, 6);             /* to libslirp's MAC */
    memcpy(r + 6, u->guest_mac, 6);
    put16(r + 12, 0x0806);
    put16(r + 14, 1);
    put16(r + 16, 0x0800);
    r[18] = 6;
    r[19] = 4;
    put16(r + 20, 2);                /* reply */
    memcpy(r + 22, u->guest_mac, 6);
    memcpy(r + 28, a + 24, 4);       /* the address asked for */
    memcpy(r + 32, a + 8, 10);       /* libslirp's MAC and address */
    slirp_input(u->slirp, r, sizeof(r));
    return true;
}

/* MMDS-only mode: the one kind of frame libslirp may see, the guest's
 * TCP to the MMDS address (already rewritten to mmds_fwd). */
static bool mmds_only_allows(struct net_user *u, uint8_t *f, size_t len)
{
    size_t ihl;
    const uint8_t *ip = tcp_ip_header(f, len, &ihl);
    if (!ip || ip[9] != 6 || memcmp(ip + 16, &u->mmds_fwd, 4))
        return false;
    memcpy(u->guest_mac, f + 6, 6);
    return true;
}

/* The TCP checksum over the pseudo header and the segment. */
static uint16_t tcp_csum(const uint8_t *ip, const uint8_t *tcp, size_t len)
{
    uint32_t s = get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + 6 +
                 (uint32_t)len;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += get16(tcp + i);
    if (len & 1)
        s += (uint32_t)tcp[len - 1] << 8;
    return (uint16_t)~csum_fold(s);
}

/* A reset from the guest's side of its MMDS connection, to libslirp,
 * which frees the connection. Two uses: after the guest's FIN (libslirp
 * never closes a guestfwd connection itself, having no host socket to
 * see an end on, and would keep it half-open for good, one more per
 * request), before a snapshot (a saved guestfwd connection cannot be
 * loaded where MMDS is not configured yet), and for the oldest of
 * MMDS_MAX_CONNS open ones when the guest opens another: libslirp keeps
 * a bounded number of them whatever the guest does. The guest, left in FIN_WAIT_2
 * or believing it is connected, ends it by its own timer or on the reset
 * its next segment gets. */
static void mmds_reset(struct net_user *u, struct mmds_tcp *t)
{
    uint8_t *r = u->txbuf;
    if (!t->open)
        return;
    t->open = false;
    memcpy(r, t->hdr, sizeof(t->hdr));
    uint8_t *rip = r + 14, *rt = rip + 20;
    rip[0] = 0x45;
    put16(rip + 2, 40);
    put16(rip + 6, 0);
    put16(rt + 4, (uint16_t)(t->next_seq >> 16));
    put16(rt + 6, (uint16_t)t->next_seq);
    memset(rt + 8, 0, 12);
    rt[12] = 5 << 4;
    rt[13] = 0x04;                   /* RST */
    uint32_t s = 0;
    put16(rip + 10, 0);
    for (int i = 0; i < 20; i += 2)
        s += get16(rip + i);
    put16(rip + 10, (uint16_t)~csum_fold(s));
    put16(rt + 16, tcp_csum(rip, rt, 20));
    slirp_input(u->slirp, r, 14 + 40);
}

/* The connection a guest segment belongs to (by the guest's port); a SYN
 * takes a free slot or the oldest one, resetting it. NULL: not known. */
static struct mmds_tcp *mmds_tcp_find(struct net_user *u, const uint8_t *tcp, bool syn)
{
    struct mmds_tcp *oldest = &u->mmds_tcp[0], *free_slot = NULL;
    for (unsigned i = 0; i < MMDS_MAX_CONNS; i++) {
        struct mmds_tcp *t = &u->mmds_tcp[i];
        if (t->open && !memcmp(t->hdr + 14 + 20, tcp, 2))
            return t;
        if (!t->open && !free_slot)
            free_slot = t;
        if (t->opened < oldest->opened)
            oldest = t;
    }
    if (!syn)
        return NULL;
    if (!free_slot) {
        mmds_reset(u, oldest);
        free_slot = oldest;
    }
    free_slot->opened = ++u->mmds_syns;
    return free_slot;
}

/* A guest segment to MMDS, as libslirp got it: remember where its
 * connection is, and reset it once the guest has closed it. */
static void mmds_track(struct net_user *u, const uint8_t *f, size_t len)
{
    size_t ihl;
    const uint8_t *ip = tcp_ip_header((uint8_t *)f, len, &ihl);
    if (!ip || ip[9] != 6 || memcmp(ip + 16, &u->mmds_fwd, 4))
        return;
    const uint8_t *tcp = ip + ihl;
    size_t tot = get16(ip + 2), doff = (size_t)(tcp[12] >> 4) * 4;
    uint8_t flags = tcp[13];
    if (doff < 20 || tot < ihl + doff || 14 + tot > len)
        return;
    struct mmds_tcp *t = mmds_tcp_find(u, tcp, (flags & 0x12) == 0x02);
    if (!t)
        return;
    if (flags & 0x04) {              /* the guest reset it itself */
        t->open = false;
        return;
    }
    uint32_t seq = (uint32_t)get16(tcp + 4) << 16 | get16(tcp + 6);
    seq += (uint32_t)(tot - ihl - doff) + ((flags & 0x02) ? 1 : 0) + ((flags & 0x01) ? 1 : 0);
    memcpy(t->hdr, f, 14 + 20);
    memcpy(t->hdr + 14 + 20, tcp, 4);
    t->next_seq = seq;
    t->open = true;
    if (flags & 0x01)
        mmds_reset(u, t);
}

/* A frame from the guest, before libslirp sees it: false to pass it on
 * (maybe rewritten), true when it was taken here (answered or dropped). */
static bool mmds_from_guest(struct net_user *u, uint8_t *f, size_t len)
{
    uint32_t mip = htonl(mmds_ipv4(u->mmds));
    if (len >= 14 && get16(f + 12) == 0x0806)
        return mmds_arp(u, f, len, &mip);
    if (len < 14 + 20 || get16(f + 12) != 0x0800)
        return false;
    size_t ihl;
    uint8_t *ip = tcp_ip_header(f, len, &ihl);
    bool to_mmds = !memcmp(f + 14 + 16, &mip, 4);
    bool to_fwd = !memcmp(f + 14 + 16, &u->mmds_fwd, 4);
    if (!to_mmds && !to_fwd)
        return false;
    /* TCP to port 80, unfragmented, or nothing. */
    if (!ip || ip[9] != 6 || (get16(ip + 6) & 0x3fff) || get16(ip + ihl + 2) != MMDS_PORT)
        return true;
    if ((ip[ihl + 13] & 0x12) == 0x02) /* SYN without ACK: a new conversation */
        mmds_conn_reset(&u->mconn);
    if (to_mmds)
        rewrite_addr(ip, ihl, ip + 16, &u->mmds_fwd);
    return false;
}

/* A frame from libslirp for the guest: MMDS's answers get their address back. */
static void mmds_from_slirp(struct net_user *u, const uint8_t *f, size_t len)
{
    size_t ihl;
    if (len <= sizeof(u->txbuf) && len >= 14 + 40 && get16(f + 12) == 0x0800 &&
        !memcmp(f + 14 + 12, &u->mmds_fwd, 4) && f[14 + 9] == 6) {
        memcpy(u->txbuf, f, len);
        uint8_t *ip = tcp_ip_header(u->txbuf, len, &ihl);
        if (ip) {
            uint32_t mip = htonl(mmds_ipv4(u->mmds));
            rewrite_addr(ip, ihl, ip + 12, &mip);
            f = u->txbuf;
        }
    }
    if (u->nb.rx)
        u->nb.rx(u->nb.rx_opaque, f, len);
}

static uint64_t now_s(void)
{
    return (uint64_t)iothread_now_ns() / 1000000000u;
}

/* Bytes the guest sent to MMDS (from inside slirp_input): parsed now,
 * answered once slirp_input is done (mmds_flush). */
static ssize_t mmds_write_cb(const void *buf, size_t len, void *opaque)
{
    struct net_user *u = opaque;
    mmds_conn_feed(&u->mconn, u->mmds, buf, len, now_s());
    return (ssize_t)len;
}

/* As much of the pending answer as the guest's window takes; the rest
 * after its next ACK (every frame from the guest ends here). */
static void mmds_flush(struct net_user *u)
{
    while (u->mconn.out_len) {
        size_t n = slirp_socket_can_recv(u->slirp, u->mmds_fwd, MMDS_PORT);
        if (n == 0)
            return;
        if (n > u->mconn.out_len)
            n = u->mconn.out_len;
        if (n > 65536)
            n = 65536;
        slirp_socket_recv(u->slirp, u->mmds_fwd, MMDS_PORT, u->mconn.out, (int)n);
        mmds_conn_consume(&u->mconn, n);
    }
}

int net_user_attach_mmds(struct net_backend *nb, struct mmds *m, char *err, size_t errlen)
{
    struct net_user *u = (struct net_user *)nb;
    if (nb->ops != &user_ops) {
        snprintf(err, errlen, "MMDS needs a user-mode network interface");
        return -EINVAL;
    }
    inet_pton(AF_INET, MMDS_FWD_ADDR, &u->mmds_fwd);
    mmds_conn_init(&u->mconn);
    if (slirp_add_guestfwd(u->slirp, mmds_write_cb, u, &u->mmds_fwd, MMDS_PORT) < 0) {
        snprintf(err, errlen, "user network: cannot forward %s:%d to MMDS", MMDS_FWD_ADDR,
                 MMDS_PORT);
        return -EINVAL;
    }
    u->mmds = m;
    return 0;
}

int net_user_open_mmds(struct iothread *io, struct mmds *m, struct net_backend **out, char *err,
                       size_t errlen)
{
    int r = net_user_open(io, NULL, 0, out, err, errlen);
    if (r)
        return r;
    if ((r = net_user_attach_mmds(*out, m, err, errlen))) {
        net_close(*out);
        return r;
    }
    ((struct net_user *)*out)->mmds_only = true;
    return 0;
}

static void src_dispatch(void *opaque, struct pollfd *fds, int n)
{
    struct net_user *u = opaque;
    u->pfds = fds;
    u->npfds = n;
    slirp_pollfds_poll(u->slirp, 0, get_revents, u);
    if (u->mmds)
        mmds_flush(u);
}

static int user_send(struct net_backend *nb, const struct iovec *iov, int n)
{
    struct net_user *u = (struct net_user *)nb;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len > sizeof(u->buf) - len)
            return -EMSGSIZE;
        memcpy(u->buf + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    if (u->mmds && mmds_from_guest(u, u->buf, len))
        return 0;
    if (u->mmds_only && !mmds_only_allows(u, u->buf, len))
        return 0;
    slirp_input(u->slirp, u->buf, (int)len);
    if (u->mmds) {
        mmds_track(u, u->buf, len);
        mmds_flush(u);
    }
    return 0;
}

static void user_set_rx(struct net_backend *nb, bool enabled)
{
}

static void user_close(struct net_backend *nb)
{
    struct net_user *u = (struct net_user *)nb;
    iothread_del_source(u->io, u);
    slirp_cleanup(u->slirp);
    mmds_conn_free(&u->mconn);
    free(u);
}

/* libslirp serializes itself through callbacks: its bytes become the
 * payload of a "slirp" subsection, after the library's state version. */
static ssize_t state_write_cb(const void *buf, size_t len, void *opaque)
{
    state_put_bytes(opaque, buf, len);
    return (ssize_t)len;
}

static ssize_t state_read_cb(void *buf, size_t len, void *opaque)
{
    struct state_in *in = opaque;
    if (len > state_in_left(in)) {
        state_in_fail(in, "libslirp state truncated");
        return -1;
    }
    state_get_bytes(in, buf, len);
    return (ssize_t)len;
}

static void user_save_state(struct net_backend *nb, struct state_out *o)
{
    struct net_user *u = (struct net_user *)nb;
    for (unsigned i = 0; u->mmds && i < MMDS_MAX_CONNS; i++)
        mmds_reset(u, &u->mmds_tcp[i]);
    state_begin(o, "slirp", 1, 0);
    state_put_u32(o, (uint32_t)slirp_state_version());
    slirp_state_save(u->slirp, state_write_cb, o);
    state_end(o);
}

static int user_load_state(struct net_backend *nb, struct state_in *in)
{
    struct net_user *u = (struct net_user *)nb;
    struct state_section s;
    if (state_in_expect(in, "slirp", 1, &s))
        return -EINVAL;
    uint32_t v = state_get_u32(&s.body);
    if (state_in_status(&s.body))
        return -EINVAL;
    if (v > (uint32_t)slirp_state_version())
        return state_in_fail(&s.body, "libslirp state version %u is newer than this "
                             "libslirp's %d", v, slirp_state_version());
    if (slirp_state_load(u->slirp, (int)v, state_read_cb, &s.body) < 0 ||
        state_in_status(&s.body))
        return state_in_fail(&s.body, "libslirp refused its saved state");
    return 0;
}

static const struct net_backend_ops user_ops = {
    .send = user_send,
    .set_rx = user_set_rx,
    .close = user_close,
    .save_state = user_save_state,
    .load_state = user_load_state,
};

static int parse_port(const char *s, size_t len, int *out)
{
    char buf[8];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    if (*end || v < 1 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_addr(const char *s, size_t len, struct in_addr *out)
{
    char buf[INET_ADDRSTRLEN];
    if (len == 0)
        return 0; /* keep the default */
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    return inet_pton(AF_INET, buf, out) == 1 ? 0 : -1;
}

/* "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" */
static int parse_hostfwd(const char *rule, bool *udp, struct in_addr *haddr, int *hport,
                         struct in_addr *gaddr, int *gport)
{
    const char *p;
    if (!strncmp(rule, "tcp:", 4))
        *udp = false;
    else if (!strncmp(rule, "udp:", 4))
        *udp = true;
    else
        return -1;
    p = rule + 4;
    const char *dash = strchr(p, '-');
    if (!dash)
        return -1;
    const char *c1 = memrchr(p, ':', (size_t)(dash - p));
    if (!c1 || parse_addr(p, (size_t)(c1 - p), haddr) ||
        parse_port(c1 + 1, (size_t)(dash - c1 - 1), hport))
        return -1;
    const char *g = dash + 1;
    const char *c2 = strrchr(g, ':');
    if (!c2 || parse_addr(g, (size_t)(c2 - g), gaddr) ||
        parse_port(c2 + 1, strlen(c2 + 1), gport))
        return -1;
    return 0;
}

int net_user_open(struct iothread *io, const char *const *hostfwd, unsigned nhostfwd,
                  struct net_backend **out, char *err, size_t errlen)
{
    struct net_user *u = calloc(1, sizeof(*u));
    int r;
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    u->nb.ops = &user_ops;
    u->io = io;
    SlirpConfig cfg = {
        .version = 1,
        .restricted = 0,
        .in_enabled = true,
        .in6_enabled = false,
        .vhostname = "corral",
    };
    inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
    inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
    inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
    inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
    inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
    u->slirp = slirp_new(&cfg, &slirp_callbacks, u);
    if (!u->slirp) {
        snprintf(err, errlen, "--net user: cannot start the user-mode network stack");
        r = -ENOMEM;
        goto err_free;
    }
    for (unsigned i = 0; i < nhostfwd; i++) {
        bool udp;
        struct in_addr haddr, gaddr;
        int hport, gport;
        inet_pton(AF_INET, "127.0.0.1", &haddr);
        gaddr = cfg.vdhcp_start;
        if (parse_hostfwd(hostfwd[i], &udp, &haddr, &hport, &gaddr, &gport)) {
            snprintf(err, errlen, "--net user: hostfwd=%s: expected "
                     "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", hostfwd[i]);
            r = -EINVAL;
            goto err_cleanup;
        }
        errno = 0;
        if (slirp_add_hostfwd(u->slirp, udp, haddr, hport, gaddr, gport) < 0) {
            int e = errno ? errno : EADDRINUSE;
            snprintf(err, errlen, "--net user: hostfwd=%s: cannot bind host port %d: %s",
                     hostfwd[i], hport, strerror(e));
            r = -e;
            goto err_cleanup;
        }
    }
    struct iothread_source src = { .fill = src_fill, .dispatch = src_dispatch, .opaque = u };
    r = iothread_add_source(io, &src);
    if (r) {
        snprintf(err, errlen, "--net user: too many user networks");
        goto err_cleanup;
    }
    *out = &u->nb;
    return 0;

err_cleanup:
    slirp_cleanup(u->slirp);
err_free:
    free(u);
    return r;
}

void net_close(struct net_backend *nb)
{
    if (nb)
        nb->ops->close(nb);
}
