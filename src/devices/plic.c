/* PLIC, as in QEMU's riscv virt board (RISC-V PLIC specification v1.0.0,
 * chapters "Memory map", "Interrupt Gateways", "Interrupt Claim Process",
 * "Interrupt Completion").
 *
 * Register map (offsets from 0x0C00_0000, all 32-bit, 4-byte aligned):
 *   0x000000 + 4*s          priority of source s (0..7; source 0 reserved)
 *   0x001000 + 4*w          pending bits of sources 32w..32w+31 (read-only)
 *   0x002000 + 0x80*c + 4*w enable bits of context c
 *   0x200000 + 0x1000*c     priority threshold of context c (0..7)
 *   0x200004 + 0x1000*c     claim (read) / complete (write) of context c
 * Context 2*i is hart i in M-mode (MIP.MEIP), 2*i+1 hart i in S-mode
 * (MIP.SEIP).
 *
 * Gateways are level-triggered: a high input pends its source unless the
 * source is claimed and not yet completed; a low input withdraws a pending
 * request that was not yet claimed (as QEMU does, so a device that drops
 * its line does not leave a spurious claim behind). Completion re-opens the
 * gateway, and a still-high input pends the source again at once.
 * A context's output is high when some source is pending, enabled for it
 * and has priority > its threshold; priority 0 never interrupts. Claim
 * picks the highest priority, lowest id on ties.
 * Other offsets and access sizes read 0 and ignore writes. */
#include "devices/plic.h"
#include "state/state.h"

#include <errno.h>
#include <stdlib.h>

#include "cpu/riscv/hart.h"

#define PLIC_PRIORITY 0x000000
#define PLIC_PENDING 0x001000
#define PLIC_ENABLE 0x002000
#define PLIC_ENABLE_STRIDE 0x80
#define PLIC_CONTEXT 0x200000
#define PLIC_CONTEXT_STRIDE 0x1000

static bool plic_bit(const uint32_t *bits, unsigned src)
{
    return bits[src / 32] >> (src % 32) & 1;
}

static void plic_put_bit(uint32_t *bits, unsigned src, bool v)
{
    if (v)
        bits[src / 32] |= 1u << (src % 32);
    else
        bits[src / 32] &= ~(1u << (src % 32));
}

/* Best claimable source for `ctx` above its threshold, or 0. */
static unsigned plic_best_locked(const struct plic *p, unsigned ctx)
{
    unsigned best = 0;
    uint32_t best_prio = p->threshold[ctx];
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        uint32_t cand = p->pending[w] & p->enable[ctx][w];
        while (cand) {
            unsigned src = w * 32 + (unsigned)__builtin_ctz(cand);
            cand &= cand - 1;
            /* Strictly greater: keeps the lowest id on ties, and a
             * priority-0 source never beats threshold 0. */
            if (p->priority[src] > best_prio) {
                best_prio = p->priority[src];
                best = src;
            }
        }
    }
    return best;
}

static void plic_update_locked(struct plic *p, bool force)
{
    for (unsigned ctx = 0; ctx < p->nctx; ctx++) {
        bool out = plic_best_locked(p, ctx) != 0;
        if (out == p->output[ctx] && !force)
            continue;
        p->output[ctx] = out;
        hart_set_irq(p->harts[ctx / 2], ctx & 1 ? MIP_SEIP : MIP_MEIP, out);
    }
}

static void plic_reset_locked(struct plic *p)
{
    for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
        p->priority[i] = 0;
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        p->claimed[w] = 0;
        p->pending[w] = p->level[w];
    }
    for (unsigned c = 0; c < PLIC_MAX_CONTEXTS; c++) {
        for (unsigned w = 0; w < PLIC_WORDS; w++)
            p->enable[c][w] = 0;
        p->threshold[c] = 0;
    }
    plic_update_locked(p, true);
}

struct plic *plic_create(struct hart *const *harts, unsigned nharts)
{
    if (!harts || nharts < 1 || nharts > PLIC_MAX_HARTS)
        return NULL;
    for (unsigned i = 0; i < nharts; i++)
        if (!harts[i])
            return NULL;
    struct plic *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->lock, NULL)) {
        free(p);
        return NULL;
    }
    for (unsigned i = 0; i < nharts; i++)
        p->harts[i] = harts[i];
    p->nharts = nharts;
    p->nctx = 2 * nharts;
    plic_reset(p);
    return p;
}

void plic_destroy(struct plic *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void plic_reset(struct plic *p)
{
    pthread_mutex_lock(&p->lock);
    plic_reset_locked(p);
    pthread_mutex_unlock(&p->lock);
}

void plic_set_level(struct plic *p, unsigned src, bool level)
{
    if (src == 0 || src >= PLIC_NUM_SOURCES)
        return;
    pthread_mutex_lock(&p->lock);
    plic_put_bit(p->level, src, level);
    if (!plic_bit(p->claimed, src))
        plic_put_bit(p->pending, src, level);
    plic_update_locked(p, false);
    pthread_mutex_unlock(&p->lock);
}

static void plic_irq_set(void *opaque, unsigned line, bool level)
{
    plic_set_level(opaque, line, level);
}

struct irq_line plic_irq_line(struct plic *p, unsigned src)
{
    return (struct irq_line){ .set = plic_irq_set, .opaque = p, .line = src };
}

static uint32_t plic_claim_locked(struct plic *p, unsigned ctx)
{
    unsigned src = plic_best_locked(p, ctx);
    if (src) {
        plic_put_bit(p->pending, src, false);
        plic_put_bit(p->claimed, src, true);
        plic_update_locked(p, false);
    }
    return src;
}

static void plic_complete_locked(struct plic *p, unsigned ctx, uint64_t src)
{
    /* Spec: a completion for a source not enabled for this context is
     * silently ignored. */
    if (src == 0 || src >= PLIC_NUM_SOURCES ||
        !plic_bit(p->enable[ctx], (unsigned)src))
        return;
    plic_put_bit(p->claimed, (unsigned)src, false);
    if (plic_bit(p->level, (unsigned)src))
        plic_put_bit(p->pending, (unsigned)src, true);
    plic_update_locked(p, false);
}

static int plic_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    struct plic *p = opaque;
    *val = 0;
    if (size != 4 || (off & 3))
        return 0;
    pthread_mutex_lock(&p->lock);
    if (off < PLIC_PENDING) {
        if (off / 4 < PLIC_NUM_SOURCES)
            *val = p->priority[off / 4];
    } else if (off < PLIC_ENABLE) {
        if ((off - PLIC_PENDING) / 4 < PLIC_WORDS)
            *val = p->pending[(off - PLIC_PENDING) / 4];
    } else if (off < PLIC_CONTEXT) {
        uint64_t ctx = (off - PLIC_ENABLE) / PLIC_ENABLE_STRIDE;
        uint64_t w = (off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE / 4;
        if (ctx < p->nctx && w < PLIC_WORDS)
            *val = p->enable[ctx][w];
    } else {
        uint64_t ctx = (off - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE;
        uint64_t reg = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
        if (ctx < p->nctx && reg == 0)
            *val = p->threshold[ctx];
        else if (ctx < p->nctx && reg == 4)
            *val = plic_claim_locked(p, (unsigned)ctx);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static int plic_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct plic *p = opaque;
    if (size != 4 || (off & 3))
        return 0;
    val = (uint32_t)val;
    pthread_mutex_lock(&p->lock);
    if (off < PLIC_PENDING) {
        uint64_t src = off / 4;
        if (src > 0 && src < PLIC_NUM_SOURCES) {
            p->priority[src] = val & PLIC_MAX_PRIORITY;
            plic_update_locked(p, false);
        }
    } else if (off < PLIC_ENABLE) {
        /* pending bits are read-only */
    } else if (off < PLIC_CONTEXT) {
        uint64_t ctx = (off - PLIC_ENABLE) / PLIC_ENABLE_STRIDE;
        uint64_t w = (off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE / 4;
        if (ctx < p->nctx && w < PLIC_WORDS) {
            p->enable[ctx][w] = (uint32_t)val & (w == 0 ? ~1u : ~0u);
            plic_update_locked(p, false);
        }
    } else {
        uint64_t ctx = (off - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE;
        uint64_t reg = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
        if (ctx < p->nctx && reg == 0) {
            p->threshold[ctx] = val & PLIC_MAX_PRIORITY;
            plic_update_locked(p, false);
        } else if (ctx < p->nctx && reg == 4) {
            plic_complete_locked(p, (unsigned)ctx, val);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static const struct mmio_ops plic_mmio_ops = {
    .read = plic_read,
    .write = plic_write,
};

int plic_attach(struct plic *p, struct bus *b, gpa_t base)
{
    return bus_add_mmio(b, base, PLIC_SIZE, &plic_mmio_ops, p, "plic");
}

void plic_save(const struct plic *p, struct plic_state *out)
{
    struct plic *mp = (struct plic *)p; /* the lock only */
    pthread_mutex_lock(&mp->lock);
    *out = (struct plic_state){ .nctx = p->nctx };
    for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
        out->priority[i] = p->priority[i];
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        out->level[w] = p->level[w];
        out->pending[w] = p->pending[w];
        out->claimed[w] = p->claimed[w];
    }
    for (unsigned c = 0; c < p->nctx; c++) {
        for (unsigned w = 0; w < PLIC_WORDS; w++)
            out->enable[c][w] = p->enable[c][w];
        out->threshold[c] = p->threshold[c];
    }
    pthread_mutex_unlock(&mp->lock);
}

int plic_load(struct plic *p, const struct plic_state *in)
{
    if (in->nctx != p->nctx)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    /* Saved data may come from a file: mask every field to what the
     * registers can hold, so a loaded state is one the guest could reach. */
    p->priority[0] = 0;
    for (unsigned i = 1; i < PLIC_NUM_SOURCES; i++)
        p->priority[i] = in->priority[i] & PLIC_MAX_PRIORITY;
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        uint32_t mask = w == 0 ? ~1u : ~0u;
        p->level[w] = in->level[w] & mask;
        p->claimed[w] = in->claimed[w] & mask;
        p->pending[w] = in->pending[w] & mask & ~p->claimed[w];
    }
    for (unsigned c = 0; c < PLIC_MAX_CONTEXTS; c++) {
        bool used = c < p->nctx;
        for (unsigned w = 0; w < PLIC_WORDS; w++)
            p->enable[c][w] = used ? in->enable[c][w] & (w == 0 ? ~1u : ~0u) : 0;
        p->threshold[c] = used ? in->threshold[c] & PLIC_MAX_PRIORITY : 0;
    }
    plic_update_locked(p, true);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* ---- saved state: section "plic", version 1 ----
 * u32 nctx, u32 nsources, priority[nsources] u32, u32 nwords, then
 * level, pending, claimed [nwords] u32, then per context: enable[nwords]
 * u32, threshold u32. */
void plic_save_state(const struct plic *p, struct state_out *o)
{
    struct plic_state s;
    plic_save(p, &s);
    state_put_u32(o, s.nctx);
    state_put_u32(o, PLIC_NUM_SOURCES);
    for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
        state_put_u32(o, s.priority[i]);
    state_put_u32(o, PLIC_WORDS);
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        state_put_u32(o, s.level[w]);
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        state_put_u32(o, s.pending[w]);
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        state_put_u32(o, s.claimed[w]);
    for (unsigned c = 0; c < s.nctx; c++) {
        for (unsigned w = 0; w < PLIC_WORDS; w++)
            state_put_u32(o, s.enable[c][w]);
        state_put_u32(o, s.threshold[c]);
    }
}

int plic_load_state(struct plic *p, struct state_in *in, uint32_t version)
{
    static struct plic_state zero;
    struct plic_state s = zero;
    s.nctx = state_get_u32(in);
    uint32_t nsrc = state_get_u32(in);
    if (state_in_status(in))
        return -EINVAL;
    if (s.nctx != p->nctx)
        return state_in_fail(in, "saved with %u contexts, this machine has %u", s.nctx,
                             p->nctx);
    if (nsrc != PLIC_NUM_SOURCES)
        return state_in_fail(in, "saved with %u sources, expected %u", nsrc, PLIC_NUM_SOURCES);
    for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
        s.priority[i] = state_get_u32(in);
    if (state_get_u32(in) != PLIC_WORDS)
        return state_in_fail(in, "bad source word count");
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        s.level[w] = state_get_u32(in);
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        s.pending[w] = state_get_u32(in);
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        s.claimed[w] = state_get_u32(in);
    for (unsigned c = 0; c < s.nctx; c++) {
        for (unsigned w = 0; w < PLIC_WORDS; w++)
            s.enable[c][w] = state_get_u32(in);
        s.threshold[c] = state_get_u32(in);
    }
    if (state_in_status(in))
        return -EINVAL;
    return plic_load(p, &s) ? state_in_fail(in, "inconsistent PLIC state") : 0;
}
