/* csr.c: existence, privilege and read-only rules, WARL legalization of
 * each CSR, counter gating, and the side effects (TLB flush, irq recheck). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cpu/riscv/csr.h"

__attribute__((weak)) void block_invalidate_page(struct hart *h, gpa_t pa) {}
__attribute__((weak)) void block_cache_flush(struct hart *h) {}

static struct bus bus;
static struct vclock clk;
static struct hart *h;

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(gmem_init(&bus.ram, 0x80000000ULL, 1 << 20), 0);
    vclock_init(&clk);
    h = calloc(1, sizeof(*h));
    h->bus = &bus;
    h->clock = &clk;
    hart_set_priv(h, PRIV_M);
    h->hartid = 3;
    h->misa = (2ULL << 62) | 0x14112d; /* RV64 IMAFDCSU */
    h->mtimecmp = UINT64_MAX;
    return 0;
}

static int teardown(void **state)
{
    gmem_destroy(&bus.ram);
    free(h);
    return 0;
}

static uint64_t rd(unsigned csr)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(hart_csr_read(h, csr, &v), 0);
    return v;
}

static void wr(unsigned csr, uint64_t v)
{
    assert_int_equal(hart_csr_write(h, csr, v), 0);
}

static bool readable(unsigned csr)
{
    uint64_t v;
    return hart_csr_read(h, csr, &v) == 0;
}

static void test_existence_and_privilege(void **state)
{
    uint64_t v;
    assert_int_equal(hart_csr_read(h, 0x7C0, &v), -1); /* custom: absent */
    assert_int_equal(hart_csr_read(h, 0x015, &v), -1); /* seed: absent */
    assert_int_equal(hart_csr_read(h, 0x3A1, &v), -1); /* pmpcfg1 on RV64 */
    assert_int_equal(hart_csr_read(h, 4096, &v), -1);
    /* Identification CSRs read zero and are read-only. */
    assert_int_equal(rd(CSR_MVENDORID), 0);
    assert_int_equal(rd(CSR_MARCHID), 0);
    assert_int_equal(rd(CSR_MIMPID), 0);
    assert_int_equal(rd(CSR_MCONFIGPTR), 0);
    assert_int_equal(rd(CSR_MHARTID), 3);
    assert_int_equal(hart_csr_write(h, CSR_MHARTID, 0), -1);
    assert_int_equal(hart_csr_write(h, CSR_CYCLE, 0), -1);
    /* misa: read-only in effect, writes ignored. */
    uint64_t misa = rd(CSR_MISA);
    wr(CSR_MISA, 0);
    assert_int_equal(rd(CSR_MISA), misa);
    /* M CSRs from S, S CSRs from U. */
    hart_set_priv(h, PRIV_S);
    assert_false(readable(CSR_MSTATUS));
    assert_int_equal(hart_csr_write(h, CSR_MSCRATCH, 1), -1);
    assert_true(readable(CSR_SSTATUS));
    hart_set_priv(h, PRIV_U);
    assert_false(readable(CSR_SSTATUS));
    assert_false(readable(CSR_SATP));
    assert_int_equal(hart_csr_write(h, CSR_SSCRATCH, 1), -1);
}

static void test_fp_csrs(void **state)
{
    uint64_t v;
    h->mstatus = 0; /* FS = Off */
    assert_int_equal(hart_csr_read(h, CSR_FFLAGS, &v), -1);
    assert_int_equal(hart_csr_write(h, CSR_FRM, 1), -1);
    assert_int_equal(hart_csr_read(h, CSR_FCSR, &v), -1);
    h->mstatus = 1ULL << 13; /* Initial */
    assert_false(rd(CSR_MSTATUS) & MSTATUS_SD);
    wr(CSR_FFLAGS, 0xff);
    assert_int_equal(rd(CSR_FFLAGS), 0x1f);
    assert_int_equal(h->mstatus & MSTATUS_FS, MSTATUS_FS);
    assert_true(rd(CSR_MSTATUS) & MSTATUS_SD);
    assert_true(rd(CSR_SSTATUS) & MSTATUS_SD);
    wr(CSR_FRM, 0xfb);
    assert_int_equal(rd(CSR_FRM), 3);
    assert_int_equal(rd(CSR_FCSR), (3 << 5) | 0x1f);
    wr(CSR_FCSR, 0x1ff ^ (1 << 6));
    assert_int_equal(rd(CSR_FRM), 5);
    assert_int_equal(rd(CSR_FFLAGS), 0x1f);
    assert_int_equal(rd(CSR_FCSR), 0xbf);
    hart_set_priv(h, PRIV_U);
    assert_int_equal(rd(CSR_FCSR), 0xbf); /* user-level CSR */
}

static void test_counters(void **state)
{
    h->instret = 12345;
    assert_int_equal(rd(CSR_CYCLE), 12345);
    assert_int_equal(rd(CSR_INSTRET), 12345);
    assert_int_equal(rd(CSR_HPMCOUNTER3 + 7), 0);
    uint64_t t0 = rd(CSR_TIME);
    uint64_t t1 = vclock_ticks(&clk);
    assert_true(t1 >= t0 && t1 - t0 < VCLOCK_HZ);
    /* mcycle/minstret are writable; hpm counters and events read zero. */
    wr(CSR_MINSTRET, 99);
    assert_int_equal(rd(CSR_MINSTRET), 99);
    wr(CSR_MCYCLE, 7);
    assert_int_equal(rd(CSR_MCYCLE), 7);
    wr(CSR_MHPMCOUNTER3, ~0ULL);
    assert_int_equal(rd(CSR_MHPMCOUNTER3), 0);
    wr(CSR_MHPMEVENT31, 5);
    assert_int_equal(rd(CSR_MHPMEVENT31), 0);
    wr(CSR_MCOUNTINHIBIT, ~0ULL);
    assert_int_equal(rd(CSR_MCOUNTINHIBIT), 0xfffffffdULL);

    /* Gating: S needs mcounteren, U needs both. */
    for (unsigned c = CSR_CYCLE; c <= CSR_HPMCOUNTER31; c++) {
        unsigned bit = c & 31;
        for (int m = 0; m < 2; m++)
            for (int s = 0; s < 2; s++) {
                hart_set_priv(h, PRIV_M);
                wr(CSR_MCOUNTEREN, m ? 1ULL << bit : 0);
                wr(CSR_SCOUNTEREN, s ? 1ULL << bit : 0);
                assert_true(readable(c));
                hart_set_priv(h, PRIV_S);
                assert_int_equal(readable(c), m);
                hart_set_priv(h, PRIV_U);
                assert_int_equal(readable(c), m && s);
            }
    }
    hart_set_priv(h, PRIV_M);
    wr(CSR_MCOUNTEREN, ~0ULL);
    assert_int_equal(rd(CSR_MCOUNTEREN), 0xffffffffULL);
}

static void test_mstatus_warl(void **state)
{
    h->mstatus = 0;
    wr(CSR_MSTATUS, ~0ULL);
    uint64_t v = rd(CSR_MSTATUS);
    assert_int_equal(v & ~MSTATUS_SD,
                     MSTATUS_WRITABLE | MSTATUS_XL64);
    assert_true(v & MSTATUS_SD);
    /* UXL/SXL fixed, UBE/SBE/MBE zero, VS/XS zero. */
    assert_int_equal((v >> 32) & 0xf, 0xa);
    assert_int_equal(v & (MSTATUS_UBE | MSTATUS_VS | MSTATUS_XS | (3ULL << 36)), 0);
    /* MPP: 2 is reserved and keeps the old value. */
    wr(CSR_MSTATUS, 1ULL << 11);
    assert_int_equal(rd(CSR_MSTATUS) & MSTATUS_MPP, 1ULL << 11);
    wr(CSR_MSTATUS, 2ULL << 11);
    assert_int_equal(rd(CSR_MSTATUS) & MSTATUS_MPP, 1ULL << 11);
    wr(CSR_MSTATUS, 0);
    assert_int_equal(rd(CSR_MSTATUS), MSTATUS_XL64);
    /* sstatus is a masked view. */
    wr(CSR_MSTATUS, MSTATUS_MIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_SIE);
    assert_int_equal(rd(CSR_SSTATUS), MSTATUS_SIE | (2ULL << 32));
    wr(CSR_SSTATUS, ~0ULL);
    v = rd(CSR_MSTATUS);
    assert_true(v & MSTATUS_MIE);
    assert_true(v & MSTATUS_TVM);
    assert_int_equal(v & MSTATUS_MPP, MSTATUS_MPP);
    assert_true(v & MSTATUS_SUM);
    assert_true(v & MSTATUS_MXR);
    assert_false(v & MSTATUS_MPRV);
    wr(CSR_SSTATUS, 0);
    v = rd(CSR_MSTATUS);
    assert_true(v & MSTATUS_MIE);
    assert_false(v & (MSTATUS_SIE | MSTATUS_SUM | MSTATUS_FS));
}

static void test_mstatus_side_effects(void **state)
{
    struct tlb_entry *e = &h->tlb[ACCESS_LOAD][5];
    e->vpn_tag = 6;
    h->tlb_log_n = TLB_LOG_MAX + 1;
    wr(CSR_MSTATUS, MSTATUS_SUM); /* setting SUM only widens access */
    assert_int_equal(e->vpn_tag, 6);
    wr(CSR_MSTATUS, MSTATUS_SUM | MSTATUS_SIE); /* no translation change */
    assert_int_equal(e->vpn_tag, 6);
    wr(CSR_MSTATUS, MSTATUS_SUM | MSTATUS_SIE | MSTATUS_MPRV);
    assert_int_equal(e->vpn_tag, 0);
    e->vpn_tag = 6;
    h->tlb_log_n = TLB_LOG_MAX + 1;
    wr(CSR_MSTATUS, MSTATUS_SUM | MSTATUS_SIE | MSTATUS_MPRV | (1ULL << 11));
    assert_int_equal(e->vpn_tag, 0); /* MPP matters while MPRV = 1 */
    e->vpn_tag = 6;
    h->tlb_log_n = TLB_LOG_MAX + 1;
    hart_set_priv(h, PRIV_S);
    /* clearing SUM drops the entries only it allowed (mmu.c,
     * tlb_perm_log): here more than the log holds, so all of them */
    h->tlb_perm_n = TLB_PERM_MAX + 1;
    wr(CSR_SSTATUS, MSTATUS_MXR);
    assert_int_equal(e->vpn_tag, 0);

    hart_set_priv(h, PRIV_M);
    h->irq_recheck = 0;
    wr(CSR_MSTATUS, MSTATUS_MIE);
    assert_int_equal(h->irq_recheck, 1);
}

static void test_delegation_csrs(void **state)
{
    wr(CSR_MEDELEG, ~0ULL);
    assert_int_equal(rd(CSR_MEDELEG), MEDELEG_WRITABLE);
    assert_false(rd(CSR_MEDELEG) & (1ULL << EXC_ECALL_M));
    assert_true(rd(CSR_MEDELEG) & (1ULL << EXC_ECALL_U));
    assert_true(rd(CSR_MEDELEG) & (1ULL << EXC_STORE_PAGE_FAULT));
    h->irq_recheck = 0;
    wr(CSR_MIDELEG, ~0ULL);
    assert_int_equal(rd(CSR_MIDELEG), MIP_SSIP | MIP_STIP | MIP_SEIP);
    assert_int_equal(h->irq_recheck, 1);
}

static void test_interrupt_csrs(void **state)
{
    h->irq_recheck = 0;
    wr(CSR_MIE, ~0ULL);
    assert_int_equal(rd(CSR_MIE), 0xaaa);
    assert_int_equal(h->irq_recheck, 1);
    /* sie/sip show only delegated bits. */
    assert_int_equal(rd(CSR_SIE), 0);
    wr(CSR_MIDELEG, MIP_SSIP | MIP_STIP);
    assert_int_equal(rd(CSR_SIE), MIP_SSIP | MIP_STIP);
    hart_set_priv(h, PRIV_S);
    wr(CSR_SIE, 0);
    hart_set_priv(h, PRIV_M);
    assert_int_equal(rd(CSR_MIE), 0xaaa & ~(MIP_SSIP | MIP_STIP));
    /* mip: MSIP/MTIP/MEIP come from hardware, SSIP/STIP/SEIP writable. */
    wr(CSR_MIP, ~0ULL);
    assert_int_equal(rd(CSR_MIP), MIP_SSIP | MIP_STIP | MIP_SEIP);
    h->mip_hw = MIP_MSIP | MIP_MEIP;
    assert_int_equal(rd(CSR_MIP), MIP_S_MASK | MIP_MSIP | MIP_MEIP);
    h->mtimecmp = 0; /* time >= 0: MTIP */
    assert_true(rd(CSR_MIP) & MIP_MTIP);
    wr(CSR_MIP, 0);
    assert_int_equal(rd(CSR_MIP), MIP_MSIP | MIP_MEIP | MIP_MTIP);
    /* SEIP reads as the OR of the line and the software bit. */
    h->mip_hw = MIP_SEIP;
    h->mtimecmp = UINT64_MAX;
    assert_int_equal(rd(CSR_MIP), MIP_SEIP);
    h->mip_hw = 0;
    /* sip: SSIP writable when delegated; STIP/SEIP read-only there. */
    hart_set_priv(h, PRIV_S);
    wr(CSR_SIP, ~0ULL);
    assert_int_equal(rd(CSR_SIP), MIP_SSIP);
    wr(CSR_SIP, 0);
    assert_int_equal(rd(CSR_SIP), 0);
    hart_set_priv(h, PRIV_M);
    wr(CSR_MIDELEG, MIP_STIP);
    hart_set_priv(h, PRIV_S);
    wr(CSR_SIP, MIP_SSIP);
    assert_int_equal(h->mip_sw & MIP_SSIP, 0);
    hart_set_priv(h, PRIV_M);
    /* With Sstc enabled STIP follows stimecmp and is not writable. */
    wr(CSR_STIMECMP, UINT64_MAX);
    wr(CSR_MENVCFG, MENVCFG_STCE);
    wr(CSR_MIP, MIP_STIP);
    assert_false(rd(CSR_MIP) & MIP_STIP);
    wr(CSR_STIMECMP, 0);
    assert_true(rd(CSR_MIP) & MIP_STIP);
    wr(CSR_STIMECMP, UINT64_MAX);
    assert_false(rd(CSR_MIP) & MIP_STIP);
}

static void test_tvec_epc_cause(void **state)
{
    wr(CSR_MTVEC, 0x80001001);
    assert_int_equal(rd(CSR_MTVEC), 0x80001001);
    wr(CSR_MTVEC, 0x80002002); /* reserved mode: keep vectored */
    assert_int_equal(rd(CSR_MTVEC), 0x80002001);
    wr(CSR_MTVEC, 0x80003000);
    wr(CSR_MTVEC, 0x80004003);
    assert_int_equal(rd(CSR_MTVEC), 0x80004000);
    wr(CSR_STVEC, 0xffffffff80000001ULL);
    assert_int_equal(rd(CSR_STVEC), 0xffffffff80000001ULL);
    wr(CSR_MEPC, 0x80000003);
    assert_int_equal(rd(CSR_MEPC), 0x80000002);
    wr(CSR_SEPC, ~0ULL);
    assert_int_equal(rd(CSR_SEPC), ~1ULL);
    wr(CSR_MCAUSE, CAUSE_INTERRUPT | 7);
    assert_int_equal(rd(CSR_MCAUSE), CAUSE_INTERRUPT | 7);
    wr(CSR_MTVAL, 0x1234);
    wr(CSR_STVAL, 0x5678);
    wr(CSR_SCAUSE, 13);
    wr(CSR_MSCRATCH, 1);
    wr(CSR_SSCRATCH, 2);
    assert_int_equal(rd(CSR_MTVAL) + rd(CSR_STVAL) + rd(CSR_SCAUSE) +
                         rd(CSR_MSCRATCH) + rd(CSR_SSCRATCH),
                     0x1234 + 0x5678 + 13 + 1 + 2);
}

static void test_satp(void **state)
{
    struct tlb_entry *e = &h->tlb[ACCESS_FETCH][9];
    uint64_t sv39 = (8ULL << 60) | (0xabcdULL << 44) | 0x80123;
    e->vpn_tag = 10;
    h->tlb_log_n = TLB_LOG_MAX + 1;
    wr(CSR_SATP, sv39);
    assert_int_equal(rd(CSR_SATP), sv39);
    assert_int_equal(e->vpn_tag, 0);
    /* Unsupported modes: the write is ignored entirely. */
    for (uint64_t mode = 1; mode < 16; mode++) {
        if (mode >= 8 && mode <= 10)
            continue;
        wr(CSR_SATP, (mode << 60) | 0x5555);
        assert_int_equal(rd(CSR_SATP), sv39);
    }
    wr(CSR_SATP, (9ULL << 60) | 1);
    assert_int_equal(rd(CSR_SATP), (9ULL << 60) | 1);
    wr(CSR_SATP, (10ULL << 60) | 2);
    assert_int_equal(rd(CSR_SATP), (10ULL << 60) | 2);
    wr(CSR_SATP, 0);
    assert_int_equal(rd(CSR_SATP), 0);
    /* TVM traps S-mode access. */
    hart_set_priv(h, PRIV_S);
    assert_true(readable(CSR_SATP));
    h->mstatus |= MSTATUS_TVM;
    assert_false(readable(CSR_SATP));
    assert_int_equal(hart_csr_write(h, CSR_SATP, sv39), -1);
    hart_set_priv(h, PRIV_M);
    assert_true(readable(CSR_SATP));
}

static void test_stimecmp_and_envcfg(void **state)
{
    assert_true(readable(CSR_STIMECMP)); /* M: always */
    hart_set_priv(h, PRIV_S);
    assert_false(readable(CSR_STIMECMP));
    h->mcounteren = COUNTEREN_TM;
    assert_false(readable(CSR_STIMECMP));
    h->menvcfg = MENVCFG_STCE;
    assert_true(readable(CSR_STIMECMP));
    h->irq_recheck = 0;
    wr(CSR_STIMECMP, 1234);
    assert_int_equal(h->irq_recheck, 1);
    assert_int_equal(rd(CSR_STIMECMP), 1234);
    h->mcounteren = 0;
    assert_false(readable(CSR_STIMECMP));
    hart_set_priv(h, PRIV_U);
    assert_false(readable(CSR_STIMECMP));

    hart_set_priv(h, PRIV_M);
    wr(CSR_MENVCFG, ~0ULL);
    assert_int_equal(rd(CSR_MENVCFG), MENVCFG_STCE | MENVCFG_FIOM);
    wr(CSR_SENVCFG, ~0ULL);
    assert_int_equal(rd(CSR_SENVCFG), MENVCFG_FIOM);
}

static void test_pmp(void **state)
{
    wr(CSR_PMPADDR0, ~0ULL);
    assert_int_equal(rd(CSR_PMPADDR0), (1ULL << 54) - 1);
    /* R=0,W=1 is reserved: W dropped. Reserved bits 6:5 read zero. */
    wr(CSR_PMPCFG0, 0x0000000000001f62ULL);
    assert_int_equal(rd(CSR_PMPCFG0), 0x0000000000001f00ULL);
    /* Entry 9 (pmpcfg2 byte 1) locked TOR: cfg and pmpaddr8/9 frozen. */
    wr(CSR_PMPADDR0 + 8, 0x100);
    wr(CSR_PMPADDR0 + 9, 0x200);
    wr(CSR_PMPCFG0 + 2, 0x8b00);
    assert_int_equal(rd(CSR_PMPCFG0 + 2), 0x8b00);
    wr(CSR_PMPCFG0 + 2, 0x0007);
    assert_int_equal(rd(CSR_PMPCFG0 + 2), 0x8b07);
    wr(CSR_PMPADDR0 + 9, 0x300);
    wr(CSR_PMPADDR0 + 8, 0x300);
    wr(CSR_PMPADDR0 + 10, 0x300);
    assert_int_equal(rd(CSR_PMPADDR0 + 9), 0x200);
    assert_int_equal(rd(CSR_PMPADDR0 + 8), 0x100);
    assert_int_equal(rd(CSR_PMPADDR0 + 10), 0x300);
    wr(CSR_PMPCFG15 - 1, 0x1f);
    assert_int_equal(rd(CSR_PMPCFG15 - 1), 0x1f);
    wr(CSR_PMPADDR63, 5);
    assert_int_equal(rd(CSR_PMPADDR63), 5);
    hart_set_priv(h, PRIV_S);
    assert_false(readable(CSR_PMPADDR0));
}

static void test_triggers(void **state)
{
    /* What OpenSBI's Sdtrig probe sees: tselect readable, no triggers. */
    wr(CSR_TSELECT, 0);
    assert_int_equal(rd(CSR_TSELECT), 0);
    wr(CSR_TSELECT, 1);
    assert_int_equal(rd(CSR_TSELECT), 0);
    assert_int_equal(rd(CSR_TINFO), 1);
    wr(CSR_TDATA1, ~0ULL);
    assert_int_equal(rd(CSR_TDATA1), 0);
    assert_int_equal(rd(CSR_TDATA2), 0);
    assert_int_equal(rd(CSR_TDATA3), 0);
    hart_set_priv(h, PRIV_S);
    assert_false(readable(CSR_TSELECT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_existence_and_privilege, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fp_csrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mstatus_warl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mstatus_side_effects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegation_csrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_csrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tvec_epc_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_satp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stimecmp_and_envcfg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
