/* F and D arithmetic, exact IEEE 754-2008 as RISC-V specifies it.
 * Pure functions on bit patterns: the caller (exec.c) unboxes singles
 * (a single not NaN-boxed in a 64-bit register reads as the canonical NaN),
 * resolves the dynamic rounding mode, ORs *flags into fflags and NaN-boxes
 * single results. `rm` is a static RISC-V rounding mode 0..4
 * (RNE, RTZ, RDN, RUP, RMM); callers have already rejected 5, 6 and an
 * invalid dynamic frm as illegal instructions. Flags: FPU_NX, UF, OF, DZ, NV.
 * Results that are NaN are the canonical NaN (0x7fc00000 / 0x7ff8...0).
 * Any thread (no state). */
#ifndef CORRAL_CPU_RISCV_FPU_H
#define CORRAL_CPU_RISCV_FPU_H

#include <stdint.h>

#define FPU_NX 0x01
#define FPU_UF 0x02
#define FPU_OF 0x04
#define FPU_DZ 0x08
#define FPU_NV 0x10

enum fpu_rm { FPU_RNE = 0, FPU_RTZ = 1, FPU_RDN = 2, FPU_RUP = 3, FPU_RMM = 4 };

/* Single precision: operands and results in the low 32 bits. */
uint32_t fpu_add_s(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t fpu_sub_s(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t fpu_mul_s(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t fpu_div_s(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t fpu_sqrt_s(uint32_t a, int rm, uint32_t *flags);
/* fmadd: a*b+c; the other three forms are built by the caller negating
 * operands' sign bits (fmsub = a*b + (-c), fnmsub = -(a*b) + c,
 * fnmadd = -(a*b) - c) — sign flips of NaN inputs are harmless since NaN
 * results are canonical. */
uint32_t fpu_fma_s(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags);
uint32_t fpu_min_s(uint32_t a, uint32_t b, uint32_t *flags);
uint32_t fpu_max_s(uint32_t a, uint32_t b, uint32_t *flags);
/* Comparisons return 0/1. feq is quiet (NV only for signaling NaN);
 * flt/fle are signaling (NV for any NaN). */
uint64_t fpu_eq_s(uint32_t a, uint32_t b, uint32_t *flags);
uint64_t fpu_lt_s(uint32_t a, uint32_t b, uint32_t *flags);
uint64_t fpu_le_s(uint32_t a, uint32_t b, uint32_t *flags);
uint64_t fpu_class_s(uint32_t a);
/* Conversions to integers saturate as the spec's table says (NaN -> max);
 * 32-bit results are returned sign-extended to 64 bits. */
uint64_t fpu_cvt_w_s(uint32_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_wu_s(uint32_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_l_s(uint32_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_lu_s(uint32_t a, int rm, uint32_t *flags);
uint32_t fpu_cvt_s_w(int32_t a, int rm, uint32_t *flags);
uint32_t fpu_cvt_s_wu(uint32_t a, int rm, uint32_t *flags);
uint32_t fpu_cvt_s_l(int64_t a, int rm, uint32_t *flags);
uint32_t fpu_cvt_s_lu(uint64_t a, int rm, uint32_t *flags);

/* Double precision. */
uint64_t fpu_add_d(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t fpu_sub_d(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t fpu_mul_d(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t fpu_div_d(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t fpu_sqrt_d(uint64_t a, int rm, uint32_t *flags);
uint64_t fpu_fma_d(uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags);
uint64_t fpu_min_d(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t fpu_max_d(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t fpu_eq_d(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t fpu_lt_d(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t fpu_le_d(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t fpu_class_d(uint64_t a);
uint64_t fpu_cvt_w_d(uint64_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_wu_d(uint64_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_l_d(uint64_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_lu_d(uint64_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_d_w(int32_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_d_wu(uint32_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_d_l(int64_t a, int rm, uint32_t *flags);
uint64_t fpu_cvt_d_lu(uint64_t a, int rm, uint32_t *flags);

/* Between formats. */
uint64_t fpu_cvt_d_s(uint32_t a, uint32_t *flags); /* exact: no rm */
uint32_t fpu_cvt_s_d(uint64_t a, int rm, uint32_t *flags);

#endif
