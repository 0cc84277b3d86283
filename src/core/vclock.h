/* The virtual machine's clock: a 10 MHz counter (the RISC-V `time` CSR and
 * the CLINT's mtime) derived from the host's monotonic clock. It stops while
 * the VM is paused, so a guest sees no jump in its timebase across a pause.
 * Any thread may read it; pause/resume are called by the VM lifecycle only. */
#ifndef CORRAL_CORE_VCLOCK_H
#define CORRAL_CORE_VCLOCK_H

#include <stdint.h>
#include <stdatomic.h>

#define VCLOCK_HZ 10000000ULL
/* The largest counter value a restore may set (about 228 years): far
 * enough below INT64_MAX nanoseconds that the clock arithmetic cannot
 * overflow for centuries after it. */
#define VCLOCK_MAX_TICKS (1ULL << 56)

struct vclock {
    _Atomic int64_t offset_ns; /* guest ns = host monotonic ns - offset_ns */
    _Atomic int64_t paused_at_ns; /* 0 when running */
};

void vclock_init(struct vclock *c);
/* Ticks at VCLOCK_HZ since the machine was created. */
uint64_t vclock_ticks(const struct vclock *c);
/* Host monotonic nanoseconds at which the clock will read `ticks`
 * (for absolute-time sleeps). */
int64_t vclock_host_ns_at(const struct vclock *c, uint64_t ticks);
int64_t vclock_host_now_ns(void);
void vclock_pause(struct vclock *c);
void vclock_resume(struct vclock *c);
/* Set the counter so that it reads `ticks` now (snapshot restore);
 * values above VCLOCK_MAX_TICKS are clamped to it. */
void vclock_set(struct vclock *c, uint64_t ticks);

#endif
