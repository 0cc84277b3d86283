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
    /* Dirty-page log (snapshots, migration): one bit per page, set by
     * every writer of RAM while `dirty_log` is on. Harts mark a page when
     * they fill a store TLB entry for it (a store through an existing
     * entry marks nothing), so harvesting the log bumps code_gen: every
     * hart then drops its store entries at its next block boundary and
     * marks again on its next store. */
    _Atomic uint64_t *dirty;
    _Atomic uint32_t dirty_log;
    /* RAM is a private mapping of a snapshot's memory file (gmem_map_file):
     * a page the guest never touched holds the file's bytes, not zeros. */
    bool file_backed;
};

int gmem_init(struct gmem *m, gpa_t base, uint64_t size) WARN_UNUSED;
void gmem_destroy(struct gmem *m);
/* Make all of RAM read as zero again with fresh anonymous memory (the
 * host gets the old pages back). Harts stopped. */
int gmem_zero_all(struct gmem *m) WARN_UNUSED;
/* Lazy restore: map `size` bytes of `fd` from offset 0 privately over RAM
 * (pages load from the file on first touch; writes stay in this process;
 * many VMs mapping one file share its clean pages). Harts stopped. */
int gmem_map_file(struct gmem *m, int fd) WARN_UNUSED;
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

static inline uint64_t gmem_npages(const struct gmem *m)
{
    return m->size >> GMEM_PAGE_SHIFT;
}

/* Set the dirty bits of [gpa, gpa+len) when logging (clipped to RAM). */
static inline void gmem_mark_dirty(struct gmem *m, gpa_t gpa, uint64_t len)
{
    if (!atomic_load_explicit(&m->dirty_log, memory_order_relaxed) || !len ||
        !gmem_contains(m, gpa, len))
        return;
    uint64_t first = (gpa - m->base) >> GMEM_PAGE_SHIFT;
    uint64_t last = (gpa - m->base + len - 1) >> GMEM_PAGE_SHIFT;
    for (uint64_t p = first; p <= last; p++) {
        uint64_t bit = 1ULL << (p & 63);
        if (!(atomic_load_explicit(&m->dirty[p >> 6], memory_order_relaxed) & bit))
            atomic_fetch_or_explicit(&m->dirty[p >> 6], bit, memory_order_relaxed);
    }
}

int gmem_read(const struct gmem *m, gpa_t pa, void *buf, size_t len) WARN_UNUSED;
int gmem_write(struct gmem *m, gpa_t pa, const void *buf, size_t len) WARN_UNUSED;
/* The one hook for every write into guest RAM that does not come from a
 * hart's store instruction (device DMA, virtqueue rings, the loader, a
 * restored page): marks the pages dirty and drops decoded blocks of them,
 * as a store from a hart would. Any thread. */
void gmem_host_wrote(struct gmem *m, gpa_t gpa, uint64_t len);
/* The old name, kept for callers not yet renamed. */
static inline void gmem_dma_written(struct gmem *m, gpa_t gpa, uint64_t len)
{
    gmem_host_wrote(m, gpa, len);
}

/* Dirty log control. Any thread; safe while harts run. Starting marks
 * nothing: only writes from then on are logged (a full copy is the
 * caller's first round). */
void gmem_dirty_log_start(struct gmem *m);
void gmem_dirty_log_stop(struct gmem *m);
bool gmem_dirty_logging(const struct gmem *m);
/* OR the logged bits into out[] (gmem_npages bits, 64 per word) and clear
 * them; makes every hart drop its store TLB entries at its next block
 * boundary (see `dirty` above). Returns the number of pages harvested. */
uint64_t gmem_dirty_harvest(struct gmem *m, uint64_t *out);
/* Is the page at p (GMEM_PAGE_SIZE bytes, 8-aligned) all zeros? Snapshot
 * files skip such pages; migration sends them as a flag. */
static inline bool gmem_page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    for (unsigned i = 0; i < GMEM_PAGE_SIZE / 8; i += 8)
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
            return false;
    return true;
}

/* Words in a dirty bitmap. */
static inline size_t gmem_dirty_words(const struct gmem *m)
{
    return (size_t)((gmem_npages(m) + 63) / 64);
}
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
