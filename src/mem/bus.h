/* The guest-physical address space: RAM plus a table of MMIO regions.
 * MMIO handlers run on the hart thread that made the access; devices lock
 * their own state. Regions are registered before harts start and never
 * change while they run. */
#ifndef CORRAL_MEM_BUS_H
#define CORRAL_MEM_BUS_H

#include "core/types.h"
#include "mem/gmem.h"

/* Handlers return 0, or a negative errno which the CPU turns into an
 * access fault. `size` is 1, 2, 4 or 8; `off` is relative to the region. */
struct mmio_ops {
    int (*read)(void *opaque, uint64_t off, unsigned size, uint64_t *val);
    int (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
};

struct mmio_region {
    gpa_t base;
    uint64_t size;
    const struct mmio_ops *ops;
    void *opaque;
    const char *name;
};

#define BUS_MAX_REGIONS 32

struct bus {
    struct gmem ram;
    struct mmio_region regions[BUS_MAX_REGIONS];
    int nregions;
    _Atomic uint64_t mmio_exits; /* metrics */
};

int bus_add_mmio(struct bus *b, gpa_t base, uint64_t size,
                 const struct mmio_ops *ops, void *opaque,
                 const char *name) WARN_UNUSED;
const struct mmio_region *bus_find_mmio(const struct bus *b, gpa_t pa);

/* Little-endian access of `size` bytes to RAM or MMIO. -EFAULT when nothing
 * is mapped there (the CPU raises an access fault). */
int bus_read(struct bus *b, gpa_t pa, unsigned size, uint64_t *val) WARN_UNUSED;
int bus_write(struct bus *b, gpa_t pa, unsigned size, uint64_t val) WARN_UNUSED;

#endif
