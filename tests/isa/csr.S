/* Zicsr and the machine-mode CSRs: read/write/set/clear forms, read-only
 * CSRs (x0 forms must not write), WARL fields of mstatus, misa, mtvec,
 * mepc, medeleg/mideleg, mie/mip, the S-mode views, counters, counter
 * enables, menvcfg, PMP registers, and privilege checks from S and U. */
#include "common.h"

/* csr bit field (shift, mask) of a register into a0 */
.macro FIELD reg, shift, mask
    srli a0, \reg, \shift
    andi a0, a0, \mask
.endm

/* illegal-instruction trap on the next instruction */
.macro ILLEGAL_NEXT
    CASE
    EXPECT_TRAP
.endm

TEST_BEGIN
    /* ---- read-only CSRs: x0 / zero-immediate set and clear do not write ---- */
    CASE
    csrr a0, mhartid
    CHECK a0, 0
    csrrs x1, mhartid, x0
    CHECK x1, 0
    csrrc a0, mhartid, x0
    csrrsi a0, mhartid, 0
    csrrci a0, mhartid, 0
    csrr a0, mvendorid
    csrr a0, marchid
    csrr a0, mimpid
    csrr a0, cycle
    csrr a0, instret
    csrr a0, time
    ILLEGAL_NEXT
1:  csrw mhartid, a0
    CHECK_CAUSE CAUSE_ILLEGAL
    la t5, trap_area
    ld t5, TR_TVAL(t5)
    beqz t5, 2f                 /* tval: 0 or the instruction bits */
    la t6, 1b
    lwu t6, 0(t6)
    CHECKR t5, t6
2:
    ILLEGAL_NEXT
    csrrw x0, mhartid, a0       /* rd = x0 still writes */
    CHECK_CAUSE CAUSE_ILLEGAL
    /* csrrs with rs1 != x0 holding 0 is a write to the spec (illegal on a
     * read-only CSR); QEMU 7.2 looks at the value and does not trap.
     * Accept both, but a trap must be an illegal instruction. */
    CASE
    EXPECT_TRAP
    li a1, 0
    csrrs a0, mhartid, a1
    la t5, trap_area
    ld t5, TR_CAUSE(t5)
    li t6, TR_NONE
    beq t5, t6, 1f
    CHECK t5, CAUSE_ILLEGAL
1:  DISARM
    ILLEGAL_NEXT
    csrrwi a0, mhartid, 0       /* csrrwi always writes */
    CHECK_CAUSE CAUSE_ILLEGAL
    ILLEGAL_NEXT
    csrrsi a0, mvendorid, 1
    CHECK_CAUSE CAUSE_ILLEGAL
    ILLEGAL_NEXT
    csrw cycle, zero            /* user counters are read-only */
    CHECK_CAUSE CAUSE_ILLEGAL
    ILLEGAL_NEXT
    li a1, 1
    csrrc a0, time, a1
    CHECK_CAUSE CAUSE_ILLEGAL
    ILLEGAL_NEXT
    csrr a0, 0xfff              /* unimplemented CSR */
    CHECK_CAUSE CAUSE_ILLEGAL
    ILLEGAL_NEXT
    csrr a0, pmpcfg1            /* odd pmpcfg does not exist on RV64 */
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE                        /* the trapped csr instruction left rd alone */
    li a0, 1234
    EXPECT_TRAP
    csrrw a0, mhartid, zero
    CHECK a0, 1234

    /* ---- misa ---- */
    CASE
    csrr a0, misa
    srli a1, a0, 62
    CHECK a1, 2                 /* MXL = 64 */
    li a2, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20)
    and a1, a0, a2              /* A C D F I M S U */
    CHECKR a1, a2

    /* ---- mscratch and the csr instruction forms (no trap may happen here) ---- */
    CASE
    li a1, 0x0123456789abcdef
    csrrw a0, mscratch, a1
    la a2, trap_area
    CHECKR a0, a2
    csrr a0, mscratch
    CHECKR a0, a1
    li a3, 0xff00000000000000
    csrrs a0, mscratch, a3
    CHECKR a0, a1
    csrr a0, mscratch
    CHECK a0, 0xff23456789abcdef
    li a3, 0x00000000000000ff
    csrrc a0, mscratch, a3
    CHECK a0, 0xff23456789abcdef
    csrr a0, mscratch
    CHECK a0, 0xff23456789abcd00
    csrrwi a0, mscratch, 31
    csrr a0, mscratch
    CHECK a0, 31
    csrrsi a0, mscratch, 0
    csrrci a0, mscratch, 1
    CHECK a0, 31
    csrrsi a0, mscratch, 0x10
    CHECK a0, 30
    csrr a0, mscratch
    CHECK a0, 30
    csrrw a0, mscratch, a2      /* restore the trap area */
    CHECK a0, 30
    CASE                        /* rd == rs1 reads old value, writes the register's value */
    li a1, 77
    csrw mscratch, a1
    li a1, 88
    csrrw a1, mscratch, a1
    csrrw a0, mscratch, a2
    CHECK a1, 77
    CHECK a0, 88

    /* ---- mstatus ---- */
    CASE                        /* SXL = UXL = 2 */
    csrr a1, mstatus
    FIELD a1, 32, 0xf
    CHECK a0, 0xa
    CASE                        /* single-bit fields are writable */
    li a2, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
    csrs mstatus, a2
    csrr a1, mstatus
    and a0, a1, a2
    CHECKR a0, a2
    csrc mstatus, a2
    csrr a1, mstatus
    and a0, a1, a2
    CHECK a0, 0
    CASE                        /* MIE writable (mie is 0: no interrupt can be taken) */
    csrsi mstatus, MSTATUS_MIE
    csrr a1, mstatus
    andi a0, a1, MSTATUS_MIE
    CHECK a0, MSTATUS_MIE
    csrci mstatus, MSTATUS_MIE
    CASE                        /* MPRV writable */
    li a2, MSTATUS_MPRV
    csrs mstatus, a2
    csrr a1, mstatus
    csrc mstatus, a2
    and a0, a1, a2
    CHECKR a0, a2
    CASE                        /* MPP holds M, S and U */
    li a2, MSTATUS_MPP
    csrs mstatus, a2
    csrr a1, mstatus
    FIELD a1, 11, 3
    CHECK a0, 3
    csrc mstatus, a2
    li a3, MSTATUS_MPP_S
    csrs mstatus, a3
    csrr a1, mstatus
    FIELD a1, 11, 3
    CHECK a0, 1
    csrc mstatus, a2
    csrr a1, mstatus
    FIELD a1, 11, 3
    CHECK a0, 0
    /* MPP = 2 (no H mode) should not stick, but QEMU 7.2 keeps it: untested */
    CASE                        /* FS takes all four values; SD mirrors FS = Dirty */
    li a2, MSTATUS_FS
    csrc mstatus, a2
    csrr a1, mstatus
    FIELD a1, 13, 3
    CHECK a0, 0
    bltz a1, fail_j
    li a3, MSTATUS_FS_CLEAN
    csrs mstatus, a3
    csrr a1, mstatus
    FIELD a1, 13, 3
    CHECK a0, 2
    bltz a1, fail_j
    csrs mstatus, a2
    csrr a1, mstatus
    FIELD a1, 13, 3
    CHECK a0, 3
    bgez a1, fail_j
    CASE                        /* SD is read-only */
    csrc mstatus, a2
    li a3, MSTATUS_FS_INIT
    csrs mstatus, a3
    li a3, MSTATUS_SD
    csrs mstatus, a3
    csrr a1, mstatus
    bltz a1, fail_j

    /* ---- sstatus is a view of mstatus ---- */
    CASE
    csrsi sstatus, MSTATUS_SIE
    csrr a1, mstatus
    andi a0, a1, MSTATUS_SIE
    CHECK a0, MSTATUS_SIE
    csrci mstatus, MSTATUS_SIE
    csrr a1, sstatus
    andi a0, a1, MSTATUS_SIE
    CHECK a0, 0
    CASE                        /* M-only fields are invisible and unwritable through sstatus */
    li a2, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV
    csrs mstatus, a2
    csrr a1, sstatus
    and a0, a1, a2
    CHECK a0, 0
    csrc mstatus, a2
    csrs sstatus, a2
    csrr a1, mstatus
    and a0, a1, a2
    CHECK a0, 0
    csrsi mstatus, MSTATUS_MIE
    csrr a1, sstatus
    csrci mstatus, MSTATUS_MIE
    andi a0, a1, MSTATUS_MIE
    CHECK a0, 0
    CASE                        /* SUM / MXR / SPP / SPIE through sstatus */
    li a2, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SPP | MSTATUS_SPIE
    csrs sstatus, a2
    csrr a1, mstatus
    and a0, a1, a2
    CHECKR a0, a2
    csrc sstatus, a2
    csrr a1, mstatus
    and a0, a1, a2
    CHECK a0, 0

    /* ---- mtvec ---- */
    CASE
    csrr s0, mtvec
    la a1, vec_base
    csrw mtvec, a1
    csrr a0, mtvec
    CHECKR a0, a1
    ori a2, a1, 1               /* vectored */
    csrw mtvec, a2
    csrr a0, mtvec
    CHECKR a0, a2
    ori a3, a1, 3               /* reserved mode: the mode must stay 0 or 1 */
    csrw mtvec, a3
    csrr a0, mtvec
    andi a0, a0, 3
    li t0, 1
    bgtu a0, t0, fail_j_restore
    csrw mtvec, s0
    csrr a0, mtvec
    CHECKR a0, s0

    /* ---- mepc, mcause, mtval ---- */
    CASE
    li a1, 0x80001234
    csrw mepc, a1
    csrr a0, mepc
    CHECKR a0, a1
    li a1, 0x80001236           /* bit 1 holds: IALIGN is 16 */
    csrw mepc, a1
    csrr a0, mepc
    CHECKR a0, a1
    li a1, 0x80001237           /* bit 0 reads 0 (QEMU 7.2 keeps it: accept both) */
    csrw mepc, a1
    csrr a0, mepc
    andi a0, a0, -2
    CHECK a0, 0x80001236
    li a1, -2
    csrw mepc, a1
    csrr a0, mepc
    CHECKR a0, a1
    CASE
    li a1, 0x8000000000000007
    csrw mcause, a1
    csrr a0, mcause
    CHECKR a0, a1
    li a1, 2
    csrw mcause, a1
    csrr a0, mcause
    CHECKR a0, a1
    li a1, 0xfedcba9876543210
    csrw mtval, a1
    csrr a0, mtval
    CHECKR a0, a1
    CASE                        /* S-mode trap CSRs from M */
    li a1, 0x80004442
    csrw sepc, a1
    csrr a0, sepc
    CHECKR a0, a1
    li a1, 0x8000000000000005
    csrw scause, a1
    csrr a0, scause
    CHECKR a0, a1
    li a1, 0x123456789
    csrw stval, a1
    csrr a0, stval
    CHECKR a0, a1
    li a1, 0x1122334455667788
    csrw sscratch, a1
    csrr a0, sscratch
    CHECKR a0, a1
    la a1, vec_base
    csrw stvec, a1
    csrr a0, stvec
    CHECKR a0, a1
    ori a1, a1, 1
    csrw stvec, a1
    csrr a0, stvec
    CHECKR a0, a1

    /* ---- delegation registers ---- */
    CASE
    li a1, -1
    csrw medeleg, a1
    csrr a0, medeleg
    /* every exception S/U can raise is delegable */
    li a2, 0xb3ff               /* 0-9, 12, 13, 15 */
    and a3, a0, a2
    CHECKR a3, a2
    csrw medeleg, zero
    csrr a0, medeleg
    CHECK a0, 0
    CASE
    li a1, -1
    csrw mideleg, a1
    csrr a0, mideleg
    andi a3, a0, 0x222          /* SSIP STIP SEIP delegable */
    CHECK a3, 0x222
    li t0, 0x888
    and a3, a0, t0         /* M-level interrupts never */
    CHECK a3, 0
    csrw mideleg, zero
    csrr a0, mideleg
    andi a0, a0, 0x222          /* (with H, QEMU forces the VS bits to 1) */
    CHECK a0, 0

    /* ---- mie / mip and their S views ---- */
    CASE
    li a1, -1
    csrw mie, a1
    csrr a0, mie
    li t0, 0xaaa
    and a3, a0, t0
    CHECK a3, 0xaaa
    csrw mie, zero
    csrr a0, mie
    CHECK a0, 0
    CASE                        /* SSIP is writable in mip, MSIP is not */
    csrsi mip, 2
    csrr a0, mip
    andi a0, a0, 2
    CHECK a0, 2
    csrci mip, 2
    csrr a0, mip
    andi a0, a0, 2
    CHECK a0, 0
    csrsi mip, 8
    csrr a0, mip
    andi a0, a0, 8
    CHECK a0, 0
    CASE                        /* sie / sip show only delegated bits */
    li a1, 0x222
    csrw mideleg, a1
    li a1, -1
    csrw sie, a1
    csrr a0, mie
    li t0, 0xaaa
    and a0, a0, t0
    CHECK a0, 0x222
    csrr a0, sie
    li t0, 0xaaa
    and a0, a0, t0
    CHECK a0, 0x222
    csrw mideleg, zero
    csrr a0, sie
    CHECK a0, 0
    csrw mie, zero
    li a1, 2
    csrw mideleg, a1
    csrsi sip, 2
    csrr a0, mip
    andi a0, a0, 2
    CHECK a0, 2
    csrr a0, sip
    andi a0, a0, 2
    CHECK a0, 2
    csrci sip, 2
    csrr a0, mip
    andi a0, a0, 2
    CHECK a0, 0
    csrw mideleg, zero

    /* ---- counter enables, envcfg ---- */
    CASE
    li a1, 7
    csrw mcounteren, a1
    csrr a0, mcounteren
    andi a0, a0, 7
    CHECK a0, 7
    csrw mcounteren, zero
    csrr a0, mcounteren
    CHECK a0, 0
    csrw scounteren, a1
    csrr a0, scounteren
    andi a0, a0, 7
    CHECK a0, 7
    csrw scounteren, zero
    CASE                        /* WARL: a value read back is stable when written again */
    li a1, -1
    csrw menvcfg, a1
    csrr a2, menvcfg
    csrw menvcfg, a2
    csrr a0, menvcfg
    CHECKR a0, a2
    csrw menvcfg, zero
    csrr a0, menvcfg
    CHECK a0, 0
    CASE
    li a1, -1
    csrw senvcfg, a1
    csrr a2, senvcfg
    csrw senvcfg, a2
    csrr a0, senvcfg
    CHECKR a0, a2
    csrw senvcfg, zero

    /* ---- PMP registers read back (enforcement is not tested) ---- */
    CASE
    li a1, 0x12345678
    csrw pmpaddr1, a1
    csrr a0, pmpaddr1
    CHECKR a0, a1
    li a1, 0x0003ffff
    csrw pmpaddr15, a1
    csrr a0, pmpaddr15
    CHECKR a0, a1
    CASE
    csrr a0, pmpaddr0
    li a1, 0x003fffffffffffff
    and a0, a0, a1
    CHECKR a0, a1               /* the all-space entry from TEST_BEGIN */
    CASE
    li a1, 0x0f1f               /* entry 1: TOR RWX, entry 0 unchanged */
    csrw pmpcfg0, a1
    csrr a0, pmpcfg0
    CHECKR a0, a1
    li a1, 0x1f
    csrw pmpcfg0, a1
    csrr a0, pmpcfg0
    CHECKR a0, a1
    li a1, 0x0b00000000000000   /* entry 15 (pmpcfg2 byte 7): TOR R X */
    csrw pmpcfg2, a1
    csrr a0, pmpcfg2
    CHECKR a0, a1
    csrw pmpcfg2, zero
    csrw pmpaddr1, zero
    csrw pmpaddr15, zero

    /* ---- counters ---- */
    CASE                        /* cycle and instret grow */
    rdcycle a1
    rdinstret a2
    li a0, 100
1:  addi a0, a0, -1
    bnez a0, 1b
    rdcycle a3
    rdinstret a4
    bleu a3, a1, fail_j
    sub a5, a4, a2
    li a0, 100
    bltu a5, a0, fail_j
    CASE                        /* time grows (10 MHz: wait for a tick) */
    rdtime a1
    li a2, 10000000
1:  rdtime a3
    bne a3, a1, 2f
    addi a2, a2, -1
    bnez a2, 1b
    j fail
2:  bltu a3, a1, fail_j
    CASE                        /* mcycle / minstret writable; the alias sees it */
    li a1, 1000000
    csrw minstret, a1
    csrr a0, minstret
    rdinstret a2
    bltu a0, a1, fail_j
    bltu a2, a0, fail_j
    li a3, 100000000
    add a3, a3, a1
    bgeu a2, a3, fail_j
    csrw mcycle, a1
    rdcycle a0
    bltu a0, a1, fail_j
    bgeu a0, a3, fail_j

    /* ---- satp from M: a supported mode sticks, an unsupported one is ignored ---- */
    CASE
    li a1, (8 << 60) | 0x80040
    csrw satp, a1
    csrr a0, satp
    CHECKR a0, a1
    li a2, (15 << 60) | 0x80041
    csrw satp, a2
    csrr a0, satp
    CHECKR a0, a1
    li a2, (1 << 60) | 0x80042
    csrw satp, a2
    csrr a0, satp
    CHECKR a0, a1
    csrw satp, zero
    csrr a0, satp
    CHECK a0, 0

    /* ---- privilege checks from S-mode ---- */
    CASE
    csrw mcounteren, zero
    GOTO_S 1f
1:  EXPECT_TRAP                 /* (the trap area is reachable: no paging) */
    csrr a0, mstatus
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    csrr a0, mscratch
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    rdcycle a0                  /* mcounteren.CY = 0 */
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    rdtime a0                   /* mcounteren.TM = 0 */
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE                        /* S CSRs are fine */
    csrr a0, sstatus
    csrw sscratch, a0
    csrr a0, sie
    csrr a0, stvec
    TO_M
    CASE
    li a1, 7
    csrw mcounteren, a1
    GOTO_S 1f
1:  rdcycle a0
    rdtime a0
    rdinstret a0
    csrw scounteren, zero
    TO_M

    /* ---- privilege checks from U-mode ---- */
    CASE
    GOTO_U 1f
1:  EXPECT_TRAP
    csrr a0, sstatus
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    csrr a0, mstatus
    CHECK_CAUSE CAUSE_ILLEGAL
    CASE
    EXPECT_TRAP
    rdcycle a0                  /* scounteren.CY = 0 */
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    CASE
    li a1, 7
    csrw scounteren, a1
    GOTO_U 1f
1:  rdcycle a0
    rdtime a0
    rdinstret a0
    TO_M
    csrw mcounteren, zero
    CASE
    GOTO_U 1f
1:  EXPECT_TRAP
    rdtime a0                   /* mcounteren.TM = 0 wins */
    CHECK_CAUSE CAUSE_ILLEGAL
    TO_M
    csrw scounteren, zero
    CASE                        /* fcsr is accessible from U */
    GOTO_U 1f
1:  csrr a0, fcsr
    TO_M

    TEST_PASS

fail_j_restore:
    csrw mtvec, s0
fail_j:
    j fail

    .align 8
vec_base:
    j fail
