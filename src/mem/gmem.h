/* Guest RAM: one contiguous host mapping at a guest-physical base.
 * Every access from devices goes through the bounds-checked helpers here;
 * the CPU's TLB caches host pointers into it after the same check.
 * Any thread. */
#ifndef CORRAL_MEM_GMEM_H
#define CORRAL_MEM_GMEM_H

#include <stdatomic.h>
#include <string.h>

#include "core/types.h"

#define GMEM_PAGE_SHIFT 12
#define GMEM_PAGE_SIZE (1ULL << GMEM_PAGE_SHIFT)

struct gmem {
    uint8_t *host;       /* mapping of `size` bytes */
    gpa_t base;
    uint64_t size;
    /* One tag per page: non-zero when some hart has decoded instructions
     * from that page. Stores to such pages must go through the slow path
     * (cpu/riscv) so cached blocks are invalidated. 32 bits wide so a tag
     * is not reused for a page while some hart still holds blocks decoded
     * under its old value (an 8-bit tag could wrap). */
    _Atomic uint32_t *code_map;
    /* Bumped whenever a page becomes a code page or its code is
     * invalidated; harts compare it at block boundaries and drop stale
     * fast-path store entries / blocks. */
    _Atomic uint64_t code_gen;
};

int gmem_init(struct gmem *m, gpa_t base, uint64_t size) WARN_UNUSED;
void gmem_destroy(struct gmem *m);
/* Forget every code page (machine reset, with all harts stopped). */
void gmem_clear_code_map(struct gmem *m);

static inline bool gmem_contains(const struct gmem *m, gpa_t pa, uint64_t len)
{
    return pa >= m->base && len <= m->size && pa - m->base <= m->size - len;
}

/* Host pointer to [pa, pa+len) or NULL when any byte lies outside RAM. */
static inline void *gmem_ptr(const struct gmem *m, gpa_t pa, uint64_t len)
{
    if (!gmem_contains(m, pa, len))
        return NULL;
    return m->host + (pa - m->base);
}

int gmem_read(const struct gmem *m, gpa_t pa, void *buf, size_t len) WARN_UNUSED;
int gmem_write(struct gmem *m, gpa_t pa, const void *buf, size_t len) WARN_UNUSED;
/* A device wrote guest RAM behind the CPU's back (DMA): decoded blocks of
 * those pages must go, as for a store from a hart. Any thread. */
void gmem_dma_written(struct gmem *m, gpa_t gpa, uint64_t len);
/* Give [gpa, gpa+len) back to the host (madvise MADV_DONTNEED on the whole
 * host pages inside it): the pages read zero when next touched, host
 * pointers stay valid, decoded code of those pages is dropped. -EINVAL
 * when the range is not in RAM. Any thread. */
int gmem_discard(struct gmem *m, gpa_t gpa, uint64_t len) WARN_UNUSED;
/* Advice on the whole of RAM (machine creation): merge = KSM may share
 * identical pages (MADV_MERGEABLE); else hugepage = ask for THP. The
 * kernel keeps host virtual addresses when it merges or splits, so host
 * pointers cached by the TLB stay valid. 0 or -errno. */
int gmem_advise(struct gmem *m, bool merge, bool hugepage) WARN_UNUSED;

#endif
