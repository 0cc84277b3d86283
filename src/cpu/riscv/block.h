/* The decoded-block cache of one hart (cpu-exec private).
 *
 * A block is a run of pre-decoded instructions from one guest-physical
 * page, ending at a control transfer, a system instruction, the page end
 * or BLOCK_MAX instructions; one extra "terminator" insn at the end sets
 * the fall-through pc. Blocks live in a bump arena and are found by
 * guest-physical start address (hash) or, on the hot path, through a small
 * direct-mapped cache indexed by virtual pc whose hits are validated
 * against the fetch TLB (so satp/privilege changes, which flush the TLB,
 * can never return a block for the wrong physical page).
 *
 * Flushing everything (fence.i) is O(1): a generation bump that makes every
 * hash bucket, jump-cache entry and block stale, and the arena restarts.
 * Per-page invalidation (self-modifying code) marks the page's blocks dead.
 * Each code page carries a nonzero tag in gmem.code_map; a hart's page
 * record remembers the tag it decoded under, so a page that another hart
 * invalidated (tag cleared or changed) is noticed at the next code_gen
 * sync or the next decode from that page. Hart thread only. */
#ifndef CORRAL_CPU_RISCV_BLOCK_H
#define CORRAL_CPU_RISCV_BLOCK_H

#include "cpu/riscv/decode.h"
#include "cpu/riscv/hart.h"

#define BLOCK_MAX 64         /* instructions per block */
/* Sized for a booting kernel: with 4K jump-cache entries and 32K buckets
 * the walks of long hash chains (a cache miss per block) were a tenth of
 * the boot's host time. */
#define BLOCK_JC_BITS 14     /* jump cache entries (virtual pc) */
#define BLOCK_HASH_BITS 18   /* physical-address hash buckets (blocks) */
#define BLOCK_PAGE_HASH_BITS 15 /* ... of page records */
#define BLOCK_ARENA_SIZE (32u << 20)
#define BLOCK_MAX_PAGES 32768

struct block_page;

enum jit_state { JIT_NONE = 0, JIT_DONE = 1, JIT_NEVER = 2 };

struct block {
    uint64_t pa;           /* guest-physical address of the first insn */
    uintptr_t host;        /* host address of the first insn */
    struct block *hnext;   /* hash chain */
    struct block *pnext;   /* blocks of the same page */
    uint32_t n;            /* instructions, terminator not counted */
    uint32_t dead;         /* page invalidated: never return it again */
    /* Direct successors (exec_impl.h chain_to): [0] taken branch or jal
     * target, [1] not-taken/fall-through. Only ever point to blocks of
     * the same cache generation (links start NULL in a fresh block and are
     * written only when source and target are both current), so a flush
     * needs no unlinking; a hit is still checked against `dead` and the
     * fetch TLB. nochain: a scratch block (uncached or truncated). */
    const struct block *link[2];
    uint32_t nochain;
    /* JIT tiering (jit.c): hart_run entries so far, and the translation
     * state; while translated, insns[0].fn is the host code and interp0
     * the interpreter's handler it replaced. */
    uint32_t hits;
    uint32_t jit_state;    /* enum jit_state */
    uint32_t pad;
    insn_fn interp0;
    struct insn insns[];   /* n + 1 */
};

struct block_jc {
    uint64_t vpc;
    uint64_t gen;
    const struct block *b;
};

struct block_bucket {
    uint64_t gen;
    void *head; /* struct block * or struct block_page * */
};

struct block_cache {
    uint64_t gen;
    /* code_gen at (or after) which the newest of our code pages got its
     * code_map tag: a hart whose code_gen_seen is older may still hold a
     * store TLB entry to it from before (block_fence_i). */
    uint64_t newest_claim;
    struct block_jc jc[1u << BLOCK_JC_BITS];
    struct block_bucket hash[1u << BLOCK_HASH_BITS];
    struct block_bucket page_hash[1u << BLOCK_PAGE_HASH_BITS];
    struct block_page **pages; /* every page record of this generation */
    uint32_t npages;
    uint8_t *arena;
    size_t arena_used;
    /* decode scratch, single uncached instructions (page-straddling or
     * non-RAM fetch) and budget-truncated copies of blocks */
    struct insn scratch[BLOCK_MAX + 1];
    struct block *one;
    struct block *trunc;
};

int block_cache_init(struct hart *h) WARN_UNUSED;
void block_cache_destroy(struct hart *h);

/* Slow lookup/decode of the block at virtual `pc`. Returns NULL after
 * raising an instruction fault (trap_pending set, pc = trap vector). */
const struct block *block_fetch_slow(struct hart *h, uint64_t pc);

/* Act on a changed gmem.code_gen (value `gen`): flush this hart's store
 * TLB and drop blocks of pages whose code_map tag changed. */
void block_sync_code(struct hart *h, uint64_t gen);

/* fence.i: every write to our code pages is tracked (and acted upon at the
 * next code_gen sync) unless another hart of the same RAM has not synced
 * since one of our pages became code and is running (it may still store
 * through an older TLB entry): only then drop every block. */
void block_fence_i(struct hart *h);

/* The hot-path lookup: jump cache hit validated against the fetch TLB. */
static inline const struct block *block_lookup(struct hart *h, uint64_t pc)
{
    struct block_cache *bc = h->bcache;
    const struct block_jc *e = &bc->jc[(pc >> 1) & ((1u << BLOCK_JC_BITS) - 1)];
    if (LIKELY(e->vpc == pc && e->gen == bc->gen)) {
        const struct block *b = e->b;
        const struct tlb_entry *t =
            &h->tlb[ACCESS_FETCH][(pc >> 12) & (TLB_SIZE - 1)];
        if (LIKELY(!b->dead && t->vpn_tag == tlb_tag(h, pc) &&
                   pc + t->addend == b->host)) {
            hart_counter_add(&h->stats.block_hits, 1);
            return b;
        }
    }
    return block_fetch_slow(h, pc);
}

#endif
