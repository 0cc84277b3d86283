/* Shared by the interpreter's handler files (exec_*.c) and block.c.
 *
 * Handler protocol: a handler executes one pre-decoded insn and then
 * tail-calls the next insn's handler (next_insn), or returns NULL when the
 * block ends; so running a block is one call of its first handler. While a
 * block runs, h->pc is scratch: an insn's pc is h->xb_pc + i->off. Before
 * anything that may raise, a handler stores its pc into h->pc (sync_pc);
 * a block ends with h->pc = the next pc and h->xb_done = the number of the
 * block's insns that retired (i->idx + 1, or i->idx when this one
 * trapped). Hart thread only. */
#ifndef CORRAL_CPU_RISCV_EXEC_IMPL_H
#define CORRAL_CPU_RISCV_EXEC_IMPL_H

#include <string.h>

#include <stddef.h>

#include "cpu/riscv/block.h"
#include "cpu/riscv/decode.h"
#include "cpu/riscv/hart.h"

#define HANDLER(name) const struct insn *name(struct hart *h, const struct insn *i)

static inline uint64_t insn_pc(const struct hart *h, const struct insn *i)
{
    return h->xb_pc + i->off;
}

static inline void sync_pc(struct hart *h, const struct insn *i)
{
    h->pc = h->xb_pc + i->off;
}

static inline const struct insn *end_at(struct hart *h, const struct insn *i,
                                        uint64_t pc)
{
    h->pc = pc;
    h->xb_done = i->idx + 1u;
    return NULL;
}

static inline const struct insn *end_next(struct hart *h, const struct insn *i)
{
    return end_at(h, i, insn_pc(h, i) + i->len);
}

/* With the JIT, entering untranslated block `t` by chaining counts a hit
 * on it as hart_run's entries do; past the threshold the chain ends there
 * so that hart_run translates it. Without this an interpreted loop (or a
 * ring of blocks linked to each other) reached hart_run once per timer
 * countdown only, so code that ran thousands of times during boot stayed
 * interpreted (translated code's exits count the same way, jit.c
 * emit_enter). */
static inline bool chain_to_translate(struct hart *h, const struct block *t)
{
    return t->jit_state == JIT_NONE && h->jit &&
           ((struct block *)t)->hits++ >= h->jit_threshold;
}

/* End the block at `i` (retired) and continue at `target`; `slot` is the
 * source block's link for this exit (0 taken/jal, 1 not taken/fall
 * through). When the linked block is valid and nothing needs attention
 * (interrupt/exit recheck, timer countdown spent), jump straight into it
 * without returning to hart_run: the finished block's insns are counted
 * here. Otherwise return NULL to hart_run, asking it to fill the link
 * when it was merely missing. The depth is bounded by the chain budget
 * (xb_chain) where the compiler does not turn the calls into jumps. */
static inline const struct insn *chain_core(struct hart *h,
                                            const struct insn *i,
                                            uint64_t target, unsigned slot,
                                            unsigned done, unsigned nmem)
{
    const struct block *src = (const struct block *)(const void *)(
        (const char *)(i - i->idx) - offsetof(struct block, insns));
    const struct block *t = src->link[slot];
    const struct tlb_entry *e =
        &h->tlb[ACCESS_FETCH][(target >> 12) & (TLB_SIZE - 1)];
    if (UNLIKELY(h->xb_chain <= 0 ||
                 atomic_load_explicit(&h->irq_recheck, memory_order_relaxed)))
        goto out;
    /* A block linked to itself (a loop) is valid as long as it runs: it
     * was checked against the fetch TLB on entry, nothing in a block
     * changes that TLB, and its own death ends it (xb_abort). */
    if (t != src && UNLIKELY(!t || t->dead ||
                             e->vpn_tag != tlb_tag(h, target) ||
                             target + e->addend != t->host)) {
        if (!src->nochain) {
            h->xb_link_from = (void *)(uintptr_t)src;
            h->xb_link_slot = slot;
            h->xb_link_pc = target;
            h->xb_link_gen = h->bcache->gen;
        }
        goto out;
    }
    if (UNLIKELY(chain_to_translate(h, t)))
        goto out;
    /* (h->pc and xb_done are dead here: the next block sets them when it
     * ends; hart_run counts the chain steps from xb_chain as block hits) */
    h->xb_chain--;
    hart_counter_add(&h->instret, done); /* exact for CSR reads in later blocks */
    h->xb_mem += nmem;
    h->xb_pc = target;
    h->xb_block = t;
    return t->insns[0].fn(h, t->insns);
out:
    h->pc = target;
    h->xb_done = done;
    return NULL;
}

/* An indirect jump `i` (jalr: returns, switch tables, interpreters'
 * dispatch) retired, going to `target`: continue straight into the block
 * the jump cache has for it, checked exactly as block_lookup checks it;
 * otherwise end the block and let hart_run find or build it. */
static inline const struct insn *chain_indirect(struct hart *h,
                                                const struct insn *i,
                                                uint64_t target)
{
    const struct block_cache *bc = h->bcache;
    const struct block_jc *j =
        &bc->jc[(target >> 1) & ((1u << BLOCK_JC_BITS) - 1)];
    const struct tlb_entry *e =
        &h->tlb[ACCESS_FETCH][(target >> 12) & (TLB_SIZE - 1)];
    unsigned done = i->idx + 1u;
    if (UNLIKELY(h->xb_chain <= 0 ||
                 atomic_load_explicit(&h->irq_recheck, memory_order_relaxed)))
        goto out;
    if (UNLIKELY(j->vpc != target || j->gen != bc->gen))
        goto out;
    const struct block *t = j->b;
    if (UNLIKELY(t->dead || e->vpn_tag != tlb_tag(h, target) ||
                 target + e->addend != t->host))
        goto out;
    if (UNLIKELY(chain_to_translate(h, t)))
        goto out;
    h->xb_chain--;
    hart_counter_add(&h->instret, done);
    h->xb_mem += i->nmem;
    h->xb_pc = target;
    h->xb_block = t;
    return t->insns[0].fn(h, t->insns);
out:
    h->pc = target;
    h->xb_done = done;
    return NULL;
}

/* A control transfer `i` (no load/store) retired. */
static inline const struct insn *chain_to(struct hart *h, const struct insn *i,
                                          uint64_t target, unsigned slot)
{
    return chain_core(h, i, target, slot, i->idx + 1u, i->nmem);
}

/* The insn raised (hart_raise already moved pc to the trap vector). */
static inline const struct insn *end_trap(struct hart *h, const struct insn *i)
{
    h->xb_done = i->idx;
    return NULL;
}

/* Continue with the block's next insn. Written as a call in tail position,
 * which gcc and clang at -O2 compile to a jump: a block runs as a chain of
 * jumps between handlers with no return to the loop in hart_run. Where the
 * compiler keeps a real call (-O0, sanitizers, a handler with an escaping
 * local), the depth is still bounded by the block length (BLOCK_MAX + 1). */
static inline const struct insn *next_insn(struct hart *h,
                                           const struct insn *i)
{
    const struct insn *n = i + 1;
    /* Opaque to the optimiser, so gcc advances the pointer in place and
     * jumps through memory (add; jmp *(%rsi)) instead of copying it
     * around: two host instructions of dispatch instead of four. */
    __asm__("" : "+r"(n));
    return n->fn(h, n);
}

#define NOINLINE_COLD __attribute__((noinline, cold))
/* the bodies fused pairs are built from (exec_fuse.h) */
#define ALWAYS_INLINE inline __attribute__((always_inline))

static inline void wr_x(struct hart *h, unsigned rd, uint64_t v)
{
    h->x[rd] = v;
    h->x[0] = 0;
}

/* Raise illegal instruction with the encoding as tval. */
const struct insn *exec_illegal(struct hart *h, const struct insn *i);

/* Each handler file fills its part of the op -> handler table. */
void exec_int_register(insn_fn *t);
void exec_mem_register(insn_fn *t);
void exec_sys_register(insn_fn *t);
void exec_fp_register(insn_fn *t);

/* Load/store handlers (exec_mem.c), for the fused pairs of exec_int.c. */
HANDLER(exec_lb); HANDLER(exec_lh); HANDLER(exec_lw); HANDLER(exec_ld);
HANDLER(exec_lbu); HANDLER(exec_lhu); HANDLER(exec_lwu);
HANDLER(exec_sb); HANDLER(exec_sh); HANDLER(exec_sw); HANDLER(exec_sd);
HANDLER(exec_flw); HANDLER(exec_fld); HANDLER(exec_fsw); HANDLER(exec_fsd);

/* The handler running the adjacent pair first, second (ops) as one
 * dispatch (exec_fuse.h), or NULL when the pair does not fuse. */
insn_fn exec_fuse(unsigned first, unsigned second);

/* op -> handler (exec.c); every entry non-NULL after exec_table_init. */
extern insn_fn exec_table[OP_COUNT];
void exec_table_init(void);
/* A load into x0 (exec_mem.c): the integer load handlers write rd
 * without re-zeroing x0, so the block builder uses this one for rd = 0. */
HANDLER(exec_load_x0);
/* The fall-through terminator of every block. */
HANDLER(exec_block_end);

/* The unfused handler of a decoded insn (op already NOP for pure ops
 * writing x0). */
static inline insn_fn exec_insn_fn(const struct insn *in)
{
    if (in->rd == 0 && in->op >= OP_LB && in->op <= OP_LWU)
        return exec_load_x0;
    return exec_table[in->op];
}

#endif
