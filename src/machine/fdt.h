/* The device tree of the virt board, generated from its real
 * configuration with libfdt. Main thread. */
#ifndef CORRAL_MACHINE_FDT_H
#define CORRAL_MACHINE_FDT_H

#include "core/types.h"

/* Phandles the board's nodes refer to each other by. */
enum { FDT_PH_PLIC = 1, FDT_PH_TEST = 2, FDT_PH_CPU_INTC = 16 /* + hart */ };

/* What a device's node is written from: its place on the board (memory
 * map entry, slot) and the board's harts. */
struct fdt_node_ctx {
    gpa_t base;
    uint64_t size;
    uint32_t irq;           /* PLIC source; 0: none */
    unsigned nharts;
};
/* One device's node under /soc (libfdt sequential write). 0 or a libfdt
 * error. The device table (virt.h) names the writer of each device. */
typedef int (*fdt_node_fn)(void *fdt, const struct fdt_node_ctx *ctx);
int fdt_node_test(void *fdt, const struct fdt_node_ctx *ctx);
int fdt_node_rtc(void *fdt, const struct fdt_node_ctx *ctx);
int fdt_node_uart(void *fdt, const struct fdt_node_ctx *ctx);
int fdt_node_virtio(void *fdt, const struct fdt_node_ctx *ctx);
int fdt_node_clint(void *fdt, const struct fdt_node_ctx *ctx);
int fdt_node_plic(void *fdt, const struct fdt_node_ctx *ctx);

struct fdt_soc_node {
    fdt_node_fn write;
    struct fdt_node_ctx ctx;
};
#define FDT_MAX_SOC_NODES 16

struct fdt_config {
    unsigned nharts;
    gpa_t ram_base;
    uint64_t ram_size;
    const char *bootargs;   /* NULL: none */
    gpa_t initrd_start, initrd_end; /* both 0: no initrd */
    /* The /soc nodes in blob order (the device table's order). */
    const struct fdt_soc_node *soc;
    unsigned nsoc;
    const char *mmu_type;   /* "riscv,sv57" etc. */
};

/* The ISA the CPU implements, in both device-tree forms. */
extern const char fdt_isa_string[];

/* Build the blob into a malloc'd buffer. 0 or -errno. */
int fdt_build(const struct fdt_config *cfg, void **blob, size_t *size) WARN_UNUSED;

#endif
