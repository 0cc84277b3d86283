/* Register files driven by a fuzzed access sequence: UART, PLIC, CLINT
 * and the goldfish RTC on one bus. Each 12-byte record is an access:
 * device, read or write, width, offset and value. */
#include <stdint.h>
#include <string.h>

#include "core/vclock.h"
#include "cpu/riscv/hart.h"
#include "devices/clint.h"
#include "devices/goldfish_rtc.h"
#include "devices/plic.h"
#include "devices/uart16550.h"

static void sink(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque, (void)buf, (void)len;
}

static void no_irq(void *opaque, unsigned line, bool level)
{
    (void)opaque, (void)line, (void)level;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hart harts[2];
    static struct vclock clk;
    static struct bus bus;
    static struct uart *uart;
    static struct plic *plic;
    static struct clint *clint;
    static struct goldfish_rtc *rtc;
    static bool init;
    if (!init) {
        struct hart *hp[2] = { &harts[0], &harts[1] };
        struct uart_backend be = { .write = sink };
        struct irq_line irq = { .set = no_irq };
        vclock_init(&clk);
        uart = uart_create(&be, irq);
        plic = plic_create(hp, 2);
        clint = clint_create(hp, 2, &clk);
        rtc = goldfish_rtc_create(irq);
        if (!uart || !plic || !clint || !rtc || uart_attach(uart, &bus, UART_BASE) ||
            plic_attach(plic, &bus, PLIC_BASE) || clint_attach(clint, &bus, CLINT_BASE) ||
            goldfish_rtc_attach(rtc, &bus, GOLDFISH_RTC_BASE))
            return 0;
        init = true;
    }
    static const struct { gpa_t base; uint64_t size; } dev[4] = {
        { UART_BASE, UART_SIZE }, { PLIC_BASE, PLIC_SIZE },
        { CLINT_BASE, CLINT_SIZE }, { GOLDFISH_RTC_BASE, GOLDFISH_RTC_SIZE },
    };
    uart_reset(uart);
    plic_reset(plic);
    clint_reset(clint);
    for (size_t i = 0; i + 12 <= size; i += 12) {
        uint8_t d = data[i] % 4, op = data[i + 1];
        unsigned width = 1u << (op >> 1 & 3);
        uint16_t off16;
        uint64_t val;
        memcpy(&off16, data + i + 2, 2);
        memcpy(&val, data + i + 4, 8);
        /* Mostly in range; sometimes straddling the end. */
        gpa_t pa = dev[d].base + (dev[d].size > 0x10000 ? (uint64_t)off16 * 0x40 % dev[d].size
                                                         : off16 % (dev[d].size + 8));
        uint64_t got;
        if (op & 1)
            (void)bus_write(&bus, pa, width, val);
        else
            (void)bus_read(&bus, pa, width, &got);
        if (op & 0x80) {
            uint8_t byte = (uint8_t)val;
            (void)uart_receive(uart, &byte, 1);
            plic_set_level(plic, 1 + (unsigned)(val >> 8) % 95, val & 0x10000);
            goldfish_rtc_poll(rtc);
        }
    }
    return 0;
}
