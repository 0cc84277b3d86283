/* Integer handlers: RV64I arithmetic, branches and jumps, M, Zba/Zbb/Zbs.
 * None of these can trap (targets are 2-byte aligned with C present). */
#include "cpu/riscv/exec_fuse.h"
#include "cpu/riscv/exec_impl.h"

#define X(r) (h->x[r])
#define RS1 X(i->rs1)
#define RS2 X(i->rs2)
#define IMM ((uint64_t)i->imm)

/* Pure ops: decoded as OP_NOP when rd = x0, so they write rd directly.
 * do_<name> is the operation alone, for the fused pairs below. */
#define ALU(name, expr)                                                        \
    static ALWAYS_INLINE void do_##name(struct hart *h,                        \
                                        const struct insn *i)                  \
    {                                                                          \
        uint64_t a = RS1, b = RS2;                                             \
        (void)a; (void)b;                                                      \
        X(i->rd) = (expr);                                                     \
    }                                                                          \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        do_##name(h, i);                                                       \
        return next_insn(h, i);                                                \
    }
#define ALUI(name, expr)                                                       \
    static ALWAYS_INLINE void do_##name(struct hart *h,                        \
                                        const struct insn *i)                  \
    {                                                                          \
        uint64_t a = RS1, b = IMM;                                             \
        (void)a; (void)b;                                                      \
        X(i->rd) = (expr);                                                     \
    }                                                                          \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        do_##name(h, i);                                                       \
        return next_insn(h, i);                                                \
    }

static inline uint64_t sx32(uint64_t v) { return (uint64_t)(int64_t)(int32_t)v; }
static inline uint64_t rol64(uint64_t a, unsigned s)
{
    s &= 63;
    return s ? (a << s) | (a >> (64 - s)) : a;
}
static inline uint32_t rol32(uint32_t a, unsigned s)
{
    s &= 31;
    return s ? (a << s) | (a >> (32 - s)) : a;
}

static HANDLER(op_nop) { return next_insn(h, i); }
static ALWAYS_INLINE void do_lui(struct hart *h, const struct insn *i)
{
    X(i->rd) = IMM;
}
static HANDLER(op_lui) { do_lui(h, i); return next_insn(h, i); }
static HANDLER(op_auipc) { X(i->rd) = insn_pc(h, i) + IMM; return next_insn(h, i); }

ALUI(addi, a + b)
ALUI(slti, (int64_t)a < (int64_t)b)
ALUI(sltiu, a < b)
ALUI(xori, a ^ b)
ALUI(ori, a | b)
ALUI(andi, a & b)
ALUI(slli, a << (b & 63))
ALUI(srli, a >> (b & 63))
ALUI(srai, (uint64_t)((int64_t)a >> (b & 63)))
ALUI(addiw, sx32(a + b))
ALUI(slliw, sx32(a << (b & 31)))
ALUI(srliw, sx32((uint32_t)a >> (b & 31)))
ALUI(sraiw, (uint64_t)(int64_t)((int32_t)a >> (b & 31)))

ALU(add, a + b)
ALU(sub, a - b)
ALU(sll, a << (b & 63))
ALU(slt, (int64_t)a < (int64_t)b)
ALU(sltu, a < b)
ALU(xor, a ^ b)
ALU(srl, a >> (b & 63))
ALU(sra, (uint64_t)((int64_t)a >> (b & 63)))
ALU(or, a | b)
ALU(and, a & b)
ALU(addw, sx32(a + b))
ALU(subw, sx32(a - b))
ALU(sllw, sx32((uint32_t)a << (b & 31)))
ALU(srlw, sx32((uint32_t)a >> (b & 31)))
ALU(sraw, (uint64_t)(int64_t)((int32_t)a >> (b & 31)))

/* M: division by zero and signed overflow give the spec's fixed results. */
static inline uint64_t mulh(int64_t a, int64_t b)
{
    return (uint64_t)(((__int128)a * b) >> 64);
}
static inline uint64_t mulhu(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}
static inline uint64_t mulhsu(int64_t a, uint64_t b)
{
    return (uint64_t)(((__int128)a * (unsigned __int128)b) >> 64);
}
static inline uint64_t divs(int64_t a, int64_t b)
{
    if (b == 0)
        return ~0ULL;
    if (a == INT64_MIN && b == -1)
        return (uint64_t)a;
    return (uint64_t)(a / b);
}
static inline uint64_t rems(int64_t a, int64_t b)
{
    if (b == 0)
        return (uint64_t)a;
    if (a == INT64_MIN && b == -1)
        return 0;
    return (uint64_t)(a % b);
}
static inline uint64_t divw(int32_t a, int32_t b)
{
    if (b == 0)
        return ~0ULL;
    if (a == INT32_MIN && b == -1)
        return sx32((uint32_t)a);
    return sx32((uint32_t)(a / b));
}
static inline uint64_t remw(int32_t a, int32_t b)
{
    if (b == 0)
        return sx32((uint32_t)a);
    if (a == INT32_MIN && b == -1)
        return 0;
    return sx32((uint32_t)(a % b));
}

ALU(mul, a * b)
ALU(mulh, mulh((int64_t)a, (int64_t)b))
ALU(mulhsu, mulhsu((int64_t)a, b))
ALU(mulhu, mulhu(a, b))
ALU(div, divs((int64_t)a, (int64_t)b))
ALU(divu, b ? a / b : ~0ULL)
ALU(rem, rems((int64_t)a, (int64_t)b))
ALU(remu, b ? a % b : a)
ALU(mulw, sx32(a * b))
ALU(divw, divw((int32_t)a, (int32_t)b))
ALU(divuw, (uint32_t)b ? sx32((uint32_t)a / (uint32_t)b) : ~0ULL)
ALU(remw, remw((int32_t)a, (int32_t)b))
ALU(remuw, (uint32_t)b ? sx32((uint32_t)a % (uint32_t)b) : sx32(a))

/* Zba */
ALU(sh1add, (a << 1) + b)
ALU(sh2add, (a << 2) + b)
ALU(sh3add, (a << 3) + b)
ALU(add_uw, (uint64_t)(uint32_t)a + b)
ALU(sh1add_uw, ((uint64_t)(uint32_t)a << 1) + b)
ALU(sh2add_uw, ((uint64_t)(uint32_t)a << 2) + b)
ALU(sh3add_uw, ((uint64_t)(uint32_t)a << 3) + b)
ALUI(slli_uw, (uint64_t)(uint32_t)a << (b & 63))

/* Zbb */
static inline uint64_t orc_b(uint64_t a)
{
    uint64_t r = 0;
    for (int k = 0; k < 64; k += 8)
        if ((a >> k) & 0xff)
            r |= 0xffULL << k;
    return r;
}
ALU(andn, a & ~b)
ALU(orn, a | ~b)
ALU(xnor, ~(a ^ b))
ALU(clz, a ? (uint64_t)__builtin_clzll(a) : 64)
ALU(ctz, a ? (uint64_t)__builtin_ctzll(a) : 64)
ALU(cpop, (uint64_t)__builtin_popcountll(a))
ALU(clzw, (uint32_t)a ? (uint64_t)__builtin_clz((uint32_t)a) : 32)
ALU(ctzw, (uint32_t)a ? (uint64_t)__builtin_ctz((uint32_t)a) : 32)
ALU(cpopw, (uint64_t)__builtin_popcount((uint32_t)a))
ALU(max, (int64_t)a > (int64_t)b ? a : b)
ALU(maxu, a > b ? a : b)
ALU(min, (int64_t)a < (int64_t)b ? a : b)
ALU(minu, a < b ? a : b)
ALU(sext_b, (uint64_t)(int64_t)(int8_t)a)
ALU(sext_h, (uint64_t)(int64_t)(int16_t)a)
ALU(zext_h, (uint16_t)a)
ALU(rol, rol64(a, (unsigned)b))
ALU(ror, rol64(a, (unsigned)(64 - (b & 63))))
ALUI(rori, rol64(a, (unsigned)(64 - (b & 63))))
ALU(rolw, sx32(rol32((uint32_t)a, (unsigned)b)))
ALU(rorw, sx32(rol32((uint32_t)a, (unsigned)(32 - (b & 31)))))
ALUI(roriw, sx32(rol32((uint32_t)a, (unsigned)(32 - (b & 31)))))
ALU(orc_b, orc_b(a))
ALU(rev8, __builtin_bswap64(a))

/* Zbs */
ALU(bclr, a & ~(1ULL << (b & 63)))
ALUI(bclri, a & ~(1ULL << (b & 63)))
ALU(bext, (a >> (b & 63)) & 1)
ALUI(bexti, (a >> (b & 63)) & 1)
ALU(binv, a ^ (1ULL << (b & 63)))
ALUI(binvi, a ^ (1ULL << (b & 63)))
ALU(bset, a | (1ULL << (b & 63)))
ALUI(bseti, a | (1ULL << (b & 63)))

/* Control transfer ends the block. */
#define BRANCH(name, cond)                                                     \
    static HANDLER(op_##name)                                                  \
    {                                                                          \
        uint64_t a = RS1, b = RS2, pc = insn_pc(h, i);                         \
        if (cond)                                                              \
            return chain_to(h, i, pc + IMM, 0);                                \
        return chain_to(h, i, pc + i->len, 1);                                 \
    }
BRANCH(beq, a == b)
BRANCH(bne, a != b)
BRANCH(blt, (int64_t)a < (int64_t)b)
BRANCH(bge, (int64_t)a >= (int64_t)b)
BRANCH(bltu, a < b)
BRANCH(bgeu, a >= b)

static HANDLER(op_jal)
{
    uint64_t pc = insn_pc(h, i);
    wr_x(h, i->rd, pc + i->len);
    return chain_to(h, i, pc + IMM, 0);
}

static HANDLER(op_jalr)
{
    uint64_t pc = insn_pc(h, i), t = (RS1 + IMM) & ~1ULL;
    wr_x(h, i->rd, pc + i->len);
    return chain_indirect(h, i, t);
}


/* ---- Fused pairs (exec_fuse.h) ---- */

/* The listed ops' handlers under external names, for exec_mem.c's pairs. */
#define FUSE_EXPORT(n, N)                                                      \
    HANDLER(exec_##n) { return op_##n(h, i); }
FUSE_ALU(FUSE_EXPORT)
FUSE_JUMP(FUSE_EXPORT)

#define FUSE_AA(a, b, B)                                                       \
    static HANDLER(fz_##a##_##b)                                               \
    {                                                                          \
        do_##a(h, i);                                                          \
        do_##b(h, i + 1);                                                      \
        return next_insn(h, i + 1);                                            \
    }
#define FUSE_AX(a, x, X)                                                       \
    static HANDLER(fz_##a##_##x)                                               \
    {                                                                          \
        do_##a(h, i);                                                          \
        return exec_##x(h, i + 1);                                             \
    }
#define FUSE_ROW(a, A)                                                         \
    FUSE_ALU_P(FUSE_AA, a) FUSE_JUMP_P(FUSE_AX, a) FUSE_MEM_P(FUSE_AX, a)
FUSE_ALU(FUSE_ROW)

enum {
    FZ_NONE,
#define FZ_IDX(n, N) FZ_##n,
    FUSE_ALU(FZ_IDX) FUSE_JUMP(FZ_IDX) FUSE_MEM(FZ_IDX)
    FZ_END
};

/* op -> its FZ_ index; FZ_NONE for ops that do not fuse */
static uint8_t fuse_idx[OP_COUNT];
static insn_fn fuse_tab[FZ_END][FZ_END];

void exec_fuse_set(unsigned first, unsigned second, insn_fn f)
{
    unsigned a = fuse_idx[first], b = fuse_idx[second];
    if (a && b)
        fuse_tab[a][b] = f;
}

static void fuse_register(void)
{
#define FZ_SET_IDX(n, N) fuse_idx[OP_##N] = FZ_##n;
#define FZ_SET(a, b, B) fuse_tab[FZ_##a][FZ_##b] = fz_##a##_##b;
#define FZ_ROW(a, A)                                                           \
    FUSE_ALU_P(FZ_SET, a) FUSE_JUMP_P(FZ_SET, a) FUSE_MEM_P(FZ_SET, a)
    FUSE_ALU(FZ_SET_IDX) FUSE_JUMP(FZ_SET_IDX) FUSE_MEM(FZ_SET_IDX)
    FUSE_ALU(FZ_ROW)
}

insn_fn exec_fuse(unsigned first, unsigned second)
{
    if (first >= OP_COUNT || second >= OP_COUNT)
        return NULL;
    return fuse_tab[fuse_idx[first]][fuse_idx[second]];
}


void exec_int_register(insn_fn *t)
{
    fuse_register();
#define R(op, fn) t[OP_##op] = op_##fn;
    R(NOP, nop) R(LUI, lui) R(AUIPC, auipc) R(JAL, jal) R(JALR, jalr)
    R(BEQ, beq) R(BNE, bne) R(BLT, blt) R(BGE, bge) R(BLTU, bltu)
    R(BGEU, bgeu)
    R(ADDI, addi) R(SLTI, slti) R(SLTIU, sltiu) R(XORI, xori) R(ORI, ori)
    R(ANDI, andi) R(SLLI, slli) R(SRLI, srli) R(SRAI, srai)
    R(ADD, add) R(SUB, sub) R(SLL, sll) R(SLT, slt) R(SLTU, sltu)
    R(XOR, xor) R(SRL, srl) R(SRA, sra) R(OR, or) R(AND, and)
    R(ADDIW, addiw) R(SLLIW, slliw) R(SRLIW, srliw) R(SRAIW, sraiw)
    R(ADDW, addw) R(SUBW, subw) R(SLLW, sllw) R(SRLW, srlw) R(SRAW, sraw)
    R(MUL, mul) R(MULH, mulh) R(MULHSU, mulhsu) R(MULHU, mulhu)
    R(DIV, div) R(DIVU, divu) R(REM, rem) R(REMU, remu) R(MULW, mulw)
    R(DIVW, divw) R(DIVUW, divuw) R(REMW, remw) R(REMUW, remuw)
    R(SH1ADD, sh1add) R(SH2ADD, sh2add) R(SH3ADD, sh3add) R(ADD_UW, add_uw)
    R(SH1ADD_UW, sh1add_uw) R(SH2ADD_UW, sh2add_uw) R(SH3ADD_UW, sh3add_uw)
    R(SLLI_UW, slli_uw)
    R(ANDN, andn) R(ORN, orn) R(XNOR, xnor) R(CLZ, clz) R(CTZ, ctz)
    R(CPOP, cpop) R(CLZW, clzw) R(CTZW, ctzw) R(CPOPW, cpopw) R(MAX, max)
    R(MAXU, maxu) R(MIN, min) R(MINU, minu) R(SEXT_B, sext_b)
    R(SEXT_H, sext_h) R(ZEXT_H, zext_h) R(ROL, rol) R(ROR, ror) R(RORI, rori)
    R(ROLW, rolw) R(RORW, rorw) R(RORIW, roriw) R(ORC_B, orc_b) R(REV8, rev8)
    R(BCLR, bclr) R(BCLRI, bclri) R(BEXT, bext) R(BEXTI, bexti) R(BINV, binv)
    R(BINVI, binvi) R(BSET, bset) R(BSETI, bseti)
#undef R
}
