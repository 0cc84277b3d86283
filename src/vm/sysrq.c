/* Asking a Linux guest to power off on a board with no power button:
 * a serial BREAK followed by a key is Linux's magic SysRq on a serial
 * console (CONFIG_MAGIC_SYSRQ_SERIAL, on in Debian's kernel, whose default
 * sysrq mask 0x1b6 allows sync, remount and power off). SysRq 'o' runs
 * kernel_power_off(), which ends in SBI SRST -> OpenSBI -> the syscon
 * poweroff register: the same stop as a guest's own `poweroff -f`.
 *
 * The UART has no break entry point yet, so this sets the Break Interrupt
 * bit through the public struct under the UART's own lock and then queues
 * the NUL character a break delivers, followed by the key. */
#include <errno.h>

#include "devices/uart16550.h"
#include "vm/vm.h"

#define LSR_BI 0x10 /* 16550 Line Status: Break Interrupt */

int vm_guest_sysrq(struct machine *m, char key)
{
    struct uart *u = m->uart;
    /* With input still queued, Linux would take the break as belonging to
     * that input and the next user byte as the SysRq key. */
    if (uart_rx_space(u) < UART_FIFO_SIZE)
        return -EAGAIN;
    pthread_mutex_lock(&u->lock);
    u->lsr_err |= LSR_BI;
    pthread_mutex_unlock(&u->lock);
    const uint8_t seq[2] = { 0, (uint8_t)key };
    if (uart_receive(u, seq, sizeof(seq)) != sizeof(seq))
        return -EAGAIN;
    return 0;
}
