/* RV64C: every compressed instruction, immediates at their extremes,
 * 32-bit instructions at 2-byte aligned addresses, and the reserved
 * encodings that must raise illegal instruction. */
#include "common.h"

/* a reserved 16-bit encoding traps as illegal; tval is 0 or the bits */
.macro ILLEGAL16 bits
    CASE
    EXPECT_TRAP
    .half \bits
    CHECK_CAUSE CAUSE_ILLEGAL
    la t5, trap_area
    ld t5, TR_TVAL(t5)
    beqz t5, 1004f
    CHECK t5, \bits
1004:
.endm

    .option rvc
TEST_BEGIN
    /* ---- constants ---- */
    CASE
    c.li a0, -32
    CHECK a0, -32
    c.li a0, 31
    CHECK a0, 31
    CASE
    c.lui a0, 1
    CHECK a0, 0x1000
    c.lui a0, 31
    CHECK a0, 0x1f000
    c.lui a0, 0xfffe0
    CHECK a0, 0xfffffffffffe0000
    c.lui s1, 0xfffff
    CHECK s1, 0xfffffffffffff000
    /* ---- immediate arithmetic ---- */
    CASE
    li a0, 10
    c.addi a0, -32
    CHECK a0, -22
    c.addi a0, 31
    CHECK a0, 9
    CASE
    li a0, 0x7fffffff
    c.addiw a0, 1
    CHECK a0, 0xffffffff80000000
    li a0, 0x1234567880000000
    c.addiw a0, 0                  /* sext.w */
    CHECK a0, 0xffffffff80000000
    li a0, 0
    c.addiw a0, -1
    CHECK a0, -1
    CASE
    mv s0, sp
    c.addi16sp sp, -512
    sub a0, s0, sp
    CHECK a0, 512
    c.addi16sp sp, 496
    sub a0, s0, sp
    CHECK a0, 16
    c.addi16sp sp, 16
    CHECKR sp, s0
    CASE
    c.addi4spn a0, sp, 4
    sub a0, a0, sp
    CHECK a0, 4
    c.addi4spn a1, sp, 1020
    sub a1, a1, sp
    CHECK a1, 1020
    CASE
    li a0, 1
    c.slli a0, 63
    CHECK a0, 0x8000000000000000
    c.srli a0, 63
    CHECK a0, 1
    li a0, 0x8000000000000000
    c.srai a0, 63
    CHECK a0, -1
    li a0, 0x8000000000000000
    c.srli a0, 1
    CHECK a0, 0x4000000000000000
    li a0, 0x8000000000000000
    c.srai a0, 1
    CHECK a0, 0xc000000000000000
    li s1, 0xf0
    c.slli s1, 4
    CHECK s1, 0xf00
    CASE
    li a0, 0x1234
    c.andi a0, -1
    CHECK a0, 0x1234
    c.andi a0, -32
    CHECK a0, 0x1220
    c.andi a0, 31
    CHECK a0, 0
    li a5, 0xff
    c.andi a5, 0x15
    CHECK a5, 0x15
    /* ---- register-register ---- */
    CASE
    li a1, 0x55
    c.mv a0, a1
    CHECK a0, 0x55
    c.mv t3, a1                     /* full register set */
    CHECK t3, 0x55
    CASE
    li a0, 5
    li t4, 7
    c.add t4, a0
    CHECK t4, 12
    CASE
    li a0, 5
    li a1, 7
    c.sub a0, a1
    CHECK a0, -2
    li a0, 0xff00
    li a1, 0x0ff0
    c.xor a0, a1
    CHECK a0, 0xf0f0
    li a0, 0xff00
    c.or a0, a1
    CHECK a0, 0xfff0
    li a0, 0xff00
    c.and a0, a1
    CHECK a0, 0x0f00
    CASE
    li a0, 0x80000000
    li a1, 1
    c.subw a0, a1
    CHECK a0, 0x7fffffff
    li a0, 0
    c.subw a0, a1
    CHECK a0, -1
    li a0, 0x7fffffff
    c.addw a0, a1
    CHECK a0, 0xffffffff80000000
    li a0, 0xffffffff00000001
    li a1, 0x0000000100000001
    c.addw a0, a1
    CHECK a0, 2
    /* ---- control flow ---- */
    CASE
    li a0, 0
    c.j 1f
    li a0, 1
1:  CHECK a0, 0
    CASE                            /* backward c.j */
    li a0, 0
    j 2f
1:  addi a0, a0, 1
    j 3f
2:  c.j 1b
3:  CHECK a0, 1
    CASE
    la a1, 1f
    c.jr a1
    j fail
1:
    CASE                            /* c.jalr links pc + 2 */
    la a1, 1f
    c.jalr a1
2:  j fail
1:  CHECKLA ra, 2b
    CASE                            /* c.jalr with rs1 = ra: target read first */
    la ra, 1f
    c.jalr ra
2:  j fail
1:  CHECKLA ra, 2b
    CASE
    li a0, 0
    c.beqz a0, 1f
    j fail
1:  li a0, 1
    c.beqz a0, 2f
    j 3f
2:  j fail
3:
    CASE
    li a0, -1
    c.bnez a0, 1f
    j fail
1:  li a0, 0
    c.bnez a0, 2f
    j 3f
2:  j fail
3:
    CASE                            /* backward c.beqz */
    li a0, 3
1:  addi a0, a0, -1
    c.beqz a0, 2f
    c.j 1b
2:  CHECK a0, 0
    /* ---- loads/stores (register based) ---- */
    CASE
    la s0, cdata
    li a1, 0xffffffff80000001
    c.sw a1, 4(s0)
    c.lw a0, 4(s0)                  /* sign-extends */
    CHECK a0, 0xffffffff80000001
    li a1, 0x0123456789abcdef
    c.sd a1, 8(s0)
    c.ld a0, 8(s0)
    CHECK a0, 0x0123456789abcdef
    CASE                            /* largest offsets */
    li a1, 0x7eadbeef
    c.sw a1, 124(s0)
    lw a0, 124(s0)
    CHECK a0, 0x7eadbeef
    c.lw a2, 124(s0)
    CHECK a2, 0x7eadbeef
    li a1, 0x1122334455667788
    c.sd a1, 248(s0)
    ld a0, 248(s0)
    CHECKR a0, a1
    c.ld a3, 248(s0)
    CHECKR a3, a1
    CASE
    li a1, 0x400921fb54442d18
    sd a1, 16(s0)
    c.fld fa0, 16(s0)
    fmv.x.d a0, fa0
    CHECKR a0, a1
    c.fsd fa0, 248(s0)
    ld a0, 248(s0)
    CHECKR a0, a1
    /* ---- loads/stores (sp based) ---- */
    CASE
    mv s1, sp
    la sp, cdata
    li a1, 0xffffffff87654321
    c.swsp a1, 252(sp)
    c.lwsp a0, 252(sp)
    li a2, 0xffffffff87654321
    mv sp, s1
    CHECKR a0, a2
    CASE
    la sp, cdata
    li a1, 0x0fedcba987654321
    c.sdsp a1, 504(sp)
    c.ldsp a0, 504(sp)
    c.ldsp t0, 0(sp)
    mv sp, s1
    CHECKR a0, a1
    la a2, cdata
    ld a3, 504(a2)
    CHECKR a3, a1
    CASE
    la sp, cdata
    c.fsdsp fa0, 8(sp)
    c.fldsp fa1, 8(sp)
    c.fldsp fa2, 504(sp)
    mv sp, s1
    fmv.x.d a0, fa1
    li a1, 0x400921fb54442d18
    CHECKR a0, a1
    fmv.x.d a0, fa2
    CHECK a0, 0x0fedcba987654321
    /* ---- nop, ebreak ---- */
    CASE
    li a0, 3
    c.nop
    CHECK a0, 3
    CASE
    EXPECT_TRAP
1:  c.ebreak
    CHECK_CAUSE CAUSE_BREAKPOINT
    CHECK_EPC_LA 1b
    /* ---- 32-bit instructions at odd halfword addresses ---- */
    CASE
    .balign 4
    c.nop
    .option norvc
    addi a0, zero, 77               /* at pc % 4 == 2 */
    .option rvc
    CHECK a0, 77
    CASE                            /* jump to a 2-byte aligned 32-bit target */
    la a1, 2f
    jalr ra, 0(a1)
    j 3f
    .balign 4
    c.nop
2:  .option norvc
    li a0, 55
    ret
    .option rvc
3:  CHECK a0, 55
    CASE                            /* 32-bit jal to a 16-bit instruction */
    li a0, 0
    .option norvc
    jal x0, 1f
    .option rvc
    c.li a0, 1
1:  c.addi a0, 5
    CHECK a0, 5

    /* ---- reserved encodings ---- */
    ILLEGAL16 0x0000                /* all zero */
    ILLEGAL16 0x0004                /* c.addi4spn nzuimm = 0 */
    ILLEGAL16 0x2005                /* c.addiw rd = 0 */
    ILLEGAL16 0x4002                /* c.lwsp rd = 0 */
    ILLEGAL16 0x6002                /* c.ldsp rd = 0 */
    ILLEGAL16 0x8002                /* c.jr rs1 = 0 */
    ILLEGAL16 0x6081                /* c.lui nzimm = 0 */
    ILLEGAL16 0x6101                /* c.addi16sp nzimm = 0 */
    ILLEGAL16 0x9c41                /* reserved in the c.subw group */
    ILLEGAL16 0x9c61
    CASE                            /* the trapped instruction wrote nothing */
    li a0, 9
    EXPECT_TRAP
    .half 0x6081
    CHECK a0, 9
    TEST_PASS

    .data
    .align 4
cdata: .skip 512
