/* An interrupt line from a device to an interrupt controller (the PLIC).
 * Devices hold one by value and call irq_set() whenever their level
 * changes; the controller decides what that means. Any thread. */
#ifndef CORRAL_DEVICES_IRQ_H
#define CORRAL_DEVICES_IRQ_H

#include <stdbool.h>

struct irq_line {
    void (*set)(void *opaque, unsigned line, bool level);
    void *opaque;
    unsigned line;
};

static inline void irq_set(const struct irq_line *irq, bool level)
{
    if (irq->set)
        irq->set(irq->opaque, irq->line, level);
}

#endif
