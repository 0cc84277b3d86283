/* The translator's integer ALU: native x86-64 code for RV64I and M ops
 * (jit.c calls jit_emit_alu for each one), with the guest registers where
 * the register allocation put them (jit_x86.h). Hart thread only. */
#include "cpu/riscv/jit_x86.h"

#include "cpu/riscv/decode.h"

/* DIV[U][W] / REM[U][W] with RISC-V's results where x86 would fault:
 * division by zero (quotient all ones, remainder the dividend) and the
 * signed overflow MIN / -1 (quotient MIN, remainder 0). */
static void emit_div(struct emit *e, const struct insn *in)
{
    bool w = in->op >= OP_DIVW;
    bool sgn = in->op == OP_DIV || in->op == OP_REM || in->op == OP_DIVW ||
               in->op == OP_REMW;
    bool rem = in->op == OP_REM || in->op == OP_REMU || in->op == OP_REMW ||
               in->op == OP_REMUW;
    uint8_t *zero, *neg1 = NULL, *done[3];
    int nd = 0;

    ldx(e, RCX, in->rs2);
    ldx(e, RAX, in->rs1);
    if (!w)
        e8(e, 0x48);
    e8(e, 0x85); e8(e, 0xc9);                   /* test rcx/ecx */
    zero = jcc_rel32(e, 0x84);
    if (sgn) {
        if (!w)
            e8(e, 0x48);
        e8(e, 0x83); e8(e, 0xf9); e8(e, 0xff);  /* cmp rcx/ecx, -1 */
        neg1 = jcc_rel32(e, 0x84);
        if (!w)
            e8(e, 0x48);
        e8(e, 0x99);                            /* cqo / cdq */
        if (!w)
            e8(e, 0x48);
        e8(e, 0xf7); e8(e, 0xf9);               /* idiv rcx/ecx */
    } else {
        e8(e, 0x31); e8(e, 0xd2);               /* xor edx, edx */
        if (!w)
            e8(e, 0x48);
        e8(e, 0xf7); e8(e, 0xf1);               /* div rcx/ecx */
    }
    if (w) {
        e8(e, 0x48); e8(e, 0x63); e8(e, rem ? 0xc2 : 0xc0); /* movsxd rax */
    } else if (rem) {
        e8(e, 0x48); e8(e, 0x89); e8(e, 0xd0);  /* mov rax, rdx */
    }
    stx(e, RAX, in->rd);
    e8(e, 0xe9);
    done[nd++] = e->p;
    e32(e, 0);
    if (sgn) {
        if (!e->full)
            patch_rel32(neg1, e->p);
        if (rem) {
            e8(e, 0x31); e8(e, 0xc0);           /* xor eax, eax */
        } else {
            if (!w)
                e8(e, 0x48);
            e8(e, 0xf7); e8(e, 0xd8);           /* neg rax/eax */
            if (w)
                movsxd_rax(e);
        }
        stx(e, RAX, in->rd);
        e8(e, 0xe9);
        done[nd++] = e->p;
        e32(e, 0);
    }
    if (!e->full)
        patch_rel32(zero, e->p);
    if (rem) {
        if (w)
            movsxd_rax(e);                      /* the dividend */
    } else {
        e8(e, 0x48); e8(e, 0xc7); e8(e, 0xc0); e32(e, 0xffffffffu); /* -1 */
    }
    stx(e, RAX, in->rd);
    for (int k = 0; k < nd; k++)
        if (!e->full)
            patch_rel32(done[k], e->p);
}

/* The common ALU ops with rd in a host register, computed in place;
 * false when the generic path (through rax) is to be used. */
static bool emit_alu_body(struct emit *e, const struct insn *in,
                          unsigned d);

/* 32-bit results stay lazy (no movsxd: jit_x86.h `lazy`) and so do
 * and/or/xor of lazy values (sign extensions combine bitwise); a 32-bit
 * op reads the low halves as they are. */
static bool emit_alu_direct(struct emit *e, const struct insn *in)
{
    unsigned rd = in->rd, rs1 = in->rs1, rs2 = in->rs2;
    if (!rd || !hreg_lo(e, rd))
        return false;
    if ((in->op == OP_SUB || in->op == OP_SUBW) && rs2 == rd && rs1 != rd)
        return false; /* (not in place: the generic path) */
    bool w32 = false, bitwise = false, two = false;
    switch (in->op) {
    case OP_ADDW: case OP_SUBW: case OP_MULW:
        two = true;
        /* fall through */
    case OP_ADDIW: case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
        w32 = true;
        break;
    case OP_MUL:
        two = true;
        break;
    case OP_XOR: case OP_OR: case OP_AND:
        two = true;
        /* fall through */
    case OP_XORI: case OP_ORI: case OP_ANDI:
        bitwise = true;
        break;
    case OP_ADD: case OP_SUB:
        two = true;
        break;
    case OP_ADDI: case OP_SLLI: case OP_SRLI: case OP_SRAI:
        break;
    default:
        return false;
    }
    /* lazy or 0 (x0, a sign extension too) */
    uint32_t lz = e->lazy | 1u;
    bool in_lazy = (lz >> rs1 & 1) && (!two || (lz >> rs2 & 1));
    bool out_lazy = w32 || (bitwise && in_lazy && ((e->lazy >> rs1 & 1) ||
                                                   (two && e->lazy >> rs2 & 1)));
    e->read32 = out_lazy;
    if (!out_lazy) { /* 64-bit reads: extend the inputs first */
        hreg(e, rs1);
        if (two)
            hreg(e, rs2);
    }
    bool ok = emit_alu_body(e, in, hdst(e, rd));
    e->read32 = false;
    if (ok && out_lazy)
        e->lazy |= 1u << rd;
    return ok;
}

/* emit_alu_direct's code, rd in host register d; 32-bit results are left
 * lazy */
static bool emit_alu_body(struct emit *e, const struct insn *in, unsigned d)
{
    unsigned rd = in->rd, rs1 = in->rs1, rs2 = in->rs2;
    int64_t imm = in->imm;
    unsigned g;
    bool w = true;

    switch (in->op) {
    case OP_ADDW: case OP_SUBW:
        w = false;
        /* fall through */
    case OP_ADD: case OP_SUB: case OP_XOR: case OP_OR: case OP_AND:
        g = in->op == OP_ADD || in->op == OP_ADDW ? G_ADD
            : in->op == OP_SUB || in->op == OP_SUBW ? G_SUB
            : in->op == OP_XOR ? G_XOR
            : in->op == OP_OR ? G_OR : G_AND;
        if (rs2 == 0 && g != G_AND && w) {
            mov_rx(e, d, rs1);                  /* mv (x op 0) */
        } else if (rs1 == 0 && g != G_SUB && g != G_AND && w) {
            mov_rx(e, d, rs2);                  /* mv (0 op x) */
        } else if (rs1 == rd) {
            op_rx(e, g, d, rs2, w);
        } else if (rs2 == rd) {
            if (g == G_SUB)
                return false;
            op_rx(e, g, d, rs1, w); /* commutative */
        } else {
            mov_rx(e, d, rs1);
            op_rx(e, g, d, rs2, w);
        }
        return true;
    case OP_MULW:
        w = false;
        /* fall through */
    case OP_MUL:
        if (rs1 == rd) {
            imul_rx(e, d, rs2, w);
        } else if (rs2 == rd) {
            imul_rx(e, d, rs1, w); /* commutative */
        } else {
            mov_rx(e, d, rs1);
            imul_rx(e, d, rs2, w);
        }
        return true;
    case OP_ADDI: case OP_XORI: case OP_ORI: case OP_ANDI:
        g = in->op == OP_ADDI ? G_ADD : in->op == OP_XORI ? G_XOR
            : in->op == OP_ORI ? G_OR : G_AND;
        if (rs1 == 0 && in->op != OP_ANDI) { /* li */
            rex(e, true, 0, d);
            e8(e, 0xc7);
            e8(e, 0xc0 | (d & 7));              /* mov d, simm32 */
            e32(e, (uint32_t)imm);
            return true;
        }
        mov_rx(e, d, rs1);
        if (imm || in->op == OP_ANDI)
            ri(e, g, d, imm, true);
        return true;
    case OP_ADDIW:
        mov_rx(e, d, rs1);
        if (imm)
            ri(e, G_ADD, d, imm, false);
        return true;
    case OP_SLLI: case OP_SRLI: case OP_SRAI:
        mov_rx(e, d, rs1);
        sh_i(e, in->op == OP_SLLI ? S_SHL : in->op == OP_SRLI ? S_SHR : S_SAR,
             d, (unsigned)imm & 63, true);
        return true;
    case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
        mov_rx(e, d, rs1);
        if (imm & 31)
            sh_i(e, in->op == OP_SLLIW ? S_SHL : in->op == OP_SRLIW ? S_SHR
                                                                  : S_SAR,
                 d, (unsigned)imm & 31, false);
        return true;
    }
    return false;
}

bool jit_emit_alu(struct emit *e, const struct insn *in)
{
    unsigned rd = in->rd, rs1 = in->rs1, rs2 = in->rs2;
    int64_t imm = in->imm;

    if (emit_alu_direct(e, in))
        return true;
    switch (in->op) {
    case OP_NOP:
        return true;
    case OP_LUI:
        if (rd && hdst(e, rd)) {
            unsigned hr = hdst(e, rd);
            e8(e, 0x48 | (hr >= 8 ? 1 : 0));
            e8(e, 0xc7);
            e8(e, 0xc0 | (hr & 7));
            e32(e, (uint32_t)imm);
        } else if (rd) {
            e8(e, 0x48);
            e8(e, 0xc7);
            m_rdi(e, 0, XOFF(rd));
            e32(e, (uint32_t)imm);
        }
        return true;
    case OP_AUIPC: {
        int64_t add = imm + (int64_t)in->off;
        e8(e, 0x48);
        e8(e, 0x8b);
        m_rdi(e, RAX, (int32_t)offsetof(struct hart, xb_pc));
        if (fits32(add)) {
            ri(e, G_ADD, RAX, add, true);
        } else {
            mov_imm64(e, RCX, (uint64_t)add);
            rr(e, G_ADD, RAX, RCX, true);
        }
        stx(e, RAX, rd);
        return true;
    }
    case OP_ADDI: case OP_XORI: case OP_ORI: case OP_ANDI: {
        static const uint8_t g[] = {[OP_ADDI - OP_ADDI] = G_ADD,
                                    [OP_XORI - OP_ADDI] = G_XOR,
                                    [OP_ORI - OP_ADDI] = G_OR,
                                    [OP_ANDI - OP_ADDI] = G_AND};
        ldx(e, RAX, rs1);
        if (imm || in->op == OP_ANDI)
            ri(e, g[in->op - OP_ADDI], RAX, imm, true);
        stx(e, RAX, rd);
        return true;
    }
    case OP_SLTI: case OP_SLTIU:
        ldx(e, RAX, rs1);
        e8(e, 0x31); e8(e, 0xd2); /* xor edx, edx */
        ri(e, G_CMP, RAX, imm, true);
        set_cc(e, in->op == OP_SLTI ? 0x9c : 0x92); /* setl / setb */
        stx(e, RDX, rd);
        return true;
    case OP_SLLI: case OP_SRLI: case OP_SRAI:
        ldx(e, RAX, rs1);
        sh_i(e, in->op == OP_SLLI ? S_SHL : in->op == OP_SRLI ? S_SHR : S_SAR,
             RAX, (unsigned)imm & 63, true);
        stx(e, RAX, rd);
        return true;
    case OP_ADD: case OP_SUB: case OP_XOR: case OP_OR: case OP_AND:
    case OP_ADDW: case OP_SUBW: {
        unsigned g = in->op == OP_ADD || in->op == OP_ADDW ? G_ADD
                     : in->op == OP_SUB || in->op == OP_SUBW ? G_SUB
                     : in->op == OP_XOR ? G_XOR
                     : in->op == OP_OR ? G_OR : G_AND;
        bool w32 = in->op == OP_ADDW || in->op == OP_SUBW;
        ldx(e, RAX, rs1);
        op_rx(e, g, RAX, rs2, !w32);
        if (w32)
            movsxd_rax(e);
        stx(e, RAX, rd);
        return true;
    }
    case OP_SLT: case OP_SLTU:
        ldx(e, RAX, rs1);
        ldx(e, RCX, rs2);
        e8(e, 0x31); e8(e, 0xd2);
        rr(e, G_CMP, RAX, RCX, true);
        set_cc(e, in->op == OP_SLT ? 0x9c : 0x92);
        stx(e, RDX, rd);
        return true;
    case OP_SLL: case OP_SRL: case OP_SRA:
    case OP_SLLW: case OP_SRLW: case OP_SRAW: {
        bool w32 = in->op >= OP_SLLW;
        unsigned ext = (in->op == OP_SLL || in->op == OP_SLLW) ? S_SHL
                       : (in->op == OP_SRL || in->op == OP_SRLW) ? S_SHR
                                                                 : S_SAR;
        ldx(e, RAX, rs1);
        ldx(e, RCX, rs2);
        sh_cl(e, ext, RAX, !w32); /* x86 masks the count as RISC-V does */
        if (w32)
            movsxd_rax(e);
        stx(e, RAX, rd);
        return true;
    }
    case OP_ADDIW:
        ldx(e, RAX, rs1);
        if (imm)
            ri(e, G_ADD, RAX, imm, false);
        movsxd_rax(e);
        stx(e, RAX, rd);
        return true;
    case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
        ldx(e, RAX, rs1);
        if (imm & 31)
            sh_i(e, in->op == OP_SLLIW ? S_SHL : in->op == OP_SRLIW ? S_SHR
                                                                  : S_SAR,
                 RAX, (unsigned)imm & 31, false);
        movsxd_rax(e);
        stx(e, RAX, rd);
        return true;
    case OP_MUL: case OP_MULW:
        ldx(e, RAX, rs1);
        ldx(e, RCX, rs2);
        if (in->op == OP_MUL)
            e8(e, 0x48);
        e8(e, 0x0f); e8(e, 0xaf); e8(e, 0xc1); /* imul eax/rax, ecx/rcx */
        if (in->op == OP_MULW)
            movsxd_rax(e);
        stx(e, RAX, rd);
        return true;
    case OP_DIV: case OP_DIVU: case OP_REM: case OP_REMU:
    case OP_DIVW: case OP_DIVUW: case OP_REMW: case OP_REMUW:
        emit_div(e, in);
        return true;
    case OP_MULH: case OP_MULHU:
        ldx(e, RAX, rs1);
        ldx(e, RCX, rs2);
        e8(e, 0x48); e8(e, 0xf7);
        e8(e, in->op == OP_MULH ? 0xe9 : 0xe1); /* imul rcx / mul rcx */
        stx(e, RDX, rd);
        return true;
    }
    return false;
}
