/* The virt board's memory map (DESIGN.md "Memory map"), as one table that
 * the MMIO bus (virt.c), the device tree (fdt.c) and everything else of
 * the machine read: base, size and PLIC source of every device. Sizes are
 * the devices' own register files; bases and interrupts are the board's.
 * QEMU-compatible, so OpenSBI's generic platform and Linux find it all. */
#ifndef CORRAL_MACHINE_MEMMAP_H
#define CORRAL_MACHINE_MEMMAP_H

#include "core/types.h"

enum virt_region {
    VIRT_TEST,       /* sifive,test1 finisher */
    VIRT_RTC,        /* goldfish RTC */
    VIRT_CLINT,
    VIRT_PLIC,
    VIRT_UART0,
    VIRT_VIRTIO,     /* slot 0; slot n at base + n * size, irq + n */
    VIRT_DRAM,
    VIRT_NREGIONS,
};

struct virt_memmap_entry {
    const char *name;
    gpa_t base;
    uint64_t size;
    uint32_t irq;    /* PLIC source; 0: none */
};

extern const struct virt_memmap_entry virt_memmap[VIRT_NREGIONS];

static inline gpa_t virt_virtio_base(unsigned slot)
{
    return virt_memmap[VIRT_VIRTIO].base + slot * virt_memmap[VIRT_VIRTIO].size;
}

static inline uint32_t virt_virtio_irq(unsigned slot)
{
    return virt_memmap[VIRT_VIRTIO].irq + slot;
}

#endif
