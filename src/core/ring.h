/* A bounded byte ring between producers that must never block (hart
 * threads writing the console) and one consumer that may (a thread
 * writing to a slow pipe or terminal). When the ring is full the newest
 * bytes are dropped and counted: a stalled reader costs output, never a
 * stalled guest.
 * Threads: ring_put from any thread (takes a mutex for a memcpy only);
 * ring_get/ring_done from the one consumer thread; ring_flush/ring_close
 * from any thread; init/destroy with no other user. */
#ifndef CORRAL_CORE_RING_H
#define CORRAL_CORE_RING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

struct ring {
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* data arrived, closed, or consumed */
    uint8_t *buf;
    size_t cap, head, len;    /* under lock */
    bool busy;                /* under lock: consumer holds bytes not yet written */
    bool closed;              /* under lock */
    uint64_t consumed;        /* under lock: bytes handed to ring_done */
    _Atomic uint64_t dropped; /* bytes refused because the ring was full */
};

int ring_init(struct ring *r, size_t cap) WARN_UNUSED;
void ring_destroy(struct ring *r);
/* Store what fits, drop (and count) the rest. Returns bytes stored. */
size_t ring_put(struct ring *r, const uint8_t *buf, size_t len);
/* All `len` bytes or none (a log line is never cut); false = dropped. */
bool ring_put_all(struct ring *r, const uint8_t *buf, size_t len);
/* Consumer: wait for data (up to timeout_ms; < 0 = forever) and copy up
 * to `max` bytes out. Returns the count, 0 on timeout or when closed and
 * empty. Call ring_done after writing them. */
size_t ring_get(struct ring *r, uint8_t *out, size_t max, int timeout_ms);
void ring_done(struct ring *r, size_t n);
/* Wait until everything stored so far was consumed, giving up when the
 * consumer made no progress for stall_ms. 0 or -ETIMEDOUT. */
int ring_flush(struct ring *r, int stall_ms) WARN_UNUSED;
/* Wake the consumer for good: ring_get returns 0 once the ring is empty. */
void ring_close(struct ring *r);
uint64_t ring_dropped(struct ring *r);

#endif
