/* PUT /metrics: Firecracker's metrics sink. Every interval (and on
 * FlushMetrics, and once more when the sink closes) the VM's counters,
 * GET /metrics's document plus a timestamp, go out as one JSON line to a
 * file or a named pipe.
 *
 * A pipe whose reader is slow or absent must never hold anything up: the
 * file is opened non-blocking (a FIFO read-write, so the open itself does
 * not wait for a reader either), a line that finds the pipe full waits at
 * most a few milliseconds for room, and is then dropped and counted; the
 * count travels in the next line that gets through. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/log.h"
#include "core/seccomp.h"

#define SINK_WAIT_MS 20 /* for room in a full pipe, per line */

struct api_metrics {
    struct vm *vm;
    int fd;
    unsigned interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;  /* the counters, stop, writes */
    pthread_cond_t cond;
    bool stop;
    uint64_t lines, dropped;
    json_t *extra;         /* members added to every line; NULL: none */
};

/* The whole line or nothing that counts: a pipe that stays full past
 * SINK_WAIT_MS drops the line. A line the reader got part of (over
 * PIPE_BUF, on a pipe) is finished, if it can be, so the next one starts
 * on a line of its own. */
static bool write_line(int fd, const char *p, size_t n)
{
    size_t done = 0;
    int waited = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN && waited < SINK_WAIT_MS) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            poll(&pfd, 1, 5);
            waited += 5;
            continue;
        }
        if (done > 0 && write(fd, "\n", 1) < 0) {
            /* nothing more to do: the reader is gone or stuck */
        }
        return false;
    }
    return true;
}

static int flush_locked(struct api_metrics *m)
{
    json_t *j = vm_metrics_json(m->vm);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (j) {
        json_object_set_new(j, "utc_timestamp_ms",
                            json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
        json_object_set_new(j, "metrics_sink",
                            json_pack("{s:I, s:I}", "lines", (json_int_t)m->lines,
                                      "dropped_lines", (json_int_t)m->dropped));
        if (m->extra)
            json_object_update(j, m->extra);
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        m->dropped++;
        return -ENOMEM;
    }
    size_t n = strlen(s);
    s[n] = '\n'; /* json_dumps's NUL becomes the line's end */
    bool ok = write_line(m->fd, s, n + 1);
    free(s);
    if (!ok) {
        m->dropped++;
        return -EAGAIN;
    }
    m->lines++;
    return 0;
}

static void *sink_main(void *arg)
{
    struct api_metrics *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += m->interval_ms / 1000;
        until.tv_nsec += (long)(m->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int r = 0;
        while (!m->stop && r != ETIMEDOUT)
            r = pthread_cond_timedwait(&m->cond, &m->lock, &until);
        if (!m->stop) {
            sandbox_enter_once(SANDBOX_API); /* it reads /proc like GET /metrics */
            (void)flush_locked(m);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int api_metrics_open(struct api_metrics **out, struct vm *vm, const char *path,
                     unsigned interval_ms, const json_t *extra, char *err)
{
    int fd = log_open_output(path, "metrics: metrics_path", err, API_ERR_LEN);
    if (fd < 0)
        return fd;
    struct api_metrics *m = calloc(1, sizeof(*m));
    if (!m) {
        close(fd);
        snprintf(err, API_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    m->vm = vm;
    m->fd = fd;
    m->extra = extra ? json_deep_copy(extra) : NULL;
    m->interval_ms = interval_ms ? interval_ms : API_METRICS_INTERVAL_MS;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    /* Signals stay with the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = -pthread_create(&m->thread, NULL, sink_main, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r) {
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->lock);
        json_decref(m->extra);
        close(fd);
        free(m);
        snprintf(err, API_ERR_LEN, "metrics: cannot start its thread: %s", strerror(-r));
        return r;
    }
    pthread_setname_np(m->thread, "metrics");
    *out = m;
    return 0;
}

int api_metrics_flush(struct api_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    int r = flush_locked(m);
    pthread_mutex_unlock(&m->lock);
    return r;
}

void api_metrics_counts(struct api_metrics *m, uint64_t *lines, uint64_t *dropped)
{
    pthread_mutex_lock(&m->lock);
    *lines = m->lines;
    *dropped = m->dropped;
    pthread_mutex_unlock(&m->lock);
}

void api_metrics_close(struct api_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    (void)flush_locked(m); /* the thread is gone: the lock is ours alone */
    close(m->fd);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    json_decref(m->extra);
    free(m);
}
