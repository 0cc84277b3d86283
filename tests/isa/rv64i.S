/* RV64I: every base instruction, with the sign-extension, shift-masking,
 * link-register and x0 edge cases. */
#include "common.h"

.macro BR_TAKEN op, v1, v2
    CASE
    li a1, \v1
    li a2, \v2
    \op a1, a2, 1f
    j fail
1:
.endm

.macro BR_NOT op, v1, v2
    CASE
    li a1, \v1
    li a2, \v2
    \op a1, a2, 2f
    j 3f
2:  j fail
3:
.endm

/* load width from data_area+off, expect res */
.macro TEST_LD op, off, res
    CASE
    la a1, ld_data
    \op a0, \off(a1)
    CHECK a0, \res
.endm

TEST_BEGIN
    /* ---- add/sub and immediates ---- */
    TEST_RR add, 0, 0, 0
    TEST_RR add, 2, 1, 1
    TEST_RR add, 0x8000000000000000, 0x7fffffffffffffff, 1
    TEST_RR add, 0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff
    TEST_RR sub, 0, 5, 5
    TEST_RR sub, 0xffffffffffffffff, 0, 1
    TEST_RR sub, 0x7fffffffffffffff, 0x8000000000000000, 1
    TEST_RI addi, 0x7ff, 0, 2047
    TEST_RI addi, 0xfffffffffffff800, 0, -2048
    TEST_RI addi, 0x7fffffffffffffff, 0x8000000000000000, -1
    /* W forms sign-extend bit 31 of the 32-bit result and ignore upper input bits */
    TEST_RR addw, 0xffffffff80000000, 0x7fffffff, 1
    TEST_RR addw, 0, 0xffffffff, 1
    TEST_RR addw, 3, 0x1234567800000001, 0xabcdef0000000002
    TEST_RR subw, 0x7fffffff, 0x80000000, 1
    TEST_RR subw, 0xffffffffffffffff, 0, 1
    TEST_RR subw, 0, 0x1111111100000005, 0x2222222200000005
    TEST_RI addiw, 0xffffffff80000000, 0x7fffffff, 1
    TEST_RI addiw, 0x7fffffff, 0xffffffff80000000, -1
    TEST_RI addiw, 0x7ff, 0x100000000, 2047
    TEST_RI addiw, 0xffffffffffffffff, 0xffffffff, 0    /* sext.w */

    /* ---- compares ---- */
    TEST_RR slt, 1, -1, 0
    TEST_RR slt, 0, 0, -1
    TEST_RR slt, 0, 5, 5
    TEST_RR slt, 1, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR sltu, 0, -1, 0
    TEST_RR sltu, 1, 0, -1
    TEST_RR sltu, 0, 7, 7
    TEST_RI slti, 1, -5, -4
    TEST_RI slti, 0, 0, -2048
    TEST_RI slti, 1, 0x8000000000000000, 0
    TEST_RI sltiu, 1, 0, -1       /* imm sign-extended, compared unsigned */
    TEST_RI sltiu, 0, -1, -1
    TEST_RI sltiu, 1, 0, 1        /* seqz */
    TEST_RI sltiu, 0, 5, 1

    /* ---- logic ---- */
    TEST_RR and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f
    TEST_RR or,  0xff0fff0f, 0xff00ff00, 0x0f0f0f0f
    TEST_RR xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f
    TEST_RI andi, 0xffffffffff00ff00, 0xffffffffff00ff0f, -256
    TEST_RI andi, 0x0f, 0xffffffffff00ff0f, 0x7ff & 0x0f
    TEST_RI ori, 0xfffffffffffff923, 0x123, -2048  /* sign-extended imm */
    TEST_RI ori, 0x7ff, 0x000, 2047
    TEST_RI xori, 0xfffffffffffffedc, 0x123, -1        /* not */
    TEST_RI xori, 0x0f0, 0x0ff, 0x00f

    /* ---- shifts: immediate up to 63 (31 for W), register amounts masked ---- */
    TEST_RI slli, 0x8000000000000000, 1, 63
    TEST_RI slli, 0xfffffffffffffffe, -1, 1
    TEST_RI srli, 1, 0x8000000000000000, 63
    TEST_RI srli, 0x7fffffffffffffff, -1, 1
    TEST_RI srai, 0xffffffffffffffff, 0x8000000000000000, 63
    TEST_RI srai, 0xc000000000000000, 0x8000000000000000, 1
    TEST_RI srai, 0x3fffffffffffffff, 0x7fffffffffffffff, 1
    TEST_RR sll, 2, 1, 65            /* 65 & 63 = 1 */
    TEST_RR sll, 0x8000000000000000, 1, 63
    TEST_RR sll, 0x1234, 0x1234, 64
    TEST_RR srl, 1, 0x8000000000000000, 0xffffffffffffffff
    TEST_RR srl, 0x4000000000000000, 0x8000000000000000, 1
    TEST_RR sra, 0xffffffffffffffff, 0x8000000000000000, 127
    TEST_RR sra, 0x0000000000000001, 0x4000000000000000, 62
    TEST_RI slliw, 0xffffffff80000000, 1, 31
    TEST_RI slliw, 0x0000000000000000, 0x100000000, 0
    TEST_RI slliw, 0x12345678, 0xffffffff12345678, 0   /* sext of low word */
    TEST_RI srliw, 1, 0x80000000, 31
    TEST_RI srliw, 0xffffffff80000000, 0xffffffff80000000, 0
    TEST_RI srliw, 0x40000000, 0xffffffff80000000, 1   /* zero-fills from bit 31 */
    TEST_RI srliw, 0x7fffffff, 0x12345678ffffffff, 1
    TEST_RI sraiw, 0xffffffffffffffff, 0x80000000, 31
    TEST_RI sraiw, 0xffffffffc0000000, 0x80000000, 1
    TEST_RI sraiw, 0x3fffffff, 0xffffffff7fffffff, 1   /* upper bits ignored */
    TEST_RR sllw, 2, 1, 33           /* 33 & 31 = 1 */
    TEST_RR sllw, 0xffffffff80000000, 1, 31
    TEST_RR srlw, 1, 0x80000000, 63  /* 63 & 31 = 31 */
    TEST_RR srlw, 0x7fffffff, 0xffffffffffffffff, 1
    TEST_RR sraw, 0xffffffffffffffff, 0x80000000, 31
    TEST_RR sraw, 0xfffffffff8000000, 0x80000000, 36
    TEST_RR sraw, 0x00000000, 0x100000000, 0

    /* ---- lui / auipc ---- */
    CASE
    lui a0, 0x80000
    CHECK a0, 0xffffffff80000000
    CASE
    lui a0, 0x7ffff
    CHECK a0, 0x7ffff000
    CASE
    lui a0, 0xfffff
    CHECK a0, 0xfffffffffffff000
    CASE
1:  auipc a0, 0
    la a1, 1b
    CHECKR a0, a1
    CASE
1:  auipc a0, 0x1
    la a1, 1b
    li a2, 0x1000
    add a1, a1, a2
    CHECKR a0, a1
    CASE
1:  auipc a0, 0xfffff        /* -0x1000 */
    la a1, 1b
    li a2, -0x1000
    add a1, a1, a2
    CHECKR a0, a1

    /* ---- branches, taken and not taken ---- */
    BR_TAKEN beq, 5, 5
    BR_NOT beq, 5, 6
    BR_TAKEN bne, 5, 6
    BR_NOT bne, -1, -1
    BR_TAKEN blt, -1, 0
    BR_NOT blt, 0, -1
    BR_NOT blt, 3, 3
    BR_TAKEN blt, 0x8000000000000000, 0x7fffffffffffffff
    BR_TAKEN bge, 0, -1
    BR_TAKEN bge, 3, 3
    BR_NOT bge, -1, 0
    BR_TAKEN bltu, 0, -1
    BR_NOT bltu, -1, 0
    BR_NOT bltu, 3, 3
    BR_TAKEN bgeu, -1, 0
    BR_TAKEN bgeu, 3, 3
    BR_NOT bgeu, 0, -1
    /* backward branch */
    CASE
    li a0, 0
    li a1, 3
1:  addi a0, a0, 1
    bne a0, a1, 1b
    CHECK a0, 3

    /* ---- jal / jalr ---- */
    CASE
    jal a0, 1f
2:  j fail
1:  CHECKLA a0, 2b
    CASE                        /* jal with rd = x0 does not link */
    li a0, 0
    jal x0, 1f
    j fail
1:  CHECK a0, 0
    CASE                        /* jalr target = (rs1 + imm) & ~1 */
    la a1, 1f
    addi a1, a1, -3             /* odd */
    jalr a0, 4(a1)              /* -> 1f + 1, bit 0 cleared */
2:  j fail
1:  CHECKLA a0, 2b
    CASE                        /* negative offset */
    la a1, 1f
    addi a1, a1, 100
    jalr ra, -100(a1)
2:  j fail
1:  CHECKLA ra, 2b
    CASE                        /* rd == rs1: target uses the old value */
    la a0, 1f
    jalr a0, 0(a0)
2:  j fail
1:  CHECKLA a0, 2b
    CASE                        /* call/ret */
    li a0, 0
    call subr
    CHECK a0, 42

    /* ---- loads: every width, sign and zero extension ---- */
    TEST_LD lb, 0, 0xffffffffffffff81
    TEST_LD lbu, 0, 0x81
    TEST_LD lb, 1, 0x7f
    TEST_LD lh, 0, 0x7f81
    TEST_LD lh, 2, 0xffffffffffff8001
    TEST_LD lhu, 2, 0x8001
    TEST_LD lw, 0, 0xffffffff80017f81
    TEST_LD lwu, 0, 0x80017f81
    TEST_LD lw, 4, 0x12345678
    TEST_LD lwu, 4, 0x12345678
    TEST_LD ld, 0, 0x1234567880017f81
    TEST_LD ld, 8, 0xfedcba9876543210
    CASE                        /* negative offsets */
    la a1, ld_data + 16
    ld a0, -8(a1)
    CHECK a0, 0xfedcba9876543210
    lbu a0, -1(a1)
    CHECK a0, 0xfe
    lh a0, -16(a1)
    CHECK a0, 0x7f81

    /* ---- stores: every width writes exactly its bytes ---- */
    CASE
    la a1, st_data
    li a2, -1
    sd a2, 0(a1)
    sd a2, 8(a1)
    li a3, 0x0123456789abcdef
    sb a3, 0(a1)
    ld a0, 0(a1)
    CHECK a0, 0xffffffffffffffef
    CASE
    sh a3, 2(a1)
    ld a0, 0(a1)
    CHECK a0, 0xffffffffcdefffef
    CASE
    sw a3, 4(a1)
    ld a0, 0(a1)
    CHECK a0, 0x89abcdefcdefffef
    CASE
    sd a3, 8(a1)
    ld a0, 8(a1)
    CHECK a0, 0x0123456789abcdef
    CASE                        /* little-endian byte order */
    lbu a0, 8(a1)
    CHECK a0, 0xef
    lbu a0, 15(a1)
    CHECK a0, 0x01
    CASE                        /* negative store offset */
    addi a2, a1, 16
    sw zero, -16(a2)
    ld a0, 0(a1)
    CHECK a0, 0x89abcdef00000000

    /* ---- x0 is hardwired ---- */
    CASE
    addi x0, x0, 5
    CHECK x0, 0
    lui x0, 0x12345
    CHECK x0, 0
    la a1, ld_data
    ld x0, 8(a1)
    CHECK x0, 0
    jal x0, 1f
1:  CHECK x0, 0
    add a0, x0, x0
    CHECK a0, 0
    CASE                        /* reading x0 in every slot */
    li a0, 7
    sub a0, x0, a0
    CHECK a0, -7
    sltu a0, x0, a0             /* snez */
    CHECK a0, 1

    /* ---- every register holds its value ---- */
    CASE
    li x1, 1
    li x2, 2
    li x4, 4
    li x5, 5
    li x6, 6
    li x7, 7
    li x8, 8
    li x9, 9
    li x10, 10
    li x11, 11
    li x12, 12
    li x13, 13
    li x14, 14
    li x15, 15
    li x16, 16
    li x17, 17
    li x18, 18
    li x19, 19
    li x20, 20
    li x21, 21
    li x22, 22
    li x23, 23
    li x24, 24
    li x25, 25
    li x26, 26
    li x27, 27
    li x28, 28
    li x29, 29
    li x30, 30
    add x30, x30, x1
    add x30, x30, x2
    add x30, x30, x4
    add x30, x30, x5
    add x30, x30, x6
    add x30, x30, x7
    add x30, x30, x8
    add x30, x30, x9
    add x30, x30, x10
    add x30, x30, x11
    add x30, x30, x12
    add x30, x30, x13
    add x30, x30, x14
    add x30, x30, x15
    add x30, x30, x16
    add x30, x30, x17
    add x30, x30, x18
    add x30, x30, x19
    add x30, x30, x20
    add x30, x30, x21
    add x30, x30, x22
    add x30, x30, x23
    add x30, x30, x24
    add x30, x30, x25
    add x30, x30, x26
    add x30, x30, x27
    add x30, x30, x28
    add x30, x30, x29
    CHECK x30, 462              /* 1..30 minus 3 */
    la sp, stack_top

    /* ---- fences and hints do nothing visible ---- */
    CASE
    fence
    fence rw, rw
    fence.i
    fence.tso
    nop
    .word 0x0100000f            /* pause (Zihintpause) */
    li a0, 9
    CHECK a0, 9

    /* ---- ecall and ebreak trap in M-mode ---- */
    CASE
    EXPECT_TRAP
    ebreak
    CHECK_CAUSE CAUSE_BREAKPOINT
    CASE
    EXPECT_TRAP
    ecall
    CHECK_CAUSE CAUSE_MACHINE_ECALL

    TEST_PASS

subr:
    li a0, 42
    ret

    .data
    .align 3
ld_data:
    .byte 0x81, 0x7f, 0x01, 0x80, 0x78, 0x56, 0x34, 0x12
    .dword 0xfedcba9876543210
st_data:
    .dword 0, 0
