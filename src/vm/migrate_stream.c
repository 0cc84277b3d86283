/* Migration stream plumbing (migrate_stream.h). */
#include "vm/migrate_stream.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

static int fail(char *err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, MIG_ERR_LEN, fmt, ap);
    va_end(ap);
    return r;
}

/* "tcp:HOST:PORT" -> host, port (the host may be empty: any / localhost). */
static int split_tcp(const char *rest, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(rest, ':');
    if (!colon || !colon[1] || (size_t)(colon - rest) >= hcap || strlen(colon + 1) >= pcap)
        return -EINVAL;
    memcpy(host, rest, (size_t)(colon - rest));
    host[colon - rest] = 0;
    strcpy(port, colon + 1);
    for (const char *c = port; *c; c++)
        if (*c < '0' || *c > '9')
            return -EINVAL;
    long n = strtol(port, NULL, 10);
    return n >= 1 && n <= 65535 ? 0 : -EINVAL;
}

void mig_tune(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool mig_is_break(int r)
{
    switch (-r) {
    case EPIPE: case ECONNRESET: case ETIMEDOUT: case ECONNABORTED: case ENOTCONN:
    case ESHUTDOWN: case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN: case ENETRESET:
    case EIO:
        return true;
    default:
        return false;
    }
}

static int parse_fd(const char *s, int *fd)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 65535)
        return -EINVAL;
    *fd = (int)v;
    return 0;
}

int mig_uri_check(const char *uri, char *err)
{
    char host[256], port[16];
    int fd;
    if (!uri || !*uri)
        return fail(err, -EINVAL, "a uri is required (tcp:HOST:PORT, unix:PATH, fd:N)");
    if (!strncmp(uri, "fd:", 3))
        return parse_fd(uri + 3, &fd) ? fail(err, -EINVAL, "%s: not a file descriptor number",
                                              uri) : 0;
    if (!strncmp(uri, "unix:", 5))
        return !uri[5] || strlen(uri + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)
                   ? fail(err, -EINVAL, "%s: bad socket path", uri) : 0;
    if (strncmp(uri, "tcp:", 4))
        return fail(err, -EINVAL, "%s: unknown transport (tcp:HOST:PORT, unix:PATH, fd:N)", uri);
    if (split_tcp(uri + 4, host, sizeof(host), port, sizeof(port)))
        return fail(err, -EINVAL, "%s: expected tcp:HOST:PORT (port 1..65535)", uri);
    return 0;
}

int mig_connect(const char *uri, int *fd, char *err)
{
    if (!strncmp(uri, "fd:", 3)) {
        if (parse_fd(uri + 3, fd))
            return fail(err, -EINVAL, "%s: not a file descriptor number", uri);
        return 0;
    }
    if (!strncmp(uri, "unix:", 5)) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        if (!uri[5] || strlen(uri + 5) >= sizeof(a.sun_path))
            return fail(err, -EINVAL, "%s: bad socket path", uri);
        strcpy(a.sun_path, uri + 5);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
            int e = errno;
            if (s >= 0)
                close(s);
            return fail(err, -e, "%s: cannot connect: %s", uri, strerror(e));
        }
        *fd = s;
        return 0;
    }
    if (strncmp(uri, "tcp:", 4))
        return fail(err, -EINVAL, "%s: unknown transport (tcp:HOST:PORT, unix:PATH, fd:N)", uri);
    char host[256], port[16];
    if (split_tcp(uri + 4, host, sizeof(host), port, sizeof(port)))
        return fail(err, -EINVAL, "%s: expected tcp:HOST:PORT (port 1..65535)", uri);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    int g = getaddrinfo(host[0] ? host : "localhost", port, &hints, &res);
    if (g)
        return fail(err, -EINVAL, "%s: %s", uri, gai_strerror(g));
    int s = -1, e = ECONNREFUSED;
    for (ai = res; ai; ai = ai->ai_next) {
        s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (s >= 0 && connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        if (s >= 0)
            close(s);
        s = -1;
    }
    freeaddrinfo(res);
    if (s < 0)
        return fail(err, -e, "%s: cannot connect: %s", uri, strerror(e));
    mig_tune(s);
    *fd = s;
    return 0;
}

int mig_listen(const char *uri, int *fd, bool *connected, char *err)
{
    int ls = -1;
    *connected = false;
    if (!strncmp(uri, "fd:", 3)) {
        if (parse_fd(uri + 3, fd))
            return fail(err, -EINVAL, "--incoming %s: not a file descriptor number", uri);
        *connected = true;
        return 0;
    }
    if (!strncmp(uri, "unix:", 5)) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        if (!uri[5] || strlen(uri + 5) >= sizeof(a.sun_path))
            return fail(err, -EINVAL, "--incoming %s: bad socket path", uri);
        strcpy(a.sun_path, uri + 5);
        unlink(a.sun_path);
        ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1)) {
            int e = errno;
            if (ls >= 0)
                close(ls);
            return fail(err, -e, "--incoming %s: %s", uri, strerror(e));
        }
    } else if (!strncmp(uri, "tcp:", 4)) {
        char host[256], port[16];
        if (split_tcp(uri + 4, host, sizeof(host), port, sizeof(port)))
            return fail(err, -EINVAL, "--incoming %s: expected tcp:HOST:PORT (port 1..65535)", uri);
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
        int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
        if (g)
            return fail(err, -EINVAL, "--incoming %s: %s", uri, gai_strerror(g));
        ls = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
        int one = 1;
        if (ls >= 0)
            (void)setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ls < 0 || bind(ls, res->ai_addr, res->ai_addrlen) || listen(ls, 1)) {
            int e = errno;
            if (ls >= 0)
                close(ls);
            freeaddrinfo(res);
            return fail(err, -e, "--incoming %s: %s", uri, strerror(e));
        }
        freeaddrinfo(res);
    } else {
        return fail(err, -EINVAL, "--incoming %s: unknown transport (tcp:HOST:PORT, "
                    "unix:PATH, fd:N)", uri);
    }
    *fd = ls;
    return 0;
}

int mig_accept_on(int ls, const char *uri, int *fd, volatile sig_atomic_t *stop, char *err)
{
    for (;;) {
        if (stop && *stop) {
            close(ls);
            return fail(err, -EINTR, "--incoming %s: interrupted", uri);
        }
        struct pollfd p = { .fd = ls, .events = POLLIN };
        int n = poll(&p, 1, 200);
        if (n <= 0)
            continue;
        int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0)
            continue;
        close(ls);
        mig_tune(s);
        *fd = s;
        return 0;
    }
}

int mig_accept(const char *uri, int *fd, volatile sig_atomic_t *stop, char *err)
{
    int ls;
    bool connected;
    int r = mig_listen(uri, &ls, &connected, err);
    if (r || connected) {
        *fd = ls;
        return r;
    }
    return mig_accept_on(ls, uri, fd, stop, err);
}

static int io_all(int fd, void *buf, size_t len, bool wr, char *err)
{
    uint8_t *p = buf;
    while (len) {
        struct pollfd pf = { .fd = fd, .events = wr ? POLLOUT : POLLIN };
        int n = poll(&pf, 1, MIG_TIMEOUT_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return fail(err, -ETIMEDOUT, "migration stream: no progress for %d s",
                        MIG_TIMEOUT_MS / 1000);
        ssize_t k = wr ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            return fail(err, k == 0 ? -EPIPE : -errno, "migration stream: %s",
                        k == 0 ? "the peer closed the connection" : strerror(errno));
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int mig_send(int fd, const struct state_out *o, char *err)
{
    if (state_out_status(o))
        return fail(err, -EINVAL, "migration stream: cannot encode a frame");
    return io_all(fd, o->buf, o->len, true, err);
}

int mig_recv(int fd, uint8_t **buf, size_t *cap, struct state_section *s, char *err)
{
    uint8_t head[1 + STATE_ID_MAX + 16];
    int r;
    if ((r = io_all(fd, head, 1, false, err)))
        return r;
    unsigned idlen = head[0];
    if (idlen == 0 || idlen > STATE_ID_MAX)
        return fail(err, -EPROTO, "migration stream: garbage (bad frame header)");
    if ((r = io_all(fd, head + 1, idlen + 16, false, err)))
        return r;
    uint64_t len = 0;
    for (unsigned i = 0; i < 8; i++)
        len |= (uint64_t)head[1 + idlen + 8 + i] << (8 * i);
    if (len > MIG_FRAME_MAX)
        return fail(err, -EPROTO, "migration stream: frame of %llu bytes refused",
                    (unsigned long long)len);
    size_t total = 1 + idlen + 16 + (size_t)len + 8;
    if (total > *cap) {
        uint8_t *nb = realloc(*buf, total);
        if (!nb)
            return fail(err, -ENOMEM, "migration stream: out of memory");
        *buf = nb;
        *cap = total;
    }
    memcpy(*buf, head, 1 + idlen + 16);
    if ((r = io_all(fd, *buf + 1 + idlen + 16, (size_t)len + 8, false, err)))
        return r;
    struct state_in in;
    state_in_init(&in, *buf, total, "migration stream", err, MIG_ERR_LEN);
    r = state_in_next(&in, s);
    if (r <= 0)
        return -EPROTO;
    /* The body must not point at `in`'s latch, which dies here. */
    s->body.failed = &s->body.own_failed;
    s->body.own_failed = false;
    return 0;
}

int mig_send_simple(int fd, const char *id, const char *reason, char *err)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, id, 1, 0);
    state_put_str(&o, reason);
    state_end(&o);
    int r = mig_send(fd, &o, err);
    state_out_free(&o);
    return r;
}
