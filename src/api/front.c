/* The API socket's front door (front.h).
 *
 * A connection's first bytes are read with MSG_PEEK, so the library later
 * reads the same request from the socket itself; the socket is watched
 * edge-triggered, so peeked bytes that stay queued do not wake the thread
 * again until more arrive. Nothing here blocks: sockets are non-blocking
 * and a reply that does not fit the socket's buffer is cut short (a JSON
 * fault is a few hundred bytes). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/front.h"
#include "api/http_head.h"
#include "core/log.h"
#include "core/seccomp.h"

struct pending {
    int fd;
    uint64_t deadline_ms;
    struct sockaddr_un addr;
    socklen_t addrlen;
    /* Another user's: refused with 403 once its request is in (refused
     * at once, its client would fail to send rather than read the 403). */
    bool foreign;
};

struct api_front {
    int listen_fd, ep, wake_fd;
    struct MHD_Daemon *daemon;
    uid_t owner;
    pthread_t thread;
    struct pending pend[API_FRONT_MAX_PENDING];
    unsigned npend;
    char buf[HTTP_MAX_HEAD];
};

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Answer with rep's fault and close: what the client sent and nobody
 * will read is discarded first, so the close is an end of stream for the
 * client, not a reset that could hide the answer. */
static void refuse(int fd, struct api_reply *rep)
{
    json_t *j = json_pack("{s:s}", "fault_message", rep->fault);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    const char *phrase = MHD_get_reason_phrase_for(rep->status);
    /* One send: the status line and the body arrive together. */
    char msg[256 + API_ERR_LEN * 6];
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     rep->status, phrase && *phrase ? phrase : "Error",
                     body ? strlen(body) : 0, body ? body : "");
    free(body);
    char sink[4096];
    for (int i = 0; i < 64 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++) {
    }
    if (n > 0 && (size_t)n < sizeof(msg))
        (void)!send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void refuse_status(int fd, unsigned status, const char *msg)
{
    struct api_reply rep = { 0 };
    api_reply_fault(&rep, status, "%s", msg);
    refuse(fd, &rep);
}

static void drop(struct api_front *f, unsigned i)
{
    epoll_ctl(f->ep, EPOLL_CTL_DEL, f->pend[i].fd, NULL);
    f->pend[i] = f->pend[--f->npend];
}

/* Look at what connection i has sent so far; settle it if the head is
 * complete or refused. */
static void examine(struct api_front *f, unsigned i, bool hangup)
{
    struct pending *p = &f->pend[i];
    ssize_t n = recv(p->fd, f->buf, sizeof(f->buf), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && !hangup)
        return;
    int fd = p->fd;
    if (n <= 0) { /* gone before sending a request */
        drop(f, i);
        close(fd);
        return;
    }
    struct api_reply rep = { 0 };
    enum http_head_result r = http_head_check(f->buf, (size_t)n, &rep);
    if (r == HTTP_HEAD_MORE && !hangup)
        return;
    struct sockaddr_un addr = p->addr;
    socklen_t addrlen = p->addrlen;
    bool foreign = p->foreign;
    drop(f, i);
    if (foreign) {
        refuse_status(fd, 403, "the API serves only the VMM's own user");
        return;
    }
    if (r == HTTP_HEAD_OK) {
        /* The library closes fd if it cannot take it (connection limit). */
        if (MHD_add_connection(f->daemon, fd, (struct sockaddr *)&addr, addrlen) != MHD_YES)
            log_debug("api: a connection was refused by the server: %s", strerror(errno));
        return;
    }
    if (r == HTTP_HEAD_MORE) /* the client shut its side mid-head */
        api_reply_fault(&rep, 400, "the request head ended before its blank line");
    refuse(fd, &rep);
}

static bool peer_is_owner(struct api_front *f, int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    return cred.uid == f->owner || cred.uid == 0;
}

static void accept_all(struct api_front *f)
{
    for (;;) {
        struct pending p = { .addrlen = sizeof(p.addr) };
        p.fd = accept4(f->listen_fd, (struct sockaddr *)&p.addr, &p.addrlen,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (p.fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                log_debug("api: accept: %s", strerror(errno));
            return;
        }
        p.foreign = !peer_is_owner(f, p.fd);
        if (f->npend == API_FRONT_MAX_PENDING) {
            refuse_status(p.fd, 503, "too many connections are waiting to send a request");
            continue;
        }
        p.deadline_ms = now_ms() + API_FRONT_TIMEOUT_S * 1000;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = p.fd };
        if (epoll_ctl(f->ep, EPOLL_CTL_ADD, p.fd, &ev) < 0) {
            close(p.fd);
            continue;
        }
        f->pend[f->npend++] = p;
        examine(f, f->npend - 1, false);
    }
}

static int find(struct api_front *f, int fd)
{
    for (unsigned i = 0; i < f->npend; i++)
        if (f->pend[i].fd == fd)
            return (int)i;
    return -1;
}

/* Time out the heads not complete by their deadline; returns the wait
 * until the next deadline, in ms (-1: none). */
static int expire(struct api_front *f)
{
    uint64_t now = now_ms(), next = UINT64_MAX;
    for (unsigned i = 0; i < f->npend;) {
        if (f->pend[i].deadline_ms <= now) {
            int fd = f->pend[i].fd;
            drop(f, i);
            refuse_status(fd, 408, "no complete request head within 10 s");
            continue;
        }
        if (f->pend[i].deadline_ms < next)
            next = f->pend[i].deadline_ms;
        i++;
    }
    return next == UINT64_MAX ? -1 : (int)(next - now);
}

static void *front_main(void *arg)
{
    struct api_front *f = arg;
    bool sandboxed = false;
    for (;;) {
        struct epoll_event ev[32];
        int n = epoll_wait(f->ep, ev, 32, expire(f));
        if (n < 0 && errno != EINTR)
            break;
        if (!sandboxed) {
            /* Lazily, as the server's threads do: the sandbox goes on
             * after start-up, once this thread has work. */
            sandbox_enter_once(SANDBOX_API);
            sandboxed = true;
        }
        bool stop = false;
        for (int k = 0; k < n; k++) {
            int fd = ev[k].data.fd;
            if (fd == f->wake_fd) {
                stop = true;
            } else if (fd == f->listen_fd) {
                accept_all(f);
            } else {
                int i = find(f, fd);
                if (i >= 0)
                    examine(f, (unsigned)i, ev[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
            }
        }
        if (stop)
            break;
    }
    return NULL;
}

int api_front_start(struct api_front **out, int listen_fd, struct MHD_Daemon *daemon,
                    uid_t owner)
{
    struct api_front *f = calloc(1, sizeof(*f));
    if (!f) {
        close(listen_fd);
        return -ENOMEM;
    }
    f->listen_fd = listen_fd;
    f->daemon = daemon;
    f->owner = owner;
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int r = 0;
    struct epoll_event lev = { .events = EPOLLIN, .data.fd = listen_fd };
    struct epoll_event wev = { .events = EPOLLIN, .data.fd = f->wake_fd };
    if (f->ep < 0 || f->wake_fd < 0 || epoll_ctl(f->ep, EPOLL_CTL_ADD, listen_fd, &lev) < 0 ||
        epoll_ctl(f->ep, EPOLL_CTL_ADD, f->wake_fd, &wev) < 0)
        goto fail;
    /* accept4 must not block when a client is gone before it is taken. */
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        goto fail;
    r = -pthread_create(&f->thread, NULL, front_main, f);
    if (r)
        goto fail;
    *out = f;
    return 0;
fail:
    if (!r)
        r = -errno;
    if (f->ep >= 0)
        close(f->ep);
    if (f->wake_fd >= 0)
        close(f->wake_fd);
    close(listen_fd);
    free(f);
    return r ? r : -EIO;
}

void api_front_stop(struct api_front *f)
{
    if (!f)
        return;
    uint64_t one = 1;
    (void)!write(f->wake_fd, &one, sizeof(one));
    pthread_join(f->thread, NULL);
    for (unsigned i = 0; i < f->npend; i++)
        close(f->pend[i].fd);
    close(f->listen_fd);
    close(f->ep);
    close(f->wake_fd);
    free(f);
}
