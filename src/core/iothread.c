/* The I/O thread's event loop (see iothread.h). Registered fds live in an
 * epoll set whose own fd is one entry of the poll() set, next to the poll
 * sources' fds; timers are a short list scanned every round (a handful of
 * backends use them). Entries removed during a round are freed at its
 * end so a callback may remove itself or another. */
#include "core/iothread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/seccomp.h"

#define IOTHREAD_MAX_SOURCES 4
#define IOTHREAD_MAX_DRAINS 16 /* disks */
#define IOTHREAD_MAX_POLLFDS 256

struct fd_entry {
    int fd;
    bool dead;
    iothread_fd_cb *cb;
    void *opaque;
    struct fd_entry *next;
};

struct iothread_timer {
    struct iothread *io;
    iothread_timer_cb *cb;
    void *opaque;
    int64_t expire_ns; /* -1: not armed */
    bool dead;
    struct iothread_timer *next;
};

struct iothread {
    int epfd;
    int kick_fd;
    pthread_t thread;
    bool running;
    _Atomic bool stop;
    pthread_mutex_t timer_lock;
    struct fd_entry *fds;
    struct iothread_timer *timers;
    struct iothread_source sources[IOTHREAD_MAX_SOURCES];
    int nsources;
    struct {
        iothread_drain_cb *cb;
        void *opaque;
    } drains[IOTHREAD_MAX_DRAINS];
    int ndrains;
};

int64_t iothread_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void kick_read(void *opaque, uint32_t events)
{
    struct iothread *io = opaque;
    uint64_t v;
    if (read(io->kick_fd, &v, sizeof(v)) < 0) {
        /* nothing pending */
    }
}

int iothread_create(struct iothread **out)
{
    struct iothread *io = calloc(1, sizeof(*io));
    int r;
    if (!io)
        return -ENOMEM;
    io->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (io->epfd < 0) {
        r = -errno;
        goto err_free;
    }
    io->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (io->kick_fd < 0) {
        r = -errno;
        goto err_close_ep;
    }
    pthread_mutex_init(&io->timer_lock, NULL);
    r = iothread_add_fd(io, io->kick_fd, EPOLLIN, kick_read, io);
    if (r)
        goto err_close_kick;
    *out = io;
    return 0;

err_close_kick:
    close(io->kick_fd);
err_close_ep:
    close(io->epfd);
err_free:
    free(io);
    return r;
}

static void reap(struct iothread *io)
{
    for (struct fd_entry **p = &io->fds; *p;) {
        struct fd_entry *e = *p;
        if (e->dead) {
            *p = e->next;
            free(e);
        } else {
            p = &e->next;
        }
    }
    pthread_mutex_lock(&io->timer_lock);
    for (struct iothread_timer **p = &io->timers; *p;) {
        struct iothread_timer *t = *p;
        if (t->dead) {
            *p = t->next;
            free(t);
        } else {
            p = &t->next;
        }
    }
    pthread_mutex_unlock(&io->timer_lock);
}

void iothread_destroy(struct iothread *io)
{
    if (!io)
        return;
    iothread_stop(io);
    for (struct fd_entry *e = io->fds; e; e = e->next)
        e->dead = true;
    pthread_mutex_lock(&io->timer_lock);
    for (struct iothread_timer *t = io->timers; t; t = t->next)
        t->dead = true;
    pthread_mutex_unlock(&io->timer_lock);
    reap(io);
    close(io->kick_fd);
    close(io->epfd);
    pthread_mutex_destroy(&io->timer_lock);
    free(io);
}

void iothread_kick(struct iothread *io)
{
    uint64_t one = 1;
    if (write(io->kick_fd, &one, sizeof(one)) < 0) {
        /* counter saturated: the loop wakes anyway */
    }
}

/* Set on the loop's own thread: lets callers tell whether they run inside
 * a callback (no race with pthread_create storing the thread id). */
static __thread const struct iothread *current_io;

bool iothread_is_current(const struct iothread *io)
{
    return current_io == io;
}

int iothread_add_fd(struct iothread *io, int fd, uint32_t events, iothread_fd_cb *cb,
                    void *opaque)
{
    struct fd_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->fd = fd;
    e->cb = cb;
    e->opaque = opaque;
    struct epoll_event ev = { .events = events, .data.ptr = e };
    if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int r = -errno;
        free(e);
        return r;
    }
    e->next = io->fds;
    io->fds = e;
    return 0;
}

static struct fd_entry *find_fd(struct iothread *io, int fd)
{
    for (struct fd_entry *e = io->fds; e; e = e->next)
        if (!e->dead && e->fd == fd)
            return e;
    return NULL;
}

int iothread_mod_fd(struct iothread *io, int fd, uint32_t events)
{
    struct fd_entry *e = find_fd(io, fd);
    if (!e)
        return -ENOENT;
    struct epoll_event ev = { .events = events, .data.ptr = e };
    return epoll_ctl(io->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void iothread_del_fd(struct iothread *io, int fd)
{
    struct fd_entry *e = find_fd(io, fd);
    if (!e)
        return;
    epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
    e->dead = true;
    if (!iothread_is_current(io))
        reap(io);
}

int iothread_add_source(struct iothread *io, const struct iothread_source *src)
{
    if (io->nsources >= IOTHREAD_MAX_SOURCES)
        return -ENOSPC;
    io->sources[io->nsources++] = *src;
    return 0;
}

void iothread_del_source(struct iothread *io, void *opaque)
{
    for (int i = 0; i < io->nsources; i++) {
        if (io->sources[i].opaque == opaque) {
            memmove(&io->sources[i], &io->sources[i + 1],
                    (size_t)(io->nsources - i - 1) * sizeof(io->sources[0]));
            io->nsources--;
            return;
        }
    }
}

struct iothread_timer *iothread_timer_new(struct iothread *io, iothread_timer_cb *cb,
                                          void *opaque)
{
    struct iothread_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->io = io;
    t->cb = cb;
    t->opaque = opaque;
    t->expire_ns = -1;
    pthread_mutex_lock(&io->timer_lock);
    t->next = io->timers;
    io->timers = t;
    pthread_mutex_unlock(&io->timer_lock);
    return t;
}

void iothread_timer_mod(struct iothread_timer *t, int64_t expire_ns)
{
    pthread_mutex_lock(&t->io->timer_lock);
    t->expire_ns = expire_ns < 0 ? 0 : expire_ns;
    pthread_mutex_unlock(&t->io->timer_lock);
    if (!iothread_is_current(t->io))
        iothread_kick(t->io);
}

void iothread_timer_del(struct iothread_timer *t)
{
    pthread_mutex_lock(&t->io->timer_lock);
    t->expire_ns = -1;
    pthread_mutex_unlock(&t->io->timer_lock);
}

void iothread_timer_free(struct iothread_timer *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->io->timer_lock);
    t->expire_ns = -1;
    t->dead = true;
    pthread_mutex_unlock(&t->io->timer_lock);
}

/* Run due timers; returns ms until the next one (-1: none). A callback
 * may re-arm or free timers, so the scan restarts after each one. */
static int run_timers(struct iothread *io)
{
    for (;;) {
        int64_t now = iothread_now_ns(), next = -1;
        struct iothread_timer *due = NULL;
        pthread_mutex_lock(&io->timer_lock);
        for (struct iothread_timer *t = io->timers; t; t = t->next) {
            if (t->dead || t->expire_ns < 0)
                continue;
            if (t->expire_ns <= now) {
                due = t;
                break;
            }
            if (next < 0 || t->expire_ns < next)
                next = t->expire_ns;
        }
        if (due)
            due->expire_ns = -1;
        pthread_mutex_unlock(&io->timer_lock);
        if (due) {
            due->cb(due->opaque);
            continue;
        }
        if (next < 0)
            return -1;
        int64_t ms = (next - now + 999999) / 1000000;
        return ms > 60000 ? 60000 : (int)ms;
    }
}

static void *iothread_main(void *arg)
{
    struct iothread *io = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    sandbox_enter(SANDBOX_IO);
    current_io = io;

    struct pollfd pfds[IOTHREAD_MAX_POLLFDS];
    int src_at[IOTHREAD_MAX_SOURCES + 1];
    while (!atomic_load(&io->stop)) {
        int timeout = run_timers(io);
        int n = 0;
        pfds[n++] = (struct pollfd){ .fd = io->epfd, .events = POLLIN };
        for (int i = 0; i < io->nsources; i++) {
            src_at[i] = n;
            n += io->sources[i].fill(io->sources[i].opaque, pfds + n,
                                     IOTHREAD_MAX_POLLFDS - n, &timeout);
        }
        src_at[io->nsources] = n;
        int r = poll(pfds, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR) {
            log_error("I/O thread: poll: %s", strerror(errno));
            break;
        }
        if (r > 0 && (pfds[0].revents & POLLIN)) {
            struct epoll_event evs[64];
            int ne = epoll_wait(io->epfd, evs, 64, 0);
            for (int i = 0; i < ne; i++) {
                struct fd_entry *e = evs[i].data.ptr;
                if (!e->dead)
                    e->cb(e->opaque, evs[i].events);
            }
        }
        /* Sources dispatch every round: slirp runs its TCP timers there. */
        for (int i = 0; i < io->nsources; i++)
            io->sources[i].dispatch(io->sources[i].opaque, pfds + src_at[i],
                                    src_at[i + 1] - src_at[i]);
        reap(io);
    }
    return NULL;
}

int iothread_start(struct iothread *io)
{
    if (io->running)
        return 0;
    atomic_store(&io->stop, false);
    int r = pthread_create(&io->thread, NULL, iothread_main, io);
    if (r)
        return -r;
    io->running = true;
    return 0;
}

void iothread_stop(struct iothread *io)
{
    if (!io->running)
        return;
    atomic_store(&io->stop, true);
    iothread_kick(io);
    pthread_join(io->thread, NULL);
    io->running = false;
    for (int i = 0; i < io->ndrains; i++)
        io->drains[i].cb(io->drains[i].opaque);
}

int iothread_add_drain(struct iothread *io, iothread_drain_cb *cb, void *opaque)
{
    if (io->ndrains == IOTHREAD_MAX_DRAINS)
        return -ENOSPC;
    io->drains[io->ndrains].cb = cb;
    io->drains[io->ndrains].opaque = opaque;
    io->ndrains++;
    return 0;
}

void iothread_del_drain(struct iothread *io, void *opaque)
{
    for (int i = 0; i < io->ndrains; i++)
        if (io->drains[i].opaque == opaque) {
            io->drains[i] = io->drains[--io->ndrains];
            return;
        }
}
