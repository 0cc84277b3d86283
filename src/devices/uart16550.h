/* NS16550A UART (virt board UART0, 1-byte registers, reg-shift 0).
 * Threads: MMIO handlers on hart threads; uart_receive()/uart_rx_space()
 * from any thread (the I/O thread); create/destroy/save/load while harts
 * are stopped. Backend callbacks run on the hart thread that accessed the
 * UART, with no UART lock held; they must not block for long. */
#ifndef CORRAL_DEVICES_UART16550_H
#define CORRAL_DEVICES_UART16550_H

#include <pthread.h>

#include "core/types.h"
#include "devices/irq.h"
#include "mem/bus.h"

#define UART_BASE 0x10000000ULL
#define UART_SIZE 0x100ULL
#define UART_IRQ 10 /* PLIC source */
#define UART_FIFO_SIZE 256 /* receive FIFO: deep so a paste is not lost */

struct uart_backend {
    /* Transmitted bytes (guest -> host). Required. */
    void (*write)(void *opaque, const uint8_t *buf, size_t len);
    /* Optional: the guest emptied the receive FIFO, uart_receive() may
     * accept more. Only signal from here (e.g. write an eventfd). */
    void (*rx_ready)(void *opaque);
    void *opaque;
};

struct uart {
    pthread_mutex_t lock;
    struct uart_backend be;
    struct irq_line irq;
    bool irq_level; /* last level driven on `irq` */
    uint8_t rx[UART_FIFO_SIZE];
    uint32_t rx_head, rx_count;
    uint8_t ier, lcr, mcr, lsr_err, msr_delta, scr, dll, dlm;
    uint8_t fcr; /* FIFO enable (bit 0) and trigger level (bits 7:6) */
    bool thr_ipending; /* THRE interrupt latched, not yet acknowledged */
};

struct uart_state {
    uint8_t rx[UART_FIFO_SIZE];
    uint32_t rx_head, rx_count;
    uint8_t ier, lcr, mcr, lsr_err, msr_delta, scr, dll, dlm, fcr;
    uint8_t thr_ipending;
    uint8_t pad[6];
};

/* NULL on bad arguments (no write callback) or no memory. */
struct uart *uart_create(const struct uart_backend *be, struct irq_line irq);
void uart_destroy(struct uart *u);
/* Power-on register values; the receive FIFO is emptied. */
void uart_reset(struct uart *u);
int uart_attach(struct uart *u, struct bus *b, gpa_t base) WARN_UNUSED;

/* Host -> guest bytes. Takes as many as the receive FIFO has room for and
 * returns that count; the caller keeps the rest and retries after
 * rx_ready or when uart_rx_space() > 0. No data is dropped here. */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);
/* Deliver a line BREAK (a NUL with LSR.BI) as a terminal would; -EAGAIN
 * while received bytes are still queued. Any thread. */
int uart_send_break(struct uart *u) WARN_UNUSED;
size_t uart_rx_space(struct uart *u);

void uart_save(const struct uart *u, struct uart_state *out);
int uart_load(struct uart *u, const struct uart_state *in) WARN_UNUSED;

struct state_out;
struct state_in;
#define UART_STATE_VERSION 1
/* Explicitly encoded fields of the "uart" section (state/state.h). */
void uart_save_state(const struct uart *u, struct state_out *o);
int uart_load_state(struct uart *u, struct state_in *in, uint32_t version) WARN_UNUSED;
#endif
