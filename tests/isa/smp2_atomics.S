/* Two harts (run with --cpus 2; the smpN_ prefix tells the runners):
 *  1. an SC fails when another hart wrote the reserved location between
 *     the LR and the SC;
 *  2. AMOADD.D and an LR/SC increment loop, run by both harts at once on
 *     shared counters, lose no update (atomic across host threads).
 * Ends like the other programs: tohost, then the SiFive test finisher.
 * Case numbers: 1 SC succeeded after a remote write, 2 wrong value seen,
 * 3 AMO counter wrong, 4 LR/SC counter wrong. */
#define FINISHER 0x100000
#define ITER 20000

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    csrr a0, mhartid
    li t0, 1
    bgtu a0, t0, park          /* only harts 0 and 1 take part */
    beqz a0, hart0

/* ---- hart 1 ---- */
hart1:
    la s0, shared
    lr.d t1, (s0)              /* reserve `shared` */
    la t0, flag_a
    li t2, 1
    sd t2, 0(t0)               /* tell hart 0: reserved */
    la t0, flag_b
1:  ld t2, 0(t0)               /* wait: hart 0 wrote `shared` */
    beqz t2, 1b
    li t3, 7
    sc.d t4, t3, (s0)          /* must fail: someone else wrote it */
    la t0, result
    li t2, 1
    beqz t4, 2f                /* t4 == 0: SC succeeded (wrong) */
    ld t5, 0(s0)
    li t6, 42
    bne t5, t6, 3f
    sd t2, 0(t0)               /* 1: failed as it should, value intact */
    j counters
2:  li t2, 2
    sd t2, 0(t0)
    j counters
3:  li t2, 3
    sd t2, 0(t0)
    j counters

/* ---- hart 0 ---- */
hart0:
    la t0, flag_a
1:  ld t2, 0(t0)
    beqz t2, 1b
    la s0, shared
    li t3, 42
    sd t3, 0(s0)               /* plain store into hart 1's reservation */
    fence
    la t0, flag_b
    li t2, 1
    sd t2, 0(t0)
    la t0, result
1:  ld t2, 0(t0)
    beqz t2, 1b
    li t3, 2
    beq t2, t3, fail1
    li t3, 3
    beq t2, t3, fail2
    j counters

/* ---- both harts: hammer the counters ---- */
counters:
    la s1, amo_counter
    la s2, lrsc_counter
    li s3, ITER
1:  li t0, 1
    amoadd.d zero, t0, (s1)
2:  lr.d t1, (s2)
    addi t1, t1, 1
    sc.d t2, t1, (s2)
    bnez t2, 2b
    addi s3, s3, -1
    bnez s3, 1b
    la t0, done
    li t1, 1
    amoadd.d zero, t1, (t0)
    bnez a0, park              /* hart 1 is finished */
    li t1, 2
1:  ld t2, 0(t0)               /* hart 0 waits for both */
    bne t2, t1, 1b
    li t3, 2 * ITER
    ld t2, 0(s1)
    bne t2, t3, fail3
    ld t2, 0(s2)
    bne t2, t3, fail4
    /* pass */
    la t0, tohost
    li t1, 1
    sd t1, 0(t0)
    li t0, FINISHER
    li t1, 0x5555
    sw t1, 0(t0)
    j park

fail1: li a1, 1
    j fail
fail2: li a1, 2
    j fail
fail3: li a1, 3
    j fail
fail4: li a1, 4
fail:
    la t0, tohost
    slli t1, a1, 1
    ori t1, t1, 1
    sd t1, 0(t0)
    li t0, FINISHER
    slli t1, a1, 16
    li t2, 0x3333
    or t1, t1, t2
    sw t1, 0(t0)
park:
    wfi
    j park

    .data
    .balign 64
shared:       .dword 0
    .balign 64
flag_a:       .dword 0
    .balign 64
flag_b:       .dword 0
    .balign 64
result:       .dword 0
    .balign 64
amo_counter:  .dword 0
    .balign 64
lrsc_counter: .dword 0
    .balign 64
done:         .dword 0
    .balign 64
    .globl tohost
tohost:       .dword 0
