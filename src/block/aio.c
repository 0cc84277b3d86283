/* The disk worker pool (aio.h). One mutex guards the job list (queued
 * and running jobs in the order submitted) and the done list; workers
 * sleep on one condition variable and are woken when a job is submitted
 * or one finishes (it may have been what held another back). */
#include "block/aio.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/seccomp.h"

#define MAX_THREADS 16
#define ALIGN 4096ULL

struct blk_aio {
    pthread_mutex_t lock;
    pthread_cond_t work;   /* a job may be startable, or stop */
    pthread_cond_t idle;   /* a job left the list */
    struct blk_aio_job *head, *tail; /* queued and running */
    struct blk_aio_job *done, *done_tail;
    unsigned busy;
    bool stop;
    int efd;
    unsigned nthreads;
    pthread_t threads[MAX_THREADS];
};

static bool conflict(const struct blk_aio_job *a, const struct blk_aio_job *b)
{
    if (a->exclusive || b->exclusive)
        return true;
    if (!a->writes && !b->writes)
        return false;
    if (a->start == a->end || b->start == b->end)
        return false;
    uint64_t as = a->start & ~(ALIGN - 1), bs = b->start & ~(ALIGN - 1);
    uint64_t ae = a->end + ALIGN - 1, be = b->end + ALIGN - 1;
    ae = ae < a->end ? UINT64_MAX : ae & ~(ALIGN - 1);
    be = be < b->end ? UINT64_MAX : be & ~(ALIGN - 1);
    return as < be && bs < ae;
}

/* The first job that may start now, or NULL: every job before it (queued
 * or running) and every running job after it must leave it alone. Lock
 * held; the list is short (a queue's requests in flight). */
static struct blk_aio_job *startable_locked(struct blk_aio *a)
{
    for (struct blk_aio_job *j = a->head; j; j = j->next) {
        if (j->running)
            continue;
        bool ok = true, past = false;
        for (struct blk_aio_job *o = a->head; o && ok; o = o->next) {
            if (o == j)
                past = true;
            else if ((!past || o->running) && conflict(o, j))
                ok = false;
        }
        if (ok)
            return j;
    }
    return NULL;
}

static void unlink_locked(struct blk_aio *a, struct blk_aio_job *j)
{
    struct blk_aio_job **pp = &a->head, *prev = NULL;
    while (*pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = j->next;
    if (a->tail == j)
        a->tail = prev;
    j->next = NULL;
}

static void post_done_locked(struct blk_aio *a, struct blk_aio_job *j)
{
    j->next = NULL;
    if (a->done_tail)
        a->done_tail->next = j;
    else
        a->done = j;
    a->done_tail = j;
    uint64_t one = 1;
    (void)!write(a->efd, &one, sizeof(one));
}

void blk_aio_post_done(struct blk_aio *a, struct blk_aio_job *j)
{
    pthread_mutex_lock(&a->lock);
    post_done_locked(a, j);
    pthread_mutex_unlock(&a->lock);
}

static void *worker(void *opaque)
{
    struct blk_aio *a = opaque;
    sandbox_enter(SANDBOX_IO); /* the I/O thread's disk calls, nothing more */
    pthread_mutex_lock(&a->lock);
    for (;;) {
        struct blk_aio_job *j;
        while (!a->stop && !(j = startable_locked(a)))
            pthread_cond_wait(&a->work, &a->lock);
        if (a->stop)
            break;
        j->running = true;
        pthread_mutex_unlock(&a->lock);
        j->run(j);
        pthread_mutex_lock(&a->lock);
        unlink_locked(a, j);
        j->running = false;
        if (j->finish) {
            /* Still busy until the hook is over: wait_idle means no job
             * will be handed back any more. */
            pthread_mutex_unlock(&a->lock);
            j->finish(j); /* j may be gone after this */
            pthread_mutex_lock(&a->lock);
        } else {
            post_done_locked(a, j);
        }
        a->busy--;
        pthread_cond_broadcast(&a->work);
        pthread_cond_broadcast(&a->idle);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int blk_aio_create(struct blk_aio **out, unsigned nthreads)
{
    if (nthreads < 1 || nthreads > MAX_THREADS)
        return -EINVAL;
    struct blk_aio *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    int r;
    a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->efd < 0) {
        r = -errno;
        goto err_free;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->work, NULL);
    pthread_cond_init(&a->idle, NULL);
    for (; a->nthreads < nthreads; a->nthreads++) {
        r = -pthread_create(&a->threads[a->nthreads], NULL, worker, a);
        if (r)
            goto err_stop;
    }
    *out = a;
    return 0;

err_stop:
    blk_aio_destroy(a);
    return r;
err_free:
    free(a);
    return r;
}

void blk_aio_destroy(struct blk_aio *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_broadcast(&a->work);
    pthread_mutex_unlock(&a->lock);
    for (unsigned i = 0; i < a->nthreads; i++)
        pthread_join(a->threads[i], NULL);
    pthread_cond_destroy(&a->work);
    pthread_cond_destroy(&a->idle);
    pthread_mutex_destroy(&a->lock);
    close(a->efd);
    free(a);
}

void blk_aio_submit(struct blk_aio *a, struct blk_aio_job *j)
{
    j->next = NULL;
    j->running = false;
    pthread_mutex_lock(&a->lock);
    if (a->tail)
        a->tail->next = j;
    else
        a->head = j;
    a->tail = j;
    a->busy++;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
}

int blk_aio_fd(const struct blk_aio *a)
{
    return a->efd;
}

void blk_aio_clear_fd(struct blk_aio *a)
{
    uint64_t v;
    (void)!read(a->efd, &v, sizeof(v));
}

struct blk_aio_job *blk_aio_reap(struct blk_aio *a)
{
    pthread_mutex_lock(&a->lock);
    struct blk_aio_job *j = a->done;
    a->done = a->done_tail = NULL;
    pthread_mutex_unlock(&a->lock);
    return j;
}

void blk_aio_wait_idle(struct blk_aio *a)
{
    pthread_mutex_lock(&a->lock);
    while (a->busy)
        pthread_cond_wait(&a->idle, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

unsigned blk_aio_busy(struct blk_aio *a)
{
    pthread_mutex_lock(&a->lock);
    unsigned n = a->busy;
    pthread_mutex_unlock(&a->lock);
    return n;
}
