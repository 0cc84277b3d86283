/* Private to fpu.c (and its unit test): a portable, exact software model
 * of RISC-V F/D arithmetic, generic over the two binary formats. fpu.c uses
 * it for RMM (which no host FPU has), for every operation on hosts without
 * the x86-64 fast path, and for the cheap bit-level operations (compare,
 * min/max, class, integer conversions). The unit test cross-checks it
 * against the host-FPU path. Any thread (no state). */
#ifndef CORRAL_CPU_RISCV_FPU_SOFT_H
#define CORRAL_CPU_RISCV_FPU_SOFT_H

#include <stdint.h>

struct fpu_fmt {
    int p;          /* precision in bits, hidden bit included */
    int fbits;      /* stored fraction bits */
    int bias;
    int emin, emax; /* unbiased exponents of the normal range */
    int signbit;
    uint64_t qnan;  /* canonical NaN */
};

extern const struct fpu_fmt fpu_fmt_s, fpu_fmt_d;

enum fpu_int_kind { FPU_INT_W, FPU_INT_WU, FPU_INT_L, FPU_INT_LU };

uint64_t fpu_soft_add(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      int rm, uint32_t *flags);
uint64_t fpu_soft_mul(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      int rm, uint32_t *flags);
uint64_t fpu_soft_div(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      int rm, uint32_t *flags);
uint64_t fpu_soft_sqrt(const struct fpu_fmt *f, uint64_t a, int rm,
                       uint32_t *flags);
uint64_t fpu_soft_fma(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      uint64_t c, int rm, uint32_t *flags);
/* Format to format (dst from src), rounding when narrowing. */
uint64_t fpu_soft_cvt(const struct fpu_fmt *dst, const struct fpu_fmt *src,
                      uint64_t a, int rm, uint32_t *flags);
/* Integer (magnitude plus sign) to float. */
uint64_t fpu_soft_from_int(const struct fpu_fmt *f, int neg, uint64_t mag,
                           int rm, uint32_t *flags);
/* Float to integer, saturating; 32-bit kinds come back sign-extended. */
uint64_t fpu_soft_to_int(const struct fpu_fmt *f, uint64_t a,
                         enum fpu_int_kind kind, int rm, uint32_t *flags);
uint64_t fpu_soft_min(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      uint32_t *flags);
uint64_t fpu_soft_max(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      uint32_t *flags);
uint64_t fpu_soft_eq(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                     uint32_t *flags);
uint64_t fpu_soft_lt(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                     uint32_t *flags);
uint64_t fpu_soft_le(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                     uint32_t *flags);
uint64_t fpu_soft_class(const struct fpu_fmt *f, uint64_t a);

#endif
