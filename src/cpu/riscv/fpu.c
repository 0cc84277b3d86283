/* RISC-V F and D arithmetic behind the interpreter (see fpu.h).
 *
 * Everything is exact in the software model (fpu_soft.c). On x86-64 with
 * FMA3, the common case — RNE, finite operands, a normal result comfortably
 * away from the underflow threshold — takes a fast path on the host's own
 * arithmetic, which runs in the default round-to-nearest mode (this process
 * never changes MXCSR). Inexactness is found without reading host flags,
 * by error-free transformations: the rounding error of a sum (TwoSum), of a
 * product (fma(a, b, -r)), and the remainder of a quotient or square root
 * (fma(-q, b, a)) are exactly representable in those ranges, so NX is
 * "residual != 0" and no other flag can arise. Singles are computed in
 * double, which is exact for + - * (checked for +) and an innocuous double
 * rounding for / and sqrt (53 >= 2*24 + 2). Anything else — NaN, inf,
 * zero products, tiny or huge results, the other rounding modes, fused
 * multiply-add — goes to the model.
 *
 * Reading MXCSR flags per operation was tried and dropped: clearing the
 * sticky flags and then raising one costs a microcode assist (~30-90 ns per
 * operation here), slower than the software model (~15-25 ns). */
#include "cpu/riscv/fpu.h"
#include "cpu/riscv/fpu_soft.h"

#include <float.h>
#include <string.h>

#define S (&fpu_fmt_s)
#define D (&fpu_fmt_d)

#if defined(__x86_64__) && !defined(CORRAL_FPU_NO_HOST)
#define FPU_FAST 1

static inline int fast_ok(int rm)
{
    return rm == FPU_RNE && __builtin_cpu_supports("fma");
}

/* a * b + c, one rounding (the default mode: nearest). */
static inline double host_fma(double a, double b, double c)
{
    __asm__("vfmadd231sd %[b], %[a], %[c]" : [c] "+x"(c) : [a] "x"(a),
            [b] "x"(b));
    return c;
}

static inline double host_sqrt(double a)
{
    __asm__("sqrtsd %[a], %[a]" : [a] "+x"(a));
    return a;
}

static inline float f_of(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

static inline double d_of(uint64_t x)
{
    double d;
    memcpy(&d, &x, sizeof d);
    return d;
}

static inline uint32_t bits_s(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static inline uint64_t bits_d(double d)
{
    uint64_t x;
    memcpy(&x, &d, sizeof x);
    return x;
}

/* Rounding error of r = a + b (Knuth's TwoSum), exact for finite r. */
static inline double two_sum_err(double a, double b, double r)
{
    double bv = r - a;
    return (a - (r - bv)) + (b - bv);
}

/* Each fast_* returns 1 and sets *out when it could decide the result. */
static inline int fast_add_d(double a, double b, uint64_t *out,
                             uint32_t *flags)
{
    double r = a + b, ar = __builtin_fabs(r);
    if (r == 0) { /* exact cancellation or zeros: the host's sign is right */
        *out = bits_d(r);
        return 1;
    }
    if (!(ar > DBL_MIN && ar <= DBL_MAX))
        return 0;
    if (two_sum_err(a, b, r) != 0)
        *flags |= FPU_NX;
    *out = bits_d(r);
    return 1;
}

static inline int fast_mul_d(double a, double b, uint64_t *out,
                             uint32_t *flags)
{
    double r = a * b, ar = __builtin_fabs(r);
    if (!(ar >= 0x1p-969 && ar <= DBL_MAX))
        return 0;
    if (host_fma(a, b, -r) != 0)
        *flags |= FPU_NX;
    *out = bits_d(r);
    return 1;
}

static inline int fast_div_d(double a, double b, uint64_t *out,
                             uint32_t *flags)
{
    double q = a / b, aq = __builtin_fabs(q);
    if (!(aq > DBL_MIN && aq <= DBL_MAX && __builtin_fabs(a) >= 0x1p-968 &&
          __builtin_fabs(b) <= DBL_MAX))
        return 0;
    if (host_fma(-q, b, a) != 0)
        *flags |= FPU_NX;
    *out = bits_d(q);
    return 1;
}

static inline int fast_sqrt_d(double a, uint64_t *out, uint32_t *flags)
{
    if (!(a >= 0x1p-968 && a <= DBL_MAX))
        return 0;
    double r = host_sqrt(a);
    if (host_fma(-r, r, a) != 0)
        *flags |= FPU_NX;
    *out = bits_d(r);
    return 1;
}

/* Rounds an exact-or-sticky double d to single; inexact says whether d
 * already differs from the exact value. */
static inline int fast_narrow(double d, int inexact, uint32_t *out,
                              uint32_t *flags)
{
    float f = (float)d, af = __builtin_fabsf(f);
    if (!(af > FLT_MIN && af <= FLT_MAX))
        return 0;
    if (inexact || (double)f != d)
        *flags |= FPU_NX;
    *out = bits_s(f);
    return 1;
}

static inline int fast_add_s(float a, float b, uint32_t *out, uint32_t *flags)
{
    double da = a, db = b, d = da + db;
    if (d == 0) {
        *out = bits_s((float)d);
        return 1;
    }
    if (!(__builtin_fabs(d) <= DBL_MAX) || two_sum_err(da, db, d) != 0)
        return 0; /* NaN, inf, or exponents too far apart to be exact */
    return fast_narrow(d, 0, out, flags);
}

static inline int fast_mul_s(float a, float b, uint32_t *out, uint32_t *flags)
{
    return fast_narrow((double)a * (double)b, 0, out, flags); /* exact */
}

static inline int fast_div_s(float a, float b, uint32_t *out, uint32_t *flags)
{
    double da = a, db = b, q = da / db;
    if (!(__builtin_fabs(q) <= DBL_MAX && da != 0 &&
          __builtin_fabs(db) <= DBL_MAX))
        return 0;
    return fast_narrow(q, host_fma(-q, db, da) != 0, out, flags);
}

static inline int fast_sqrt_s(float a, uint32_t *out, uint32_t *flags)
{
    double da = a;
    if (!(da > 0 && da <= DBL_MAX))
        return 0;
    double r = host_sqrt(da);
    return fast_narrow(r, host_fma(-r, r, da) != 0, out, flags);
}
#else
#define FPU_FAST 0
#endif

/* ---- single precision ---- */

uint32_t fpu_add_s(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint32_t r;
    if (fast_ok(rm) && fast_add_s(f_of(a), f_of(b), &r, flags))
        return r;
#endif
    return (uint32_t)fpu_soft_add(S, a, b, rm, flags);
}

uint32_t fpu_sub_s(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint32_t r;
    if (fast_ok(rm) && fast_add_s(f_of(a), -f_of(b), &r, flags))
        return r;
#endif
    return (uint32_t)fpu_soft_add(S, a, b ^ 0x80000000u, rm, flags);
}

uint32_t fpu_mul_s(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint32_t r;
    if (fast_ok(rm) && fast_mul_s(f_of(a), f_of(b), &r, flags))
        return r;
#endif
    return (uint32_t)fpu_soft_mul(S, a, b, rm, flags);
}

uint32_t fpu_div_s(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint32_t r;
    if (fast_ok(rm) && fast_div_s(f_of(a), f_of(b), &r, flags))
        return r;
#endif
    return (uint32_t)fpu_soft_div(S, a, b, rm, flags);
}

uint32_t fpu_sqrt_s(uint32_t a, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint32_t r;
    if (fast_ok(rm) && fast_sqrt_s(f_of(a), &r, flags))
        return r;
#endif
    return (uint32_t)fpu_soft_sqrt(S, a, rm, flags);
}

uint32_t fpu_fma_s(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags)
{
    return (uint32_t)fpu_soft_fma(S, a, b, c, rm, flags);
}

uint32_t fpu_min_s(uint32_t a, uint32_t b, uint32_t *flags)
{
    return (uint32_t)fpu_soft_min(S, a, b, flags);
}

uint32_t fpu_max_s(uint32_t a, uint32_t b, uint32_t *flags)
{
    return (uint32_t)fpu_soft_max(S, a, b, flags);
}

uint64_t fpu_eq_s(uint32_t a, uint32_t b, uint32_t *flags)
{
    return fpu_soft_eq(S, a, b, flags);
}

uint64_t fpu_lt_s(uint32_t a, uint32_t b, uint32_t *flags)
{
    return fpu_soft_lt(S, a, b, flags);
}

uint64_t fpu_le_s(uint32_t a, uint32_t b, uint32_t *flags)
{
    return fpu_soft_le(S, a, b, flags);
}

uint64_t fpu_class_s(uint32_t a)
{
    return fpu_soft_class(S, a);
}

uint64_t fpu_cvt_w_s(uint32_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(S, a, FPU_INT_W, rm, flags);
}

uint64_t fpu_cvt_wu_s(uint32_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(S, a, FPU_INT_WU, rm, flags);
}

uint64_t fpu_cvt_l_s(uint32_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(S, a, FPU_INT_L, rm, flags);
}

uint64_t fpu_cvt_lu_s(uint32_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(S, a, FPU_INT_LU, rm, flags);
}

uint32_t fpu_cvt_s_w(int32_t a, int rm, uint32_t *flags)
{
    uint64_t mag = a < 0 ? -(uint64_t)(int64_t)a : (uint64_t)a;
    return (uint32_t)fpu_soft_from_int(S, a < 0, mag, rm, flags);
}

uint32_t fpu_cvt_s_wu(uint32_t a, int rm, uint32_t *flags)
{
    return (uint32_t)fpu_soft_from_int(S, 0, a, rm, flags);
}

uint32_t fpu_cvt_s_l(int64_t a, int rm, uint32_t *flags)
{
    uint64_t mag = a < 0 ? -(uint64_t)a : (uint64_t)a;
    return (uint32_t)fpu_soft_from_int(S, a < 0, mag, rm, flags);
}

uint32_t fpu_cvt_s_lu(uint64_t a, int rm, uint32_t *flags)
{
    return (uint32_t)fpu_soft_from_int(S, 0, a, rm, flags);
}

/* ---- double precision ---- */

uint64_t fpu_add_d(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint64_t r;
    if (fast_ok(rm) && fast_add_d(d_of(a), d_of(b), &r, flags))
        return r;
#endif
    return fpu_soft_add(D, a, b, rm, flags);
}

uint64_t fpu_sub_d(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint64_t r;
    if (fast_ok(rm) && fast_add_d(d_of(a), -d_of(b), &r, flags))
        return r;
#endif
    return fpu_soft_add(D, a, b ^ (1ull << 63), rm, flags);
}

uint64_t fpu_mul_d(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint64_t r;
    if (fast_ok(rm) && fast_mul_d(d_of(a), d_of(b), &r, flags))
        return r;
#endif
    return fpu_soft_mul(D, a, b, rm, flags);
}

uint64_t fpu_div_d(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint64_t r;
    if (fast_ok(rm) && fast_div_d(d_of(a), d_of(b), &r, flags))
        return r;
#endif
    return fpu_soft_div(D, a, b, rm, flags);
}

uint64_t fpu_sqrt_d(uint64_t a, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint64_t r;
    if (fast_ok(rm) && fast_sqrt_d(d_of(a), &r, flags))
        return r;
#endif
    return fpu_soft_sqrt(D, a, rm, flags);
}

uint64_t fpu_fma_d(uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags)
{
    return fpu_soft_fma(D, a, b, c, rm, flags);
}

uint64_t fpu_min_d(uint64_t a, uint64_t b, uint32_t *flags)
{
    return fpu_soft_min(D, a, b, flags);
}

uint64_t fpu_max_d(uint64_t a, uint64_t b, uint32_t *flags)
{
    return fpu_soft_max(D, a, b, flags);
}

uint64_t fpu_eq_d(uint64_t a, uint64_t b, uint32_t *flags)
{
    return fpu_soft_eq(D, a, b, flags);
}

uint64_t fpu_lt_d(uint64_t a, uint64_t b, uint32_t *flags)
{
    return fpu_soft_lt(D, a, b, flags);
}

uint64_t fpu_le_d(uint64_t a, uint64_t b, uint32_t *flags)
{
    return fpu_soft_le(D, a, b, flags);
}

uint64_t fpu_class_d(uint64_t a)
{
    return fpu_soft_class(D, a);
}

uint64_t fpu_cvt_w_d(uint64_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(D, a, FPU_INT_W, rm, flags);
}

uint64_t fpu_cvt_wu_d(uint64_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(D, a, FPU_INT_WU, rm, flags);
}

uint64_t fpu_cvt_l_d(uint64_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(D, a, FPU_INT_L, rm, flags);
}

uint64_t fpu_cvt_lu_d(uint64_t a, int rm, uint32_t *flags)
{
    return fpu_soft_to_int(D, a, FPU_INT_LU, rm, flags);
}

uint64_t fpu_cvt_d_w(int32_t a, int rm, uint32_t *flags)
{
    uint64_t mag = a < 0 ? -(uint64_t)(int64_t)a : (uint64_t)a;
    return fpu_soft_from_int(D, a < 0, mag, rm, flags);
}

uint64_t fpu_cvt_d_wu(uint32_t a, int rm, uint32_t *flags)
{
    return fpu_soft_from_int(D, 0, a, rm, flags);
}

uint64_t fpu_cvt_d_l(int64_t a, int rm, uint32_t *flags)
{
    uint64_t mag = a < 0 ? -(uint64_t)a : (uint64_t)a;
    return fpu_soft_from_int(D, a < 0, mag, rm, flags);
}

uint64_t fpu_cvt_d_lu(uint64_t a, int rm, uint32_t *flags)
{
    return fpu_soft_from_int(D, 0, a, rm, flags);
}

/* ---- between formats ---- */

uint64_t fpu_cvt_d_s(uint32_t a, uint32_t *flags)
{
    return fpu_soft_cvt(D, S, a, FPU_RNE, flags);
}

uint32_t fpu_cvt_s_d(uint64_t a, int rm, uint32_t *flags)
{
#if FPU_FAST
    uint32_t r;
    if (fast_ok(rm) && fast_narrow(d_of(a), 0, &r, flags))
        return r;
#endif
    return (uint32_t)fpu_soft_cvt(S, D, a, rm, flags);
}
