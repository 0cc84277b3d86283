/* The output ring (see ring.h) of the console and of the log: hart threads
 * must never wait on whoever reads either, so they only ever copy into
 * memory here. */
#include "core/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ring_init(struct ring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    if (!cap)
        return -EINVAL;
    r->buf = malloc(cap);
    if (!r->buf)
        return -ENOMEM;
    r->cap = cap;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int e = pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (e || (e = pthread_mutex_init(&r->lock, NULL))) {
        if (!e)
            pthread_cond_destroy(&r->cond);
        free(r->buf);
        r->buf = NULL;
        return -e;
    }
    return 0;
}

void ring_destroy(struct ring *r)
{
    if (!r->buf)
        return;
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->buf);
    r->buf = NULL;
}

/* Copy `n` bytes, which fit, in at the tail. Lock held. */
static void put_locked(struct ring *r, const uint8_t *buf, size_t n)
{
    bool was_empty = r->len == 0;
    size_t tail = (r->head + r->len) % r->cap;
    size_t first = n < r->cap - tail ? n : r->cap - tail;
    memcpy(r->buf + tail, buf, first);
    memcpy(r->buf, buf + first, n - first);
    r->len += n;
    if (was_empty && n)
        pthread_cond_broadcast(&r->cond);
}

size_t ring_put(struct ring *r, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&r->lock);
    size_t room = r->cap - r->len;
    size_t n = len < room ? len : room;
    put_locked(r, buf, n);
    pthread_mutex_unlock(&r->lock);
    if (n < len)
        atomic_fetch_add_explicit(&r->dropped, len - n, memory_order_relaxed);
    return n;
}

bool ring_put_all(struct ring *r, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&r->lock);
    bool fits = r->cap - r->len >= len;
    if (fits)
        put_locked(r, buf, len);
    pthread_mutex_unlock(&r->lock);
    if (!fits)
        atomic_fetch_add_explicit(&r->dropped, len, memory_order_relaxed);
    return fits;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

size_t ring_get(struct ring *r, uint8_t *out, size_t max, int timeout_ms)
{
    struct timespec ts;
    if (timeout_ms >= 0)
        deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&r->lock);
    while (!r->len && !r->closed) {
        if (timeout_ms < 0)
            pthread_cond_wait(&r->cond, &r->lock);
        else if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) == ETIMEDOUT)
            break;
    }
    size_t n = r->len < max ? r->len : max;
    size_t first = n < r->cap - r->head ? n : r->cap - r->head;
    memcpy(out, r->buf + r->head, first);
    memcpy(out + first, r->buf, n - first);
    r->head = (r->head + n) % r->cap;
    r->len -= n;
    if (n)
        r->busy = true;
    pthread_mutex_unlock(&r->lock);
    return n;
}

void ring_done(struct ring *r, size_t n)
{
    pthread_mutex_lock(&r->lock);
    r->busy = false;
    r->consumed += n;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

int ring_flush(struct ring *r, int stall_ms)
{
    int ret = 0;
    pthread_mutex_lock(&r->lock);
    while (r->len || r->busy) {
        uint64_t seen = r->consumed;
        struct timespec ts;
        deadline_after(&ts, stall_ms);
        int e = 0;
        while ((r->len || r->busy) && r->consumed == seen && e != ETIMEDOUT)
            e = pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        if (e == ETIMEDOUT && r->consumed == seen && (r->len || r->busy)) {
            ret = -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return ret;
}

void ring_close(struct ring *r)
{
    pthread_mutex_lock(&r->lock);
    r->closed = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

uint64_t ring_dropped(struct ring *r)
{
    return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
