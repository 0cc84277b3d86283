# A guest that floods its console: M-mode, interrupts off, writing lines
# to the UART's THR as fast as it can, forever.
    .section .text.init
    .globl _start
_start:
    csrw mie, zero
    csrci mstatus, 8
    li t0, 0x10000000        # UART0 THR
    li t1, 'a'
    li t2, 'z'
    li t3, '\n'
1:  mv t4, t1
2:  sb t4, 0(t0)
    addi t4, t4, 1
    ble t4, t2, 2b
    sb t3, 0(t0)
    j 1b
