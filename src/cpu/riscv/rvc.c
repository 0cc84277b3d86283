/* Compressed (C extension, RV64) decoding straight into the op and operands
 * of the equivalent 32-bit instruction; len = 2 and raw = the 16 bits so an
 * illegal compressed instruction reports its own encoding as tval.
 * Reserved encodings (and the all-zero parcel) are OP_ILLEGAL; HINTs decode
 * as the instruction they expand to (which writes x0, so they do nothing). */
#include "cpu/riscv/decode.h"

#define BIT(r, n) (((unsigned)(r) >> (n)) & 1u)
#define BITS(r, hi, lo) (((unsigned)(r) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))

static inline int64_t sext(uint64_t v, unsigned bits)
{
    return (int64_t)(v << (64 - bits)) >> (64 - bits);
}

/* CI-format 6-bit immediate: imm[5] = bit 12, imm[4:0] = bits 6:2 */
static inline int64_t ci_imm(uint16_t r)
{
    return sext(BIT(r, 12) << 5 | BITS(r, 6, 2), 6);
}

static void set(struct insn *o, enum rv_op op, unsigned rd, unsigned rs1,
                unsigned rs2, int64_t imm)
{
    o->op = (uint16_t)op;
    o->rd = (uint8_t)rd;
    o->rs1 = (uint8_t)rs1;
    o->rs2 = (uint8_t)rs2;
    o->imm = imm;
}

static void q0(uint16_t r, struct insn *o)
{
    unsigned rdp = 8 + BITS(r, 4, 2), rs1p = 8 + BITS(r, 9, 7);
    /* offsets of C.LD/C.SD/C.FLD/C.FSD and of C.LW/C.SW */
    unsigned off_d = BITS(r, 12, 10) << 3 | BITS(r, 6, 5) << 6;
    unsigned off_w = BITS(r, 12, 10) << 3 | BIT(r, 6) << 2 | BIT(r, 5) << 6;

    switch (BITS(r, 15, 13)) {
    case 0: {
        unsigned nz = BITS(r, 12, 11) << 4 | BITS(r, 10, 7) << 6 |
                      BIT(r, 6) << 2 | BIT(r, 5) << 3;
        if (nz)
            set(o, OP_ADDI, rdp, 2, 0, nz);
        break;
    }
    case 1: set(o, OP_FLD, rdp, rs1p, 0, off_d); break;
    case 2: set(o, OP_LW, rdp, rs1p, 0, off_w); break;
    case 3: set(o, OP_LD, rdp, rs1p, 0, off_d); break;
    case 5: set(o, OP_FSD, 0, rs1p, rdp, off_d); break;
    case 6: set(o, OP_SW, 0, rs1p, rdp, off_w); break;
    case 7: set(o, OP_SD, 0, rs1p, rdp, off_d); break;
    }
}

static void q1(uint16_t r, struct insn *o)
{
    unsigned rd = BITS(r, 11, 7);
    unsigned rdp = 8 + BITS(r, 9, 7), rs2p = 8 + BITS(r, 4, 2);

    switch (BITS(r, 15, 13)) {
    case 0: set(o, OP_ADDI, rd, rd, 0, ci_imm(r)); break;
    case 1:
        if (rd)
            set(o, OP_ADDIW, rd, rd, 0, ci_imm(r));
        break;
    case 2: set(o, OP_ADDI, rd, 0, 0, ci_imm(r)); break;
    case 3:
        if (rd == 2) {
            int64_t imm = sext(BIT(r, 12) << 9 | BIT(r, 6) << 4 |
                               BIT(r, 5) << 6 | BITS(r, 4, 3) << 7 |
                               BIT(r, 2) << 5, 10);
            if (imm)
                set(o, OP_ADDI, 2, 2, 0, imm);
        } else {
            int64_t imm = ci_imm(r) * 4096;
            if (imm)
                set(o, OP_LUI, rd, 0, 0, imm);
        }
        break;
    case 4: {
        unsigned shamt = BIT(r, 12) << 5 | BITS(r, 6, 2);
        switch (BITS(r, 11, 10)) {
        case 0: set(o, OP_SRLI, rdp, rdp, 0, shamt); break;
        case 1: set(o, OP_SRAI, rdp, rdp, 0, shamt); break;
        case 2: set(o, OP_ANDI, rdp, rdp, 0, ci_imm(r)); break;
        case 3: {
            static const enum rv_op t[8] = {OP_SUB,  OP_XOR,  OP_OR,
                                            OP_AND,  OP_SUBW, OP_ADDW,
                                            OP_ILLEGAL, OP_ILLEGAL};
            enum rv_op op = t[BIT(r, 12) << 2 | BITS(r, 6, 5)];
            if (op != OP_ILLEGAL)
                set(o, op, rdp, rdp, rs2p, 0);
            break;
        }
        }
        break;
    }
    case 5: {
        int64_t off = sext(BIT(r, 12) << 11 | BIT(r, 11) << 4 |
                           BITS(r, 10, 9) << 8 | BIT(r, 8) << 10 |
                           BIT(r, 7) << 6 | BIT(r, 6) << 7 |
                           BITS(r, 5, 3) << 1 | BIT(r, 2) << 5, 12);
        set(o, OP_JAL, 0, 0, 0, off);
        break;
    }
    case 6: case 7: {
        int64_t off = sext(BIT(r, 12) << 8 | BITS(r, 11, 10) << 3 |
                           BITS(r, 6, 5) << 6 | BITS(r, 4, 3) << 1 |
                           BIT(r, 2) << 5, 9);
        set(o, BITS(r, 15, 13) == 6 ? OP_BEQ : OP_BNE, 0, rdp, 0, off);
        break;
    }
    }
}

static void q2(uint16_t r, struct insn *o)
{
    unsigned rd = BITS(r, 11, 7), rs2 = BITS(r, 6, 2);
    unsigned off_dsp = BIT(r, 12) << 5 | BITS(r, 6, 5) << 3 | BITS(r, 4, 2) << 6;
    unsigned off_wsp = BIT(r, 12) << 5 | BITS(r, 6, 4) << 2 | BITS(r, 3, 2) << 6;
    unsigned soff_d = BITS(r, 12, 10) << 3 | BITS(r, 9, 7) << 6;
    unsigned soff_w = BITS(r, 12, 9) << 2 | BITS(r, 8, 7) << 6;

    switch (BITS(r, 15, 13)) {
    case 0: set(o, OP_SLLI, rd, rd, 0, BIT(r, 12) << 5 | BITS(r, 6, 2)); break;
    case 1: set(o, OP_FLD, rd, 2, 0, off_dsp); break;
    case 2:
        if (rd)
            set(o, OP_LW, rd, 2, 0, off_wsp);
        break;
    case 3:
        if (rd)
            set(o, OP_LD, rd, 2, 0, off_dsp);
        break;
    case 4:
        if (!BIT(r, 12)) {
            if (rs2)
                set(o, OP_ADD, rd, 0, rs2, 0); /* c.mv */
            else if (rd)
                set(o, OP_JALR, 0, rd, 0, 0); /* c.jr */
        } else {
            if (rs2)
                set(o, OP_ADD, rd, rd, rs2, 0); /* c.add */
            else if (rd)
                set(o, OP_JALR, 1, rd, 0, 0); /* c.jalr */
            else
                set(o, OP_EBREAK, 0, 0, 0, 0);
        }
        break;
    case 5: set(o, OP_FSD, 0, 2, rs2, soff_d); break;
    case 6: set(o, OP_SW, 0, 2, rs2, soff_w); break;
    case 7: set(o, OP_SD, 0, 2, rs2, soff_d); break;
    }
}

void rv_decode16(uint16_t r, struct insn *o)
{
    o->raw = r;
    o->len = 2;
    o->rm = 7; /* compressed FP loads/stores have no rm; 7 is harmless */
    o->rs3 = 0;
    o->nmem = 0;
    set(o, OP_ILLEGAL, 0, 0, 0, 0);
    switch (r & 3) {
    case 0: q0(r, o); break;
    case 1: q1(r, o); break;
    case 2: q2(r, o); break;
    default: break; /* not compressed: caller's mistake, stays illegal */
    }
}
