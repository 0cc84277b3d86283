/* PLIC (sifive,plic-1.0.0) as on QEMU's riscv virt board: 95 level-triggered
 * sources (1..95), two contexts per hart (2*i = hart i M-mode, 2*i+1 = hart
 * i S-mode), driving MIP.MEIP / MIP.SEIP.
 * Threads: MMIO handlers on hart threads, plic_set_level() from any thread
 * (devices, the I/O thread). create/destroy/save/load while harts are
 * stopped. Lock order: a device's own lock, then the PLIC's, then the
 * hart's (hart_set_irq is called with the PLIC lock held). */
#ifndef CORRAL_DEVICES_PLIC_H
#define CORRAL_DEVICES_PLIC_H

#include <pthread.h>

#include "core/types.h"
#include "devices/irq.h"
#include "mem/bus.h"

struct hart;

#define PLIC_BASE 0x0c000000ULL
#define PLIC_SIZE 0x4000000ULL
#define PLIC_NUM_SOURCES 96 /* ids 1..95; 0 means "no interrupt" */
#define PLIC_MAX_HARTS 8
#define PLIC_MAX_CONTEXTS (2 * PLIC_MAX_HARTS)
#define PLIC_MAX_PRIORITY 7
#define PLIC_WORDS (PLIC_NUM_SOURCES / 32)

struct plic {
    pthread_mutex_t lock;
    struct hart *harts[PLIC_MAX_HARTS];
    unsigned nharts;
    unsigned nctx;
    uint32_t priority[PLIC_NUM_SOURCES];
    uint32_t level[PLIC_WORDS];   /* input lines as devices drive them */
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS]; /* claimed, not yet completed */
    uint32_t enable[PLIC_MAX_CONTEXTS][PLIC_WORDS];
    uint32_t threshold[PLIC_MAX_CONTEXTS];
    bool output[PLIC_MAX_CONTEXTS]; /* last level given to hart_set_irq */
};

/* Saved state: plain copy of the registers and input levels. */
struct plic_state {
    uint32_t nctx;
    uint32_t priority[PLIC_NUM_SOURCES];
    uint32_t level[PLIC_WORDS];
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS];
    uint32_t enable[PLIC_MAX_CONTEXTS][PLIC_WORDS];
    uint32_t threshold[PLIC_MAX_CONTEXTS];
};

/* `harts` holds `nharts` (1..PLIC_MAX_HARTS) initialized harts. NULL on
 * bad arguments or no memory. Clears MEIP/SEIP on every hart. */
struct plic *plic_create(struct hart *const *harts, unsigned nharts);
void plic_destroy(struct plic *p);
/* Everything zero (priorities, enables, thresholds, pending, claims);
 * input levels are kept since devices hold them. */
void plic_reset(struct plic *p);
int plic_attach(struct plic *p, struct bus *b, gpa_t base) WARN_UNUSED;

/* Drive level-triggered source `src` (1..95; others ignored). Any thread. */
void plic_set_level(struct plic *p, unsigned src, bool level);
/* An irq_line for devices: irq_set(&line, level) == plic_set_level(). */
struct irq_line plic_irq_line(struct plic *p, unsigned src);

void plic_save(const struct plic *p, struct plic_state *out);
/* -EINVAL when the context count differs. */
int plic_load(struct plic *p, const struct plic_state *in) WARN_UNUSED;

struct state_out;
struct state_in;
#define PLIC_STATE_VERSION 1
/* Explicitly encoded fields of the "plic" section (state/state.h). */
void plic_save_state(const struct plic *p, struct state_out *o);
int plic_load_state(struct plic *p, struct state_in *in, uint32_t version) WARN_UNUSED;
#endif
