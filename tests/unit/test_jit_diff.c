/* Differential test of the JIT against the interpreter (the oracle).
 *
 * Random RV64 programs (integer ALU incl. M, loads/stores on two data
 * pages with misaligned and page-crossing accesses, loads from random
 * addresses that fault, illegal words, forward branches, a loop around
 * the body so translated code and chaining run, minstret reads inside
 * blocks, D ops (native and helpers: all rounding modes incl. invalid
 * ones, a random frm, FS off in some cases, NaN/inf/subnormal/boundary
 * operands, fld/fsd), and stores that overwrite
 * the program's own code; also in S-mode under Sv39) run on two harts with identical RAM and
 * registers: one interpreting, one translating (threshold 0 and 1). After
 * every slice of a random instruction budget, registers, pc, instret, the
 * trap CSRs and all memory must agree. A budgeted hart_run never chains
 * (and so never goes past a superblock's first block), so the same
 * programs also run without a budget to their end (a wfi, where a watcher
 * thread stops the hart): superblocks with side exits, loops back to
 * their head, forward jal, register write-back at traps and helper calls.
 * Fixed seeds; CORRAL_JIT_DIFF_CASES runs more of them by hand, and
 * CORRAL_JIT_DIFF_SEED=N shifts every seed by N (bench/fuzz/jit_diff.sh). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rv_encode.h"

#include "cpu/riscv/csr.h"
#include "cpu/riscv/hart.h"
#include "cpu/riscv/jit.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (256ULL << 10)
#define TRAP_VEC (RAM_BASE + 0x8000)
#define DATA (RAM_BASE + 0x10000) /* two pages of data */
#define BODY_MAX 160

/* registers with a fixed role (never a random destination) */
#define R_CODE 27 /* RAM_BASE: self-modifying stores */
#define R_LOOP 28 /* loop counter */
#define R_D1 29   /* DATA + 0x1000: accesses across the page boundary */
#define R_D0 30   /* DATA + 0x800 */
#define R_TRAP 31 /* the trap handler's scratch */

struct side {
    struct bus bus;
    struct vclock clk;
    struct hart *h;
};

static struct side sides[2]; /* [0] interpreter, [1] JIT */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}
static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

static int setup(void **state)
{
    (void)state;
    for (int s = 0; s < 2; s++) {
        struct side *d = &sides[s];
        memset(&d->bus, 0, sizeof(d->bus));
        if (gmem_init(&d->bus.ram, RAM_BASE, RAM_SIZE))
            return -1;
        vclock_init(&d->clk);
        d->h = calloc(1, sizeof(*d->h));
        if (!d->h || hart_init(d->h, 0, &d->bus, &d->clk))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int s = 0; s < 2; s++) {
        hart_destroy(sides[s].h);
        free(sides[s].h);
        gmem_destroy(&sides[s].bus.ram);
    }
    return 0;
}

static bool case_grp; /* mostly accesses through x1..x3 (test_diff_grp) */
/* x1..x26; x4..x26 while x1..x3 are gen_grp's pointers (stores through
 * them must not reach the code) */
static unsigned rd_reg(void)
{
    return case_grp ? 4 + rndn(23) : 1 + rndn(26);
}
static unsigned rs_reg(void) { return rndn(32); }

static bool case_fp; /* mostly D ops (set by test_diff_fp) */
/* the out-of-line stub's index in a program of body n (build_case) */
#define SIDE_AT(n) ((n) + 4)
#define SIDE_LEN 5
static bool case_w32; /* mostly 32-bit and bitwise ops (test_diff_w32) */

/* 32-bit ALU ops (mulw too) and and/or/xor over a few registers, and mul
 * that reads them whole, so their results
 * (kept without their sign extension by the JIT while only 32-bit and
 * bitwise ops read them) meet every other kind of reader: 64-bit ops,
 * branches, stores, addresses, helpers and exits. */
static uint32_t gen_w32(void)
{
    unsigned rd = 1 + rndn(6), a = rndn(7), b = rndn(7);
    int32_t imm = (int32_t)(rnd() % 4096) - 2048;
    switch (rndn(14)) {
    case 11: return r_type(1, b, a, 0, rd, 0x3b);           /* mulw */
    case 12: return r_type(1, b, a, 0, rd, 0x33);           /* mul */
    case 0: return r_type(0, b, a, 0, rd, 0x3b);            /* addw */
    case 1: return r_type(0x20, b, a, 0, rd, 0x3b);         /* subw */
    case 2: return i_type(rndn(3) ? imm : 0, a, 0, rd, 0x1b); /* addiw */
    case 3: return i_type((int32_t)rndn(32), a, 1, rd, 0x1b); /* slliw */
    case 4: return i_type((int32_t)rndn(32), a, 5, rd, 0x1b); /* srliw */
    case 5: return i_type(0x400 | (int32_t)rndn(32), a, 5, rd, 0x1b);
    case 6: return r_type(0, b, a, 4, rd, 0x33);            /* xor */
    case 7: return r_type(0, b, a, 6, rd, 0x33);            /* or */
    case 8: return r_type(0, b, a, 7, rd, 0x33);            /* and */
    case 9: return i_type(imm, a, 4 + 2 * rndn(2), rd, 0x13); /* xori/ori */
    case 10: return i_type(imm, a, 7, rd, 0x13);            /* andi */
    default: return r_type(0, b, a, 0, rd, 0x33);           /* add */
    }
}

/* Loads and stores through three pointer registers (x1..x3) near the
 * data pages' middle and their boundary, at offsets mostly 8 apart and
 * sometimes misaligned, with the pointers moved (addi), reset, or
 * overwritten by a load into its own base, and helpers (minstret reads)
 * between them: the JIT's memory groups (accesses through one base
 * sharing one TLB lookup) meet page crossings, misalignment, base writes
 * and calls. */
static uint32_t gen_grp(void)
{
    static const uint8_t lf3[] = {0, 1, 2, 3, 4, 5, 6};
    unsigned b = 1 + rndn(3), v = 4 + rndn(4);
    int32_t off = 8 * ((int32_t)rndn(9) - 4);
    if (rndn(5) == 0)
        off += (int32_t)rndn(8);
    switch (rndn(16)) {
    case 0: return i_type(8 * ((int32_t)rndn(5) - 2), b, 0, b, 0x13);
    case 1: /* near the middle of the first page or the page boundary */
        return i_type((int32_t)rndn(64) - 32, rndn(2) ? R_D0 : R_D1, 0, b,
                      0x13);
    case 2: return i_type(CSR_MINSTRET, 0, 2, v, 0x73);
    case 3: return i_type(off, b, 3, rndn(6) ? v : b, 0x03); /* ld */
    case 4: return r_type(0, v, v, 0, 4 + rndn(4), 0x3b); /* addw */
    case 5: case 6: case 7: case 8: case 9:
        return i_type(off, b, lf3[rndn(7)], v, 0x03);
    default:
        return s_type(off, rndn(3) ? v : rndn(8), b, rndn(4), 0x23);
    }
}

/* One random instruction at index k of a body of n. */
static uint32_t gen_insn(unsigned k, unsigned n)
{
    static const struct { uint8_t f7, f3, op; } rops[] = {
        {0, 0, 0x33}, {0x20, 0, 0x33}, {0, 1, 0x33}, {0, 2, 0x33},
        {0, 3, 0x33}, {0, 4, 0x33}, {0, 5, 0x33}, {0x20, 5, 0x33},
        {0, 6, 0x33}, {0, 7, 0x33}, {0, 0, 0x3b}, {0x20, 0, 0x3b},
        {0, 1, 0x3b}, {0, 5, 0x3b}, {0x20, 5, 0x3b}, {1, 0, 0x33},
        {1, 1, 0x33}, {1, 2, 0x33}, {1, 3, 0x33}, {1, 4, 0x33},
        {1, 5, 0x33}, {1, 6, 0x33}, {1, 7, 0x33}, {1, 0, 0x3b},
        {1, 4, 0x3b}, {1, 5, 0x3b}, {1, 6, 0x3b}, {1, 7, 0x3b},
    };
    if (case_grp && rndn(5))
        return gen_grp();
    unsigned c = rndn(100);
    if (case_grp && rndn(2))
        c = 99; /* forward branches: joins that skip group leaders, some
                 * onto another branch (the end of a leader's segment) */
    if (case_fp && rndn(3))
        c = 93 + rndn(2); /* a D op */
    else if (case_fp && rndn(3) == 0)
        c = 99; /* a branch: joins that skip D ops */
    if (case_w32 && rndn(12) == 0)
        c = 99; /* a branch, often to the stub */
    else if (case_w32 && rndn(3))
        return gen_w32();
    int32_t imm = (int32_t)(rnd() % 4096) - 2048;
    if (rndn(4) == 0)
        imm = (int32_t)rndn(5) - 2; /* small values: edge cases */

    if (c < 30) {
        unsigned r = rndn(ARRAY_SIZE(rops));
        return r_type(rops[r].f7, rs_reg(), rs_reg(), rops[r].f3, rd_reg(),
                      rops[r].op);
    }
    if (c < 45) {
        static const uint8_t f3[] = {0, 2, 3, 4, 6, 7};
        return i_type(imm, rs_reg(), f3[rndn(6)], rd_reg(), 0x13);
    }
    if (c < 52) { /* shifts by immediate, 64- and 32-bit */
        unsigned w = rndn(2), sh = w ? rndn(32) : rndn(64);
        unsigned kind = rndn(3); /* sll, srl, sra */
        unsigned f3 = kind == 0 ? 1 : 5;
        unsigned hi = kind == 2 ? 0x400 : 0;
        return i_type((int32_t)(hi | sh), rs_reg(), f3, rd_reg(),
                      w ? 0x1b : 0x13);
    }
    if (c < 55)
        return i_type(imm, rs_reg(), 0, rd_reg(), 0x1b); /* addiw */
    if (c < 58)
        return (uint32_t)(rnd() & 0xfffff000u) | rd_reg() << 7 |
               (rndn(2) ? 0x37 : 0x17); /* lui / auipc */
    if (c < 75) { /* load from a data page: any size, any alignment */
        static const uint8_t f3[] = {0, 1, 2, 3, 4, 5, 6};
        unsigned rd = rndn(8) ? rd_reg() : 0;
        return i_type(imm, rndn(2) ? R_D0 : R_D1, f3[rndn(7)], rd, 0x03);
    }
    if (c < 88) /* store to a data page */
        return s_type(imm, rs_reg(), rndn(2) ? R_D0 : R_D1, rndn(4), 0x23);
    if (c < 90) /* load from wherever a random register points: faults */
        return i_type(imm, rd_reg(), rndn(4), rd_reg(), 0x03);
    if (c < 91)
        return 0; /* illegal */
    if (c < 93) /* minstret inside a block */
        return i_type(CSR_MINSTRET, 0, 2, rd_reg(), 0x73);
    if (c < 95) { /* D ops: native (RNE) and through the helpers */
        unsigned fd = rndn(8), f1 = rndn(8), f2 = rndn(8);
        unsigned rm = rndn(4) ? (rndn(2) ? 0 : 7) : rndn(8); /* 5, 6: bad */
        switch (rndn(17)) {
        case 0: return r_type(0x79, 0, rs_reg(), 0, fd, 0x53); /* fmv.d.x */
        case 1: return r_type(0x71, 0, f1, 0, rd_reg(), 0x53); /* fmv.x.d */
        case 2: return r_type(0x01, f2, f1, rm, fd, 0x53);     /* fadd.d */
        case 3: return r_type(0x05, f2, f1, rm, fd, 0x53);     /* fsub.d */
        case 4: return r_type(0x09, f2, f1, rm, fd, 0x53);     /* fmul.d */
        case 5: return r_type(0x0d, f2, f1, rm, fd, 0x53);     /* fdiv.d */
        case 6: return r_type(0x2d, 0, f1, rm, fd, 0x53);      /* fsqrt.d */
        case 7: return r_type(0x11, f2, f1, rndn(3), fd, 0x53); /* fsgnj* */
        case 8: /* fld / fsd on the data pages, any alignment */
            return i_type(imm, rndn(2) ? R_D0 : R_D1, 3, fd, 0x07);
        case 9:
            return s_type(imm, f2, rndn(2) ? R_D0 : R_D1, 3, 0x27);
        case 10: /* fsrmi: the dynamic rounding mode (5..7 invalid) */
            return i_type(0x002, rndn(4) ? 0 : rndn(8), 5, 0, 0x73);
        case 11: /* fmadd.d, fcvt.d.l: helpers only */
            return (uint32_t)f2 << 27 | 1u << 25 | f2 << 20 | f1 << 15 |
                   rm << 12 | fd << 7 | 0x43;
        case 12: /* fcvt.d.{w,wu,l,lu} */
            return r_type(0x69, rndn(4), rs_reg(), rm, fd, 0x53);
        case 13: /* fcvt.{w,wu,l,lu}.d, RNE and RTZ more often */
            return r_type(0x61, rndn(4), f1, rndn(2) ? rndn(2) : rm,
                          rd_reg(), 0x53);
        case 14: case 15: /* fflags to rd, cleared: each flag is seen */
            return i_type(0x001, 0, 1, rd_reg(), 0x73);
        default: return r_type(0x51, f2, f1, 2, rd_reg(), 0x53); /* feq.d */
        }
    }
    if (c < 96) { /* overwrite a later insn of the body with 0 (illegal) */
        unsigned at = k + 1 + rndn(n - k);
        if (at >= n) /* never the loop's addi: programs must end */
            at = n - 1;
        return s_type((int32_t)(4 * at), 0, R_CODE, 2, 0x23);
    }
    /* a branch to the out-of-line stub after the program (SIDE_AT), which
     * loops back to the start: the JIT's side segments */
    if (rndn(4) == 0)
        return b_type((int32_t)(4 * (SIDE_AT(n) - k)), rs_reg(), rs_reg(),
                      rndn(2) ? 4 : 1);
    /* forward branch or jal, staying inside the body (the loop tail
     * included) */
    unsigned room = n - k; /* insns up to and including the loop's addi */
    unsigned skip = 1 + rndn(room < 12 ? room : 12);
    if (rndn(5) == 0)
        return j_type((int32_t)(4 * skip), rndn(3) ? rd_reg() : 0);
    static const uint8_t bf3[] = {0, 1, 4, 5, 6, 7};
    return b_type((int32_t)(4 * skip), rs_reg(), rs_reg(), bf3[rndn(6)]);
}

static void put32(struct side *d, gpa_t pa, uint32_t v)
{
    assert_int_equal(gmem_write(&d->bus.ram, pa, &v, 4), 0);
}

/* Same program, data and registers on both sides. */
/* Sv39 tables at PT: RAM identity-mapped with 4 KiB pages, except the two
 * data pages, swapped (so an access across them touches host memory that
 * is not contiguous). */
#define PT (RAM_BASE + 0x30000)
static void map_sv39(struct side *d)
{
    const uint64_t leaf = 0xcf; /* V R W X A D */
    uint64_t root2 = ((PT + 0x1000) >> 12) << 10 | 1;
    uint64_t l1_0 = ((PT + 0x2000) >> 12) << 10 | 1;
    assert_int_equal(gmem_write(&d->bus.ram, PT + 2 * 8, &root2, 8), 0);
    assert_int_equal(gmem_write(&d->bus.ram, PT + 0x1000, &l1_0, 8), 0);
    for (unsigned k = 0; k < RAM_SIZE >> 12; k++) {
        uint64_t page = k;
        if (k == (DATA - RAM_BASE) >> 12)
            page = k + 1;
        else if (k == ((DATA - RAM_BASE) >> 12) + 1)
            page = k - 1;
        uint64_t pte = ((RAM_BASE >> 12) + page) << 10 | leaf;
        assert_int_equal(gmem_write(&d->bus.ram, PT + 0x2000 + 8 * k, &pte, 8),
                         0);
    }
}

static bool case_paged;
static bool case_free; /* the program ends in wfi (runs without a budget) */
static bool case_side; /* the loop skeleton of side_program */

/* A loop whose every other pass runs an out-of-line block that loops
 * back to the start itself (what the JIT makes a side segment of the
 * superblock at the start), random 32-bit/bitwise ops in each part;
 * returns the length. */
static unsigned side_program(uint32_t *prog)
{
    unsigned n = 0, a = 1 + rndn(8), b = 1 + rndn(8), c = 1 + rndn(8);
    for (unsigned k = 0; k < a; k++)
        prog[n++] = gen_w32();
    prog[n++] = i_type(1, R_LOOP, 7, 7, 0x13);              /* andi x7 */
    unsigned br = n++;                                      /* bnez side */
    /* a forward branch over one insn in the straight path (a join of the
     * superblock, its indexes the side segment's too) */
    unsigned skip = rndn(2) ? rndn(b) : b;
    for (unsigned k = 0; k < b; k++) {
        if (k == skip)
            prog[n++] = b_type(8, 1 + rndn(6), 1 + rndn(6), rndn(2));
        prog[n++] = gen_w32();
    }
    prog[n++] = i_type(-1, R_LOOP, 0, R_LOOP, 0x13);
    prog[n] = b_type(-(int32_t)(4 * n), 0, R_LOOP, 1);      /* bnez start */
    n++;
    unsigned end = n;
    prog[n++] = case_free ? 0x10500073 : j_type(0, 0);      /* wfi / spin */
    prog[n++] = j_type(-4, 0);
    prog[br] = b_type((int32_t)(4 * (n - br)), 0, 7, 1);
    for (unsigned k = 0; k < c; k++)
        prog[n++] = gen_w32();
    prog[n++] = i_type(-1, R_LOOP, 0, R_LOOP, 0x13);
    prog[n] = b_type(-(int32_t)(4 * n), 0, R_LOOP, 1);
    n++;
    prog[n] = j_type(-(int32_t)(4 * (n - end)), 0);
    return n + 1;
}

static void build_case(uint64_t seed, uint32_t threshold)
{
    static uint32_t prog[BODY_MAX + 4 + SIDE_LEN];
    static uint8_t data[0x2000];
    uint64_t regs[32];

    rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    unsigned n = 20 + rndn(BODY_MAX - 20);
    if (case_w32) /* short bodies: room in the superblock for a side */
        n = 10 + rndn(40);
    for (unsigned k = 0; k < n; k++)
        prog[k] = gen_insn(k, n);
    unsigned len = n + 4 + SIDE_LEN;
    prog[n] = i_type(-1, R_LOOP, 0, R_LOOP, 0x13);          /* addi */
    prog[n + 1] = b_type(-(int32_t)(4 * (n + 1)), 0, R_LOOP, 1); /* bne */
    prog[n + 2] = case_free ? 0x10500073 : j_type(0, 0);   /* wfi / spin */
    prog[n + 3] = j_type(-4, 0);                            /* back */
    /* the stub: two ALU ops, the loop's count and branch back to the
     * start, then on to the end */
    unsigned sa = SIDE_AT(n);
    prog[sa] = case_grp ? gen_grp() : gen_w32();
    prog[sa + 1] = case_grp ? gen_grp()
                            : r_type(0, rs_reg(), rs_reg(), 0, rd_reg(), 0x33);
    prog[sa + 2] = i_type(-1, R_LOOP, 0, R_LOOP, 0x13);
    prog[sa + 3] = b_type(-(int32_t)(4 * (sa + 3)), 0, R_LOOP, 1);
    prog[sa + 4] = j_type(-(int32_t)(4 * (sa + 4 - (n + 2))), 0);
    if (case_side) /* instead */
        len = side_program(prog);
    for (unsigned k = 0; k < sizeof(data); k++)
        data[k] = (uint8_t)rnd();
    for (unsigned r = 0; r < 32; r++) {
        uint64_t v = rnd();
        switch (rndn(5)) {
        case 0: v &= 0xff; break;
        case 1: v = (uint64_t)(int64_t)(int32_t)v; break;
        case 2: v = rndn(2) ? (1ULL << 63) : (uint64_t)-1; break;
        case 3: v = (uint64_t)((int64_t)v >> rndn(64)); break; /* any size */
        }
        regs[r] = v;
    }
    regs[0] = 0;
    /* f0..f7: random bit patterns, numbers near 1, and the IEEE edges */
    static const uint64_t special[] = {
        0, 1ULL << 63, 0x7ff0000000000000ULL, 0xfff0000000000000ULL,
        0x7ff8000000000000ULL, 0x7ff4000000000000ULL, /* qNaN, sNaN */
        1, 0x000fffffffffffffULL, 0x0010000000000000ULL,
        0x7fefffffffffffffULL, 0x3ff0000000000000ULL, 0x0360000000000000ULL,
        0x0370000000000000ULL, 0x8010000000000001ULL, 0x4000000000000000ULL,
        /* conversion edges: 2^31 - 1, 2^31, -2^31, 2^30 - 0.5, 2^63, 0.5,
         * -0.5, 2^52 + 1 */
        0x41dfffffffc00000ULL, 0x41e0000000000000ULL, 0xc1e0000000000000ULL,
        0x41cfffffffe00000ULL, 0x43e0000000000000ULL, 0x3fe0000000000000ULL,
        0xbfe0000000000000ULL, 0x4330000000000001ULL,
    };
    uint64_t fregs[8];
    for (unsigned r = 0; r < 8; r++) {
        unsigned k = rndn(3);
        fregs[r] = k == 0 ? special[rndn(ARRAY_SIZE(special))]
                   : k == 1 ? (0x3f0ULL + rndn(32)) << 52 | (rnd() >> 12)
                            : rnd();
    }
    uint64_t frm = rndn(4) ? 0 : rndn(8);
    bool fs_off = rndn(10) == 0;
    /* FS Initial or Clean at times: the first f write must make it Dirty */
    uint64_t fs_on = rndn(3) ? MSTATUS_FS : (1 + rndn(2)) << 13;
    regs[R_CODE] = RAM_BASE;
    regs[R_LOOP] = 3 + rndn(3);
    if (case_w32) /* more passes: blocks linked before they are translated */
        regs[R_LOOP] = 10 + rndn(20);
    if (case_side)
        regs[R_LOOP] = 200 + rndn(200);
    regs[R_D1] = DATA + 0x1000;
    regs[R_D0] = DATA + 0x800;
    if (case_grp) {
        regs[R_LOOP] = 5 + rndn(20);
        for (unsigned r = 1; r <= 3; r++)
            regs[r] = (rndn(2) ? regs[R_D0] : regs[R_D1]) - 40 +
                      8 * rndn(10) + (rndn(5) ? 0 : rndn(8));
    }

    const uint32_t handler[] = {
        i_type(CSR_MEPC, 0, 2, R_TRAP, 0x73),     /* csrr t6, mepc */
        i_type(4, R_TRAP, 0, R_TRAP, 0x13),      /* addi t6, t6, 4 */
        i_type(CSR_MEPC, R_TRAP, 1, 0, 0x73),     /* csrw mepc, t6 */
        0x30200073,                               /* mret */
    };
    for (int s = 0; s < 2; s++) {
        struct side *d = &sides[s];
        memset(d->bus.ram.host, 0, RAM_SIZE);
        for (unsigned k = 0; k < len; k++)
            put32(d, RAM_BASE + 4 * k, prog[k]);
        for (unsigned k = 0; k < 4; k++)
            put32(d, TRAP_VEC + 4 * k, handler[k]);
        assert_int_equal(gmem_write(&d->bus.ram, DATA, data, sizeof(data)),
                         0);
        gmem_clear_code_map(&d->bus.ram);
        atomic_fetch_add(&d->bus.ram.code_gen, 1);
        struct jit_options jo = {.threshold = threshold,
                                 .cache_bytes = JIT_CACHE_MIN};
        assert_int_equal(
            hart_set_engine(d->h, s ? CPU_ENGINE_JIT : CPU_ENGINE_INTERP, &jo),
            0);
        hart_reset(d->h, RAM_BASE);
        d->h->mtvec = TRAP_VEC;
        d->h->mstatus |= fs_on; /* FP ops legal */
        memcpy(d->h->x, regs, sizeof(regs));
        if (case_paged) { /* S-mode under Sv39; traps still go to M */
            map_sv39(d);
            hart_set_priv(d->h, PRIV_S);
            d->h->mstatus |= 1ULL << 11; /* MPP = S for the handler's mret */
            d->h->satp = (uint64_t)SATP_MODE_SV39 << SATP_MODE_SHIFT |
                         (PT >> 12);
        }
        for (unsigned r = 0; r < 8; r++)
            d->h->f[r] = fregs[r];
        d->h->frm = frm;
        if (fs_off) /* every F/D insn is illegal */
            d->h->mstatus &= ~MSTATUS_FS;
    }
}

/* The first difference between the two sides, or NULL. */
static const char *difference(void)
{
    static char msg[160];
    const struct hart *a = sides[0].h, *b = sides[1].h;
    for (unsigned r = 0; r < 32; r++)
        if (a->x[r] != b->x[r]) {
            snprintf(msg, sizeof(msg), "x%u interp %#llx jit %#llx", r,
                     (unsigned long long)a->x[r], (unsigned long long)b->x[r]);
            return msg;
        }
    for (unsigned r = 0; r < 32; r++)
        if (a->f[r] != b->f[r]) {
            snprintf(msg, sizeof(msg), "f%u differs", r);
            return msg;
        }
#define SAME(field)                                                            \
    if (a->field != b->field) {                                                \
        snprintf(msg, sizeof(msg), #field " interp %#llx jit %#llx",           \
                 (unsigned long long)a->field, (unsigned long long)b->field);  \
        return msg;                                                            \
    }
    SAME(pc) SAME(instret) SAME(mepc) SAME(mcause) SAME(mtval) SAME(mstatus)
    SAME(fflags) SAME(priv)
#undef SAME
    if (memcmp(sides[0].bus.ram.host, sides[1].bus.ram.host, RAM_SIZE))
        return "memory differs";
    return NULL;
}

static void compare(uint64_t seed, unsigned slice)
{
    const char *d = difference();
    if (d)
        fail_msg("seed %llu slice %u: %s", (unsigned long long)seed, slice, d);
}

static void run_case(uint64_t seed, uint32_t threshold)
{
    build_case(seed, threshold);
    uint64_t budget = 4000;
    unsigned slice = 0;
    while (budget) {
        uint64_t step = 1 + rnd() % (rndn(4) ? 300 : 7);
        if (step > budget)
            step = budget;
        uint64_t ra = hart_run(sides[0].h, step);
        uint64_t rb = hart_run(sides[1].h, step);
        if (ra != rb)
            fail_msg("seed %llu slice %u: retired %llu vs %llu",
                     (unsigned long long)seed, slice, (unsigned long long)ra,
                     (unsigned long long)rb);
        assert_int_equal(ra, step); /* the budget is exact */
        compare(seed, slice++);
        budget -= step;
    }
}

/* Stops `h` (running hart_run without a budget) once it sleeps in wfi,
 * or after a few seconds (a program that does not end: a failure). */
struct watch {
    struct hart *h;
    bool timed_out;
};

static void *watcher(void *arg)
{
    struct watch *w = arg;
    for (unsigned k = 0; k < 200000; k++) {
        if (__atomic_load_n(&w->h->wfi, __ATOMIC_ACQUIRE)) {
            hart_kick(w->h);
            return NULL;
        }
        usleep(20);
    }
    w->timed_out = true;
    hart_kick(w->h);
    return NULL;
}

/* hart_run(h, budget) with a watcher that ends it at the wfi */
static uint64_t run_watched(struct hart *h, uint64_t budget, bool *timed_out)
{
    struct watch w = {.h = h};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, watcher, &w), 0);
    uint64_t ran = hart_run(h, budget);
    pthread_join(t, NULL);
    *timed_out = w.timed_out;
    return ran;
}

/* The JIT side runs the whole program without a budget (chaining and
 * superblocks); the interpreter then runs exactly as many insns. */
static void run_free_case(uint64_t seed, uint32_t threshold)
{
    bool to_jit, to_interp;
    case_free = true;
    build_case(seed, threshold);
    case_free = false;
    uint64_t rb = run_watched(sides[1].h, 0, &to_jit);
    if (to_jit)
        fail_msg("seed %llu: the JIT side did not reach its wfi",
                 (unsigned long long)seed);
    uint64_t ra = run_watched(sides[0].h, rb, &to_interp);
    if (ra != rb || to_interp)
        fail_msg("seed %llu: retired %llu vs %llu", (unsigned long long)seed,
                 (unsigned long long)ra, (unsigned long long)rb);
    compare(seed, 0);
    /* both stopped just after the wfi */
    assert_int_equal(sides[1].h->pc, sides[0].h->pc);
}

static unsigned ncases(void)
{
    const char *s = getenv("CORRAL_JIT_DIFF_CASES");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? (unsigned)v : 300;
}

/* Added to every case's seed: a long run by hand takes new programs
 * with CORRAL_JIT_DIFF_SEED (the suite's are those of 0). */
static uint64_t seed_base(void)
{
    const char *s = getenv("CORRAL_JIT_DIFF_SEED");
    return s ? strtoull(s, NULL, 10) : 0;
}

static void test_diff_threshold0(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    for (unsigned k = 0; k < ncases(); k++) {
        run_case(seed_base() + k + 1, 0);
        blocks += jit_blocks_translated(sides[1].h);
    }
    assert_true(blocks > ncases()); /* translated code did run */
}

static void test_diff_threshold1(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    for (unsigned k = 0; k < ncases(); k++) {
        run_case(seed_base() + 100000 + k, 1);
        blocks += jit_blocks_translated(sides[1].h);
    }
    assert_true(blocks > ncases());
}

/* The same programs in S-mode under Sv39, the data pages swapped. */
static void test_diff_sv39(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    case_paged = true;
    for (unsigned k = 0; k < ncases(); k++) {
        run_case(seed_base() + 200000 + k, k & 1);
        blocks += jit_blocks_translated(sides[1].h);
    }
    case_paged = false;
    assert_true(blocks > ncases());
}

/* Without a budget: superblocks, side exits, loops, forward jal. */
static void test_diff_free(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    for (unsigned k = 0; k < ncases(); k++) {
        case_paged = k % 3 == 2;
        run_free_case(seed_base() + 300000 + k, k & 1);
        blocks += jit_blocks_translated(sides[1].h);
    }
    case_paged = false;
    assert_true(blocks > ncases());
}

/* Mostly D ops, so every native FP path meets the edge operands and
 * rounding modes, budgeted and free running. */
static void test_diff_fp(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    case_fp = true;
    for (unsigned k = 0; k < ncases(); k++) {
        if (k & 1)
            run_free_case(seed_base() + 400000 + k, k & 2 ? 1 : 0);
        else
            run_case(seed_base() + 400000 + k, k & 2 ? 1 : 0);
        blocks += jit_blocks_translated(sides[1].h);
    }
    case_fp = false;
    assert_true(blocks > ncases());
}

/* Mostly 32-bit and bitwise ops, budgeted and free running; more loop
 * passes and a threshold of 4 at times, so that superblocks are formed
 * from linked blocks (side segments). */
static void test_diff_w32(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    case_w32 = true;
    for (unsigned k = 0; k < ncases(); k++) {
        case_paged = k % 4 == 3;
        if (k & 1)
            run_free_case(seed_base() + 500000 + k, k & 2 ? 2 : 3);
        else
            run_case(seed_base() + 500000 + k, k & 2 ? 1 : 4);
        blocks += jit_blocks_translated(sides[1].h);
    }
    case_w32 = case_paged = false;
    assert_true(blocks > ncases());
}

/* Side segments: side_program's loops, free running and budgeted. */
static void test_diff_side(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    case_w32 = case_side = true;
    for (unsigned k = 0; k < ncases() / 3; k++) {
        case_paged = k % 4 == 3;
        if (k % 3)
            run_free_case(seed_base() + 600000 + k, 1 + k % 4);
        else
            run_case(seed_base() + 600000 + k, 1 + k % 4);
        blocks += jit_blocks_translated(sides[1].h);
    }
    case_w32 = case_side = case_paged = false;
    assert_true(blocks > ncases() / 3);
}

/* Memory groups: gen_grp's programs with many forward branches,
 * budgeted and free running, mostly under Sv39 (the two data pages
 * swapped: an access across them is in two host pages, and their TLB
 * addends differ). */
static void test_diff_grp(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    uint64_t blocks = 0;
    case_grp = true;
    /* 4x the others: a join that skips a leader onto the branch ending
     * its segment, with a follower after it on the other page, shows
     * first at case 457 */
    for (unsigned k = 0; k < 4 * ncases(); k++) {
        /* mostly paged: only there do the data pages' addends differ, so
         * that a stale one reads the wrong bytes */
        case_paged = k % 3 != 0;
        if (k & 1)
            run_free_case(seed_base() + 700000 + k, k & 2 ? 1 : 0);
        else
            run_case(seed_base() + 700000 + k, k & 2 ? 1 : 2);
        blocks += jit_blocks_translated(sides[1].h);
    }
    case_grp = case_paged = false;
    assert_true(blocks > ncases());
}

/* A join onto a segment's ending insn skips the segment's group leaders:
 * the followers after it must not use the addend an earlier pass left in
 * their slot. Here the even passes jump from insn 1 to the (never taken)
 * branch ending the leader's segment, x1 alternates between the two data
 * pages, which Sv39 maps swapped (so their addends differ), and a stale
 * addend reads the wrong page. (A Linux boot crashed on this shape: the
 * stale addend was of another region and pointed outside guest RAM.) */
static void test_grp_join_skips_leader(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    const uint32_t p[] = {
        i_type(1, R_LOOP, 7, 5, 0x13),  /* 0: andi x5, x28, 1 */
        b_type(12, 0, 5, 0),            /* 1: beqz x5, 4 (the join) */
        i_type(0, 1, 3, 6, 0x03),       /* 2: ld x6, 0(x1): the leader */
        i_type(1, 9, 0, 9, 0x13),       /* 3: addi x9, x9, 1 */
        b_type(8, 0, 0, 1),             /* 4: bne x0, x0, 6: its end */
        i_type(8, 1, 3, 8, 0x03),       /* 5: ld x8, 8(x1): a follower */
        r_type(0, 11, 1, 4, 1, 0x33),   /* 6: xor x1, x1, x11 */
        r_type(0, 8, 12, 0, 12, 0x33),  /* 7: add x12, x12, x8 */
        i_type(-1, R_LOOP, 0, R_LOOP, 0x13),
        b_type(-36, 0, R_LOOP, 1),      /* 9: bnez x28, 0 */
        0x10500073,                     /* 10: wfi */
        j_type(-4, 0),
    };
    static uint8_t data[0x2000];
    rng_state = 12345;
    for (unsigned k = 0; k < sizeof(data); k++)
        data[k] = (uint8_t)rnd();
    for (uint32_t threshold = 0; threshold < 2; threshold++) {
        for (int s = 0; s < 2; s++) {
            struct side *d = &sides[s];
            memset(d->bus.ram.host, 0, RAM_SIZE);
            for (unsigned k = 0; k < ARRAY_SIZE(p); k++)
                put32(d, RAM_BASE + 4 * k, p[k]);
            assert_int_equal(
                gmem_write(&d->bus.ram, DATA, data, sizeof(data)), 0);
            map_sv39(d);
            gmem_clear_code_map(&d->bus.ram);
            atomic_fetch_add(&d->bus.ram.code_gen, 1);
            struct jit_options jo = {.threshold = threshold,
                                     .cache_bytes = JIT_CACHE_MIN};
            assert_int_equal(hart_set_engine(d->h, s ? CPU_ENGINE_JIT
                                                     : CPU_ENGINE_INTERP,
                                             &jo),
                             0);
            hart_reset(d->h, RAM_BASE);
            d->h->mtvec = TRAP_VEC;
            hart_set_priv(d->h, PRIV_S);
            d->h->satp = (uint64_t)SATP_MODE_SV39 << SATP_MODE_SHIFT |
                         (PT >> 12);
            d->h->x[1] = DATA + 0x800;
            d->h->x[11] = 0x1000; /* x1 ^ x11: the other page */
            d->h->x[R_LOOP] = 40;
        }
        bool to_jit, to_interp;
        uint64_t rb = run_watched(sides[1].h, 0, &to_jit);
        assert_false(to_jit);
        uint64_t ra = run_watched(sides[0].h, rb, &to_interp);
        assert_false(to_interp);
        assert_int_equal(ra, rb);
        compare(threshold, 0);
        assert_int_equal(sides[1].h->x[R_LOOP], 0);
        assert_int_equal(sides[1].h->mcause, 0); /* no trap on the way */
        assert_true(jit_blocks_translated(sides[1].h) >= 1);
    }
}

/* The comparison can fail: each kind of divergence is noticed. */
static void test_compare_detects(void **state)
{
    (void)state;
    build_case(7, 0);
    hart_run(sides[0].h, 50);
    hart_run(sides[1].h, 50);
    assert_null(difference());
    sides[1].h->x[5] ^= 1;
    assert_non_null(difference());
    sides[1].h->x[5] ^= 1;
    sides[1].h->instret++;
    assert_non_null(difference());
    sides[1].h->instret--;
    sides[1].bus.ram.host[RAM_SIZE - 1] ^= 0x10;
    assert_non_null(difference());
    sides[1].bus.ram.host[RAM_SIZE - 1] ^= 0x10;
    assert_null(difference());
}

/* A translated block must not run past hart_run's budget, and a JIT hart
 * with the code arena at its minimum keeps working through flushes. */
static void test_translates_and_counts(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    struct hart *h = sides[1].h;
    struct side *d = &sides[1];
    /* loop: addi a0,a0,1; addi a1,a1,2; addi a5,a5,-1; bne a5,x0,loop */
    const uint32_t p[] = {i_type(1, 10, 0, 10, 0x13), i_type(2, 11, 0, 11, 0x13),
                          i_type(-1, 15, 0, 15, 0x13), b_type(-12, 0, 15, 1),
                          j_type(0, 0)};
    memset(d->bus.ram.host, 0, RAM_SIZE);
    for (unsigned k = 0; k < 5; k++)
        put32(d, RAM_BASE + 4 * k, p[k]);
    gmem_clear_code_map(&d->bus.ram);
    atomic_fetch_add(&d->bus.ram.code_gen, 1);
    struct jit_options jo = {.threshold = 0, .cache_bytes = JIT_CACHE_MIN};
    assert_int_equal(hart_set_engine(h, CPU_ENGINE_JIT, &jo), 0);
    hart_reset(h, RAM_BASE);
    h->x[15] = 1000;
    assert_int_equal(hart_run(h, 4), 4); /* one pass, translated at once */
    assert_int_equal(h->x[10], 1);
    assert_int_equal(h->pc, RAM_BASE);
    assert_int_equal(hart_run(h, 6), 6); /* stops inside the block */
    assert_int_equal(h->x[10], 3);
    assert_int_equal(h->x[11], 6);
    assert_int_equal(h->pc, RAM_BASE + 8);
    assert_int_equal(h->instret, 10);
    assert_int_equal(hart_run(h, 4000), 4000);
    assert_int_equal(h->x[15], 0);
    assert_int_equal(h->x[10], 1000);
    assert_int_equal(h->pc, RAM_BASE + 16);
    assert_true(jit_blocks_translated(h) >= 1);
}

static void *kick_later(void *arg)
{
    usleep(300 * 1000);
    hart_kick(arg);
    return NULL;
}


/* A program alone in zeroed RAM at RAM_BASE, on the interpreter (side 0)
 * or the JIT at `threshold`, the hart reset to run it. */
static void load_program(struct side *d, const uint32_t *p, unsigned n, unsigned threshold,
                         bool jit)
{
    memset(d->bus.ram.host, 0, RAM_SIZE);
    for (unsigned k = 0; k < n; k++)
        put32(d, RAM_BASE + 4 * k, p[k]);
    gmem_clear_code_map(&d->bus.ram);
    atomic_fetch_add(&d->bus.ram.code_gen, 1);
    struct jit_options jo = {.threshold = threshold, .cache_bytes = JIT_CACHE_MIN};
    assert_int_equal(hart_set_engine(d->h, jit ? CPU_ENGINE_JIT : CPU_ENGINE_INTERP, &jo), 0);
    hart_reset(d->h, RAM_BASE);
}
/* Without a budget blocks chain, and a one-block loop runs natively
 * (emit_self_loop): the loop must still count and retire exactly. */
static void test_chained_self_loop(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    const uint32_t p[] = {i_type(1, 10, 0, 10, 0x13), i_type(2, 11, 0, 11, 0x13),
                          i_type(-1, 15, 0, 15, 0x13), b_type(-12, 0, 15, 1),
                          j_type(0, 0)};
    for (int s = 0; s < 2; s++) {
        load_program(&sides[s], p, ARRAY_SIZE(p), 2, s);
        sides[s].h->x[15] = 200000;
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, kick_later, sides[1].h), 0);
    uint64_t ran = hart_run(sides[1].h, 0);
    pthread_join(t, NULL);
    const uint64_t loop = 4 * 200000;
    assert_true(ran >= loop);
    assert_int_equal(sides[1].h->instret, ran);
    /* the interpreter, stopped after the same count, agrees */
    assert_int_equal(hart_run(sides[0].h, ran), ran);
    assert_null(difference());
    assert_int_equal(sides[1].h->x[10], 200000);
    assert_int_equal(sides[1].h->x[11], 400000);
    assert_int_equal(sides[1].h->pc, RAM_BASE + 16);
    assert_true(jit_blocks_translated(sides[1].h) >= 1);
}

/* Chaining counts hits: an interpreted one-block loop reaches hart_run
 * once per timer countdown only, yet it is translated once it has run
 * `threshold` times (here 300 passes at threshold 16; before, it stayed
 * interpreted to its end). */
static void test_chain_counts_hits(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    const uint32_t p[] = {i_type(1, 10, 0, 10, 0x13), i_type(2, 11, 0, 11, 0x13),
                          i_type(-1, 15, 0, 15, 0x13), b_type(-12, 0, 15, 1),
                          0x10500073 /* wfi */, j_type(-4, 0)};
    for (int s = 0; s < 2; s++) {
        load_program(&sides[s], p, ARRAY_SIZE(p), 16, s);
        sides[s].h->x[15] = 300;
    }
    bool to_jit, to_interp;
    uint64_t rb = run_watched(sides[1].h, 0, &to_jit);
    assert_false(to_jit);
    assert_int_equal(rb, 4 * 300 + 1);
    assert_int_equal(run_watched(sides[0].h, rb, &to_interp), rb);
    assert_false(to_interp);
    assert_null(difference());
    assert_int_equal(sides[1].h->x[10], 300);
    assert_int_equal(jit_blocks_translated(sides[1].h), 1);
}

/* A superblock never grows into an insn that straddles the page end:
 * fetching it at translation time could fault (here its second half is
 * past the end of RAM), raising a trap the program never takes. */
static void test_superblock_page_end(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    struct side *d = &sides[1];
    struct hart *h = d->h;
    const gpa_t end = RAM_BASE + RAM_SIZE, at = end - 14;
    memset(d->bus.ram.host, 0, RAM_SIZE);
    put32(d, at, i_type(1, 10, 0, 10, 0x13));        /* addi a0,a0,1 */
    put32(d, at + 4, i_type(-1, 5, 0, 5, 0x13));     /* addi t0,t0,-1 */
    put32(d, at + 8, b_type(-8, 0, 5, 1));           /* bnez t0,at */
    uint16_t half = 0x0013;                          /* a 32-bit insn's */
    assert_int_equal(gmem_write(&d->bus.ram, end - 2, &half, 2), 0);
    gmem_clear_code_map(&d->bus.ram);
    atomic_fetch_add(&d->bus.ram.code_gen, 1);
    struct jit_options jo = {.threshold = 0, .cache_bytes = JIT_CACHE_MIN};
    assert_int_equal(hart_set_engine(h, CPU_ENGINE_JIT, &jo), 0);
    hart_reset(h, at);
    h->mtvec = TRAP_VEC;
    h->x[5] = 100;
    assert_int_equal(hart_run(h, 3), 3); /* translated at once */
    assert_true(jit_blocks_translated(h) >= 1);
    assert_int_equal(h->mcause, 0);
    assert_int_equal(h->mepc, 0);
    assert_int_equal(h->pc, at);
    assert_int_equal(h->x[5], 99);
    assert_int_equal(hart_run(h, 3 * 98), 3 * 98);
    assert_int_equal(h->x[10], 99);
    assert_int_equal(h->mcause, 0);
}

/* More code than the arena holds (JIT_CACHE_MIN): the arena fills, is
 * flushed with the block cache at a boundary, and translation starts over;
 * results stay exact and the arena never grows. */
static void test_arena_full_flush(void **state)
{
    (void)state;
    if (!jit_available())
        skip();
    struct side *d = &sides[1];
    struct hart *h = d->h;
    const gpa_t at = RAM_BASE + 0x20000;
    const unsigned pairs = 12000;
    memset(d->bus.ram.host, 0, RAM_SIZE);
    for (unsigned k = 0; k < pairs; k++) {
        put32(d, at + 8 * k, i_type(1, 10, 0, 10, 0x13)); /* addi a0,a0,1 */
        put32(d, at + 8 * k + 4, j_type(4, 0));           /* j .+4 */
    }
    gpa_t tail = at + 8 * pairs;
    put32(d, tail, i_type(-1, 5, 0, 5, 0x13));            /* addi t0,t0,-1 */
    put32(d, tail + 4, b_type(8, 0, 5, 0));               /* beqz t0,+8 */
    put32(d, tail + 8, j_type(-(int32_t)(8 * pairs + 8), 0)); /* j at */
    put32(d, tail + 12, j_type(0, 0));                     /* spin */
    gmem_clear_code_map(&d->bus.ram);
    atomic_fetch_add(&d->bus.ram.code_gen, 1);
    struct jit_options jo = {.threshold = 0, .cache_bytes = JIT_CACHE_MIN};
    assert_int_equal(hart_set_engine(h, CPU_ENGINE_JIT, &jo), 0);
    hart_reset(h, at);
    h->x[5] = 3;
    uint64_t total = 3 * (2ULL * pairs + 3) - 1; /* last pass: no j back */
    uint64_t done = 0;
    while (done < total)
        done += hart_run(h, total - done < 5000 ? total - done : 5000);
    assert_int_equal(h->x[10], 3 * pairs);
    assert_int_equal(h->x[5], 0);
    assert_int_equal(h->pc, tail + 12);
    assert_int_equal(h->instret, total);
    /* 3 passes over 12000 translatable blocks that do not fit at once:
     * they were translated again after each flush */
    assert_true(jit_blocks_translated(h) > 2 * pairs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translates_and_counts),
        cmocka_unit_test(test_compare_detects),
        cmocka_unit_test(test_chained_self_loop),
        cmocka_unit_test(test_chain_counts_hits),
        cmocka_unit_test(test_arena_full_flush),
        cmocka_unit_test(test_superblock_page_end),
        cmocka_unit_test(test_diff_threshold0),
        cmocka_unit_test(test_diff_threshold1),
        cmocka_unit_test(test_diff_sv39),
        cmocka_unit_test(test_diff_free),
        cmocka_unit_test(test_diff_fp),
        cmocka_unit_test(test_diff_w32),
        cmocka_unit_test(test_diff_side),
        cmocka_unit_test(test_diff_grp),
        cmocka_unit_test(test_grp_join_skips_leader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
