/* Fused pairs (exec_int.c, exec_mem.c): two adjacent insns of a block
 * run by one handler, saving a dispatch. The first is a pure ALU op or an
 * integer load/store, run inline; the second is an ALU op (inline after
 * an ALU op) or anything listed, entered by a direct jump into its own
 * handler with its own insn, so it syncs its pc, traps and retires
 * exactly as unfused. A first load/store that misses the TLB fast path
 * takes its normal slow path, which continues at the second insn with
 * an ordinary dispatch. The second insn keeps its slot in the block and
 * is jumped over. block.c fuses only insns running their op's normal
 * handler (so never x0's NOP form or exec_load_x0). Hart thread only. */
#ifndef CORRAL_CPU_RISCV_EXEC_FUSE_H
#define CORRAL_CPU_RISCV_EXEC_FUSE_H

#include "cpu/riscv/exec_impl.h"

#define FUSE_ALU(X)                                                            \
    X(add, ADD) X(sub, SUB) X(xor, XOR) X(or, OR) X(and, AND) X(addw, ADDW)    \
    X(subw, SUBW) X(addi, ADDI) X(addiw, ADDIW) X(andi, ANDI) X(ori, ORI)      \
    X(xori, XORI) X(slli, SLLI) X(srli, SRLI) X(srai, SRAI) X(slliw, SLLIW)    \
    X(srliw, SRLIW) X(sraiw, SRAIW) X(lui, LUI) X(sll, SLL) X(srl, SRL)        \
    X(mul, MUL)
#define FUSE_JUMP(X)                                                           \
    X(beq, BEQ) X(bne, BNE) X(blt, BLT) X(bge, BGE) X(bltu, BLTU)              \
    X(bgeu, BGEU) X(jal, JAL) X(jalr, JALR)
#define FUSE_MEM(X)                                                            \
    X(lb, LB) X(lh, LH) X(lw, LW) X(ld, LD) X(lbu, LBU) X(lhu, LHU)            \
    X(lwu, LWU) X(sb, SB) X(sh, SH) X(sw, SW) X(sd, SD)
/* the same lists, with a leading parameter (for cross products) */
#define FUSE_ALU_P(X, p)                                                       \
    X(p, add, ADD) X(p, sub, SUB) X(p, xor, XOR) X(p, or, OR) X(p, and, AND)   \
    X(p, addw, ADDW) X(p, subw, SUBW) X(p, addi, ADDI) X(p, addiw, ADDIW)      \
    X(p, andi, ANDI) X(p, ori, ORI) X(p, xori, XORI) X(p, slli, SLLI)          \
    X(p, srli, SRLI) X(p, srai, SRAI) X(p, slliw, SLLIW) X(p, srliw, SRLIW)    \
    X(p, sraiw, SRAIW) X(p, lui, LUI) X(p, sll, SLL) X(p, srl, SRL)            \
    X(p, mul, MUL)
#define FUSE_JUMP_P(X, p)                                                      \
    X(p, beq, BEQ) X(p, bne, BNE) X(p, blt, BLT) X(p, bge, BGE)                \
    X(p, bltu, BLTU) X(p, bgeu, BGEU) X(p, jal, JAL) X(p, jalr, JALR)
#define FUSE_MEM_P(X, p)                                                       \
    X(p, lb, LB) X(p, lh, LH) X(p, lw, LW) X(p, ld, LD) X(p, lbu, LBU)         \
    X(p, lhu, LHU) X(p, lwu, LWU) X(p, sb, SB) X(p, sh, SH) X(p, sw, SW)       \
    X(p, sd, SD)

/* Every listed op's handler, under its exec_ name. */
#define FUSE_DECL(n, N) HANDLER(exec_##n);
FUSE_ALU(FUSE_DECL)
FUSE_JUMP(FUSE_DECL)
FUSE_MEM(FUSE_DECL)
#undef FUSE_DECL

/* Record `f` as the handler of the pair (first, second) (ops). */
void exec_fuse_set(unsigned first, unsigned second, insn_fn f);

#endif
