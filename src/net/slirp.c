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
#include "state/state.h"

struct net_user {
    struct net_backend nb;
    struct iothread *io;
    Slirp *slirp;
    struct pollfd *pfds;   /* this round's pollfds (fill -> dispatch) */
    int npfds, maxpfds;
    uint8_t buf[NET_MAX_FRAME];
};

struct slirp_timer {
    struct iothread_timer *t;
    SlirpTimerCb cb;
    void *cb_opaque;
};

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_user *u = opaque;
    if (u->nb.rx)
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

static void src_dispatch(void *opaque, struct pollfd *fds, int n)
{
    struct net_user *u = opaque;
    u->pfds = fds;
    u->npfds = n;
    slirp_pollfds_poll(u->slirp, 0, get_revents, u);
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
    slirp_input(u->slirp, u->buf, (int)len);
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
