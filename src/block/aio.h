/* A small pool of worker threads that runs one disk's requests off the
 * I/O thread, several at once. The device submits jobs; a worker runs
 * each without any device lock, then either calls the job's own finish
 * hook (on the worker) or puts it on the done list and makes the pool's
 * eventfd readable, so the device's I/O-thread callback can reap it and
 * complete the request in the used ring.
 *
 * Ordering: a job starts only when it conflicts with no running job and
 * with no job queued before it. Two jobs conflict when either is
 * exclusive (an image format whose metadata is not thread-safe: qcow2
 * runs one job at a time) or when their byte ranges overlap, rounded out
 * to 4 KiB (O_DIRECT read-modify-write), and one of them writes. So
 * overlapping writes land in the order submitted, and everything else
 * may finish in any order.
 *
 * Threads: create/destroy on the main thread with no job queued;
 * submit, reap, wait_idle and busy from any thread. */
#ifndef CORRAL_BLOCK_AIO_H
#define CORRAL_BLOCK_AIO_H

#include <stdint.h>

#include "core/types.h"

struct blk_aio;

struct blk_aio_job {
    void (*run)(struct blk_aio_job *j);    /* on a worker */
    /* Optional: called on the worker after run, instead of the done
     * list (the job belongs to whoever waits for it, or the hook puts it
     * on the done list with blk_aio_post_done). The pool counts the job
     * busy until the hook returns. */
    void (*finish)(struct blk_aio_job *j);
    uint64_t start, end;                   /* bytes touched; start == end: none */
    bool writes;
    bool exclusive;
    /* The pool's own. */
    struct blk_aio_job *next;
    bool running;
};

/* `nthreads` workers (1..16). */
int blk_aio_create(struct blk_aio **out, unsigned nthreads) WARN_UNUSED;
void blk_aio_destroy(struct blk_aio *a);
void blk_aio_submit(struct blk_aio *a, struct blk_aio_job *j);
/* The eventfd that is readable while done jobs wait to be reaped. */
int blk_aio_fd(const struct blk_aio *a);
/* Every done job (a list through ->next, in completion order) or NULL.
 * No system call (a hart's reset reaps too). */
struct blk_aio_job *blk_aio_reap(struct blk_aio *a);
/* From a finish hook: the done list after all. */
void blk_aio_post_done(struct blk_aio *a, struct blk_aio_job *j);
/* Read the eventfd empty (its reader's thread: the I/O thread). */
void blk_aio_clear_fd(struct blk_aio *a);
/* Until no job is queued or running (done jobs may wait to be reaped). */
void blk_aio_wait_idle(struct blk_aio *a);
/* Jobs queued or running. */
unsigned blk_aio_busy(struct blk_aio *a);

#endif
