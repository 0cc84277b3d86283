/* Address translation (Sv39/Sv48/Sv57 page walks), the software TLB and
 * the memory slow paths behind hart.h's inline fast paths.
 *
 * The TLB only ever maps a 4 KiB slice of guest RAM, filled after a walk
 * that proved the access kind is allowed at the current effective
 * privilege with the current SUM/MXR; everything that changes those
 * (privilege, mstatus, satp) flushes it, so a hit needs no checks. A store
 * entry additionally needs D set and the page not to hold decoded code, so
 * fast-path stores never skip A/D updates or block invalidation.
 *
 * A/D bits are set by the walker with a compare-and-swap on the PTE, which
 * makes the update atomic with the permission check even against other
 * harts editing the table (privileged spec 12.3.2 step 7, Svade not
 * advertised: hardware updating is the implementation's choice). PMP is
 * accepted by csr.c but not enforced. */
#include "cpu/riscv/csr.h"

#include <stdatomic.h>

#define PTE_V (1ULL << 0)
#define PTE_R (1ULL << 1)
#define PTE_W (1ULL << 2)
#define PTE_X (1ULL << 3)
#define PTE_U (1ULL << 4)
#define PTE_A (1ULL << 6)
#define PTE_D (1ULL << 7)
#define PTE_PPN_SHIFT 10
#define PTE_PPN_MASK ((1ULL << 44) - 1)
/* Bits 63:54: N (Svnapot), PBMT (Svpbmt) and reserved; none implemented. */
#define PTE_RESERVED_SHIFT 54

#define PAGE_MASK 0xfffULL

static int page_fault(enum access acc)
{
    static const int c[] = {EXC_INSN_PAGE_FAULT, EXC_LOAD_PAGE_FAULT,
                            EXC_STORE_PAGE_FAULT};
    return c[acc];
}

static int access_fault(enum access acc)
{
    static const int c[] = {EXC_INSN_ACCESS, EXC_LOAD_ACCESS, EXC_STORE_ACCESS};
    return c[acc];
}

/* ---- TLB ---- */

void tlb_flush_all(struct hart *h)
{
    if (h->tlb_log_n <= TLB_LOG_MAX) {
        for (uint32_t i = 0; i < h->tlb_log_n; i++) {
            unsigned acc = h->tlb_log[i] >> TLB_BITS;
            unsigned idx = h->tlb_log[i] & (TLB_SIZE - 1);
            h->tlb[acc][idx].vpn_tag = 0;
        }
    } else {
        memset(h->tlb, 0, sizeof(h->tlb));
    }
    h->tlb_log_n = 0;
    h->tlb_has_super = 0;
    h->tlb_perm_n = 0;
}

void tlb_flush_widened(struct hart *h)
{
    if (h->tlb_perm_n > TLB_PERM_MAX) {
        tlb_flush_all(h);
        return;
    }
    /* (a logged slot refilled since for another page is dropped too: a
     * spurious miss, never a stale hit) */
    for (uint32_t i = 0; i < h->tlb_perm_n; i++) {
        unsigned acc = h->tlb_perm_log[i] >> TLB_BITS;
        unsigned idx = h->tlb_perm_log[i] & (TLB_SIZE - 1);
        h->tlb[acc][idx].vpn_tag = 0;
    }
    h->tlb_perm_n = 0;
}

/* Drop every entry whose page lies in [base, base + mask]. */
static void tlb_flush_range(struct hart *h, uint64_t base, uint64_t mask)
{
    for (unsigned acc = 0; acc < 3; acc++)
        for (unsigned k = 0; k < TLB_SIZE; k++) {
            struct tlb_entry *e = &h->tlb[acc][k];
            if (e->vpn_tag && (TLB_TAG_PAGE(e->vpn_tag) & ~mask) == base)
                e->vpn_tag = 0;
        }
}

void tlb_flush_page(struct hart *h, gva_t va)
{
    if (h->tlb_has_super > TLB_SUPER_MAX) {
        tlb_flush_all(h);
        return;
    }
    /* 4 KiB slices of a cached superpage covering va: the whole superpage
     * goes (the guest changed the mapping of va, which is all of it). */
    for (uint32_t k = 0; k < h->tlb_has_super;) {
        if ((va & ~h->tlb_super_mask[k]) == h->tlb_super_base[k]) {
            tlb_flush_range(h, h->tlb_super_base[k], h->tlb_super_mask[k]);
            h->tlb_has_super--;
            h->tlb_super_base[k] = h->tlb_super_base[h->tlb_has_super];
            h->tlb_super_mask[k] = h->tlb_super_mask[h->tlb_has_super];
            continue;
        }
        k++;
    }
    /* the page's entry of whichever privilege level filled it */
    unsigned idx = (va >> 12) & (TLB_SIZE - 1);
    for (unsigned acc = 0; acc < 3; acc++) {
        struct tlb_entry *e = &h->tlb[acc][idx];
        if (e->vpn_tag && TLB_TAG_PAGE(e->vpn_tag) == (va & ~(gva_t)PAGE_MASK))
            e->vpn_tag = 0;
    }
}

static bool is_code_page(const struct gmem *m, gpa_t pa)
{
    return gmem_contains(m, pa, 1) &&
           atomic_load_explicit(&m->code_map[(pa - m->base) >> GMEM_PAGE_SHIFT],
                                memory_order_relaxed);
}

/* Remember the superpage (level > 0) an entry for va came from. */
static void tlb_note_super(struct hart *h, gva_t va, int level)
{
    uint64_t mask = (1ULL << (12 + 9 * level)) - 1;
    uint64_t base = va & ~mask;
    if (h->tlb_has_super > TLB_SUPER_MAX)
        return;
    for (uint32_t k = 0; k < h->tlb_has_super; k++)
        if (h->tlb_super_base[k] == base && h->tlb_super_mask[k] == mask)
            return;
    if (h->tlb_has_super == TLB_SUPER_MAX) {
        h->tlb_has_super++; /* overflow: per-page flushes flush all */
        return;
    }
    h->tlb_super_base[h->tlb_has_super] = base;
    h->tlb_super_mask[h->tlb_has_super] = mask;
    h->tlb_has_super++;
}

/* `widened`: only SUM or MXR allowed this access (tlb_perm_log). */
static void tlb_fill(struct hart *h, enum access acc, gva_t va, gpa_t pa,
                     int level, bool widened)
{
    struct gmem *m = &h->bus->ram;
    uint8_t *host = gmem_ptr(m, pa & ~PAGE_MASK, GMEM_PAGE_SIZE);
    if (!host)
        return; /* MMIO or unmapped: always the slow path */
    if (acc == ACCESS_STORE) {
        if (is_code_page(m, pa))
            return;
        /* Stores through this entry will not be seen: log the page now
         * (gmem.h, dirty log). */
        gmem_mark_dirty(m, pa & ~PAGE_MASK, GMEM_PAGE_SIZE);
    }
    unsigned idx = (va >> 12) & (TLB_SIZE - 1);
    struct tlb_entry *e = &h->tlb[acc][idx];
    e->vpn_tag = tlb_tag(h, va);
    e->addend = (uintptr_t)host - (uintptr_t)(va & ~PAGE_MASK);
    if (h->tlb_log_n < TLB_LOG_MAX)
        h->tlb_log[h->tlb_log_n] = (uint16_t)((acc << TLB_BITS) | idx);
    if (h->tlb_log_n <= TLB_LOG_MAX)
        h->tlb_log_n++;
    if (level > 0)
        tlb_note_super(h, va, level);
    if (widened) {
        if (h->tlb_perm_n < TLB_PERM_MAX)
            h->tlb_perm_log[h->tlb_perm_n] = (uint16_t)((acc << TLB_BITS) | idx);
        if (h->tlb_perm_n <= TLB_PERM_MAX)
            h->tlb_perm_n++;
    }
}

/* ---- page walk ---- */

static bool leaf_allowed(const struct hart *h, uint64_t pte, enum access acc,
                         uint64_t priv)
{
    if (pte & PTE_U) {
        if (priv == PRIV_S &&
            (acc == ACCESS_FETCH || !(h->mstatus & MSTATUS_SUM)))
            return false;
    } else if (priv == PRIV_U) {
        return false;
    }
    switch (acc) {
    case ACCESS_FETCH:
        return pte & PTE_X;
    case ACCESS_LOAD:
        return (pte & PTE_R) ||
               ((h->mstatus & MSTATUS_MXR) && (pte & PTE_X));
    case ACCESS_STORE:
        return pte & PTE_W;
    }
    return false;
}

/* Walk the tables for `va`; on success *pa, *level (0 = 4 KiB page) and
 * *widened (the leaf allowed the access only through SUM or MXR). */
static int walk(struct hart *h, gva_t va, enum access acc, uint64_t priv,
                unsigned mode, gpa_t *pa, int *level, bool *widened)
{
    struct gmem *m = &h->bus->ram;
    int levels = (int)mode - 5; /* Sv39 = 8 -> 3, Sv48 -> 4, Sv57 -> 5 */
    unsigned vabits = 12 + 9 * (unsigned)levels;

    /* Bits above the VA width must all equal its top bit. */
    if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va)
        return page_fault(acc);

restart:;
    gpa_t table = (h->satp & SATP_PPN_MASK) << 12;
    for (int i = levels - 1; i >= 0; i--) {
        gpa_t pte_pa = table + ((va >> (12 + 9 * i)) & 0x1ff) * 8;
        uint64_t *p = gmem_ptr(m, pte_pa, 8);
        if (!p)
            return access_fault(acc);
        uint64_t pte = __atomic_load_n(p, __ATOMIC_ACQUIRE);

        if (!(pte & PTE_V) || (pte & (PTE_R | PTE_W)) == PTE_W ||
            (pte >> PTE_RESERVED_SHIFT))
            return page_fault(acc);
        uint64_t ppn = (pte >> PTE_PPN_SHIFT) & PTE_PPN_MASK;

        if (!(pte & (PTE_R | PTE_X))) {
            /* Pointer to the next level; A, D and U are reserved here. */
            if (i == 0 || (pte & (PTE_A | PTE_D | PTE_U)))
                return page_fault(acc);
            table = ppn << 12;
            continue;
        }

        if (!leaf_allowed(h, pte, acc, priv))
            return page_fault(acc);
        *widened = ((pte & PTE_U) && priv == PRIV_S) ||
                   (acc == ACCESS_LOAD && !(pte & PTE_R));
        if (i > 0 && (ppn & ((1ULL << (9 * i)) - 1)))
            return page_fault(acc); /* misaligned superpage */

        uint64_t need = PTE_A | (acc == ACCESS_STORE ? PTE_D : 0);
        if ((pte & need) != need) {
            if (!__atomic_compare_exchange_n(p, &pte, pte | need, false,
                                             __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE))
                goto restart; /* PTE changed under us: check it again */
            gmem_mark_dirty(m, pte_pa, 8);
            if (is_code_page(m, pte_pa))
                block_invalidate_page(h, pte_pa);
        }

        uint64_t off = (1ULL << (12 + 9 * i)) - 1;
        *pa = ((ppn << 12) & ~off) | (va & off);
        *level = i;
        return 0;
    }
    return page_fault(acc); /* not reached: level 0 always decides */
}

int mmu_translate(struct hart *h, gva_t va, enum access acc, gpa_t *pa)
{
    uint64_t priv = h->priv;
    if (acc != ACCESS_FETCH && priv == PRIV_M && (h->mstatus & MSTATUS_MPRV))
        priv = (h->mstatus & MSTATUS_MPP) >> 11;
    unsigned mode = (unsigned)(h->satp >> SATP_MODE_SHIFT);
    int level = 0;
    bool widened = false;

    if (priv == PRIV_M || mode == SATP_MODE_BARE) {
        *pa = va;
    } else {
        int c = walk(h, va, acc, priv, mode, pa, &level, &widened);
        if (c)
            return c;
    }
    tlb_fill(h, acc, va, *pa, level, widened);
    return 0;
}

/* ---- slow paths ---- */

/* An access split into at most two physical pieces (page crossing). Both
 * pieces are translated before anything is touched. */
struct span {
    gpa_t pa[2];
    unsigned len[2];
    int n;
};

static bool translate_span(struct hart *h, gva_t va, unsigned size,
                           enum access acc, struct span *s)
{
    gpa_t pa;
    int c = mmu_translate(h, va, acc, &pa);
    if (c) {
        hart_raise(h, c, va);
        return false;
    }
    unsigned first = (unsigned)(GMEM_PAGE_SIZE - (va & PAGE_MASK));
    if (first >= size) {
        *s = (struct span){.pa = {pa}, .len = {size}, .n = 1};
        return true;
    }
    gva_t va2 = va + first;
    gpa_t pa2;
    c = mmu_translate(h, va2, acc, &pa2);
    if (c) {
        hart_raise(h, c, va2); /* tval: the part that faulted */
        return false;
    }
    *s = (struct span){.pa = {pa, pa2}, .len = {first, size - first}, .n = 2};
    return true;
}

/* A misaligned access outside RAM is not emulated: misaligned exception
 * for device registers, access fault where nothing is mapped. */
static bool span_in_ram(struct hart *h, const struct span *s, gva_t va,
                        enum access acc)
{
    for (int i = 0; i < s->n; i++) {
        if (gmem_contains(&h->bus->ram, s->pa[i], s->len[i]))
            continue;
        bool mmio = bus_find_mmio(h->bus, s->pa[i]) != NULL;
        hart_raise(h, mmio ? (acc == ACCESS_LOAD ? EXC_LOAD_MISALIGNED
                                                 : EXC_STORE_MISALIGNED)
                           : access_fault(acc),
                   va);
        return false;
    }
    return true;
}

bool mem_load_slow(struct hart *h, gva_t va, unsigned size, uint64_t *val)
{
    hart_counter_add(&h->stats.tlb_misses, 1);
    if (!(va & (size - 1))) {
        gpa_t pa;
        int c = mmu_translate(h, va, ACCESS_LOAD, &pa);
        if (c) {
            hart_raise(h, c, va);
            return false;
        }
        uint64_t v;
        if (bus_read(h->bus, pa, size, &v)) {
            hart_raise(h, EXC_LOAD_ACCESS, va);
            return false;
        }
        *val = v;
        return true;
    }

    struct span s;
    if (!translate_span(h, va, size, ACCESS_LOAD, &s) ||
        !span_in_ram(h, &s, va, ACCESS_LOAD))
        return false;
    uint64_t v = 0;
    uint8_t *dst = (uint8_t *)&v; /* host is little-endian */
    for (int i = 0; i < s.n; i++) {
        memcpy(dst, gmem_ptr(&h->bus->ram, s.pa[i], s.len[i]), s.len[i]);
        dst += s.len[i];
    }
    *val = v;
    return true;
}

bool mem_store_slow(struct hart *h, gva_t va, unsigned size, uint64_t val)
{
    struct gmem *m = &h->bus->ram;
    hart_counter_add(&h->stats.tlb_misses, 1);
    if (!(va & (size - 1))) {
        gpa_t pa;
        int c = mmu_translate(h, va, ACCESS_STORE, &pa);
        if (c) {
            hart_raise(h, c, va);
            return false;
        }
        uint8_t *p = gmem_ptr(m, pa, size);
        if (p) {
            if (is_code_page(m, pa))
                block_invalidate_page(h, pa);
            gmem_mark_dirty(m, pa, size);
            memcpy(p, &val, size);
            return true;
        }
        if (bus_write(h->bus, pa, size, val)) {
            hart_raise(h, EXC_STORE_ACCESS, va);
            return false;
        }
        return true;
    }

    struct span s;
    if (!translate_span(h, va, size, ACCESS_STORE, &s) ||
        !span_in_ram(h, &s, va, ACCESS_STORE))
        return false;
    const uint8_t *src = (const uint8_t *)&val;
    for (int i = 0; i < s.n; i++) {
        if (is_code_page(m, s.pa[i]))
            block_invalidate_page(h, s.pa[i]);
        gmem_mark_dirty(m, s.pa[i], s.len[i]);
        memcpy(gmem_ptr(m, s.pa[i], s.len[i]), src, s.len[i]);
        src += s.len[i];
    }
    return true;
}

bool mem_fetch16_slow(struct hart *h, gva_t va, uint16_t *val)
{
    if (va & 1) {
        hart_raise(h, EXC_INSN_MISALIGNED, va);
        return false;
    }
    gpa_t pa;
    int c = mmu_translate(h, va, ACCESS_FETCH, &pa);
    if (c) {
        hart_raise(h, c, va);
        return false;
    }
    /* Code runs from RAM only; device registers are not executable. */
    const uint8_t *p = gmem_ptr(&h->bus->ram, pa, 2);
    if (!p) {
        hart_raise(h, EXC_INSN_ACCESS, va);
        return false;
    }
    memcpy(val, p, 2);
    return true;
}

void *mem_atomic_ptr(struct hart *h, gva_t va, unsigned size, bool is_lr,
                     gpa_t *pa_out)
{
    enum access acc = is_lr ? ACCESS_LOAD : ACCESS_STORE;
    struct gmem *m = &h->bus->ram;
    if (va & (size - 1)) {
        hart_raise(h, is_lr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, va);
        return NULL;
    }
    /* A TLB hit proves the permission (store entries: W and D set, never
     * a code page) and maps RAM: no walk per atomic. */
    const struct tlb_entry *e = tlb_lookup(h, acc, va);
    if (e) {
        uint8_t *hp = (uint8_t *)(uintptr_t)(va + e->addend);
        *pa_out = m->base + (gpa_t)(hp - m->host);
        return hp;
    }
    gpa_t pa;
    int c = mmu_translate(h, va, acc, &pa);
    if (c) {
        hart_raise(h, c, va);
        return NULL;
    }
    void *p = gmem_ptr(m, pa, size);
    if (!p) {
        hart_raise(h, access_fault(acc), va);
        return NULL;
    }
    if (!is_lr) {
        if (is_code_page(m, pa))
            block_invalidate_page(h, pa);
        gmem_mark_dirty(m, pa, size);
    }
    *pa_out = pa;
    return p;
}
