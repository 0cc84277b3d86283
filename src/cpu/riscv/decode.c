/* 32-bit RISC-V decoding (RV64IMAFD, Zicsr, Zifencei, Zba/Zbb/Zbs and the
 * privileged instructions) into struct insn. Anything not recognised is
 * OP_ILLEGAL so the interpreter raises illegal-instruction with the bits.
 * Privilege and mstatus checks happen at execution time, not here. */
#include "cpu/riscv/decode.h"

#include <string.h>

static inline int64_t imm_i(uint32_t r) { return (int32_t)r >> 20; }
static inline int64_t imm_s(uint32_t r)
{
    return (int64_t)(((int32_t)r >> 25) * 32) | ((r >> 7) & 0x1f);
}
static inline int64_t imm_b(uint32_t r)
{
    uint64_t v = ((r >> 8) & 0xf) << 1 | ((r >> 25) & 0x3f) << 5 |
                 ((r >> 7) & 1) << 11;
    return (r & 0x80000000u) ? (int64_t)(v | ~0xfffULL) : (int64_t)v;
}
static inline int64_t imm_u(uint32_t r) { return (int32_t)(r & 0xfffff000u); }
static inline int64_t imm_j(uint32_t r)
{
    uint64_t v = ((r >> 21) & 0x3ff) << 1 | ((r >> 20) & 1) << 11 |
                 ((r >> 12) & 0xff) << 12;
    return (r & 0x80000000u) ? (int64_t)(v | ~0xfffffULL) : (int64_t)v;
}

static enum rv_op dec_op_imm(uint32_t r, struct insn *o)
{
    unsigned f3 = (r >> 12) & 7, f6 = r >> 26, f12 = r >> 20;
    o->imm = imm_i(r);
    switch (f3) {
    case 0: return OP_ADDI;
    case 2: return OP_SLTI;
    case 3: return OP_SLTIU;
    case 4: return OP_XORI;
    case 6: return OP_ORI;
    case 7: return OP_ANDI;
    case 1:
        o->imm = (r >> 20) & 63;
        switch (f6) {
        case 0x00: return OP_SLLI;
        case 0x0a: return OP_BSETI;
        case 0x12: return OP_BCLRI;
        case 0x1a: return OP_BINVI;
        }
        switch (f12) {
        case 0x600: return OP_CLZ;
        case 0x601: return OP_CTZ;
        case 0x602: return OP_CPOP;
        case 0x604: return OP_SEXT_B;
        case 0x605: return OP_SEXT_H;
        }
        return OP_ILLEGAL;
    case 5:
        o->imm = (r >> 20) & 63;
        if (f12 == 0x287)
            return OP_ORC_B;
        if (f12 == 0x6b8)
            return OP_REV8;
        switch (f6) {
        case 0x00: return OP_SRLI;
        case 0x10: return OP_SRAI;
        case 0x18: return OP_RORI;
        case 0x12: return OP_BEXTI;
        }
        return OP_ILLEGAL;
    }
    return OP_ILLEGAL;
}

static enum rv_op dec_op_imm32(uint32_t r, struct insn *o)
{
    unsigned f3 = (r >> 12) & 7, f7 = r >> 25, f12 = r >> 20;
    switch (f3) {
    case 0:
        o->imm = imm_i(r);
        return OP_ADDIW;
    case 1:
        if ((r >> 26) == 0x02) { /* slli.uw: 6-bit shamt */
            o->imm = (r >> 20) & 63;
            return OP_SLLI_UW;
        }
        o->imm = (r >> 20) & 31;
        if (f7 == 0)
            return OP_SLLIW;
        switch (f12) {
        case 0x600: return OP_CLZW;
        case 0x601: return OP_CTZW;
        case 0x602: return OP_CPOPW;
        }
        return OP_ILLEGAL;
    case 5:
        o->imm = (r >> 20) & 31;
        switch (f7) {
        case 0x00: return OP_SRLIW;
        case 0x20: return OP_SRAIW;
        case 0x30: return OP_RORIW;
        }
        return OP_ILLEGAL;
    }
    return OP_ILLEGAL;
}

static enum rv_op dec_op(uint32_t r)
{
    unsigned f3 = (r >> 12) & 7, f7 = r >> 25;
    switch (f7) {
    case 0x00: {
        static const enum rv_op t[8] = {OP_ADD, OP_SLL, OP_SLT, OP_SLTU,
                                        OP_XOR, OP_SRL, OP_OR,  OP_AND};
        return t[f3];
    }
    case 0x01: {
        static const enum rv_op t[8] = {OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU,
                                        OP_DIV, OP_DIVU, OP_REM,    OP_REMU};
        return t[f3];
    }
    case 0x20:
        switch (f3) {
        case 0: return OP_SUB;
        case 4: return OP_XNOR;
        case 5: return OP_SRA;
        case 6: return OP_ORN;
        case 7: return OP_ANDN;
        }
        return OP_ILLEGAL;
    case 0x10:
        switch (f3) {
        case 2: return OP_SH1ADD;
        case 4: return OP_SH2ADD;
        case 6: return OP_SH3ADD;
        }
        return OP_ILLEGAL;
    case 0x05:
        switch (f3) {
        case 4: return OP_MIN;
        case 5: return OP_MINU;
        case 6: return OP_MAX;
        case 7: return OP_MAXU;
        }
        return OP_ILLEGAL;
    case 0x30:
        return f3 == 1 ? OP_ROL : f3 == 5 ? OP_ROR : OP_ILLEGAL;
    case 0x14:
        return f3 == 1 ? OP_BSET : OP_ILLEGAL;
    case 0x24:
        return f3 == 1 ? OP_BCLR : f3 == 5 ? OP_BEXT : OP_ILLEGAL;
    case 0x34:
        return f3 == 1 ? OP_BINV : OP_ILLEGAL;
    }
    return OP_ILLEGAL;
}

static enum rv_op dec_op32(uint32_t r)
{
    unsigned f3 = (r >> 12) & 7, f7 = r >> 25, rs2 = (r >> 20) & 31;
    switch (f7) {
    case 0x00:
        return f3 == 0 ? OP_ADDW : f3 == 1 ? OP_SLLW : f3 == 5 ? OP_SRLW
                                                              : OP_ILLEGAL;
    case 0x20:
        return f3 == 0 ? OP_SUBW : f3 == 5 ? OP_SRAW : OP_ILLEGAL;
    case 0x01:
        switch (f3) {
        case 0: return OP_MULW;
        case 4: return OP_DIVW;
        case 5: return OP_DIVUW;
        case 6: return OP_REMW;
        case 7: return OP_REMUW;
        }
        return OP_ILLEGAL;
    case 0x04:
        if (f3 == 0)
            return OP_ADD_UW;
        if (f3 == 4 && rs2 == 0)
            return OP_ZEXT_H;
        return OP_ILLEGAL;
    case 0x10:
        switch (f3) {
        case 2: return OP_SH1ADD_UW;
        case 4: return OP_SH2ADD_UW;
        case 6: return OP_SH3ADD_UW;
        }
        return OP_ILLEGAL;
    case 0x30:
        return f3 == 1 ? OP_ROLW : f3 == 5 ? OP_RORW : OP_ILLEGAL;
    }
    return OP_ILLEGAL;
}

static enum rv_op dec_system(uint32_t r, struct insn *o)
{
    unsigned f3 = (r >> 12) & 7;
    if (f3 == 0) {
        switch (r) {
        case 0x00000073: return OP_ECALL;
        case 0x00100073: return OP_EBREAK;
        case 0x30200073: return OP_MRET;
        case 0x10200073: return OP_SRET;
        case 0x10500073: return OP_WFI;
        }
        if ((r >> 25) == 0x09 && ((r >> 7) & 31) == 0)
            return OP_SFENCE_VMA;
        return OP_ILLEGAL;
    }
    o->imm = r >> 20;
    switch (f3) {
    case 1: return OP_CSRRW;
    case 2: return OP_CSRRS;
    case 3: return OP_CSRRC;
    case 5: return OP_CSRRWI;
    case 6: return OP_CSRRSI;
    case 7: return OP_CSRRCI;
    }
    return OP_ILLEGAL;
}

static enum rv_op dec_amo(uint32_t r, struct insn *o)
{
    unsigned f3 = (r >> 12) & 7, f5 = r >> 27;
    o->rm = (r >> 25) & 3; /* aq, rl */
    if (f3 != 2 && f3 != 3)
        return OP_ILLEGAL;
    int d = f3 == 3;
    switch (f5) {
    case 0x02:
        if (o->rs2 != 0)
            return OP_ILLEGAL;
        return d ? OP_LR_D : OP_LR_W;
    case 0x03: return d ? OP_SC_D : OP_SC_W;
    case 0x01: return d ? OP_AMOSWAP_D : OP_AMOSWAP_W;
    case 0x00: return d ? OP_AMOADD_D : OP_AMOADD_W;
    case 0x04: return d ? OP_AMOXOR_D : OP_AMOXOR_W;
    case 0x0c: return d ? OP_AMOAND_D : OP_AMOAND_W;
    case 0x08: return d ? OP_AMOOR_D : OP_AMOOR_W;
    case 0x10: return d ? OP_AMOMIN_D : OP_AMOMIN_W;
    case 0x14: return d ? OP_AMOMAX_D : OP_AMOMAX_W;
    case 0x18: return d ? OP_AMOMINU_D : OP_AMOMINU_W;
    case 0x1c: return d ? OP_AMOMAXU_D : OP_AMOMAXU_W;
    }
    return OP_ILLEGAL;
}

/* rm 5 and 6 are reserved; 7 (dynamic) is checked against frm at run time. */
static inline enum rv_op with_rm(const struct insn *o, enum rv_op op)
{
    return (o->rm == 5 || o->rm == 6) ? OP_ILLEGAL : op;
}

static enum rv_op dec_op_fp(uint32_t r, struct insn *o)
{
    unsigned f3 = (r >> 12) & 7, f7 = r >> 25, rs2 = o->rs2;
    int d = f7 & 1;
    switch (f7 & ~1u) {
    case 0x00: return with_rm(o, d ? OP_FADD_D : OP_FADD_S);
    case 0x04: return with_rm(o, d ? OP_FSUB_D : OP_FSUB_S);
    case 0x08: return with_rm(o, d ? OP_FMUL_D : OP_FMUL_S);
    case 0x0c: return with_rm(o, d ? OP_FDIV_D : OP_FDIV_S);
    case 0x2c:
        if (rs2 != 0)
            return OP_ILLEGAL;
        return with_rm(o, d ? OP_FSQRT_D : OP_FSQRT_S);
    case 0x10:
        switch (f3) {
        case 0: return d ? OP_FSGNJ_D : OP_FSGNJ_S;
        case 1: return d ? OP_FSGNJN_D : OP_FSGNJN_S;
        case 2: return d ? OP_FSGNJX_D : OP_FSGNJX_S;
        }
        return OP_ILLEGAL;
    case 0x14:
        switch (f3) {
        case 0: return d ? OP_FMIN_D : OP_FMIN_S;
        case 1: return d ? OP_FMAX_D : OP_FMAX_S;
        }
        return OP_ILLEGAL;
    case 0x20:
        if (!d && rs2 == 1)
            return with_rm(o, OP_FCVT_S_D);
        if (d && rs2 == 0)
            return with_rm(o, OP_FCVT_D_S);
        return OP_ILLEGAL;
    case 0x50:
        switch (f3) {
        case 0: return d ? OP_FLE_D : OP_FLE_S;
        case 1: return d ? OP_FLT_D : OP_FLT_S;
        case 2: return d ? OP_FEQ_D : OP_FEQ_S;
        }
        return OP_ILLEGAL;
    case 0x60: {
        static const enum rv_op s[4] = {OP_FCVT_W_S, OP_FCVT_WU_S, OP_FCVT_L_S,
                                        OP_FCVT_LU_S};
        static const enum rv_op dd[4] = {OP_FCVT_W_D, OP_FCVT_WU_D,
                                         OP_FCVT_L_D, OP_FCVT_LU_D};
        if (rs2 > 3)
            return OP_ILLEGAL;
        return with_rm(o, d ? dd[rs2] : s[rs2]);
    }
    case 0x68: {
        static const enum rv_op s[4] = {OP_FCVT_S_W, OP_FCVT_S_WU, OP_FCVT_S_L,
                                        OP_FCVT_S_LU};
        static const enum rv_op dd[4] = {OP_FCVT_D_W, OP_FCVT_D_WU,
                                         OP_FCVT_D_L, OP_FCVT_D_LU};
        if (rs2 > 3)
            return OP_ILLEGAL;
        return with_rm(o, d ? dd[rs2] : s[rs2]);
    }
    case 0x70:
        if (rs2 != 0)
            return OP_ILLEGAL;
        if (f3 == 0)
            return d ? OP_FMV_X_D : OP_FMV_X_W;
        if (f3 == 1)
            return d ? OP_FCLASS_D : OP_FCLASS_S;
        return OP_ILLEGAL;
    case 0x78:
        if (rs2 != 0 || f3 != 0)
            return OP_ILLEGAL;
        return d ? OP_FMV_D_X : OP_FMV_W_X;
    }
    return OP_ILLEGAL;
}

void rv_decode32(uint32_t r, struct insn *o)
{
    unsigned f3 = (r >> 12) & 7;
    enum rv_op op = OP_ILLEGAL;

    o->raw = r;
    o->len = 4;
    o->rd = (r >> 7) & 31;
    o->rs1 = (r >> 15) & 31;
    o->rs2 = (r >> 20) & 31;
    o->rs3 = r >> 27;
    o->rm = f3;
    o->imm = 0;
    o->nmem = 0;

    switch (r & 0x7f) {
    case 0x37:
        o->imm = imm_u(r);
        op = OP_LUI;
        break;
    case 0x17:
        o->imm = imm_u(r);
        op = OP_AUIPC;
        break;
    case 0x6f:
        o->imm = imm_j(r);
        op = OP_JAL;
        break;
    case 0x67:
        o->imm = imm_i(r);
        op = f3 == 0 ? OP_JALR : OP_ILLEGAL;
        break;
    case 0x63: {
        static const enum rv_op t[8] = {OP_BEQ,     OP_BNE, OP_ILLEGAL,
                                        OP_ILLEGAL, OP_BLT, OP_BGE,
                                        OP_BLTU,    OP_BGEU};
        o->imm = imm_b(r);
        op = t[f3];
        break;
    }
    case 0x03: {
        static const enum rv_op t[8] = {OP_LB,  OP_LH,  OP_LW,  OP_LD,
                                        OP_LBU, OP_LHU, OP_LWU, OP_ILLEGAL};
        o->imm = imm_i(r);
        op = t[f3];
        break;
    }
    case 0x23: {
        static const enum rv_op t[8] = {OP_SB, OP_SH, OP_SW, OP_SD};
        o->imm = imm_s(r);
        op = f3 < 4 ? t[f3] : OP_ILLEGAL;
        break;
    }
    case 0x13:
        op = dec_op_imm(r, o);
        break;
    case 0x1b:
        op = dec_op_imm32(r, o);
        break;
    case 0x33:
        op = dec_op(r);
        break;
    case 0x3b:
        op = dec_op32(r);
        break;
    case 0x0f:
        o->imm = imm_i(r);
        if (f3 == 0)
            op = OP_FENCE; /* includes pause and fence.tso */
        else if (f3 == 1)
            op = OP_FENCE_I;
        break;
    case 0x73:
        op = dec_system(r, o);
        break;
    case 0x2f:
        op = dec_amo(r, o);
        break;
    case 0x07:
        o->imm = imm_i(r);
        op = f3 == 2 ? OP_FLW : f3 == 3 ? OP_FLD : OP_ILLEGAL;
        break;
    case 0x27:
        o->imm = imm_s(r);
        op = f3 == 2 ? OP_FSW : f3 == 3 ? OP_FSD : OP_ILLEGAL;
        break;
    case 0x43: case 0x47: case 0x4b: case 0x4f: {
        unsigned fmt = (r >> 25) & 3, k = ((r & 0x7f) - 0x43) >> 2;
        static const enum rv_op s[4] = {OP_FMADD_S, OP_FMSUB_S, OP_FNMSUB_S,
                                        OP_FNMADD_S};
        static const enum rv_op d[4] = {OP_FMADD_D, OP_FMSUB_D, OP_FNMSUB_D,
                                        OP_FNMADD_D};
        if (fmt == 0)
            op = with_rm(o, s[k]);
        else if (fmt == 1)
            op = with_rm(o, d[k]);
        break;
    }
    case 0x53:
        op = dec_op_fp(r, o);
        break;
    }
    o->op = (uint16_t)op;
}

void rv_decode(uint32_t raw, struct insn *out)
{
    if ((raw & 3) == 3)
        rv_decode32(raw, out);
    else
        rv_decode16((uint16_t)raw, out);
}

int rv_op_is_pure(unsigned op)
{
    switch (op) {
    case OP_LUI: case OP_AUIPC:
    case OP_ADDI: case OP_SLTI: case OP_SLTIU: case OP_XORI: case OP_ORI:
    case OP_ANDI: case OP_SLLI: case OP_SRLI: case OP_SRAI:
    case OP_ADD: case OP_SUB: case OP_SLL: case OP_SLT: case OP_SLTU:
    case OP_XOR: case OP_SRL: case OP_SRA: case OP_OR: case OP_AND:
    case OP_ADDIW: case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
    case OP_ADDW: case OP_SUBW: case OP_SLLW: case OP_SRLW: case OP_SRAW:
    case OP_MUL: case OP_MULH: case OP_MULHSU: case OP_MULHU: case OP_DIV:
    case OP_DIVU: case OP_REM: case OP_REMU: case OP_MULW: case OP_DIVW:
    case OP_DIVUW: case OP_REMW: case OP_REMUW:
    case OP_SH1ADD: case OP_SH2ADD: case OP_SH3ADD: case OP_ADD_UW:
    case OP_SH1ADD_UW: case OP_SH2ADD_UW: case OP_SH3ADD_UW: case OP_SLLI_UW:
    case OP_ANDN: case OP_ORN: case OP_XNOR: case OP_CLZ: case OP_CTZ:
    case OP_CPOP: case OP_CLZW: case OP_CTZW: case OP_CPOPW: case OP_MAX:
    case OP_MAXU: case OP_MIN: case OP_MINU: case OP_SEXT_B: case OP_SEXT_H:
    case OP_ZEXT_H: case OP_ROL: case OP_ROR: case OP_RORI: case OP_ROLW:
    case OP_RORW: case OP_RORIW: case OP_ORC_B: case OP_REV8:
    case OP_BCLR: case OP_BCLRI: case OP_BEXT: case OP_BEXTI: case OP_BINV:
    case OP_BINVI: case OP_BSET: case OP_BSETI:
        return 1;
    }
    return 0;
}

int rv_op_ends_block(unsigned op)
{
    switch (op) {
    case OP_JAL: case OP_JALR:
    case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU:
    case OP_BGEU:
    case OP_FENCE_I: case OP_ECALL: case OP_EBREAK: case OP_MRET:
    case OP_SRET: case OP_WFI: case OP_SFENCE_VMA:
    case OP_CSRRW: case OP_CSRRS: case OP_CSRRC: case OP_CSRRWI:
    case OP_CSRRSI: case OP_CSRRCI:
    case OP_ILLEGAL:
        return 1;
    }
    return 0;
}

const char *rv_op_name(unsigned op)
{
    static const char *const names[OP_COUNT] = {
#define RV_OP_NAME(n) #n,
        RV_OPS(RV_OP_NAME)
#undef RV_OP_NAME
    };
    return op < OP_COUNT ? names[op] : "?";
}
