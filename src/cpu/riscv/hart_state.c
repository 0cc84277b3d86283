/* Hart save/load (hart_state.h). The field order below is the format:
 * append new fields at the end (and bump the version), never reorder. */
#include "cpu/riscv/hart_state.h"

#include <errno.h>
#include <string.h>

#include "cpu/riscv/hart.h"
#include "state/state.h"

/* The plain 64-bit fields, in saved order. */
#define HART_SCALARS(X)                                                        \
    X(pc) X(priv) X(hartid) X(mstatus) X(fflags) X(frm) X(misa) X(medeleg)    \
    X(mideleg) X(mie) X(mip_sw) X(mtvec) X(mscratch) X(mepc) X(mcause)        \
    X(mtval) X(mcounteren) X(scounteren) X(menvcfg) X(senvcfg)                \
    X(mcountinhibit) X(stvec) X(sscratch) X(sepc) X(scause) X(stval) X(satp)  \
    X(stimecmp) X(instret) X(resv_addr) X(resv_value) X(resv_valid) X(wfi)    \
    X(halted)

void hart_save_state(const struct hart *h, struct state_out *o)
{
    for (unsigned i = 0; i < 32; i++)
        state_put_u64(o, h->x[i]);
    for (unsigned i = 0; i < 32; i++)
        state_put_u64(o, h->f[i]);
#define PUT(f) state_put_u64(o, h->f);
    HART_SCALARS(PUT)
#undef PUT
    for (unsigned i = 0; i < 16; i++)
        state_put_u64(o, h->pmpcfg[i]);
    for (unsigned i = 0; i < 64; i++)
        state_put_u64(o, h->pmpaddr[i]);
    state_put_u64(o, atomic_load(&h->mip_hw));
    state_put_u64(o, atomic_load(&h->mtimecmp));
}

int hart_load_state(struct hart *h, struct state_in *in, uint32_t version)
{
    /* Decode into a copy first so a bad stream leaves the hart as it was. */
    struct {
        uint64_t x[32], f[32], pmpcfg[16], pmpaddr[64], mip_hw, mtimecmp;
#define DECL(f) uint64_t f;
        HART_SCALARS(DECL)
#undef DECL
    } s;
    for (unsigned i = 0; i < 32; i++)
        s.x[i] = state_get_u64(in);
    for (unsigned i = 0; i < 32; i++)
        s.f[i] = state_get_u64(in);
#define GET(f) s.f = state_get_u64(in);
    HART_SCALARS(GET)
#undef GET
    for (unsigned i = 0; i < 16; i++)
        s.pmpcfg[i] = state_get_u64(in);
    for (unsigned i = 0; i < 64; i++)
        s.pmpaddr[i] = state_get_u64(in);
    s.mip_hw = state_get_u64(in);
    s.mtimecmp = state_get_u64(in);
    if (state_in_status(in))
        return -EINVAL;

    if (s.hartid != h->hartid)
        return state_in_fail(in, "saved hart id %llu loaded into hart %llu",
                             (unsigned long long)s.hartid, (unsigned long long)h->hartid);
    if (s.priv != PRIV_U && s.priv != PRIV_S && s.priv != PRIV_M)
        return state_in_fail(in, "privilege level %llu does not exist",
                             (unsigned long long)s.priv);
    if (s.misa != h->misa)
        return state_in_fail(in, "misa 0x%llx differs from this CPU's 0x%llx",
                             (unsigned long long)s.misa, (unsigned long long)h->misa);
    /* Each named with its value: a bad one in a migration stream says
     * which state the source sent. */
    const struct { const char *name; uint64_t v; bool bad; } checks[] = {
        { "x0", s.x[0], s.x[0] != 0 },          { "frm", s.frm, s.frm > 7 },
        { "fflags", s.fflags, s.fflags > 31 },  { "resv_valid", s.resv_valid, s.resv_valid > 1 },
        { "wfi", s.wfi, s.wfi > 1 },            { "halted", s.halted, s.halted > 1 },
        { "pc", s.pc, (s.pc & 1) != 0 },
    };
    for (size_t c = 0; c < sizeof(checks) / sizeof(checks[0]); c++)
        if (checks[c].bad)
            return state_in_fail(in, "register value out of range: %s = 0x%llx",
                                 checks[c].name, (unsigned long long)checks[c].v);

    memcpy(h->x, s.x, sizeof(h->x));
    memcpy(h->f, s.f, sizeof(h->f));
#define SET(f) h->f = s.f;
    HART_SCALARS(SET)
#undef SET
    memcpy(h->pmpcfg, s.pmpcfg, sizeof(h->pmpcfg));
    memcpy(h->pmpaddr, s.pmpaddr, sizeof(h->pmpaddr));
    atomic_store(&h->mip_hw, s.mip_hw & (MIP_MSIP | MIP_MEIP | MIP_SEIP));
    atomic_store(&h->mtimecmp, s.mtimecmp);
    /* A parked hart is not in wfi: the flag only says where it was. */
    h->wfi = 0;
    h->trap_pending = 0;
    hart_set_priv(h, s.priv);
    tlb_flush_all(h);
    block_cache_flush(h);
    h->code_gen_seen = atomic_load(&h->bus->ram.code_gen);
    atomic_store(&h->irq_recheck, 1);
    return 0;
}
