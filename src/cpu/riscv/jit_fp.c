/* The translator's floating point: native x86-64 code for the common
 * D-extension insns, exact as fpu.c is exact.
 *
 * Arithmetic (fadd/fsub/fmul/fdiv/fsqrt.d) runs natively only in the case
 * fpu.c's own fast path takes — round to nearest (static, or dynamic with
 * frm = RNE at run time), finite operands, a normal result comfortably
 * away from the underflow threshold — where no flag but NX can arise and
 * NX is "the error-free transformation's residual is not zero" (TwoSum
 * for sums, an FMA for products, quotients and roots; see fpu.c). Every
 * other case, and FS = Off, jumps to the slow path before anything was
 * written: the interpreter's handler redoes the insn on the unchanged
 * state (the exact model, the illegal-instruction trap). The bit moves
 * (fmv.x.d, fmv.d.x, fsgnj[n|x].d) need only the FS test. Conversions
 * from integers run natively when exact (any valid rounding mode: 32-bit
 * values, 64-bit ones within +-2^53), to signed integers in RNE/RTZ when
 * the value is safely in range (NX when the result converted back
 * differs). Doubles need no NaN boxing; singles all stay with their
 * handlers. */
#include "cpu/riscv/jit_x86.h"

#include "cpu/riscv/decode.h"

static bool host_fma(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool jit_fp_native(const struct insn *in)
{
    switch (in->op) {
    case OP_FMV_X_D: case OP_FMV_D_X:
    case OP_FSGNJ_D: case OP_FSGNJN_D: case OP_FSGNJX_D:
        return true;
    case OP_FADD_D: case OP_FSUB_D: case OP_FMUL_D: case OP_FDIV_D:
    case OP_FSQRT_D:
        return (in->rm == 0 || in->rm == 7) && host_fma();
    case OP_FCVT_D_W: case OP_FCVT_D_WU: case OP_FCVT_D_L: case OP_FCVT_D_LU:
        return in->rm <= 4 || in->rm == 7;
    case OP_FCVT_W_D: case OP_FCVT_L_D:
        return in->rm <= 1; /* RNE (MXCSR's mode) and RTZ */
    }
    return false;
}

/* sse op xmm d, xmm s: prefix, 0f, opcode */
static void sse(struct emit *e, unsigned pfx, unsigned op, unsigned d,
                unsigned s)
{
    e8(e, pfx);
    e8(e, 0x0f);
    e8(e, op);
    e8(e, 0xc0 | d << 3 | s);
}

enum { ADDSD = 0x58, MULSD = 0x59, SUBSD = 0x5c, DIVSD = 0x5e,
       SQRTSD = 0x51 };

static void movsd_ld(struct emit *e, unsigned x, int32_t disp)
{
    e8(e, 0xf2); e8(e, 0x0f); e8(e, 0x10);
    m_rdi(e, x, disp);
}

static void movsd_st(struct emit *e, unsigned x, int32_t disp)
{
    e8(e, 0xf2); e8(e, 0x0f); e8(e, 0x11);
    m_rdi(e, x, disp);
}

static void movapd(struct emit *e, unsigned d, unsigned s)
{
    sse(e, 0x66, 0x28, d, s);
}

/* movq gpr, xmm */
static void movq_gx(struct emit *e, unsigned g, unsigned x)
{
    e8(e, 0x66); e8(e, 0x48); e8(e, 0x0f); e8(e, 0x7e);
    e8(e, 0xc0 | x << 3 | g);
}

/* VEX-encoded FMA3, scalar double: d = op(s1 * s2, d) (231 form) */
enum { VFMSUB231SD = 0xbb, VFNMADD231SD = 0xbd };
static void vfma(struct emit *e, unsigned op, unsigned d, unsigned s1,
                 unsigned s2)
{
    e8(e, 0xc4);
    e8(e, 0xe2);                                /* R X B = 0, map 0f38 */
    e8(e, 0x80 | (~s1 & 15) << 3 | 0x01);       /* W1, vvvv, L0, pp 66 */
    e8(e, op);
    e8(e, 0xc0 | d << 3 | s2);
}

/* Slow path unless lo <= v <= hi, v = the bits in `g` (abs: sign dropped,
 * the comparison done on v << 1). Clobbers rcx, rdx. */
static void range(struct emit *e, struct jit_slow *s, unsigned *nj,
                  unsigned g, uint64_t lo, uint64_t hi, bool abs)
{
    mov_rr(e, RCX, g);
    if (abs) {
        rr(e, G_ADD, RCX, RCX, true);
        lo <<= 1;
        hi <<= 1;
    }
    if (lo) {
        mov_imm64(e, RDX, lo);
        rr(e, G_SUB, RCX, RDX, true);
    }
    mov_imm64(e, RDX, hi - lo);
    rr(e, G_CMP, RCX, RDX, true);
    if (*nj < JIT_SLOW_JUMPS)
        s->jmp[(*nj)++] = jcc_rel32(e, 0x87);   /* ja slow */
    else
        e->full = true;
}

#define DBL_MIN_BITS 0x0010000000000000ULL
#define DBL_MAX_BITS 0x7fefffffffffffffULL
#define P969_BITS 0x0360000000000000ULL /* 0x1p-969 */
#define P968_BITS 0x0370000000000000ULL /* 0x1p-968 */

/* after a ucomisd: fflags.NX unless equal; raising a flag makes FS
 * Dirty, as the handlers' accrue() does (it matters where the insn writes
 * no f register) */
static void nx_unless_equal(struct emit *e)
{
    uint8_t *eq = jcc_rel32(e, 0x84);           /* je over */
    e8(e, 0x80);                                /* or byte [fflags], 1 */
    m_rdi(e, 1, (int32_t)offsetof(struct hart, fflags));
    e8(e, 1);
    uint8_t fs = e->fs_state; /* (only this path makes it Dirty) */
    fs_dirty(e);
    e->fs_state = fs;
    if (!e->full)
        patch_rel32(eq, e->p);
}

/* fflags.NX when the residual in xmm `x` is not zero */
static void nx_unless_zero(struct emit *e, unsigned x)
{
    sse(e, 0x66, 0x57, 7, 7);                   /* xorpd xmm7, xmm7 */
    sse(e, 0x66, 0x2e, x, 7);                   /* ucomisd x, xmm7 */
    nx_unless_equal(e);
}

/* A jump taken when fflags.NX is set already (code that has rounded
 * once mostly has): then the residual, which could only set it, need not
 * be computed; the result and FS = Dirty are written either way. */
static uint8_t *nx_test(struct emit *e)
{
    e8(e, 0xf6);                                /* test byte [fflags], 1 */
    m_rdi(e, 0, (int32_t)offsetof(struct hart, fflags));
    e8(e, 1);
    return jcc_rel32(e, 0x85);                  /* jnz */
}

static void emit_arith(struct emit *e, const struct insn *in,
                       struct jit_slow *s, unsigned *nj)
{
    uint8_t *zero = NULL, *nx_set = NULL;
    if (in->rm == 7) { /* dynamic: frm must be RNE now */
        e8(e, 0x48); e8(e, 0x83);               /* cmp qword [frm], 0 */
        m_rdi(e, 7, (int32_t)offsetof(struct hart, frm));
        e8(e, 0);
        s->jmp[(*nj)++] = jcc_rel32(e, 0x85);
    }
    movsd_ld(e, 0, FOFF(in->rs1));
    if (in->op != OP_FSQRT_D)
        movsd_ld(e, 1, FOFF(in->rs2));
    switch (in->op) {
    case OP_FADD_D: case OP_FSUB_D:
        movapd(e, 2, 0);
        sse(e, 0xf2, in->op == OP_FADD_D ? ADDSD : SUBSD, 2, 1);
        movq_gx(e, RAX, 2);
        /* r = +-0: exact, and the host's sign is RISC-V's */
        mov_rr(e, RCX, RAX);
        rr(e, G_ADD, RCX, RCX, true);
        zero = jcc_rel32(e, 0x84);
        range(e, s, nj, RAX, DBL_MIN_BITS + 1, DBL_MAX_BITS, true);
        nx_set = nx_test(e);
        /* TwoSum of a and +-b: bv = r - a; err = (a - (r - bv)) + (b' - bv) */
        movapd(e, 3, 2);
        sse(e, 0xf2, SUBSD, 3, 0);              /* xmm3 = bv */
        movapd(e, 4, 2);
        sse(e, 0xf2, SUBSD, 4, 3);              /* xmm4 = r - bv */
        movapd(e, 5, 0);
        sse(e, 0xf2, SUBSD, 5, 4);              /* xmm5 = a - (r - bv) */
        movapd(e, 6, 1);
        if (in->op == OP_FADD_D) {
            sse(e, 0xf2, SUBSD, 6, 3);          /* b - bv */
            sse(e, 0xf2, ADDSD, 5, 6);
        } else {                                /* -b - bv = -(b + bv) */
            sse(e, 0xf2, ADDSD, 6, 3);
            sse(e, 0xf2, SUBSD, 5, 6);
        }
        break;
    case OP_FMUL_D:
        movapd(e, 2, 0);
        sse(e, 0xf2, MULSD, 2, 1);
        movq_gx(e, RAX, 2);
        range(e, s, nj, RAX, P969_BITS, DBL_MAX_BITS, true);
        nx_set = nx_test(e);
        movapd(e, 5, 2);
        vfma(e, VFMSUB231SD, 5, 0, 1);          /* a * b - r */
        break;
    case OP_FDIV_D:
        movapd(e, 2, 0);
        sse(e, 0xf2, DIVSD, 2, 1);
        movq_gx(e, RAX, 2);
        range(e, s, nj, RAX, DBL_MIN_BITS + 1, DBL_MAX_BITS, true);
        movq_gx(e, RAX, 0);
        range(e, s, nj, RAX, P968_BITS, UINT64_MAX >> 1, true);
        movq_gx(e, RAX, 1);
        range(e, s, nj, RAX, 0, DBL_MAX_BITS, true);
        nx_set = nx_test(e);
        movapd(e, 5, 0);
        vfma(e, VFNMADD231SD, 5, 2, 1);         /* a - q * b */
        break;
    default: /* FSQRT_D */
        movq_gx(e, RAX, 0);
        range(e, s, nj, RAX, P968_BITS, DBL_MAX_BITS, false);
        movapd(e, 2, 0);
        sse(e, 0xf2, SQRTSD, 2, 2);
        nx_set = nx_test(e);
        movapd(e, 5, 0);
        vfma(e, VFNMADD231SD, 5, 2, 2);         /* a - r * r */
        break;
    }
    nx_unless_zero(e, 5);
    if (zero && !e->full)
        patch_rel32(zero, e->p);
    if (nx_set && !e->full)
        patch_rel32(nx_set, e->p);
    movsd_st(e, 2, FOFF(in->rd));
    fs_dirty(e);
}

/* cvtsi2sd xmm0, r (w: 64-bit source) */
static void cvtsi2sd(struct emit *e, unsigned x, unsigned g, bool w)
{
    e8(e, 0xf2);
    if (w)
        e8(e, 0x48);
    e8(e, 0x0f); e8(e, 0x2a);
    e8(e, 0xc0 | x << 3 | g);
}

static void emit_cvt(struct emit *e, const struct insn *in,
                     struct jit_slow *s, unsigned *nj)
{
    bool from = in->op == OP_FCVT_D_W || in->op == OP_FCVT_D_WU ||
                in->op == OP_FCVT_D_L || in->op == OP_FCVT_D_LU;
    if (from) {
        if (in->rm == 7) { /* dynamic: an invalid frm is illegal */
            e8(e, 0x48); e8(e, 0x83);           /* cmp qword [frm], 4 */
            m_rdi(e, 7, (int32_t)offsetof(struct hart, frm));
            e8(e, 4);
            s->jmp[(*nj)++] = jcc_rel32(e, 0x87); /* ja slow */
        }
        ldx(e, RAX, in->rs1);
        bool w = true;
        switch (in->op) {
        case OP_FCVT_D_W:
            w = false;                          /* the low 32 bits, signed */
            break;
        case OP_FCVT_D_WU:
            e8(e, 0x89); e8(e, 0xc0);           /* mov eax, eax */
            break;
        case OP_FCVT_D_L: /* exact within +-2^53: x + 2^53 <= 2^54 */
            mov_imm64(e, RCX, 1ULL << 53);
            rr(e, G_ADD, RCX, RAX, true);
            mov_imm64(e, RDX, 1ULL << 54);
            rr(e, G_CMP, RCX, RDX, true);
            s->jmp[(*nj)++] = jcc_rel32(e, 0x87);
            break;
        default: /* FCVT_D_LU */
            mov_imm64(e, RDX, 1ULL << 53);
            rr(e, G_CMP, RAX, RDX, true);
            s->jmp[(*nj)++] = jcc_rel32(e, 0x87);
            break;
        }
        cvtsi2sd(e, 0, RAX, w);
        movsd_st(e, 0, FOFF(in->rd));
        fs_dirty(e);
        return;
    }
    /* to a signed integer, |a| below 2^30 / 2^62 (RNE cannot round out of
     * range) or 2^31 / 2^63 (RTZ); NaN and inf fail the test */
    bool l = in->op == OP_FCVT_L_D;
    uint64_t lim = l ? (in->rm ? 0x43e0000000000000ULL : 0x43d0000000000000ULL)
                     : (in->rm ? 0x41e0000000000000ULL : 0x41d0000000000000ULL);
    movsd_ld(e, 0, FOFF(in->rs1));
    movq_gx(e, RAX, 0);
    range(e, s, nj, RAX, 0, lim - 1, true);
    e8(e, 0xf2);                                /* cvt[t]sd2si rax/eax */
    if (l)
        e8(e, 0x48);
    e8(e, 0x0f); e8(e, in->rm ? 0x2c : 0x2d);
    e8(e, 0xc0 | RAX << 3 | 0);
    if (!l)
        movsxd(e, RAX);
    cvtsi2sd(e, 1, RAX, true);                  /* back: exact here */
    sse(e, 0x66, 0x2e, 0, 1);                   /* ucomisd xmm0, xmm1 */
    nx_unless_equal(e);
    stx(e, RAX, in->rd);
    e->rax_reg = -1;
}

void jit_emit_fp(struct emit *e, const struct insn *in, struct jit_slow *s)
{
    unsigned nj = 0;
    fs_check(e, &s->jmp[nj++]);
    switch (in->op) {
    case OP_FMV_X_D:
        ld_rdi(e, RAX, FOFF(in->rs1));
        stx(e, RAX, in->rd);
        e->rax_reg = -1;
        break;
    case OP_FMV_D_X:
        ldx(e, RAX, in->rs1);
        st_rdi(e, RAX, FOFF(in->rd));
        fs_dirty(e);
        break;
    case OP_FSGNJ_D: case OP_FSGNJN_D: case OP_FSGNJX_D:
        ld_rdi(e, RAX, FOFF(in->rs1));
        ld_rdi(e, RCX, FOFF(in->rs2));
        if (in->op == OP_FSGNJN_D) {
            e8(e, 0x48); e8(e, 0xf7); e8(e, 0xd1);  /* not rcx */
        }
        sh_i(e, S_SHR, RCX, 63, true);
        sh_i(e, S_SHL, RCX, 63, true);          /* rcx = the sign bit */
        if (in->op == OP_FSGNJX_D) {
            rr(e, G_XOR, RAX, RCX, true);
        } else {
            e8(e, 0x48); e8(e, 0x0f); e8(e, 0xba); e8(e, 0xf0); e8(e, 63);
            rr(e, G_OR, RAX, RCX, true);        /* (btr rax, 63 first) */
        }
        st_rdi(e, RAX, FOFF(in->rd));
        fs_dirty(e);
        break;
    case OP_FCVT_D_W: case OP_FCVT_D_WU: case OP_FCVT_D_L: case OP_FCVT_D_LU:
    case OP_FCVT_W_D: case OP_FCVT_L_D:
        emit_cvt(e, in, s, &nj);
        break;
    default:
        emit_arith(e, in, s, &nj);
        break;
    }
    s->resume = e->p;
}
