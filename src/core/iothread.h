/* The I/O thread: one host thread running an event loop for device
 * backends (disk and network file descriptors, eventfds from MMIO
 * handlers, timers). Everything a backend registers here is called on
 * the I/O thread only, so backends need no locks among themselves.
 *
 * The loop is poll() over the epoll fd (for registered fds) plus the fds
 * of "poll sources" (libslirp wants a fresh pollfd set every round), with
 * the timeout of the nearest timer.
 *
 * Threads: create/destroy from the main thread with the loop stopped;
 * start/stop from the main thread; add/mod/del fd and sources, and
 * create timers, before start or on the I/O thread itself;
 * iothread_timer_mod/del and iothread_kick from any thread (the timers
 * are under their own lock and the loop is woken). */
#ifndef CORRAL_CORE_IOTHREAD_H
#define CORRAL_CORE_IOTHREAD_H

#include <poll.h>
#include <stdint.h>

#include "core/types.h"

struct iothread;
struct iothread_timer;

/* `events` as for epoll (EPOLLIN, EPOLLOUT...). */
typedef void iothread_fd_cb(void *opaque, uint32_t events);
typedef void iothread_timer_cb(void *opaque);

/* A poll source is asked for its pollfds before every wait and given the
 * results after. fill() returns how many entries of `fds` (room for
 * `max`) it used and may lower *timeout_ms (-1 = none). */
struct iothread_source {
    int (*fill)(void *opaque, struct pollfd *fds, int max, int *timeout_ms);
    void (*dispatch)(void *opaque, struct pollfd *fds, int n);
    void *opaque;
};

int iothread_create(struct iothread **out) WARN_UNUSED;
void iothread_destroy(struct iothread *io);
int iothread_start(struct iothread *io) WARN_UNUSED;
/* Returns once the loop has finished its current round and exited and
 * every drain hook has run. */
void iothread_stop(struct iothread *io);
/* A drain hook runs on iothread_stop's caller after the loop exited:
 * a device finishes the requests it still has in flight on threads of
 * its own, so a stopped I/O thread means a quiet device (pause,
 * snapshot). Add and remove with the loop stopped. */
typedef void iothread_drain_cb(void *opaque);
int iothread_add_drain(struct iothread *io, iothread_drain_cb *cb, void *opaque) WARN_UNUSED;
void iothread_del_drain(struct iothread *io, void *opaque);
/* Wake the loop (e.g. after arming a timer from another thread). */
void iothread_kick(struct iothread *io);
bool iothread_is_current(const struct iothread *io);

int iothread_add_fd(struct iothread *io, int fd, uint32_t events,
                    iothread_fd_cb *cb, void *opaque) WARN_UNUSED;
int iothread_mod_fd(struct iothread *io, int fd, uint32_t events) WARN_UNUSED;
void iothread_del_fd(struct iothread *io, int fd);

int iothread_add_source(struct iothread *io, const struct iothread_source *src) WARN_UNUSED;
void iothread_del_source(struct iothread *io, void *opaque);

/* Timers fire once at an absolute host monotonic time in ns. */
struct iothread_timer *iothread_timer_new(struct iothread *io, iothread_timer_cb *cb,
                                          void *opaque);
void iothread_timer_mod(struct iothread_timer *t, int64_t expire_ns);
void iothread_timer_del(struct iothread_timer *t);
void iothread_timer_free(struct iothread_timer *t);
int64_t iothread_now_ns(void);

#endif
