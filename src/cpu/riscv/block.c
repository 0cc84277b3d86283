/* The decoded-block cache (see block.h for its shape): building blocks
 * from guest-physical pages, finding them again, and dropping them on
 * fence.i and on writes to code pages. */
#include "cpu/riscv/block.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "cpu/riscv/exec_impl.h"

struct block_page {
    uint64_t ppn;
    struct block_page *hnext;
    struct block *blocks;
    uint32_t tag; /* code_map value when these blocks were decoded */
};

#define JC_MASK ((1u << BLOCK_JC_BITS) - 1)
#define HASH_MASK ((1u << BLOCK_HASH_BITS) - 1)

static inline unsigned hash64(uint64_t v)
{
    return (unsigned)((v * 0x9e3779b97f4a7c15ULL) >> 40) & HASH_MASK;
}

static inline unsigned page_hash64(uint64_t v)
{
    return (unsigned)((v * 0x9e3779b97f4a7c15ULL) >> 40) &
           ((1u << BLOCK_PAGE_HASH_BITS) - 1);
}

static size_t block_bytes(unsigned n)
{
    return sizeof(struct block) + (n + 1) * sizeof(struct insn);
}

/* Every hart with a block cache, for block_fence_i's look at the others
 * (read-only: their code_gen_seen, wfi and halted). Overflow: fence.i
 * always flushes. */
#define REG_MAX 64
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hart *reg[REG_MAX];
static unsigned nreg;
static bool reg_overflow;

static void reg_add(struct hart *h)
{
    pthread_mutex_lock(&reg_lock);
    if (nreg < REG_MAX)
        reg[nreg++] = h;
    else
        reg_overflow = true;
    pthread_mutex_unlock(&reg_lock);
}

static void reg_del(struct hart *h)
{
    pthread_mutex_lock(&reg_lock);
    for (unsigned k = 0; k < nreg; k++)
        if (reg[k] == h) {
            reg[k] = reg[--nreg];
            break;
        }
    pthread_mutex_unlock(&reg_lock);
}

void block_fence_i(struct hart *h)
{
    struct block_cache *bc = h->bcache;
    bool unsafe;

    pthread_mutex_lock(&reg_lock);
    unsafe = reg_overflow;
    for (unsigned k = 0; k < nreg && !unsafe; k++) {
        const struct hart *o = reg[k];
        if (o == h || o->bus != h->bus)
            continue;
        /* a sleeping or stopped hart syncs before its next store */
        if (__atomic_load_n(&o->wfi, __ATOMIC_ACQUIRE) ||
            __atomic_load_n(&o->halted, __ATOMIC_ACQUIRE))
            continue;
        if (__atomic_load_n(&o->code_gen_seen, __ATOMIC_ACQUIRE) <
            bc->newest_claim)
            unsafe = true;
    }
    pthread_mutex_unlock(&reg_lock);
    if (unsafe)
        block_cache_flush(h);
}

int block_cache_init(struct hart *h)
{
    struct block_cache *bc = calloc(1, sizeof(*bc));
    if (!bc)
        return -ENOMEM;
    bc->gen = 1;
    bc->pages = calloc(BLOCK_MAX_PAGES, sizeof(*bc->pages));
    bc->one = calloc(1, block_bytes(1));
    bc->trunc = calloc(1, block_bytes(BLOCK_MAX));
    void *a = mmap(NULL, BLOCK_ARENA_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!bc->pages || !bc->one || !bc->trunc || a == MAP_FAILED) {
        if (a != MAP_FAILED)
            munmap(a, BLOCK_ARENA_SIZE);
        free(bc->pages);
        free(bc->one);
        free(bc->trunc);
        free(bc);
        return -ENOMEM;
    }
    bc->arena = a;
    h->bcache = bc;
    reg_add(h);
    return 0;
}

void block_cache_destroy(struct hart *h)
{
    struct block_cache *bc = h->bcache;
    if (!bc)
        return;
    reg_del(h);
    munmap(bc->arena, BLOCK_ARENA_SIZE);
    free(bc->pages);
    free(bc->one);
    free(bc->trunc);
    free(bc);
    h->bcache = NULL;
}

/* O(1): everything of the old generation becomes unreachable; the arena
 * is reused only after the running block (if any) has ended, since new
 * blocks are built only between blocks. */
void block_cache_flush(struct hart *h)
{
    struct block_cache *bc = h->bcache;
    if (!bc)
        return;
    bc->gen++;
    bc->arena_used = 0;
    bc->npages = 0;
    h->xb_abort = 1;
}

static void *arena_alloc(struct hart *h, size_t n)
{
    struct block_cache *bc = h->bcache;
    n = (n + 15) & ~(size_t)15;
    if (bc->arena_used + n > BLOCK_ARENA_SIZE)
        block_cache_flush(h);
    void *p = bc->arena + bc->arena_used;
    bc->arena_used += n;
    return p;
}

static struct block_page *page_find(struct block_cache *bc, uint64_t ppn)
{
    struct block_bucket *bk = &bc->page_hash[page_hash64(ppn)];
    if (bk->gen != bc->gen)
        return NULL;
    for (struct block_page *p = bk->head; p; p = p->hnext)
        if (p->ppn == ppn)
            return p;
    return NULL;
}

static void page_kill(struct block_page *p)
{
    for (struct block *b = p->blocks; b; b = b->pnext)
        b->dead = 1;
    p->blocks = NULL;
}

void block_invalidate_page(struct hart *h, gpa_t pa)
{
    struct block_cache *bc = h->bcache;
    struct gmem *m = &h->bus->ram;
    uint64_t ppn = pa >> GMEM_PAGE_SHIFT;

    if (bc) {
        struct block_page *p = page_find(bc, ppn);
        if (p)
            page_kill(p);
    }
    h->xb_abort = 1;
    if (!gmem_contains(m, pa, 1))
        return;
    atomic_store(&m->code_map[(pa - m->base) >> GMEM_PAGE_SHIFT], 0);
    uint64_t old = atomic_fetch_add(&m->code_gen, 1);
    if (old == h->code_gen_seen)
        __atomic_store_n(&h->code_gen_seen, old + 1, __ATOMIC_RELEASE);
}

void block_sync_code(struct hart *h, uint64_t gen)
{
    struct block_cache *bc = h->bcache;
    struct gmem *m = &h->bus->ram;
    uint64_t base_ppn = m->base >> GMEM_PAGE_SHIFT;

    /* A store entry filled before its page became code (another hart
     * decoded from it since) may have written that page after the decode,
     * unseen: treat such pages as written. This is what lets fence.i rely
     * on the code_map instead of flushing every block (see op_fence_i). */
    for (unsigned k = 0; k < TLB_SIZE; k++) {
        const struct tlb_entry *e = &h->tlb[ACCESS_STORE][k];
        if (!e->vpn_tag)
            continue;
        uintptr_t host = (uintptr_t)(TLB_TAG_PAGE(e->vpn_tag) + e->addend);
        gpa_t pa = m->base + (host - (uintptr_t)m->host);
        if (atomic_load_explicit(&m->code_map[(pa - m->base) >>
                                              GMEM_PAGE_SHIFT],
                                 memory_order_relaxed)) {
            block_invalidate_page(h, pa);
        }
    }
    memset(h->tlb[ACCESS_STORE], 0, sizeof(h->tlb[ACCESS_STORE]));
    /* published only now that no older store entry is left */
    if (h->code_gen_seen < gen)
        __atomic_store_n(&h->code_gen_seen, gen, __ATOMIC_RELEASE);
    for (uint32_t k = 0; k < bc->npages; k++) {
        struct block_page *p = bc->pages[k];
        if (p->blocks &&
            atomic_load_explicit(&m->code_map[p->ppn - base_ppn],
                                 memory_order_relaxed) != p->tag)
            page_kill(p);
    }
}

/* Make `ppn` (in RAM) a code page for this hart: tag it in code_map if it
 * is not, drop our blocks decoded under an older tag, and return the page
 * record new blocks go on. NULL when the page table is full (caller
 * flushes and retries). */
static struct block_page *page_claim(struct hart *h, uint64_t ppn)
{
    struct block_cache *bc = h->bcache;
    struct gmem *m = &h->bus->ram;
    _Atomic uint32_t *cm = &m->code_map[ppn - (m->base >> GMEM_PAGE_SHIFT)];
    uint32_t tag = atomic_load(cm);

    if (!tag) {
        uint64_t old = atomic_fetch_add(&m->code_gen, 1);
        tag = (uint32_t)(old % 0xffffffffu + 1); /* never 0 */
        atomic_store(cm, tag);
        if (old == h->code_gen_seen)
            __atomic_store_n(&h->code_gen_seen, old + 1, __ATOMIC_RELEASE);
        /* stores to this page must take the slow path from now on */
        memset(h->tlb[ACCESS_STORE], 0, sizeof(h->tlb[ACCESS_STORE]));
        if (bc->newest_claim < old + 1)
            bc->newest_claim = old + 1;
    } else {
        /* tagged by a hart at about code_gen == tag (exact below 2^32) */
        uint64_t now = atomic_load_explicit(&m->code_gen, memory_order_relaxed);
        uint64_t at = now < 0xffffffffu ? tag : now;
        if (bc->newest_claim < at)
            bc->newest_claim = at;
    }
    struct block_page *p = page_find(bc, ppn);
    if (p) {
        if (p->tag != tag) {
            page_kill(p);
            p->tag = tag;
        }
        return p;
    }
    if (bc->npages >= BLOCK_MAX_PAGES)
        return NULL;
    p = arena_alloc(h, sizeof(*p));
    struct block_bucket *bk = &bc->page_hash[page_hash64(ppn)];
    if (bk->gen != bc->gen) {
        bk->gen = bc->gen;
        bk->head = NULL;
    }
    p->ppn = ppn;
    p->blocks = NULL;
    p->tag = tag;
    p->hnext = bk->head;
    bk->head = p;
    bc->pages[bc->npages++] = p;
    return p;
}

/* Dead blocks (their page was written) are unlinked as the walk meets
 * them: a loop that stores into its own code page re-decodes on every
 * pass, and without pruning its bucket would grow without bound. Their
 * memory stays in the arena until the next flush, so jump-cache entries
 * that still point at them remain safe to read. */
static struct block *hash_find(struct block_cache *bc, uint64_t pa)
{
    struct block_bucket *bk = &bc->hash[hash64(pa)];
    if (bk->gen != bc->gen)
        return NULL;
    struct block *prev = NULL;
    for (struct block *b = bk->head; b; b = b->hnext) {
        if (b->dead) {
            if (prev)
                prev->hnext = b->hnext;
            else
                bk->head = b->hnext;
            continue;
        }
        if (b->pa == pa)
            return b;
        prev = b;
    }
    return NULL;
}

/* Loads and stores through the TLB fast path (TLB-hit accounting). */
static bool is_tlb_access(unsigned op)
{
    return (op >= OP_LB && op <= OP_SD) || op == OP_FLW || op == OP_FSW ||
           op == OP_FLD || op == OP_FSD;
}

static void finish_insn(struct insn *in, unsigned idx, unsigned off)
{
    if (in->rd == 0 && rv_op_is_pure(in->op))
        in->op = OP_NOP;
    in->fn = exec_insn_fn(in);
    in->idx = (uint8_t)idx;
    in->off = (uint16_t)off;
}

static void set_terminator(struct insn *t, unsigned idx, unsigned off,
                           unsigned nmem)
{
    memset(t, 0, sizeof(*t));
    t->fn = exec_block_end;
    t->op = OP_NOP;
    t->idx = (uint8_t)idx;
    t->off = (uint16_t)off;
    t->nmem = (uint8_t)nmem;
}

/* One instruction fetched through the slow path every time: used when it
 * straddles a page boundary (each half faults with its own address) or
 * is not in RAM. Never cached, so it needs no invalidation. */
static const struct block *fetch_uncached(struct hart *h, uint64_t pc)
{
    struct block_cache *bc = h->bcache;
    struct block *b = bc->one;
    uint16_t lo, hi = 0;

    h->pc = pc;
    if (!mem_fetch16_slow(h, pc, &lo))
        return NULL;
    if (rv_insn_len(lo) == 4 && !mem_fetch16_slow(h, pc + 2, &hi))
        return NULL;
    rv_decode((uint32_t)hi << 16 | lo, &b->insns[0]);
    finish_insn(&b->insns[0], 0, 0);
    set_terminator(&b->insns[1], 1, b->insns[0].len,
                   is_tlb_access(b->insns[0].op));
    b->n = 1;
    b->dead = 0;
    b->nochain = 1;
    b->hits = 0;
    b->jit_state = JIT_NEVER;
    b->link[0] = b->link[1] = NULL;
    b->pa = b->host = 0;
    return b;
}

const struct block *block_fetch_slow(struct hart *h, uint64_t pc)
{
    struct block_cache *bc = h->bcache;
    struct gmem *m = &h->bus->ram;
    const struct tlb_entry *t = tlb_lookup(h, ACCESS_FETCH, pc);

    if (!t) {
        uint16_t dummy;
        h->pc = pc;
        if (!mem_fetch16_slow(h, pc, &dummy))
            return NULL;
        t = tlb_lookup(h, ACCESS_FETCH, pc);
        if (!t)
            return fetch_uncached(h, pc);
    }
    hart_counter_add(&h->stats.block_misses, 1);
    uintptr_t host = (uintptr_t)(pc + t->addend);
    if (host < (uintptr_t)m->host || host >= (uintptr_t)m->host + m->size)
        return fetch_uncached(h, pc);
    gpa_t pa = m->base + (host - (uintptr_t)m->host);
    uint64_t ppn = pa >> GMEM_PAGE_SHIFT;

    struct block_page *pg = page_claim(h, ppn);
    if (!pg) {
        block_cache_flush(h);
        pg = page_claim(h, ppn);
    }
    struct block *b = hash_find(bc, pa);
    if (!b) {
        /* decode up to the page end, BLOCK_MAX insns or a block ender */
        const uint8_t *p = (const uint8_t *)host;
        unsigned room = (unsigned)(GMEM_PAGE_SIZE - (pa & (GMEM_PAGE_SIZE - 1)));
        unsigned n = 0, off = 0, nmem = 0;
        while (n < BLOCK_MAX && off + 2 <= room) {
            uint16_t lo;
            struct insn *in = &bc->scratch[n];
            memcpy(&lo, p + off, 2);
            if (rv_insn_len(lo) == 4) {
                uint32_t raw;
                if (off + 4 > room)
                    break; /* straddles the page: runs uncached */
                memcpy(&raw, p + off, 4);
                rv_decode32(raw, in);
            } else {
                rv_decode16(lo, in);
            }
            finish_insn(in, n, off);
            in->nmem = (uint8_t)nmem;
            nmem += is_tlb_access(in->op);
            n++;
            off += in->len;
            if (rv_op_ends_block(in->op))
                break;
        }
        if (n == 0)
            return fetch_uncached(h, pc);
        /* adjacent pairs that one handler runs (exec_fuse) */
        for (unsigned k = 0; k + 1 < n; k++) {
            const struct insn *a = &bc->scratch[k], *b = a + 1;
            insn_fn f = exec_fuse(a->op, b->op);
            if (f && a->fn == exec_table[a->op] &&
                b->fn == exec_table[b->op]) { /* not exec_load_x0 */
                bc->scratch[k].fn = f;
                k++;
            }
        }
        set_terminator(&bc->scratch[n], n, off, nmem);

        uint64_t gen = bc->gen;
        b = arena_alloc(h, block_bytes(n));
        if (bc->gen != gen) {
            /* the arena filled up and everything was flushed */
            pg = page_claim(h, ppn);
            b = arena_alloc(h, block_bytes(n));
        }
        b->pa = pa;
        b->host = host;
        b->n = n;
        b->dead = 0;
        b->nochain = 0;
        b->hits = 0;
        b->jit_state = JIT_NONE;
        b->link[0] = b->link[1] = NULL;
        memcpy(b->insns, bc->scratch, (n + 1) * sizeof(struct insn));
        struct block_bucket *bk = &bc->hash[hash64(pa)];
        if (bk->gen != bc->gen) {
            bk->gen = bc->gen;
            bk->head = NULL;
        }
        b->hnext = bk->head;
        bk->head = b;
        b->pnext = pg->blocks;
        pg->blocks = b;
    }
    struct block_jc *e = &bc->jc[(pc >> 1) & JC_MASK];
    e->vpc = pc;
    e->gen = bc->gen;
    e->b = b;
    return b;
}
