#include "core/vclock.h"

#include <time.h>

int64_t vclock_host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void vclock_init(struct vclock *c)
{
    atomic_store(&c->offset_ns, vclock_host_now_ns());
    atomic_store(&c->paused_at_ns, 0);
}

uint64_t vclock_ticks(const struct vclock *c)
{
    int64_t paused = atomic_load(&c->paused_at_ns);
    int64_t now = paused ? paused : vclock_host_now_ns();
    int64_t ns = now - atomic_load(&c->offset_ns);
    if (ns < 0)
        ns = 0;
    /* 10 MHz = one tick per 100 ns. */
    return (uint64_t)ns / 100;
}

int64_t vclock_host_ns_at(const struct vclock *c, uint64_t ticks)
{
    if (ticks > (uint64_t)INT64_MAX / 100)
        return INT64_MAX;
    return (int64_t)(ticks * 100) + atomic_load(&c->offset_ns);
}

void vclock_pause(struct vclock *c)
{
    if (!atomic_load(&c->paused_at_ns))
        atomic_store(&c->paused_at_ns, vclock_host_now_ns());
}

void vclock_resume(struct vclock *c)
{
    int64_t paused = atomic_load(&c->paused_at_ns);
    if (!paused)
        return;
    atomic_fetch_add(&c->offset_ns, vclock_host_now_ns() - paused);
    atomic_store(&c->paused_at_ns, 0);
}

void vclock_set(struct vclock *c, uint64_t ticks)
{
    if (ticks > VCLOCK_MAX_TICKS)
        ticks = VCLOCK_MAX_TICKS;
    int64_t now = vclock_host_now_ns();
    atomic_store(&c->offset_ns, now - (int64_t)(ticks * 100));
    if (atomic_load(&c->paused_at_ns))
        atomic_store(&c->paused_at_ns, now);
}
