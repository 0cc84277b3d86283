/* Shared by the interpreter's handler files (exec_*.c) and block.c.
 *
 * Handler protocol: a handler executes one pre-decoded insn and returns
 * the next insn of its block (i + 1), or NULL when the block ends. While a
 * block runs, h->pc is scratch: an insn's pc is h->xb_pc + i->off. Before
 * anything that may raise, a handler stores its pc into h->pc (sync_pc);
 * a block ends with h->pc = the next pc and h->xb_done = the number of the
 * block's insns that retired (i->idx + 1, or i->idx when this one
 * trapped). Hart thread only. */
#ifndef CORRAL_CPU_RISCV_EXEC_IMPL_H
#define CORRAL_CPU_RISCV_EXEC_IMPL_H

#include <string.h>

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

/* The insn raised (hart_raise already moved pc to the trap vector). */
static inline const struct insn *end_trap(struct hart *h, const struct insn *i)
{
    h->xb_done = i->idx;
    return NULL;
}

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

/* op -> handler (exec.c); every entry non-NULL after exec_table_init. */
extern insn_fn exec_table[OP_COUNT];
void exec_table_init(void);
/* The fall-through terminator of every block. */
HANDLER(exec_block_end);

#endif
