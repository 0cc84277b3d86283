/* The CPU benchmark's kernels (see kernels.h).  Each returns a 64-bit
 * checksum of everything it computed, so a wrong instruction anywhere in
 * the interpreter shows up as a mismatch against the host's result. */
#include "kernels.h"

static uint8_t buf_a[1 << 16] __attribute__((aligned(64)));
static uint8_t buf_b[1 << 16] __attribute__((aligned(64)));

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

/* ---- integer arithmetic: xorshift, multiply, divide, and a sieve ---- */

static uint8_t sieve[1 << 16];

static uint64_t k_integer(unsigned scale)
{
    uint64_t x = 88172645463325252ull, acc = 0;
    uint32_t w = 12345;
    for (unsigned long i = 0; i < 14000000ul * scale; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t d = (x >> 40) | 1;
        acc += x / d + (x % 1000003u);
        w = w * 1103515245u + 12345u;
        acc ^= (uint64_t)(w >> 3) * (i | 1);
        acc = (acc << 5) | (acc >> 59);
        if ((int32_t)w < 0)
            acc += (int64_t)(int32_t)w >> 4;
    }
    for (unsigned r = 0; r < 30 * scale; r++) {
        unsigned n = sizeof(sieve), count = 0;
        for (unsigned i = 0; i < n; i++)
            sieve[i] = 1;
        sieve[0] = sieve[1] = 0;
        for (unsigned i = 2; i * i < n; i++)
            if (sieve[i])
                for (unsigned j = i * i; j < n; j += i)
                    sieve[j] = 0;
        for (unsigned i = 0; i < n; i++)
            count += sieve[i];
        acc = mix64(acc, count + r);
    }
    return acc;
}

/* ---- memcpy / memset over buffers with moving offsets and sizes ---- */

static uint64_t k_memory(unsigned scale)
{
    uint64_t h = 0;
    for (unsigned i = 0; i < sizeof(buf_a); i++)
        buf_a[i] = (uint8_t)(i * 7 + (i >> 8));
    for (unsigned r = 0; r < 6000 * scale; r++) {
        size_t off = (r * 13) & 63, len = sizeof(buf_a) - 64 - ((r * 29) & 1023);
        bench_memset(buf_b, (int)r, sizeof(buf_b));
        bench_memcpy(buf_b + ((r * 5) & 31), buf_a + off, len);
        bench_memcpy(buf_a + 1, buf_b + 3, 4096 + (r & 511));
        uint64_t s = 0;
        for (unsigned i = 0; i < sizeof(buf_b); i += 61)
            s += buf_b[i] * (uint64_t)(i + 1);
        h = mix64(h, s);
    }
    return h;
}

/* ---- SHA-256 (FIPS 180-4) over a 64 KiB buffer, chained ---- */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(uint32_t st[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) +
                      ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) +
                      ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

/* Whole-message SHA-256 with padding; out gets the 32-byte digest. */
static void sha256(const uint8_t *msg, size_t len, uint8_t out[32])
{
    uint32_t st[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    uint8_t tail[128];
    size_t full = len & ~(size_t)63, rest = len - full;
    for (size_t i = 0; i < full; i += 64)
        sha256_block(st, msg + i);
    bench_memset(tail, 0, sizeof(tail));
    bench_memcpy(tail, msg + full, rest);
    tail[rest] = 0x80;
    size_t tl = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t i = 0; i < tl; i += 64)
        sha256_block(st, tail + i);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}

static uint64_t digest_word(const uint8_t d[32])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | d[i];
    return v;
}

static uint64_t k_sha256(unsigned scale)
{
    uint8_t dig[32];
    /* Known answer first: SHA-256("abc") starts ba7816bf8f01cfea. */
    sha256((const uint8_t *)"abc", 3, dig);
    if (digest_word(dig) != 0xba7816bf8f01cfeaull)
        return 0;
    for (unsigned i = 0; i < sizeof(buf_a); i++)
        buf_a[i] = (uint8_t)(i ^ (i >> 5));
    uint64_t h = 0;
    for (unsigned r = 0; r < 300 * scale; r++) {
        sha256(buf_a, sizeof(buf_a) - r, dig);
        bench_memcpy(buf_a + (r & 1023) * 32, dig, 32);
        h = mix64(h, digest_word(dig));
    }
    return h;
}

/* ---- a small register-machine bytecode interpreter ---- */

enum vm_op { OP_HALT, OP_LI, OP_MOV, OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_SHR,
             OP_ANDI, OP_LD, OP_ST, OP_JMP, OP_JZ, OP_JNZ };

struct vm_insn {
    uint8_t op, a, b, c;
    int32_t imm;
};

/* Sum of Collatz path lengths for n = 1..limit, plus a histogram in VM
 * memory indexed by n & 255 — branchy, data-dependent dispatch. */
static const struct vm_insn vm_prog[] = {
    /*  0 */ { OP_LI, 0, 0, 0, 1 },      /* r0 = n */
    /*  1 */ { OP_LI, 1, 0, 0, 0 },      /* r1 = limit (patched) */
    /*  2 */ { OP_LI, 3, 0, 0, 0 },      /* r3 = total steps */
    /*  3 */ { OP_LI, 5, 0, 0, 1 },
    /*  4 */ { OP_LI, 6, 0, 0, 3 },
    /*  5 */ { OP_MOV, 2, 0, 0, 0 },     /* outer: x = n */
    /*  6 */ { OP_SUB, 4, 2, 5, 0 },     /* inner: t = x - 1 */
    /*  7 */ { OP_JZ, 4, 0, 0, 16 },
    /*  8 */ { OP_AND, 4, 2, 5, 0 },
    /*  9 */ { OP_JZ, 4, 0, 0, 13 },
    /* 10 */ { OP_MUL, 2, 2, 6, 0 },     /* odd: x = 3x + 1 */
    /* 11 */ { OP_ADD, 2, 2, 5, 0 },
    /* 12 */ { OP_JMP, 0, 0, 0, 14 },
    /* 13 */ { OP_SHR, 2, 2, 5, 0 },     /* even: x >>= 1 */
    /* 14 */ { OP_ADD, 3, 3, 5, 0 },
    /* 15 */ { OP_JMP, 0, 0, 0, 6 },
    /* 16 */ { OP_ANDI, 7, 0, 0, 255 },  /* mem[n & 255] += total */
    /* 17 */ { OP_LD, 8, 7, 0, 0 },
    /* 18 */ { OP_ADD, 8, 8, 3, 0 },
    /* 19 */ { OP_ST, 8, 7, 0, 0 },
    /* 20 */ { OP_ADD, 0, 0, 5, 0 },
    /* 21 */ { OP_SUB, 4, 1, 0, 0 },
    /* 22 */ { OP_JNZ, 4, 0, 0, 5 },
    /* 23 */ { OP_HALT, 0, 0, 0, 0 },
};

static uint64_t vm_run(const struct vm_insn *prog, uint64_t *regs, uint64_t *mem)
{
    uint64_t executed = 0;
    for (unsigned pc = 0;;) {
        const struct vm_insn *in = &prog[pc++];
        executed++;
        switch (in->op) {
        case OP_HALT: return executed;
        case OP_LI: regs[in->a] = (uint64_t)(int64_t)in->imm; break;
        case OP_MOV: regs[in->a] = regs[in->b]; break;
        case OP_ADD: regs[in->a] = regs[in->b] + regs[in->c]; break;
        case OP_SUB: regs[in->a] = regs[in->b] - regs[in->c]; break;
        case OP_MUL: regs[in->a] = regs[in->b] * regs[in->c]; break;
        case OP_AND: regs[in->a] = regs[in->b] & regs[in->c]; break;
        case OP_SHR: regs[in->a] = regs[in->b] >> (regs[in->c] & 63); break;
        case OP_ANDI: regs[in->a] = regs[in->b] & (uint64_t)(int64_t)in->imm; break;
        case OP_LD: regs[in->a] = mem[regs[in->b] & 255]; break;
        case OP_ST: mem[regs[in->b] & 255] = regs[in->a]; break;
        case OP_JMP: pc = (unsigned)in->imm; break;
        case OP_JZ: if (!regs[in->a]) pc = (unsigned)in->imm; break;
        case OP_JNZ: if (regs[in->a]) pc = (unsigned)in->imm; break;
        default: return executed;
        }
    }
}

static uint64_t k_vm(unsigned scale)
{
    struct vm_insn prog[sizeof(vm_prog) / sizeof(vm_prog[0])];
    uint64_t regs[16], mem[256];
    bench_memcpy(prog, vm_prog, sizeof(prog));
    prog[1].imm = (int32_t)(15000 * scale);
    bench_memset(regs, 0, sizeof(regs));
    bench_memset(mem, 0, sizeof(mem));
    uint64_t h = vm_run(prog, regs, mem);
    h = mix64(h, regs[3]);
    for (int i = 0; i < 256; i++)
        h = mix64(h, mem[i]);
    return h;
}

/* ---- double precision: matrix multiply and an n-body simulation ---- */

#define MAT_N 48
static double mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];

static uint64_t dbits(double d)
{
    union { double d; uint64_t u; } v = { .d = d };
    return v.u;
}

struct body {
    double x, y, z, vx, vy, vz, m;
};

static double nbody_energy(const struct body *b, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++) {
        e += 0.5 * b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
        for (int j = i + 1; j < n; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            e -= b[i].m * b[j].m / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static uint64_t k_double(unsigned scale)
{
    uint64_t h = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            mat_a[i][j] = (double)((i * 31 + j * 17) % 97) / 97.0 - 0.5;
            mat_b[i][j] = (double)((i * 13 + j * 7) % 89) / 89.0 - 0.25;
        }
    for (unsigned r = 0; r < 10 * scale; r++) {
        for (int i = 0; i < MAT_N; i++)
            for (int j = 0; j < MAT_N; j++) {
                double s = 0;
                for (int k = 0; k < MAT_N; k++)
                    s += mat_a[i][k] * mat_b[k][j];
                mat_c[i][j] = s;
            }
        /* Feed the product back, scaled to stay bounded. */
        double norm = 0;
        for (int i = 0; i < MAT_N; i++)
            for (int j = 0; j < MAT_N; j++)
                norm += mat_c[i][j] < 0 ? -mat_c[i][j] : mat_c[i][j];
        for (int i = 0; i < MAT_N; i++)
            for (int j = 0; j < MAT_N; j++)
                mat_a[i][j] = mat_c[i][j] * (MAT_N * 0.5 / norm);
        h = mix64(h, dbits(norm));
    }

    struct body b[5] = {
        { 0, 0, 0, 0, 0, 0, 39.47841760435743 },
        { 4.84143144246472090, -1.16032004402742839, -0.103622044471123109,
          0.606326392995832, 2.81198684491626, -0.02521836165988763, 0.03769367487038949 },
        { 8.34336671824457987, 4.12479856412430479, -0.403523417114321381,
          -1.01077434617879, 1.82566237123041, 0.008415761376584154, 0.011286326131968767 },
        { 12.8943695621391310, -15.1111514016986312, -0.223307578892655734,
          1.08279100644154, 0.868713018169608, -0.01010834649967585, 0.0017237240570597112 },
        { 15.3796971148509165, -25.9193146099879641, 0.179258772950371181,
          0.979090732243898, 0.594698998647676, -0.034717455040516, 0.0020336868699246304 },
    };
    const double dt = 0.01;
    h = mix64(h, dbits(nbody_energy(b, 5)));
    for (unsigned long s = 0; s < 120000ul * scale; s++) {
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
                double d2 = dx * dx + dy * dy + dz * dz;
                double mag = dt / (d2 * __builtin_sqrt(d2));
                b[i].vx -= dx * b[j].m * mag;
                b[i].vy -= dy * b[j].m * mag;
                b[i].vz -= dz * b[j].m * mag;
                b[j].vx += dx * b[i].m * mag;
                b[j].vy += dy * b[i].m * mag;
                b[j].vz += dz * b[i].m * mag;
            }
        for (int i = 0; i < 5; i++) {
            b[i].x += dt * b[i].vx;
            b[i].y += dt * b[i].vy;
            b[i].z += dt * b[i].vz;
        }
    }
    h = mix64(h, dbits(nbody_energy(b, 5)));
    return h;
}

const struct bench_kernel bench_kernels[] = {
    { "integer", k_integer },
    { "memory", k_memory },
    { "sha256", k_sha256 },
    { "bytecode-vm", k_vm },
    { "double", k_double },
    { "coremark-like", k_mixed },
};
const unsigned bench_nkernels = sizeof(bench_kernels) / sizeof(bench_kernels[0]);
