/* The device tree of the virt board, generated from its real
 * configuration with libfdt. Main thread. */
#ifndef CORRAL_MACHINE_FDT_H
#define CORRAL_MACHINE_FDT_H

#include "core/types.h"

#define FDT_MAX_VIRTIO 8

struct fdt_config {
    unsigned nharts;
    gpa_t ram_base;
    uint64_t ram_size;
    const char *bootargs;   /* NULL: none */
    gpa_t initrd_start, initrd_end; /* both 0: no initrd */
    unsigned nvirtio;       /* virtio-mmio slots to describe (0..8) */
    const char *mmu_type;   /* "riscv,sv57" etc. */
};

/* The ISA the CPU implements, in both device-tree forms. */
extern const char fdt_isa_string[];

/* Build the blob into a malloc'd buffer. 0 or -errno. */
int fdt_build(const struct fdt_config *cfg, void **blob, size_t *size) WARN_UNUSED;

#endif
