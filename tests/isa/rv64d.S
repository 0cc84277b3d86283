/* RV64D: double arithmetic under every rounding mode, flags, canonical
 * NaN, fmin/fmax, conversions between double, single and integers at their
 * edges, fclass, fused multiply-add rounding, sign injection, moves,
 * fld/fsd and mstatus.FS. */
#include "common.h"
#include "fp.h"

#define ONE    0x3ff0000000000000
#define ONEP   0x3ff0000000000001
#define ONEPP  0x3ff0000000000002
#define TWO    0x4000000000000000
#define THREE  0x4008000000000000
#define FOUR   0x4010000000000000
#define HALF   0x3fe0000000000000
#define MONE   0xbff0000000000000
#define MONEP  0xbff0000000000001
#define MTWO   0xc000000000000000
#define PINF   0x7ff0000000000000
#define NINF   0xfff0000000000000
#define QNAN   0x7ff8000000000000
#define QNANP  0x7ff8000000012345
#define SNAN   0x7ff0000000000001
#define MAXD   0x7fefffffffffffff
#define MMAXD  0xffefffffffffffff
#define MINN   0x0010000000000000
#define MINSUB 0x0000000000000001
#define PZERO  0x0000000000000000
#define NZERO  0x8000000000000000
#define TINY   0x3ca0000000000000   /* 2^-53 */
#define MTINY  0xbca0000000000000
#define S_QNAN 0x7fc00000

TEST_BEGIN
    /* ---- fadd / fsub ---- */
    FT_RR d, fadd.d, rne, ONE, TINY, ONE, NX
    FT_RR d, fadd.d, rtz, ONE, TINY, ONE, NX
    FT_RR d, fadd.d, rdn, ONE, TINY, ONE, NX
    FT_RR d, fadd.d, rup, ONE, TINY, ONEP, NX
    FT_RR d, fadd.d, rmm, ONE, TINY, ONEP, NX
    FT_RR d, fadd.d, rne, ONEP, TINY, ONEPP, NX
    FT_RR d, fadd.d, rtz, ONEP, TINY, ONEP, NX
    FT_RR d, fadd.d, rdn, MONE, MTINY, MONEP, NX
    FT_RR d, fadd.d, rup, MONE, MTINY, MONE, NX
    FT_RR d, fadd.d, rmm, MONE, MTINY, MONEP, NX
    FT_RR d, fadd.d, rne, ONE, TWO, THREE, 0
    FT_RR d, fadd.d, rne, PINF, NINF, QNAN, NV
    FT_RR d, fadd.d, rne, QNANP, ONE, QNAN, 0
    FT_RR d, fadd.d, rne, SNAN, ONE, QNAN, NV
    FT_RR d, fadd.d, rne, MAXD, MAXD, PINF, OF|NX
    FT_RR d, fadd.d, rtz, MAXD, MAXD, MAXD, OF|NX
    FT_RR d, fadd.d, rdn, PZERO, NZERO, NZERO, 0
    FT_RR d, fsub.d, rne, ONE, ONE, PZERO, 0
    FT_RR d, fsub.d, rdn, ONE, ONE, NZERO, 0
    FT_RR d, fsub.d, rne, NINF, NINF, QNAN, NV
    /* a boxed single is a (quiet) NaN to a D operation */
    FT_RR d, fadd.d, rne, 0xffffffff3f800000, ONE, QNAN, 0
    /* ---- fmul ---- */
    FT_RR d, fmul.d, rne, TWO, THREE, 0x4018000000000000, 0
    FT_RR d, fmul.d, rne, MAXD, TWO, PINF, OF|NX
    FT_RR d, fmul.d, rtz, MAXD, TWO, MAXD, OF|NX
    FT_RR d, fmul.d, rdn, MMAXD, TWO, NINF, OF|NX
    FT_RR d, fmul.d, rup, MMAXD, TWO, MMAXD, OF|NX
    FT_RR d, fmul.d, rne, MINN, HALF, 0x0008000000000000, 0
    FT_RR d, fmul.d, rne, MINSUB, HALF, PZERO, UF|NX
    FT_RR d, fmul.d, rup, MINSUB, HALF, MINSUB, UF|NX
    FT_RR d, fmul.d, rne, PZERO, NINF, QNAN, NV
    /* ---- fdiv ---- */
    FT_RR d, fdiv.d, rne, ONE, THREE, 0x3fd5555555555555, NX
    FT_RR d, fdiv.d, rtz, ONE, THREE, 0x3fd5555555555555, NX
    FT_RR d, fdiv.d, rup, ONE, THREE, 0x3fd5555555555556, NX
    FT_RR d, fdiv.d, rdn, MONE, THREE, 0xbfd5555555555556, NX
    FT_RR d, fdiv.d, rne, ONE, PZERO, PINF, DZ
    FT_RR d, fdiv.d, rne, ONE, NZERO, NINF, DZ
    FT_RR d, fdiv.d, rne, PZERO, PZERO, QNAN, NV
    FT_RR d, fdiv.d, rne, PINF, NINF, QNAN, NV
    /* ---- fsqrt ---- */
    FT_R d, d, fsqrt.d, rne, FOUR, TWO, 0
    FT_R d, d, fsqrt.d, rne, TWO, 0x3ff6a09e667f3bcd, NX
    FT_R d, d, fsqrt.d, rtz, TWO, 0x3ff6a09e667f3bcc, NX
    FT_R d, d, fsqrt.d, rup, TWO, 0x3ff6a09e667f3bcd, NX
    FT_R d, d, fsqrt.d, rne, NZERO, NZERO, 0
    FT_R d, d, fsqrt.d, rne, MONE, QNAN, NV
    FT_R d, d, fsqrt.d, rne, SNAN, QNAN, NV
    /* ---- dynamic rounding ---- */
    csrwi frm, 2
    FT_RR d, fadd.d, dyn, MONE, MTINY, MONEP, NX
    csrwi frm, 3
    FT_RR d, fadd.d, dyn, ONE, TINY, ONEP, NX
    csrwi frm, 1
    FT_RR d, fadd.d, dyn, ONEP, TINY, ONEP, NX
    csrwi frm, 0
    FT_RR d, fadd.d, dyn, ONEP, TINY, ONEPP, NX
    CASE
    csrwi frm, 6
    EXPECT_TRAP
    fadd.d fa0, fa1, fa2, dyn
    CHECK_CAUSE CAUSE_ILLEGAL
    csrwi frm, 0

    /* ---- fmin / fmax ---- */
    FT_RRN d, fmin.d, ONE, TWO, ONE, 0
    FT_RRN d, fmax.d, ONE, TWO, TWO, 0
    FT_RRN d, fmin.d, NZERO, PZERO, NZERO, 0
    FT_RRN d, fmin.d, PZERO, NZERO, NZERO, 0
    FT_RRN d, fmax.d, NZERO, PZERO, PZERO, 0
    FT_RRN d, fmax.d, PZERO, NZERO, PZERO, 0
    FT_RRN d, fmin.d, QNANP, ONE, ONE, 0
    FT_RRN d, fmax.d, MONE, QNAN, MONE, 0
    FT_RRN d, fmin.d, SNAN, ONE, ONE, NV
    FT_RRN d, fmax.d, QNANP, QNANP, QNAN, 0
    FT_RRN d, fmin.d, SNAN, SNAN, QNAN, NV

    /* ---- compares ---- */
    FT_CMP d, feq.d, ONE, ONE, 1, 0
    FT_CMP d, feq.d, NZERO, PZERO, 1, 0
    FT_CMP d, feq.d, QNAN, QNAN, 0, 0
    FT_CMP d, feq.d, SNAN, ONE, 0, NV
    FT_CMP d, flt.d, MONE, ONE, 1, 0
    FT_CMP d, flt.d, NZERO, PZERO, 0, 0
    FT_CMP d, flt.d, QNAN, ONE, 0, NV
    FT_CMP d, fle.d, NZERO, PZERO, 1, 0
    FT_CMP d, fle.d, TWO, ONE, 0, 0
    FT_CMP d, fle.d, QNAN, QNAN, 0, NV

    /* ---- double -> integer ---- */
    FT_F2I d, fcvt.w.d, rne, 0x3ff8000000000000, 2, NX        /* 1.5 */
    FT_F2I d, fcvt.w.d, rne, 0x4004000000000000, 2, NX        /* 2.5 */
    FT_F2I d, fcvt.w.d, rmm, 0x4004000000000000, 3, NX
    FT_F2I d, fcvt.w.d, rdn, 0xc004000000000000, -3, NX
    FT_F2I d, fcvt.w.d, rup, 0xc004000000000000, -2, NX
    FT_F2I d, fcvt.w.d, rtz, 0x41dfffffffe00000, 0x7fffffff, NX   /* 2^31 - 0.5 */
    FT_F2I d, fcvt.w.d, rne, 0x41dfffffffe00000, 0x7fffffff, NV   /* rounds to 2^31 */
    FT_F2I d, fcvt.w.d, rtz, 0xc1e0000000100000, 0xffffffff80000000, NX  /* -2^31 - 0.5 */
    FT_F2I d, fcvt.w.d, rdn, 0xc1e0000000100000, 0xffffffff80000000, NV
    FT_F2I d, fcvt.w.d, rtz, 0x41e65a0bc0000000, 0x7fffffff, NV   /* 3e9 */
    FT_F2I d, fcvt.w.d, rtz, QNAN, 0x7fffffff, NV
    FT_F2I d, fcvt.w.d, rtz, NINF, 0xffffffff80000000, NV
    FT_F2I d, fcvt.wu.d, rtz, 0x41e65a0bc0000000, 0xffffffffb2d05e00, 0
    FT_F2I d, fcvt.wu.d, rtz, 0x41efffffffe00000, 0xffffffffffffffff, 0  /* 2^32 - 1 */
    FT_F2I d, fcvt.wu.d, rtz, 0x41f0000000000000, 0xffffffffffffffff, NV /* 2^32 */
    FT_F2I d, fcvt.wu.d, rtz, MONE, 0, NV
    FT_F2I d, fcvt.wu.d, rtz, 0xbfe0000000000000, 0, NX            /* -0.5 */
    FT_F2I d, fcvt.wu.d, rtz, QNAN, 0xffffffffffffffff, NV
    FT_F2I d, fcvt.l.d, rtz, 0x43e0000000000000, 0x7fffffffffffffff, NV  /* 2^63 */
    FT_F2I d, fcvt.l.d, rtz, 0xc3e0000000000000, 0x8000000000000000, 0   /* -2^63 */
    FT_F2I d, fcvt.l.d, rtz, 0x43dfffffffffffff, 0x7ffffffffffffc00, 0
    FT_F2I d, fcvt.l.d, rtz, QNAN, 0x7fffffffffffffff, NV
    FT_F2I d, fcvt.l.d, rtz, NINF, 0x8000000000000000, NV
    FT_F2I d, fcvt.l.d, rne, 0xbff8000000000000, -2, NX
    FT_F2I d, fcvt.lu.d, rtz, 0x43efffffffffffff, 0xfffffffffffff800, 0
    FT_F2I d, fcvt.lu.d, rtz, 0x43f0000000000000, 0xffffffffffffffff, NV
    FT_F2I d, fcvt.lu.d, rtz, MONE, 0, NV
    FT_F2I d, fcvt.lu.d, rtz, PINF, 0xffffffffffffffff, NV
    FT_F2I d, fcvt.lu.d, rtz, SNAN, 0xffffffffffffffff, NV

    /* ---- integer -> double ---- */
    FT_I2F d, fcvt.d.w, none, -1, MONE, 0
    FT_I2F d, fcvt.d.w, none, 0x7fffffff, 0x41dfffffffc00000, 0
    FT_I2F d, fcvt.d.w, none, 0x1234567800000002, TWO, 0            /* low word */
    FT_I2F d, fcvt.d.w, none, 0x80000000, 0xc1e0000000000000, 0
    FT_I2F d, fcvt.d.wu, none, 0xffffffff, 0x41efffffffe00000, 0
    FT_I2F d, fcvt.d.wu, none, 0xffffffff00000001, ONE, 0
    FT_I2F d, fcvt.d.l, rne, 0x20000000000001, 0x4340000000000000, NX   /* 2^53 + 1 */
    FT_I2F d, fcvt.d.l, rup, 0x20000000000001, 0x4340000000000001, NX
    FT_I2F d, fcvt.d.l, rne, 0x8000000000000000, 0xc3e0000000000000, 0
    FT_I2F d, fcvt.d.l, rne, 0, PZERO, 0
    FT_I2F d, fcvt.d.lu, rne, 0xffffffffffffffff, 0x43f0000000000000, NX
    FT_I2F d, fcvt.d.lu, rtz, 0xffffffffffffffff, 0x43efffffffffffff, NX

    /* ---- double <-> single ---- */
    FT_R d, s, fcvt.s.d, rne, ONE, 0x3f800000, 0
    FT_R d, s, fcvt.s.d, rne, 0x3ff0000010000000, 0x3f800000, NX  /* 1 + 2^-24 */
    FT_R d, s, fcvt.s.d, rup, 0x3ff0000010000000, 0x3f800001, NX
    FT_R d, s, fcvt.s.d, rne, 0x3ff0000030000000, 0x3f800002, NX  /* tie to even up */
    FT_R d, s, fcvt.s.d, rne, MAXD, 0x7f800000, OF|NX
    FT_R d, s, fcvt.s.d, rtz, MAXD, 0x7f7fffff, OF|NX
    FT_R d, s, fcvt.s.d, rne, MINN, 0x00000000, UF|NX
    FT_R d, s, fcvt.s.d, rup, MINN, 0x00000001, UF|NX
    FT_R d, s, fcvt.s.d, rne, NZERO, 0x80000000, 0
    FT_R d, s, fcvt.s.d, rne, NINF, 0xff800000, 0
    FT_R d, s, fcvt.s.d, rne, QNANP, S_QNAN, 0
    FT_R d, s, fcvt.s.d, rne, SNAN, S_QNAN, NV
    FT_R d, s, fcvt.s.d, rne, 0x36a0000000000000, 0x00000001, 0    /* 2^-149 exact */
    FT_R s, d, fcvt.d.s, none, 0x3f800000, ONE, 0
    FT_R s, d, fcvt.d.s, none, 0x00000001, 0x36a0000000000000, 0    /* subnormal widens exactly */
    FT_R s, d, fcvt.d.s, none, 0xff800000, NINF, 0
    FT_R s, d, fcvt.d.s, none, 0x80000000, NZERO, 0
    FT_R s, d, fcvt.d.s, none, 0x7fc12345, QNAN, 0
    FT_R s, d, fcvt.d.s, none, 0x7f800001, QNAN, NV
    CASE                                    /* an unboxed single widens to the canonical NaN */
    li a1, 0x3f800000
    fmv.d.x fa1, a1
    csrw fflags, zero
    fcvt.d.s fa0, fa1
    FGET_d a0, fa0
    CHECK a0, QNAN
    CHECK_FLAGS 0
    CASE                                    /* fcvt.s.d results are boxed */
    FLI_d fa1, TWO
    fcvt.s.d fa0, fa1
    fmv.x.d a0, fa0
    CHECK a0, 0xffffffff40000000

    /* ---- fclass ---- */
    FT_CLASS d, NINF, 1 << 0
    FT_CLASS d, MONE, 1 << 1
    FT_CLASS d, 0x8000000000000001, 1 << 2
    FT_CLASS d, NZERO, 1 << 3
    FT_CLASS d, PZERO, 1 << 4
    FT_CLASS d, 0x000fffffffffffff, 1 << 5
    FT_CLASS d, MINN, 1 << 6
    FT_CLASS d, PINF, 1 << 7
    FT_CLASS d, SNAN, 1 << 8
    FT_CLASS d, QNAN, 1 << 9
    FT_CLASS d, 0xffffffff3f800000, 1 << 9  /* a boxed single */

    /* ---- fused multiply-add ---- */
    /* (1 + 2^-27)^2 - 1 = 2^-26 + 2^-54: exact only when fused */
    FT_R4 d, fmadd.d, rne, 0x3ff0000002000000, 0x3ff0000002000000, MONE, 0x3e50000001000000, 0
    FT_R4 d, fmsub.d, rne, 0x3ff0000002000000, 0x3ff0000002000000, ONE, 0x3e50000001000000, 0
    FT_R4 d, fnmsub.d, rne, 0x3ff0000002000000, 0x3ff0000002000000, ONE, 0xbe50000001000000, 0
    FT_R4 d, fnmadd.d, rne, 0x3ff0000002000000, 0x3ff0000002000000, MONE, 0xbe50000001000000, 0
    FT_R4 d, fmadd.d, rne, TWO, THREE, ONE, 0x401c000000000000, 0
    FT_R4 d, fnmadd.d, rne, TWO, THREE, ONE, 0xc01c000000000000, 0
    FT_R4 d, fmadd.d, rup, ONE, TINY, ONE, ONEP, NX
    FT_R4 d, fmadd.d, rne, PINF, PZERO, QNAN, QNAN, NV
    FT_R4 d, fmadd.d, rne, ONE, ONE, SNAN, QNAN, NV
    FT_R4 d, fmadd.d, rne, MAXD, TWO, MMAXD, MAXD, 0
    FT_R4 d, fmsub.d, rdn, ONE, ONE, ONE, NZERO, 0

    /* ---- sign injection ---- */
    FT_RRN d, fsgnj.d, ONE, MTWO, MONE, 0
    FT_RRN d, fsgnjn.d, ONE, MTWO, ONE, 0
    FT_RRN d, fsgnjx.d, MONE, MTWO, ONE, 0
    FT_RRN d, fsgnjx.d, ONE, MTWO, MONE, 0
    FT_RRN d, fsgnj.d, SNAN, MONE, 0xfff0000000000001, 0
    FT_RRN d, fsgnjn.d, QNANP, QNANP, 0xfff8000000012345, 0

    /* ---- moves, fld / fsd ---- */
    CASE
    li a1, 0x0123456789abcdef
    fmv.d.x fa0, a1
    fmv.x.d a0, fa0
    CHECKR a0, a1
    CASE
    la a1, ddata
    li a2, 0x1122334455667788
    sd a2, 0(a1)
    fld fa0, 0(a1)
    FGET_d a0, fa0
    CHECKR a0, a2
    CASE
    fsd fa0, 8(a1)
    ld a0, 8(a1)
    CHECKR a0, a2
    addi a3, a1, 16
    fld fa1, -16(a3)
    FGET_d a0, fa1
    CHECKR a0, a2
    CASE                                    /* fsd of a boxed single stores all 64 bits */
    FLI_s fa0, 0x3f800000
    fsd fa0, 0(a1)
    ld a0, 0(a1)
    CHECK a0, 0xffffffff3f800000
    CASE                                    /* flw then fld: boxing is visible */
    fld fa1, 0(a1)
    flw fa1, 0(a1)
    FGET_d a0, fa1
    CHECK a0, 0xffffffff3f800000

    /* ---- FS = Off ---- */
    CASE
    li t0, MSTATUS_FS
    csrc mstatus, t0
    EXPECT_TRAP
    fadd.d fa0, fa1, fa1
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fld fa0, 0(a1)
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fsd fa0, 0(a1)
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fmv.d.x fa0, zero
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    fcvt.d.s fa0, fa1
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE                                    /* back on: the write sets Dirty */
    li t0, MSTATUS_FS_CLEAN
    csrs mstatus, t0
    fmv.d.x fa0, zero
    csrr a0, mstatus
    srli a0, a0, 13
    andi a0, a0, 3
    CHECK a0, 3

    TEST_PASS

    .data
    .align 3
ddata: .dword 0, 0, 0
