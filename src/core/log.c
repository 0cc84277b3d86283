/* Logging (see log.h): a line is formatted on the caller's stack, then
 * either written to stderr at once or, from a thread that must not block,
 * copied whole into the log ring for the writer thread. */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/ring.h"

int log_verbose;

/* Set up once and never destroyed: a thread that saw the writer running
 * may still be putting a line in when it stops. */
static struct ring log_ring;
static bool writer_started;      /* main thread only */
static atomic_bool writer_running;
static pthread_t writer;
static _Atomic uint64_t dropped_lines;
static __thread bool nonblocking;

void log_thread_nonblocking(void)
{
    nonblocking = true;
}

uint64_t log_dropped_lines(void)
{
    return atomic_load_explicit(&dropped_lines, memory_order_relaxed);
}

/* The whole buffer, unless stderr is gone. */
static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* The one thread that may block on stderr. Between chunks (the ring only
 * ever holds whole lines, so a chunk that ends in '\n' ends a line) it
 * reports lines dropped since the last report. */
static void *writer_main(void *arg)
{
    char chunk[4096];
    uint64_t reported = 0;
    bool at_line_start = true;
    for (;;) {
        size_t n = ring_get(&log_ring, (uint8_t *)chunk, sizeof(chunk), -1);
        if (!n)
            return NULL; /* closed and empty */
        uint64_t d = log_dropped_lines();
        if (d != reported && at_line_start) {
            char line[128];
            int k = snprintf(line, sizeof(line),
                             "corral: warning: %llu log lines dropped (stderr did not keep "
                             "up)\n", (unsigned long long)(d - reported));
            write_all(line, (size_t)k);
            reported = d;
        }
        write_all(chunk, n);
        at_line_start = chunk[n - 1] == '\n';
        ring_done(&log_ring, n);
    }
}

int log_writer_start(void)
{
    if (writer_started)
        return 0;
    int r = ring_init(&log_ring, LOG_RING_BYTES);
    if (r)
        return r;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
    r = -pthread_create(&writer, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r) {
        ring_destroy(&log_ring);
        return r;
    }
    pthread_setname_np(writer, "log");
    writer_started = true;
    atomic_store(&writer_running, true);
    return 0;
}

void log_writer_stop(void)
{
    if (!atomic_exchange(&writer_running, false))
        return;
    /* Lines from now on are written directly; what is queued goes first,
     * unless the reader has stopped reading for good. */
    bool drained = ring_flush(&log_ring, LOG_FLUSH_STALL_MS) == 0;
    ring_close(&log_ring);
    if (drained)
        pthread_join(writer, NULL);
    else
        pthread_detach(writer); /* blocked in write(2) for good */
}

void log_msg(const char *level, const char *fmt, ...)
{
    /* One write per line so lines from different threads do not interleave. */
    char buf[1024];
    va_list ap;
    int n;

    if (level)
        n = snprintf(buf, sizeof(buf), "corral: %s: ", level);
    else
        n = snprintf(buf, sizeof(buf), "corral: ");
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - 1 - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(buf);
    buf[len++] = '\n';
    if (nonblocking && atomic_load(&writer_running)) {
        if (!ring_put_all(&log_ring, (const uint8_t *)buf, len))
            atomic_fetch_add_explicit(&dropped_lines, 1, memory_order_relaxed);
        return;
    }
    fwrite(buf, 1, len, stderr);
}

static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

bool log_ratelimit_ok(struct log_ratelimit *rl, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    uint64_t report = 0;
    bool ok;
    pthread_mutex_lock(&ratelimit_lock);
    if (!rl->window_start_ns || now - rl->window_start_ns >= LOG_RATELIMIT_WINDOW_MS * 1000000LL) {
        report = rl->suppressed;
        rl->suppressed = 0;
        rl->count = 0;
        rl->window_start_ns = now;
    }
    ok = rl->count < LOG_RATELIMIT_BURST;
    if (ok)
        rl->count++;
    else
        rl->suppressed++;
    pthread_mutex_unlock(&ratelimit_lock);
    if (report)
        log_msg("warning", "%s: %llu messages suppressed (rate limit)", what,
                (unsigned long long)report);
    return ok;
}
