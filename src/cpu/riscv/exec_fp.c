/* F and D handlers: operand unboxing, rounding-mode resolution, flag
 * accrual and mstatus.FS bookkeeping around the pure fpu.c arithmetic.
 * With FS = Off every one of them is an illegal instruction. */
#include "cpu/riscv/exec_impl.h"
#include "cpu/riscv/fpu.h"

#define F(r) (h->f[r])
#define CANON_S 0x7fc00000u

static inline uint32_t unbox(uint64_t v)
{
    return (v >> 32) == 0xffffffffu ? (uint32_t)v : CANON_S;
}
static inline uint64_t box(uint32_t v) { return 0xffffffff00000000ULL | v; }
static inline void dirty(struct hart *h) { h->mstatus |= MSTATUS_FS | MSTATUS_SD; }
static inline void accrue(struct hart *h, uint32_t fl)
{
    if (fl) {
        h->fflags |= fl;
        dirty(h);
    }
}

/* The insn's exception flags live in the hart, not in a local whose
 * address the fpu.c call would take: the handler's jump to the next insn
 * stays a jump. */
#define FL (&h->xb_fflags)
#define FL_CLEAR h->xb_fflags = 0;

#define FP_CHECK                                                               \
    if (UNLIKELY(!(h->mstatus & MSTATUS_FS)))                                  \
        return exec_illegal(h, i);
#define FP_RM                                                                  \
    int rm = i->rm;                                                            \
    if (rm == 7) {                                                             \
        rm = (int)h->frm;                                                      \
        if (UNLIKELY(rm > 4))                                                  \
            return exec_illegal(h, i);                                         \
    }

/* f[rd] = box(fn(unbox(rs1), unbox(rs2), rm)) and friends */
#define FOP2_S(name, fn)                                                       \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FP_RM FL_CLEAR                                                \
        F(i->rd) = box(fn(unbox(F(i->rs1)), unbox(F(i->rs2)), rm, FL));        \
        accrue(h, *FL);                                                        \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
#define FOP2_D(name, fn)                                                       \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FP_RM FL_CLEAR                                                \
        F(i->rd) = fn(F(i->rs1), F(i->rs2), rm, FL);                           \
        accrue(h, *FL);                                                        \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
FOP2_S(fadd_s, fpu_add_s)
FOP2_S(fsub_s, fpu_sub_s)
FOP2_S(fmul_s, fpu_mul_s)
FOP2_S(fdiv_s, fpu_div_s)
FOP2_D(fadd_d, fpu_add_d)
FOP2_D(fsub_d, fpu_sub_d)
FOP2_D(fmul_d, fpu_mul_d)
FOP2_D(fdiv_d, fpu_div_d)

static HANDLER(op_fsqrt_s)
{
    FP_CHECK FP_RM FL_CLEAR
    F(i->rd) = box(fpu_sqrt_s(unbox(F(i->rs1)), rm, FL));
    accrue(h, *FL);
    dirty(h);
    return next_insn(h, i);
}

static HANDLER(op_fsqrt_d)
{
    FP_CHECK FP_RM FL_CLEAR
    F(i->rd) = fpu_sqrt_d(F(i->rs1), rm, FL);
    accrue(h, *FL);
    dirty(h);
    return next_insn(h, i);
}

/* Fused forms by sign flips: fmsub = a*b-c, fnmsub = -(a*b)+c,
 * fnmadd = -(a*b)-c. */
#define FMA_S(name, na, nc)                                                    \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FP_RM FL_CLEAR                                                \
        uint32_t a = unbox(F(i->rs1)) ^ ((na) ? 0x80000000u : 0);              \
        uint32_t c = unbox(F(i->rs3)) ^ ((nc) ? 0x80000000u : 0);              \
        F(i->rd) = box(fpu_fma_s(a, unbox(F(i->rs2)), c, rm, FL));             \
        accrue(h, *FL);                                                        \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
#define FMA_D(name, na, nc)                                                    \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FP_RM FL_CLEAR                                                \
        uint64_t a = F(i->rs1) ^ ((na) ? 0x8000000000000000ULL : 0);           \
        uint64_t c = F(i->rs3) ^ ((nc) ? 0x8000000000000000ULL : 0);           \
        F(i->rd) = fpu_fma_d(a, F(i->rs2), c, rm, FL);                         \
        accrue(h, *FL);                                                        \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
FMA_S(fmadd_s, 0, 0)
FMA_S(fmsub_s, 0, 1)
FMA_S(fnmsub_s, 1, 0)
FMA_S(fnmadd_s, 1, 1)
FMA_D(fmadd_d, 0, 0)
FMA_D(fmsub_d, 0, 1)
FMA_D(fnmsub_d, 1, 0)
FMA_D(fnmadd_d, 1, 1)

/* Sign injection: no flags, works on the (unboxed) bit patterns. */
#define SGNJ_S(name, expr)                                                     \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK uint32_t a = unbox(F(i->rs1)), b = unbox(F(i->rs2));          \
        F(i->rd) = box((a & 0x7fffffffu) | ((expr) & 0x80000000u));            \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
#define SGNJ_D(name, expr)                                                     \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK uint64_t a = F(i->rs1), b = F(i->rs2);                        \
        F(i->rd) = (a & ~(1ULL << 63)) | ((expr) & (1ULL << 63));              \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
SGNJ_S(fsgnj_s, b)
SGNJ_S(fsgnjn_s, ~b)
SGNJ_S(fsgnjx_s, a ^ b)
SGNJ_D(fsgnj_d, b)
SGNJ_D(fsgnjn_d, ~b)
SGNJ_D(fsgnjx_d, a ^ b)

#define MINMAX_S(name, fn)                                                     \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FL_CLEAR                                                      \
        F(i->rd) = box(fn(unbox(F(i->rs1)), unbox(F(i->rs2)), FL));            \
        accrue(h, *FL);                                                        \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
#define MINMAX_D(name, fn)                                                     \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FL_CLEAR                                                      \
        F(i->rd) = fn(F(i->rs1), F(i->rs2), FL);                               \
        accrue(h, *FL);                                                        \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
MINMAX_S(fmin_s, fpu_min_s)
MINMAX_S(fmax_s, fpu_max_s)
MINMAX_D(fmin_d, fpu_min_d)
MINMAX_D(fmax_d, fpu_max_d)

/* Results to x registers: compares, classify, conversions to integer. */
#define CMP(name, fn, un)                                                      \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FL_CLEAR                                                      \
        uint64_t r = fn(un(F(i->rs1)), un(F(i->rs2)), FL);                     \
        wr_x(h, i->rd, r);                                                     \
        accrue(h, *FL);                                                        \
        return next_insn(h, i);                                                          \
    }
#define ID(v) (v)
CMP(feq_s, fpu_eq_s, unbox)
CMP(flt_s, fpu_lt_s, unbox)
CMP(fle_s, fpu_le_s, unbox)
CMP(feq_d, fpu_eq_d, ID)
CMP(flt_d, fpu_lt_d, ID)
CMP(fle_d, fpu_le_d, ID)

static HANDLER(op_fclass_s)
{
    FP_CHECK wr_x(h, i->rd, fpu_class_s(unbox(F(i->rs1))));
    return next_insn(h, i);
}
static HANDLER(op_fclass_d)
{
    FP_CHECK wr_x(h, i->rd, fpu_class_d(F(i->rs1)));
    return next_insn(h, i);
}

#define CVT_TO_INT(name, fn, un)                                               \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FP_RM FL_CLEAR                                                \
        uint64_t r = fn(un(F(i->rs1)), rm, FL);                                \
        wr_x(h, i->rd, r);                                                     \
        accrue(h, *FL);                                                        \
        return next_insn(h, i);                                                          \
    }
CVT_TO_INT(fcvt_w_s, fpu_cvt_w_s, unbox)
CVT_TO_INT(fcvt_wu_s, fpu_cvt_wu_s, unbox)
CVT_TO_INT(fcvt_l_s, fpu_cvt_l_s, unbox)
CVT_TO_INT(fcvt_lu_s, fpu_cvt_lu_s, unbox)
CVT_TO_INT(fcvt_w_d, fpu_cvt_w_d, ID)
CVT_TO_INT(fcvt_wu_d, fpu_cvt_wu_d, ID)
CVT_TO_INT(fcvt_l_d, fpu_cvt_l_d, ID)
CVT_TO_INT(fcvt_lu_d, fpu_cvt_lu_d, ID)

#define CVT_FROM_INT(name, fn, ctype, bx)                                      \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        FP_CHECK FP_RM FL_CLEAR                                                \
        F(i->rd) = bx(fn((ctype)h->x[i->rs1], rm, FL));                        \
        accrue(h, *FL);                                                        \
        dirty(h);                                                              \
        return next_insn(h, i);                                                          \
    }
CVT_FROM_INT(fcvt_s_w, fpu_cvt_s_w, int32_t, box)
CVT_FROM_INT(fcvt_s_wu, fpu_cvt_s_wu, uint32_t, box)
CVT_FROM_INT(fcvt_s_l, fpu_cvt_s_l, int64_t, box)
CVT_FROM_INT(fcvt_s_lu, fpu_cvt_s_lu, uint64_t, box)
CVT_FROM_INT(fcvt_d_w, fpu_cvt_d_w, int32_t, ID)
CVT_FROM_INT(fcvt_d_wu, fpu_cvt_d_wu, uint32_t, ID)
CVT_FROM_INT(fcvt_d_l, fpu_cvt_d_l, int64_t, ID)
CVT_FROM_INT(fcvt_d_lu, fpu_cvt_d_lu, uint64_t, ID)

static HANDLER(op_fcvt_s_d)
{
    FP_CHECK FP_RM FL_CLEAR
    F(i->rd) = box(fpu_cvt_s_d(F(i->rs1), rm, FL));
    accrue(h, *FL);
    dirty(h);
    return next_insn(h, i);
}

static HANDLER(op_fcvt_d_s)
{
    FP_CHECK FP_RM FL_CLEAR
    (void)rm;
    F(i->rd) = fpu_cvt_d_s(unbox(F(i->rs1)), FL);
    accrue(h, *FL);
    dirty(h);
    return next_insn(h, i);
}

/* Bit moves: fmv.x.w takes the low 32 bits as they are (no unboxing). */
static HANDLER(op_fmv_x_w)
{
    FP_CHECK wr_x(h, i->rd, (uint64_t)(int64_t)(int32_t)F(i->rs1));
    return next_insn(h, i);
}
static HANDLER(op_fmv_w_x)
{
    FP_CHECK F(i->rd) = box((uint32_t)h->x[i->rs1]);
    dirty(h);
    return next_insn(h, i);
}
static HANDLER(op_fmv_x_d)
{
    FP_CHECK wr_x(h, i->rd, F(i->rs1));
    return next_insn(h, i);
}
static HANDLER(op_fmv_d_x)
{
    FP_CHECK F(i->rd) = h->x[i->rs1];
    dirty(h);
    return next_insn(h, i);
}

void exec_fp_register(insn_fn *t)
{
#define R(op, fn) t[OP_##op] = op_##fn;
    R(FADD_S, fadd_s) R(FSUB_S, fsub_s) R(FMUL_S, fmul_s) R(FDIV_S, fdiv_s)
    R(FSQRT_S, fsqrt_s) R(FMADD_S, fmadd_s) R(FMSUB_S, fmsub_s)
    R(FNMSUB_S, fnmsub_s) R(FNMADD_S, fnmadd_s) R(FSGNJ_S, fsgnj_s)
    R(FSGNJN_S, fsgnjn_s) R(FSGNJX_S, fsgnjx_s) R(FMIN_S, fmin_s)
    R(FMAX_S, fmax_s) R(FEQ_S, feq_s) R(FLT_S, flt_s) R(FLE_S, fle_s)
    R(FCLASS_S, fclass_s) R(FCVT_W_S, fcvt_w_s) R(FCVT_WU_S, fcvt_wu_s)
    R(FCVT_L_S, fcvt_l_s) R(FCVT_LU_S, fcvt_lu_s) R(FCVT_S_W, fcvt_s_w)
    R(FCVT_S_WU, fcvt_s_wu) R(FCVT_S_L, fcvt_s_l) R(FCVT_S_LU, fcvt_s_lu)
    R(FMV_X_W, fmv_x_w) R(FMV_W_X, fmv_w_x)
    R(FADD_D, fadd_d) R(FSUB_D, fsub_d) R(FMUL_D, fmul_d) R(FDIV_D, fdiv_d)
    R(FSQRT_D, fsqrt_d) R(FMADD_D, fmadd_d) R(FMSUB_D, fmsub_d)
    R(FNMSUB_D, fnmsub_d) R(FNMADD_D, fnmadd_d) R(FSGNJ_D, fsgnj_d)
    R(FSGNJN_D, fsgnjn_d) R(FSGNJX_D, fsgnjx_d) R(FMIN_D, fmin_d)
    R(FMAX_D, fmax_d) R(FEQ_D, feq_d) R(FLT_D, flt_d) R(FLE_D, fle_d)
    R(FCLASS_D, fclass_d) R(FCVT_W_D, fcvt_w_d) R(FCVT_WU_D, fcvt_wu_d)
    R(FCVT_L_D, fcvt_l_d) R(FCVT_LU_D, fcvt_lu_d) R(FCVT_D_W, fcvt_d_w)
    R(FCVT_D_WU, fcvt_d_wu) R(FCVT_D_L, fcvt_d_l) R(FCVT_D_LU, fcvt_d_lu)
    R(FCVT_S_D, fcvt_s_d) R(FCVT_D_S, fcvt_d_s) R(FMV_X_D, fmv_x_d)
    R(FMV_D_X, fmv_d_x)
#undef R
}
