/* Exceptions and interrupts: each synchronous cause with its tval and epc,
 * ecall from every mode, delegation to S, nested traps, mret/sret stacking,
 * vectored mtvec with CLINT software and timer interrupts, wfi wake-up,
 * the TSR/TW/TVM traps, and the privilege of xRET. */
#include "common.h"

#define TR_VEC 120       /* trap_area slot: vector taken (vectored mode) */

/* from the record of the last M trap: previous privilege (MPP) into a0 */
.macro TRAP_MPP
    la t5, trap_area
    ld a0, TR_STATUS(t5)
    srli a0, a0, 11
    andi a0, a0, 3
.endm

/* M trap count into reg */
.macro TRAP_COUNT reg
    la t5, trap_area
    ld \reg, TR_COUNT(t5)
.endm

/* wait (bounded) until the M trap count differs from reg */
.macro WAIT_TRAP reg
    li t4, 20000000
1005:
    TRAP_COUNT t3
    bne t3, \reg, 1006f
    addi t4, t4, -1
    bnez t4, 1005b
    j fail
1006:
.endm

/* misaligned access: emulated (value check) or trapped with cause, tval */
.macro MISALIGNED_OK cause, addr_reg
    la t5, trap_area
    ld t5, TR_CAUSE(t5)
    li t6, TR_NONE
    beq t5, t6, 1007f
    CHECK t5, \cause
    CHECK_TVAL_R \addr_reg
    j 1008f
1007:
    DISARM
.endm
.macro MISALIGNED_END
1008:
.endm

TEST_BEGIN
    li t0, CLINT_MTIMECMP       /* no timer interrupt pending */
    li t1, -1
    sd t1, 0(t0)

    /* ---- illegal instruction: tval = the instruction bits ---- */
    CASE
    EXPECT_TRAP
1:  .word 0xfe000033            /* OP with a reserved funct7 */
    CHECK_CAUSE CAUSE_ILLEGAL
    CHECK_TVAL 0xfe000033
    CHECK_EPC_LA 1b
    TRAP_MPP
    CHECK a0, 3
    CASE
    EXPECT_TRAP
1:  .half 0x0000                /* 16-bit all-zero */
    CHECK_CAUSE CAUSE_ILLEGAL
    CHECK_TVAL 0
    CHECK_EPC_LA 1b

    /* ---- breakpoint: tval = pc or 0 ---- */
    CASE
    EXPECT_TRAP
1:  ebreak
    CHECK_CAUSE CAUSE_BREAKPOINT
    CHECK_EPC_LA 1b
    la t5, trap_area
    ld t5, TR_TVAL(t5)
    beqz t5, 2f
    CHECK_TVAL_LA 1b
2:

    /* ---- ecall from each mode ---- */
    CASE
    li a7, 0
    EXPECT_TRAP
1:  ecall
    CHECK_CAUSE CAUSE_MACHINE_ECALL
    CHECK_EPC_LA 1b
    CHECK_TVAL 0
    CASE
    GOTO_S 1f
1:  li a7, 0
    EXPECT_TRAP
2:  ecall
    CHECK_CAUSE CAUSE_SUPERVISOR_ECALL
    CHECK_EPC_LA 2b
    TRAP_MPP
    CHECK a0, 1
    TO_M
    CASE
    GOTO_U 1f
1:  li a7, 0
    EXPECT_TRAP
2:  ecall
    CHECK_CAUSE CAUSE_USER_ECALL
    CHECK_EPC_LA 2b
    TRAP_MPP
    CHECK a0, 0
    TO_M

    /* ---- access faults at an unmapped address ---- */
    CASE
    li a1, 0
    li a0, 1234
    EXPECT_TRAP
1:  ld a0, 0(a1)
    CHECK_CAUSE CAUSE_LOAD_ACCESS
    CHECK_TVAL 0
    CHECK_EPC_LA 1b
    CHECK a0, 1234              /* rd not written */
    CASE
    EXPECT_TRAP
1:  sw a0, 0(a1)
    CHECK_CAUSE CAUSE_STORE_ACCESS
    CHECK_TVAL 0
    CHECK_EPC_LA 1b
    CASE
    EXPECT_TRAP
    amoadd.d a0, a0, (a1)
    /* an AMO faults as a store (7); QEMU 7.2 reports a load fault (5) */
    la t5, trap_area
    ld t5, TR_CAUSE(t5)
    li t6, CAUSE_LOAD_ACCESS
    beq t5, t6, 1f
    CHECK t5, CAUSE_STORE_ACCESS
1:  CHECK_TVAL 0
    CASE
    li a1, 8
    EXPECT_TRAP
    lw a0, 0(a1)
    CHECK_CAUSE CAUSE_LOAD_ACCESS
    CHECK_TVAL 8
    CASE                        /* fetch: epc = tval = target, ra written */
    li a1, 0
    li ra, 0
    EXPECT_TRAP_AT 2f
1:  jalr ra, 0(a1)
2:  CHECK_CAUSE CAUSE_FETCH_ACCESS
    CHECK_TVAL 0
    la t5, trap_area
    ld t5, TR_EPC(t5)
    CHECK t5, 0
    CHECKLA ra, 2b

    /* ---- misaligned loads/stores: emulated or trapped with tval ---- */
    CASE
    la s1, mdata
    li t0, 0x8877665544332211
    sd t0, 0(s1)
    li t0, 0xffeeddccbbaa9988
    sd t0, 8(s1)
    addi a1, s1, 1
    EXPECT_TRAP
    lw a0, 0(a1)
    MISALIGNED_OK CAUSE_MISALIGNED_LOAD, a1
    CHECK a0, 0x55443322
    MISALIGNED_END
    CASE
    addi a1, s1, 5
    EXPECT_TRAP
    ld a0, 0(a1)
    MISALIGNED_OK CAUSE_MISALIGNED_LOAD, a1
    CHECK a0, 0xccbbaa9988887766
    MISALIGNED_END
    CASE
    addi a1, s1, 7
    EXPECT_TRAP
    lh a0, 0(a1)
    MISALIGNED_OK CAUSE_MISALIGNED_LOAD, a1
    CHECK a0, 0xffffffffffff8888
    MISALIGNED_END
    CASE
    addi a1, s1, 3
    EXPECT_TRAP
    lwu a0, 0(a1)
    MISALIGNED_OK CAUSE_MISALIGNED_LOAD, a1
    CHECK a0, 0x77665544
    MISALIGNED_END
    CASE
    addi a1, s1, 3
    li a2, 0x0102030405060708
    EXPECT_TRAP
    sd a2, 0(a1)
    MISALIGNED_OK CAUSE_MISALIGNED_STORE, a1
    ld a0, 0(s1)
    CHECK a0, 0x0405060708332211
    ld a0, 8(s1)
    CHECK a0, 0xffeeddccbb010203
    MISALIGNED_END
    CASE
    addi a1, s1, 1
    EXPECT_TRAP
    sh a2, 0(a1)
    MISALIGNED_OK CAUSE_MISALIGNED_STORE, a1
    lw a0, 0(s1)
    CHECK a0, 0x08070811
    MISALIGNED_END
    CASE                        /* a misaligned page-crossing load */
    la a1, mpage
    li t0, 0x1122334455667788
    sd t0, -8(a1)
    li t0, 0x99aabbccddeeff00
    sd t0, 0(a1)
    addi a1, a1, -4
    EXPECT_TRAP
    ld a0, 0(a1)
    MISALIGNED_OK CAUSE_MISALIGNED_LOAD, a1
    CHECK a0, 0xddeeff0011223344
    MISALIGNED_END

    /* ---- delegation to S ---- */
    CASE
    SETUP_STVEC
    li t0, (1 << CAUSE_ILLEGAL) | (1 << CAUSE_USER_ECALL) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_LOAD_ACCESS)
    csrw medeleg, t0
    la t5, trap_area
    ld s2, TR_COUNT(t5)         /* M trap count before */
    GOTO_U 1f
1:  S_EXPECT_TRAP
2:  .word 0xfe000033
    S_CHECK_CAUSE CAUSE_ILLEGAL
    S_CHECK_TVAL 0xfe000033
    S_CHECK_EPC_LA 2b
    CASE
    li a7, 0
    S_EXPECT_TRAP
2:  ecall
    S_CHECK_CAUSE CAUSE_USER_ECALL
    S_CHECK_EPC_LA 2b
    CASE
    li a1, 0
    S_EXPECT_TRAP
2:  lb a0, 0(a1)
    S_CHECK_CAUSE CAUSE_LOAD_ACCESS
    S_CHECK_TVAL 0
    CASE                        /* SPP = U, SPIE = old SIE (0) */
    la t5, strap_area
    ld a0, TR_STATUS(t5)
    andi a0, a0, MSTATUS_SPP | MSTATUS_SPIE
    CHECK a0, 0
    CASE                        /* a non-delegated exception still goes to M */
    li a1, 0
    EXPECT_TRAP
    sb a1, 0(a1)
    CHECK_CAUSE CAUSE_STORE_ACCESS
    TO_M                        /* (the S handler forwards U's TO_M) */
    CASE                        /* M took only the store fault and the TO_M */
    la t5, trap_area
    ld a0, TR_COUNT(t5)
    sub a0, a0, s2
    CHECK a0, 2                 /* the store fault and the forwarded ecall */
    CASE                        /* a delegated exception raised in S goes to S */
    GOTO_S 1f
1:  csrsi sstatus, MSTATUS_SIE
    S_EXPECT_TRAP
2:  ebreak
    S_CHECK_CAUSE CAUSE_BREAKPOINT
    S_CHECK_EPC_LA 2b
    la t5, strap_area
    ld a0, TR_STATUS(t5)
    andi a0, a0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK a0, MSTATUS_SPP | MSTATUS_SPIE    /* SIE cleared, SPIE = old SIE, SPP = S */
    csrr a0, sstatus
    andi a0, a0, MSTATUS_SIE
    CHECK a0, MSTATUS_SIE                   /* sret restored SIE from SPIE */
    csrci sstatus, MSTATUS_SIE
    TO_M
    CASE                        /* M-mode exceptions are never delegated */
    EXPECT_TRAP
    ebreak
    CHECK_CAUSE CAUSE_BREAKPOINT
    csrw medeleg, zero
    CASE                        /* mcause unchanged by delegated traps */
    csrr a0, mcause
    CHECK a0, CAUSE_BREAKPOINT

    /* ---- nested: an S handler traps to M ---- */
    CASE
    la t0, s_nest_handler
    csrw stvec, t0
    li t0, 1 << CAUSE_ILLEGAL
    csrw medeleg, t0
    la t0, nest_log
    sd zero, 0(t0)
    GOTO_U 1f
1:  .word 0xfe000033            /* -> S handler, which does an ebreak to M */
    TO_M
    csrw medeleg, zero
    la t0, nest_log
    ld a0, 0(t0)
    CHECK a0, CAUSE_ILLEGAL     /* scause seen by S */
    ld a0, 8(t0)
    CHECK a0, CAUSE_ILLEGAL     /* scause still intact after the M trap */
    ld a0, 16(t0)
    CHECK a0, 0xfe000033        /* stval still intact */
    ld a0, 24(t0)
    CHECK a0, CAUSE_BREAKPOINT  /* what M recorded */
    ld a0, 32(t0)
    srli a0, a0, 11
    andi a0, a0, 3
    CHECK a0, 1                 /* M trap came from S */
    SETUP_STVEC

    /* ---- mret stacking ---- */
    CASE                        /* mret to M: MIE = MPIE, MPIE = 1, MPP = U */
    li t0, MSTATUS_MPP
    csrs mstatus, t0
    li t0, MSTATUS_MPIE
    csrc mstatus, t0
    csrsi mstatus, MSTATUS_MIE
    la t0, 1f
    csrw mepc, t0
    mret
    j fail
1:  csrr a1, mstatus
    andi a0, a1, MSTATUS_MIE | MSTATUS_MPIE
    CHECK a0, MSTATUS_MPIE
    srli a0, a1, 11
    andi a0, a0, 3
    CHECK a0, 0
    CASE                        /* MPIE = 1 -> MIE = 1 (mie = 0: nothing taken) */
    li t0, MSTATUS_MPP | MSTATUS_MPIE
    csrs mstatus, t0
    la t0, 1f
    csrw mepc, t0
    mret
1:  csrr a1, mstatus
    andi a0, a1, MSTATUS_MIE
    CHECK a0, MSTATUS_MIE
    csrci mstatus, MSTATUS_MIE
    /* mret/sret to a mode below M clear MPRV (priv 1.12); QEMU 7.2 does
     * not, so only the round trip is exercised here */
    CASE
    li t0, MSTATUS_MPRV
    csrs mstatus, t0
    GOTO_S 1f
1:  TO_M
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
    CASE                        /* mret to U: proved by an S CSR trapping */
    GOTO_U 1f
1:  EXPECT_TRAP
    csrr a0, sstatus
    CHECK_CAUSE CAUSE_ILLEGAL
    TRAP_MPP
    CHECK a0, 0
    TO_M

    /* ---- sret stacking ---- */
    CASE                        /* sret to S: SIE = SPIE, SPIE = 1, SPP = U */
    GOTO_S 1f
1:  li t0, MSTATUS_SPP | MSTATUS_SPIE
    csrs sstatus, t0
    csrci sstatus, MSTATUS_SIE
    la t0, 2f
    csrw sepc, t0
    sret
    j fail
2:  csrr a1, sstatus
    andi a0, a1, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK a0, MSTATUS_SPIE | MSTATUS_SIE
    csrci sstatus, MSTATUS_SIE
    CASE                        /* sret to U */
    li t0, MSTATUS_SPIE
    csrc sstatus, t0
    S_GOTO_U 3f
3:  EXPECT_TRAP
    csrr a0, sstatus            /* really in U */
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    csrr a1, mstatus
    andi a0, a1, MSTATUS_SPIE
    CHECK a0, MSTATUS_SPIE
    CASE                        /* sret from S to S with MPRV set (see above) */
    li t0, MSTATUS_MPRV | MSTATUS_SPP
    csrs mstatus, t0
    GOTO_S 1f
1:  la t0, 2f
    csrw sepc, t0
    sret
2:  TO_M
    li t0, MSTATUS_MPRV
    csrc mstatus, t0

    /* ---- xRET privilege, TSR / TW / TVM ---- */
    CASE
    GOTO_U 1f
1:  EXPECT_TRAP
    sret
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    mret
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    CASE
    GOTO_S 1f
1:  EXPECT_TRAP
    mret
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    CASE                        /* TSR: sret in S traps */
    li t0, MSTATUS_TSR
    csrs mstatus, t0
    GOTO_S 1f
1:  la t0, 2f
    csrw sepc, t0
    li t0, MSTATUS_SPP
    csrs sstatus, t0
    EXPECT_TRAP
    sret
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    li t0, MSTATUS_TSR
    csrc mstatus, t0
    j 3f
2:  j fail
3:
    CASE                        /* TW: wfi in S traps */
    li t0, MSTATUS_TW
    csrs mstatus, t0
    GOTO_S 1f
1:  EXPECT_TRAP
    wfi
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    li t0, MSTATUS_TW
    csrc mstatus, t0
    CASE                        /* TVM: satp and sfence.vma in S trap */
    li t0, MSTATUS_TVM
    csrs mstatus, t0
    GOTO_S 1f
1:  EXPECT_TRAP
    csrr a0, satp
    CHECK_CAUSE CAUSE_ILLEGAL
    EXPECT_TRAP
    csrw satp, zero
    CHECK_CAUSE CAUSE_ILLEGAL
    EXPECT_TRAP
    sfence.vma
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    li t0, MSTATUS_TVM
    csrc mstatus, t0
    CASE                        /* without TVM they work in S */
    GOTO_S 1f
1:  csrr a0, satp
    sfence.vma
    TO_M
    CASE                        /* sfence.vma in U is illegal */
    GOTO_U 1f
1:  EXPECT_TRAP
    sfence.vma
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M

    /* ---- interrupts: MTIP follows mtime >= mtimecmp ---- */
    CASE
    li t0, CLINT_MTIMECMP
    sd zero, 0(t0)
    csrr a0, mip
    andi a0, a0, 1 << 7
    CHECK a0, 1 << 7
    li t1, -1
    sd t1, 0(t0)
    csrr a0, mip
    andi a0, a0, 1 << 7
    CHECK a0, 0
    CASE                        /* MSIP follows the CLINT msip register */
    li t0, CLINT_MSIP
    li t1, 1
    sw t1, 0(t0)
    csrr a0, mip
    andi a0, a0, 1 << 3
    CHECK a0, 1 << 3
    lw a0, 0(t0)
    CHECK a0, 1
    sw zero, 0(t0)
    csrr a0, mip
    andi a0, a0, 1 << 3
    CHECK a0, 0

    /* ---- software interrupt, vectored ---- */
    CASE
    la t0, vtable
    ori t0, t0, 1
    csrw mtvec, t0
    la t5, trap_area
    sd zero, TR_VEC(t5)
    li t0, 1 << 3
    csrw mie, t0
    TRAP_COUNT s2
    li t0, CLINT_MSIP
    li t1, 1
    sw t1, 0(t0)
    csrsi mstatus, MSTATUS_MIE
    WAIT_TRAP s2
    csrci mstatus, MSTATUS_MIE
    CHECK_CAUSE INTR | 3
    la t5, trap_area
    ld a0, TR_VEC(t5)
    CHECK a0, 3                 /* through vector 3 */
    li t0, CLINT_MSIP
    lw a0, 0(t0)
    CHECK a0, 0                 /* handler cleared it */
    CASE                        /* synchronous exceptions use the base in vectored mode */
    EXPECT_TRAP
    ebreak
    CHECK_CAUSE CAUSE_BREAKPOINT
    la t5, trap_area
    ld a0, TR_VEC(t5)
    CHECK a0, 100

    /* ---- timer interrupt, vectored ---- */
    CASE
    li t0, 1 << 7
    csrw mie, t0
    TRAP_COUNT s2
    li t0, CLINT_MTIME
    ld t1, 0(t0)
    addi t1, t1, 1000           /* 100 us */
    li t0, CLINT_MTIMECMP
    sd t1, 0(t0)
    csrsi mstatus, MSTATUS_MIE
    WAIT_TRAP s2
    csrci mstatus, MSTATUS_MIE
    CHECK_CAUSE INTR | 7
    la t5, trap_area
    ld a0, TR_VEC(t5)
    CHECK a0, 7
    CASE                        /* the interrupt came from mtime reaching mtimecmp */
    li t0, CLINT_MTIME
    ld a0, 0(t0)
    bltu a0, t1, fail_j
    CASE                        /* M interrupts are taken in S even with mstatus.MIE = 0 */
    li t0, 1 << 3
    csrw mie, t0
    TRAP_COUNT s2
    GOTO_S 1f
1:  li t0, CLINT_MSIP
    li t1, 1
    sw t1, 0(t0)
    WAIT_TRAP s2
    TO_M
    CHECK_CAUSE CAUSE_SUPERVISOR_ECALL          /* (the TO_M) */
    la t0, trap_area
    csrw mie, zero
    la t0, trap_m
    csrw mtvec, t0

    /* ---- wfi ---- */
    CASE                        /* returns with MIE = 0 when an enabled interrupt is pending */
    li t0, 1 << 3
    csrw mie, t0
    li t0, CLINT_MSIP
    li t1, 1
    sw t1, 0(t0)
    TRAP_COUNT s2
    wfi
    TRAP_COUNT s3
    CHECKR s2, s3               /* no trap taken */
    li t0, CLINT_MSIP
    sw zero, 0(t0)
    CASE                        /* waits for the timer, then returns (MIE = 0) */
    li t0, 1 << 7
    csrw mie, t0
    li t0, CLINT_MTIME
    ld t1, 0(t0)
    li t2, 20000                /* 2 ms */
    add t1, t1, t2
    li t0, CLINT_MTIMECMP
    sd t1, 0(t0)
1:  wfi
    csrr a0, mip
    andi a0, a0, 1 << 7
    beqz a0, 1b                 /* wfi may also return early: loop */
    li t0, CLINT_MTIME
    ld a0, 0(t0)
    bltu a0, t1, fail_j
    li t0, CLINT_MTIMECMP
    li t2, -1
    sd t2, 0(t0)
    CASE                        /* with MIE = 1 the trap's mepc is after the wfi */
    li t0, CLINT_MTIME
    ld t1, 0(t0)
    addi t1, t1, 1000
    li t0, CLINT_MTIMECMP
    sd t1, 0(t0)
    TRAP_COUNT s2
    csrsi mstatus, MSTATUS_MIE
1:  wfi
2:  TRAP_COUNT s3
    beq s2, s3, 1b
    csrci mstatus, MSTATUS_MIE
    CHECK_CAUSE INTR | 7
    CHECK_EPC_LA 2b
    csrw mie, zero

    /* ---- S-level interrupts ---- */
    CASE                        /* a delegated SSI is not taken in M, then taken in S */
    SETUP_STVEC
    li t0, 1 << 1
    csrw mideleg, t0
    csrw mie, t0
    csrsi mstatus, MSTATUS_SIE | MSTATUS_MIE
    la t5, strap_area
    ld s2, TR_COUNT(t5)
    csrsi mip, 2
    nop
    nop
    la t5, strap_area
    ld s3, TR_COUNT(t5)
    CHECKR s2, s3
    csrci mstatus, MSTATUS_MIE
    GOTO_S 1f
1:  li t4, 1000000
2:  la t5, strap_area
    ld s3, TR_COUNT(t5)
    bne s2, s3, 3f
    addi t4, t4, -1
    bnez t4, 2b
    j fail
3:  S_CHECK_CAUSE INTR | 1
    csrr a0, sip
    andi a0, a0, 2
    CHECK a0, 0                 /* handler cleared it */
    CASE                        /* in U, S interrupts are enabled whatever SIE is */
    csrci sstatus, MSTATUS_SIE
    csrsi sie, 2
    la t5, strap_area
    ld s2, TR_COUNT(t5)
    S_GOTO_U 1f
1:  TO_M
    GOTO_S 1f
1:  csrci sstatus, MSTATUS_SIE
    csrsi sip, 2                /* pending but SIE = 0 in S: not taken */
    nop
    la t5, strap_area
    ld s3, TR_COUNT(t5)
    CHECKR s2, s3
    S_GOTO_U 1f
1:  li t4, 1000000
2:  la t5, strap_area
    ld s3, TR_COUNT(t5)
    bne s2, s3, 3f
    addi t4, t4, -1
    bnez t4, 2b
    j fail
3:  TO_M
    S_CHECK_CAUSE INTR | 1
    la t5, strap_area
    ld a0, TR_STATUS(t5)
    andi a0, a0, MSTATUS_SPP
    CHECK a0, 0                 /* taken from U */
    csrw mie, zero
    csrw mideleg, zero

    TEST_PASS

fail_j:
    j fail

/* S handler for the nesting test: log scause, ebreak to M, log again */
    .align 4
s_nest_handler:
    la t0, nest_log
    csrr t1, scause
    sd t1, 0(t0)
    EXPECT_TRAP
    ebreak
    la t0, nest_log
    csrr t1, scause
    sd t1, 8(t0)
    csrr t1, stval
    sd t1, 16(t0)
    la t2, trap_area            /* copy M's record before TO_M overwrites it */
    ld t1, TR_CAUSE(t2)
    sd t1, 24(t0)
    ld t1, TR_STATUS(t2)
    sd t1, 32(t0)
    csrr t1, sepc
    addi t1, t1, 4
    csrw sepc, t1
    sret

/* vectored table: each entry notes its number, then the common handler */
.macro VEC n
    .align 2
    j vstub\n
.endm
.macro VSTUB n
vstub\n:
    csrrw sp, mscratch, sp
    sd t0, 32(sp)
    li t0, \n
    sd t0, TR_VEC(sp)
    ld t0, 32(sp)
    csrrw sp, mscratch, sp
    j trap_m
.endm
    .align 8
    .option push
    .option norvc               /* 4-byte entries */
vtable:
    j vstub100
    VEC 1
    VEC 2
    VEC 3
    VEC 4
    VEC 5
    VEC 6
    VEC 7
    VEC 8
    VEC 9
    VEC 10
    VEC 11
    .option pop
    VSTUB 100
    VSTUB 1
    VSTUB 2
    VSTUB 3
    VSTUB 4
    VSTUB 5
    VSTUB 6
    VSTUB 7
    VSTUB 8
    VSTUB 9
    VSTUB 10
    VSTUB 11

    .data
    .align 3
nest_log: .dword 0, 0, 0, 0, 0
mdata: .dword 0, 0
    .align 12
    .skip 4096
mpage: .dword 0
