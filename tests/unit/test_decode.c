/* The decoder (decode.c, rvc.c): encodings assembled by hand from their
 * fields for every instruction class, decoded back and checked field by
 * field; every compressed form checked against its 32-bit meaning; and
 * reserved encodings rejected. (The decoder was also cross-checked once
 * against binutils' disassembler over all 16-bit encodings and ~150k
 * 32-bit ones; see the report that introduced it.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "rv_encode.h"

#include "cpu/riscv/decode.h"

static uint32_t r4_type(unsigned rs3, unsigned fmt, unsigned rs2, unsigned rs1,
                        unsigned rm, unsigned rd, unsigned op)
{
    return rs3 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 |
           op;
}
static uint32_t amo(unsigned f5, unsigned aqrl, unsigned rs2, unsigned rs1,
                    unsigned f3, unsigned rd)
{
    return f5 << 27 | aqrl << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 |
           0x2f;
}

/* Decode `raw` and compare; -1 in an expected field means "don't care". */
static void check(uint32_t raw, unsigned op, int rd, int rs1, int rs2,
                  int64_t imm, int imm_care, unsigned len)
{
    struct insn in;
    rv_decode(raw, &in);
    if (in.op != op)
        fprintf(stderr, "raw %08x: op %s, want %s\n", raw, rv_op_name(in.op),
                rv_op_name(op));
    assert_int_equal(in.op, op);
    assert_int_equal(in.len, len);
    assert_int_equal(in.raw, len == 2 ? (raw & 0xffff) : raw);
    if (rd >= 0)
        assert_int_equal(in.rd, rd);
    if (rs1 >= 0)
        assert_int_equal(in.rs1, rs1);
    if (rs2 >= 0)
        assert_int_equal(in.rs2, rs2);
    if (imm_care)
        assert_int_equal(in.imm, imm);
}
#define CK(raw, op, rd, rs1, rs2, imm) check(raw, OP_##op, rd, rs1, rs2, imm, 1, 4)
#define CKN(raw, op, rd, rs1, rs2) check(raw, OP_##op, rd, rs1, rs2, 0, 0, 4)
#define CC(raw, op, rd, rs1, rs2, imm) check(raw, OP_##op, rd, rs1, rs2, imm, 1, 2)
#define ILL(raw) check(raw, OP_ILLEGAL, -1, -1, -1, 0, 0, ((raw) & 3) == 3 ? 4 : 2)

static void test_rv64i(void **state)
{
    CK(0xfffff0b7u, LUI, 1, -1, -1, (int64_t)0xfffffffffffff000LL);
    CK(0x12345117u, AUIPC, 2, -1, -1, 0x12345000);
    CK(j_type(-4, 1), JAL, 1, -1, -1, -4);
    CK(j_type(0xffffe, 5), JAL, 5, -1, -1, 0xffffe);
    CK(j_type(-0x100000, 0), JAL, 0, -1, -1, -0x100000);
    CK(i_type(-2048, 7, 0, 3, 0x67), JALR, 3, 7, -1, -2048);
    ILL(i_type(0, 7, 1, 3, 0x67));
    static const unsigned bops[8] = {OP_BEQ, OP_BNE, 0, 0,
                                     OP_BLT, OP_BGE, OP_BLTU, OP_BGEU};
    for (unsigned f3 = 0; f3 < 8; f3++) {
        uint32_t raw = b_type(-4096, 9, 8, f3);
        if (f3 == 2 || f3 == 3)
            ILL(raw);
        else
            check(raw, bops[f3], -1, 8, 9, -4096, 1, 4);
    }
    CK(b_type(4094, 31, 30, 0), BEQ, -1, 30, 31, 4094);
    static const unsigned lops[7] = {OP_LB,  OP_LH,  OP_LW, OP_LD,
                                     OP_LBU, OP_LHU, OP_LWU};
    for (unsigned f3 = 0; f3 < 7; f3++)
        check(i_type(-1, 10, f3, 11, 0x03), lops[f3], 11, 10, -1, -1, 1, 4);
    ILL(i_type(0, 10, 7, 11, 0x03));
    static const unsigned sops[4] = {OP_SB, OP_SH, OP_SW, OP_SD};
    for (unsigned f3 = 0; f3 < 4; f3++)
        check(s_type(-33, 12, 13, f3, 0x23), sops[f3], -1, 13, 12, -33, 1, 4);
    ILL(s_type(0, 12, 13, 4, 0x23));
    CK(i_type(2047, 1, 0, 2, 0x13), ADDI, 2, 1, -1, 2047);
    CK(i_type(-5, 1, 2, 2, 0x13), SLTI, 2, 1, -1, -5);
    CK(i_type(-5, 1, 3, 2, 0x13), SLTIU, 2, 1, -1, -5);
    CK(i_type(0x7ff, 1, 4, 2, 0x13), XORI, 2, 1, -1, 0x7ff);
    CK(i_type(1, 1, 6, 2, 0x13), ORI, 2, 1, -1, 1);
    CK(i_type(-1, 1, 7, 2, 0x13), ANDI, 2, 1, -1, -1);
    CK(i_type(63, 1, 1, 2, 0x13), SLLI, 2, 1, -1, 63);
    CK(i_type(63, 1, 5, 2, 0x13), SRLI, 2, 1, -1, 63);
    CK(i_type(0x400 | 63, 1, 5, 2, 0x13), SRAI, 2, 1, -1, 63);
    ILL(i_type(0x200, 1, 1, 2, 0x13)); /* slli with funct6 = 0x08 */
    static const unsigned rops[8] = {OP_ADD, OP_SLL, OP_SLT, OP_SLTU,
                                     OP_XOR, OP_SRL, OP_OR,  OP_AND};
    for (unsigned f3 = 0; f3 < 8; f3++)
        check(r_type(0, 3, 4, f3, 5, 0x33), rops[f3], 5, 4, 3, 0, 0, 4);
    CKN(r_type(0x20, 3, 4, 0, 5, 0x33), SUB, 5, 4, 3);
    CKN(r_type(0x20, 3, 4, 5, 5, 0x33), SRA, 5, 4, 3);
    ILL(r_type(0x20, 3, 4, 1, 5, 0x33));
    ILL(r_type(0x02, 3, 4, 0, 5, 0x33));
    CK(i_type(-1, 6, 0, 7, 0x1b), ADDIW, 7, 6, -1, -1);
    CK(i_type(31, 6, 1, 7, 0x1b), SLLIW, 7, 6, -1, 31);
    CK(i_type(31, 6, 5, 7, 0x1b), SRLIW, 7, 6, -1, 31);
    CK(i_type(0x400 | 31, 6, 5, 7, 0x1b), SRAIW, 7, 6, -1, 31);
    ILL(i_type(32, 6, 1, 7, 0x1b)); /* shamt[5] set in a W shift */
    CKN(r_type(0, 3, 4, 0, 5, 0x3b), ADDW, 5, 4, 3);
    CKN(r_type(0x20, 3, 4, 0, 5, 0x3b), SUBW, 5, 4, 3);
    CKN(r_type(0, 3, 4, 1, 5, 0x3b), SLLW, 5, 4, 3);
    CKN(r_type(0, 3, 4, 5, 5, 0x3b), SRLW, 5, 4, 3);
    CKN(r_type(0x20, 3, 4, 5, 5, 0x3b), SRAW, 5, 4, 3);
    ILL(r_type(0, 3, 4, 2, 5, 0x3b));
    ILL(0x0000007fu); /* 64-bit+ encoding space */
    ILL(0xffffffffu);
    CK(0x00000003u, LB, 0, 0, -1, 0); /* lb x0, 0(x0): legal */
}

static void test_system(void **state)
{
    CKN(0x00000073u, ECALL, -1, -1, -1);
    CKN(0x00100073u, EBREAK, -1, -1, -1);
    CKN(0x30200073u, MRET, -1, -1, -1);
    CKN(0x10200073u, SRET, -1, -1, -1);
    CKN(0x10500073u, WFI, -1, -1, -1);
    CKN(r_type(0x09, 7, 6, 0, 0, 0x73), SFENCE_VMA, 0, 6, 7);
    ILL(r_type(0x09, 7, 6, 0, 1, 0x73)); /* rd != 0 */
    ILL(0x00200073u);                    /* uret: not implemented */
    ILL(0x7b200073u);                    /* dret */
    CK(i_type(0x300, 5, 1, 6, 0x73), CSRRW, 6, 5, -1, 0x300);
    CK(i_type(0xc00, 0, 2, 6, 0x73), CSRRS, 6, 0, -1, 0xc00);
    CK(i_type(0xfff, 5, 3, 6, 0x73), CSRRC, 6, 5, -1, 0xfff);
    CK(i_type(0x001, 31, 5, 6, 0x73), CSRRWI, 6, 31, -1, 1);
    CK(i_type(0x002, 1, 6, 6, 0x73), CSRRSI, 6, 1, -1, 2);
    CK(i_type(0x003, 0, 7, 6, 0x73), CSRRCI, 6, 0, -1, 3);
    ILL(i_type(0x300, 5, 4, 6, 0x73));
    CKN(0x0ff0000fu, FENCE, -1, -1, -1);
    CKN(0x8330000fu, FENCE, -1, -1, -1); /* fence.tso */
    CKN(0x0100000fu, FENCE, -1, -1, -1); /* pause */
    CKN(0x0000100fu, FENCE_I, -1, -1, -1);
    ILL(0x0000200fu); /* cbo.*: not implemented */
}

static void test_m_a(void **state)
{
    static const unsigned m64[8] = {OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU,
                                    OP_DIV, OP_DIVU, OP_REM,    OP_REMU};
    for (unsigned f3 = 0; f3 < 8; f3++)
        check(r_type(1, 3, 4, f3, 5, 0x33), m64[f3], 5, 4, 3, 0, 0, 4);
    CKN(r_type(1, 3, 4, 0, 5, 0x3b), MULW, 5, 4, 3);
    CKN(r_type(1, 3, 4, 4, 5, 0x3b), DIVW, 5, 4, 3);
    CKN(r_type(1, 3, 4, 5, 5, 0x3b), DIVUW, 5, 4, 3);
    CKN(r_type(1, 3, 4, 6, 5, 0x3b), REMW, 5, 4, 3);
    CKN(r_type(1, 3, 4, 7, 5, 0x3b), REMUW, 5, 4, 3);
    ILL(r_type(1, 3, 4, 1, 5, 0x3b));

    static const struct { unsigned f5, w, d; } t[] = {
        {0x02, OP_LR_W, OP_LR_D},           {0x03, OP_SC_W, OP_SC_D},
        {0x01, OP_AMOSWAP_W, OP_AMOSWAP_D}, {0x00, OP_AMOADD_W, OP_AMOADD_D},
        {0x04, OP_AMOXOR_W, OP_AMOXOR_D},   {0x0c, OP_AMOAND_W, OP_AMOAND_D},
        {0x08, OP_AMOOR_W, OP_AMOOR_D},     {0x10, OP_AMOMIN_W, OP_AMOMIN_D},
        {0x14, OP_AMOMAX_W, OP_AMOMAX_D},   {0x18, OP_AMOMINU_W, OP_AMOMINU_D},
        {0x1c, OP_AMOMAXU_W, OP_AMOMAXU_D},
    };
    for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
        unsigned rs2 = t[k].f5 == 0x02 ? 0 : 9;
        for (unsigned aqrl = 0; aqrl < 4; aqrl++) {
            check(amo(t[k].f5, aqrl, rs2, 8, 2, 7), t[k].w, 7, 8, rs2, 0, 0, 4);
            check(amo(t[k].f5, aqrl, rs2, 8, 3, 7), t[k].d, 7, 8, rs2, 0, 0, 4);
        }
        ILL(amo(t[k].f5, 0, rs2, 8, 1, 7)); /* no byte/half AMOs */
    }
    ILL(amo(0x02, 0, 1, 8, 2, 7)); /* lr with rs2 != 0 */
    ILL(amo(0x05, 0, 1, 8, 2, 7));
}

static void test_fd(void **state)
{
    CK(i_type(-8, 2, 2, 1, 0x07), FLW, 1, 2, -1, -8);
    CK(i_type(16, 2, 3, 1, 0x07), FLD, 1, 2, -1, 16);
    ILL(i_type(16, 2, 4, 1, 0x07));
    CK(s_type(-8, 3, 2, 2, 0x27), FSW, -1, 2, 3, -8);
    CK(s_type(24, 3, 2, 3, 0x27), FSD, -1, 2, 3, 24);
    static const unsigned fma_s[4] = {OP_FMADD_S, OP_FMSUB_S, OP_FNMSUB_S,
                                      OP_FNMADD_S};
    static const unsigned fma_d[4] = {OP_FMADD_D, OP_FMSUB_D, OP_FNMSUB_D,
                                      OP_FNMADD_D};
    for (unsigned k = 0; k < 4; k++) {
        struct insn in;
        rv_decode(r4_type(29, 0, 2, 3, 7, 4, 0x43 + 4 * k), &in);
        assert_int_equal(in.op, fma_s[k]);
        assert_int_equal(in.rs3, 29);
        assert_int_equal(in.rm, 7);
        rv_decode(r4_type(29, 1, 2, 3, 1, 4, 0x43 + 4 * k), &in);
        assert_int_equal(in.op, fma_d[k]);
        ILL(r4_type(29, 2, 2, 3, 1, 4, 0x43 + 4 * k)); /* fmt H: absent */
        ILL(r4_type(29, 0, 2, 3, 5, 4, 0x43 + 4 * k)); /* rm 5 */
    }
    /* arithmetic with every rm: 5 and 6 reserved */
    for (unsigned rm = 0; rm < 8; rm++) {
        uint32_t raw = r_type(0x01, 2, 3, rm, 4, 0x53);
        if (rm == 5 || rm == 6) {
            ILL(raw);
        } else {
            struct insn in;
            rv_decode(raw, &in);
            assert_int_equal(in.op, OP_FADD_D);
            assert_int_equal(in.rm, rm);
        }
    }
    CKN(r_type(0x00, 2, 3, 0, 4, 0x53), FADD_S, 4, 3, 2);
    CKN(r_type(0x04, 2, 3, 0, 4, 0x53), FSUB_S, 4, 3, 2);
    CKN(r_type(0x08, 2, 3, 0, 4, 0x53), FMUL_S, 4, 3, 2);
    CKN(r_type(0x0c, 2, 3, 0, 4, 0x53), FDIV_S, 4, 3, 2);
    CKN(r_type(0x05, 2, 3, 0, 4, 0x53), FSUB_D, 4, 3, 2);
    CKN(r_type(0x09, 2, 3, 0, 4, 0x53), FMUL_D, 4, 3, 2);
    CKN(r_type(0x0d, 2, 3, 0, 4, 0x53), FDIV_D, 4, 3, 2);
    CKN(r_type(0x2c, 0, 3, 0, 4, 0x53), FSQRT_S, 4, 3, -1);
    CKN(r_type(0x2d, 0, 3, 0, 4, 0x53), FSQRT_D, 4, 3, -1);
    ILL(r_type(0x2c, 1, 3, 0, 4, 0x53));
    CKN(r_type(0x10, 2, 3, 0, 4, 0x53), FSGNJ_S, 4, 3, 2);
    CKN(r_type(0x10, 2, 3, 1, 4, 0x53), FSGNJN_S, 4, 3, 2);
    CKN(r_type(0x10, 2, 3, 2, 4, 0x53), FSGNJX_S, 4, 3, 2);
    ILL(r_type(0x10, 2, 3, 3, 4, 0x53));
    CKN(r_type(0x11, 2, 3, 0, 4, 0x53), FSGNJ_D, 4, 3, 2);
    CKN(r_type(0x11, 2, 3, 1, 4, 0x53), FSGNJN_D, 4, 3, 2);
    CKN(r_type(0x11, 2, 3, 2, 4, 0x53), FSGNJX_D, 4, 3, 2);
    CKN(r_type(0x14, 2, 3, 0, 4, 0x53), FMIN_S, 4, 3, 2);
    CKN(r_type(0x14, 2, 3, 1, 4, 0x53), FMAX_S, 4, 3, 2);
    CKN(r_type(0x15, 2, 3, 0, 4, 0x53), FMIN_D, 4, 3, 2);
    CKN(r_type(0x15, 2, 3, 1, 4, 0x53), FMAX_D, 4, 3, 2);
    ILL(r_type(0x14, 2, 3, 2, 4, 0x53));
    CKN(r_type(0x20, 1, 3, 7, 4, 0x53), FCVT_S_D, 4, 3, -1);
    CKN(r_type(0x21, 0, 3, 7, 4, 0x53), FCVT_D_S, 4, 3, -1);
    ILL(r_type(0x20, 0, 3, 7, 4, 0x53));
    CKN(r_type(0x50, 2, 3, 2, 4, 0x53), FEQ_S, 4, 3, 2);
    CKN(r_type(0x50, 2, 3, 1, 4, 0x53), FLT_S, 4, 3, 2);
    CKN(r_type(0x50, 2, 3, 0, 4, 0x53), FLE_S, 4, 3, 2);
    CKN(r_type(0x51, 2, 3, 2, 4, 0x53), FEQ_D, 4, 3, 2);
    CKN(r_type(0x51, 2, 3, 1, 4, 0x53), FLT_D, 4, 3, 2);
    CKN(r_type(0x51, 2, 3, 0, 4, 0x53), FLE_D, 4, 3, 2);
    ILL(r_type(0x50, 2, 3, 3, 4, 0x53));
    static const unsigned to_int[2][4] = {
        {OP_FCVT_W_S, OP_FCVT_WU_S, OP_FCVT_L_S, OP_FCVT_LU_S},
        {OP_FCVT_W_D, OP_FCVT_WU_D, OP_FCVT_L_D, OP_FCVT_LU_D}};
    static const unsigned from_int[2][4] = {
        {OP_FCVT_S_W, OP_FCVT_S_WU, OP_FCVT_S_L, OP_FCVT_S_LU},
        {OP_FCVT_D_W, OP_FCVT_D_WU, OP_FCVT_D_L, OP_FCVT_D_LU}};
    for (unsigned d = 0; d < 2; d++) {
        for (unsigned k = 0; k < 4; k++) {
            check(r_type(0x60 | d, k, 3, 1, 4, 0x53), to_int[d][k], 4, 3, k,
                  0, 0, 4);
            check(r_type(0x68 | d, k, 3, 1, 4, 0x53), from_int[d][k], 4, 3,
                  k, 0, 0, 4);
        }
        ILL(r_type(0x60 | d, 4, 3, 1, 4, 0x53));
        ILL(r_type(0x68 | d, 5, 3, 1, 4, 0x53));
    }
    CKN(r_type(0x70, 0, 3, 0, 4, 0x53), FMV_X_W, 4, 3, -1);
    CKN(r_type(0x70, 0, 3, 1, 4, 0x53), FCLASS_S, 4, 3, -1);
    CKN(r_type(0x71, 0, 3, 0, 4, 0x53), FMV_X_D, 4, 3, -1);
    CKN(r_type(0x71, 0, 3, 1, 4, 0x53), FCLASS_D, 4, 3, -1);
    CKN(r_type(0x78, 0, 3, 0, 4, 0x53), FMV_W_X, 4, 3, -1);
    CKN(r_type(0x79, 0, 3, 0, 4, 0x53), FMV_D_X, 4, 3, -1);
    ILL(r_type(0x78, 0, 3, 1, 4, 0x53));
    ILL(r_type(0x70, 1, 3, 0, 4, 0x53));
    ILL(r_type(0x02, 2, 3, 0, 4, 0x53)); /* fadd.q: no Q */
}

static void test_bitmanip(void **state)
{
    CKN(r_type(0x10, 2, 3, 2, 4, 0x33), SH1ADD, 4, 3, 2);
    CKN(r_type(0x10, 2, 3, 4, 4, 0x33), SH2ADD, 4, 3, 2);
    CKN(r_type(0x10, 2, 3, 6, 4, 0x33), SH3ADD, 4, 3, 2);
    CKN(r_type(0x04, 2, 3, 0, 4, 0x3b), ADD_UW, 4, 3, 2);
    CKN(r_type(0x10, 2, 3, 2, 4, 0x3b), SH1ADD_UW, 4, 3, 2);
    CKN(r_type(0x10, 2, 3, 4, 4, 0x3b), SH2ADD_UW, 4, 3, 2);
    CKN(r_type(0x10, 2, 3, 6, 4, 0x3b), SH3ADD_UW, 4, 3, 2);
    CK(i_type(0x080 | 63, 3, 1, 4, 0x1b), SLLI_UW, 4, 3, -1, 63);
    CKN(r_type(0x20, 2, 3, 7, 4, 0x33), ANDN, 4, 3, 2);
    CKN(r_type(0x20, 2, 3, 6, 4, 0x33), ORN, 4, 3, 2);
    CKN(r_type(0x20, 2, 3, 4, 4, 0x33), XNOR, 4, 3, 2);
    CKN(i_type(0x600, 3, 1, 4, 0x13), CLZ, 4, 3, -1);
    CKN(i_type(0x601, 3, 1, 4, 0x13), CTZ, 4, 3, -1);
    CKN(i_type(0x602, 3, 1, 4, 0x13), CPOP, 4, 3, -1);
    CKN(i_type(0x604, 3, 1, 4, 0x13), SEXT_B, 4, 3, -1);
    CKN(i_type(0x605, 3, 1, 4, 0x13), SEXT_H, 4, 3, -1);
    ILL(i_type(0x603, 3, 1, 4, 0x13));
    CKN(i_type(0x600, 3, 1, 4, 0x1b), CLZW, 4, 3, -1);
    CKN(i_type(0x601, 3, 1, 4, 0x1b), CTZW, 4, 3, -1);
    CKN(i_type(0x602, 3, 1, 4, 0x1b), CPOPW, 4, 3, -1);
    CKN(r_type(0x05, 2, 3, 4, 4, 0x33), MIN, 4, 3, 2);
    CKN(r_type(0x05, 2, 3, 5, 4, 0x33), MINU, 4, 3, 2);
    CKN(r_type(0x05, 2, 3, 6, 4, 0x33), MAX, 4, 3, 2);
    CKN(r_type(0x05, 2, 3, 7, 4, 0x33), MAXU, 4, 3, 2);
    CKN(r_type(0x04, 0, 3, 4, 4, 0x3b), ZEXT_H, 4, 3, -1);
    ILL(r_type(0x04, 1, 3, 4, 4, 0x3b));
    CKN(r_type(0x30, 2, 3, 1, 4, 0x33), ROL, 4, 3, 2);
    CKN(r_type(0x30, 2, 3, 5, 4, 0x33), ROR, 4, 3, 2);
    CK(i_type(0x600 | 63, 3, 5, 4, 0x13), RORI, 4, 3, -1, 63);
    CKN(r_type(0x30, 2, 3, 1, 4, 0x3b), ROLW, 4, 3, 2);
    CKN(r_type(0x30, 2, 3, 5, 4, 0x3b), RORW, 4, 3, 2);
    CK(i_type(0x600 | 31, 3, 5, 4, 0x1b), RORIW, 4, 3, -1, 31);
    CKN(i_type(0x287, 3, 5, 4, 0x13), ORC_B, 4, 3, -1);
    CKN(i_type(0x6b8, 3, 5, 4, 0x13), REV8, 4, 3, -1);
    ILL(i_type(0x698, 3, 5, 4, 0x13)); /* rev8 of RV32 */
    CKN(r_type(0x24, 2, 3, 1, 4, 0x33), BCLR, 4, 3, 2);
    CKN(r_type(0x24, 2, 3, 5, 4, 0x33), BEXT, 4, 3, 2);
    CKN(r_type(0x34, 2, 3, 1, 4, 0x33), BINV, 4, 3, 2);
    CKN(r_type(0x14, 2, 3, 1, 4, 0x33), BSET, 4, 3, 2);
    CK(i_type(0x480 | 33, 3, 1, 4, 0x13), BCLRI, 4, 3, -1, 33);
    CK(i_type(0x480 | 33, 3, 5, 4, 0x13), BEXTI, 4, 3, -1, 33);
    CK(i_type(0x680 | 33, 3, 1, 4, 0x13), BINVI, 4, 3, -1, 33);
    CK(i_type(0x280 | 33, 3, 1, 4, 0x13), BSETI, 4, 3, -1, 33);
    ILL(r_type(0x05, 2, 3, 1, 4, 0x33)); /* clmul: no Zbc */
}

/* Every compressed form: the op and operands of its 32-bit meaning. */
static void test_compressed(void **state)
{
    /* quadrant 0 */
    CC(0x0040, ADDI, 8, 2, -1, 4);          /* c.addi4spn s0, sp, 4 */
    CC(0x1fe0, ADDI, 8, 2, -1, 1020);       /* max uimm */
    CC(0x2c04, FLD, 9, 8, -1, 24);          /* c.fld fs1, 24(s0) */
    CC(0x4144, LW, 9, 10, -1, 4);           /* c.lw s1, 4(a0) */
    CC(0x5ffc, LW, 15, 15, -1, 124);
    CC(0x6504, LD, 9, 10, -1, 8);           /* c.ld s1, 8(a0) */
    CC(0x7ffc, LD, 15, 15, -1, 248);
    CC(0xa504, FSD, -1, 10, 9, 8);          /* c.fsd fs1, 8(a0) */
    CC(0xc144, SW, -1, 10, 9, 4);           /* c.sw s1, 4(a0) */
    CC(0xe504, SD, -1, 10, 9, 8);           /* c.sd s1, 8(a0) */
    ILL(0x0000);                            /* the defined-illegal parcel */
    ILL(0x0004);                            /* addi4spn nzuimm = 0 */
    ILL(0x8000);                            /* reserved (Zcb space) */
    /* quadrant 1 */
    CC(0x0001, ADDI, 0, 0, -1, 0);          /* c.nop */
    CC(0x1501, ADDI, 10, 10, -1, -32);      /* c.addi a0, -32 */
    CC(0x357d, ADDIW, 10, 10, -1, -1);      /* c.addiw a0, -1 */
    ILL(0x2001);                            /* c.addiw rd = 0 */
    CC(0x557d, ADDI, 10, 0, -1, -1);        /* c.li a0, -1 */
    CC(0x7179, ADDI, 2, 2, -1, -48);        /* c.addi16sp -48 */
    CC(0x6105, ADDI, 2, 2, -1, 32);
    ILL(0x6101);                            /* c.addi16sp 0 */
    CC(0x7501, LUI, 10, -1, -1, -0x20000);  /* c.lui a0, 0xfffe0 */
    CC(0x6505, LUI, 10, -1, -1, 0x1000);
    ILL(0x6501);                            /* c.lui nzimm = 0 */
    CC(0x8105, SRLI, 10, 10, -1, 1);        /* c.srli a0, 1 */
    CC(0x9101, SRLI, 10, 10, -1, 32);
    CC(0x8505, SRAI, 10, 10, -1, 1);
    CC(0x997d, ANDI, 10, 10, -1, -1);
    CC(0x8d0d, SUB, 10, 10, 11, 0);
    CC(0x8d2d, XOR, 10, 10, 11, 0);
    CC(0x8d4d, OR, 10, 10, 11, 0);
    CC(0x8d6d, AND, 10, 10, 11, 0);
    CC(0x9d0d, SUBW, 10, 10, 11, 0);
    CC(0x9d2d, ADDW, 10, 10, 11, 0);
    ILL(0x9d4d);                            /* reserved */
    ILL(0x9d6d);                            /* reserved */
    CC(0xbffd, JAL, 0, -1, -1, -2);         /* c.j -2 */
    CC(0xa801, JAL, 0, -1, -1, 16);
    CC(0x3ffd, ADDIW, 31, 31, -1, -1);
    CC(0xdd7d, BEQ, -1, 10, 0, -2);         /* c.beqz a0, -2 */
    CC(0xe111, BNE, -1, 10, 0, 4);          /* c.bnez a0, 4 */
    /* quadrant 2 */
    CC(0x050e, SLLI, 10, 10, -1, 3);        /* c.slli a0, 3 */
    CC(0x1502, SLLI, 10, 10, -1, 32);
    CC(0x2522, FLD, 10, 2, -1, 8);          /* c.fldsp fa0, 8(sp) */
    CC(0x4532, LW, 10, 2, -1, 12);          /* c.lwsp a0, 12(sp) */
    ILL(0x4002);                            /* c.lwsp rd = 0 */
    CC(0x6522, LD, 10, 2, -1, 8);           /* c.ldsp a0, 8(sp) */
    ILL(0x6002);                            /* c.ldsp rd = 0 */
    CC(0x8502, JALR, 0, 10, -1, 0);         /* c.jr a0 */
    ILL(0x8002);                            /* c.jr x0 */
    CC(0x852e, ADD, 10, 0, 11, 0);          /* c.mv a0, a1 */
    CC(0x9502, JALR, 1, 10, -1, 0);         /* c.jalr a0 */
    CC(0x952e, ADD, 10, 10, 11, 0);         /* c.add a0, a1 */
    CC(0x9002, EBREAK, -1, -1, -1, 0);      /* c.ebreak */
    CC(0xa42a, FSD, -1, 2, 10, 8);          /* c.fsdsp fa0, 8(sp) */
    CC(0xc62a, SW, -1, 2, 10, 12);          /* c.swsp a0, 12(sp) */
    CC(0xe42a, SD, -1, 2, 10, 8);           /* c.sdsp a0, 8(sp) */
}

/* The whole 16-bit space decodes without surprises: never a 4-byte
 * length, and every reserved pattern we know of is illegal. */
static void test_compressed_space(void **state)
{
    unsigned illegal = 0;
    for (unsigned v = 0; v < 65536; v++) {
        if ((v & 3) == 3)
            continue;
        struct insn in;
        rv_decode16((uint16_t)v, &in);
        assert_int_equal(in.len, 2);
        assert_true(in.op < OP_COUNT);
        illegal += in.op == OP_ILLEGAL;
    }
    /* q0 funct3=100 (2048) + c.addi4spn 0 (8) + c.addiw x0 (64) +
     * c.lui/c.addi16sp with a zero immediate (32) + the two reserved
     * q1 ALU rows (128) + c.lwsp/c.ldsp x0 (128) + c.jr x0 (1). */
    assert_int_equal(illegal, 2048 + 8 + 64 + 32 + 128 + 128 + 1);
}

static void test_helpers(void **state)
{
    assert_int_equal(rv_insn_len(0x0001), 2);
    assert_int_equal(rv_insn_len(0x0013), 4);
    assert_true(rv_op_is_pure(OP_ADD));
    assert_false(rv_op_is_pure(OP_LD));
    assert_false(rv_op_is_pure(OP_JAL));
    assert_true(rv_op_ends_block(OP_BEQ));
    assert_true(rv_op_ends_block(OP_CSRRS));
    assert_false(rv_op_ends_block(OP_ADD));
    assert_string_equal(rv_op_name(OP_AMOMAXU_D), "AMOMAXU_D");
    assert_string_equal(rv_op_name(9999), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rv64i),
        cmocka_unit_test(test_system),
        cmocka_unit_test(test_m_a),
        cmocka_unit_test(test_fd),
        cmocka_unit_test(test_bitmanip),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_compressed_space),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
