/* RV64F: arithmetic under every rounding mode (static and dynamic), the
 * five exception flags, canonical NaN, NaN boxing, fmin/fmax on zeros and
 * NaNs, conversions at their edges, fclass, fused multiply-add rounding,
 * sign injection, moves, loads/stores and the mstatus.FS states. */
#include "common.h"
#include "fp.h"

#define ONE    0x3f800000
#define ONEP   0x3f800001   /* 1 + 2^-23 */
#define TWO    0x40000000
#define THREE  0x40400000
#define FOUR   0x40800000
#define HALF   0x3f000000
#define MONE   0xbf800000
#define MTWO   0xc0000000
#define PINF   0x7f800000
#define NINF   0xff800000
#define QNAN   0x7fc00000
#define QNANP  0x7fc12345   /* quiet NaN with a payload */
#define SNAN   0x7f800001
#define MAXF   0x7f7fffff
#define MMAXF  0xff7fffff
#define MINN   0x00800000
#define MINSUB 0x00000001
#define PZERO  0x00000000
#define NZERO  0x80000000
#define TINY   0x33800000   /* 2^-24: half an ulp of 1.0 */
#define MTINY  0xb3800000

/* fadd.s rs1=fa1 rs2=fa2 rd=fa0 with a raw rm field */
#define FADD_S_RM(rm) (0x53 | (10 << 7) | ((rm) << 12) | (11 << 15) | (12 << 20))

.macro SET_FRM mode
    csrwi frm, \mode
.endm

TEST_BEGIN
    /* ---- fadd under each static rounding mode (ties and signs) ---- */
    FT_RR s, fadd.s, rne, ONE, TINY, ONE, NX
    FT_RR s, fadd.s, rtz, ONE, TINY, ONE, NX
    FT_RR s, fadd.s, rdn, ONE, TINY, ONE, NX
    FT_RR s, fadd.s, rup, ONE, TINY, ONEP, NX
    FT_RR s, fadd.s, rmm, ONE, TINY, ONEP, NX
    FT_RR s, fadd.s, rne, ONEP, TINY, 0x3f800002, NX   /* tie to even goes up */
    FT_RR s, fadd.s, rtz, ONEP, TINY, ONEP, NX
    FT_RR s, fadd.s, rdn, ONEP, TINY, ONEP, NX
    FT_RR s, fadd.s, rup, ONEP, TINY, 0x3f800002, NX
    FT_RR s, fadd.s, rmm, ONEP, TINY, 0x3f800002, NX
    FT_RR s, fadd.s, rne, MONE, MTINY, MONE, NX
    FT_RR s, fadd.s, rtz, MONE, MTINY, MONE, NX
    FT_RR s, fadd.s, rdn, MONE, MTINY, 0xbf800001, NX
    FT_RR s, fadd.s, rup, MONE, MTINY, MONE, NX
    FT_RR s, fadd.s, rmm, MONE, MTINY, 0xbf800001, NX
    FT_RR s, fadd.s, rne, ONE, TWO, THREE, 0
    FT_RR s, fadd.s, rne, PINF, ONE, PINF, 0
    FT_RR s, fadd.s, rne, PINF, NINF, QNAN, NV
    FT_RR s, fadd.s, rne, QNANP, ONE, QNAN, 0          /* payload not propagated */
    FT_RR s, fadd.s, rne, SNAN, ONE, QNAN, NV
    FT_RR s, fadd.s, rne, ONE, SNAN, QNAN, NV
    FT_RR s, fadd.s, rne, MAXF, MAXF, PINF, OF|NX
    FT_RR s, fadd.s, rtz, MAXF, MAXF, MAXF, OF|NX
    FT_RR s, fadd.s, rne, PZERO, NZERO, PZERO, 0
    FT_RR s, fadd.s, rdn, PZERO, NZERO, NZERO, 0
    FT_RR s, fadd.s, rne, NZERO, NZERO, NZERO, 0
    /* x - x is +0, except -0 when rounding down */
    FT_RR s, fsub.s, rne, ONE, ONE, PZERO, 0
    FT_RR s, fsub.s, rdn, ONE, ONE, NZERO, 0
    FT_RR s, fsub.s, rup, ONE, ONE, PZERO, 0
    FT_RR s, fsub.s, rne, ONE, TWO, MONE, 0
    FT_RR s, fsub.s, rne, PINF, PINF, QNAN, NV
    FT_RR s, fsub.s, rne, ONE, TINY, 0x3f7fffff, 0     /* exact: 1 - 2^-24 */
    /* ---- fmul: overflow/underflow depend on the mode ---- */
    FT_RR s, fmul.s, rne, TWO, THREE, 0x40c00000, 0
    FT_RR s, fmul.s, rne, MAXF, TWO, PINF, OF|NX
    FT_RR s, fmul.s, rtz, MAXF, TWO, MAXF, OF|NX
    FT_RR s, fmul.s, rdn, MAXF, TWO, MAXF, OF|NX
    FT_RR s, fmul.s, rup, MAXF, TWO, PINF, OF|NX
    FT_RR s, fmul.s, rdn, MMAXF, TWO, NINF, OF|NX
    FT_RR s, fmul.s, rup, MMAXF, TWO, MMAXF, OF|NX
    FT_RR s, fmul.s, rne, MINN, HALF, 0x00400000, 0    /* exact subnormal: no UF */
    FT_RR s, fmul.s, rne, MINSUB, HALF, PZERO, UF|NX
    FT_RR s, fmul.s, rup, MINSUB, HALF, MINSUB, UF|NX
    FT_RR s, fmul.s, rmm, MINSUB, HALF, MINSUB, UF|NX
    FT_RR s, fmul.s, rne, PZERO, PINF, QNAN, NV
    FT_RR s, fmul.s, rne, NZERO, ONE, NZERO, 0
    FT_RR s, fmul.s, rne, MONE, MONE, ONE, 0
    /* ---- fdiv ---- */
    FT_RR s, fdiv.s, rne, ONE, THREE, 0x3eaaaaab, NX
    FT_RR s, fdiv.s, rtz, ONE, THREE, 0x3eaaaaaa, NX
    FT_RR s, fdiv.s, rdn, ONE, THREE, 0x3eaaaaaa, NX
    FT_RR s, fdiv.s, rup, ONE, THREE, 0x3eaaaaab, NX
    FT_RR s, fdiv.s, rmm, ONE, THREE, 0x3eaaaaab, NX
    FT_RR s, fdiv.s, rne, ONE, PZERO, PINF, DZ
    FT_RR s, fdiv.s, rne, ONE, NZERO, NINF, DZ
    FT_RR s, fdiv.s, rne, MONE, PZERO, NINF, DZ
    FT_RR s, fdiv.s, rne, PZERO, PZERO, QNAN, NV
    FT_RR s, fdiv.s, rne, PINF, PINF, QNAN, NV
    FT_RR s, fdiv.s, rne, ONE, PINF, PZERO, 0
    FT_RR s, fdiv.s, rne, PINF, PZERO, PINF, 0         /* inf/0 is not DZ */
    FT_RR s, fdiv.s, rne, FOUR, TWO, TWO, 0
    /* ---- fsqrt ---- */
    FT_R s, s, fsqrt.s, rne, FOUR, TWO, 0
    FT_R s, s, fsqrt.s, rne, TWO, 0x3fb504f3, NX
    FT_R s, s, fsqrt.s, rtz, TWO, 0x3fb504f3, NX
    FT_R s, s, fsqrt.s, rup, TWO, 0x3fb504f4, NX
    FT_R s, s, fsqrt.s, rne, NZERO, NZERO, 0
    FT_R s, s, fsqrt.s, rne, MONE, QNAN, NV
    FT_R s, s, fsqrt.s, rne, PINF, PINF, 0
    FT_R s, s, fsqrt.s, rne, NINF, QNAN, NV
    FT_R s, s, fsqrt.s, rne, QNANP, QNAN, 0
    FT_R s, s, fsqrt.s, rne, SNAN, QNAN, NV

    /* ---- dynamic rounding through frm ---- */
    SET_FRM 0
    FT_RR s, fadd.s, dyn, ONEP, TINY, 0x3f800002, NX
    SET_FRM 1
    FT_RR s, fadd.s, dyn, ONEP, TINY, ONEP, NX
    SET_FRM 2
    FT_RR s, fadd.s, dyn, MONE, MTINY, 0xbf800001, NX
    SET_FRM 3
    FT_RR s, fadd.s, dyn, ONE, TINY, ONEP, NX
    FT_RR s, fadd.s, dyn, MONE, MTINY, MONE, NX
    SET_FRM 4
    FT_RR s, fadd.s, dyn, ONE, TINY, ONEP, NX
    FT_RR s, fadd.s, dyn, MONE, MTINY, 0xbf800001, NX
    SET_FRM 2                           /* static rm overrides frm */
    FT_RR s, fadd.s, rup, ONE, TINY, ONEP, NX
    SET_FRM 3
    FT_RR s, fsub.s, dyn, ONE, ONE, PZERO, 0
    SET_FRM 2
    FT_RR s, fsub.s, dyn, ONE, ONE, NZERO, 0
    CASE                                /* fcsr = frm << 5 | fflags */
    li a0, 0xff
    csrw fcsr, a0
    csrr a1, frm
    CHECK a1, 7
    csrr a1, fflags
    CHECK a1, 0x1f
    csrwi frm, 1
    csrr a1, fcsr
    CHECK a1, 0x3f
    csrwi fflags, 0
    csrr a1, fcsr
    CHECK a1, 0x20
    fsrm a2, zero                       /* swap: returns the old frm */
    CHECK a2, 1
    csrr a1, fcsr
    CHECK a1, 0
    CASE                                /* flags accumulate */
    FLI_s fa1, ONE
    FLI_s fa2, THREE
    FLI_s fa3, PZERO
    fdiv.s fa0, fa1, fa2
    fdiv.s fa0, fa1, fa3
    CHECK_FLAGS DZ|NX
    csrw fflags, zero
    /* reserved rounding modes are illegal, statically and through frm */
    CASE
    FLI_s fa1, ONE
    FLI_s fa2, ONE
    EXPECT_TRAP
    .word FADD_S_RM(5)
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    .word FADD_S_RM(6)
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    SET_FRM 5
    EXPECT_TRAP
    fadd.s fa0, fa1, fa2, dyn
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    SET_FRM 7
    EXPECT_TRAP
    fadd.s fa0, fa1, fa2, dyn
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE                                /* ops without rounding still run */
    fsgnj.s fa0, fa1, fa2
    fmin.s fa0, fa1, fa2
    SET_FRM 0
    CASE                                /* the illegal instruction left fa0 alone */
    FLI_s fa0, TWO
    EXPECT_TRAP
    .word FADD_S_RM(5)
    FGET_s a0, fa0
    CHECK a0, TWO

    /* ---- fmin / fmax ---- */
    FT_RRN s, fmin.s, ONE, TWO, ONE, 0
    FT_RRN s, fmax.s, ONE, TWO, TWO, 0
    FT_RRN s, fmin.s, MONE, MTWO, MTWO, 0
    FT_RRN s, fmax.s, MONE, MTWO, MONE, 0
    FT_RRN s, fmin.s, NZERO, PZERO, NZERO, 0
    FT_RRN s, fmin.s, PZERO, NZERO, NZERO, 0
    FT_RRN s, fmax.s, NZERO, PZERO, PZERO, 0
    FT_RRN s, fmax.s, PZERO, NZERO, PZERO, 0
    FT_RRN s, fmin.s, QNAN, ONE, ONE, 0
    FT_RRN s, fmin.s, ONE, QNANP, ONE, 0
    FT_RRN s, fmax.s, QNANP, MONE, MONE, 0
    FT_RRN s, fmin.s, SNAN, ONE, ONE, NV
    FT_RRN s, fmax.s, ONE, SNAN, ONE, NV
    FT_RRN s, fmin.s, QNANP, QNANP, QNAN, 0
    FT_RRN s, fmax.s, SNAN, QNAN, QNAN, NV
    FT_RRN s, fmin.s, NINF, MMAXF, NINF, 0
    FT_RRN s, fmax.s, PINF, MAXF, PINF, 0

    /* ---- compares ---- */
    FT_CMP s, feq.s, ONE, ONE, 1, 0
    FT_CMP s, feq.s, ONE, TWO, 0, 0
    FT_CMP s, feq.s, NZERO, PZERO, 1, 0
    FT_CMP s, feq.s, QNAN, QNAN, 0, 0
    FT_CMP s, feq.s, QNAN, ONE, 0, 0
    FT_CMP s, feq.s, SNAN, ONE, 0, NV
    FT_CMP s, flt.s, MONE, ONE, 1, 0
    FT_CMP s, flt.s, ONE, ONE, 0, 0
    FT_CMP s, flt.s, NZERO, PZERO, 0, 0
    FT_CMP s, flt.s, NINF, MMAXF, 1, 0
    FT_CMP s, flt.s, QNAN, ONE, 0, NV
    FT_CMP s, flt.s, ONE, SNAN, 0, NV
    FT_CMP s, fle.s, ONE, ONE, 1, 0
    FT_CMP s, fle.s, TWO, ONE, 0, 0
    FT_CMP s, fle.s, NZERO, PZERO, 1, 0
    FT_CMP s, fle.s, ONE, QNAN, 0, NV

    /* ---- conversions to integer: rounding, saturation, NaN ---- */
    FT_F2I s, fcvt.w.s, rne, 0x3fc00000, 2, NX          /* 1.5 */
    FT_F2I s, fcvt.w.s, rne, 0x40200000, 2, NX          /* 2.5 -> even */
    FT_F2I s, fcvt.w.s, rmm, 0x40200000, 3, NX
    FT_F2I s, fcvt.w.s, rtz, 0x40200000, 2, NX
    FT_F2I s, fcvt.w.s, rup, 0x40200000, 3, NX
    FT_F2I s, fcvt.w.s, rdn, 0xc0200000, -3, NX         /* -2.5 */
    FT_F2I s, fcvt.w.s, rup, 0xc0200000, -2, NX
    FT_F2I s, fcvt.w.s, rtz, 0xc0200000, -2, NX
    FT_F2I s, fcvt.w.s, rmm, 0xc0200000, -3, NX
    FT_F2I s, fcvt.w.s, rtz, MONE, -1, 0
    FT_F2I s, fcvt.w.s, rtz, 0x4f32d05e, 0x7fffffff, NV          /* 3e9 */
    FT_F2I s, fcvt.w.s, rtz, 0xcf000000, 0xffffffff80000000, 0   /* -2^31 */
    FT_F2I s, fcvt.w.s, rtz, 0xcf000001, 0xffffffff80000000, NV
    FT_F2I s, fcvt.w.s, rtz, PINF, 0x7fffffff, NV
    FT_F2I s, fcvt.w.s, rtz, NINF, 0xffffffff80000000, NV
    FT_F2I s, fcvt.w.s, rtz, QNAN, 0x7fffffff, NV
    FT_F2I s, fcvt.w.s, rtz, 0xffc00000, 0x7fffffff, NV          /* -NaN too */
    FT_F2I s, fcvt.w.s, rtz, SNAN, 0x7fffffff, NV
    FT_F2I s, fcvt.wu.s, rtz, 0x4f32d05e, 0xffffffffb2d05e00, 0  /* sign-extended */
    FT_F2I s, fcvt.wu.s, rtz, 0x4f800000, 0xffffffffffffffff, NV /* 2^32 */
    FT_F2I s, fcvt.wu.s, rtz, MONE, 0, NV
    FT_F2I s, fcvt.wu.s, rtz, 0xbf000000, 0, NX                  /* -0.5 -> -0 */
    FT_F2I s, fcvt.wu.s, rdn, 0xbf000000, 0, NV                  /* -0.5 -> -1 */
    FT_F2I s, fcvt.wu.s, rtz, NZERO, 0, 0
    FT_F2I s, fcvt.wu.s, rtz, QNAN, 0xffffffffffffffff, NV
    FT_F2I s, fcvt.wu.s, rtz, NINF, 0, NV
    FT_F2I s, fcvt.l.s, rtz, 0x4f32d05e, 3000000000, 0
    FT_F2I s, fcvt.l.s, rtz, 0x5f000000, 0x7fffffffffffffff, NV  /* 2^63 */
    FT_F2I s, fcvt.l.s, rtz, 0xdf000000, 0x8000000000000000, 0   /* -2^63 */
    FT_F2I s, fcvt.l.s, rtz, NINF, 0x8000000000000000, NV
    FT_F2I s, fcvt.l.s, rtz, QNAN, 0x7fffffffffffffff, NV
    FT_F2I s, fcvt.l.s, rne, 0xbfc00000, -2, NX                  /* -1.5 */
    FT_F2I s, fcvt.lu.s, rtz, 0x5f7fffff, 0xffffff0000000000, 0
    FT_F2I s, fcvt.lu.s, rtz, 0x5f800000, 0xffffffffffffffff, NV /* 2^64 */
    FT_F2I s, fcvt.lu.s, rtz, MONE, 0, NV
    FT_F2I s, fcvt.lu.s, rtz, QNAN, 0xffffffffffffffff, NV
    FT_F2I s, fcvt.lu.s, rtz, PINF, 0xffffffffffffffff, NV
    /* dynamic rounding for conversions */
    SET_FRM 4
    FT_F2I s, fcvt.w.s, dyn, 0x40200000, 3, NX
    SET_FRM 0
    FT_F2I s, fcvt.w.s, dyn, 0x40200000, 2, NX

    /* ---- conversions from integer ---- */
    FT_I2F s, fcvt.s.w, rne, 1, ONE, 0
    FT_I2F s, fcvt.s.w, rne, -1, MONE, 0
    FT_I2F s, fcvt.s.w, rne, 0xffffffff00000001, ONE, 0          /* low word only */
    FT_I2F s, fcvt.s.w, rne, 0x7fffffff, 0x4f000000, NX
    FT_I2F s, fcvt.s.w, rtz, 0x7fffffff, 0x4effffff, NX
    FT_I2F s, fcvt.s.w, rne, 0x80000000, 0xcf000000, 0
    FT_I2F s, fcvt.s.w, rne, 0, PZERO, 0
    FT_I2F s, fcvt.s.wu, rne, 0xffffffff, 0x4f800000, NX
    FT_I2F s, fcvt.s.wu, rtz, 0xffffffff, 0x4f7fffff, NX
    FT_I2F s, fcvt.s.wu, rne, 0x1234567880000000, 0x4f000000, 0  /* low word only */
    FT_I2F s, fcvt.s.l, rne, 0x8000000000000000, 0xdf000000, 0
    FT_I2F s, fcvt.s.l, rne, 16777217, 0x4b800000, NX            /* 2^24+1: tie */
    FT_I2F s, fcvt.s.l, rup, 16777217, 0x4b800001, NX
    FT_I2F s, fcvt.s.l, rne, 16777219, 0x4b800002, NX            /* tie to even up */
    FT_I2F s, fcvt.s.l, rdn, -16777217, 0xcb800001, NX
    FT_I2F s, fcvt.s.lu, rne, 0xffffffffffffffff, 0x5f800000, NX
    FT_I2F s, fcvt.s.lu, rtz, 0xffffffffffffffff, 0x5f7fffff, NX
    FT_I2F s, fcvt.s.lu, rne, 0, PZERO, 0

    /* ---- fclass: one bit per class ---- */
    FT_CLASS s, NINF, 1 << 0
    FT_CLASS s, MONE, 1 << 1
    FT_CLASS s, 0x80000001, 1 << 2
    FT_CLASS s, NZERO, 1 << 3
    FT_CLASS s, PZERO, 1 << 4
    FT_CLASS s, MINSUB, 1 << 5
    FT_CLASS s, 0x007fffff, 1 << 5
    FT_CLASS s, MINN, 1 << 6
    FT_CLASS s, PINF, 1 << 7
    FT_CLASS s, SNAN, 1 << 8
    FT_CLASS s, 0xff800001, 1 << 8
    FT_CLASS s, QNAN, 1 << 9
    FT_CLASS s, 0xffffffff, 1 << 9

    /* ---- fused multiply-add: one rounding ---- */
    /* (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24; minus 1 keeps the 2^-24 term */
    FT_R4 s, fmadd.s, rne, 0x3f800800, 0x3f800800, MONE, 0x3a000400, 0
    FT_R4 s, fmsub.s, rne, 0x3f800800, 0x3f800800, ONE, 0x3a000400, 0
    FT_R4 s, fnmsub.s, rne, 0x3f800800, 0x3f800800, ONE, 0xba000400, 0
    FT_R4 s, fnmadd.s, rne, 0x3f800800, 0x3f800800, MONE, 0xba000400, 0
    FT_R4 s, fmadd.s, rne, TWO, THREE, ONE, 0x40e00000, 0           /* 7 */
    FT_R4 s, fmsub.s, rne, TWO, THREE, ONE, 0x40a00000, 0           /* 5 */
    FT_R4 s, fnmadd.s, rne, TWO, THREE, ONE, 0xc0e00000, 0          /* -7 */
    FT_R4 s, fnmsub.s, rne, TWO, THREE, ONE, 0xc0a00000, 0          /* -5 */
    FT_R4 s, fmadd.s, rne, ONE, TINY, ONE, ONE, NX                  /* 1 + 2^-24 */
    FT_R4 s, fmadd.s, rup, ONE, TINY, ONE, ONEP, NX
    FT_R4 s, fmadd.s, rne, PINF, PZERO, ONE, QNAN, NV
    FT_R4 s, fmadd.s, rne, PINF, PZERO, QNAN, QNAN, NV              /* inf*0 + qNaN is invalid */
    FT_R4 s, fmadd.s, rne, ONE, ONE, QNAN, QNAN, 0
    FT_R4 s, fmadd.s, rne, ONE, ONE, SNAN, QNAN, NV
    FT_R4 s, fmadd.s, rne, PINF, ONE, NINF, QNAN, NV
    FT_R4 s, fmadd.s, rne, MAXF, TWO, MMAXF, MAXF, 0                /* no intermediate overflow */
    FT_R4 s, fmsub.s, rne, ONE, ONE, ONE, PZERO, 0
    FT_R4 s, fmsub.s, rdn, ONE, ONE, ONE, NZERO, 0

    /* ---- sign injection: bit operations, no NaN canonicalisation ---- */
    FT_RRN s, fsgnj.s, ONE, MTWO, MONE, 0
    FT_RRN s, fsgnj.s, MONE, TWO, ONE, 0
    FT_RRN s, fsgnjn.s, ONE, MTWO, ONE, 0
    FT_RRN s, fsgnjn.s, ONE, TWO, MONE, 0
    FT_RRN s, fsgnjx.s, MONE, MTWO, ONE, 0
    FT_RRN s, fsgnjx.s, ONE, MTWO, MONE, 0
    FT_RRN s, fsgnjx.s, MONE, TWO, MONE, 0
    FT_RRN s, fsgnj.s, QNANP, MONE, 0xffc12345, 0
    FT_RRN s, fsgnj.s, SNAN, ONE, SNAN, 0
    FT_RRN s, fsgnjn.s, SNAN, SNAN, 0xff800001, 0
    CASE                                /* fneg / fabs / fmv aliases */
    FLI_s fa1, MTWO
    fabs.s fa0, fa1
    FGET_s a0, fa0
    CHECK a0, TWO
    fneg.s fa0, fa0
    FGET_s a0, fa0
    CHECK a0, MTWO
    fmv.s fa2, fa0
    FGET_s a0, fa2
    CHECK a0, MTWO

    /* ---- moves ---- */
    CASE                                /* fmv.x.w sign-extends bit 31 */
    FLI_s fa0, MONE
    fmv.x.w a0, fa0
    CHECK a0, 0xffffffffbf800000
    FLI_s fa0, ONE
    fmv.x.w a0, fa0
    CHECK a0, 0x3f800000
    CASE                                /* fmv.w.x ignores the upper bits, NaN-boxes */
    li a1, 0x123456783f800000
    fmv.w.x fa0, a1
    fmv.x.d a0, fa0
    CHECK a0, 0xffffffff3f800000
    CASE                                /* fmv.w.x moves any bit pattern, even sNaN */
    li a1, SNAN
    fmv.w.x fa0, a1
    fmv.x.w a0, fa0
    CHECK a0, SNAN

    /* ---- NaN boxing ---- */
    CASE                                /* a non-boxed value reads as the canonical NaN */
    li a1, 0x000000003f800000
    fmv.d.x fa1, a1
    FLI_s fa2, ONE
    csrw fflags, zero
    fadd.s fa0, fa1, fa2
    FGET_s a0, fa0
    CHECK a0, QNAN
    CHECK_FLAGS 0
    CASE
    li a1, 0xfffffffe3f800000           /* one upper bit clear is enough */
    fmv.d.x fa1, a1
    fmul.s fa0, fa1, fa2
    FGET_s a0, fa0
    CHECK a0, QNAN
    CASE
    fclass.s a0, fa1
    CHECK a0, 1 << 9
    CASE
    fsgnj.s fa0, fa2, fa1               /* sign source unboxed: canonical NaN sign (+) */
    FGET_s a0, fa0
    CHECK a0, ONE
    fsgnj.s fa0, fa1, fa2               /* magnitude source unboxed */
    fmv.x.d a0, fa0
    CHECK a0, 0xffffffff7fc00000
    CASE
    feq.s a0, fa1, fa1
    CHECK a0, 0
    CHECK_FLAGS 0
    fcvt.w.s a0, fa1, rtz
    CHECK a0, 0x7fffffff
    CASE                                /* but fmv.x.w and fsw take the low bits as they are */
    fmv.x.w a0, fa1
    CHECK a0, 0x3f800000
    la a1, fdata
    li a2, -1
    sd a2, 0(a1)
    fsw fa1, 0(a1)
    ld a0, 0(a1)
    CHECK a0, 0xffffffff3f800000
    CASE                                /* results are boxed */
    FLI_s fa1, ONE
    FLI_s fa2, TWO
    fadd.s fa0, fa1, fa2
    fmv.x.d a0, fa0
    CHECK a0, 0xffffffff40400000
    li a1, 3
    fcvt.s.l fa0, a1
    fmv.x.d a0, fa0
    CHECK a0, 0xffffffff40400000

    /* ---- flw / fsw ---- */
    CASE
    la a1, fdata
    li a2, 0x1122334455667788
    sd a2, 0(a1)
    flw fa0, 4(a1)
    fmv.x.d a0, fa0
    CHECK a0, 0xffffffff11223344
    flw fa0, 0(a1)
    fmv.x.d a0, fa0
    CHECK a0, 0xffffffff55667788
    CASE
    FLI_s fa0, 0xcafef00d
    fsw fa0, 4(a1)
    ld a0, 0(a1)
    CHECK a0, 0xcafef00d55667788
    CASE                                /* negative offset */
    addi a3, a1, 8
    flw fa1, -4(a3)
    FGET_s a0, fa1
    CHECK a0, 0xcafef00d
    fsw fa1, -8(a3)
    ld a0, 0(a1)
    CHECK a0, 0xcafef00dcafef00d

    /* ---- mstatus.FS ---- */
    CASE                                /* a write makes FS Dirty and sets SD */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, MSTATUS_FS_INIT
    csrs mstatus, t0
    fmv.w.x fa0, zero
    csrr a0, mstatus
    srli a1, a0, 13
    andi a1, a1, 3
    CHECK a1, 3
    srli a1, a0, 63
    CHECK a1, 1
    CASE                                /* from Clean too, through an arithmetic op */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, MSTATUS_FS_CLEAN
    csrs mstatus, t0
    fadd.s fa0, fa1, fa1
    csrr a0, mstatus
    srli a1, a0, 13
    andi a1, a1, 3
    CHECK a1, 3
    CASE                                /* through a load */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, MSTATUS_FS_CLEAN
    csrs mstatus, t0
    la a2, fdata
    flw fa0, 0(a2)
    csrr a0, mstatus
    srli a1, a0, 13
    andi a1, a1, 3
    CHECK a1, 3
    CASE                                /* FS = Off: every F instruction and fcsr trap */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    csrr a0, mstatus
    srli a1, a0, 63                     /* SD clear with everything off */
    CHECK a1, 0
    EXPECT_TRAP
    fadd.s fa0, fa1, fa1
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    flw fa0, 0(a2)
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fsw fa0, 0(a2)
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fmv.w.x fa0, zero
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fmv.x.w a0, fa0
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    csrr a0, fflags
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    csrw fcsr, zero
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fmadd.s fa0, fa1, fa1, fa1
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fcvt.s.w fa0, zero
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE                                /* the trapped write did not happen */
    li t0, MSTATUS_FS_INIT
    csrs mstatus, t0
    FLI_s fa0, TWO
    li t0, MSTATUS_FS
    csrc mstatus, t0
    EXPECT_TRAP
    fmv.w.x fa0, zero
    li t0, MSTATUS_FS_INIT
    csrs mstatus, t0
    FGET_s a0, fa0
    CHECK a0, TWO

    TEST_PASS

    .data
    .align 3
fdata: .dword 0, 0
