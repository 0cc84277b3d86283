/* 16550A UART driven through its registers with no CPU; a fake backend
 * records transmitted bytes and a fake irq line records the level. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "devices/uart16550.h"

/* ---- fake backend and irq line ---- */
static uint8_t txbuf[4096];
static size_t txlen;
static unsigned rx_ready_calls;
static bool irq_level;
static unsigned irq_calls;

static void be_write(void *opaque, const uint8_t *buf, size_t len)
{
    assert_ptr_equal(opaque, &txlen);
    for (size_t i = 0; i < len && txlen < sizeof(txbuf); i++)
        txbuf[txlen++] = buf[i];
}

static void be_rx_ready(void *opaque)
{
    rx_ready_calls++;
}

static void fake_irq(void *opaque, unsigned line, bool level)
{
    assert_int_equal(line, UART_IRQ);
    irq_level = level;
    irq_calls++;
}

static struct bus bus;
static struct uart *uart;

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    txlen = 0;
    rx_ready_calls = 0;
    irq_level = true;
    irq_calls = 0;
    struct uart_backend be = {
        .write = be_write, .rx_ready = be_rx_ready, .opaque = &txlen,
    };
    struct irq_line irq = { .set = fake_irq, .line = UART_IRQ };
    uart = uart_create(&be, irq);
    assert_non_null(uart);
    assert_int_equal(uart_attach(uart, &bus, UART_BASE), 0);
    return 0;
}

static int teardown(void **state)
{
    uart_destroy(uart);
    return 0;
}

enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };
#define FCR IIR
#define THR RBR
#define DLL RBR
#define DLM IER

static uint8_t rd(unsigned off)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(bus_read(&bus, UART_BASE + off, 1, &v), 0);
    assert_true(v <= 0xff);
    return (uint8_t)v;
}

static void wr(unsigned off, uint8_t v)
{
    assert_int_equal(bus_write(&bus, UART_BASE + off, 1, v), 0);
}

/* A BREAK arrives as a NUL with LSR.BI set (Linux's SysRq trigger); it is
 * refused while other input is queued. */
static void test_send_break(void **state)
{
    uint8_t a = 'a';
    assert_int_equal(uart_receive(uart, &a, 1), 1);
    assert_int_equal(uart_send_break(uart), -EAGAIN);
    assert_int_equal(rd(RBR), 'a');
    assert_int_equal(uart_send_break(uart), 0);
    uint8_t lsr = rd(LSR);
    assert_true(lsr & 0x10); /* BI */
    assert_true(lsr & 0x01); /* DR */
    assert_int_equal(rd(RBR), 0);
    assert_false(rd(LSR) & 0x10); /* cleared by the LSR read */
}

static void test_create_args(void **state)
{
    struct irq_line irq = { 0 };
    assert_null(uart_create(NULL, irq));
    struct uart_backend be = { .write = NULL };
    assert_null(uart_create(&be, irq));
    /* An unconnected irq line is allowed (irq_set ignores it). */
    be.write = be_write;
    be.opaque = &txlen;
    struct uart *u = uart_create(&be, irq);
    assert_non_null(u);
    assert_int_equal(uart_receive(u, (const uint8_t *)"x", 1), 1);
    uart_destroy(u);
    uart_destroy(NULL);
}

static void test_reset_values(void **state)
{
    assert_false(irq_level); /* driven low at create */
    assert_int_equal(rd(IER), 0);
    assert_int_equal(rd(IIR), 0x01);
    assert_int_equal(rd(LCR), 0);
    assert_int_equal(rd(MCR), 0);
    assert_int_equal(rd(LSR), 0x60); /* THRE | TEMT */
    assert_int_equal(rd(MSR), 0xb0); /* DCD | DSR | CTS */
    assert_int_equal(rd(SCR), 0);
    assert_int_equal(rd(RBR), 0); /* empty: harmless */
}

static void test_scratch(void **state)
{
    wr(SCR, 0xa5);
    assert_int_equal(rd(SCR), 0xa5);
    wr(SCR, 0x5a);
    assert_int_equal(rd(SCR), 0x5a);
}

static void test_lcr_and_divisor_latch(void **state)
{
    wr(IER, 0x05);
    wr(LCR, 0x83); /* DLAB | 8N1 */
    assert_int_equal(rd(LCR), 0x83);
    wr(DLL, 0x12);
    wr(DLM, 0x34);
    assert_int_equal(rd(DLL), 0x12);
    assert_int_equal(rd(DLM), 0x34);
    assert_int_equal(txlen, 0); /* DLL writes do not transmit */
    wr(LCR, 0x03);
    assert_int_equal(rd(IER), 0x05); /* IER untouched by DLM */
    wr(THR, 'x');
    assert_int_equal(txlen, 1);
    assert_int_equal(txbuf[0], 'x');
    wr(LCR, 0x80);
    assert_int_equal(rd(DLL), 0x12);
    assert_int_equal(rd(DLM), 0x34);
    wr(LCR, 0x00);
}

static void test_ier_bits(void **state)
{
    wr(IER, 0xff); /* Linux autoconfig: only bits 3:0 stick */
    assert_int_equal(rd(IER) & 0xff, 0x0f);
    wr(IER, 0);
    assert_int_equal(rd(IER), 0);
}

static void test_transmit(void **state)
{
    const char *msg = "hello, world\n";
    for (const char *p = msg; *p; p++) {
        assert_int_equal(rd(LSR) & 0x60, 0x60);
        wr(THR, (uint8_t)*p);
    }
    assert_int_equal(txlen, strlen(msg));
    assert_memory_equal(txbuf, msg, txlen);
}

/* The sequence of Linux's serial8250_do_startup() THRE test. */
static void test_thre_linux_startup(void **state)
{
    wr(IER, 0x02); /* ETBEI: THR is empty, so THRE interrupt */
    assert_true(irq_level);
    uint8_t iir1 = rd(IIR);
    assert_int_equal(iir1, 0x02);
    assert_false(irq_level); /* reading IIR acknowledged it */
    assert_int_equal(rd(IIR), 0x01);
    wr(IER, 0);
    wr(IER, 0x02); /* re-enabling re-asserts THRE */
    assert_true(irq_level);
    assert_int_equal(rd(IIR), 0x02);
    wr(IER, 0);
    assert_false(irq_level);

    /* "Quick test": IER=THRI, then LSR and IIR must show an interrupt. */
    wr(IER, 0x02);
    assert_true(rd(LSR) & 0x40);
    assert_false(rd(IIR) & 0x01);
    wr(IER, 0);
}

static void test_thre_after_write(void **state)
{
    wr(IER, 0x02);
    assert_int_equal(rd(IIR), 0x02);
    assert_false(irq_level);
    /* Writing ETBEI again while already set does not re-raise. */
    wr(IER, 0x02);
    assert_false(irq_level);
    /* A THR write empties at once: THRE is raised again. */
    wr(THR, 'a');
    assert_true(irq_level);
    assert_int_equal(rd(IIR), 0x02);
    assert_false(irq_level);
    /* ETBEI off: no THRE interrupt even after writes. */
    wr(IER, 0);
    wr(THR, 'b');
    assert_false(irq_level);
    assert_int_equal(rd(IIR), 0x01);
}

static void test_receive_no_fifo(void **state)
{
    /* FIFOs off: a one-byte holding register. */
    assert_int_equal(uart_rx_space(uart), 1);
    assert_int_equal(uart_receive(uart, (const uint8_t *)"abc", 3), 1);
    assert_int_equal(uart_rx_space(uart), 0);
    assert_int_equal(rd(LSR) & 0x03, 0x01); /* DR, no overrun */
    assert_false(irq_level); /* ERBFI off */
    wr(IER, 0x01);
    assert_true(irq_level);
    assert_int_equal(rd(IIR), 0x04); /* no FIFO bits */
    assert_int_equal(rd(RBR), 'a');
    assert_false(irq_level);
    assert_int_equal(rd(IIR), 0x01);
    assert_int_equal(rx_ready_calls, 1);
    assert_int_equal(rd(LSR) & 0x01, 0);
}

static void test_fifo_enable_and_iir_bits(void **state)
{
    wr(FCR, 0x01);
    assert_int_equal(rd(IIR), 0xc1); /* 16550A: bits 7:6 = 11 */
    assert_int_equal(uart_rx_space(uart), UART_FIFO_SIZE);
    wr(FCR, 0x00);
    assert_int_equal(rd(IIR), 0x01);
    assert_int_equal(uart_rx_space(uart), 1);
    /* Changing the FIFO mode empties the receiver. */
    wr(FCR, 0x01);
    assert_int_equal(uart_receive(uart, (const uint8_t *)"xyz", 3), 3);
    wr(FCR, 0x00);
    assert_int_equal(rd(LSR) & 0x01, 0);
    /* FCR.RCVR_RESET (bit 1) clears the receive FIFO. */
    wr(FCR, 0x01);
    assert_int_equal(uart_receive(uart, (const uint8_t *)"xyz", 3), 3);
    unsigned calls = rx_ready_calls;
    wr(FCR, 0x07);
    assert_int_equal(rd(LSR) & 0x01, 0);
    assert_int_equal(rx_ready_calls, calls + 1);
    assert_int_equal(rd(IIR), 0xc1); /* still enabled */
}

static void test_rx_trigger_and_timeout(void **state)
{
    wr(FCR, 0x81); /* FIFO on, trigger 8 */
    wr(IER, 0x01);
    assert_int_equal(uart_receive(uart, (const uint8_t *)"abc", 3), 3);
    assert_true(irq_level);
    assert_int_equal(rd(IIR), 0xcc); /* below trigger: character timeout */
    assert_int_equal(uart_receive(uart, (const uint8_t *)"defgh", 5), 5);
    assert_int_equal(rd(IIR), 0xc4); /* at trigger: data available */
    char got[9] = { 0 };
    for (int i = 0; i < 8; i++) {
        assert_true(rd(LSR) & 0x01);
        got[i] = (char)rd(RBR);
    }
    assert_string_equal(got, "abcdefgh");
    assert_false(irq_level);
    assert_int_equal(rd(IIR), 0xc1);
    assert_int_equal(rd(LSR), 0x60);

    /* Trigger levels 1, 4 and 14. */
    static const struct { uint8_t fcr; unsigned level; } trig[] = {
        { 0x01, 1 }, { 0x41, 4 }, { 0xc1, 14 },
    };
    for (unsigned t = 0; t < 3; t++) {
        wr(FCR, trig[t].fcr | 0x02);
        for (unsigned n = 1; n <= trig[t].level; n++) {
            assert_int_equal(uart_receive(uart, (const uint8_t *)"z", 1), 1);
            assert_int_equal(rd(IIR), n < trig[t].level ? 0xcc : 0xc4);
        }
    }
}

static void test_fifo_overflow(void **state)
{
    wr(FCR, 0x01);
    uint8_t in[300];
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)i;
    /* The receiver takes what fits; the rest stays with the caller. */
    assert_int_equal(uart_receive(uart, in, sizeof(in)), UART_FIFO_SIZE);
    assert_int_equal(uart_rx_space(uart), 0);
    assert_int_equal(uart_receive(uart, in, 1), 0);
    assert_int_equal(rd(LSR), 0x61); /* DR, no OE: nothing was lost */

    /* A loopback byte with no room is dropped and flags an overrun. */
    wr(MCR, 0x10);
    wr(THR, 0xee);
    assert_int_equal(txlen, 0); /* loopback does not transmit */
    wr(IER, 0x04); /* ELSI */
    assert_true(irq_level);
    assert_int_equal(rd(IIR), 0xc6);
    assert_int_equal(rd(LSR), 0x63); /* DR | OE, read clears OE */
    assert_int_equal(rd(LSR), 0x61);
    assert_false(irq_level);

    for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
        assert_int_equal(rd(RBR), in[i]);
    assert_int_equal(rd(LSR), 0x60);
    assert_int_equal(rx_ready_calls, 1); /* once, when it emptied */
    assert_int_equal(uart_rx_space(uart), UART_FIFO_SIZE);
    assert_int_equal(uart_receive(uart, in + UART_FIFO_SIZE, 44), 44);
    assert_int_equal(rd(RBR), in[UART_FIFO_SIZE]);
}

static void test_overrun_no_fifo(void **state)
{
    wr(MCR, 0x10);
    wr(THR, 'a');
    wr(THR, 'b'); /* the holding register is full: 'b' is lost */
    assert_int_equal(rd(LSR), 0x63);
    assert_int_equal(rd(RBR), 'a');
    assert_int_equal(rd(LSR), 0x60);
}

static void test_iir_priority(void **state)
{
    /* Build every interrupt at once through loopback: entering loopback
     * changes the modem lines (MSR deltas), a THR write sets THRE, and a
     * second byte overruns the one-byte holding register. */
    wr(MCR, 0x10);
    wr(THR, 'a');
    wr(THR, 'b');
    wr(IER, 0x0f);
    assert_true(irq_level);
    assert_int_equal(rd(IIR), 0x06); /* receiver line status first */
    assert_int_equal(rd(IIR), 0x06); /* IIR reads do not clear it */
    assert_int_equal(rd(LSR) & 0x02, 0x02);
    assert_int_equal(rd(IIR), 0x04); /* then received data */
    assert_int_equal(rd(RBR), 'a');
    assert_int_equal(rd(IIR), 0x02); /* then THR empty... */
    assert_int_equal(rd(IIR), 0x00); /* ...which the IIR read cleared: MSR */
    assert_true(irq_level);
    assert_int_equal(rd(MSR), 0x0b); /* DCTS | DDSR | DDCD, lines now 0 */
    assert_int_equal(rd(IIR), 0x01);
    assert_false(irq_level);
}

static void test_thre_not_cleared_by_other_iir(void **state)
{
    /* An IIR read that reports data must not eat a pending THRE. */
    wr(IER, 0x03);
    assert_int_equal(uart_receive(uart, (const uint8_t *)"q", 1), 1);
    assert_int_equal(rd(IIR), 0x04);
    assert_int_equal(rd(RBR), 'q');
    assert_int_equal(rd(IIR), 0x02);
    assert_int_equal(rd(IIR), 0x01);
}

static void test_loopback_msr(void **state)
{
    wr(MCR, 0x1a); /* LOOP | OUT2 | RTS: Linux autoconfig's check */
    assert_int_equal(rd(MSR) & 0xf0, 0x90);
    wr(MCR, 0x15); /* LOOP | OUT1 | DTR */
    assert_int_equal(rd(MSR) & 0xf0, 0x60);
    wr(MCR, 0x10);
    /* RI went 1 -> 0: trailing-edge bit; DSR changed: delta. */
    assert_int_equal(rd(MSR), 0x06);
    assert_int_equal(rd(MSR), 0x00);
    wr(MCR, 0x0b); /* leave loopback: lines back to connected */
    assert_int_equal(rd(MCR), 0x0b);
    assert_int_equal(rd(MSR), 0xb0 | 0x0b);
    assert_int_equal(rd(MSR), 0xb0);
    wr(MCR, 0xff);
    assert_int_equal(rd(MCR), 0x1f);
}

static void test_bad_accesses(void **state)
{
    uint64_t v;
    for (unsigned off = 8; off < UART_SIZE; off += 13) {
        assert_int_equal(bus_read(&bus, UART_BASE + off, 1, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(bus_write(&bus, UART_BASE + off, 1, 0xff), 0);
    }
    wr(LSR, 0xff); /* read-only */
    wr(MSR, 0xff);
    assert_int_equal(rd(LSR), 0x60);
    assert_int_equal(rd(MSR), 0xb0);
    /* Wider accesses act on the addressed register. */
    assert_int_equal(bus_write(&bus, UART_BASE + SCR, 4, 0x12345677), 0);
    assert_int_equal(bus_read(&bus, UART_BASE + SCR, 1, &v), 0);
    assert_int_equal(v, 0x77);
    assert_int_equal(bus_read(&bus, UART_BASE + LSR, 4, &v), 0);
    assert_int_equal(v, 0x60);
    assert_int_equal(txlen, 0);
}

static void test_save_load(void **state)
{
    wr(FCR, 0x41);
    wr(IER, 0x03);
    wr(LCR, 0x80);
    wr(DLL, 3);
    wr(DLM, 1);
    wr(LCR, 0x1b);
    wr(SCR, 0x42);
    wr(MCR, 0x0b);
    rd(MSR);
    assert_int_equal(uart_receive(uart, (const uint8_t *)"snap", 4), 4);
    struct uart_state st;
    uart_save(uart, &st);

    uart_reset(uart);
    assert_false(irq_level);
    assert_int_equal(rd(SCR), 0);

    assert_int_equal(uart_load(uart, &st), 0);
    assert_true(irq_level);
    assert_int_equal(rd(SCR), 0x42);
    assert_int_equal(rd(LCR), 0x1b);
    assert_int_equal(rd(IER), 0x03);
    assert_int_equal(rd(MCR), 0x0b);
    assert_int_equal(rd(IIR), 0xc4); /* 4 bytes = trigger 4 */
    assert_int_equal(uart_rx_space(uart), UART_FIFO_SIZE - 4);
    char got[5] = { 0 };
    for (int i = 0; i < 4; i++)
        got[i] = (char)rd(RBR);
    assert_string_equal(got, "snap");
    wr(LCR, 0x9b);
    assert_int_equal(rd(DLL), 3);
    assert_int_equal(rd(DLM), 1);

    /* Corrupt states are refused. */
    st.rx_count = UART_FIFO_SIZE + 1;
    assert_int_equal(uart_load(uart, &st), -EINVAL);
    st.rx_count = 0;
    st.rx_head = UART_FIFO_SIZE;
    assert_int_equal(uart_load(uart, &st), -EINVAL);
    st.rx_head = 0;
    st.fcr = 0;
    st.rx_count = 2; /* two bytes cannot sit in a FIFO-less holding register */
    assert_int_equal(uart_load(uart, &st), -EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_args),
        T(test_send_break),
        T(test_reset_values),
        T(test_scratch),
        T(test_lcr_and_divisor_latch),
        T(test_ier_bits),
        T(test_transmit),
        T(test_thre_linux_startup),
        T(test_thre_after_write),
        T(test_receive_no_fifo),
        T(test_fifo_enable_and_iir_bits),
        T(test_rx_trigger_and_timeout),
        T(test_fifo_overflow),
        T(test_overrun_no_fifo),
        T(test_iir_priority),
        T(test_thre_not_cleared_by_other_iir),
        T(test_loopback_msr),
        T(test_bad_accesses),
        T(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
