#include "mem/gmem.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int gmem_init(struct gmem *m, gpa_t base, uint64_t size)
{
    memset(m, 0, sizeof(*m));
    if (size == 0 || (size & (GMEM_PAGE_SIZE - 1)))
        return -EINVAL;
    /* MAP_NORESERVE: a guest that never touches its RAM costs nothing. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    m->code_map = calloc(size >> GMEM_PAGE_SHIFT, sizeof(*m->code_map));
    m->dirty = calloc(((size >> GMEM_PAGE_SHIFT) + 63) / 64, sizeof(*m->dirty));
    if (!m->code_map || !m->dirty) {
        free((void *)m->code_map);
        free((void *)m->dirty);
        munmap(p, size);
        return -ENOMEM;
    }
    m->host = p;
    m->base = base;
    m->size = size;
    return 0;
}

void gmem_destroy(struct gmem *m)
{
    if (m->host)
        munmap(m->host, m->size);
    free((void *)m->code_map);
    free((void *)m->dirty);
    memset(m, 0, sizeof(*m));
}

void gmem_clear_code_map(struct gmem *m)
{
    if (m->code_map)
        memset((void *)m->code_map, 0,
               (m->size >> GMEM_PAGE_SHIFT) * sizeof(*m->code_map));
}

int gmem_read(const struct gmem *m, gpa_t pa, void *buf, size_t len)
{
    void *p = gmem_ptr(m, pa, len);
    if (!p)
        return -EFAULT;
    memcpy(buf, p, len);
    return 0;
}

int gmem_write(struct gmem *m, gpa_t pa, const void *buf, size_t len)
{
    void *p = gmem_ptr(m, pa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, buf, len);
    gmem_host_wrote(m, pa, len);
    return 0;
}

void gmem_host_wrote(struct gmem *m, gpa_t gpa, uint64_t len)
{
    if (!len || !gmem_contains(m, gpa, len))
        return;
    gmem_mark_dirty(m, gpa, len);
    if (!m->code_map)
        return; /* a bare view of RAM (snapshot merge): no decoded code */
    uint64_t first = (gpa - m->base) >> GMEM_PAGE_SHIFT;
    uint64_t last = (gpa - m->base + len - 1) >> GMEM_PAGE_SHIFT;
    bool hit = false;
    for (uint64_t p = first; p <= last; p++) {
        if (atomic_load_explicit(&m->code_map[p], memory_order_relaxed)) {
            atomic_store(&m->code_map[p], 0);
            hit = true;
        }
    }
    /* Harts compare code_gen at block boundaries and drop the blocks of
     * pages whose tag changed. */
    if (hit)
        atomic_fetch_add(&m->code_gen, 1);
}

void gmem_dirty_log_start(struct gmem *m)
{
    atomic_store(&m->dirty_log, 1);
    /* Store entries filled before logging began would store unlogged. */
    atomic_fetch_add(&m->code_gen, 1);
}

void gmem_dirty_log_stop(struct gmem *m)
{
    atomic_store(&m->dirty_log, 0);
}

bool gmem_dirty_logging(const struct gmem *m)
{
    return atomic_load(&m->dirty_log) != 0;
}

uint64_t gmem_dirty_harvest(struct gmem *m, uint64_t *out)
{
    uint64_t n = 0;
    size_t words = gmem_dirty_words(m);
    for (size_t i = 0; i < words; i++) {
        uint64_t w = atomic_exchange_explicit(&m->dirty[i], 0, memory_order_acq_rel);
        if (w) {
            out[i] |= w;
            n += (uint64_t)__builtin_popcountll(w);
        }
    }
    atomic_fetch_add(&m->code_gen, 1);
    return n;
}

int gmem_zero_all(struct gmem *m)
{
    void *p = mmap(m->host, m->size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    m->file_backed = false;
    return 0;
}

int gmem_map_file(struct gmem *m, int fd)
{
    void *p = mmap(m->host, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    m->file_backed = true;
    return 0;
}

int gmem_discard(struct gmem *m, gpa_t gpa, uint64_t len)
{
    if (!len)
        return 0;
    if (!gmem_contains(m, gpa, len))
        return -EINVAL;
    /* Only whole host pages can be dropped (hosts with 16/64 KiB pages
     * keep a partly released one). */
    static long host_page;
    if (!host_page)
        host_page = sysconf(_SC_PAGESIZE);
    uint64_t hp = host_page > 0 ? (uint64_t)host_page : GMEM_PAGE_SIZE;
    uint64_t off = gpa - m->base;
    uint64_t start = (off + hp - 1) & ~(hp - 1), end = (off + len) & ~(hp - 1);
    int r = 0;
    if (end > start && madvise(m->host + start, end - start, MADV_DONTNEED))
        r = -errno;
    /* Zeroed pages are new contents behind the CPU's back. */
    gmem_dma_written(m, gpa, len);
    return r;
}

int gmem_advise(struct gmem *m, bool merge, bool hugepage)
{
    int advice = merge ? MADV_MERGEABLE : hugepage ? MADV_HUGEPAGE : -1;
    if (advice < 0 || !m->host)
        return 0;
    return madvise(m->host, m->size, advice) ? -errno : 0;
}
