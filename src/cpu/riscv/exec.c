/* The interpreter's outer loop and the hart lifecycle.
 *
 * hart_run alternates between block boundaries and blocks. At a boundary
 * it honours exit_request, acts on code_gen changes (self-modifying code
 * on any hart), checks interrupts when asked to or when timer_countdown
 * runs out, and finds the next block (jump cache, else block.c). A block
 * is a chain of pre-decoded insns whose handlers return the next insn;
 * no raw encoding is looked at on this path. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "cpu/riscv/block.h"
#include "cpu/riscv/exec_impl.h"
#include "cpu/riscv/jit.h"

#define TIMER_COUNTDOWN 256

insn_fn exec_table[OP_COUNT];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void)
{
    exec_int_register(exec_table);
    exec_mem_register(exec_table);
    exec_sys_register(exec_table);
    exec_fp_register(exec_table);
    for (unsigned k = 0; k < OP_COUNT; k++)
        if (!exec_table[k])
            exec_table[k] = exec_table[OP_ILLEGAL];
}

void exec_table_init(void)
{
    pthread_once(&table_once, table_build);
}

/* Falls through to the next block (page end or BLOCK_MAX insns): the
 * terminator itself is no insn and retires nothing. */
HANDLER(exec_block_end)
{
    return chain_core(h, i, insn_pc(h, i), 1, i->idx, i->nmem);
}

int hart_init(struct hart *h, uint64_t hartid, struct bus *bus,
              struct vclock *clock)
{
    pthread_condattr_t ca;
    int err;

    exec_table_init();
    memset(h, 0, sizeof(*h));
    h->hartid = hartid;
    h->bus = bus;
    h->clock = clock;
    err = block_cache_init(h);
    if (err)
        return err;
    err = -pthread_mutex_init(&h->wake_lock, NULL);
    if (err)
        goto err_free_cache;
    /* wfi sleeps until an absolute CLOCK_MONOTONIC deadline */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    err = -pthread_cond_init(&h->wake_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (err)
        goto err_destroy_lock;
    hart_reset(h, 0);
    return 0;

err_destroy_lock:
    pthread_mutex_destroy(&h->wake_lock);
err_free_cache:
    block_cache_destroy(h);
    return err;
}

void hart_destroy(struct hart *h)
{
    jit_destroy(h);
    block_cache_destroy(h);
    pthread_cond_destroy(&h->wake_cond);
    pthread_mutex_destroy(&h->wake_lock);
}

#define MISA_EXT(c) (1ULL << ((c) - 'A'))

void hart_reset(struct hart *h, uint64_t reset_pc)
{
    memset(h->x, 0, sizeof(h->x));
    memset(h->f, 0, sizeof(h->f));
    h->pc = reset_pc;
    hart_set_priv(h, PRIV_M);
    /* MIE = MPRV = 0 (the spec's reset requirements); UXL = SXL = 64-bit;
     * FS Off until software enables it. */
    h->mstatus = (2ULL << 32) | (2ULL << 34);
    h->fflags = h->frm = 0;
    h->misa = (2ULL << 62) | MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') |
              MISA_EXT('F') | MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') |
              MISA_EXT('U');
    h->medeleg = h->mideleg = h->mie = h->mip_sw = 0;
    h->mtvec = h->mscratch = h->mepc = h->mcause = h->mtval = 0;
    h->mcounteren = h->scounteren = h->menvcfg = h->senvcfg = 0;
    h->mcountinhibit = 0;
    h->stvec = h->sscratch = h->sepc = h->scause = h->stval = h->satp = 0;
    h->stimecmp = UINT64_MAX;
    memset(h->pmpcfg, 0, sizeof(h->pmpcfg));
    memset(h->pmpaddr, 0, sizeof(h->pmpaddr));
    hart_instret_set(h, 0);
    h->resv_valid = h->resv_addr = h->resv_value = 0;
    h->wfi = 0;
    h->trap_pending = 0;
    h->timer_countdown = TIMER_COUNTDOWN;
    h->m_periods = 0;
    atomic_store(&h->irq_recheck, 1);
    memset(h->tlb, 0, sizeof(h->tlb));
    h->code_gen_seen = atomic_load(&h->bus->ram.code_gen);
    block_cache_flush(h);
}

/* A hart that is not started (or powered off) sleeps until someone clears
 * `halted` and kicks it, or asks it to leave hart_run. */
static void wait_while_halted(struct hart *h)
{
    pthread_mutex_lock(&h->wake_lock);
    while (h->halted && !atomic_load(&h->exit_request))
        pthread_cond_wait(&h->wake_cond, &h->wake_lock);
    pthread_mutex_unlock(&h->wake_lock);
}

/* Run the first `k` insns of `b` only (instruction budget). */
static const struct block *truncate_block(struct hart *h,
                                          const struct block *b, unsigned k)
{
    struct block *t = h->bcache->trunc;
    memcpy(t->insns, b->insns, k * sizeof(struct insn));
    if (k && b->jit_state == JIT_DONE) /* the copy runs interpreted */
        t->insns[0].fn = b->interp0;
    /* a pair fused across the cut would run the insn after it */
    if (k)
        t->insns[k - 1].fn = exec_insn_fn(&t->insns[k - 1]);
    memset(&t->insns[k], 0, sizeof(struct insn));
    t->insns[k].fn = exec_block_end;
    t->insns[k].idx = (uint8_t)k;
    t->insns[k].off = b->insns[k].off;
    t->insns[k].nmem = b->insns[k].nmem;
    t->n = k;
    t->nochain = 1;
    return t;
}

/* OpenSBI's waits (remote fences waiting for other harts to take their
 * IPIs, its ticket locks) spin in M-mode without a `pause` to recognise
 * them by, while its real work between traps is short. A hart found in
 * M-mode at M_SPIN_PERIODS successive timer_countdown checks (about
 * M_SPIN_PERIODS * TIMER_COUNTDOWN blocks) is taken to be waiting, and
 * from then on yields its host CPU at every check: when harts outnumber
 * host CPUs, the hart it waits for may be queued behind it. */
#define M_SPIN_PERIODS 8

static void firmware_spin_check(struct hart *h)
{
    if (h->priv != PRIV_M) {
        h->m_periods = 0;
        return;
    }
    if (++h->m_periods >= M_SPIN_PERIODS && h->spin_yield)
        sched_yield();
}

uint64_t hart_run(struct hart *h, uint64_t max_insns)
{
    struct gmem *ram = &h->bus->ram;
    uint64_t retired = 0;

    for (;;) {
        if (UNLIKELY(atomic_load_explicit(&h->exit_request,
                                          memory_order_relaxed))) {
            atomic_store(&h->exit_request, 0);
            break;
        }
        if (max_insns && retired >= max_insns)
            break;
        if (UNLIKELY(h->halted)) {
            wait_while_halted(h);
            continue;
        }
        uint64_t g = atomic_load_explicit(&ram->code_gen, memory_order_acquire);
        if (UNLIKELY(g != h->code_gen_seen))
            block_sync_code(h, g);
        if (UNLIKELY(--h->timer_countdown <= 0)) {
            h->timer_countdown = TIMER_COUNTDOWN;
            firmware_spin_check(h);
            atomic_store_explicit(&h->irq_recheck, 0, memory_order_relaxed);
            hart_check_interrupts(h);
        } else if (UNLIKELY(atomic_load_explicit(&h->irq_recheck,
                                                 memory_order_relaxed))) {
            atomic_store_explicit(&h->irq_recheck, 0, memory_order_relaxed);
            hart_check_interrupts(h);
        }

        uint64_t pc = h->pc;
        const struct block *b = block_lookup(h, pc);
        if (UNLIKELY(!b)) { /* instruction fetch fault: pc is the vector */
            h->trap_pending = 0;
            continue;
        }
        if (h->xb_link_from) {
            /* the previous block's exit to this pc had no valid link */
            if (h->xb_link_pc == pc && h->xb_link_gen == h->bcache->gen &&
                b != h->bcache->one && b != h->bcache->trunc)
                ((struct block *)h->xb_link_from)->link[h->xb_link_slot] = b;
            h->xb_link_from = NULL;
        }
        if (h->jit && b->jit_state == JIT_NONE &&
            ((struct block *)b)->hits++ >= h->jit_threshold &&
            jit_translate(h, (struct block *)b))
            continue; /* code arena full: everything was flushed */
        if (UNLIKELY(max_insns && max_insns - retired < b->n))
            b = truncate_block(h, b, (unsigned)(max_insns - retired));

        h->xb_pc = pc;
        h->xb_abort = 0;
        h->xb_slow_mem = 0;
        h->xb_instret0 = h->instret;
        h->xb_mem = 0;
        h->xb_block = b;
        int32_t chain = max_insns ? 0 : h->timer_countdown;
        h->xb_chain = chain;
        b->insns[0].fn(h, b->insns); /* the handlers chain to the end */

        if (!max_insns) {
            h->timer_countdown = h->xb_chain;
            hart_counter_add(&h->stats.block_hits, (uint64_t)(chain - h->xb_chain));
        }
        uint32_t done = h->xb_done;
        hart_counter_add(&h->instret, done); /* chained blocks' insns are counted already */
        retired += h->instret - h->xb_instret0;
        h->trap_pending = 0;
        /* TLB hits: the retired insns' loads/stores that did not take the
         * slow path. (The last block may be gone after a flush, but its
         * memory stays in the arena until the next block is built.) */
        const struct block *last = h->xb_block;
        hart_counter_add(&h->stats.tlb_hits,
                         h->xb_mem + last->insns[done].nmem - h->xb_slow_mem);
    }
    return retired;
}
