# A guest gone wrong: M-mode, interrupts off, spinning forever.
    .section .text.init
    .globl _start
_start:
    csrw mie, zero
    csrci mstatus, 8
1:  j 1b
