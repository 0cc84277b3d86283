/* NS16550A UART, the virt board's console (TI/National PC16550D datasheet,
 * "Register Description" and table 4 "Interrupt Control Functions").
 *
 * Register map (byte offsets from 0x1000_0000, reg-shift 0):
 *   0 R  RBR  receive buffer (DLAB=0)      W THR transmit holding (DLAB=0)
 *   0 RW DLL  divisor latch low (DLAB=1)
 *   1 RW IER  interrupt enable, bits 3:0 (DLAB=0); DLM divisor high (DLAB=1)
 *   2 R  IIR  interrupt identification     W FCR FIFO control
 *   3 RW LCR  line control, bit 7 = DLAB
 *   4 RW MCR  modem control, bits 4:0 (bit 4 = loopback)
 *   5 R  LSR  line status: DR, OE, THRE, TEMT
 *   6 R  MSR  modem status: CTS, DSR, DCD set (loopback: from MCR)
 *   7 RW SCR  scratch
 * Offsets 8..0xff read 0. Wider accesses act on the register at their
 * offset with the low byte (so a 32-bit driver still works).
 *
 * Transmission is instantaneous: a THR write goes straight to the backend,
 * so THR and the transmitter are always empty (LSR.THRE = LSR.TEMT = 1).
 * Interrupts, highest priority first (IIR bits 3:0):
 *   0x6 receiver line status  IER.ELSI and an error bit (OE) in LSR;
 *                             cleared by reading LSR
 *   0x4 receive data          IER.ERBFI and the FIFO holds >= trigger level
 *   0xC character timeout     IER.ERBFI and fewer bytes than the trigger (FIFO
 *                             mode); reported at once rather than after four
 *                             character times: drivers treat it like 0x4
 *   0x2 THR empty             IER.ETBEI and the THRE latch; the latch is set
 *                             when THR empties (after every THR write here)
 *                             and when ETBEI goes 0 -> 1, and is cleared by
 *                             a THR write or by an IIR read that reports it
 *                             (Linux's 8250 THRE test needs exactly this)
 *   0x0 modem status          IER.EDSSI and a delta bit in MSR; cleared by
 *                             reading MSR
 * IIR bits 7:6 read 11 while FIFOs are enabled (FCR bit 0), which is how
 * Linux's autoconfig tells a 16550A. The receive FIFO holds UART_FIFO_SIZE
 * bytes with FIFOs enabled, one byte without. Host input never overruns:
 * uart_receive() takes only what fits. A loopback byte that does not fit
 * is dropped and sets LSR.OE. */
#include "devices/uart16550.h"
#include "state/state.h"

#include <errno.h>
#include <stdlib.h>

enum {
    UART_RBR = 0, UART_IER = 1, UART_IIR = 2, UART_LCR = 3,
    UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};

#define IER_ERBFI 0x01
#define IER_ETBEI 0x02
#define IER_ELSI 0x04
#define IER_EDSSI 0x08

#define IIR_NONE 0x01
#define IIR_MSR 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_RLS 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_TRIGGER 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_BI 0x10 /* break interrupt */
#define LSR_ERRORS 0x1e /* OE, PE, FE, BI */
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

/* Work to do after the lock is dropped: backend calls may block or call
 * back into uart_receive(). */
struct uart_after {
    bool tx;
    uint8_t byte;
    bool rx_ready;
};

static bool uart_fifo_on(const struct uart *u)
{
    return u->fcr & FCR_ENABLE;
}

static uint32_t uart_capacity(const struct uart *u)
{
    return uart_fifo_on(u) ? UART_FIFO_SIZE : 1;
}

static uint32_t uart_trigger(const struct uart *u)
{
    static const uint8_t levels[4] = { 1, 4, 8, 14 };
    return levels[u->fcr >> 6];
}

/* Modem status lines: fixed "connected" unless looped back to MCR. */
static uint8_t uart_msr_lines(const struct uart *u)
{
    if (!(u->mcr & MCR_LOOP))
        return MSR_CTS | MSR_DSR | MSR_DCD;
    uint8_t m = 0;
    if (u->mcr & MCR_RTS)
        m |= MSR_CTS;
    if (u->mcr & MCR_DTR)
        m |= MSR_DSR;
    if (u->mcr & MCR_OUT1)
        m |= MSR_RI;
    if (u->mcr & MCR_OUT2)
        m |= MSR_DCD;
    return m;
}

/* Highest-priority interrupt identification, without the FIFO bits. */
static uint8_t uart_iir_id(const struct uart *u)
{
    if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRORS))
        return IIR_RLS;
    if ((u->ier & IER_ERBFI) && u->rx_count) {
        if (uart_fifo_on(u) && u->rx_count < uart_trigger(u))
            return IIR_TIMEOUT;
        return IIR_RDA;
    }
    if ((u->ier & IER_ETBEI) && u->thr_ipending)
        return IIR_THRE;
    if ((u->ier & IER_EDSSI) && u->msr_delta)
        return IIR_MSR;
    return IIR_NONE;
}

static void uart_update_irq_locked(struct uart *u, bool force)
{
    bool level = uart_iir_id(u) != IIR_NONE;
    if (level == u->irq_level && !force)
        return;
    u->irq_level = level;
    irq_set(&u->irq, level);
}

static bool uart_rx_push_locked(struct uart *u, uint8_t byte)
{
    if (u->rx_count >= uart_capacity(u))
        return false;
    u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
    u->rx_count++;
    return true;
}

static void uart_rx_clear_locked(struct uart *u, struct uart_after *after)
{
    if (u->rx_count)
        after->rx_ready = true;
    u->rx_head = 0;
    u->rx_count = 0;
}

static void uart_reset_locked(struct uart *u)
{
    u->rx_head = u->rx_count = 0;
    u->ier = u->lcr = u->mcr = u->lsr_err = u->msr_delta = 0;
    u->scr = u->dll = u->dlm = u->fcr = 0;
    u->thr_ipending = false;
    uart_update_irq_locked(u, true);
}

struct uart *uart_create(const struct uart_backend *be, struct irq_line irq)
{
    if (!be || !be->write)
        return NULL;
    struct uart *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    if (pthread_mutex_init(&u->lock, NULL)) {
        free(u);
        return NULL;
    }
    u->be = *be;
    u->irq = irq;
    uart_reset(u);
    return u;
}

void uart_destroy(struct uart *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void uart_reset(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    uart_reset_locked(u);
    pthread_mutex_unlock(&u->lock);
}

static void uart_run_after(struct uart *u, const struct uart_after *after)
{
    if (after->tx)
        u->be.write(u->be.opaque, &after->byte, 1);
    if (after->rx_ready && u->be.rx_ready)
        u->be.rx_ready(u->be.opaque);
}

static uint8_t uart_read_locked(struct uart *u, uint64_t off,
                                struct uart_after *after)
{
    bool dlab = u->lcr & LCR_DLAB;
    switch (off) {
    case UART_RBR: {
        if (dlab)
            return u->dll;
        if (!u->rx_count)
            return 0;
        uint8_t b = u->rx[u->rx_head];
        u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
        if (--u->rx_count == 0)
            after->rx_ready = true;
        return b;
    }
    case UART_IER:
        return dlab ? u->dlm : u->ier;
    case UART_IIR: {
        uint8_t id = uart_iir_id(u);
        if (id == IIR_THRE)
            u->thr_ipending = false;
        return id | (uart_fifo_on(u) ? IIR_FIFO : 0);
    }
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR: {
        uint8_t lsr = LSR_THRE | LSR_TEMT | u->lsr_err;
        if (u->rx_count)
            lsr |= LSR_DR;
        u->lsr_err = 0;
        return lsr;
    }
    case UART_MSR: {
        uint8_t msr = uart_msr_lines(u) | u->msr_delta;
        u->msr_delta = 0;
        return msr;
    }
    case UART_SCR:
        return u->scr;
    }
    return 0;
}

static void uart_write_mcr_locked(struct uart *u, uint8_t val)
{
    uint8_t old = uart_msr_lines(u);
    u->mcr = val & 0x1f;
    uint8_t now = uart_msr_lines(u);
    uint8_t changed = old ^ now;
    if (changed & MSR_CTS)
        u->msr_delta |= MSR_DCTS;
    if (changed & MSR_DSR)
        u->msr_delta |= MSR_DDSR;
    if ((old & MSR_RI) && !(now & MSR_RI)) /* trailing edge only */
        u->msr_delta |= MSR_TERI;
    if (changed & MSR_DCD)
        u->msr_delta |= MSR_DDCD;
}

static void uart_write_locked(struct uart *u, uint64_t off, uint8_t val,
                              struct uart_after *after)
{
    bool dlab = u->lcr & LCR_DLAB;
    switch (off) {
    case UART_RBR:
        if (dlab) {
            u->dll = val;
        } else if (u->mcr & MCR_LOOP) {
            if (!uart_rx_push_locked(u, val))
                u->lsr_err |= LSR_OE;
            u->thr_ipending = true; /* THR emptied again at once */
        } else {
            after->tx = true;
            after->byte = val;
            u->thr_ipending = true;
        }
        break;
    case UART_IER:
        if (dlab) {
            u->dlm = val;
        } else {
            uint8_t rising = (uint8_t)(~u->ier & val);
            u->ier = val & 0x0f;
            /* THR is always empty, so enabling ETBEI raises THRE. */
            if (rising & IER_ETBEI)
                u->thr_ipending = true;
            if (!(u->ier & IER_ETBEI))
                u->thr_ipending = false;
        }
        break;
    case UART_IIR: /* FCR */
        if ((val ^ u->fcr) & FCR_ENABLE)
            uart_rx_clear_locked(u, after); /* FIFO mode change resets them */
        if (val & FCR_ENABLE) {
            if (val & FCR_CLEAR_RX)
                uart_rx_clear_locked(u, after);
            u->fcr = val & (FCR_ENABLE | FCR_TRIGGER);
        } else {
            u->fcr = 0;
        }
        break;
    case UART_LCR:
        u->lcr = val;
        break;
    case UART_MCR:
        uart_write_mcr_locked(u, val);
        break;
    case UART_SCR:
        u->scr = val;
        break;
    default: /* LSR, MSR: read-only */
        break;
    }
}

static int uart_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    struct uart *u = opaque;
    struct uart_after after = { 0 };
    *val = 0;
    if (off >= 8)
        return 0;
    pthread_mutex_lock(&u->lock);
    *val = uart_read_locked(u, off, &after);
    uart_update_irq_locked(u, false);
    pthread_mutex_unlock(&u->lock);
    uart_run_after(u, &after);
    return 0;
}

static int uart_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct uart *u = opaque;
    struct uart_after after = { 0 };
    if (off >= 8)
        return 0;
    pthread_mutex_lock(&u->lock);
    uart_write_locked(u, off, (uint8_t)val, &after);
    uart_update_irq_locked(u, false);
    pthread_mutex_unlock(&u->lock);
    uart_run_after(u, &after);
    return 0;
}

static const struct mmio_ops uart_mmio_ops = {
    .read = uart_read,
    .write = uart_write,
};

int uart_attach(struct uart *u, struct bus *b, gpa_t base)
{
    return bus_add_mmio(b, base, UART_SIZE, &uart_mmio_ops, u, "uart");
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    while (n < len && uart_rx_push_locked(u, buf[n]))
        n++;
    uart_update_irq_locked(u, false);
    pthread_mutex_unlock(&u->lock);
    return n;
}

int uart_send_break(struct uart *u)
{
    int r = 0;
    pthread_mutex_lock(&u->lock);
    /* A break is a NUL received with BI set; with input still queued the
     * guest would attach it to the wrong byte, so refuse. */
    if (u->rx_count != 0 || !uart_rx_push_locked(u, 0)) {
        r = -EAGAIN;
    } else {
        u->lsr_err |= LSR_BI;
        uart_update_irq_locked(u, false);
    }
    pthread_mutex_unlock(&u->lock);
    return r;
}

size_t uart_rx_space(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    size_t space = uart_capacity(u) - u->rx_count;
    pthread_mutex_unlock(&u->lock);
    return space;
}

void uart_save(const struct uart *u, struct uart_state *out)
{
    struct uart *mu = (struct uart *)u; /* the lock only */
    pthread_mutex_lock(&mu->lock);
    *out = (struct uart_state){
        .rx_head = u->rx_head, .rx_count = u->rx_count,
        .ier = u->ier, .lcr = u->lcr, .mcr = u->mcr, .lsr_err = u->lsr_err,
        .msr_delta = u->msr_delta, .scr = u->scr, .dll = u->dll,
        .dlm = u->dlm, .fcr = u->fcr, .thr_ipending = u->thr_ipending,
    };
    for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
        out->rx[i] = u->rx[i];
    pthread_mutex_unlock(&mu->lock);
}

int uart_load(struct uart *u, const struct uart_state *in)
{
    uint8_t fcr = in->fcr & (FCR_ENABLE | FCR_TRIGGER);
    if (!(fcr & FCR_ENABLE))
        fcr = 0;
    uint32_t cap = (fcr & FCR_ENABLE) ? UART_FIFO_SIZE : 1;
    if (in->rx_head >= UART_FIFO_SIZE || in->rx_count > cap)
        return -EINVAL;
    pthread_mutex_lock(&u->lock);
    for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
        u->rx[i] = in->rx[i];
    u->rx_head = in->rx_head;
    u->rx_count = in->rx_count;
    u->ier = in->ier & 0x0f;
    u->lcr = in->lcr;
    u->mcr = in->mcr & 0x1f;
    u->lsr_err = in->lsr_err & LSR_ERRORS;
    u->msr_delta = in->msr_delta & 0x0f;
    u->scr = in->scr;
    u->dll = in->dll;
    u->dlm = in->dlm;
    u->fcr = fcr;
    u->thr_ipending = in->thr_ipending && (u->ier & IER_ETBEI);
    uart_update_irq_locked(u, true);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

/* ---- saved state: section "uart", version 1 ----
 * u32 fifo_size, rx[fifo_size], u32 rx_head, u32 rx_count, then the
 * registers ier lcr mcr lsr_err msr_delta scr dll dlm fcr thr_ipending as
 * u8 each. */
void uart_save_state(const struct uart *u, struct state_out *o)
{
    struct uart_state s;
    uart_save(u, &s);
    state_put_u32(o, UART_FIFO_SIZE);
    state_put_bytes(o, s.rx, UART_FIFO_SIZE);
    state_put_u32(o, s.rx_head);
    state_put_u32(o, s.rx_count);
    const uint8_t regs[] = { s.ier, s.lcr, s.mcr, s.lsr_err, s.msr_delta,
                             s.scr, s.dll, s.dlm, s.fcr, s.thr_ipending };
    state_put_bytes(o, regs, sizeof(regs));
}

int uart_load_state(struct uart *u, struct state_in *in, uint32_t version)
{
    static struct uart_state zero;
    struct uart_state s = zero;
    if (state_get_u32(in) != UART_FIFO_SIZE)
        return state_in_fail(in, "bad FIFO size");
    state_get_bytes(in, s.rx, UART_FIFO_SIZE);
    s.rx_head = state_get_u32(in);
    s.rx_count = state_get_u32(in);
    uint8_t regs[10];
    state_get_bytes(in, regs, sizeof(regs));
    if (state_in_status(in))
        return -EINVAL;
    s.ier = regs[0], s.lcr = regs[1], s.mcr = regs[2], s.lsr_err = regs[3];
    s.msr_delta = regs[4], s.scr = regs[5], s.dll = regs[6], s.dlm = regs[7];
    s.fcr = regs[8], s.thr_ipending = regs[9];
    return uart_load(u, &s) ? state_in_fail(in, "receive FIFO cursor out of range") : 0;
}
