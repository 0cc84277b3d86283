/* CLINT (sifive,clint0): per-hart software interrupt (msip), per-hart timer
 * compare (mtimecmp) and the machine timer (mtime) of the virt board.
 * MMIO handlers run on any hart thread; create/destroy/save/load are called
 * by the machine while harts are stopped. */
#ifndef CORRAL_DEVICES_CLINT_H
#define CORRAL_DEVICES_CLINT_H

#include <pthread.h>

#include "core/types.h"
#include "core/vclock.h"
#include "mem/bus.h"

struct hart;

#define CLINT_BASE 0x02000000ULL
#define CLINT_SIZE 0x10000ULL
#define CLINT_MAX_HARTS 8

struct clint {
    pthread_mutex_t lock; /* serializes read-modify-write of mtimecmp halves */
    struct hart *harts[CLINT_MAX_HARTS];
    unsigned nharts;
    struct vclock *clock;
    uint32_t msip[CLINT_MAX_HARTS];
};

/* Saved state. mtimecmp is also a hart field; it is kept here so the CLINT
 * section alone restores the timer interrupt source. */
struct clint_state {
    uint32_t nharts;
    uint32_t msip[CLINT_MAX_HARTS];
    uint64_t mtimecmp[CLINT_MAX_HARTS];
};

/* `harts` holds `nharts` (1..CLINT_MAX_HARTS) initialized harts. Resets
 * them to msip = 0, mtimecmp = UINT64_MAX. NULL on bad arguments or no
 * memory. */
struct clint *clint_create(struct hart *const *harts, unsigned nharts,
                           struct vclock *clock);
void clint_destroy(struct clint *c);
/* msip = 0 and mtimecmp = UINT64_MAX on every hart (no pending timer). */
void clint_reset(struct clint *c);
int clint_attach(struct clint *c, struct bus *b, gpa_t base) WARN_UNUSED;

void clint_save(const struct clint *c, struct clint_state *out);
/* -EINVAL when the state was saved with a different number of harts. */
int clint_load(struct clint *c, const struct clint_state *in) WARN_UNUSED;

struct state_out;
struct state_in;
#define CLINT_STATE_VERSION 1
/* Explicitly encoded fields of the "clint" section (state/state.h). */
void clint_save_state(const struct clint *c, struct state_out *o);
int clint_load_state(struct clint *c, struct state_in *in, uint32_t version) WARN_UNUSED;
#endif
