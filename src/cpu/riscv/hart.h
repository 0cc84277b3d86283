/* One RISC-V RV64GC hart: architectural state, the software TLB and the
 * interface the machine uses to run it.
 *
 * Ownership by file (one job each):
 *   decode.c / rvc.c  raw encoding -> struct insn (pre-decoded operands)
 *   exec.c            the interpreter: runs cached blocks of struct insn
 *   block.c           decoded-block cache, invalidation on code writes/fence.i
 *   csr.c             CSR table: read/write/predicate per CSR
 *   trap.c            exceptions, interrupts, mret/sret, wfi sleep, irq lines
 *   mmu.c             Sv39/48/57 walks, TLB fill/flush, the memory slow paths
 *   fpu.c             F and D arithmetic, exact IEEE 754 with flags
 *
 * Threads: everything here runs on the hart's own thread, except the
 * functions marked "any thread" (irq lines, timer compare, kick).
 *
 * Saved state (snapshot/migration) is the block marked "architectural
 * state" below: plain fixed-width fields, no host pointers. */
#ifndef CORRAL_CPU_RISCV_HART_H
#define CORRAL_CPU_RISCV_HART_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/types.h"
#include "core/vclock.h"
#include "mem/bus.h"

enum priv { PRIV_U = 0, PRIV_S = 1, PRIV_M = 3 };

/* mstatus bits */
#define MSTATUS_SIE (1ULL << 1)
#define MSTATUS_MIE (1ULL << 3)
#define MSTATUS_SPIE (1ULL << 5)
#define MSTATUS_UBE (1ULL << 6)
#define MSTATUS_MPIE (1ULL << 7)
#define MSTATUS_SPP (1ULL << 8)
#define MSTATUS_VS (3ULL << 9)
#define MSTATUS_MPP (3ULL << 11)
#define MSTATUS_FS (3ULL << 13)
#define MSTATUS_XS (3ULL << 15)
#define MSTATUS_MPRV (1ULL << 17)
#define MSTATUS_SUM (1ULL << 18)
#define MSTATUS_MXR (1ULL << 19)
#define MSTATUS_TVM (1ULL << 20)
#define MSTATUS_TW (1ULL << 21)
#define MSTATUS_TSR (1ULL << 22)
#define MSTATUS_UXL (3ULL << 32)
#define MSTATUS_SXL (3ULL << 34)
#define MSTATUS_SD (1ULL << 63)

/* interrupt numbers (mip/mie bit positions, mcause without the MSB) */
#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11
#define MIP_SSIP (1ULL << IRQ_S_SOFT)
#define MIP_MSIP (1ULL << IRQ_M_SOFT)
#define MIP_STIP (1ULL << IRQ_S_TIMER)
#define MIP_MTIP (1ULL << IRQ_M_TIMER)
#define MIP_SEIP (1ULL << IRQ_S_EXT)
#define MIP_MEIP (1ULL << IRQ_M_EXT)

/* exception causes */
enum exc {
    EXC_INSN_MISALIGNED = 0,
    EXC_INSN_ACCESS = 1,
    EXC_ILLEGAL_INSN = 2,
    EXC_BREAKPOINT = 3,
    EXC_LOAD_MISALIGNED = 4,
    EXC_LOAD_ACCESS = 5,
    EXC_STORE_MISALIGNED = 6,
    EXC_STORE_ACCESS = 7,
    EXC_ECALL_U = 8,
    EXC_ECALL_S = 9,
    EXC_ECALL_M = 11,
    EXC_INSN_PAGE_FAULT = 12,
    EXC_LOAD_PAGE_FAULT = 13,
    EXC_STORE_PAGE_FAULT = 15,
};
#define CAUSE_INTERRUPT (1ULL << 63)

enum access { ACCESS_FETCH = 0, ACCESS_LOAD = 1, ACCESS_STORE = 2 };

/* Software TLB: direct-mapped, one array per access kind. An entry maps a
 * guest-virtual page to host memory: host = (uint8_t *)(va + addend).
 * vpn_tag is tlb_tag(h, va) for a hit; MMIO pages are never entered
 * (they always take the slow path). Flushed on satp writes, sfence.vma
 * and MPRV changes; clearing SUM/MXR drops the entries they allowed
 * (tlb_perm_log). A tag is the page's address with the privilege level
 * its entry was filled at in the low bits (tlb_tag), so U, S and M
 * entries live side by side and a
 * trap or xRET flushes nothing: flushing there refilled the kernel's and
 * the process's pages after every syscall and interrupt, 12-15 % of a
 * hart's time under a 1-job O_DIRECT disk benchmark. */
/* 1024 entries: a Linux boot missed 2.7 M times with 256 (half of them
 * fetches: kernel text and the linear map conflict), 1.6 M with 1024,
 * 1.4 M with 4096, whose full flush (a memset when tlb_log overflowed,
 * ~3 K times a boot) costs four times as much again. */
#define TLB_BITS 10
#define TLB_SIZE (1u << TLB_BITS)
struct tlb_entry {
    uint64_t vpn_tag; /* 0 = invalid; else tlb_tag(h, va) */
    uintptr_t addend; /* host address - guest virtual address */
};

struct block_cache; /* block.c */
struct jit_cache;   /* jit.c */
/* Counters (instret and these) have one writer, their hart thread, and
 * are read by GET /metrics on the API thread: every write goes through
 * hart_counter_add/set (a relaxed atomic load and store, not a
 * read-modify-write: there is one writer), which compiles to the same
 * plain moves as `+=` on x86-64 and arm64 but is no data race. The JIT's
 * generated code adds to instret with one aligned 64-bit `add` (one
 * writer: a reader sees the old value or the new one). */
struct hart_stats {
    uint64_t tlb_hits, tlb_misses;
    uint64_t block_hits, block_misses;
};

static inline void hart_counter_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

/* `n` may be a negated count (the counters wrap as unsigned). */
static inline void hart_counter_add(uint64_t *c, uint64_t n)
{
    hart_counter_set(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n);
}

struct hart;
/* Set instret (a minstret write, a reset) keeping hart_run's count of
 * the insns retired since it entered the block (xb_instret0). */
static inline void hart_instret_set(struct hart *h, uint64_t v);

struct hart {
    /* ---- architectural state (saved) ---- */
    uint64_t x[32];        /* x[0] is kept 0 */
    uint64_t f[32];        /* NaN-boxed singles */
    uint64_t pc;
    uint64_t priv;         /* enum priv */
    uint64_t hartid;
    uint64_t mstatus;      /* sstatus is a masked view */
    uint64_t fflags, frm;  /* fcsr = frm << 5 | fflags */
    uint64_t misa;
    uint64_t medeleg, mideleg;
    uint64_t mie;
    uint64_t mip_sw;       /* software-writable mip bits (SSIP, STIP w/o Sstc, SEIP) */
    uint64_t mtvec, mscratch, mepc, mcause, mtval;
    uint64_t mcounteren, scounteren, menvcfg, senvcfg, mcountinhibit;
    uint64_t stvec, sscratch, sepc, scause, stval, satp;
    uint64_t stimecmp;     /* Sstc */
    uint64_t pmpcfg[16];   /* only even indices used on RV64 */
    uint64_t pmpaddr[64];
    uint64_t instret;      /* retired instructions (also minstret/cycle) */
    uint64_t resv_addr;    /* LR reservation: physical address */
    uint64_t resv_value;   /* value loaded by LR (SC uses compare-and-swap) */
    uint64_t resv_valid;
    uint64_t wfi;          /* 1 while stopped in wfi */
    uint64_t halted;       /* 1 = stopped (not yet started by HSM / powered off) */

    /* ---- written by other threads (saved through accessors) ---- */
    _Atomic uint64_t mip_hw;   /* MSIP (CLINT), MEIP/SEIP (PLIC) */
    _Atomic uint64_t mtimecmp; /* CLINT; MTIP = time >= mtimecmp */

    /* ---- host-side caches and plumbing (not saved) ---- */
    struct bus *bus;
    struct vclock *clock;
    struct block_cache *bcache;
    struct tlb_entry tlb[3][TLB_SIZE]; /* [enum access] */
    /* (priv + 1) << TLB_PRIV_SHIFT, kept by hart_set_priv: or'ed into a
     * page's va it gives the current mode's tag (the JIT does it too). */
    uint64_t tlb_key;
    uint64_t code_gen_seen;            /* last gmem.code_gen acted upon */
    _Atomic uint32_t exit_request;     /* non-zero: leave hart_run soon */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond;
    struct hart_stats stats;

    /* Set by trap.c when an exception is raised during an instruction;
     * the interpreter ends the block and continues at the trap vector. */
    uint64_t trap_pending;
    /* Interrupt delivery: set (any thread) when mip_hw changes, and by
     * csr.c/trap.c when mie/mstatus/mip/delegation/priv change. The
     * interpreter calls hart_check_interrupts() at the next block boundary
     * when it is set, and unconditionally whenever timer_countdown (blocks)
     * runs out, so timer compares are evaluated without reading the host
     * clock on every block. */
    _Atomic uint32_t irq_recheck;
    int32_t timer_countdown;

    /* -- cpu-exec private (decode.c, exec.c, block.c) -- */
    uint64_t xb_pc;    /* virtual pc of the running block's first insn */
    uint32_t xb_done;  /* insns retired by the block that just ended */
    uint32_t xb_abort; /* the running block's code was invalidated */
    /* loads/stores of the running block that took the slow path and
     * completed: not TLB hits (exec_mem.c counts, exec.c consumes) */
    uint32_t xb_slow_mem;
    /* exception flags of the running FP insn (exec_fp.c): in the hart,
     * not on the stack, so the handler's jump to the next stays a jump */
    uint32_t xb_fflags;
    /* Block chaining (exec_impl.h chain_to): blocks the running chain may
     * still enter, instret when hart_run entered it (so the insns its
     * finished blocks retired are instret - xb_instret0: a chain step
     * counts them once, in instret), their loads and stores, the block
     * now running, and a link to fill in at the next boundary (source
     * block, slot, target pc, cache generation). */
    int32_t xb_chain;
    uint32_t xb_link_slot;
    uint64_t xb_instret0;
    uint64_t xb_mem;
    const void *xb_block;
    void *xb_link_from;
    uint64_t xb_link_pc;
    uint64_t xb_link_gen;
    /* Consecutive timer_countdown periods that ended in M-mode: firmware
     * that stays in M this long is spin-waiting for another hart (exec.c
     * then yields the host CPU to it). */
    uint32_t m_periods;
    /* Set by the machine when other harts compete for host CPUs: only then
     * do spin-waits (pause, long M-mode stays) yield the host CPU. */
    uint32_t spin_yield;
    /* JIT engine (jit.c): code arena (NULL = interpreter only) and the
     * number of hart_run entries of a block before it is translated. */
    struct jit_cache *jit;
    uint32_t jit_threshold;
    /* Translated code's memory groups (jit.c, JIT_GROUPS): the TLB addend
     * a group's first access found for the page every access of the group
     * lies in, 0 when it took the slow path (the others then take theirs).
     * Written and read within one run of a superblock only. */
    uintptr_t jit_addend[4];

    /* -- cpu-priv private (csr.c, trap.c, mmu.c) -- */
    /* TLB entries filled since the last full flush, as (acc << TLB_BITS |
     * index), so a flush after a few fills (syscalls, traps) clears only
     * those instead of the whole array. tlb_log_n > TLB_LOG_MAX means
     * "too many: clear everything". Only mmu.c fills entries. 256: with
     * 1024 entries a memset of the whole TLB (48 KiB) is dear, and a boot
     * overflowed a log of 64 at 3,072 of its 16 K flushes, one of 256 at
     * 328. */
#define TLB_LOG_MAX 256
    uint16_t tlb_log[TLB_LOG_MAX];
    uint32_t tlb_log_n;
    /* Superpages (as va base, size - 1) that entries filled since the
     * last full flush came from: a per-page sfence.vma inside one must
     * drop every cached 4 KiB slice of it; one outside all of them drops
     * its own page only. tlb_has_super > TLB_SUPER_MAX means "too many
     * recorded: flush everything". */
#define TLB_SUPER_MAX 8
    uint32_t tlb_has_super;
    uint64_t tlb_super_base[TLB_SUPER_MAX];
    uint64_t tlb_super_mask[TLB_SUPER_MAX];
    /* Entries filled since the last full flush that only SUM or MXR
     * allowed (an S-mode load/store of a U page, a load of an
     * execute-only page), as in tlb_log: clearing SUM or MXR drops these
     * alone, setting either drops nothing (it only widens access). Linux
     * sets and clears SUM around every user copy; a full flush each time
     * was half of a boot's TLB flushes. tlb_perm_n > TLB_PERM_MAX means
     * "too many recorded: clearing flushes everything". */
#define TLB_PERM_MAX 32
    uint32_t tlb_perm_n;
    uint16_t tlb_perm_log[TLB_PERM_MAX];
};

/* ---- lifecycle (exec.c) ---- */
int hart_init(struct hart *h, uint64_t hartid, struct bus *bus,
              struct vclock *clock) WARN_UNUSED;
void hart_destroy(struct hart *h);
/* Architectural reset: M-mode, pc = reset_pc, mstatus/misa defaults. */
void hart_reset(struct hart *h, uint64_t reset_pc);
/* Run until exit_request is set (then cleared) or `max_insns` retire
 * (0 = no limit). Sleeps inside when the hart executes wfi with nothing
 * pending. Returns the number of instructions retired. Hart thread. */
uint64_t hart_run(struct hart *h, uint64_t max_insns);

/* ---- cross-thread control (trap.c), any thread ---- */
/* Set or clear hardware interrupt lines (MIP_MSIP, MIP_MEIP, MIP_SEIP). */
void hart_set_irq(struct hart *h, uint64_t mask, bool level);
void hart_set_mtimecmp(struct hart *h, uint64_t value);
/* Wake the hart from wfi and make hart_run return at the next block
 * boundary. */
void hart_kick(struct hart *h);

/* ---- traps (trap.c), hart thread ---- */
/* Raise a synchronous exception: updates xepc/xcause/xtval/mstatus/priv
 * and sets pc to the handler. `h->pc` must hold the faulting instruction's
 * pc when called. */
void hart_raise(struct hart *h, uint64_t cause, uint64_t tval);
/* Take the highest-priority enabled pending interrupt, if any. Returns
 * true when one was taken. Called at block boundaries. */
bool hart_check_interrupts(struct hart *h);
/* Pending-and-enabled interrupt bits (for wfi wake-up), regardless of
 * global enables. Includes timer compares evaluated against `now`. */
uint64_t hart_pending_irqs(struct hart *h);

static inline void hart_instret_set(struct hart *h, uint64_t v)
{
    h->xb_instret0 += v - h->instret;
    hart_counter_set(&h->instret, v);
}
void hart_mret(struct hart *h);
void hart_sret(struct hart *h);
/* wfi: sleep until an interrupt is pending (or exit_request). */
void hart_wfi(struct hart *h);

/* ---- CSRs (csr.c), hart thread ---- */
/* Return 0 or -1 (illegal instruction: nonexistent CSR, privilege too low,
 * write to a read-only CSR). `write` is checked separately from read so
 * csrrs/csrrc with rs1 = x0 do not count as writes. */
int hart_csr_read(struct hart *h, unsigned csr, uint64_t *val) WARN_UNUSED;
int hart_csr_write(struct hart *h, unsigned csr, uint64_t val) WARN_UNUSED;
/* mstatus with SD computed from FS/XS/VS. */
uint64_t hart_mstatus_read(const struct hart *h);

/* ---- memory (mmu.c), hart thread ---- */
/* Translate `va` for `acc` at the effective privilege (MPRV honoured for
 * loads/stores). 0 on success; else the exception cause to raise
 * (EXC_*_PAGE_FAULT or EXC_*_ACCESS). */
int mmu_translate(struct hart *h, gva_t va, enum access acc, gpa_t *pa);
void tlb_flush_all(struct hart *h);
void tlb_flush_page(struct hart *h, gva_t va);
/* SUM or MXR was cleared: drop the entries only they allowed. */
void tlb_flush_widened(struct hart *h);
/* Slow paths behind the inline fast paths below: translate, fill the TLB
 * when the target is RAM, do the access (MMIO through the bus). On a fault
 * they call hart_raise() (pc must be the instruction's) and return false.
 * Misaligned accesses are emulated when they stay within RAM. */
bool mem_load_slow(struct hart *h, gva_t va, unsigned size, uint64_t *val);
bool mem_store_slow(struct hart *h, gva_t va, unsigned size, uint64_t val);
/* Fetch 16 bits of instruction at va (pc may be 2-aligned); raises
 * instruction faults with tval = va of the failing half. */
bool mem_fetch16_slow(struct hart *h, gva_t va, uint16_t *val);
/* Host pointer for an atomic access of `size` bytes at `va` (LR, SC, AMO).
 * Misaligned -> address-misaligned exception (load kind for LR, store/AMO
 * kind otherwise); LR checks read permission, SC/AMO write permission
 * (store/AMO page or access fault); a non-RAM target -> access fault.
 * Returns NULL after raising. `pa_out` receives the physical address. */
void *mem_atomic_ptr(struct hart *h, gva_t va, unsigned size, bool is_lr,
                     gpa_t *pa_out);

/* A tag is the page's va (low 12 bits clear) or'ed with the key: the
 * privilege level + 1 in bits 4-6, never 0, so a tag is never 0 (an
 * invalid entry), and bits 0-3 stay clear. That lets translated code test
 * the page, the level and the alignment of an access of size s in one
 * compare: (va & (~0xfff | (s - 1))) | key matches a tag only when
 * va is s-aligned (jit.c emit_mem). tag & ~0xfff is the page again. */
#define TLB_PRIV_SHIFT 4
#define TLB_TAG_PAGE(tag) ((tag) & ~(uint64_t)0xfff)

/* Every change of h->priv goes through here (the TLB's tags follow it). */
static inline void hart_set_priv(struct hart *h, uint64_t priv)
{
    h->priv = priv;
    h->tlb_key = (priv + 1) << TLB_PRIV_SHIFT;
}

static inline uint64_t tlb_tag(const struct hart *h, gva_t va)
{
    return (va & ~(uint64_t)0xfff) | h->tlb_key;
}

static inline struct tlb_entry *tlb_lookup(struct hart *h, enum access acc,
                                           gva_t va)
{
    struct tlb_entry *e = &h->tlb[acc][(va >> 12) & (TLB_SIZE - 1)];
    return e->vpn_tag == tlb_tag(h, va) ? e : NULL;
}

/* Fast paths: a TLB hit on an aligned access touches host memory directly. */
#define MEM_ACCESSORS(bits)                                                    \
    static inline bool mem_load##bits(struct hart *h, gva_t va, uint64_t *v)  \
    {                                                                          \
        struct tlb_entry *e = tlb_lookup(h, ACCESS_LOAD, va);                  \
        if (LIKELY(e && !(va & (bits / 8 - 1)))) {                             \
            uint##bits##_t t;                                                  \
            memcpy(&t, (void *)(uintptr_t)(va + e->addend), sizeof(t));        \
            *v = t;                                                            \
            return true;                                                       \
        }                                                                      \
        return mem_load_slow(h, va, bits / 8, v);                              \
    }                                                                          \
    static inline bool mem_store##bits(struct hart *h, gva_t va, uint64_t v)  \
    {                                                                          \
        struct tlb_entry *e = tlb_lookup(h, ACCESS_STORE, va);                 \
        if (LIKELY(e && !(va & (bits / 8 - 1)))) {                             \
            uint##bits##_t t = (uint##bits##_t)v;                              \
            memcpy((void *)(uintptr_t)(va + e->addend), &t, sizeof(t));        \
            return true;                                                       \
        }                                                                      \
        return mem_store_slow(h, va, bits / 8, v);                             \
    }
MEM_ACCESSORS(8)
MEM_ACCESSORS(16)
MEM_ACCESSORS(32)
MEM_ACCESSORS(64)
#undef MEM_ACCESSORS

/* ---- block cache (block.c), hart thread ----
 * Self-modifying code: when block.c decodes from a physical page it sets
 * gmem.code_map[page] and bumps gmem.code_gen. mmu.c never enters a store
 * TLB entry for a page whose code_map byte is set, and every hart, at a
 * block boundary, flushes its ACCESS_STORE TLB when gmem.code_gen differs
 * from code_gen_seen. So all stores to code pages reach mem_store_slow,
 * which calls block_invalidate_page() before writing. */
/* Drop every cached block of this hart (fence.i, satp change...). */
void block_cache_flush(struct hart *h);
/* Drop blocks decoded from guest-physical page `pa >> 12`; called by the
 * store slow path when it writes a code page (any hart's cache may hold it:
 * this clears code_map and bumps gmem.code_gen so others notice). */
void block_invalidate_page(struct hart *h, gpa_t pa);

#endif
