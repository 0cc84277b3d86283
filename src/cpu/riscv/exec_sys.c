/* System handlers: fences, ecall/ebreak, xRET, wfi, sfence.vma, Zicsr and
 * the illegal-instruction path. All but fence end their block, so state
 * they change (privilege, satp, interrupt enables) is seen by the block
 * boundary checks before the next instruction. */
#include <sched.h>

#include "cpu/riscv/block.h"
#include "cpu/riscv/csr.h"
#include "cpu/riscv/exec_impl.h"


const struct insn *exec_illegal(struct hart *h, const struct insn *i)
{
    sync_pc(h, i);
    hart_raise(h, EXC_ILLEGAL_INSN, i->raw);
    return end_trap(h, i);
}

static HANDLER(op_illegal) { return exec_illegal(h, i); }

/* Zihintpause `pause` (fence w,0): Linux's cpu_relax(), executed on every
 * turn of a spin-wait (ticket spinlocks, csd_lock_wait, stop_machine).
 * With more harts than host CPUs the hart being waited for may be ready
 * to run on this very CPU: hand it over instead of burning the slice. */
#define INSN_PAUSE 0x0100000fu

/* Plain host loads/stores are TSO on x86; only store->load ordering
 * (pred W, succ R) needs a real barrier. Other hosts: always. */
static HANDLER(op_fence)
{
    if (UNLIKELY(i->raw == INSN_PAUSE)) {
        if (h->spin_yield)
            sched_yield();
        return next_insn(h, i);
    }
#if defined(__x86_64__) || defined(__i386__)
    if ((i->imm & 0x12) == 0x12)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    else
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
    return next_insn(h, i);
}

/* Usually no flush: every write to a page blocks were decoded from is
 * seen (stores to code pages take the slow path, which kills the page's
 * blocks; DMA and other harts' writes change the page's code_map tag;
 * block.c's code_gen sync treats pages a hart could still write through an
 * older store TLB entry as written). Ending the block brings hart_run to
 * the code_gen sync, which drops what another hart or a device changed.
 * block_fence_i flushes everything when another hart may not have synced
 * yet. */
static HANDLER(op_fence_i)
{
    block_fence_i(h);
    return end_next(h, i);
}

static HANDLER(op_ecall)
{
    static const uint64_t cause[4] = {EXC_ECALL_U, EXC_ECALL_S, EXC_ECALL_S,
                                      EXC_ECALL_M};
    sync_pc(h, i);
    hart_raise(h, cause[h->priv & 3], 0);
    return end_trap(h, i);
}

static HANDLER(op_ebreak)
{
    sync_pc(h, i);
    hart_raise(h, EXC_BREAKPOINT, h->pc);
    return end_trap(h, i);
}

static HANDLER(op_mret)
{
    if (h->priv != PRIV_M)
        return exec_illegal(h, i);
    sync_pc(h, i);
    hart_mret(h);
    atomic_store_explicit(&h->irq_recheck, 1, memory_order_relaxed);
    h->xb_done = i->idx + 1u;
    return NULL;
}

static HANDLER(op_sret)
{
    if (h->priv == PRIV_U ||
        (h->priv == PRIV_S && (h->mstatus & MSTATUS_TSR)))
        return exec_illegal(h, i);
    sync_pc(h, i);
    hart_sret(h);
    atomic_store_explicit(&h->irq_recheck, 1, memory_order_relaxed);
    h->xb_done = i->idx + 1u;
    return NULL;
}

/* WFI in U-mode, or in S-mode with mstatus.TW, is illegal (we never
 * complete it "within a bounded time" on the guest's behalf). */
static HANDLER(op_wfi)
{
    if (h->priv == PRIV_U ||
        (h->priv == PRIV_S && (h->mstatus & MSTATUS_TW)))
        return exec_illegal(h, i);
    end_next(h, i);
    /* sync before sleeping: block_fence_i on other harts counts a hart in
     * wfi as one that has no older store TLB entry to write through */
    uint64_t g = atomic_load_explicit(&h->bus->ram.code_gen,
                                      memory_order_acquire);
    if (g != h->code_gen_seen)
        block_sync_code(h, g);
    hart_wfi(h);
    atomic_store_explicit(&h->irq_recheck, 1, memory_order_relaxed);
    return NULL;
}

static HANDLER(op_sfence_vma)
{
    if (h->priv == PRIV_U ||
        (h->priv == PRIV_S && (h->mstatus & MSTATUS_TVM)))
        return exec_illegal(h, i);
    if (i->rs1 == 0)
        tlb_flush_all(h);
    else
        tlb_flush_page(h, h->x[i->rs1]);
    return end_next(h, i);
}

enum csr_kind { CSR_W, CSR_S, CSR_C };

/* instret is made exact for the duration of the access (the block's
 * earlier insns retired); a write to minstret/mcycle is the value the next
 * instruction sees, so the writer itself is not counted on top of it. */
static const struct insn *csr_op(struct hart *h, const struct insn *i,
                                 enum csr_kind kind, uint64_t src,
                                 bool write)
{
    unsigned csr = (unsigned)i->imm;
    uint64_t old = 0;
    bool read = kind != CSR_W || i->rd != 0;

    sync_pc(h, i);
    hart_counter_add(&h->instret, i->idx);
    if (read && hart_csr_read(h, csr, &old) != 0)
        goto illegal;
    if (write) {
        /* Only mip's software-writable SEIP bit takes part in csrrs/csrrc;
         * the PLIC's line is ORed into what is read, never written back
         * (privileged spec 3.1.9). Otherwise OpenSBI's IPI handler, whose
         * `csrs mip, SSIP` can run while the line is up, latches SEIP
         * for good: an endless external-interrupt storm on that hart. */
        uint64_t base = old;
        if (csr == CSR_MIP && kind != CSR_W)
            base = (old & ~MIP_SEIP) | (h->mip_sw & MIP_SEIP);
        uint64_t nv = kind == CSR_W ? src : kind == CSR_S ? base | src
                                                          : base & ~src;
        if (hart_csr_write(h, csr, nv) != 0)
            goto illegal;
        if (csr == CSR_MINSTRET || csr == CSR_MCYCLE) /* (retired all the same) */
            hart_instret_set(h, h->instret - 1);
    }
    hart_counter_add(&h->instret, -(uint64_t)i->idx);
    wr_x(h, i->rd, old);
    return end_next(h, i);

illegal:
    hart_counter_add(&h->instret, -(uint64_t)i->idx);
    return exec_illegal(h, i);
}

static HANDLER(op_csrrw) { return csr_op(h, i, CSR_W, h->x[i->rs1], true); }
static HANDLER(op_csrrs)
{
    return csr_op(h, i, CSR_S, h->x[i->rs1], i->rs1 != 0);
}
static HANDLER(op_csrrc)
{
    return csr_op(h, i, CSR_C, h->x[i->rs1], i->rs1 != 0);
}
static HANDLER(op_csrrwi) { return csr_op(h, i, CSR_W, i->rs1, true); }
static HANDLER(op_csrrsi) { return csr_op(h, i, CSR_S, i->rs1, i->rs1 != 0); }
static HANDLER(op_csrrci) { return csr_op(h, i, CSR_C, i->rs1, i->rs1 != 0); }

void exec_sys_register(insn_fn *t)
{
#define R(op, fn) t[OP_##op] = op_##fn;
    R(ILLEGAL, illegal) R(FENCE, fence) R(FENCE_I, fence_i) R(ECALL, ecall)
    R(EBREAK, ebreak) R(MRET, mret) R(SRET, sret) R(WFI, wfi)
    R(SFENCE_VMA, sfence_vma) R(CSRRW, csrrw) R(CSRRS, csrrs)
    R(CSRRC, csrrc) R(CSRRWI, csrrwi) R(CSRRSI, csrrsi) R(CSRRCI, csrrci)
#undef R
}
