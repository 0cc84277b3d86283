/* Self-modifying code: an instruction that has already run (so a decoded
 * block for it may be cached) is overwritten, fence.i, and the new one must
 * run.  Covers patching another function, the next instruction of the same
 * block, a hot loop, partial (halfword) patches, AMO writes, 16-bit to
 * 32-bit replacement, and code generated into a data buffer. */
#include "common.h"

#define ADDI_A0(imm)  ((((imm) & 0xfff) << 20) | 0x513)   /* addi a0, zero, imm */
#define ADDI_A0_A0(imm) ((((imm) & 0xfff) << 20) | (10 << 15) | 0x513) /* addi a0, a0, imm */
#define RET           0x00008067
#define C_LI_A0(imm)  (0x4501 | (((imm) & 0x1f) << 2))

TEST_BEGIN
    .option norvc               /* patch sites are 32-bit unless marked */
    CASE                        /* patch a function that already ran */
    call site1
    CHECK a0, 1
    call site1
    CHECK a0, 1
    la a1, site1
    li a2, ADDI_A0(2)
    sw a2, 0(a1)
    fence.i
    call site1
    CHECK a0, 2

    CASE                        /* patch the next instruction in the same block */
    li s1, 0
1:  la a1, 2f
    li a2, ADDI_A0(7)
    bnez s1, 3f                 /* second pass: patch first */
    j 2f
3:  sw a2, 0(a1)
    fence.i
2:  li a0, 5                    /* becomes li a0, 7 */
    .balign 4
    bnez s1, 4f
    CHECK a0, 5
    li s1, 1
    j 1b
4:  CHECK a0, 7

    CASE                        /* a hot loop body is patched after many iterations */
    li s1, 0
    li s2, 0
1:  call site2                  /* a0 = 1, later 3 */
    add s2, s2, a0
    addi s1, s1, 1
    li t0, 1000
    bne s1, t0, 2f
    la a1, site2
    li a2, ADDI_A0(3)
    sw a2, 0(a1)
    fence.i
2:  li t0, 2000
    bne s1, t0, 1b
    CHECK s2, 4000

    CASE                        /* a halfword store changing only the immediate */
    call site3
    CHECK a0, 0x10
    la a1, site3
    li a2, ADDI_A0(0x7f) >> 16
    sh a2, 2(a1)
    fence.i
    call site3
    CHECK a0, 0x7f

    CASE                        /* an AMO writes the instruction */
    call site4
    CHECK a0, 4
    la a1, site4
    li a2, ADDI_A0(-4)
    amoswap.w a3, a2, (a1)
    li t0, ADDI_A0(4)
    CHECKR a3, t0
    fence.i
    call site4
    CHECK a0, -4

    CASE                        /* two 16-bit instructions become one 32-bit one */
    call site5
    CHECK a0, 2
    la a1, site5
    li a2, ADDI_A0(100)
    sh a2, 0(a1)
    srli a2, a2, 16
    sh a2, 2(a1)
    fence.i
    call site5
    CHECK a0, 100

    CASE                        /* and a 32-bit one becomes a 16-bit one plus a nop */
    la a1, site5
    li a2, C_LI_A0(9) | (0x0001 << 16)
    sw a2, 0(a1)
    fence.i
    call site5
    CHECK a0, 9

    CASE                        /* code generated into a data buffer */
    la a1, codebuf
    li a2, ADDI_A0(42)
    sw a2, 0(a1)
    li a2, RET
    sw a2, 4(a1)
    fence.i
    jalr ra, 0(a1)
    CHECK a0, 42
    CASE                        /* regenerated in place */
    li a2, ADDI_A0(43)
    sw a2, 0(a1)
    fence.i
    jalr ra, 0(a1)
    CHECK a0, 43
    CASE                        /* the buffer grows: more instructions after the old ret */
    li a2, ADDI_A0(1)
    sw a2, 0(a1)
    li a2, ADDI_A0_A0(2)
    sw a2, 4(a1)
    li a2, ADDI_A0_A0(4)
    sw a2, 8(a1)
    li a2, RET
    sw a2, 12(a1)
    fence.i
    jalr ra, 0(a1)
    CHECK a0, 7

    CASE                        /* a patched branch changes the control flow */
    call site6
    CHECK a0, 1
    la a1, site6
    li a2, 0x0001               /* c.nop over c.j */
    sh a2, 2(a1)
    fence.i
    call site6
    CHECK a0, 2

    TEST_PASS

    .balign 4
site1:
    li a0, 1
    ret
    .balign 4
site2:
    li a0, 1
    ret
    .balign 4
site3:
    li a0, 0x10
    ret
    .balign 4
site4:
    li a0, 4
    ret
    .option rvc
    .balign 4
site5:
    c.li a0, 2
    c.nop
    ret
    .balign 4
site6:
    c.li a0, 1
    c.j 1f
    c.li a0, 2
1:  ret

    .data
    .balign 64
codebuf: .skip 64
