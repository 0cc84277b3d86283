/* The emergency way to make a Linux guest power off, for a guest that
 * has no driver for the power button (devices/virtio_input.c) or ignored
 * it (vm/vm.c, shutdown_tick_locked): a serial BREAK followed by a key is
 * Linux's magic SysRq on a serial console (CONFIG_MAGIC_SYSRQ_SERIAL, on
 * in Debian's kernel, whose default sysrq mask 0x1b6 allows sync, remount
 * and power off). SysRq 'o' runs kernel_power_off(), which ends in SBI
 * SRST -> OpenSBI -> the syscon poweroff register: the same stop as a
 * guest's own `poweroff -f`.
 *
 * The break goes through uart_send_break(), then the key follows.
 */
#include <errno.h>

#include "devices/uart16550.h"
#include "vm/vm.h"

int vm_guest_sysrq(struct machine *m, char key)
{
    struct uart *u = m->uart;
    /* With input still queued, Linux would take the break as belonging to
     * that input and the next user byte as the SysRq key. */
    if (uart_rx_space(u) < UART_FIFO_SIZE)
        return -EAGAIN;
    if (uart_send_break(u))
        return -EAGAIN;
    const uint8_t seq[1] = { (uint8_t)key };
    if (uart_receive(u, seq, sizeof(seq)) != sizeof(seq))
        return -EAGAIN;
    return 0;
}
