/* RISC-V instruction decoding: a raw 32-bit or 16-bit encoding becomes a
 * struct insn with its operands extracted once, so the interpreter never
 * looks at instruction bits again. Compressed encodings decode to the same
 * ops as their 32-bit expansions (with len = 2 and raw = the 16 bits).
 * Pure functions, any thread. */
#ifndef CORRAL_CPU_RISCV_DECODE_H
#define CORRAL_CPU_RISCV_DECODE_H

#include <stdint.h>

struct hart;
struct insn;

/* An interpreter handler: executes `i` and returns the next insn of the
 * block, or NULL when the block ends (pc, retired count set; see exec). */
typedef const struct insn *(*insn_fn)(struct hart *h, const struct insn *i);

#define RV_OPS(X)                                                              \
    X(ILLEGAL) X(NOP)                                                          \
    /* RV64I */                                                                \
    X(LUI) X(AUIPC) X(JAL) X(JALR)                                             \
    X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU)                                \
    X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU) X(LWU)                               \
    X(SB) X(SH) X(SW) X(SD)                                                    \
    X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI)    \
    X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND)      \
    X(ADDIW) X(SLLIW) X(SRLIW) X(SRAIW)                                        \
    X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW)                                    \
    X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI)              \
    X(SFENCE_VMA)                                                              \
    X(CSRRW) X(CSRRS) X(CSRRC) X(CSRRWI) X(CSRRSI) X(CSRRCI)                   \
    /* M */                                                                    \
    X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU)            \
    X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW)                                  \
    /* A */                                                                    \
    X(LR_W) X(SC_W) X(AMOSWAP_W) X(AMOADD_W) X(AMOXOR_W) X(AMOAND_W)           \
    X(AMOOR_W) X(AMOMIN_W) X(AMOMAX_W) X(AMOMINU_W) X(AMOMAXU_W)               \
    X(LR_D) X(SC_D) X(AMOSWAP_D) X(AMOADD_D) X(AMOXOR_D) X(AMOAND_D)           \
    X(AMOOR_D) X(AMOMIN_D) X(AMOMAX_D) X(AMOMINU_D) X(AMOMAXU_D)               \
    /* F */                                                                    \
    X(FLW) X(FSW) X(FMADD_S) X(FMSUB_S) X(FNMSUB_S) X(FNMADD_S)                \
    X(FADD_S) X(FSUB_S) X(FMUL_S) X(FDIV_S) X(FSQRT_S)                         \
    X(FSGNJ_S) X(FSGNJN_S) X(FSGNJX_S) X(FMIN_S) X(FMAX_S)                     \
    X(FCVT_W_S) X(FCVT_WU_S) X(FCVT_L_S) X(FCVT_LU_S)                          \
    X(FCVT_S_W) X(FCVT_S_WU) X(FCVT_S_L) X(FCVT_S_LU)                          \
    X(FMV_X_W) X(FMV_W_X) X(FEQ_S) X(FLT_S) X(FLE_S) X(FCLASS_S)               \
    /* D */                                                                    \
    X(FLD) X(FSD) X(FMADD_D) X(FMSUB_D) X(FNMSUB_D) X(FNMADD_D)                \
    X(FADD_D) X(FSUB_D) X(FMUL_D) X(FDIV_D) X(FSQRT_D)                         \
    X(FSGNJ_D) X(FSGNJN_D) X(FSGNJX_D) X(FMIN_D) X(FMAX_D)                     \
    X(FCVT_W_D) X(FCVT_WU_D) X(FCVT_L_D) X(FCVT_LU_D)                          \
    X(FCVT_D_W) X(FCVT_D_WU) X(FCVT_D_L) X(FCVT_D_LU)                          \
    X(FCVT_S_D) X(FCVT_D_S)                                                    \
    X(FMV_X_D) X(FMV_D_X) X(FEQ_D) X(FLT_D) X(FLE_D) X(FCLASS_D)               \
    /* Zba */                                                                  \
    X(SH1ADD) X(SH2ADD) X(SH3ADD) X(ADD_UW)                                    \
    X(SH1ADD_UW) X(SH2ADD_UW) X(SH3ADD_UW) X(SLLI_UW)                          \
    /* Zbb */                                                                  \
    X(ANDN) X(ORN) X(XNOR) X(CLZ) X(CTZ) X(CPOP) X(CLZW) X(CTZW) X(CPOPW)      \
    X(MAX) X(MAXU) X(MIN) X(MINU) X(SEXT_B) X(SEXT_H) X(ZEXT_H)                \
    X(ROL) X(ROR) X(RORI) X(ROLW) X(RORW) X(RORIW) X(ORC_B) X(REV8)            \
    /* Zbs */                                                                  \
    X(BCLR) X(BCLRI) X(BEXT) X(BEXTI) X(BINV) X(BINVI) X(BSET) X(BSETI)

enum rv_op {
#define RV_OP_ENUM(n) OP_##n,
    RV_OPS(RV_OP_ENUM)
#undef RV_OP_ENUM
    OP_COUNT
};

/* One pre-decoded instruction (32 bytes). Register numbers are 0..31 of
 * the x or f file as the op implies. imm holds the sign-extended immediate
 * (branch/jump offsets relative to this instruction, shift amounts, the
 * CSR number for CSR ops, the fence bits); CSR immediate forms keep their
 * 5-bit uimm in rs1. */
struct insn {
    insn_fn fn;      /* filled by the block builder */
    int64_t imm;
    uint32_t raw;    /* the encoding (16 bits for compressed): illegal tval */
    uint16_t op;     /* enum rv_op */
    uint16_t off;    /* byte offset from the start of its block */
    uint8_t rd, rs1, rs2, rs3;
    uint8_t rm;      /* rounding mode field; aq/rl bits for atomics */
    uint8_t len;     /* 2 or 4 */
    uint8_t idx;     /* index within its block */
    uint8_t nmem;    /* loads/stores before this insn in its block */
};

/* Length of the instruction whose low 16 bits are `lo`: 2 or 4. Longer
 * encodings (bits 4:2 all ones) are reported as 4 and decode as illegal. */
static inline unsigned rv_insn_len(uint16_t lo)
{
    return (lo & 3) == 3 ? 4 : 2;
}

/* Decode a 32-bit encoding (low two bits 11). Sets op, operands, raw and
 * len; unknown or reserved encodings give OP_ILLEGAL. fn/off/idx are left
 * untouched. */
void rv_decode32(uint32_t raw, struct insn *out);
/* Decode a 16-bit compressed encoding (rvc.c); reserved ones give
 * OP_ILLEGAL with raw = the 16 bits. */
void rv_decode16(uint16_t raw, struct insn *out);
/* Either of the above depending on the low bits. */
void rv_decode(uint32_t raw, struct insn *out);

/* True for ops that only write rd from registers/immediates (no memory,
 * no traps, no CSR): such an op with rd = x0 may be decoded as a nop. */
int rv_op_is_pure(unsigned op);
/* True for ops that end a block (control transfer or system). */
int rv_op_ends_block(unsigned op);
const char *rv_op_name(unsigned op);

#endif
