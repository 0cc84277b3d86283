/* Software IEEE 754 binary32/binary64 arithmetic with RISC-V's choices:
 * tininess detected after rounding, canonical NaN results, NV for
 * signaling inputs and for inf*0 in fused multiply-add even when the
 * addend is a quiet NaN, saturating float-to-int conversions.
 *
 * Every finite operand is unpacked to a 64-bit significand with its top
 * bit set; intermediate results are exact (or carry a sticky bit in bit 0)
 * in a 128-bit significand and are rounded once by round_pack(). */
#include "cpu/riscv/fpu.h"
#include "cpu/riscv/fpu_soft.h"

#include <math.h>
#include <stdbool.h>

typedef unsigned __int128 u128;

const struct fpu_fmt fpu_fmt_s = {
    .p = 24, .fbits = 23, .bias = 127, .emin = -126, .emax = 127,
    .signbit = 31, .qnan = 0x7fc00000u,
};
const struct fpu_fmt fpu_fmt_d = {
    .p = 53, .fbits = 52, .bias = 1023, .emin = -1022, .emax = 1023,
    .signbit = 63, .qnan = 0x7ff8000000000000ull,
};

enum { C_ZERO, C_FIN, C_INF, C_QNAN, C_SNAN };

/* A finite nonzero value is sig * 2^(e - 63) with bit 63 of sig set. */
struct unp {
    int sign, cls, e;
    uint64_t sig;
};

static inline uint64_t exp_mask(const struct fpu_fmt *f)
{
    return (1ull << (f->signbit - f->fbits)) - 1;
}

static inline uint64_t pack_inf(const struct fpu_fmt *f, int sign)
{
    return ((uint64_t)sign << f->signbit) | (exp_mask(f) << f->fbits);
}

static inline uint64_t pack_zero(const struct fpu_fmt *f, int sign)
{
    return (uint64_t)sign << f->signbit;
}

static struct unp unpack(const struct fpu_fmt *f, uint64_t x)
{
    struct unp u = { .sign = (int)((x >> f->signbit) & 1) };
    uint64_t emask = exp_mask(f);
    uint64_t ef = (x >> f->fbits) & emask;
    uint64_t frac = x & ((1ull << f->fbits) - 1);

    if (ef == emask) {
        if (frac == 0)
            u.cls = C_INF;
        else
            u.cls = (frac >> (f->fbits - 1)) & 1 ? C_QNAN : C_SNAN;
    } else if (ef == 0) {
        if (frac == 0) {
            u.cls = C_ZERO;
        } else {
            int lz = __builtin_clzll(frac);
            u.cls = C_FIN;
            u.sig = frac << lz;
            u.e = f->emin - f->fbits - lz + 63;
        }
    } else {
        u.cls = C_FIN;
        u.sig = (frac | (1ull << f->fbits)) << (63 - f->fbits);
        u.e = (int)ef - f->bias;
    }
    return u;
}

static inline int clz128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? __builtin_clzll(hi) : 64 + __builtin_clzll((uint64_t)x);
}

static inline u128 shr_jam(u128 v, int d)
{
    if (d == 0)
        return v;
    if (d >= 128)
        return v != 0;
    return (v >> d) | ((v << (128 - d)) != 0);
}

static inline bool round_inc(uint64_t keep, int guard, int sticky, int sign,
                             int rm)
{
    switch (rm) {
    case FPU_RTZ: return false;
    case FPU_RDN: return sign && (guard || sticky);
    case FPU_RUP: return !sign && (guard || sticky);
    case FPU_RMM: return guard;
    default:      return guard && (sticky || (keep & 1));
    }
}

/* Splits sig (bit 127 set) at `shift` bits from the bottom. */
static inline uint64_t split(u128 sig, int shift, int *guard, int *sticky)
{
    if (shift < 128) {
        *guard = (int)((sig >> (shift - 1)) & 1);
        *sticky = shift > 1 && (sig << (129 - shift)) != 0;
        return (uint64_t)(sig >> shift);
    }
    if (shift == 128) {
        *guard = 1;
        *sticky = (sig << 1) != 0;
        return 0;
    }
    *guard = 0;
    *sticky = 1;
    return 0;
}

static uint64_t overflow(const struct fpu_fmt *f, int sign, int rm,
                         uint32_t *flags)
{
    bool to_inf;
    switch (rm) {
    case FPU_RTZ: to_inf = false; break;
    case FPU_RDN: to_inf = sign; break;
    case FPU_RUP: to_inf = !sign; break;
    default:      to_inf = true; break;
    }
    *flags |= FPU_OF | FPU_NX;
    return pack_inf(f, sign) - (to_inf ? 0 : 1);
}

/* Rounds sig * 2^(e - 127) (sig != 0, sticky already in bit 0) to f. */
static uint64_t round_pack(const struct fpu_fmt *f, int sign, int e, u128 sig,
                           int rm, uint32_t *flags)
{
    int lz = clz128(sig);
    sig <<= lz;
    e -= lz; /* value is now 1.xxx * 2^e */

    int shift = 128 - f->p;
    int guard, sticky;
    bool tiny = false;
    if (e < f->emin) {
        tiny = true;
        if (e == f->emin - 1) {
            /* After rounding to p bits with an unbounded exponent, does it
             * reach 2^emin? Then RISC-V does not call it tiny. */
            uint64_t k = split(sig, shift, &guard, &sticky);
            if (round_inc(k, guard, sticky, sign, rm) && k + 1 == 1ull << f->p)
                tiny = false;
        }
        shift += f->emin - e;
    }
    uint64_t keep = split(sig, shift, &guard, &sticky);
    keep += round_inc(keep, guard, sticky, sign, rm);
    bool inexact = guard || sticky;
    uint64_t out;

    if (e >= f->emin) {
        if (keep >> f->p) {
            keep >>= 1;
            e++;
        }
        if (e > f->emax)
            return overflow(f, sign, rm, flags);
        out = ((uint64_t)(e + f->bias) << f->fbits) |
              (keep & ((1ull << f->fbits) - 1));
    } else {
        out = keep; /* a carry into bit fbits makes it the least normal */
    }
    if (inexact)
        *flags |= tiny ? FPU_NX | FPU_UF : FPU_NX;
    return out | ((uint64_t)sign << f->signbit);
}

static inline bool any_nan(const struct unp *x, const struct unp *y,
                           uint32_t *flags)
{
    if (x->cls < C_QNAN && y->cls < C_QNAN)
        return false;
    if (x->cls == C_SNAN || y->cls == C_SNAN)
        *flags |= FPU_NV;
    return true;
}

/* x * 2^(ex - 126) + y * 2^(ey - 126) (signs sx, sy), x, y nonzero with
 * their top bit at most at 126. */
static uint64_t add_core(const struct fpu_fmt *f, int sx, int ex, u128 x,
                         int sy, int ey, u128 y, int rm, uint32_t *flags)
{
    int n = clz128(x) - 1;
    x <<= n;
    ex -= n;
    n = clz128(y) - 1;
    y <<= n;
    ey -= n;
    if (ex < ey || (ex == ey && x < y)) {
        u128 t = x; x = y; y = t;
        int ti = ex; ex = ey; ey = ti;
        ti = sx; sx = sy; sy = ti;
    }
    y = shr_jam(y, ex - ey);
    u128 r = sx == sy ? x + y : x - y;
    if (r == 0)
        return pack_zero(f, rm == FPU_RDN);
    return round_pack(f, sx, ex + 1, r, rm, flags);
}

uint64_t fpu_soft_add(const struct fpu_fmt *f, uint64_t a, uint64_t b, int rm,
                      uint32_t *flags)
{
    struct unp x = unpack(f, a), y = unpack(f, b);
    if (any_nan(&x, &y, flags))
        return f->qnan;
    if (x.cls == C_INF) {
        if (y.cls == C_INF && x.sign != y.sign) {
            *flags |= FPU_NV;
            return f->qnan;
        }
        return a;
    }
    if (y.cls == C_INF)
        return b;
    if (x.cls == C_ZERO) {
        if (y.cls != C_ZERO)
            return b;
        return x.sign == y.sign ? a : pack_zero(f, rm == FPU_RDN);
    }
    if (y.cls == C_ZERO)
        return a;
    return add_core(f, x.sign, x.e, (u128)x.sig << 63, y.sign, y.e,
                    (u128)y.sig << 63, rm, flags);
}

uint64_t fpu_soft_mul(const struct fpu_fmt *f, uint64_t a, uint64_t b, int rm,
                      uint32_t *flags)
{
    struct unp x = unpack(f, a), y = unpack(f, b);
    int sign = x.sign ^ y.sign;
    if (any_nan(&x, &y, flags))
        return f->qnan;
    if (x.cls == C_INF || y.cls == C_INF) {
        if (x.cls == C_ZERO || y.cls == C_ZERO) {
            *flags |= FPU_NV;
            return f->qnan;
        }
        return pack_inf(f, sign);
    }
    if (x.cls == C_ZERO || y.cls == C_ZERO)
        return pack_zero(f, sign);
    return round_pack(f, sign, x.e + y.e + 1, (u128)x.sig * y.sig, rm, flags);
}

uint64_t fpu_soft_div(const struct fpu_fmt *f, uint64_t a, uint64_t b, int rm,
                      uint32_t *flags)
{
    struct unp x = unpack(f, a), y = unpack(f, b);
    int sign = x.sign ^ y.sign;
    if (any_nan(&x, &y, flags))
        return f->qnan;
    if (x.cls == C_INF) {
        if (y.cls == C_INF) {
            *flags |= FPU_NV;
            return f->qnan;
        }
        return pack_inf(f, sign);
    }
    if (y.cls == C_INF)
        return pack_zero(f, sign);
    if (y.cls == C_ZERO) {
        if (x.cls == C_ZERO) {
            *flags |= FPU_NV;
            return f->qnan;
        }
        *flags |= FPU_DZ;
        return pack_inf(f, sign);
    }
    if (x.cls == C_ZERO)
        return pack_zero(f, sign);
    u128 n = (u128)x.sig << 64;
    u128 q = n / y.sig;
    q |= (n % y.sig) != 0;
    return round_pack(f, sign, x.e - y.e + 63, q, rm, flags);
}

/* floor(sqrt(m)) for m >= 2^126. */
static uint64_t isqrt128(u128 m)
{
    double d = sqrt((double)m);
    uint64_t r = d >= 0x1p64 ? UINT64_MAX : (uint64_t)d;
    u128 t = ((u128)r + m / r) >> 1; /* one Newton step: error now ~1 */
    r = t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
    while ((u128)r * r > m)
        r--;
    while (r != UINT64_MAX && (u128)(r + 1) * (r + 1) <= m)
        r++;
    return r;
}

uint64_t fpu_soft_sqrt(const struct fpu_fmt *f, uint64_t a, int rm,
                       uint32_t *flags)
{
    struct unp x = unpack(f, a);
    if (x.cls == C_SNAN)
        *flags |= FPU_NV;
    if (x.cls >= C_QNAN)
        return f->qnan;
    if (x.cls == C_ZERO)
        return a; /* sqrt(-0) = -0 */
    if (x.sign) {
        *flags |= FPU_NV;
        return f->qnan;
    }
    if (x.cls == C_INF)
        return a;
    /* Make the power of two even: value = m * 2^(2k). */
    u128 m;
    int k;
    if (x.e & 1) {
        m = (u128)x.sig << 64;
        k = (x.e - 127) / 2;
    } else {
        m = (u128)x.sig << 63;
        k = (x.e - 126) / 2;
    }
    uint64_t r = isqrt128(m);
    u128 rs = (u128)r | ((u128)r * r != m);
    return round_pack(f, 0, k + 127, rs, rm, flags);
}

uint64_t fpu_soft_fma(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      uint64_t c, int rm, uint32_t *flags)
{
    struct unp x = unpack(f, a), y = unpack(f, b), z = unpack(f, c);
    int ps = x.sign ^ y.sign;
    bool inf_zero = (x.cls == C_INF && y.cls == C_ZERO) ||
                    (x.cls == C_ZERO && y.cls == C_INF);

    if (x.cls >= C_QNAN || y.cls >= C_QNAN || z.cls >= C_QNAN) {
        /* RISC-V: inf * 0 is invalid even when c is a quiet NaN. */
        if (x.cls == C_SNAN || y.cls == C_SNAN || z.cls == C_SNAN || inf_zero)
            *flags |= FPU_NV;
        return f->qnan;
    }
    if (inf_zero) {
        *flags |= FPU_NV;
        return f->qnan;
    }
    if (x.cls == C_INF || y.cls == C_INF) {
        if (z.cls == C_INF && z.sign != ps) {
            *flags |= FPU_NV;
            return f->qnan;
        }
        return pack_inf(f, ps);
    }
    if (z.cls == C_INF)
        return c;
    if (x.cls == C_ZERO || y.cls == C_ZERO) {
        if (z.cls != C_ZERO)
            return c;
        return pack_zero(f, ps == z.sign ? ps : rm == FPU_RDN);
    }
    u128 p = (u128)x.sig * y.sig; /* exact; low 22+ bits are zero */
    if (z.cls == C_ZERO)
        return round_pack(f, ps, x.e + y.e + 1, p, rm, flags);
    return add_core(f, ps, x.e + y.e + 1, p >> 1, z.sign, z.e,
                    (u128)z.sig << 63, rm, flags);
}

uint64_t fpu_soft_cvt(const struct fpu_fmt *dst, const struct fpu_fmt *src,
                      uint64_t a, int rm, uint32_t *flags)
{
    struct unp x = unpack(src, a);
    switch (x.cls) {
    case C_SNAN:
        *flags |= FPU_NV;
        return dst->qnan;
    case C_QNAN: return dst->qnan;
    case C_INF:  return pack_inf(dst, x.sign);
    case C_ZERO: return pack_zero(dst, x.sign);
    default:
        return round_pack(dst, x.sign, x.e, (u128)x.sig << 64, rm, flags);
    }
}

uint64_t fpu_soft_from_int(const struct fpu_fmt *f, int neg, uint64_t mag,
                           int rm, uint32_t *flags)
{
    if (mag == 0)
        return 0;
    return round_pack(f, neg, 127, mag, rm, flags);
}

uint64_t fpu_soft_to_int(const struct fpu_fmt *f, uint64_t a,
                         enum fpu_int_kind kind, int rm, uint32_t *flags)
{
    static const struct {
        uint64_t pos_lim, neg_lim; /* largest magnitudes allowed */
        uint64_t max, min;         /* saturated results */
    } lim[] = {
        [FPU_INT_W] = { 0x7fffffffull, 0x80000000ull,
                        0x7fffffffull, 0xffffffff80000000ull },
        [FPU_INT_WU] = { 0xffffffffull, 0, UINT64_MAX, 0 },
        [FPU_INT_L] = { INT64_MAX, 1ull << 63, INT64_MAX, 1ull << 63 },
        [FPU_INT_LU] = { UINT64_MAX, 0, UINT64_MAX, 0 },
    };
    struct unp x = unpack(f, a);
    uint64_t mag;
    int guard = 0, sticky = 0;

    switch (x.cls) {
    case C_ZERO:
        return 0;
    case C_QNAN:
    case C_SNAN:
        *flags |= FPU_NV;
        return lim[kind].max;
    case C_INF:
        *flags |= FPU_NV;
        return x.sign ? lim[kind].min : lim[kind].max;
    default:
        break;
    }
    if (x.e > 63)
        goto invalid;
    if (x.e == 63) {
        mag = x.sig;
    } else {
        int shift = 63 - x.e;
        if (shift < 64) {
            mag = x.sig >> shift;
            guard = (int)((x.sig >> (shift - 1)) & 1);
            sticky = shift > 1 && (x.sig << (65 - shift)) != 0;
        } else {
            mag = 0;
            guard = shift == 64;
            sticky = shift > 64 || (x.sig << 1) != 0;
        }
        mag += round_inc(mag, guard, sticky, x.sign, rm);
    }
    if (mag > (x.sign ? lim[kind].neg_lim : lim[kind].pos_lim))
        goto invalid;
    if (guard || sticky)
        *flags |= FPU_NX;
    if (x.sign)
        mag = -mag;
    if (kind == FPU_INT_W || kind == FPU_INT_WU)
        mag = (uint64_t)(int64_t)(int32_t)(uint32_t)mag;
    return mag;
invalid:
    *flags |= FPU_NV;
    return x.sign ? lim[kind].min : lim[kind].max;
}

/* Bit-level helpers for the non-arithmetic operations. */
static inline bool is_nan(const struct fpu_fmt *f, uint64_t x)
{
    uint64_t mag = x & ~(1ull << f->signbit);
    return mag > pack_inf(f, 0);
}

static inline bool is_snan(const struct fpu_fmt *f, uint64_t x)
{
    return is_nan(f, x) && !((x >> (f->fbits - 1)) & 1);
}

static inline bool is_zero(const struct fpu_fmt *f, uint64_t x)
{
    return (x & ~(1ull << f->signbit)) == 0;
}

/* a < b for non-NaN values, with -0 < +0. */
static inline bool total_lt(const struct fpu_fmt *f, uint64_t a, uint64_t b)
{
    int sa = (int)(a >> f->signbit) & 1, sb = (int)(b >> f->signbit) & 1;
    if (sa != sb)
        return sa;
    return sa ? a > b : a < b;
}

static uint64_t minmax(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                       bool want_max, uint32_t *flags)
{
    bool na = is_nan(f, a), nb = is_nan(f, b);
    if (is_snan(f, a) || is_snan(f, b))
        *flags |= FPU_NV;
    if (na && nb)
        return f->qnan;
    if (na)
        return b;
    if (nb)
        return a;
    return total_lt(f, a, b) != want_max ? a : b;
}

uint64_t fpu_soft_min(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      uint32_t *flags)
{
    return minmax(f, a, b, false, flags);
}

uint64_t fpu_soft_max(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                      uint32_t *flags)
{
    return minmax(f, a, b, true, flags);
}

uint64_t fpu_soft_eq(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                     uint32_t *flags)
{
    if (is_nan(f, a) || is_nan(f, b)) {
        if (is_snan(f, a) || is_snan(f, b))
            *flags |= FPU_NV;
        return 0;
    }
    return a == b || (is_zero(f, a) && is_zero(f, b));
}

uint64_t fpu_soft_lt(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                     uint32_t *flags)
{
    if (is_nan(f, a) || is_nan(f, b)) {
        *flags |= FPU_NV;
        return 0;
    }
    if (is_zero(f, a) && is_zero(f, b))
        return 0;
    return total_lt(f, a, b);
}

uint64_t fpu_soft_le(const struct fpu_fmt *f, uint64_t a, uint64_t b,
                     uint32_t *flags)
{
    if (is_nan(f, a) || is_nan(f, b)) {
        *flags |= FPU_NV;
        return 0;
    }
    if (a == b || (is_zero(f, a) && is_zero(f, b)))
        return 1;
    return total_lt(f, a, b);
}

uint64_t fpu_soft_class(const struct fpu_fmt *f, uint64_t a)
{
    struct unp x = unpack(f, a);
    uint64_t emask = exp_mask(f);
    bool sub = ((a >> f->fbits) & emask) == 0;
    switch (x.cls) {
    case C_SNAN: return 1u << 8;
    case C_QNAN: return 1u << 9;
    case C_INF:  return x.sign ? 1u << 0 : 1u << 7;
    case C_ZERO: return x.sign ? 1u << 3 : 1u << 4;
    default:
        if (sub)
            return x.sign ? 1u << 2 : 1u << 5;
        return x.sign ? 1u << 1 : 1u << 6;
    }
}
