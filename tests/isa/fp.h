/* Floating-point test macros shared by rv64f.S and rv64d.S.  fmt is s or
 * d; values are given as raw bit patterns; flags are the expected fflags
 * (NV 0x10, DZ 0x08, OF 0x04, UF 0x02, NX 0x01).  Single results are
 * compared as 32-bit patterns (the boxing is checked separately). */
#ifndef ISA_FP_H
#define ISA_FP_H

#define NV 0x10
#define DZ 0x08
#define OF 0x04
#define UF 0x02
#define NX 0x01

.macro FLI_s freg, bits
    li t0, \bits
    fmv.w.x \freg, t0
.endm
.macro FLI_d freg, bits
    li t0, \bits
    fmv.d.x \freg, t0
.endm
.macro FGET_s reg, freg
    fmv.x.w \reg, \freg
    slli \reg, \reg, 32
    srli \reg, \reg, 32
.endm
.macro FGET_d reg, freg
    fmv.x.d \reg, \freg
.endm

.macro CHECK_FLAGS flags
    csrr t0, fflags
    CHECK t0, \flags
.endm

/* fa0 = op(fa1, fa2) with rounding mode rm */
.macro FT_RR fmt, op, rm, a, b, res, flags
    CASE
    FLI_\fmt fa1, \a
    FLI_\fmt fa2, \b
    csrw fflags, zero
    \op fa0, fa1, fa2, \rm
    FGET_\fmt a0, fa0
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm

/* same without a rounding mode (fmin, fmax, fsgnj*) */
.macro FT_RRN fmt, op, a, b, res, flags
    CASE
    FLI_\fmt fa1, \a
    FLI_\fmt fa2, \b
    csrw fflags, zero
    \op fa0, fa1, fa2
    FGET_\fmt a0, fa0
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm

/* fa0 = op(fa1, fa2, fa3) */
.macro FT_R4 fmt, op, rm, a, b, c, res, flags
    CASE
    FLI_\fmt fa1, \a
    FLI_\fmt fa2, \b
    FLI_\fmt fa3, \c
    csrw fflags, zero
    \op fa0, fa1, fa2, fa3, \rm
    FGET_\fmt a0, fa0
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm

/* fa0 = op(fa1) with rm (fsqrt, fcvt.s.d; rm none for fcvt.d.s);
 * ofmt is the result format */
.macro FT_R ifmt, ofmt, op, rm, a, res, flags
    CASE
    FLI_\ifmt fa1, \a
    csrw fflags, zero
    .ifc \rm, none
    \op fa0, fa1
    .else
    \op fa0, fa1, \rm
    .endif
    FGET_\ofmt a0, fa0
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm

/* a0 = op(fa1, fa2) (feq, flt, fle) */
.macro FT_CMP fmt, op, a, b, res, flags
    CASE
    FLI_\fmt fa1, \a
    FLI_\fmt fa2, \b
    csrw fflags, zero
    \op a0, fa1, fa2
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm

/* a0 = op(fa1) with rm (fcvt to integer); res is the full 64-bit register */
.macro FT_F2I fmt, op, rm, a, res, flags
    CASE
    FLI_\fmt fa1, \a
    csrw fflags, zero
    \op a0, fa1, \rm
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm

/* fa0 = op(a1) with rm (fcvt from integer) */
.macro FT_I2F fmt, op, rm, ival, res, flags
    CASE
    li a1, \ival
    csrw fflags, zero
    .ifc \rm, none
    \op fa0, a1
    .else
    \op fa0, a1, \rm
    .endif
    FGET_\fmt a0, fa0
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm

/* a0 = fclass(fa1) */
.macro FT_CLASS fmt, a, res
    CASE
    FLI_\fmt fa1, \a
    fclass.\fmt a0, fa1
    CHECK a0, \res
.endm

#endif
