#include "mem/bus.h"

#include <errno.h>

int bus_add_mmio(struct bus *b, gpa_t base, uint64_t size,
                 const struct mmio_ops *ops, void *opaque, const char *name)
{
    if (b->nregions >= BUS_MAX_REGIONS || size == 0)
        return -ENOSPC;
    for (int i = 0; i < b->nregions; i++) {
        const struct mmio_region *r = &b->regions[i];
        if (base < r->base + r->size && r->base < base + size)
            return -EEXIST;
    }
    b->regions[b->nregions++] = (struct mmio_region){
        .base = base, .size = size, .ops = ops, .opaque = opaque, .name = name,
    };
    return 0;
}

const struct mmio_region *bus_find_mmio(const struct bus *b, gpa_t pa)
{
    for (int i = 0; i < b->nregions; i++) {
        const struct mmio_region *r = &b->regions[i];
        if (pa - r->base < r->size)
            return r;
    }
    return NULL;
}

int bus_read(struct bus *b, gpa_t pa, unsigned size, uint64_t *val)
{
    const uint8_t *p = gmem_ptr(&b->ram, pa, size);
    if (p) {
        uint64_t v = 0;
        memcpy(&v, p, size); /* host is little-endian (x86-64, riscv64) */
        *val = v;
        return 0;
    }
    const struct mmio_region *r = bus_find_mmio(b, pa);
    if (!r || pa - r->base > r->size - size || !r->ops->read)
        return -EFAULT;
    atomic_fetch_add_explicit(&b->mmio_exits, 1, memory_order_relaxed);
    *val = 0;
    return r->ops->read(r->opaque, pa - r->base, size, val);
}

int bus_write(struct bus *b, gpa_t pa, unsigned size, uint64_t val)
{
    uint8_t *p = gmem_ptr(&b->ram, pa, size);
    if (p) {
        memcpy(p, &val, size);
        return 0;
    }
    const struct mmio_region *r = bus_find_mmio(b, pa);
    if (!r || pa - r->base > r->size - size || !r->ops->write)
        return -EFAULT;
    atomic_fetch_add_explicit(&b->mmio_exits, 1, memory_order_relaxed);
    if (size < 8)
        val &= (1ULL << (size * 8)) - 1;
    return r->ops->write(r->opaque, pa - r->base, size, val);
}
