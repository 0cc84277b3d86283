# A hostile guest: 2,000,000 loads and stores of random widths and values at
# random offsets of every device (CLINT, PLIC, UART, RTC, the virtio-mmio
# slots), with a fixed seed so every run is the same. Faulting accesses
# (misaligned, unmapped) trap and are skipped. The VMM must survive and
# the program must finish: it then reports success through tohost and the
# test finisher. Interrupts stay disabled (mie = 0) throughout.
#define FINISHER 0x100000
#define ITER 2000000
#define NREG 13 /* entries in `regions` below */

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la t0, trap
    csrw mtvec, t0
    csrw mie, zero
    csrci mstatus, 8
    li s0, 0x9e3779b97f4a7c15      # xorshift64 state
    li s1, ITER
    la s2, regions
loop:
    # xorshift64
    slli t0, s0, 13
    xor s0, s0, t0
    srli t0, s0, 7
    xor s0, s0, t0
    slli t0, s0, 17
    xor s0, s0, t0
    # region = regions[(s0 >> 8) % NREG]: base, size mask
    srli t1, s0, 8
    li t2, NREG
    remu t1, t1, t2
    slli t1, t1, 4
    add t1, t1, s2
    ld t2, 0(t1)                   # base
    ld t3, 8(t1)                   # offset mask
    srli t4, s0, 20
    and t4, t4, t3
    add a0, t2, t4                 # address
    srli t5, s0, 40
    andi t5, t5, 7                 # op: 0-3 store 1/2/4/8, 4-7 load 1/2/4/8
    mv a1, s0                      # value
    la t6, ops
    slli t5, t5, 3
    add t6, t6, t5
    jr t6
ops:
    sb a1, 0(a0)
    j next
    sh a1, 0(a0)
    j next
    sw a1, 0(a0)
    j next
    sd a1, 0(a0)
    j next
    lb a2, 0(a0)
    j next
    lh a2, 0(a0)
    j next
    lw a2, 0(a0)
    j next
    ld a2, 0(a0)
    j next
next:
    addi s1, s1, -1
    bnez s1, loop
    # survived: pass
    la t0, tohost
    li t1, 1
    sd t1, 0(t0)
    li t0, FINISHER
    li t1, 0x5555
    sw t1, 0(t0)
park:
    wfi
    j park

    # Skip the faulting instruction (all of ours are 4 bytes: no C here).
    .balign 4
trap:
    csrr t0, mepc
    addi t0, t0, 4
    csrw mepc, t0
    mret

    .data
    .balign 8
regions:
    .dword 0x02000000, 0xfff8       # CLINT (msip, mtimecmp, mtime)
    .dword 0x0c000000, 0x3fffffc    # PLIC
    .dword 0x0c200000, 0xfffc       # PLIC contexts
    .dword 0x10000000, 0xff         # UART
    .dword 0x00101000, 0xfff        # goldfish RTC
    .dword 0x10001000, 0xfff        # virtio slot 0
    .dword 0x10002000, 0xfff        # virtio slot 1
    .dword 0x10003000, 0xfff        # virtio slot 2
    .dword 0x10004000, 0xfff        # virtio slot 3
    .dword 0x10001000, 0x7f         # virtio slot 0 registers (denser)
    .dword 0x10002000, 0x7f
    .dword 0x10003000, 0x7f
    .dword 0x10004000, 0x7f
    .balign 8
    .globl tohost
tohost: .dword 0
