/* Auto-converge (virt.h, machine_set_throttle): a guest that dirties
 * memory faster than a pre-copy migration can send it is slowed down, as
 * QEMU's cpu-throttle does it. Every THROTTLE_SLICE_NS of running, the I/O
 * thread's throttle timer gives each hart a sleep until a deadline,
 * pct/(100-pct) of a slice away, and kicks it; at its next block boundary
 * the hart sleeps on the pause condition until then. The sleep ends early
 * for a pause or a stop (wait_parked and machine_request_stop broadcast
 * the condition), so a throttled guest still pauses at once and the
 * switch-over's downtime is not a sleep longer; a hart let go after a
 * short pause (each round's dirty-log harvest parks the harts) sleeps on
 * to its deadline, or it would run unthrottled until the next tick. */
#include <errno.h>
#include <time.h>

#include "core/iothread.h"
#include "cpu/riscv/hart.h"
#include "machine/virt.h"

#define THROTTLE_SLICE_NS 10000000LL /* 10 ms, QEMU's time slice */

static int64_t sleep_ns(unsigned pct)
{
    return pct ? THROTTLE_SLICE_NS * pct / (100 - pct) : 0;
}

static void throttle_tick(void *opaque)
{
    struct machine *m = opaque;
    unsigned pct = atomic_load(&m->throttle_pct);
    if (!pct)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* pause_cond's clock */
    int64_t until = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec + sleep_ns(pct);
    for (unsigned i = 0; i < m->nharts; i++) {
        atomic_store(&m->thread_args[i].throttle_until_ns, until);
        hart_kick(m->harts[i]);
    }
    iothread_timer_mod(m->throttle_timer, iothread_now_ns() + THROTTLE_SLICE_NS + sleep_ns(pct));
}

int machine_throttle_init(struct machine *m)
{
    m->throttle_timer = iothread_timer_new(m->io, throttle_tick, m);
    return m->throttle_timer ? 0 : -ENOMEM;
}

void machine_set_throttle(struct machine *m, unsigned pct)
{
    if (pct > 99)
        pct = 99;
    unsigned old = atomic_exchange(&m->throttle_pct, pct);
    if (pct && !old && m->throttle_timer)
        iothread_timer_mod(m->throttle_timer, iothread_now_ns() + THROTTLE_SLICE_NS);
    if (!pct && old) {
        /* Sleeping harts go on at once. */
        pthread_mutex_lock(&m->pause_lock);
        pthread_cond_broadcast(&m->pause_cond);
        pthread_mutex_unlock(&m->pause_lock);
    }
}

unsigned machine_throttle(const struct machine *m)
{
    return atomic_load(&((struct machine *)m)->throttle_pct);
}

void machine_throttle_point(struct machine *m, struct hart_thread_arg *t)
{
    int64_t until = atomic_load(&t->throttle_until_ns);
    if (!until)
        return;
    struct timespec ts = { .tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL };
    pthread_mutex_lock(&m->pause_lock);
    while (!atomic_load(&m->pause_req) && atomic_load(&m->stop) == MACHINE_RUNNING &&
           atomic_load(&m->throttle_pct) &&
           pthread_cond_timedwait(&m->pause_cond, &m->pause_lock, &ts) != ETIMEDOUT)
        ;
    /* Slept to the deadline (or the throttle ended): this slice is done.
     * Cut short by a pause: keep it, the rest follows the pause. */
    if (!atomic_load(&m->pause_req))
        atomic_compare_exchange_strong(&t->throttle_until_ns, &until, 0);
    pthread_mutex_unlock(&m->pause_lock);
}
