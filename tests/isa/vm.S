/* Virtual memory: Sv39, Sv48 and Sv57 page tables built here; S-mode code
 * runs on an identity gigapage, U-mode code on a U alias of the same RAM
 * (VA = PA - 0x40000000).  Covers every page-walk fault with its cause and
 * tval, SUM, MXR, U/S separation, A/D updates, sfence.vma, superpages
 * (misaligned ones fault), non-canonical addresses, an instruction that
 * straddles into an unmapped page, MPRV, delegated page faults and satp
 * WARL behaviour. */
#include "common.h"

#define ALIAS   0x40000000          /* PA - VA of the U alias */
#define LEAF_RW (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define LEAF_RWX (LEAF_RW | PTE_X)
#define SATP_MODE(m) ((m) << 60)

/* 4 KiB test pages (VA -> what) */
#define VA_RW     0x1000    /* RW -> f0 */
#define VA_INV    0x2000    /* V = 0 */
#define VA_WONLY  0x3000    /* W without R: reserved */
#define VA_USER   0x4000    /* U RW -> f1 */
#define VA_XONLY  0x5000    /* X only -> f2 */
#define VA_RONLY  0x6000    /* R only -> f0 */
#define VA_AD     0x7000    /* RW with A = D = 0 -> f1 */
#define VA_CODE   0x8000    /* RX -> f3 (code); 0x9000 unmapped */
#define VA_UCODE  0xa000    /* U RX -> f3 */
#define VA_PTR    0xb000    /* a pointer PTE at the last level */
#define VA_GONE   0xc000    /* RW -> f2, later invalidated */
#define VA_MISSP  0x200000  /* 2 MiB leaf whose PPN is not 2 MiB aligned */

/* l0t[VA >> 12] = PTE(frame, flags) */
.macro MAP4K va, frame, flags
    la t0, \frame
    SET_PTE l0t, (\va >> 12), t0, \flags
.endm

/* a load/store/fetch expected to page-fault with this cause and tval */
.macro EXPECT_PF cause, va
    CHECK_CAUSE \cause
    CHECK_TVAL \va
.endm

/* the recorded mepc equals a constant */
.macro CHECK_EPC_LA_VAL val
    la t5, trap_area
    ld t5, TR_EPC(t5)
    CHECK t5, \val
.endm

/* the recorded cause is one of two */
.macro CHECK_CAUSE_2 c1, c2
    la t5, trap_area
    ld t5, TR_CAUSE(t5)
    li t6, \c1
    beq t5, t6, 1010f
    CHECK t5, \c2
1010:
.endm

/* to U-mode at the alias of label */
.macro GOTO_UA label
    li t0, MSTATUS_MPP | MSTATUS_MPIE
    csrc mstatus, t0
    la t0, \label
    li t1, ALIAS
    sub t0, t0, t1
    csrw mepc, t0
    mret
.endm

/* from U (alias) back to M at the physical next instruction */
.macro UA_TO_M
    la t0, 1009f
    li t1, ALIAS
    add t0, t0, t1
    la t6, trap_area
    sd t0, TR_RESUME(t6)
    li a7, ECALL_TO_M
    ecall
1009:
.endm

.macro SET_SATP mode, root
    la t0, \root
    srli t0, t0, 12
    li t1, SATP_MODE(\mode)
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
.endm

TEST_BEGIN
    /* ---- frames ---- */
    la t0, f0
    li t1, 0x1111
    sd t1, 0(t0)
    la t0, f1
    li t1, 0x2222
    sd t1, 0(t0)
    la t0, f2
    li t1, 0x3333
    sd t1, 0(t0)
    la t0, f3                   /* code: li a0, 0x77; ret */
    li t1, 0x07700513
    sw t1, 0(t0)
    li t1, 0x00008067
    sw t1, 4(t0)
    li t1, 0x0513               /* at 0xffc: c.nop, then half of "li a0, 0" */
    slli t1, t1, 16
    ori t1, t1, 0x0001
    li t2, 0xffc
    add t2, t2, t0
    sw t1, 0(t2)
    fence.i

    /* ---- Sv39 tables ---- */
    li t0, 0x80000000
    SET_PTE root39, 2, t0, LEAF_RWX                 /* identity gigapage, S */
    SET_PTE root39, 1, t0, LEAF_RWX | PTE_U         /* U alias at 0x40000000 */
    SET_PTR root39, 0, l1t
    SET_PTR l1t, 0, l0t
    la t0, f0
    SET_PTE l1t, 1, t0, LEAF_RW                     /* misaligned megapage */
    MAP4K VA_RW, f0, LEAF_RW
    MAP4K VA_WONLY, f0, PTE_V | PTE_W | PTE_A | PTE_D
    MAP4K VA_USER, f1, LEAF_RW | PTE_U
    MAP4K VA_XONLY, f2, PTE_V | PTE_X | PTE_A
    MAP4K VA_RONLY, f0, PTE_V | PTE_R | PTE_A
    MAP4K VA_AD, f1, PTE_V | PTE_R | PTE_W
    MAP4K VA_CODE, f3, PTE_V | PTE_R | PTE_X | PTE_A
    MAP4K VA_UCODE, f3, PTE_V | PTE_R | PTE_X | PTE_A | PTE_U
    SET_PTR l0t, (VA_PTR >> 12), f0                 /* non-leaf at level 0 */
    MAP4K VA_GONE, f2, LEAF_RW
    /* Sv48 / Sv57 roots stack on top of the Sv39 root */
    SET_PTR root48, 0, root39
    li t0, 0
    SET_PTE root48, 1, t0, LEAF_RW                  /* 512 GiB terapage at VA 2^39 -> PA 0 */
    SET_PTR root57, 0, root48
    li t0, 0
    SET_PTE root57, 1, t0, LEAF_RW                  /* 256 TiB petapage at VA 2^48 -> PA 0 */

    /* ---- satp ---- */
    CASE                        /* Sv39 sticks; an unsupported mode is ignored */
    SET_SATP 8, root39
    csrr s1, satp
    li t0, SATP_MODE(15) | 0x1234
    csrw satp, t0
    csrr a0, satp
    CHECKR a0, s1
    li t0, SATP_MODE(3) | 0x1234
    csrw satp, t0
    csrr a0, satp
    CHECKR a0, s1
    sfence.vma

    /* ---- Sv39 from S-mode ---- */
    GOTO_S 1f
1:  CASE                        /* basic RW through a 4 KiB page */
    li a1, VA_RW
    ld a0, 0(a1)
    CHECK a0, 0x1111
    li t0, 0x1112
    sd t0, 8(a1)
    la t1, f0
    ld a0, 8(t1)                /* (f0 through the identity map) */
    CHECK a0, 0x1112
    CASE                        /* invalid PTE: load, store, fetch */
    li a1, VA_INV
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, VA_INV
    CASE
    EXPECT_TRAP
    sd a0, 16(a1)
    EXPECT_PF CAUSE_STORE_PAGE, VA_INV + 16
    CASE
    EXPECT_TRAP_AT 2f
    jalr ra, 0(a1)
2:  EXPECT_PF CAUSE_FETCH_PAGE, VA_INV
    CHECK_EPC_LA_VAL VA_INV
    CASE                        /* AMO to an invalid page is a store fault */
    EXPECT_TRAP                 /* (QEMU 7.2 reports a load fault: accepted) */
    amoadd.w a0, a0, (a1)
    CHECK_CAUSE_2 CAUSE_STORE_PAGE, CAUSE_LOAD_PAGE
    CHECK_TVAL VA_INV
    CASE                        /* W without R is reserved */
    li a1, VA_WONLY
    EXPECT_TRAP
    lw a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, VA_WONLY
    CASE
    EXPECT_TRAP
    sw a0, 4(a1)
    EXPECT_PF CAUSE_STORE_PAGE, VA_WONLY + 4
    CASE                        /* read-only page: store faults */
    li a1, VA_RONLY
    ld a0, 0(a1)
    CHECK a0, 0x1111
    EXPECT_TRAP
    sd a0, 0(a1)
    EXPECT_PF CAUSE_STORE_PAGE, VA_RONLY
    CASE                        /* LR on a read-only page loads; SC faults as a store */
    lr.d a0, (a1)
    CHECK a0, 0x1111
    EXPECT_TRAP
    sc.d a2, a0, (a1)
    EXPECT_PF CAUSE_STORE_PAGE, VA_RONLY
    CASE                        /* fetch from a non-executable page */
    li a1, VA_RW
    EXPECT_TRAP_AT 2f
    jalr ra, 0(a1)
2:  EXPECT_PF CAUSE_FETCH_PAGE, VA_RW
    CASE                        /* execute from an X page */
    li a1, VA_CODE
    li a0, 0
    jalr ra, 0(a1)
    CHECK a0, 0x77
    CASE                        /* X-only page: no load unless MXR */
    li a1, VA_XONLY
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, VA_XONLY
    CASE
    li t0, MSTATUS_MXR
    csrs sstatus, t0
    ld a0, 0(a1)
    CHECK a0, 0x3333
    EXPECT_TRAP                 /* MXR does not allow stores */
    sd a0, 0(a1)
    EXPECT_PF CAUSE_STORE_PAGE, VA_XONLY
    li t0, MSTATUS_MXR
    csrc sstatus, t0
    CASE                        /* U page from S: faults without SUM */
    li a1, VA_USER
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, VA_USER
    CASE
    EXPECT_TRAP
    sd a0, 0(a1)
    EXPECT_PF CAUSE_STORE_PAGE, VA_USER
    CASE                        /* with SUM: loads and stores work */
    li t0, MSTATUS_SUM
    csrs sstatus, t0
    ld a0, 0(a1)
    CHECK a0, 0x2222
    li t0, 0x2223
    sd t0, 8(a1)
    ld a0, 8(a1)
    CHECK a0, 0x2223
    CASE                        /* but S never executes a U page */
    li a1, VA_UCODE
    EXPECT_TRAP_AT 2f
    jalr ra, 0(a1)
2:  EXPECT_PF CAUSE_FETCH_PAGE, VA_UCODE
    li t0, MSTATUS_SUM
    csrc sstatus, t0
    CASE                        /* a pointer PTE at level 0 faults */
    li a1, VA_PTR
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, VA_PTR
    CASE                        /* misaligned megapage faults */
    li a1, VA_MISSP
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, VA_MISSP
    CASE                        /* non-canonical (bit 38 set, upper bits clear) */
    li a1, 0x4000000000
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, 0x4000000000
    CASE
    li a1, 0xffffffbffffff000   /* bit 38 clear, upper bits set */
    EXPECT_TRAP
    sd a0, 0(a1)
    EXPECT_PF CAUSE_STORE_PAGE, 0xffffffbffffff000
    CASE                        /* canonical upper half: walks (and finds nothing) */
    li a1, 0xffffffc000000000
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, 0xffffffc000000000
    CASE                        /* a misaligned access across into an invalid page */
    li a1, VA_RW + 0xffc
    EXPECT_TRAP
    ld a0, 0(a1)                /* spans VA_RW and VA_INV */
    CHECK_CAUSE_2 CAUSE_LOAD_PAGE, CAUSE_MISALIGNED_LOAD
    la t5, trap_area            /* tval: the start or the first invalid byte */
    ld t5, TR_TVAL(t5)
    li t6, VA_INV
    beq t5, t6, 2f
    CHECK t5, VA_RW + 0xffc
2:

    /* ---- A and D bits are set by hardware ---- */
    CASE
    la s2, l0t
    ld a0, (VA_AD >> 12) * 8(s2)
    andi a0, a0, PTE_A | PTE_D
    CHECK a0, 0
    li a1, VA_AD
    ld a0, 0(a1)
    CHECK a0, 0x2222
    ld a0, (VA_AD >> 12) * 8(s2)
    andi a0, a0, PTE_A | PTE_D
    CHECK a0, PTE_A             /* read: A only */
    CASE
    sd zero, 16(a1)
    ld a0, (VA_AD >> 12) * 8(s2)
    andi a0, a0, PTE_A | PTE_D
    CHECK a0, PTE_A | PTE_D
    CASE                        /* a store to a clean page sets D (after an sfence) */
    ld t0, (VA_AD >> 12) * 8(s2)
    andi t0, t0, ~PTE_D
    sd t0, (VA_AD >> 12) * 8(s2)
    li t1, VA_AD
    sfence.vma t1, zero
    ld a0, 0(a1)
    ld a0, (VA_AD >> 12) * 8(s2)
    andi a0, a0, PTE_D
    CHECK a0, 0
    sd zero, 24(a1)
    ld a0, (VA_AD >> 12) * 8(s2)
    andi a0, a0, PTE_D
    CHECK a0, PTE_D

    /* ---- sfence.vma ---- */
    CASE                        /* remap a page, flush that address */
    li a1, VA_GONE
    ld a0, 0(a1)
    CHECK a0, 0x3333
    la t0, f1
    MAKE_PTE t0, t0, LEAF_RW
    sd t0, (VA_GONE >> 12) * 8(s2)
    li t1, VA_GONE
    sfence.vma t1, zero
    ld a0, 0(a1)
    CHECK a0, 0x2222
    CASE                        /* invalidate it: the next access faults */
    sd zero, (VA_GONE >> 12) * 8(s2)
    sfence.vma a1, zero
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, VA_GONE
    CASE                        /* map it again, global flush */
    la t0, f2
    MAKE_PTE t0, t0, LEAF_RW
    sd t0, (VA_GONE >> 12) * 8(s2)
    sfence.vma
    ld a0, 0(a1)
    CHECK a0, 0x3333
    CASE                        /* code page remapped: fetch sees the new frame */
    li a1, VA_CODE
    jalr ra, 0(a1)
    CHECK a0, 0x77
    la t0, f0
    MAKE_PTE t0, t0, PTE_V | PTE_R | PTE_X | PTE_A
    sd t0, (VA_CODE >> 12) * 8(s2)
    sfence.vma
    la t0, f0
    li t1, 0x05500513           /* li a0, 0x55 */
    sw t1, 0x700(t0)
    li t1, 0x00008067
    sw t1, 0x704(t0)
    fence.i
    li a1, VA_CODE + 0x700
    jalr ra, 0(a1)
    CHECK a0, 0x55
    la t0, f3
    MAKE_PTE t0, t0, PTE_V | PTE_R | PTE_X | PTE_A
    sd t0, (VA_CODE >> 12) * 8(s2)
    sfence.vma

    /* ---- an instruction straddling into an unmapped page ---- */
    CASE
    li a1, VA_CODE + 0xffc      /* c.nop, then a 32-bit insn across 0x9000 */
    EXPECT_TRAP_AT 2f
    jalr ra, 0(a1)
2:  CHECK_CAUSE CAUSE_FETCH_PAGE
    CHECK_TVAL VA_CODE + 0x1000
    CHECK_EPC_LA_VAL VA_CODE + 0xffe

    TO_M

    /* ---- MPRV: M-mode loads and stores through S translation ---- */
    CASE
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    li t0, MSTATUS_MPRV | MSTATUS_MPP_S
    csrs mstatus, t0
    li a1, VA_RW
    ld a0, 0(a1)
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
    CHECK a0, 0x1111
    CASE                        /* MPRV with MPP = M: no translation */
    li t0, MSTATUS_MPRV | MSTATUS_MPP
    csrs mstatus, t0
    la a1, f2
    ld a0, 0(a1)
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
    CHECK a0, 0x3333

    /* ---- delegated page fault: S sees scause / stval / sepc ---- */
    CASE
    SETUP_STVEC
    li t0, (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
    csrw medeleg, t0
    GOTO_S 1f
1:  li a1, VA_INV + 0x10
    S_EXPECT_TRAP
2:  ld a0, 0(a1)
    S_CHECK_CAUSE CAUSE_LOAD_PAGE
    S_CHECK_TVAL VA_INV + 0x10
    S_CHECK_EPC_LA 2b
    CASE
    li a1, VA_RONLY + 8
    S_EXPECT_TRAP
    sw a0, 0(a1)
    S_CHECK_CAUSE CAUSE_STORE_PAGE
    S_CHECK_TVAL VA_RONLY + 8
    TO_M
    csrw medeleg, zero

    /* ---- U-mode (running on the U alias) ---- */
    CASE
    GOTO_UA 1f
1:  li a1, VA_USER
    ld a0, 0(a1)
    CHECK a0, 0x2222
    CASE                        /* S pages are out of reach of U */
    li a1, VA_RW
    EXPECT_TRAP_AT 2f
    ld a0, 0(a1)
2:  EXPECT_PF CAUSE_LOAD_PAGE, VA_RW
    CASE
    EXPECT_TRAP_AT 2f
    sd a0, 0(a1)
2:  EXPECT_PF CAUSE_STORE_PAGE, VA_RW
    CASE                        /* U executes a U page */
    li a1, VA_UCODE
    li a0, 0
    jalr ra, 0(a1)
    CHECK a0, 0x77
    CASE                        /* but not an S page */
    li a1, VA_CODE
    EXPECT_TRAP_AT 2f
    jalr ra, 0(a1)
2:  EXPECT_PF CAUSE_FETCH_PAGE, VA_CODE
    CASE                        /* the identity (S) gigapage is not U's either */
    la a1, f0
    li t0, ALIAS
    add a1, a1, t0
    EXPECT_TRAP_AT 2f
    ld a0, 0(a1)
2:  CHECK_CAUSE CAUSE_LOAD_PAGE
    CHECK_TVAL_R a1
    CASE                        /* MXR applies to U too */
    li a1, VA_UCODE
    ld a0, 0(a1)                /* R set: fine */
    UA_TO_M
    li t0, MSTATUS_MPRV | MSTATUS_MPP   /* (MPP = 0: U) */
    csrc mstatus, t0

    /* ---- Sv48 ---- */
    CASE
    SET_SATP 9, root48
    csrr a0, satp
    srli a0, a0, 60
    CHECK a0, 9
    GOTO_S 1f
1:  li a1, VA_RW
    ld a0, 0(a1)
    CHECK a0, 0x1111
    CASE                        /* a 512 GiB leaf at level 3 */
    la a1, f2
    li t0, 0x8000000000
    add a1, a1, t0
    ld a0, 0(a1)
    CHECK a0, 0x3333
    CASE                        /* bit 38 is an ordinary address bit now */
    li a1, 0x4000000000
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, 0x4000000000
    CASE                        /* non-canonical for Sv48: bit 47 set */
    li a1, 0x800000000000
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, 0x800000000000
    CASE
    li a1, VA_INV
    EXPECT_TRAP
    sd a0, 0(a1)
    EXPECT_PF CAUSE_STORE_PAGE, VA_INV
    CASE
    li a1, VA_CODE
    jalr ra, 0(a1)
    CHECK a0, 0x77
    TO_M
    CASE                        /* U on the alias under Sv48 */
    GOTO_UA 1f
1:  li a1, VA_USER
    ld a0, 0(a1)
    CHECK a0, 0x2222
    UA_TO_M

    /* ---- Sv57, when the hart has it ---- */
    CASE
    csrr s1, satp
    la t0, root57
    srli t0, t0, 12
    li t1, SATP_MODE(10)
    or t0, t0, t1
    csrw satp, t0
    csrr a0, satp
    beq a0, s1, skip_sv57       /* unsupported: write ignored */
    CHECKR a0, t0
    sfence.vma
    GOTO_S 1f
1:  li a1, VA_RW
    ld a0, 0(a1)
    CHECK a0, 0x1111
    CASE                        /* a 256 TiB leaf at level 4 */
    la a1, f1
    li t0, 0x1000000000000
    add a1, a1, t0
    ld a0, 0(a1)
    CHECK a0, 0x2222
    CASE                        /* terapage below it still works */
    la a1, f2
    li t0, 0x8000000000
    add a1, a1, t0
    ld a0, 0(a1)
    CHECK a0, 0x3333
    CASE                        /* non-canonical for Sv57: bit 56 set */
    li a1, 0x100000000000000
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, 0x100000000000000
    CASE                        /* bit 47 is an ordinary address bit now */
    li a1, 0x800000000000
    EXPECT_TRAP
    ld a0, 0(a1)
    EXPECT_PF CAUSE_LOAD_PAGE, 0x800000000000
    TO_M
    j no_sv57
skip_sv57:
    la a0, msg_no_sv57
    call puts
no_sv57:

    /* ---- back to bare ---- */
    CASE
    csrw satp, zero
    sfence.vma
    GOTO_S 1f
1:  la a1, f0
    ld a0, 0(a1)
    CHECK a0, 0x1111
    TO_M

    TEST_PASS

    .section .rodata
msg_no_sv57: .asciz "vm: no Sv57 (satp mode 10 ignored): skipped\n"

    .bss
    .align 12
root39: .skip 4096
l1t:    .skip 4096
l0t:    .skip 4096
root48: .skip 4096
root57: .skip 4096
f0:     .skip 4096
f1:     .skip 4096
f2:     .skip 4096
f3:     .skip 4096
