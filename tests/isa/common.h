/* Shared scaffolding for Corral's bare-metal ISA test programs.
 *
 * A program is:     #include "common.h"
 *                   TEST_BEGIN
 *                   CASE ... checks ...   (as many as wanted)
 *                   TEST_PASS
 *
 * Register conventions: gp (x3) holds the current case number, t6 (x31) is
 * the scratch of the CHECK macros; nothing else is reserved.  The M-mode
 * trap handler preserves every register.
 *
 * Ending: pass writes tohost = 1 then the SiFive test finisher 0x5555; a
 * failure of case n writes tohost = (n << 1) | 1 then the finisher
 * 0x3333 | (n << 16) (QEMU exits with status n & 0xff, so n is forced odd
 * when its low byte is 0).  Before that a line goes to the ns16550 UART.
 *
 * Traps: a test arms the handler (EXPECT_TRAP / EXPECT_TRAP_AT) before an
 * instruction meant to trap; the handler records mcause, mtval, mepc and
 * mstatus in trap_area, then resumes at the given label or after the
 * faulting instruction.  A trap that was not armed fails the case, except
 * two ecall protocols: a7 = ECALL_TO_M returns to M-mode right after the
 * ecall (see TO_M), a7 = ECALL_FAIL reports a failure from any mode.
 */
#ifndef ISA_COMMON_H
#define ISA_COMMON_H

#define UART_BASE       0x10000000
#define FINISHER_BASE   0x100000
#define CLINT_MSIP      0x2000000
#define CLINT_MTIMECMP  0x2004000
#define CLINT_MTIME     0x200BFF8

#define MSTATUS_SIE     (1 << 1)
#define MSTATUS_MIE     (1 << 3)
#define MSTATUS_SPIE    (1 << 5)
#define MSTATUS_UBE     (1 << 6)
#define MSTATUS_MPIE    (1 << 7)
#define MSTATUS_SPP     (1 << 8)
#define MSTATUS_MPP     (3 << 11)
#define MSTATUS_MPP_S   (1 << 11)
#define MSTATUS_MPP_M   (3 << 11)
#define MSTATUS_FS      (3 << 13)
#define MSTATUS_FS_INIT (1 << 13)
#define MSTATUS_FS_CLEAN (2 << 13)
#define MSTATUS_FS_DIRTY (3 << 13)
#define MSTATUS_MPRV    (1 << 17)
#define MSTATUS_SUM     (1 << 18)
#define MSTATUS_MXR     (1 << 19)
#define MSTATUS_TVM     (1 << 20)
#define MSTATUS_TW      (1 << 21)
#define MSTATUS_TSR     (1 << 22)
#define MSTATUS_SD      (1 << 63)

#define CAUSE_MISALIGNED_FETCH  0
#define CAUSE_FETCH_ACCESS      1
#define CAUSE_ILLEGAL           2
#define CAUSE_BREAKPOINT        3
#define CAUSE_MISALIGNED_LOAD   4
#define CAUSE_LOAD_ACCESS       5
#define CAUSE_MISALIGNED_STORE  6
#define CAUSE_STORE_ACCESS      7
#define CAUSE_USER_ECALL        8
#define CAUSE_SUPERVISOR_ECALL  9
#define CAUSE_MACHINE_ECALL     11
#define CAUSE_FETCH_PAGE        12
#define CAUSE_LOAD_PAGE         13
#define CAUSE_STORE_PAGE        15
#define INTR                    (1 << 63)

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

#define ECALL_TO_M   0x70de
#define ECALL_TO_M2  0x70df   /* internal: S handler forwarding TO_M */
#define ECALL_FAIL   0xfa11

/* trap_area / strap_area layout (bytes) */
#define TR_SAVE     0     /* 8 saved registers */
#define TR_CAUSE    64
#define TR_TVAL     72
#define TR_EPC      80
#define TR_COUNT    88
#define TR_STATUS   96    /* mstatus / sstatus at trap entry */
#define TR_ARMED    104
#define TR_RESUME   112
#define TR_SIZE     128
#define TR_NONE     0xbad0bad0   /* cause sentinel: "no trap happened" */

/* ------------------------------------------------------------------ */
/* checks                                                               */

.macro CASE
    .set case_no, case_no + 1
    li gp, case_no
.endm

/* reg == immediate/constant, else fail */
.macro CHECK reg, val
    li t6, \val
    beq \reg, t6, 1001f
    j fail
1001:
.endm

/* reg1 == reg2 */
.macro CHECKR reg1, reg2
    beq \reg1, \reg2, 1002f
    j fail
1002:
.endm

/* reg == address of symbol */
.macro CHECKLA reg, sym
    la t6, \sym
    beq \reg, t6, 1003f
    j fail
1003:
.endm

.macro FAIL_IF_NE reg1, reg2
    CHECKR \reg1, \reg2
.endm

.macro TEST_RR op, res, v1, v2
    CASE
    li a1, \v1
    li a2, \v2
    \op a0, a1, a2
    CHECK a0, \res
.endm

.macro TEST_RI op, res, v1, imm
    CASE
    li a1, \v1
    \op a0, a1, \imm
    CHECK a0, \res
.endm

.macro TEST_R op, res, v1
    CASE
    li a1, \v1
    \op a0, a1
    CHECK a0, \res
.endm

/* ------------------------------------------------------------------ */
/* trap expectations (clobber t5, t6)                                   */

.macro EXPECT_TRAP
    la t6, trap_area
    li t5, TR_NONE
    sd t5, TR_CAUSE(t6)
    li t5, 1
    sd t5, TR_ARMED(t6)
    sd zero, TR_RESUME(t6)
.endm

/* the trap resumes at label instead of after the faulting instruction */
.macro EXPECT_TRAP_AT label
    la t6, trap_area
    li t5, TR_NONE
    sd t5, TR_CAUSE(t6)
    li t5, 1
    sd t5, TR_ARMED(t6)
    la t5, \label
    sd t5, TR_RESUME(t6)
.endm

.macro DISARM
    la t6, trap_area
    sd zero, TR_ARMED(t6)
    sd zero, TR_RESUME(t6)
.endm

/* check the fields the last M-mode trap recorded */
.macro CHECK_CAUSE cause
    la t5, trap_area
    ld t5, TR_CAUSE(t5)
    CHECK t5, \cause
.endm

.macro CHECK_TVAL val
    la t5, trap_area
    ld t5, TR_TVAL(t5)
    CHECK t5, \val
.endm

.macro CHECK_TVAL_R reg
    la t5, trap_area
    ld t5, TR_TVAL(t5)
    CHECKR t5, \reg
.endm

.macro CHECK_TVAL_LA sym
    la t5, trap_area
    ld t5, TR_TVAL(t5)
    CHECKLA t5, \sym
.endm

.macro CHECK_EPC_LA sym
    la t5, trap_area
    ld t5, TR_EPC(t5)
    CHECKLA t5, \sym
.endm

/* no trap since the last EXPECT_TRAP */
.macro CHECK_NO_TRAP
    CHECK_CAUSE TR_NONE
    DISARM
.endm

/* same for the S-mode handler (strap_area) */
.macro S_EXPECT_TRAP
    la t6, strap_area
    li t5, TR_NONE
    sd t5, TR_CAUSE(t6)
    li t5, 1
    sd t5, TR_ARMED(t6)
    sd zero, TR_RESUME(t6)
.endm

.macro S_EXPECT_TRAP_AT label
    la t6, strap_area
    li t5, TR_NONE
    sd t5, TR_CAUSE(t6)
    li t5, 1
    sd t5, TR_ARMED(t6)
    la t5, \label
    sd t5, TR_RESUME(t6)
.endm

.macro S_CHECK_CAUSE cause
    la t5, strap_area
    ld t5, TR_CAUSE(t5)
    CHECK t5, \cause
.endm

.macro S_CHECK_TVAL val
    la t5, strap_area
    ld t5, TR_TVAL(t5)
    CHECK t5, \val
.endm

.macro S_CHECK_TVAL_R reg
    la t5, strap_area
    ld t5, TR_TVAL(t5)
    CHECKR t5, \reg
.endm

.macro S_CHECK_EPC_LA sym
    la t5, strap_area
    ld t5, TR_EPC(t5)
    CHECKLA t5, \sym
.endm

/* ------------------------------------------------------------------ */
/* privilege changes (clobber t0)                                       */

/* mret to label in S-mode (mode 1) or U-mode (mode 0); clears MPIE so
 * that mstatus.MIE is 0 there and after the TO_M that comes back */
.macro GOTO_MODE mode, label
    li t0, MSTATUS_MPP | MSTATUS_MPIE
    csrc mstatus, t0
    li t0, (\mode << 11)
    csrs mstatus, t0
    la t0, \label
    csrw mepc, t0
    mret
.endm

.macro GOTO_S label
    GOTO_MODE 1, \label
.endm

.macro GOTO_U label
    GOTO_MODE 0, \label
.endm

/* from S or U: continue in M-mode at the next instruction (clobbers a7) */
.macro TO_M
    li a7, ECALL_TO_M
    ecall
.endm

/* from S to U: sret to label in U-mode */
.macro S_GOTO_U label
    li t0, MSTATUS_SPP
    csrc sstatus, t0
    la t0, \label
    csrw sepc, t0
    sret
.endm

/* install the S-mode handler (call in M-mode; clobbers t0) */
.macro SETUP_STVEC
    la t0, trap_s
    csrw stvec, t0
    la t0, strap_area
    csrw sscratch, t0
.endm

/* ------------------------------------------------------------------ */
/* page tables: PTE for physical address in register pa with flags      */

/* dst = PTE(pa, flags) */
.macro MAKE_PTE dst, pa, flags
    srli \dst, \pa, 12
    slli \dst, \dst, 10
    ori \dst, \dst, \flags
.endm

/* table[index] = PTE(pa_reg, flags); clobbers t5, t6 */
.macro SET_PTE table, index, pa_reg, flags
    MAKE_PTE t6, \pa_reg, \flags
    la t5, \table
    sd t6, (\index * 8)(t5)
.endm

/* table[index] = pointer to next-level table; clobbers t5, t6 */
.macro SET_PTR table, index, next
    la t6, \next
    MAKE_PTE t6, t6, PTE_V
    la t5, \table
    sd t6, (\index * 8)(t5)
.endm

/* index of va at a level (0 = 4 KiB level) */
#define VPN(va, level) (((va) >> (12 + 9 * (level))) & 0x1ff)

/* ------------------------------------------------------------------ */
/* program frame                                                        */

.macro TEST_BEGIN
    .set case_no, 0
    .section .text.init, "ax", @progbits
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la sp, stack_top
    la t0, trap_m
    csrw mtvec, t0
    la t0, trap_area
    csrw mscratch, t0
    /* zero .bss (a loader may have done it, a test must not rely on it) */
    la t0, _bss_start
    la t1, _bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:
    /* whole address space RWX for S/U through PMP entry 0 (NAPOT) */
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    csrw satp, zero
    csrw mie, zero
    csrw medeleg, zero
    csrw mideleg, zero
    li t0, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_SIE | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
    csrc mstatus, t0
    li t0, MSTATUS_FS_INIT
    csrs mstatus, t0
    csrw fcsr, zero
    li gp, 0
    j test_main

park:
    wfi
    j park

/* ---- M-mode trap handler ---- */
    .align 6
trap_m:
    csrrw sp, mscratch, sp
    sd t0, 0(sp)
    sd t1, 8(sp)
    sd t2, 16(sp)
    sd a0, 24(sp)
    csrr t0, mcause
    /* a failure reported by ecall keeps the previous trap's record */
    li t1, ECALL_FAIL
    bne a7, t1, 1f
    addi t1, t0, -CAUSE_USER_ECALL
    li t2, CAUSE_MACHINE_ECALL - CAUSE_USER_ECALL
    bleu t1, t2, trap_m_fail
1:  sd t0, TR_CAUSE(sp)
    csrr t1, mtval
    sd t1, TR_TVAL(sp)
    csrr t2, mepc
    sd t2, TR_EPC(sp)
    csrr t1, mstatus
    sd t1, TR_STATUS(sp)
    ld t1, TR_COUNT(sp)
    addi t1, t1, 1
    sd t1, TR_COUNT(sp)
    bltz t0, trap_m_intr
    /* ecall protocols come before the armed check */
    li t1, CAUSE_USER_ECALL
    beq t0, t1, trap_m_ecall
    li t1, CAUSE_SUPERVISOR_ECALL
    beq t0, t1, trap_m_ecall
    li t1, CAUSE_MACHINE_ECALL
    beq t0, t1, trap_m_ecall
trap_m_sync:
    ld t1, TR_ARMED(sp)
    beqz t1, trap_m_unexpected
    sd zero, TR_ARMED(sp)
    ld t1, TR_RESUME(sp)
    beqz t1, 3f
    sd zero, TR_RESUME(sp)
    csrw mepc, t1
    j trap_m_out
3:  /* skip the faulting instruction: 2 or 4 bytes */
    lhu t1, 0(t2)
    andi t1, t1, 3
    li a0, 3
    addi t2, t2, 2
    bne t1, a0, 4f
    addi t2, t2, 2
4:  csrw mepc, t2
trap_m_out:
    ld t0, 0(sp)
    ld t1, 8(sp)
    ld t2, 16(sp)
    ld a0, 24(sp)
    csrrw sp, mscratch, sp
    mret

trap_m_ecall:
    li t1, ECALL_TO_M
    beq a7, t1, 5f
    li t1, ECALL_TO_M2
    bne a7, t1, trap_m_sync
    csrr t2, sepc       /* forwarded by the S handler: resume after U's ecall */
5:  ld t1, TR_RESUME(sp)
    beqz t1, 6f
    sd zero, TR_RESUME(sp)
    addi t1, t1, -4
    mv t2, t1
6:  addi t2, t2, 4
    csrw mepc, t2
    li t1, MSTATUS_MPP
    csrs mstatus, t1
    li t1, MSTATUS_MPIE     /* back in M with MIE = 0 */
    csrc mstatus, t1
    j trap_m_out

trap_m_intr:
    /* quiet the source so mret does not re-enter */
    slli t0, t0, 1
    srli t0, t0, 1
    li t1, 3
    bne t0, t1, 7f
    li t1, CLINT_MSIP
    sw zero, 0(t1)
    j trap_m_out
7:  li t1, 7
    bne t0, t1, 8f
    li t1, CLINT_MTIMECMP
    li a0, -1
    sd a0, 0(t1)
    j trap_m_out
8:  li t1, 1
    sll t1, t1, t0
    csrc mip, t1     /* SSIP/STIP/SEIP are writable in mip */
    csrc mie, t1     /* others: mask them */
    j trap_m_out

trap_m_unexpected:
    ld t0, 0(sp)
    ld t1, 8(sp)
    ld t2, 16(sp)
    ld a0, 24(sp)
    csrrw sp, mscratch, sp
    la t6, msg_unexpected
    j fail_report

trap_m_fail:
    ld t0, 0(sp)
    ld t1, 8(sp)
    ld t2, 16(sp)
    ld a0, 24(sp)
    csrrw sp, mscratch, sp
    la t6, msg_fail
    j fail_report

/* ---- S-mode trap handler (used when a test delegates) ---- */
    .align 6
trap_s:
    csrrw sp, sscratch, sp
    sd t0, 0(sp)
    sd t1, 8(sp)
    sd t2, 16(sp)
    sd a0, 24(sp)
    csrr t0, scause
    li t1, ECALL_FAIL
    bne a7, t1, 1f
    li t1, CAUSE_USER_ECALL
    beq t0, t1, trap_s_forward
1:  sd t0, TR_CAUSE(sp)
    csrr t1, stval
    sd t1, TR_TVAL(sp)
    csrr t2, sepc
    sd t2, TR_EPC(sp)
    csrr t1, sstatus
    sd t1, TR_STATUS(sp)
    ld t1, TR_COUNT(sp)
    addi t1, t1, 1
    sd t1, TR_COUNT(sp)
    bltz t0, trap_s_intr
    li t1, CAUSE_USER_ECALL
    bne t0, t1, trap_s_sync
    li t1, ECALL_TO_M
    bne a7, t1, trap_s_sync
    li a7, ECALL_TO_M2
trap_s_forward:  /* to M with the U-mode registers back in place */
    ld t0, 0(sp)
    ld t1, 8(sp)
    ld t2, 16(sp)
    ld a0, 24(sp)
    csrrw sp, sscratch, sp
    ecall
trap_s_sync:
    ld t1, TR_ARMED(sp)
    beqz t1, trap_s_unexpected
    sd zero, TR_ARMED(sp)
    ld t1, TR_RESUME(sp)
    beqz t1, 3f
    sd zero, TR_RESUME(sp)
    csrw sepc, t1
    j trap_s_out
3:  lhu t1, 0(t2)
    andi t1, t1, 3
    li a0, 3
    addi t2, t2, 2
    bne t1, a0, 4f
    addi t2, t2, 2
4:  csrw sepc, t2
trap_s_out:
    ld t0, 0(sp)
    ld t1, 8(sp)
    ld t2, 16(sp)
    ld a0, 24(sp)
    csrrw sp, sscratch, sp
    sret

trap_s_intr:
    slli t0, t0, 1
    srli t0, t0, 1
    li t1, 1
    sll t1, t1, t0
    csrc sip, t1
    csrc sie, t1
    j trap_s_out

trap_s_unexpected:
    ld t0, 0(sp)
    ld t1, 8(sp)
    ld t2, 16(sp)
    ld a0, 24(sp)
    csrrw sp, sscratch, sp
    li a7, ECALL_FAIL
    ecall

/* ---- endings ---- */
fail:
    li a7, ECALL_FAIL
    ecall
    j fail_report        /* if ecall itself is broken, try from here */

/* M-mode, t6 = message; reports case gp */
fail_report:
    la t0, fail_dead
    csrw mtvec, t0
    la sp, stack_top
    mv a0, t6
    call puts
    la a0, msg_case
    call puts
    mv a0, gp
    call puthex
    la a0, msg_cause
    call puts
    la t0, trap_area
    ld a0, TR_CAUSE(t0)
    call puthex
    la a0, msg_tval
    call puts
    la t0, trap_area
    ld a0, TR_TVAL(t0)
    call puthex
    la a0, msg_epc
    call puts
    la t0, trap_area
    ld a0, TR_EPC(t0)
    call puthex
    li a0, '\n'
    call putc
fail_dead:
    slli t0, gp, 1
    ori t0, t0, 1
    la t1, tohost
    sd t0, 0(t1)
    andi t0, gp, 0xff
    mv t1, gp
    bnez t0, 1f
    ori t1, t1, 1
1:  slli t1, t1, 16
    li t0, 0x3333
    or t0, t0, t1
    li t1, FINISHER_BASE
    sw t0, 0(t1)
2:  j 2b

pass_report:
    la a0, msg_pass
    call puts
    li t0, 1
    la t1, tohost
    sd t0, 0(t1)
    li t0, 0x5555
    li t1, FINISHER_BASE
    sw t0, 0(t1)
1:  j 1b

/* UART output, M-mode; a0 = char */
putc:
    li t0, UART_BASE
1:  lbu t1, 5(t0)
    andi t1, t1, 0x20
    beqz t1, 1b
    sb a0, 0(t0)
    ret

/* a0 = NUL-terminated string */
puts:
    mv t2, ra
    mv t3, a0
1:  lbu a0, 0(t3)
    beqz a0, 2f
    call putc
    addi t3, t3, 1
    j 1b
2:  mv ra, t2
    ret

/* a0 = value, printed as 0x + 16 hex digits */
puthex:
    mv t2, ra
    mv t3, a0
    li a0, '0'
    call putc
    li a0, 'x'
    call putc
    li t4, 60
1:  srl a0, t3, t4
    andi a0, a0, 15
    li t5, 10
    blt a0, t5, 2f
    addi a0, a0, 'a' - '0' - 10
2:  addi a0, a0, '0'
    call putc
    addi t4, t4, -4
    bgez t4, 1b
    mv ra, t2
    ret

    .section .rodata
msg_pass:       .asciz "PASS\n"
msg_fail:       .asciz "FAIL"
msg_unexpected: .asciz "FAIL (unexpected trap)"
msg_case:       .asciz ": case "
msg_cause:      .asciz " last trap: cause "
msg_tval:       .asciz " tval "
msg_epc:        .asciz " epc "

    .section .tohost, "aw", @progbits
    .align 6
    .globl tohost
tohost: .dword 0
    .align 6
    .globl fromhost
fromhost: .dword 0

    .section .bss
    .align 6
    .globl trap_area
trap_area: .skip TR_SIZE
    .globl strap_area
strap_area: .skip TR_SIZE
    .align 4
stack: .skip 8192
stack_top:

    .text
test_main:
.endm

.macro TEST_PASS
    j pass_report
.endm

#endif
