/* The CSR file: one table entry per CSR number with a read function, a
 * write function (NULL: writes are accepted and ignored) and an optional
 * predicate for access rules beyond the number's own privilege and
 * read-only bits (FS=Off, counter enables, TVM, Sstc). A CSR exists when
 * its entry has a read function; anything else is an illegal instruction.
 *
 * WARL fields are legalized here on write, so the rest of the CPU can
 * trust every stored value (MPP is never 2, tvec modes are 0 or 1, satp
 * holds only supported modes). Writes that can make an interrupt
 * deliverable set irq_recheck; writes that change how addresses translate
 * flush the TLB. Privileged spec sections 2 and 3 ("Control and Status
 * Registers", "Machine-Level ISA"), Sstc, Zicntr. */
#include "cpu/riscv/csr.h"

#include <stdatomic.h>

struct csr_def {
    int (*pred)(struct hart *h, unsigned csr); /* 0 or -1 */
    uint64_t (*read)(struct hart *h, unsigned csr);
    void (*write)(struct hart *h, unsigned csr, uint64_t val);
};

static void irq_recheck(struct hart *h)
{
    atomic_store_explicit(&h->irq_recheck, 1, memory_order_relaxed);
}

uint64_t hart_mstatus_read(const struct hart *h)
{
    uint64_t v = (h->mstatus & ~(MSTATUS_SD | MSTATUS_UXL | MSTATUS_SXL)) |
                 MSTATUS_XL64;
    if ((v & MSTATUS_FS) == MSTATUS_FS || (v & MSTATUS_XS) == MSTATUS_XS ||
        (v & MSTATUS_VS) == MSTATUS_VS)
        v |= MSTATUS_SD;
    return v;
}

/* ---- predicates ---- */

static int pred_fp(struct hart *h, unsigned csr)
{
    return (h->mstatus & MSTATUS_FS) ? 0 : -1;
}

/* Zicntr/Zihpm: S needs mcounteren's bit, U needs it and scounteren's. */
static int pred_counter(struct hart *h, unsigned csr)
{
    uint64_t bit = 1ULL << (csr & 31);
    if (h->priv == PRIV_M)
        return 0;
    if (!(h->mcounteren & bit))
        return -1;
    if (h->priv == PRIV_U && !(h->scounteren & bit))
        return -1;
    return 0;
}

static int pred_satp(struct hart *h, unsigned csr)
{
    return (h->priv == PRIV_S && (h->mstatus & MSTATUS_TVM)) ? -1 : 0;
}

static int pred_stimecmp(struct hart *h, unsigned csr)
{
    if (h->priv == PRIV_M)
        return 0;
    return ((h->mcounteren & COUNTEREN_TM) && (h->menvcfg & MENVCFG_STCE))
               ? 0 : -1;
}

/* RV64 has only the even pmpcfg registers. */
static int pred_pmpcfg(struct hart *h, unsigned csr)
{
    return (csr & 1) ? -1 : 0;
}

/* ---- floating point ---- */

static void fs_dirty(struct hart *h)
{
    h->mstatus |= MSTATUS_FS;
}

static uint64_t rd_fflags(struct hart *h, unsigned c) { return h->fflags & 0x1f; }
static uint64_t rd_frm(struct hart *h, unsigned c) { return h->frm & 7; }
static uint64_t rd_fcsr(struct hart *h, unsigned c)
{
    return ((h->frm & 7) << 5) | (h->fflags & 0x1f);
}
static void wr_fflags(struct hart *h, unsigned c, uint64_t v)
{
    h->fflags = v & 0x1f;
    fs_dirty(h);
}
static void wr_frm(struct hart *h, unsigned c, uint64_t v)
{
    h->frm = v & 7; /* 5..7 stored; instructions using them are illegal */
    fs_dirty(h);
}
static void wr_fcsr(struct hart *h, unsigned c, uint64_t v)
{
    h->fflags = v & 0x1f;
    h->frm = (v >> 5) & 7;
    fs_dirty(h);
}

/* ---- counters ---- */

static uint64_t rd_zero(struct hart *h, unsigned c) { return 0; }
static uint64_t rd_one(struct hart *h, unsigned c) { return 1; }
/* mcycle and minstret both count retired instructions (one cycle per
 * instruction): there is no separate cycle state to save. */
static uint64_t rd_instret(struct hart *h, unsigned c) { return h->instret; }
static void wr_instret(struct hart *h, unsigned c, uint64_t v) { hart_instret_set(h, v); }
static uint64_t rd_time(struct hart *h, unsigned c)
{
    return vclock_ticks(h->clock);
}

static uint64_t rd_mcounteren(struct hart *h, unsigned c) { return h->mcounteren; }
static void wr_mcounteren(struct hart *h, unsigned c, uint64_t v)
{
    h->mcounteren = v & 0xffffffffULL;
}
static uint64_t rd_scounteren(struct hart *h, unsigned c) { return h->scounteren; }
static void wr_scounteren(struct hart *h, unsigned c, uint64_t v)
{
    h->scounteren = v & 0xffffffffULL;
}
static uint64_t rd_mcountinhibit(struct hart *h, unsigned c)
{
    return h->mcountinhibit;
}
static void wr_mcountinhibit(struct hart *h, unsigned c, uint64_t v)
{
    h->mcountinhibit = v & 0xfffffffdULL; /* bit 1 (time) does not exist */
}

/* ---- status and interrupts ---- */

static void mstatus_update(struct hart *h, uint64_t v, uint64_t mask)
{
    uint64_t old = h->mstatus;
    uint64_t new = (old & ~mask) | (v & mask);
    if ((new & MSTATUS_MPP) == (2ULL << 11)) /* reserved (H): keep old */
        new = (new & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
    new = (new & ~(MSTATUS_SD | MSTATUS_UXL | MSTATUS_SXL)) | MSTATUS_XL64;
    h->mstatus = new;
    uint64_t changed = old ^ new;
    if ((changed & MSTATUS_MPRV) ||
        ((changed & MSTATUS_MPP) && (new & MSTATUS_MPRV)))
        tlb_flush_all(h);
    else if (changed & old & (MSTATUS_SUM | MSTATUS_MXR))
        tlb_flush_widened(h); /* cleared; a bit set only widens access */
    if (changed & (MSTATUS_MIE | MSTATUS_SIE))
        irq_recheck(h);
}

static uint64_t rd_mstatus(struct hart *h, unsigned c) { return hart_mstatus_read(h); }
static void wr_mstatus(struct hart *h, unsigned c, uint64_t v)
{
    mstatus_update(h, v, MSTATUS_WRITABLE);
}
static uint64_t rd_sstatus(struct hart *h, unsigned c)
{
    return hart_mstatus_read(h) & SSTATUS_VIEW;
}
static void wr_sstatus(struct hart *h, unsigned c, uint64_t v)
{
    mstatus_update(h, v, SSTATUS_WRITABLE);
}

static uint64_t rd_misa(struct hart *h, unsigned c) { return h->misa; }

static uint64_t rd_medeleg(struct hart *h, unsigned c) { return h->medeleg; }
static void wr_medeleg(struct hart *h, unsigned c, uint64_t v)
{
    h->medeleg = v & MEDELEG_WRITABLE;
}
static uint64_t rd_mideleg(struct hart *h, unsigned c) { return h->mideleg; }
static void wr_mideleg(struct hart *h, unsigned c, uint64_t v)
{
    h->mideleg = v & MIP_S_MASK;
    irq_recheck(h);
}

static uint64_t rd_mie(struct hart *h, unsigned c) { return h->mie; }
static void wr_mie(struct hart *h, unsigned c, uint64_t v)
{
    h->mie = v & MIP_ALL_MASK;
    irq_recheck(h);
}
static uint64_t rd_sie(struct hart *h, unsigned c) { return h->mie & h->mideleg; }
static void wr_sie(struct hart *h, unsigned c, uint64_t v)
{
    uint64_t mask = h->mideleg & MIP_S_MASK;
    h->mie = (h->mie & ~mask) | (v & mask);
    irq_recheck(h);
}

static uint64_t rd_mip(struct hart *h, unsigned c) { return hart_mip_read(h); }
static void wr_mip(struct hart *h, unsigned c, uint64_t v)
{
    /* With Sstc enabled STIP follows stimecmp and is read-only. */
    uint64_t mask = MIP_SSIP | MIP_SEIP;
    if (!(h->menvcfg & MENVCFG_STCE))
        mask |= MIP_STIP;
    h->mip_sw = (h->mip_sw & ~mask) | (v & mask);
    irq_recheck(h);
}
static uint64_t rd_sip(struct hart *h, unsigned c)
{
    return hart_mip_read(h) & h->mideleg;
}
static void wr_sip(struct hart *h, unsigned c, uint64_t v)
{
    uint64_t mask = MIP_SSIP & h->mideleg;
    h->mip_sw = (h->mip_sw & ~mask) | (v & mask);
    irq_recheck(h);
}

/* Direct (0) and vectored (1) modes; 2 and 3 are reserved: keep the old
 * mode, take the new base. */
static uint64_t tvec_legal(uint64_t old, uint64_t v)
{
    uint64_t mode = v & 3;
    if (mode >= 2)
        mode = old & 3;
    return (v & ~3ULL) | mode;
}
static uint64_t rd_mtvec(struct hart *h, unsigned c) { return h->mtvec; }
static void wr_mtvec(struct hart *h, unsigned c, uint64_t v)
{
    h->mtvec = tvec_legal(h->mtvec, v);
}
static uint64_t rd_stvec(struct hart *h, unsigned c) { return h->stvec; }
static void wr_stvec(struct hart *h, unsigned c, uint64_t v)
{
    h->stvec = tvec_legal(h->stvec, v);
}

/* Simple whole-register CSRs. */
#define CSR_PLAIN(name, field, mask)                                           \
    static uint64_t rd_##name(struct hart *h, unsigned c) { return h->field; } \
    static void wr_##name(struct hart *h, unsigned c, uint64_t v)              \
    {                                                                          \
        h->field = v & (mask);                                                 \
    }
/* xepc bit 0 is always zero; bit 1 stays since C is always on. */
CSR_PLAIN(mscratch, mscratch, ~0ULL)
CSR_PLAIN(mepc, mepc, ~1ULL)
CSR_PLAIN(mcause, mcause, ~0ULL)
CSR_PLAIN(mtval, mtval, ~0ULL)
CSR_PLAIN(sscratch, sscratch, ~0ULL)
CSR_PLAIN(sepc, sepc, ~1ULL)
CSR_PLAIN(scause, scause, ~0ULL)
CSR_PLAIN(stval, stval, ~0ULL)
/* Zicbom/Zicboz are not implemented: CBIE/CBCFE/CBZE read as zero. */
CSR_PLAIN(senvcfg, senvcfg, MENVCFG_FIOM)

static uint64_t rd_menvcfg(struct hart *h, unsigned c) { return h->menvcfg; }
static void wr_menvcfg(struct hart *h, unsigned c, uint64_t v)
{
    h->menvcfg = v & (MENVCFG_FIOM | MENVCFG_STCE);
    irq_recheck(h); /* STCE switches where STIP comes from */
}

static uint64_t rd_stimecmp(struct hart *h, unsigned c) { return h->stimecmp; }
static void wr_stimecmp(struct hart *h, unsigned c, uint64_t v)
{
    h->stimecmp = v;
    irq_recheck(h);
}

static uint64_t rd_satp(struct hart *h, unsigned c) { return h->satp; }
static void wr_satp(struct hart *h, unsigned c, uint64_t v)
{
    uint64_t mode = v >> SATP_MODE_SHIFT;
    if (mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 &&
        mode != SATP_MODE_SV48 && mode != SATP_MODE_SV57)
        return; /* unsupported mode: the whole write has no effect */
    uint64_t new = v & ((0xFULL << SATP_MODE_SHIFT) | SATP_ASID_MASK |
                        SATP_PPN_MASK);
    h->satp = new;
    /* ASIDs are not tagged in the TLB: every satp write starts afresh.
     * Blocks are keyed by physical address and the jump cache is checked
     * against the fetch TLB, so the block cache needs no flush here. */
    tlb_flush_all(h);
}

static uint64_t rd_mhartid(struct hart *h, unsigned c) { return h->hartid; }

/* ---- PMP: stored and read back, not enforced ---- */

#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_A_TOR 0x08
#define PMP_A 0x18
#define PMP_L 0x80

static unsigned pmp_cfg(const struct hart *h, unsigned entry)
{
    return (h->pmpcfg[(entry / 8) * 2] >> ((entry % 8) * 8)) & 0xff;
}

static uint64_t rd_pmpcfg(struct hart *h, unsigned c)
{
    return h->pmpcfg[c - CSR_PMPCFG0];
}
static void wr_pmpcfg(struct hart *h, unsigned c, uint64_t v)
{
    unsigned reg = c - CSR_PMPCFG0;
    uint64_t out = 0;
    for (unsigned i = 0; i < 8; i++) {
        unsigned old = (h->pmpcfg[reg] >> (i * 8)) & 0xff;
        unsigned b = (v >> (i * 8)) & 0xff;
        if (old & PMP_L) {
            b = old; /* locked until reset */
        } else {
            b &= ~0x60u; /* reserved bits */
            if ((b & (PMP_R | PMP_W)) == PMP_W)
                b &= ~PMP_W; /* W without R is reserved */
        }
        out |= (uint64_t)b << (i * 8);
    }
    h->pmpcfg[reg] = out;
}
static uint64_t rd_pmpaddr(struct hart *h, unsigned c)
{
    return h->pmpaddr[c - CSR_PMPADDR0];
}
static void wr_pmpaddr(struct hart *h, unsigned c, uint64_t v)
{
    unsigned i = c - CSR_PMPADDR0;
    if (pmp_cfg(h, i) & PMP_L)
        return;
    /* A locked TOR entry also locks the address below it. */
    if (i + 1 < 64 && (pmp_cfg(h, i + 1) & PMP_L) &&
        (pmp_cfg(h, i + 1) & PMP_A) == PMP_A_TOR)
        return;
    h->pmpaddr[i] = v & ((1ULL << 54) - 1); /* physical address bits 55:2 */
}

/* ---- the table ---- */

#define RO(r) { .read = r }
#define RW(r, w) { .read = r, .write = w }
#define PRO(p, r) { .pred = p, .read = r }
#define PRW(p, r, w) { .pred = p, .read = r, .write = w }

static const struct csr_def csr_table[4096] = {
    [CSR_FFLAGS] = PRW(pred_fp, rd_fflags, wr_fflags),
    [CSR_FRM] = PRW(pred_fp, rd_frm, wr_frm),
    [CSR_FCSR] = PRW(pred_fp, rd_fcsr, wr_fcsr),

    [CSR_CYCLE] = PRO(pred_counter, rd_instret),
    [CSR_TIME] = PRO(pred_counter, rd_time),
    [CSR_INSTRET] = PRO(pred_counter, rd_instret),
    [CSR_HPMCOUNTER3 ... CSR_HPMCOUNTER31] = PRO(pred_counter, rd_zero),

    [CSR_SSTATUS] = RW(rd_sstatus, wr_sstatus),
    [CSR_SIE] = RW(rd_sie, wr_sie),
    [CSR_STVEC] = RW(rd_stvec, wr_stvec),
    [CSR_SCOUNTEREN] = RW(rd_scounteren, wr_scounteren),
    [CSR_SENVCFG] = RW(rd_senvcfg, wr_senvcfg),
    [CSR_SSCRATCH] = RW(rd_sscratch, wr_sscratch),
    [CSR_SEPC] = RW(rd_sepc, wr_sepc),
    [CSR_SCAUSE] = RW(rd_scause, wr_scause),
    [CSR_STVAL] = RW(rd_stval, wr_stval),
    [CSR_SIP] = RW(rd_sip, wr_sip),
    [CSR_STIMECMP] = PRW(pred_stimecmp, rd_stimecmp, wr_stimecmp),
    [CSR_SATP] = PRW(pred_satp, rd_satp, wr_satp),

    [CSR_MVENDORID] = RO(rd_zero),
    [CSR_MARCHID] = RO(rd_zero),
    [CSR_MIMPID] = RO(rd_zero),
    [CSR_MHARTID] = RO(rd_mhartid),
    [CSR_MCONFIGPTR] = RO(rd_zero),

    [CSR_MSTATUS] = RW(rd_mstatus, wr_mstatus),
    [CSR_MISA] = RO(rd_misa),
    [CSR_MEDELEG] = RW(rd_medeleg, wr_medeleg),
    [CSR_MIDELEG] = RW(rd_mideleg, wr_mideleg),
    [CSR_MIE] = RW(rd_mie, wr_mie),
    [CSR_MTVEC] = RW(rd_mtvec, wr_mtvec),
    [CSR_MCOUNTEREN] = RW(rd_mcounteren, wr_mcounteren),
    [CSR_MENVCFG] = RW(rd_menvcfg, wr_menvcfg),
    [CSR_MCOUNTINHIBIT] = RW(rd_mcountinhibit, wr_mcountinhibit),
    [CSR_MHPMEVENT3 ... CSR_MHPMEVENT31] = RO(rd_zero),
    [CSR_MSCRATCH] = RW(rd_mscratch, wr_mscratch),
    [CSR_MEPC] = RW(rd_mepc, wr_mepc),
    [CSR_MCAUSE] = RW(rd_mcause, wr_mcause),
    [CSR_MTVAL] = RW(rd_mtval, wr_mtval),
    [CSR_MIP] = RW(rd_mip, wr_mip),
    [CSR_PMPCFG0 ... CSR_PMPCFG15] = PRW(pred_pmpcfg, rd_pmpcfg, wr_pmpcfg),
    [CSR_PMPADDR0 ... CSR_PMPADDR63] = RW(rd_pmpaddr, wr_pmpaddr),

    /* Sdtrig with no triggers: tselect stays 0 and tinfo = 1 ("no trigger
     * here"), so OpenSBI's probe counts zero triggers without trapping. */
    [CSR_TSELECT] = RO(rd_zero),
    [CSR_TDATA1] = RO(rd_zero),
    [CSR_TDATA2] = RO(rd_zero),
    [CSR_TDATA3] = RO(rd_zero),
    [CSR_TINFO] = RO(rd_one),

    [CSR_MCYCLE] = RW(rd_instret, wr_instret),
    [CSR_MINSTRET] = RW(rd_instret, wr_instret),
    [CSR_MHPMCOUNTER3 ... CSR_MHPMCOUNTER31] = RO(rd_zero),
};

/* The privilege a CSR number requires is in bits 9:8; bits 11:10 = 3 mark
 * it read-only. */
static const struct csr_def *csr_lookup(struct hart *h, unsigned csr)
{
    if (csr >= ARRAY_SIZE(csr_table))
        return NULL;
    const struct csr_def *d = &csr_table[csr];
    if (!d->read || h->priv < ((csr >> 8) & 3))
        return NULL;
    if (d->pred && d->pred(h, csr))
        return NULL;
    return d;
}

int hart_csr_read(struct hart *h, unsigned csr, uint64_t *val)
{
    const struct csr_def *d = csr_lookup(h, csr);
    if (!d)
        return -1;
    *val = d->read(h, csr);
    return 0;
}

int hart_csr_write(struct hart *h, unsigned csr, uint64_t val)
{
    const struct csr_def *d = csr_lookup(h, csr);
    if (!d || ((csr >> 10) & 3) == 3)
        return -1;
    if (d->write)
        d->write(h, csr, val);
    return 0;
}
