/* Memory handlers: integer and FP loads/stores (TLB fast path inline, the
 * mmu.c slow path for misses, MMIO and misaligned accesses) and the A
 * extension on host atomics so harts on different threads are atomic with
 * each other. */
#include "cpu/riscv/block.h"
#include "cpu/riscv/exec_fuse.h"
#include "cpu/riscv/exec_impl.h"

#define RS1 (h->x[i->rs1])

/* Host memory behind a TLB hit, `size` bytes, zero-extended. */
static inline uint64_t host_load(uintptr_t p, unsigned size)
{
    switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: { uint16_t t; memcpy(&t, (const void *)p, 2); return t; }
    case 4: { uint32_t t; memcpy(&t, (const void *)p, 4); return t; }
    default: { uint64_t t; memcpy(&t, (const void *)p, 8); return t; }
    }
}

static inline void host_store(uintptr_t p, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: *(uint8_t *)p = (uint8_t)v; break;
    case 2: { uint16_t t = (uint16_t)v; memcpy((void *)p, &t, 2); break; }
    case 4: { uint32_t t = (uint32_t)v; memcpy((void *)p, &t, 4); break; }
    default: memcpy((void *)p, &v, 8); break;
    }
}

/* The TLB entry for an aligned access to `va` that hits, else NULL (the
 * host address is then va + e->addend: testing the entry, not the sum,
 * keeps a redundant zero test off the fast path). */
static inline const struct tlb_entry *tlb_hit(struct hart *h, enum access acc,
                                              uint64_t va, unsigned size)
{
    const struct tlb_entry *e = &h->tlb[acc][(va >> 12) & (TLB_SIZE - 1)];
    if (LIKELY(e->vpn_tag == tlb_tag(h, va) && !(va & (size - 1))))
        return e;
    return NULL;
}

/* The slow paths (TLB miss, MMIO, misaligned) live in separate cold
 * functions, so the fast path has no stack frame and ends in a jump to
 * the next handler. A slow access that completes counts in xb_slow_mem:
 * the block's memory insns minus those are the TLB hits (hart_run). */
static inline const struct insn *st_slow(struct hart *h, const struct insn *i,
                                         uint64_t va, unsigned size,
                                         uint64_t v)
{
    sync_pc(h, i);
    if (!mem_store_slow(h, va, size, v))
        return end_trap(h, i);
    h->xb_slow_mem++;
    if (UNLIKELY(h->xb_abort)) /* invalidated cached code, maybe this block */
        return end_next(h, i);
    return next_insn(h, i);
}

/* `FS` guards the FP forms (illegal while mstatus.FS is Off); `wr` writes
 * the loaded value v to the destination. */
#define LOAD(name, size, FS, wr)                                               \
    static NOINLINE_COLD HANDLER(slow_##name)                                  \
    {                                                                          \
        uint64_t v;                                                            \
        sync_pc(h, i);                                                         \
        if (!mem_load_slow(h, RS1 + (uint64_t)i->imm, size, &v))               \
            return end_trap(h, i);                                             \
        h->xb_slow_mem++;                                                      \
        wr;                                                                    \
        return next_insn(h, i);                                                \
    }                                                                          \
    static ALWAYS_INLINE bool fast_##name(struct hart *h,                      \
                                          const struct insn *i)                \
    {                                                                          \
        uint64_t va = RS1 + (uint64_t)i->imm;                                  \
        const struct tlb_entry *e = tlb_hit(h, ACCESS_LOAD, va, size);         \
        if (UNLIKELY(!e))                                                      \
            return false;                                                      \
        uint64_t v = host_load((uintptr_t)(va + e->addend), size);             \
        wr;                                                                    \
        return true;                                                           \
    }                                                                          \
    HANDLER(exec_##name)                                                       \
    {                                                                          \
        FS                                                                     \
        if (UNLIKELY(!fast_##name(h, i)))                                      \
            return slow_##name(h, i);                                          \
        return next_insn(h, i);                                                \
    }

#define STORE(name, size, FS, val)                                             \
    static NOINLINE_COLD HANDLER(slow_##name)                                  \
    {                                                                          \
        return st_slow(h, i, RS1 + (uint64_t)i->imm, size, val);               \
    }                                                                          \
    static ALWAYS_INLINE bool fast_##name(struct hart *h,                      \
                                          const struct insn *i)                \
    {                                                                          \
        uint64_t va = RS1 + (uint64_t)i->imm;                                  \
        const struct tlb_entry *e = tlb_hit(h, ACCESS_STORE, va, size);        \
        if (UNLIKELY(!e))                                                      \
            return false;                                                      \
        host_store((uintptr_t)(va + e->addend), size, val);                    \
        return true;                                                           \
    }                                                                          \
    HANDLER(exec_##name)                                                       \
    {                                                                          \
        FS                                                                     \
        if (UNLIKELY(!fast_##name(h, i)))                                      \
            return slow_##name(h, i);                                          \
        return next_insn(h, i);                                                \
    }

#define NO_FS
#define NEED_FS                                                                \
    if (UNLIKELY(!(h->mstatus & MSTATUS_FS)))                                  \
        return exec_illegal(h, i);

/* Integer loads write rd directly: the block builder gives a load to x0
 * (rare: MMIO reads for their side effect) exec_load_x0 instead. */
LOAD(lb, 1, NO_FS, h->x[i->rd] = (uint64_t)(int64_t)(int8_t)v)
LOAD(lh, 2, NO_FS, h->x[i->rd] = (uint64_t)(int64_t)(int16_t)v)
LOAD(lw, 4, NO_FS, h->x[i->rd] = (uint64_t)(int64_t)(int32_t)v)
LOAD(ld, 8, NO_FS, h->x[i->rd] = v)
LOAD(lbu, 1, NO_FS, h->x[i->rd] = v)
LOAD(lhu, 2, NO_FS, h->x[i->rd] = v)
LOAD(lwu, 4, NO_FS, h->x[i->rd] = v)
STORE(sb, 1, NO_FS, h->x[i->rs2])
STORE(sh, 2, NO_FS, h->x[i->rs2])
STORE(sw, 4, NO_FS, h->x[i->rs2])
STORE(sd, 8, NO_FS, h->x[i->rs2])

/* A load into x0: the access and its faults happen, the value is
 * dropped. Always through the slow path, which handles every case. */
HANDLER(exec_load_x0)
{
    static const uint8_t size[] = {
        [OP_LB] = 1, [OP_LH] = 2, [OP_LW] = 4, [OP_LD] = 8,
        [OP_LBU] = 1, [OP_LHU] = 2, [OP_LWU] = 4,
    };
    uint64_t v;
    sync_pc(h, i);
    if (!mem_load_slow(h, RS1 + (uint64_t)i->imm, size[i->op], &v))
        return end_trap(h, i);
    h->xb_slow_mem++;
    return next_insn(h, i);
}

/* FP loads/stores: flw NaN-boxes; fsw stores the low 32 bits as they are. */
LOAD(flw, 4, NEED_FS,
     (h->f[i->rd] = 0xffffffff00000000ULL | v,
      h->mstatus |= MSTATUS_FS | MSTATUS_SD))
LOAD(fld, 8, NEED_FS,
     (h->f[i->rd] = v, h->mstatus |= MSTATUS_FS | MSTATUS_SD))
STORE(fsw, 4, NEED_FS, (uint32_t)h->f[i->rs2])
STORE(fsd, 8, NEED_FS, h->f[i->rs2])

/* Pairs led by an integer load/store (exec_fuse.h): on a fast-path miss
 * the first insn's slow path runs it and dispatches the second as usual. */
#define FUSE_MX(m, x, X)                                                       \
    static HANDLER(fz_##m##_##x)                                               \
    {                                                                          \
        if (UNLIKELY(!fast_##m(h, i)))                                         \
            return slow_##m(h, i);                                             \
        return exec_##x(h, i + 1);                                             \
    }
#define FUSE_MROW(m, M)                                                        \
    FUSE_ALU_P(FUSE_MX, m) FUSE_JUMP_P(FUSE_MX, m) FUSE_MEM_P(FUSE_MX, m)
FUSE_MEM(FUSE_MROW)

/* lower-case names of the listed ops' codes, for the table below */
enum {
#define FZ_OPL(n, N) OPL_##n = OP_##N,
    FUSE_MEM(FZ_OPL)
};

static void fuse_mem_register(void)
{
#define FZ_SET(m, x, X) exec_fuse_set(OPL_##m, OP_##X, fz_##m##_##x);
#define FZ_MROW(m, M)                                                          \
    FUSE_ALU_P(FZ_SET, m) FUSE_JUMP_P(FZ_SET, m) FUSE_MEM_P(FZ_SET, m)
    FUSE_MEM(FZ_MROW)
}

/* ---- A extension ---- */

/* Writes through an atomic pointer bypass the store TLB, so a code page
 * must be invalidated here exactly as mem_store_slow would. */
static inline void amo_code_check(struct hart *h, gpa_t pa)
{
    struct gmem *m = &h->bus->ram;
    if (gmem_contains(m, pa, 1) &&
        atomic_load_explicit(&m->code_map[(pa - m->base) >> GMEM_PAGE_SHIFT],
                             memory_order_relaxed))
        block_invalidate_page(h, pa);
}

static inline const struct insn *amo_done(struct hart *h, const struct insn *i,
                                          uint64_t result)
{
    wr_x(h, i->rd, result);
    if (UNLIKELY(h->xb_abort))
        return end_next(h, i);
    return next_insn(h, i);
}

static HANDLER(op_lr_w)
{
    gpa_t pa;
    sync_pc(h, i);
    int32_t *p = mem_atomic_ptr(h, RS1, 4, true, &pa);
    if (!p)
        return end_trap(h, i);
    int32_t v = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    h->resv_addr = pa;
    h->resv_value = (uint32_t)v;
    h->resv_valid = 4;
    wr_x(h, i->rd, (uint64_t)(int64_t)v);
    return next_insn(h, i);
}

static HANDLER(op_lr_d)
{
    gpa_t pa;
    sync_pc(h, i);
    uint64_t *p = mem_atomic_ptr(h, RS1, 8, true, &pa);
    if (!p)
        return end_trap(h, i);
    uint64_t v = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    h->resv_addr = pa;
    h->resv_value = v;
    h->resv_valid = 8;
    wr_x(h, i->rd, v);
    return next_insn(h, i);
}

/* SC succeeds only on a live reservation of the same size and address
 * whose memory still holds the value LR saw; it always drops it. */
static HANDLER(op_sc_w)
{
    gpa_t pa;
    sync_pc(h, i);
    uint32_t *p = mem_atomic_ptr(h, RS1, 4, false, &pa);
    if (!p) {
        h->resv_valid = 0;
        return end_trap(h, i);
    }
    bool ok = false;
    if (h->resv_valid == 4 && h->resv_addr == pa) {
        uint32_t expect = (uint32_t)h->resv_value;
        amo_code_check(h, pa);
        ok = __atomic_compare_exchange_n(p, &expect, (uint32_t)h->x[i->rs2],
                                         false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST);
    }
    h->resv_valid = 0;
    return amo_done(h, i, ok ? 0 : 1);
}

static HANDLER(op_sc_d)
{
    gpa_t pa;
    sync_pc(h, i);
    uint64_t *p = mem_atomic_ptr(h, RS1, 8, false, &pa);
    if (!p) {
        h->resv_valid = 0;
        return end_trap(h, i);
    }
    bool ok = false;
    if (h->resv_valid == 8 && h->resv_addr == pa) {
        uint64_t expect = h->resv_value;
        amo_code_check(h, pa);
        ok = __atomic_compare_exchange_n(p, &expect, h->x[i->rs2], false,
                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    h->resv_valid = 0;
    return amo_done(h, i, ok ? 0 : 1);
}

#define AMO_PTR(type, size)                                                    \
    gpa_t pa;                                                                  \
    sync_pc(h, i);                                                             \
    type *p = mem_atomic_ptr(h, RS1, size, false, &pa);                        \
    if (!p)                                                                    \
        return end_trap(h, i);                                                 \
    amo_code_check(h, pa);                                                     \
    type src = (type)h->x[i->rs2];

#define AMO_FETCH(name, type, size, builtin)                                   \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        AMO_PTR(type, size)                                                    \
        type old = builtin(p, src, __ATOMIC_SEQ_CST);                          \
        return amo_done(h, i, (uint64_t)(int64_t)old);                         \
    }
AMO_FETCH(amoswap_w, int32_t, 4, __atomic_exchange_n)
AMO_FETCH(amoadd_w, int32_t, 4, __atomic_fetch_add)
AMO_FETCH(amoxor_w, int32_t, 4, __atomic_fetch_xor)
AMO_FETCH(amoand_w, int32_t, 4, __atomic_fetch_and)
AMO_FETCH(amoor_w, int32_t, 4, __atomic_fetch_or)
AMO_FETCH(amoswap_d, int64_t, 8, __atomic_exchange_n)
AMO_FETCH(amoadd_d, int64_t, 8, __atomic_fetch_add)
AMO_FETCH(amoxor_d, int64_t, 8, __atomic_fetch_xor)
AMO_FETCH(amoand_d, int64_t, 8, __atomic_fetch_and)
AMO_FETCH(amoor_d, int64_t, 8, __atomic_fetch_or)

/* min/max: compare-and-swap loop; `cmp` picks the value to keep. */
#define AMO_MINMAX(name, type, size, ctype, keep_old)                          \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        AMO_PTR(type, size)                                                    \
        type old = __atomic_load_n(p, __ATOMIC_SEQ_CST);                       \
        for (;;) {                                                             \
            ctype o = (ctype)old, s = (ctype)src;                              \
            type nv = (keep_old) ? old : src;                                  \
            if (__atomic_compare_exchange_n(p, &old, nv, false,                \
                                            __ATOMIC_SEQ_CST,                  \
                                            __ATOMIC_SEQ_CST))                 \
                break;                                                         \
        }                                                                      \
        return amo_done(h, i, (uint64_t)(int64_t)old);                         \
    }
AMO_MINMAX(amomin_w, int32_t, 4, int32_t, o <= s)
AMO_MINMAX(amomax_w, int32_t, 4, int32_t, o >= s)
AMO_MINMAX(amominu_w, int32_t, 4, uint32_t, o <= s)
AMO_MINMAX(amomaxu_w, int32_t, 4, uint32_t, o >= s)
AMO_MINMAX(amomin_d, int64_t, 8, int64_t, o <= s)
AMO_MINMAX(amomax_d, int64_t, 8, int64_t, o >= s)
AMO_MINMAX(amominu_d, int64_t, 8, uint64_t, o <= s)
AMO_MINMAX(amomaxu_d, int64_t, 8, uint64_t, o >= s)

void exec_mem_register(insn_fn *t)
{
    fuse_mem_register();
#define R(op, fn) t[OP_##op] = op_##fn;
#define RX(op, fn) t[OP_##op] = exec_##fn;
    RX(LB, lb) RX(LH, lh) RX(LW, lw) RX(LD, ld) RX(LBU, lbu) RX(LHU, lhu)
    RX(LWU, lwu) RX(SB, sb) RX(SH, sh) RX(SW, sw) RX(SD, sd)
    RX(FLW, flw) RX(FLD, fld) RX(FSW, fsw) RX(FSD, fsd)
#undef RX
    R(LR_W, lr_w) R(SC_W, sc_w) R(LR_D, lr_d) R(SC_D, sc_d)
    R(AMOSWAP_W, amoswap_w) R(AMOADD_W, amoadd_w) R(AMOXOR_W, amoxor_w)
    R(AMOAND_W, amoand_w) R(AMOOR_W, amoor_w) R(AMOMIN_W, amomin_w)
    R(AMOMAX_W, amomax_w) R(AMOMINU_W, amominu_w) R(AMOMAXU_W, amomaxu_w)
    R(AMOSWAP_D, amoswap_d) R(AMOADD_D, amoadd_d) R(AMOXOR_D, amoxor_d)
    R(AMOAND_D, amoand_d) R(AMOOR_D, amoor_d) R(AMOMIN_D, amomin_d)
    R(AMOMAX_D, amomax_d) R(AMOMINU_D, amominu_d) R(AMOMAXU_D, amomaxu_d)
#undef R
}
