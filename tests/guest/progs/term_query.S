# Leaves the terminal mid-line and asks it a question, as a guest shell
# does: text without a newline, then ESC[6n (report the cursor position),
# then waits forever for the user to quit.
    .section .text.init
    .globl _start
_start:
    li t0, 0x10000000        # UART0 THR
    la t1, msg
1:  lbu t2, 0(t1)
    beqz t2, 2f
    sb t2, 0(t0)
    addi t1, t1, 1
    j 1b
2:  j 2b
    .section .rodata
msg:
    .asciz "PROMPT-NO-NEWLINE\033[6n"
