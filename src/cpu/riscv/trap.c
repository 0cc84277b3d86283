/* Traps: taking exceptions and interrupts (with delegation to S), the
 * return instructions, and the interrupt lines other threads drive.
 *
 * Interrupt state has three sources: mip_hw (device lines, written by any
 * thread with atomics), mip_sw (bits software writes through mip/sip) and
 * the two timer compares, evaluated against the virtual clock when asked
 * rather than stored, so no thread has to "fire" a timer. A hart in wfi
 * sleeps on wake_cond with a deadline at the earliest enabled compare;
 * every cross-thread change signals wake_cond under wake_lock after
 * updating state, so the sleeper either sees the change before sleeping or
 * is woken by it. Privileged spec 3.1.9 (mip/mie), 3.3.1-3.3.2 (xRET,
 * WFI), 3.1.6.1 (interrupt stacking), 3.1.8 (delegation). */
#include "cpu/riscv/csr.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

static void irq_recheck(struct hart *h)
{
    atomic_store_explicit(&h->irq_recheck, 1, memory_order_release);
}

/* Which timer bits are asserted right now. `want` limits the work to the
 * bits the caller cares about, so no clock read happens when neither
 * timer interrupt is enabled. */
static uint64_t timer_bits(struct hart *h, uint64_t want)
{
    bool sstc = h->menvcfg & MENVCFG_STCE;
    uint64_t v = 0;
    if (!sstc)
        v |= h->mip_sw & MIP_STIP;
    if (!(want & (MIP_MTIP | (sstc ? MIP_STIP : 0))))
        return v & want;
    uint64_t now = vclock_ticks(h->clock);
    if (now >= atomic_load_explicit(&h->mtimecmp, memory_order_relaxed))
        v |= MIP_MTIP;
    if (sstc && now >= h->stimecmp)
        v |= MIP_STIP;
    return v & want;
}

static uint64_t mip_nontimer(struct hart *h)
{
    uint64_t hw = atomic_load_explicit(&h->mip_hw, memory_order_acquire);
    return (hw & (MIP_MSIP | MIP_MEIP | MIP_SEIP)) |
           (h->mip_sw & (MIP_SSIP | MIP_SEIP));
}

uint64_t hart_mip_read(struct hart *h)
{
    return mip_nontimer(h) | timer_bits(h, MIP_MTIP | MIP_STIP);
}

uint64_t hart_pending_irqs(struct hart *h)
{
    uint64_t mie = h->mie;
    return (mip_nontimer(h) | timer_bits(h, mie)) & mie;
}

void hart_raise(struct hart *h, uint64_t cause, uint64_t tval)
{
    bool irq = cause & CAUSE_INTERRUPT;
    uint64_t code = cause & ~CAUSE_INTERRUPT;
    uint64_t deleg = irq ? h->mideleg : h->medeleg;
    uint64_t old_priv = h->priv;
    uint64_t ms = h->mstatus;
    uint64_t tvec;

    if (old_priv <= PRIV_S && code < 64 && ((deleg >> code) & 1)) {
        h->sepc = h->pc & ~1ULL;
        h->scause = cause;
        h->stval = tval;
        ms &= ~(MSTATUS_SPIE | MSTATUS_SPP);
        if (ms & MSTATUS_SIE)
            ms |= MSTATUS_SPIE;
        if (old_priv == PRIV_S)
            ms |= MSTATUS_SPP;
        ms &= ~MSTATUS_SIE;
        hart_set_priv(h, PRIV_S);
        tvec = h->stvec;
    } else {
        h->mepc = h->pc & ~1ULL;
        h->mcause = cause;
        h->mtval = tval;
        ms &= ~(MSTATUS_MPIE | MSTATUS_MPP);
        if (ms & MSTATUS_MIE)
            ms |= MSTATUS_MPIE;
        ms |= (old_priv & 3) << 11;
        ms &= ~MSTATUS_MIE;
        hart_set_priv(h, PRIV_M);
        tvec = h->mtvec;
    }
    h->mstatus = ms;
    /* Vectored mode only applies to interrupts. */
    h->pc = (tvec & ~3ULL) + ((irq && (tvec & 3) == 1) ? 4 * code : 0);
    h->trap_pending = 1;
    /* no TLB flush for the new privilege level: the tags carry it */
}

/* Highest priority first: MEI, MSI, MTI, SEI, SSI, STI. */
static const uint8_t irq_order[] = {
    IRQ_M_EXT, IRQ_M_SOFT, IRQ_M_TIMER, IRQ_S_EXT, IRQ_S_SOFT, IRQ_S_TIMER,
};

static int pick_irq(uint64_t bits)
{
    for (unsigned i = 0; i < ARRAY_SIZE(irq_order); i++)
        if (bits & (1ULL << irq_order[i]))
            return irq_order[i];
    return -1;
}

bool hart_check_interrupts(struct hart *h)
{
    /* Clear first: a line raised after this point sets it again. */
    atomic_store_explicit(&h->irq_recheck, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t pending = hart_pending_irqs(h);
    if (!pending)
        return false;

    uint64_t ms = h->mstatus;
    bool m_on = h->priv < PRIV_M || (ms & MSTATUS_MIE);
    bool s_on = h->priv < PRIV_S || (h->priv == PRIV_S && (ms & MSTATUS_SIE));
    /* Interrupts for M are serviced before those delegated to S. */
    int irq = m_on ? pick_irq(pending & ~h->mideleg) : -1;
    if (irq < 0 && s_on)
        irq = pick_irq(pending & h->mideleg);
    if (irq < 0)
        return false;

    /* The caller is at a block boundary and learns of the trap from the
     * return value; trap_pending stays what it was. */
    uint64_t saved = h->trap_pending;
    hart_raise(h, CAUSE_INTERRUPT | (uint64_t)irq, 0);
    h->trap_pending = saved;
    return true;
}

/* An xRET that clears MPRV changes what M-mode loads and stores mean. */
static void flush_if_changed(struct hart *h, uint64_t old_ms)
{
    if ((old_ms ^ h->mstatus) & MSTATUS_MPRV)
        tlb_flush_all(h);
}

void hart_mret(struct hart *h)
{
    if (h->priv != PRIV_M) {
        hart_raise(h, EXC_ILLEGAL_INSN, 0);
        return;
    }
    uint64_t ms = h->mstatus;
    uint64_t mpp = (ms & MSTATUS_MPP) >> 11;
    uint64_t new = ms & ~(MSTATUS_MIE | MSTATUS_MPP);
    if (ms & MSTATUS_MPIE)
        new |= MSTATUS_MIE;
    new |= MSTATUS_MPIE;
    if (mpp != PRIV_M)
        new &= ~MSTATUS_MPRV;
    h->mstatus = new;
    hart_set_priv(h, mpp);
    h->pc = h->mepc & ~1ULL;
    flush_if_changed(h, ms);
    irq_recheck(h);
}

void hart_sret(struct hart *h)
{
    if (h->priv == PRIV_U ||
        (h->priv == PRIV_S && (h->mstatus & MSTATUS_TSR))) {
        hart_raise(h, EXC_ILLEGAL_INSN, 0);
        return;
    }
    uint64_t ms = h->mstatus;
    uint64_t spp = (ms & MSTATUS_SPP) ? PRIV_S : PRIV_U;
    uint64_t new = ms & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV);
    if (ms & MSTATUS_SPIE)
        new |= MSTATUS_SIE;
    new |= MSTATUS_SPIE;
    h->mstatus = new;
    hart_set_priv(h, spp);
    h->pc = h->sepc & ~1ULL;
    flush_if_changed(h, ms);
    irq_recheck(h);
}

/* The virtual-clock tick at which the next enabled timer fires, or
 * UINT64_MAX when no timer interrupt is enabled. */
static uint64_t next_timer_deadline(struct hart *h)
{
    uint64_t d = UINT64_MAX;
    if (h->mie & MIP_MTIP)
        d = atomic_load_explicit(&h->mtimecmp, memory_order_relaxed);
    if ((h->mie & MIP_STIP) && (h->menvcfg & MENVCFG_STCE) && h->stimecmp < d)
        d = h->stimecmp;
    return d;
}

/* When the clock is paused the deadline never comes; poll slowly. */
#define WFI_PAUSED_POLL_NS 50000000LL

void hart_wfi(struct hart *h)
{
    pthread_mutex_lock(&h->wake_lock);
    h->wfi = 1;
    while (!atomic_load(&h->exit_request) && !hart_pending_irqs(h)) {
        uint64_t deadline = next_timer_deadline(h);
        if (deadline == UINT64_MAX) {
            pthread_cond_wait(&h->wake_cond, &h->wake_lock);
            continue;
        }
        int64_t at = vclock_host_ns_at(h->clock, deadline);
        int64_t now = vclock_host_now_ns();
        if (at <= now) {
            /* The deadline passed after hart_pending_irqs() read the
             * clock: look again rather than sleep. Only a paused clock
             * keeps a past deadline from firing. */
            if (!atomic_load(&h->clock->paused_at_ns))
                continue;
            at = now + WFI_PAUSED_POLL_NS;
        }
        struct timespec ts = {
            .tv_sec = at / 1000000000LL,
            .tv_nsec = at % 1000000000LL,
        };
        /* The condvar's own clock attribute does not matter here. */
        pthread_cond_clockwait(&h->wake_cond, &h->wake_lock, CLOCK_MONOTONIC,
                               &ts);
    }
    h->wfi = 0;
    pthread_mutex_unlock(&h->wake_lock);
}

static void wake(struct hart *h)
{
    irq_recheck(h);
    pthread_mutex_lock(&h->wake_lock);
    pthread_cond_broadcast(&h->wake_cond);
    pthread_mutex_unlock(&h->wake_lock);
}

void hart_set_irq(struct hart *h, uint64_t mask, bool level)
{
    mask &= MIP_MSIP | MIP_MEIP | MIP_SEIP;
    if (level) {
        uint64_t old = atomic_fetch_or(&h->mip_hw, mask);
        if ((old & mask) != mask)
            wake(h);
    } else {
        uint64_t old = atomic_fetch_and(&h->mip_hw, ~mask);
        if (old & mask)
            irq_recheck(h);
    }
}

void hart_set_mtimecmp(struct hart *h, uint64_t value)
{
    atomic_store(&h->mtimecmp, value);
    wake(h);
}

void hart_kick(struct hart *h)
{
    atomic_store(&h->exit_request, 1);
    /* chained blocks (exec) watch only irq_recheck: make them stop too */
    irq_recheck(h);
    wake(h);
}
