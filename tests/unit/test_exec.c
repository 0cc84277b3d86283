/* The interpreter (exec*.c, block.c) on hand-assembled programs in a small
 * RAM-only machine: arithmetic edge cases, branches, loads/stores, AMOs,
 * LR/SC pairing, traps and their tval, FP boxing rules, CSR instret
 * accuracy, self-modifying code, fence.i, page-straddling instructions
 * and exact instruction budgets. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rv_encode.h"

#include "cpu/riscv/hart.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define TRAP_VEC (RAM_BASE + 0x8000)
#define DATA (RAM_BASE + 0x10000)

/* ---- a tiny assembler (base formats in rv_encode.h) ---- */
static uint32_t amo(unsigned f5, unsigned rs2, unsigned rs1, unsigned f3,
                    unsigned rd)
{
    return f5 << 27 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x2f;
}

#define ADDI(rd, rs1, imm) i_type(imm, rs1, 0, rd, 0x13)
#define ADDIW(rd, rs1, imm) i_type(imm, rs1, 0, rd, 0x1b)
#define SRAIW(rd, rs1, sh) i_type(0x400 | (sh), rs1, 5, rd, 0x1b)
#define SRAI(rd, rs1, sh) i_type(0x400 | (sh), rs1, 5, rd, 0x13)
#define ADD(rd, a, b) r_type(0, b, a, 0, rd, 0x33)
#define SUB(rd, a, b) r_type(0x20, b, a, 0, rd, 0x33)
#define XOR(rd, a, b) r_type(0, b, a, 4, rd, 0x33)
#define ADDW(rd, a, b) r_type(0, b, a, 0, rd, 0x3b)
#define SUBW(rd, a, b) r_type(0x20, b, a, 0, rd, 0x3b)
#define SLLW(rd, a, b) r_type(0, b, a, 1, rd, 0x3b)
#define MUL(rd, a, b) r_type(1, b, a, 0, rd, 0x33)
#define MULH(rd, a, b) r_type(1, b, a, 1, rd, 0x33)
#define MULHSU(rd, a, b) r_type(1, b, a, 2, rd, 0x33)
#define MULHU(rd, a, b) r_type(1, b, a, 3, rd, 0x33)
#define DIV(rd, a, b) r_type(1, b, a, 4, rd, 0x33)
#define DIVU(rd, a, b) r_type(1, b, a, 5, rd, 0x33)
#define REM(rd, a, b) r_type(1, b, a, 6, rd, 0x33)
#define REMU(rd, a, b) r_type(1, b, a, 7, rd, 0x33)
#define DIVW(rd, a, b) r_type(1, b, a, 4, rd, 0x3b)
#define DIVUW(rd, a, b) r_type(1, b, a, 5, rd, 0x3b)
#define REMW(rd, a, b) r_type(1, b, a, 6, rd, 0x3b)
#define REMUW(rd, a, b) r_type(1, b, a, 7, rd, 0x3b)
#define MULW(rd, a, b) r_type(1, b, a, 0, rd, 0x3b)
#define BEQ(a, b, off) b_type(off, b, a, 0)
#define BNE(a, b, off) b_type(off, b, a, 1)
#define BLT(a, b, off) b_type(off, b, a, 4)
#define BGE(a, b, off) b_type(off, b, a, 5)
#define BLTU(a, b, off) b_type(off, b, a, 6)
#define BGEU(a, b, off) b_type(off, b, a, 7)
#define JAL(rd, off) j_type(off, rd)
#define JALR(rd, rs1, off) i_type(off, rs1, 0, rd, 0x67)
#define LOAD(f3, rd, rs1, off) i_type(off, rs1, f3, rd, 0x03)
#define STORE(f3, rs2, rs1, off) s_type(off, rs2, rs1, f3, 0x23)
#define LUI(rd, imm) (((uint32_t)(imm) & 0xfffff000u) | (rd) << 7 | 0x37)
#define AUIPC(rd, imm) (((uint32_t)(imm) & 0xfffff000u) | (rd) << 7 | 0x17)
#define CSRRS(rd, csr, rs1) i_type(csr, rs1, 2, rd, 0x73)
#define CSRRW(rd, csr, rs1) i_type(csr, rs1, 1, rd, 0x73)
#define FENCE_I 0x0000100f
#define ECALL 0x00000073
#define EBREAK 0x00100073
#define MRET 0x30200073
#define WFI 0x10500073
#define SPIN JAL(0, 0)
#define FMV_W_X(rd, rs1) r_type(0x78, 0, rs1, 0, rd, 0x53)
#define FMV_X_W(rd, rs1) r_type(0x70, 0, rs1, 0, rd, 0x53)
#define FMV_D_X(rd, rs1) r_type(0x79, 0, rs1, 0, rd, 0x53)
#define FMV_X_D(rd, rs1) r_type(0x71, 0, rs1, 0, rd, 0x53)
#define FADD_S(rd, a, b, rm) r_type(0x00, b, a, rm, rd, 0x53)
#define FADD_D(rd, a, b, rm) r_type(0x01, b, a, rm, rd, 0x53)
#define FSGNJN_S(rd, a, b) r_type(0x10, b, a, 1, rd, 0x53)
#define FCLASS_S(rd, a) r_type(0x70, 0, a, 1, rd, 0x53)

/* ---- the machine ---- */
static struct bus bus;
static struct vclock clk;
static struct hart *h;

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    if (gmem_init(&bus.ram, RAM_BASE, RAM_SIZE))
        return -1;
    vclock_init(&clk);
    h = calloc(1, sizeof(*h));
    if (!h || hart_init(h, 0, &bus, &clk))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    hart_destroy(h);
    free(h);
    gmem_destroy(&bus.ram);
    return 0;
}

static void put32(gpa_t pa, uint32_t v)
{
    assert_int_equal(gmem_write(&bus.ram, pa, &v, 4), 0);
}
static void put16(gpa_t pa, uint16_t v)
{
    assert_int_equal(gmem_write(&bus.ram, pa, &v, 2), 0);
}
static uint64_t get64(gpa_t pa)
{
    uint64_t v = 0;
    assert_int_equal(gmem_read(&bus.ram, pa, &v, 8), 0);
    return v;
}

/* Load a program at `pa`, reset the hart there with a spinning trap
 * handler at TRAP_VEC and FS = Initial. */
static void load_at(gpa_t pa, const uint32_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        put32(pa + 4 * k, p[k]);
    put32(TRAP_VEC, SPIN);
    hart_reset(h, pa);
    h->mtvec = TRAP_VEC;
    h->mstatus |= 1ULL << 13;
}
#define LOAD_PROG(...)                                                         \
    do {                                                                       \
        const uint32_t prog_[] = {__VA_ARGS__};                                \
        load_at(RAM_BASE, prog_, sizeof(prog_) / 4);                           \
    } while (0)

/* ---- tests ---- */

static void test_arith_edges(void **state)
{
    LOAD_PROG(DIV(10, 5, 0), DIVU(11, 5, 0), REM(12, 5, 0), REMU(13, 5, 0),
              DIV(14, 6, 7), REM(15, 6, 7), DIVW(16, 8, 7), REMW(17, 8, 7),
              DIVUW(18, 5, 0), REMUW(19, 9, 0), MULH(20, 7, 7),
              MULHU(21, 7, 7), MULHSU(22, 7, 7), MULW(23, 28, 28),
              ADDW(24, 28, 28), SUBW(25, 0, 28), SRAIW(26, 29, 4),
              ADDI(0, 0, 5), ADD(0, 5, 5), SLLW(27, 28, 29), SPIN);
    h->x[5] = 42;
    h->x[6] = 0x8000000000000000ULL;
    h->x[7] = ~0ULL;
    h->x[8] = 0xffffffff80000000ULL;
    h->x[9] = 0x1234567887654321ULL;
    h->x[28] = 0x7fffffff;
    h->x[29] = 0x80000000;
    assert_int_equal(hart_run(h, 20), 20);
    assert_int_equal(h->x[10], ~0ULL);
    assert_int_equal(h->x[11], ~0ULL);
    assert_int_equal(h->x[12], 42);
    assert_int_equal(h->x[13], 42);
    assert_int_equal(h->x[14], 0x8000000000000000ULL);
    assert_int_equal(h->x[15], 0);
    assert_int_equal(h->x[16], 0xffffffff80000000ULL);
    assert_int_equal(h->x[17], 0);
    assert_int_equal(h->x[18], ~0ULL);
    assert_int_equal(h->x[19], 0xffffffff87654321ULL); /* sign-extended */
    assert_int_equal(h->x[20], 0);                     /* -1 * -1 */
    assert_int_equal(h->x[21], 0xfffffffffffffffeULL);
    assert_int_equal(h->x[22], ~0ULL); /* -1 * (2^64-1) high */
    assert_int_equal(h->x[23], 1);     /* 0x7fffffff^2 low 32 = 1 */
    assert_int_equal(h->x[24], 0xfffffffffffffffeULL);
    assert_int_equal(h->x[25], 0xffffffff80000001ULL);
    assert_int_equal(h->x[26], 0xfffffffff8000000ULL);
    assert_int_equal(h->x[27], 0x7fffffff); /* shift by 0x80000000 & 31 = 0 */
    assert_int_equal(h->x[0], 0);
    assert_int_equal(h->pc, RAM_BASE + 4 * 20);
    assert_int_equal(h->instret, 20);
}

static void test_branches_loop(void **state)
{
    /* sum 1..10 with a backward bne; then signed/unsigned compares */
    LOAD_PROG(ADDI(5, 0, 10), ADDI(10, 0, 0),
              ADD(10, 10, 5), ADDI(5, 5, -1), BNE(5, 0, -8),
              ADDI(6, 0, -1), ADDI(7, 0, 1),
              BLT(6, 7, 8), ADDI(11, 0, 99),  /* skipped */
              BLTU(6, 7, 8), ADDI(12, 0, 77), /* not taken: executes */
              BGE(7, 6, 8), ADDI(13, 0, 55),  /* skipped */
              BGEU(6, 7, 8), ADDI(14, 0, 66), /* skipped */
              JAL(1, 8), ADDI(15, 0, 1),      /* skipped; x1 = link */
              AUIPC(16, 0), JALR(17, 16, 12), ADDI(18, 0, 1), SPIN);
    uint64_t n = hart_run(h, 200);
    assert_int_equal(n, 200);
    assert_int_equal(h->x[10], 55);
    assert_int_equal(h->x[11], 0);
    assert_int_equal(h->x[12], 77);
    assert_int_equal(h->x[13], 0);
    assert_int_equal(h->x[14], 0);
    assert_int_equal(h->x[1], RAM_BASE + 4 * 16);
    assert_int_equal(h->x[15], 0);
    assert_int_equal(h->x[16], RAM_BASE + 4 * 17);
    assert_int_equal(h->x[17], RAM_BASE + 4 * 19);
    assert_int_equal(h->x[18], 0);
    assert_int_equal(h->pc, RAM_BASE + 4 * 20);
}

/* Unbounded run (max_insns = 0): blocks chain into each other; a kick from
 * another thread still stops the self-loop at the end. instret is exact
 * and the TLB-hit count is exact: the first load misses, the rest hit. */
static void *kick_later(void *arg)
{
    usleep(100 * 1000);
    hart_kick(arg);
    return NULL;
}

static void test_chained_loop(void **state)
{
    LOAD_PROG(ADDI(5, 0, 1000), ADDI(10, 0, 0),
              LOAD(3, 11, 6, 0), ADD(10, 10, 11), ADDI(5, 5, -1),
              BNE(5, 0, -12), SPIN);
    h->x[6] = DATA;
    put32(DATA, 2);
    put32(DATA + 4, 0);
    uint64_t hits = h->stats.tlb_hits, misses = h->stats.tlb_misses;
    uint64_t bhits = h->stats.block_hits;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, kick_later, h), 0);
    uint64_t n = hart_run(h, 0);
    pthread_join(t, NULL);
    assert_int_equal(h->x[10], 2000);
    assert_int_equal(h->x[5], 0);
    assert_int_equal(h->pc, RAM_BASE + 4 * 6);
    assert_true(n > 2 + 4000);
    assert_int_equal(n, h->instret);
    assert_int_equal(h->stats.tlb_misses - misses, 1);
    assert_int_equal(h->stats.tlb_hits - hits, 999);
    assert_true(h->stats.block_hits - bhits > 999);
}

/* A budget counts the insns retired, not instret: a loop that writes
 * minstret still stops exactly at its budget. */
static void test_budget_minstret_write(void **state)
{
    LOAD_PROG(ADDI(5, 0, 1000), CSRRW(0, 0xb02, 0), ADDI(5, 5, -1), BNE(5, 0, -8),
              ADDI(7, 0, 7), SPIN);
    h->x[7] = 0;
    assert_int_equal(hart_run(h, 3001), 3001);
    assert_int_equal(h->x[5], 0);
    assert_int_equal(h->x[7], 0); /* one more insn would have run it */
    assert_int_equal(h->pc, RAM_BASE + 4 * 4);
    assert_int_equal(h->instret, 2); /* written 0, then addi and bne */
}

static void test_loads_stores(void **state)
{
    LOAD_PROG(STORE(3, 6, 5, 0), LOAD(0, 10, 5, 0), LOAD(4, 11, 5, 0),
              LOAD(1, 12, 5, 0), LOAD(5, 13, 5, 0), LOAD(2, 14, 5, 0),
              LOAD(6, 15, 5, 0), LOAD(3, 16, 5, 0), STORE(0, 6, 5, 8),
              STORE(1, 6, 5, 10), STORE(2, 6, 5, 12), LOAD(3, 17, 5, 8),
              LOAD(3, 18, 5, 1), /* misaligned: emulated */
              STORE(3, 6, 5, 19), LOAD(3, 19, 5, 19), LOAD(2, 0, 5, 0),
              SPIN);
    h->x[5] = DATA;
    h->x[6] = 0xfedcba9887654321ULL;
    assert_int_equal(hart_run(h, 16), 16);
    assert_int_equal(h->x[10], 0x21);
    assert_int_equal(h->x[11], 0x21);
    assert_int_equal(h->x[12], 0x4321);
    assert_int_equal(h->x[13], 0x4321);
    assert_int_equal(h->x[14], 0xffffffff87654321ULL);
    assert_int_equal(h->x[15], 0x87654321ULL);
    assert_int_equal(h->x[16], 0xfedcba9887654321ULL);
    assert_int_equal(h->x[17], 0x8765432143210021ULL);
    assert_int_equal(get64(DATA + 8), 0x8765432143210021ULL);
    assert_int_equal(h->x[18], 0x21fedcba98876543ULL);
    assert_int_equal(h->x[19], 0xfedcba9887654321ULL);
    assert_int_equal(h->x[0], 0);
}

static void test_signed_bytes(void **state)
{
    LOAD_PROG(STORE(0, 6, 5, 0), LOAD(0, 10, 5, 0), LOAD(4, 11, 5, 0),
              STORE(1, 6, 5, 2), LOAD(1, 12, 5, 2), LOAD(5, 13, 5, 2), SPIN);
    h->x[5] = DATA;
    h->x[6] = 0x8080;
    assert_int_equal(hart_run(h, 6), 6);
    assert_int_equal(h->x[10], 0xffffffffffffff80ULL);
    assert_int_equal(h->x[11], 0x80);
    assert_int_equal(h->x[12], 0xffffffffffff8080ULL);
    assert_int_equal(h->x[13], 0x8080);
}

static void test_amos(void **state)
{
    LOAD_PROG(amo(0x00, 6, 5, 2, 10),  /* amoadd.w */
              amo(0x01, 7, 5, 3, 11),  /* amoswap.d */
              amo(0x10, 8, 5, 2, 12),  /* amomin.w with -1 */
              amo(0x18, 6, 5, 2, 13),  /* amominu.w */
              amo(0x14, 6, 5, 3, 14),  /* amomax.d */
              amo(0x1c, 8, 5, 3, 15),  /* amomaxu.d */
              amo(0x0c, 0, 5, 3, 16),  /* amoand.d with 0 */
              amo(0x08, 7, 5, 3, 17),  /* amoor.d */
              amo(0x04, 7, 5, 3, 18),  /* amoxor.d */
              SPIN);
    h->x[5] = DATA;
    h->x[6] = 5;
    h->x[7] = 0x80000000ULL;
    h->x[8] = ~0ULL;
    uint64_t init = 0x7ffffffe;
    assert_int_equal(gmem_write(&bus.ram, DATA, &init, 8), 0);
    assert_int_equal(hart_run(h, 9), 9);
    assert_int_equal(h->x[10], 0x7ffffffe);
    /* memory now 0x80000003 (word), read as d: 0x80000003 */
    assert_int_equal(h->x[11], 0x80000003ULL);
    /* memory 0x80000000: amomin.w(-2^31, -1) keeps -2^31, returns it */
    assert_int_equal(h->x[12], 0xffffffff80000000ULL);
    assert_int_equal(h->x[13], 0xffffffff80000000ULL); /* then min_u -> 5 */
    assert_int_equal(h->x[14], 5);                     /* max(5, 5) */
    assert_int_equal(h->x[15], 5);                     /* maxu -> ~0 */
    assert_int_equal(h->x[16], ~0ULL);                 /* and 0 -> 0 */
    assert_int_equal(h->x[17], 0);                     /* or -> 0x80000000 */
    assert_int_equal(h->x[18], 0x80000000ULL);         /* xor -> 0 */
    assert_int_equal(get64(DATA), 0);
}

static void test_lr_sc(void **state)
{
    LOAD_PROG(amo(0x02, 0, 5, 3, 10),  /* lr.d */
              amo(0x03, 6, 5, 3, 11),  /* sc.d: succeeds */
              amo(0x03, 7, 5, 3, 12),  /* sc.d again: no reservation */
              amo(0x02, 0, 5, 2, 13),  /* lr.w */
              amo(0x03, 7, 5, 3, 14),  /* sc.d: wrong size, fails */
              amo(0x02, 0, 5, 3, 15),  /* lr.d */
              STORE(3, 7, 5, 0),       /* plain store changes the value */
              amo(0x03, 6, 5, 3, 16),  /* sc.d fails */
              amo(0x02, 0, 5, 2, 17),  /* lr.w */
              amo(0x03, 6, 9, 2, 18),  /* sc.w at DATA+8: wrong address */
              SPIN);
    h->x[5] = DATA;
    h->x[9] = DATA + 8;
    h->x[6] = 0x1111;
    h->x[7] = 0x2222;
    uint64_t init = 0x55;
    assert_int_equal(gmem_write(&bus.ram, DATA, &init, 8), 0);
    assert_int_equal(hart_run(h, 10), 10);
    assert_int_equal(h->x[10], 0x55);
    assert_int_equal(h->x[11], 0);
    assert_int_equal(h->x[12], 1);
    assert_int_equal(h->x[13], 0x1111);
    assert_int_equal(h->x[14], 1);
    assert_int_equal(h->x[15], 0x1111);
    assert_int_equal(h->x[16], 1);
    assert_int_equal(h->x[18], 1);
    assert_int_equal(get64(DATA), 0x2222);
    assert_int_equal(h->resv_valid, 0);
}

static void test_misaligned_amo_traps(void **state)
{
    LOAD_PROG(ADDI(10, 0, 1), amo(0x00, 6, 5, 2, 11), ADDI(12, 0, 1), SPIN);
    h->x[5] = DATA + 2;
    hart_run(h, 3);
    assert_int_equal(h->mcause, EXC_STORE_MISALIGNED);
    assert_int_equal(h->mepc, RAM_BASE + 4);
    assert_int_equal(h->mtval, DATA + 2);
    assert_int_equal(h->x[10], 1);
    assert_int_equal(h->x[12], 0);
    assert_int_equal(h->instret, 3); /* addi, then the handler's 2 spins */
}

static void test_illegal_tval(void **state)
{
    /* 32-bit illegal: tval = the bits; mepc = its pc */
    LOAD_PROG(ADDI(10, 0, 3), 0xffffffffu, SPIN);
    hart_run(h, 2);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mtval, 0xffffffffu);
    assert_int_equal(h->mepc, RAM_BASE + 4);
    assert_int_equal(h->pc, TRAP_VEC);

    /* compressed illegal (all zeros) after a c.nop: tval = 16 bits */
    LOAD_PROG(0x00000001u, SPIN); /* c.nop, then 0x0000 */
    hart_run(h, 2);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mtval, 0);
    assert_int_equal(h->mepc, RAM_BASE + 2);

    /* reserved c.lwsp with rd = 0: 0x4002 */
    LOAD_PROG(0x00014002u, SPIN); /* 0x4002 then c.nop */
    hart_run(h, 1);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mtval, 0x4002);
}

static void test_ecall_ebreak_mret(void **state)
{
    LOAD_PROG(ADDI(10, 0, 1), ECALL, SPIN);
    hart_run(h, 2);
    assert_int_equal(h->mcause, EXC_ECALL_M);
    assert_int_equal(h->mepc, RAM_BASE + 4);
    assert_int_equal(h->instret, 1 + 1);

    /* mret to U-mode at label; the U code tries mret -> illegal */
    LOAD_PROG(MRET, SPIN, SPIN, SPIN, MRET, SPIN);
    h->mepc = RAM_BASE + 16;
    h->mstatus &= ~MSTATUS_MPP; /* MPP = U */
    hart_run(h, 2);
    assert_int_equal(h->priv, PRIV_M);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mepc, RAM_BASE + 16);
    assert_int_equal(h->mtval, MRET);

    LOAD_PROG(EBREAK, SPIN);
    hart_run(h, 1);
    assert_int_equal(h->mcause, EXC_BREAKPOINT);
    assert_int_equal(h->mepc, RAM_BASE);
}

static void test_wfi_privilege(void **state)
{
    /* wfi in U-mode is illegal */
    LOAD_PROG(MRET, SPIN, WFI, SPIN);
    h->mepc = RAM_BASE + 8;
    h->mstatus &= ~MSTATUS_MPP;
    hart_run(h, 2);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mtval, WFI);
}

static void test_fp_rules(void **state)
{
    LOAD_PROG(FMV_W_X(1, 5),      /* f1 = boxed 1.0f */
              FMV_X_W(10, 1),      /* 0x3f800000 */
              FMV_D_X(2, 5),       /* f2 = 0x3f800000 unboxed */
              FADD_S(3, 2, 1, 0),  /* NaN + 1 = canonical NaN */
              FMV_X_D(11, 3),
              FSGNJN_S(4, 2, 2),   /* canonical NaN, sign flipped */
              FMV_X_D(12, 4),
              FCLASS_S(13, 2),     /* quiet NaN class */
              FADD_S(5, 1, 1, 7),  /* dynamic rm with frm = 0 */
              FMV_X_W(14, 5),
              SPIN);
    h->x[5] = 0x3f800000;
    h->mstatus = (h->mstatus & ~MSTATUS_FS) | (1ULL << 13); /* Initial */
    assert_int_equal(hart_run(h, 10), 10);
    assert_int_equal(h->x[10], 0x3f800000);
    assert_int_equal(h->x[11], 0xffffffff7fc00000ULL);
    assert_int_equal(h->x[12], 0xffffffffffc00000ULL);
    assert_int_equal(h->x[13], 1u << 9);
    assert_int_equal(h->x[14], 0x40000000);
    assert_int_equal(h->mstatus & MSTATUS_FS, MSTATUS_FS); /* Dirty */

    /* FS = Off: every FP instruction is illegal */
    LOAD_PROG(FMV_X_W(10, 1), SPIN);
    h->mstatus &= ~MSTATUS_FS;
    hart_run(h, 1);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mtval, FMV_X_W(10, 1));

    /* invalid dynamic frm -> illegal; static rm 5 -> illegal */
    LOAD_PROG(FADD_S(3, 1, 1, 7), SPIN);
    h->frm = 5;
    hart_run(h, 1);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    LOAD_PROG(FADD_D(3, 1, 1, 5), SPIN);
    hart_run(h, 1);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mtval, FADD_D(3, 1, 1, 5));
}

static void test_csr_instret(void **state)
{
    /* minstret (0xb02) read after 3 insns in the same block sees 3;
     * a write is what the next read sees (the writer is not counted). */
    LOAD_PROG(ADDI(5, 0, 1), ADDI(5, 5, 1), ADDI(5, 5, 1),
              CSRRS(10, 0xb02, 0), CSRRS(11, 0xc02, 0),
              CSRRW(0, 0xb02, 6), CSRRS(12, 0xb02, 0),
              CSRRS(13, 0x7c0, 0), /* nonexistent CSR -> illegal */
              SPIN);
    h->x[6] = 1000;
    hart_run(h, 8);
    assert_int_equal(h->x[10], 3);
    assert_int_equal(h->x[11], 4);
    assert_int_equal(h->x[12], 1000);
    assert_int_equal(h->mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(h->mepc, RAM_BASE + 28);
    assert_int_equal(h->x[13], 0);
}

static void test_fused_pairs(void **state)
{
    /* Adjacent pairs run by one handler: a load-led pair whose load takes
     * the slow path (misaligned), store + load, an ALU + branch loop, and
     * an ALU + load pair whose load faults (the ALU op retired, mepc is
     * the load's), plus a budget cut inside a pair. */
    LOAD_PROG(LOAD(3, 10, 5, 1), ADD(11, 10, 10),
              STORE(3, 6, 5, 16), LOAD(3, 12, 5, 16),
              ADDI(13, 13, 1), BNE(13, 14, -4),
              ADDI(8, 8, 5), LOAD(3, 9, 0, 0),
              SPIN);
    put32(DATA, 0x03020100);
    put32(DATA + 4, 0x07060504);
    put32(DATA + 8, 0x0b0a0908);
    h->x[5] = DATA;
    h->x[6] = 0x1234;
    h->x[9] = 77;
    h->x[14] = 3;
    assert_int_equal(hart_run(h, 1), 1); /* first of the pair only */
    assert_int_equal(h->x[10], 0x0807060504030201ULL);
    assert_int_equal(h->x[11], 0);
    assert_int_equal(hart_run(h, 9), 9);
    assert_int_equal(h->x[11], 2 * 0x0807060504030201ULL);
    assert_int_equal(h->x[12], 0x1234);
    assert_int_equal(h->x[13], 3);
    assert_int_equal(h->pc, RAM_BASE + 24);
    assert_int_equal(h->instret, 10);
    /* addi retires, the load traps, the handler's SPIN retires */
    assert_int_equal(hart_run(h, 2), 2);
    assert_int_equal(h->x[8], 5);
    assert_int_equal(h->mcause, EXC_LOAD_ACCESS);
    assert_int_equal(h->mepc, RAM_BASE + 28);
    assert_int_equal(h->pc, TRAP_VEC);
    assert_int_equal(h->x[9], 77);
    assert_int_equal(h->instret, 12);
}

static void test_budget_exact(void **state)
{
    LOAD_PROG(ADDI(10, 10, 1), ADDI(10, 10, 1), ADDI(10, 10, 1),
              ADDI(10, 10, 1), ADDI(10, 10, 1), SPIN);
    assert_int_equal(hart_run(h, 2), 2);
    assert_int_equal(h->x[10], 2);
    assert_int_equal(h->pc, RAM_BASE + 8);
    assert_int_equal(hart_run(h, 2), 2);
    assert_int_equal(h->x[10], 4);
    assert_int_equal(h->instret, 4);
    assert_int_equal(hart_run(h, 1), 1);
    assert_int_equal(h->pc, RAM_BASE + 20);
}

static void test_self_modifying_same_block(void **state)
{
    /* store a new instruction two slots ahead, in the running block */
    LOAD_PROG(STORE(2, 6, 5, 8), ADDI(11, 0, 1), ADDI(10, 0, 1),
              ADDI(12, 0, 1), SPIN);
    h->x[5] = RAM_BASE;
    h->x[6] = ADDI(10, 0, 42);
    hart_run(h, 4);
    assert_int_equal(h->x[10], 42);
    assert_int_equal(h->x[11], 1);
    assert_int_equal(h->x[12], 1);
}

static void test_self_modifying_cached(void **state)
{
    /* run a subroutine (caching its block), rewrite it, call again */
    const uint32_t prog[] = {
        JAL(1, 0x100),                        /* call sub */
        ADD(11, 10, 0),                       /* x11 = first result */
        STORE(2, 6, 5, 0),                    /* patch sub's first insn */
        JAL(1, 0x100 - 12),                   /* call sub again */
        SPIN,
    };
    load_at(RAM_BASE, prog, 5);
    put32(RAM_BASE + 0x100, ADDI(10, 0, 7));
    put32(RAM_BASE + 0x104, JALR(0, 1, 0));
    h->x[5] = RAM_BASE + 0x100;
    h->x[6] = ADDI(10, 0, 9);
    hart_run(h, 8);
    assert_int_equal(h->x[11], 7);
    assert_int_equal(h->x[10], 9);
    assert_int_equal(h->pc, RAM_BASE + 16);
}

static void test_fence_i_external_write(void **state)
{
    /* Code rewritten behind the CPU's back (as DMA would): the cached block
     * stays in use until the cache is flushed. */
    LOAD_PROG(ADDI(10, 10, 1), JAL(0, 4), SPIN);
    hart_run(h, 3);
    assert_int_equal(h->x[10], 1);
    ((uint32_t *)bus.ram.host)[0] = ADDI(10, 10, 5);
    h->pc = RAM_BASE;
    hart_run(h, 1);
    assert_int_equal(h->x[10], 2); /* stale, by design */
    block_cache_flush(h);
    h->pc = RAM_BASE;
    hart_run(h, 1);
    assert_int_equal(h->x[10], 7);
}

static void test_fence_i_instruction(void **state)
{
    /* The guest's own fence.i drops a stale cached block. */
    LOAD_PROG(ADDI(10, 10, 1), JAL(0, 8), SPIN, FENCE_I, JAL(0, -16));
    hart_run(h, 2); /* cache block [addi, jal] */
    uint32_t *host = (uint32_t *)bus.ram.host;
    /* a host-side writer announces what it wrote (as devices' DMA does);
     * fence.i then brings the hart to the code_gen sync */
    host[0] = ADDI(10, 10, 100);
    gmem_dma_written(&bus.ram, RAM_BASE, 4);
    hart_run(h, 2);              /* fence.i, jal back */
    hart_run(h, 1);              /* the new addi */
    assert_int_equal(h->x[10], 101);
}

static void test_compressed_loop(void **state)
{
    /* c.li a0,0; c.li a5,5; loop: c.addi a0,3; c.addi a5,-1; c.bnez a5,loop;
     * c.mv a1,a0; c.j . */
    const uint16_t prog[] = {0x4501, 0x4795, 0x050d, 0x17fd, 0xfff5,
                             0x85aa, 0xa001};
    for (unsigned k = 0; k < 7; k++)
        put16(RAM_BASE + 2 * k, prog[k]);
    put32(TRAP_VEC, SPIN);
    hart_reset(h, RAM_BASE);
    h->mtvec = TRAP_VEC;
    hart_run(h, 2 + 15 + 1);
    assert_int_equal(h->x[10], 15);
    assert_int_equal(h->x[11], 15);
    assert_int_equal(h->x[15], 0);
    assert_int_equal(h->pc, RAM_BASE + 12);
}

static void test_page_straddle(void **state)
{
    /* a 32-bit instruction split over two pages, then one more */
    gpa_t at = RAM_BASE + 0x1000 - 2;
    uint32_t insn = ADDI(10, 0, 123);
    put16(at, (uint16_t)insn);
    put16(at + 2, (uint16_t)(insn >> 16));
    put32(at + 4, ADDI(11, 10, 1));
    put32(at + 8, SPIN);
    put32(TRAP_VEC, SPIN);
    hart_reset(h, at);
    h->mtvec = TRAP_VEC;
    assert_int_equal(hart_run(h, 2), 2);
    assert_int_equal(h->x[10], 123);
    assert_int_equal(h->x[11], 124);
}

static void test_fetch_fault(void **state)
{
    /* jump outside RAM: instruction access fault at the target */
    LOAD_PROG(JALR(0, 5, 0), SPIN);
    h->x[5] = 0x1000;
    hart_run(h, 2);
    assert_int_equal(h->mcause, EXC_INSN_ACCESS);
    assert_int_equal(h->mepc, 0x1000);
    assert_int_equal(h->mtval, 0x1000);
}

static void test_zbb_zba_zbs(void **state)
{
    LOAD_PROG(r_type(0x30, 0, 5, 1, 10, 0x13),   /* clz */
              r_type(0x30, 1, 5, 1, 11, 0x13),   /* ctz */
              r_type(0x30, 2, 5, 1, 12, 0x13),   /* cpop */
              i_type(0x6b8, 5, 5, 13, 0x13),     /* rev8 */
              i_type(0x287, 5, 5, 14, 0x13),     /* orc.b */
              r_type(0x10, 6, 5, 2, 15, 0x33),   /* sh1add */
              r_type(0x04, 6, 5, 0, 16, 0x3b),   /* add.uw */
              r_type(0x30, 6, 5, 5, 17, 0x33),   /* ror by 4 */
              i_type(0x480 | 63, 5, 5, 18, 0x13), /* bexti 63 */
              r_type(0x05, 6, 5, 4, 19, 0x33),   /* min */
              r_type(0x30, 0, 0, 1, 20, 0x1b),   /* clzw(0) = 32 */
              SPIN);
    h->x[5] = 0x8000000000000f00ULL;
    h->x[6] = 4;
    hart_run(h, 11);
    assert_int_equal(h->x[10], 0);
    assert_int_equal(h->x[11], 8);
    assert_int_equal(h->x[12], 5);
    assert_int_equal(h->x[13], 0x000f000000000080ULL);
    assert_int_equal(h->x[14], 0xff0000000000ff00ULL);
    assert_int_equal(h->x[15], 0x0000000000001e04ULL);
    assert_int_equal(h->x[16], 0xf04);
    assert_int_equal(h->x[17], 0x08000000000000f0ULL);
    assert_int_equal(h->x[18], 1);
    assert_int_equal(h->x[19], 0x8000000000000f00ULL);
    assert_int_equal(h->x[20], 32);
}

static void test_mip_rmw_seip(void **state)
{
    /* csrrs/csrrc on mip use only the software SEIP bit: a PLIC line that
     * is up while `csrs mip, SSIP` runs must not be latched into mip. */
    LOAD_PROG(CSRRS(10, 0x344, 5), CSRRS(11, 0x344, 0), SPIN);
    h->x[5] = MIP_SSIP;
    atomic_fetch_or(&h->mip_hw, MIP_SEIP);
    hart_run(h, 1);
    assert_true(h->x[10] & MIP_SEIP);       /* reads show the line */
    assert_int_equal(h->mip_sw & MIP_SEIP, 0); /* ... never written back */
    assert_true(h->mip_sw & MIP_SSIP);
    atomic_fetch_and(&h->mip_hw, ~MIP_SEIP);
    hart_run(h, 1);
    assert_int_equal(h->x[11] & MIP_SEIP, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arith_edges),
        cmocka_unit_test(test_branches_loop),
        cmocka_unit_test(test_loads_stores),
        cmocka_unit_test(test_signed_bytes),
        cmocka_unit_test(test_amos),
        cmocka_unit_test(test_lr_sc),
        cmocka_unit_test(test_misaligned_amo_traps),
        cmocka_unit_test(test_illegal_tval),
        cmocka_unit_test(test_ecall_ebreak_mret),
        cmocka_unit_test(test_wfi_privilege),
        cmocka_unit_test(test_fp_rules),
        cmocka_unit_test(test_csr_instret),
        cmocka_unit_test(test_mip_rmw_seip),
        cmocka_unit_test(test_budget_exact),
        cmocka_unit_test(test_fused_pairs),
        cmocka_unit_test(test_self_modifying_same_block),
        cmocka_unit_test(test_self_modifying_cached),
        cmocka_unit_test(test_fence_i_external_write),
        cmocka_unit_test(test_fence_i_instruction),
        cmocka_unit_test(test_compressed_loop),
        cmocka_unit_test(test_page_straddle),
        cmocka_unit_test(test_fetch_fault),
        cmocka_unit_test(test_zbb_zba_zbs),
        cmocka_unit_test(test_chained_loop),
        cmocka_unit_test(test_budget_minstret_write),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
