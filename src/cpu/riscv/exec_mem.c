/* Memory handlers: integer and FP loads/stores (TLB fast path inline, the
 * mmu.c slow path for misses, MMIO and misaligned accesses) and the A
 * extension on host atomics so harts on different threads are atomic with
 * each other. */
#include "cpu/riscv/block.h"
#include "cpu/riscv/exec_impl.h"

#define RS1 (h->x[i->rs1])

/* Load `size` bytes at va into *v (zero-extended). False after a trap. */
static inline bool ld(struct hart *h, const struct insn *i, uint64_t va,
                      unsigned size, uint64_t *v)
{
    const struct tlb_entry *e = tlb_lookup(h, ACCESS_LOAD, va);
    if (LIKELY(e && !(va & (size - 1)))) {
        const void *p = (const void *)(uintptr_t)(va + e->addend);
        switch (size) {
        case 1: *v = *(const uint8_t *)p; break;
        case 2: { uint16_t t; memcpy(&t, p, 2); *v = t; break; }
        case 4: { uint32_t t; memcpy(&t, p, 4); *v = t; break; }
        default: memcpy(v, p, 8); break;
        }
        return true;
    }
    sync_pc(h, i);
    return mem_load_slow(h, va, size, v);
}

/* Store; returns the next insn, or NULL when the block must end (trap, or
 * the store invalidated cached code, possibly this very block). */
static inline const struct insn *st(struct hart *h, const struct insn *i,
                                    uint64_t va, unsigned size, uint64_t v)
{
    const struct tlb_entry *e = tlb_lookup(h, ACCESS_STORE, va);
    if (LIKELY(e && !(va & (size - 1)))) {
        void *p = (void *)(uintptr_t)(va + e->addend);
        switch (size) {
        case 1: *(uint8_t *)p = (uint8_t)v; break;
        case 2: { uint16_t t = (uint16_t)v; memcpy(p, &t, 2); break; }
        case 4: { uint32_t t = (uint32_t)v; memcpy(p, &t, 4); break; }
        default: memcpy(p, &v, 8); break;
        }
        return i + 1;
    }
    sync_pc(h, i);
    if (!mem_store_slow(h, va, size, v))
        return end_trap(h, i);
    if (UNLIKELY(h->xb_abort))
        return end_next(h, i);
    return i + 1;
}

#define LOAD(name, size, conv)                                                 \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        uint64_t v;                                                            \
        if (UNLIKELY(!ld(h, i, RS1 + (uint64_t)i->imm, size, &v)))             \
            return end_trap(h, i);                                             \
        wr_x(h, i->rd, conv);                                                  \
        return i + 1;                                                          \
    }
LOAD(lb, 1, (uint64_t)(int64_t)(int8_t)v)
LOAD(lh, 2, (uint64_t)(int64_t)(int16_t)v)
LOAD(lw, 4, (uint64_t)(int64_t)(int32_t)v)
LOAD(ld, 8, v)
LOAD(lbu, 1, v)
LOAD(lhu, 2, v)
LOAD(lwu, 4, v)

#define STORE(name, size)                                                      \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        return st(h, i, RS1 + (uint64_t)i->imm, size, h->x[i->rs2]);           \
    }
STORE(sb, 1)
STORE(sh, 2)
STORE(sw, 4)
STORE(sd, 8)

/* FP loads/stores: illegal while mstatus.FS is Off. flw NaN-boxes; fsw
 * stores the low 32 bits as they are. */
static HANDLER(op_flw)
{
    uint64_t v;
    if (UNLIKELY(!(h->mstatus & MSTATUS_FS)))
        return exec_illegal(h, i);
    if (UNLIKELY(!ld(h, i, RS1 + (uint64_t)i->imm, 4, &v)))
        return end_trap(h, i);
    h->f[i->rd] = 0xffffffff00000000ULL | v;
    h->mstatus |= MSTATUS_FS | MSTATUS_SD;
    return i + 1;
}

static HANDLER(op_fld)
{
    uint64_t v;
    if (UNLIKELY(!(h->mstatus & MSTATUS_FS)))
        return exec_illegal(h, i);
    if (UNLIKELY(!ld(h, i, RS1 + (uint64_t)i->imm, 8, &v)))
        return end_trap(h, i);
    h->f[i->rd] = v;
    h->mstatus |= MSTATUS_FS | MSTATUS_SD;
    return i + 1;
}

static HANDLER(op_fsw)
{
    if (UNLIKELY(!(h->mstatus & MSTATUS_FS)))
        return exec_illegal(h, i);
    return st(h, i, RS1 + (uint64_t)i->imm, 4, (uint32_t)h->f[i->rs2]);
}

static HANDLER(op_fsd)
{
    if (UNLIKELY(!(h->mstatus & MSTATUS_FS)))
        return exec_illegal(h, i);
    return st(h, i, RS1 + (uint64_t)i->imm, 8, h->f[i->rs2]);
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
    return i + 1;
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
    return i + 1;
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
    return i + 1;
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
#define R(op, fn) t[OP_##op] = op_##fn;
    R(LB, lb) R(LH, lh) R(LW, lw) R(LD, ld) R(LBU, lbu) R(LHU, lhu)
    R(LWU, lwu) R(SB, sb) R(SH, sh) R(SW, sw) R(SD, sd)
    R(FLW, flw) R(FLD, fld) R(FSW, fsw) R(FSD, fsd)
    R(LR_W, lr_w) R(SC_W, sc_w) R(LR_D, lr_d) R(SC_D, sc_d)
    R(AMOSWAP_W, amoswap_w) R(AMOADD_W, amoadd_w) R(AMOXOR_W, amoxor_w)
    R(AMOAND_W, amoand_w) R(AMOOR_W, amoor_w) R(AMOMIN_W, amomin_w)
    R(AMOMAX_W, amomax_w) R(AMOMINU_W, amominu_w) R(AMOMAXU_W, amomaxu_w)
    R(AMOSWAP_D, amoswap_d) R(AMOADD_D, amoadd_d) R(AMOXOR_D, amoxor_d)
    R(AMOAND_D, amoand_d) R(AMOOR_D, amoor_d) R(AMOMIN_D, amomin_d)
    R(AMOMAX_D, amomax_d) R(AMOMINU_D, amominu_d) R(AMOMAXU_D, amomaxu_d)
#undef R
}
