/* Entry of the bare-metal CPU benchmark: M-mode at the start of RAM.
 * Sets a stack, clears .bss, turns the FPU on, runs bench_main and hands
 * its result to the SiFive test finisher (0x5555 pass, 0x3333|code<<16 fail). */
    .section .text.init
    .globl _start
_start:
    la      sp, _stack_top
    la      t0, _bss_start
    la      t1, _bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  li      t0, (1 << 13)           /* mstatus.FS = Initial */
    csrs    mstatus, t0
    csrwi   fcsr, 0
    la      t0, trap
    csrw    mtvec, t0
    call    bench_main
    li      t0, 0x100000
    li      t1, 0x5555
    beqz    a0, 3f
    slli    t1, a0, 16
    li      t2, 0x3333
    or      t1, t1, t2
3:  sw      t1, 0(t0)
4:  wfi
    j       4b

/* Any trap is a failure: code 0xff. */
    .align  2
trap:
    li      t0, 0x100000
    li      t1, 0xff3333
    sw      t1, 0(t0)
    j       4b
