/* A bare-metal driver for the virtio-blk device in virtio-mmio slot 0
 * that feeds it malformed descriptor chains: a buffer outside RAM, a
 * descriptor loop, a 4 GiB length, a read into a device-readable buffer,
 * a status byte the device may not write. After each one the device
 * must report DEVICE_NEEDS_RESET (the VMM survives), and a reset plus a
 * fresh setup must bring it back: a good read then works again.
 *
 * Run: corral run --test virtio_malformed.elf --disk IMG, where IMG's
 * first sector is filled with 0x5a (tests/guest/virtio_malformed.sh builds
 * it with the ISA suite's common.h). Without a disk the slot is empty (its
 * registers fault) and the program fails: it has nothing to test. */
#include "common.h"

#define VIO       0x10001000
#define QN        8
#define ST_NEEDS_RESET 64

/* descriptor i := {addr reg, len, flags, next} */
.macro SETDESC i, areg, len, flags, next
    la t1, vq_desc + 16 * \i
    sd \areg, 0(t1)
    li t2, \len
    sw t2, 8(t1)
    li t2, \flags
    sh t2, 12(t1)
    li t2, \next
    sh t2, 14(t1)
.endm

TEST_BEGIN
    CASE                            /* 1: a device is there */
    li s0, VIO
    EXPECT_TRAP_AT no_device
    lw t0, 0(s0)
    DISARM
    li t1, 0x74726976
    bne t0, t1, no_device
    lw t0, 8(s0)
    beqz t0, no_device
    CHECK t0, 2                     /* virtio-blk */
    jal ra, vio_init

    CASE                            /* 2: a good read works */
    jal ra, good_read

    CASE                            /* 3: data buffer outside RAM */
    la a1, vq_hdr
    SETDESC 0, a1, 16, 1, 1
    li a1, 0x100000000
    SETDESC 1, a1, 512, 3, 2
    la a1, vq_status
    SETDESC 2, a1, 1, 2, 0
    jal ra, expect_reset

    CASE                            /* 4: a loop among writable buffers */
    la a1, vq_hdr
    SETDESC 0, a1, 16, 1, 1
    la a1, vq_data
    SETDESC 1, a1, 512, 3, 2
    la a1, vq_status
    SETDESC 2, a1, 1, 3, 1
    jal ra, expect_reset

    CASE                            /* 5: a 4 GiB length */
    la a1, vq_hdr
    SETDESC 0, a1, 16, 1, 1
    la a1, vq_data
    SETDESC 1, a1, 0xffffffff, 3, 2
    la a1, vq_status
    SETDESC 2, a1, 1, 2, 0
    jal ra, expect_reset

    CASE                            /* 6: a read into a device-readable buffer */
    la a1, vq_hdr
    SETDESC 0, a1, 16, 1, 1
    la a1, vq_data
    SETDESC 1, a1, 512, 1, 2
    la a1, vq_status
    SETDESC 2, a1, 1, 2, 0
    jal ra, expect_reset

    CASE                            /* 7: the status byte is not device-writable */
    la a1, vq_hdr
    SETDESC 0, a1, 16, 1, 1
    la a1, vq_data
    SETDESC 1, a1, 512, 3, 2
    la a1, vq_status
    SETDESC 2, a1, 1, 0, 0
    jal ra, expect_reset

    TEST_PASS

no_device:
    DISARM
    j fail

/* Reset the device and set it up again: VERSION_1 only, queue 0 of QN
 * entries, rings cleared. Clobbers t0-t2. */
vio_init:
    sw zero, 0x70(s0)
    lw t0, 0x70(s0)
    bnez t0, fail
    li t0, 3
    sw t0, 0x70(s0)                 /* ACKNOWLEDGE | DRIVER */
    li t0, 1
    sw t0, 0x24(s0)
    sw t0, 0x20(s0)                 /* features 32..63: VERSION_1 */
    sw zero, 0x24(s0)
    sw zero, 0x20(s0)
    li t0, 11
    sw t0, 0x70(s0)                 /* + FEATURES_OK */
    lw t0, 0x70(s0)
    andi t0, t0, 8
    beqz t0, fail
    sw zero, 0x30(s0)
    lw t0, 0x34(s0)
    li t1, QN
    bltu t0, t1, fail
    sw t1, 0x38(s0)
    la t0, vq_desc
    sw t0, 0x80(s0)
    srli t0, t0, 32
    sw t0, 0x84(s0)
    la t0, vq_avail
    sw t0, 0x90(s0)
    srli t0, t0, 32
    sw t0, 0x94(s0)
    la t0, vq_used
    sw t0, 0xa0(s0)
    srli t0, t0, 32
    sw t0, 0xa4(s0)
    la t0, vq_avail
    li t1, 0x800                    /* avail and used rings */
1:  sd zero, 0(t0)
    addi t0, t0, 8
    addi t1, t1, -8
    bnez t1, 1b
    li t0, 1
    sw t0, 0x44(s0)
    li t0, 15
    sw t0, 0x70(s0)                 /* + DRIVER_OK */
    lw t0, 0x70(s0)
    li t1, 15
    bne t0, t1, fail
    ret

/* Offer chain 0 and wait. a0 = 0: the device used it; a0 = 1: the device
 * set NEEDS_RESET. Fails on a time-out. Clobbers t0-t4. */
submit:
    la t0, vq_used
    lhu t4, 2(t0)                   /* used index before this request */
    la t0, vq_avail
    lhu t1, 2(t0)
    andi t2, t1, QN - 1
    slli t2, t2, 1
    add t2, t2, t0
    sh zero, 4(t2)                  /* ring[idx % QN] = head 0 */
    fence w, w
    addi t1, t1, 1
    sh t1, 2(t0)
    fence w, w
    sw zero, 0x50(s0)               /* QueueNotify 0 */
    la t0, vq_used
    li t3, 50000000
1:  lhu t1, 2(t0)
    bne t1, t4, 2f
    lw t1, 0x70(s0)
    andi t1, t1, ST_NEEDS_RESET
    bnez t1, 3f
    addi t3, t3, -1
    bnez t3, 1b
    j fail
2:  fence r, r
    li a0, 0
    ret
3:  li a0, 1
    ret

/* A valid 512-byte read of sector 0; the disk holds 0x5a there. */
good_read:
    mv s1, ra
    la a1, vq_hdr
    SETDESC 0, a1, 16, 1, 1
    la a1, vq_data
    SETDESC 1, a1, 512, 3, 2
    la a1, vq_status
    SETDESC 2, a1, 1, 2, 0
    li t0, 0xff
    la t1, vq_status
    sb t0, 0(t1)
    jal ra, submit
    bnez a0, fail
    la t1, vq_status
    lbu t0, 0(t1)
    bnez t0, fail
    la t1, vq_data
    lbu t0, 511(t1)
    li t2, 0x5a
    bne t0, t2, fail
    mv ra, s1
    ret

/* The chain set up by the caller must put the device in NEEDS_RESET with
 * a config-change interrupt pending; then reset, re-init, good read. */
expect_reset:
    mv s2, ra
    jal ra, submit
    li t0, 1
    bne a0, t0, fail
    lw t0, 0x60(s0)
    andi t0, t0, 2
    beqz t0, fail
    jal ra, vio_init
    jal ra, good_read
    mv ra, s2
    ret

    .bss
    .balign 4096
vq_desc:   .skip 0x400
vq_avail:  .skip 0x400
vq_used:   .skip 0x400
vq_hdr:    .skip 16                 /* type 0 (IN), sector 0 */
vq_status: .skip 16
    .balign 512
vq_data:   .skip 512
