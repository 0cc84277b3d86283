/* mmu.c: page walks on hand-built tables in a RAM-backed bus, permission
 * rules, A/D updates, faults, the TLB and the memory slow paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>

#include "cpu/riscv/csr.h"

/* Stand-ins for block.c, used only when the library does not provide it. */
static int invalidated;
static gpa_t invalidated_pa;
__attribute__((weak)) void block_invalidate_page(struct hart *h, gpa_t pa)
{
    invalidated++;
    invalidated_pa = pa;
    h->bus->ram.code_map[(pa - h->bus->ram.base) >> 12] = 0;
}
__attribute__((weak)) void block_cache_flush(struct hart *h) {}

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (16ULL << 20)
#define PT_BASE (RAM_BASE + 0x800000)
#define MMIO_BASE 0x10000000ULL

#define V (1ULL << 0)
#define R (1ULL << 1)
#define W (1ULL << 2)
#define X (1ULL << 3)
#define U (1ULL << 4)
#define A (1ULL << 6)
#define D (1ULL << 7)

static struct bus bus;
static struct vclock clk;
static struct hart *h;
static gpa_t next_pt, root;
static uint64_t mmio_last_write;

static int mmio_read(void *o, uint64_t off, unsigned size, uint64_t *val)
{
    if (off >= 0x800)
        return -EIO;
    *val = 0x1000 + off;
    return 0;
}
static int mmio_write(void *o, uint64_t off, unsigned size, uint64_t val)
{
    if (off >= 0x800)
        return -EIO;
    mmio_last_write = val;
    return 0;
}
static const struct mmio_ops test_mmio_ops = {.read = mmio_read,
                                              .write = mmio_write};

static uint8_t *host(gpa_t pa) { return gmem_ptr(&bus.ram, pa, 1); }

static uint64_t peek(gpa_t pa, unsigned size)
{
    uint64_t v = 0;
    memcpy(&v, host(pa), size);
    return v;
}

static gpa_t new_table(void)
{
    gpa_t pa = next_pt;
    next_pt += 4096;
    memset(host(pa), 0, 4096);
    return pa;
}

/* Map va -> pa at `level` (0 = 4 KiB) with leaf flags; returns the leaf. */
static uint64_t *map(unsigned mode, gva_t va, gpa_t pa, uint64_t flags,
                     int level)
{
    gpa_t table = root;
    for (int i = (int)mode - 6; i > level; i--) {
        uint64_t *p = (uint64_t *)host(table + ((va >> (12 + 9 * i)) & 0x1ff) * 8);
        if (!(*p & V))
            *p = ((new_table() >> 12) << 10) | V;
        table = ((*p >> 10) & ((1ULL << 44) - 1)) << 12;
    }
    uint64_t *p = (uint64_t *)host(table + ((va >> (12 + 9 * level)) & 0x1ff) * 8);
    *p = ((pa >> 12) << 10) | flags;
    return p;
}

static void use_mode(unsigned mode)
{
    h->satp = ((uint64_t)mode << 60) | (root >> 12);
    tlb_flush_all(h);
}

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(gmem_init(&bus.ram, RAM_BASE, RAM_SIZE), 0);
    assert_int_equal(bus_add_mmio(&bus, MMIO_BASE, 0x1000, &test_mmio_ops,
                                  NULL, "test"), 0);
    vclock_init(&clk);
    h = calloc(1, sizeof(*h));
    h->bus = &bus;
    h->clock = &clk;
    hart_set_priv(h, PRIV_S);
    h->mstatus = MSTATUS_XL64;
    h->mtimecmp = UINT64_MAX;
    h->mtvec = 0x80001000;
    h->stvec = 0x80002000;
    h->pc = 0x80000100;
    next_pt = PT_BASE;
    root = new_table();
    invalidated = 0;
    return 0;
}

static int teardown(void **state)
{
    gmem_destroy(&bus.ram);
    free(h);
    return 0;
}

static void test_bare_and_m_mode(void **state)
{
    gpa_t pa;
    hart_set_priv(h, PRIV_M);
    use_mode(SATP_MODE_SV39); /* M-mode ignores satp */
    assert_int_equal(mmu_translate(h, 0x80001234, ACCESS_LOAD, &pa), 0);
    assert_int_equal(pa, 0x80001234);
    hart_set_priv(h, PRIV_S);
    h->satp = 0;
    assert_int_equal(mmu_translate(h, 0x80005678, ACCESS_STORE, &pa), 0);
    assert_int_equal(pa, 0x80005678);
}

static void check_mode(unsigned mode, gva_t va)
{
    gpa_t pa;
    uint64_t *pte = map(mode, va, RAM_BASE + 0x300000, V | R | W, 0);
    use_mode(mode);
    assert_int_equal(mmu_translate(h, va + 0x123, ACCESS_LOAD, &pa), 0);
    assert_int_equal(pa, RAM_BASE + 0x300123);
    assert_true(*pte & A);
    assert_false(*pte & D);
    assert_int_equal(mmu_translate(h, va + 0x8, ACCESS_STORE, &pa), 0);
    assert_true(*pte & D);
    /* Fetch is not allowed: no X. */
    assert_int_equal(mmu_translate(h, va, ACCESS_FETCH, &pa),
                     EXC_INSN_PAGE_FAULT);
}

static void test_sv39(void **state) { check_mode(SATP_MODE_SV39, 0x40201000ULL); }
static void test_sv48(void **state)
{
    check_mode(SATP_MODE_SV48, 0x7f1234567000ULL);
    check_mode(SATP_MODE_SV48, 0xffff800000003000ULL); /* upper half */
}
static void test_sv57(void **state)
{
    check_mode(SATP_MODE_SV57, 0x00f0123456789000ULL);
    check_mode(SATP_MODE_SV57, 0xff00000000004000ULL);
}

static void test_noncanonical(void **state)
{
    gpa_t pa;
    use_mode(SATP_MODE_SV39);
    assert_int_equal(mmu_translate(h, 0x0000008000000000ULL, ACCESS_LOAD, &pa),
                     EXC_LOAD_PAGE_FAULT);
    assert_int_equal(mmu_translate(h, 0x8000000000000000ULL, ACCESS_STORE, &pa),
                     EXC_STORE_PAGE_FAULT);
    use_mode(SATP_MODE_SV48);
    assert_int_equal(mmu_translate(h, 0x0000800000000000ULL, ACCESS_FETCH, &pa),
                     EXC_INSN_PAGE_FAULT);
    use_mode(SATP_MODE_SV57);
    assert_int_equal(mmu_translate(h, 0x0100000000000000ULL, ACCESS_LOAD, &pa),
                     EXC_LOAD_PAGE_FAULT);
}

static void test_superpages(void **state)
{
    gpa_t pa;
    /* 2 MiB and 1 GiB pages in Sv39. */
    map(SATP_MODE_SV39, 0x40000000ULL, RAM_BASE + 0x200000, V | R | A, 1);
    map(SATP_MODE_SV39, 0x80000000ULL, RAM_BASE, V | R | X | A, 2);
    use_mode(SATP_MODE_SV39);
    assert_int_equal(mmu_translate(h, 0x40012345ULL, ACCESS_LOAD, &pa), 0);
    assert_int_equal(pa, RAM_BASE + 0x212345);
    assert_int_equal(mmu_translate(h, 0x80abcdefULL, ACCESS_FETCH, &pa), 0);
    assert_int_equal(pa, RAM_BASE + 0xabcdef);
    /* Misaligned superpages fault. */
    map(SATP_MODE_SV39, 0x40200000ULL, RAM_BASE + 0x201000, V | R | A, 1);
    assert_int_equal(mmu_translate(h, 0x40200000ULL, ACCESS_LOAD, &pa),
                     EXC_LOAD_PAGE_FAULT);
    map(SATP_MODE_SV39, 0xc0000000ULL, RAM_BASE + 0x200000, V | R | A, 2);
    assert_int_equal(mmu_translate(h, 0xc0000000ULL, ACCESS_LOAD, &pa),
                     EXC_LOAD_PAGE_FAULT);
    /* Sv48 512 GiB page. */
    root = new_table();
    map(SATP_MODE_SV48, 0x8000000000ULL, 0, V | R | A, 3);
    use_mode(SATP_MODE_SV48);
    assert_int_equal(mmu_translate(h, 0x8080001000ULL, ACCESS_LOAD, &pa), 0);
    assert_int_equal(pa, 0x80001000ULL);
}

static bool expect_ok(uint64_t pte, enum access acc, uint64_t priv, bool sum,
                      bool mxr)
{
    if (priv == PRIV_U && !(pte & U))
        return false;
    if (priv == PRIV_S && (pte & U) && (acc == ACCESS_FETCH || !sum))
        return false;
    if (acc == ACCESS_FETCH)
        return pte & X;
    if (acc == ACCESS_LOAD)
        return (pte & R) || (mxr && (pte & X));
    return pte & W;
}

static void test_permissions(void **state)
{
    const gva_t va = 0x12345000ULL;
    uint64_t *pte = map(SATP_MODE_SV39, va, RAM_BASE + 0x400000, V, 0);
    use_mode(SATP_MODE_SV39);
    int checked = 0;
    for (unsigned bits = 0; bits < 16; bits++) {
        uint64_t flags = V | A | D | (bits & 1 ? R : 0) | (bits & 2 ? W : 0) |
                         (bits & 4 ? X : 0) | (bits & 8 ? U : 0);
        bool leaf = flags & (R | X);
        bool reserved = (flags & (R | W)) == W;
        for (uint64_t priv = 0; priv <= 1; priv++)
            for (int sum = 0; sum < 2; sum++)
                for (int mxr = 0; mxr < 2; mxr++)
                    for (int acc = 0; acc < 3; acc++) {
                        *pte = ((RAM_BASE + 0x400000) >> 12) << 10 | flags;
                        hart_set_priv(h, priv);
                        h->mstatus = MSTATUS_XL64 | (sum ? MSTATUS_SUM : 0) |
                                     (mxr ? MSTATUS_MXR : 0);
                        tlb_flush_all(h);
                        gpa_t pa = 0;
                        int c = mmu_translate(h, va + 4, acc, &pa);
                        bool ok = leaf && !reserved &&
                                  expect_ok(flags, acc, priv, sum, mxr);
                        static const int pf[] = {12, 13, 15};
                        assert_int_equal(c, ok ? 0 : pf[acc]);
                        if (ok)
                            assert_int_equal(pa, RAM_BASE + 0x400004);
                        checked++;
                    }
    }
    assert_int_equal(checked, 16 * 2 * 2 * 2 * 3);
}

static void test_mprv(void **state)
{
    const gva_t va = 0x5000ULL;
    map(SATP_MODE_SV39, va, RAM_BASE + 0x500000, V | R | W | U | A | D, 0);
    use_mode(SATP_MODE_SV39);
    gpa_t pa;
    hart_set_priv(h, PRIV_M);
    h->mstatus = MSTATUS_XL64 | MSTATUS_MPRV | (1ULL << 11); /* MPP = S */
    /* Loads/stores translate as S: a U page needs SUM. */
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), EXC_LOAD_PAGE_FAULT);
    h->mstatus |= MSTATUS_SUM;
    tlb_flush_all(h);
    assert_int_equal(mmu_translate(h, va, ACCESS_STORE, &pa), 0);
    assert_int_equal(pa, RAM_BASE + 0x500000);
    /* MPP = U: allowed without SUM. */
    h->mstatus = MSTATUS_XL64 | MSTATUS_MPRV;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), 0);
    /* Fetches stay M-mode (bare). */
    assert_int_equal(mmu_translate(h, va, ACCESS_FETCH, &pa), 0);
    assert_int_equal(pa, va);
    /* MPP = M: bare. */
    h->mstatus = MSTATUS_XL64 | MSTATUS_MPRV | MSTATUS_MPP;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), 0);
    assert_int_equal(pa, va);
}

static void test_reserved_encodings(void **state)
{
    const gva_t va = 0x7000ULL;
    gpa_t pa;
    uint64_t *pte = map(SATP_MODE_SV39, va, RAM_BASE + 0x600000, V | R | A, 0);
    use_mode(SATP_MODE_SV39);
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), 0);
    /* Bits 63:54 (N, PBMT, reserved) without Svnapot/Svpbmt. */
    for (int b = 54; b < 64; b++) {
        *pte = (((RAM_BASE + 0x600000) >> 12) << 10) | V | R | A | (1ULL << b);
        tlb_flush_all(h);
        assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa),
                         EXC_LOAD_PAGE_FAULT);
    }
    /* Invalid. */
    *pte = (((RAM_BASE + 0x600000) >> 12) << 10) | R | A;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), EXC_LOAD_PAGE_FAULT);
    /* Pointer at level 0. */
    *pte = (((RAM_BASE + 0x600000) >> 12) << 10) | V;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), EXC_LOAD_PAGE_FAULT);
    /* A non-leaf with A, D or U set. */
    uint64_t *top = (uint64_t *)host(root); /* va's level-2 entry is 0 */
    uint64_t good = *top;
    *pte = (((RAM_BASE + 0x600000) >> 12) << 10) | V | R | A;
    for (uint64_t bit = A; bit; bit = (bit == A ? D : bit == D ? U : 0)) {
        *top = good | bit;
        assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa),
                         EXC_LOAD_PAGE_FAULT);
    }
    *top = good;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), 0);
}

static void test_ad_updates(void **state)
{
    const gva_t va = 0x9000ULL;
    gpa_t pa;
    uint64_t *pte = map(SATP_MODE_SV39, va, RAM_BASE + 0x700000, V | R | W | X, 0);
    use_mode(SATP_MODE_SV39);
    assert_int_equal(mmu_translate(h, va, ACCESS_FETCH, &pa), 0);
    assert_int_equal(*pte & (A | D), A);
    *pte &= ~A;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), 0);
    assert_int_equal(*pte & (A | D), A);
    assert_int_equal(mmu_translate(h, va, ACCESS_STORE, &pa), 0);
    assert_int_equal(*pte & (A | D), A | D);
    /* A faulting access sets nothing. */
    *pte &= ~(A | D | W);
    assert_int_equal(mmu_translate(h, va, ACCESS_STORE, &pa), EXC_STORE_PAGE_FAULT);
    assert_int_equal(*pte & (A | D), 0);
}

static void test_pte_access_fault(void **state)
{
    const gva_t va = 0xb000ULL;
    gpa_t pa;
    use_mode(SATP_MODE_SV39);
    /* Root entry points at the MMIO region, then outside everything. */
    uint64_t *top = (uint64_t *)host(root);
    *top = ((MMIO_BASE >> 12) << 10) | V;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), EXC_LOAD_ACCESS);
    assert_int_equal(mmu_translate(h, va, ACCESS_STORE, &pa), EXC_STORE_ACCESS);
    *top = ((0x40000000ULL >> 12) << 10) | V;
    assert_int_equal(mmu_translate(h, va, ACCESS_FETCH, &pa), EXC_INSN_ACCESS);
    /* satp pointing outside RAM. */
    h->satp = ((uint64_t)SATP_MODE_SV39 << 60) | 0x1000;
    assert_int_equal(mmu_translate(h, va, ACCESS_LOAD, &pa), EXC_LOAD_ACCESS);
}

static void test_fault_cause_and_tval(void **state)
{
    uint64_t v;
    use_mode(SATP_MODE_SV39);
    hart_set_priv(h, PRIV_S);
    h->pc = 0x1000;
    assert_false(mem_load_slow(h, 0xdead000, 4, &v));
    assert_int_equal(h->mcause, EXC_LOAD_PAGE_FAULT);
    assert_int_equal(h->mtval, 0xdead000);
    assert_int_equal(h->mepc, 0x1000);
    assert_int_equal(h->pc, 0x80001000);
    assert_int_equal(h->trap_pending, 1);
    /* Delegated to S this time. */
    hart_set_priv(h, PRIV_S);
    h->pc = 0x2000;
    h->medeleg = 1ULL << EXC_STORE_PAGE_FAULT;
    assert_false(mem_store_slow(h, 0xbeef008, 8, 1));
    assert_int_equal(h->scause, EXC_STORE_PAGE_FAULT);
    assert_int_equal(h->stval, 0xbeef008);
    assert_int_equal(h->sepc, 0x2000);
    assert_int_equal(h->priv, PRIV_S);
    assert_int_equal(h->pc, 0x80002000);
}

static void test_tlb_fill_and_flush(void **state)
{
    const gva_t va = 0x20000000ULL;
    uint64_t v;
    map(SATP_MODE_SV39, va, RAM_BASE + 0x100000, V | R | W | X | A, 0);
    use_mode(SATP_MODE_SV39);
    memcpy(host(RAM_BASE + 0x100010), "\x11\x22\x33\x44", 4);
    assert_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_true(mem_load_slow(h, va + 0x10, 4, &v));
    assert_int_equal(v, 0x44332211);
    struct tlb_entry *e = tlb_lookup(h, ACCESS_LOAD, va + 0x10);
    assert_non_null(e);
    assert_ptr_equal((void *)(uintptr_t)(va + 0x10 + e->addend),
                     host(RAM_BASE + 0x100010));
    /* Fast path now hits: the inline accessor reads host memory. */
    assert_true(mem_load16(h, va + 0x12, &v));
    assert_int_equal(v, 0x4433);
    /* A store through a clean page sets D, then gets an entry. */
    assert_null(tlb_lookup(h, ACCESS_STORE, va));
    assert_true(mem_store_slow(h, va + 0x20, 8, 0x0102030405060708ULL));
    assert_non_null(tlb_lookup(h, ACCESS_STORE, va));
    assert_true(mem_store32(h, va + 0x24, 0xaabbccdd));
    assert_int_equal(peek(RAM_BASE + 0x100024, 4), 0xaabbccdd);

    tlb_flush_page(h, va);
    assert_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_null(tlb_lookup(h, ACCESS_STORE, va));
    assert_true(mem_load_slow(h, va, 8, &v));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, va));
    tlb_flush_all(h);
    assert_null(tlb_lookup(h, ACCESS_LOAD, va));

    /* Many fills overflow the log: a flush still clears everything. */
    const int many = TLB_LOG_MAX + 64;
    for (int i = 0; i < many; i++) {
        gva_t p = 0x30000000ULL + (uint64_t)i * 4096;
        map(SATP_MODE_SV39, p, RAM_BASE + 0x100000, V | R | A, 0);
        assert_true(mem_load_slow(h, p, 8, &v));
    }
    assert_true(h->tlb_log_n > TLB_LOG_MAX);
    assert_non_null(tlb_lookup(h, ACCESS_LOAD,
                               0x30000000ULL + (uint64_t)(many - 1) * 4096));
    tlb_flush_all(h);
    for (int i = 0; i < many; i++)
        assert_null(tlb_lookup(h, ACCESS_LOAD, 0x30000000ULL + (uint64_t)i * 4096));

    /* Entries are tagged with the privilege level that filled them: a
     * trap and an sret keep both levels' entries, and neither level can
     * use the other's (a U-mode load must not hit the supervisor page). */
    const gva_t uva = 0x20401000ULL; /* (another slot than va) */
    map(SATP_MODE_SV39, uva, RAM_BASE + 0x101000, V | R | W | U | A | D, 0);
    h->medeleg = 1ULL << EXC_ECALL_U;
    assert_true(mem_load_slow(h, va, 8, &v));
    hart_set_priv(h, PRIV_U);
    assert_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_false(mem_load64(h, va, &v)); /* not U-accessible: a fault */
    assert_int_equal(h->mcause, EXC_LOAD_PAGE_FAULT);
    hart_set_priv(h, PRIV_U);
    assert_true(mem_load64(h, uva, &v));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, uva));
    hart_raise(h, EXC_ECALL_U, 0); /* U -> S */
    assert_int_equal(h->priv, PRIV_S);
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_null(tlb_lookup(h, ACCESS_LOAD, uva)); /* SUM is clear */
    h->sepc = 0x1000;
    hart_sret(h); /* S -> U */
    assert_int_equal(h->priv, PRIV_U);
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, uva));
    assert_null(tlb_lookup(h, ACCESS_LOAD, va));
    hart_set_priv(h, PRIV_M);
    assert_null(tlb_lookup(h, ACCESS_LOAD, uva));
    /* A per-page sfence.vma drops the page at every level; a satp
     * write drops everything. */
    tlb_flush_page(h, uva);
    hart_set_priv(h, PRIV_U);
    assert_null(tlb_lookup(h, ACCESS_LOAD, uva));
    assert_true(mem_load64(h, uva, &v));
    hart_set_priv(h, PRIV_S);
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_int_equal(hart_csr_write(h, CSR_SATP, h->satp), 0);
    assert_null(tlb_lookup(h, ACCESS_LOAD, va));
    hart_set_priv(h, PRIV_U);
    assert_null(tlb_lookup(h, ACCESS_LOAD, uva));
}

static void test_tlb_restrictions(void **state)
{
    const gva_t va = 0x21000000ULL;
    uint64_t v;
    use_mode(SATP_MODE_SV39);
    /* Read-only page: load entry, no store entry. */
    map(SATP_MODE_SV39, va, RAM_BASE + 0x110000, V | R | A, 0);
    assert_true(mem_load_slow(h, va, 4, &v));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_null(tlb_lookup(h, ACCESS_STORE, va));
    assert_null(tlb_lookup(h, ACCESS_FETCH, va));
    /* Code page: the store goes through, invalidates, but no entry. */
    map(SATP_MODE_SV39, va + 0x1000, RAM_BASE + 0x111000, V | R | W | A | D, 0);
    bus.ram.code_map[0x111] = 1;
    assert_true(mem_store_slow(h, va + 0x1000, 4, 0x1234));
    assert_int_equal(invalidated, 1);
    assert_int_equal(invalidated_pa >> 12, (RAM_BASE + 0x111000) >> 12);
    bus.ram.code_map[0x111] = 1;
    tlb_flush_all(h);
    assert_true(mem_store_slow(h, va + 0x1004, 4, 0x1234));
    assert_null(tlb_lookup(h, ACCESS_STORE, va + 0x1000));
    bus.ram.code_map[0x111] = 0;
    /* MMIO page: never entered. */
    map(SATP_MODE_SV39, va + 0x2000, MMIO_BASE, V | R | W | A | D, 0);
    assert_true(mem_load_slow(h, va + 0x2010, 4, &v));
    assert_int_equal(v, 0x1010);
    assert_null(tlb_lookup(h, ACCESS_LOAD, va + 0x2000));
    assert_true(mem_store_slow(h, va + 0x2008, 2, 0x5678));
    assert_int_equal(mmio_last_write, 0x5678);
    /* Device error -> access fault with tval = va. */
    assert_false(mem_load_slow(h, va + 0x2800, 4, &v));
    assert_int_equal(h->mcause, EXC_LOAD_ACCESS);
    assert_int_equal(h->mtval, va + 0x2800);
    hart_set_priv(h, PRIV_S);
    assert_false(mem_store_slow(h, va + 0x2800, 4, 0));
    assert_int_equal(h->mcause, EXC_STORE_ACCESS);
    /* A per-page flush inside a cached superpage drops all its slices,
     * and only those; one outside every superpage drops its own page. */
    hart_set_priv(h, PRIV_S);
    map(SATP_MODE_SV39, 0x40000000ULL, RAM_BASE, V | R | A, 1);
    tlb_flush_all(h);
    assert_true(mem_load_slow(h, 0x40003000ULL, 4, &v));
    assert_true(mem_load_slow(h, 0x40005000ULL, 4, &v));
    assert_true(mem_load_slow(h, va, 4, &v));
    tlb_flush_page(h, 0x40000000ULL);
    assert_null(tlb_lookup(h, ACCESS_LOAD, 0x40003000ULL));
    assert_null(tlb_lookup(h, ACCESS_LOAD, 0x40005000ULL));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_true(mem_load_slow(h, 0x40003000ULL, 4, &v));
    tlb_flush_page(h, va);
    assert_null(tlb_lookup(h, ACCESS_LOAD, va));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, 0x40003000ULL));
}

/* 1024 consecutive pages (two 2 MiB superpages) all stay cached: a boot
 * missed 40 % less than with 256 entries (hart.h). */
static void test_tlb_capacity(void **state)
{
    const gva_t va = 0x40000000ULL;
    uint64_t v;
    map(SATP_MODE_SV39, va, RAM_BASE, V | R | A, 1);
    map(SATP_MODE_SV39, va + 0x200000, RAM_BASE + 0x200000, V | R | A, 1);
    use_mode(SATP_MODE_SV39);
    for (unsigned k = 0; k < 1024; k++)
        assert_true(mem_load_slow(h, va + (uint64_t)k * 4096, 8, &v));
    for (unsigned k = 0; k < 1024; k++)
        assert_non_null(tlb_lookup(h, ACCESS_LOAD, va + (uint64_t)k * 4096));
}

/* Clearing SUM or MXR drops exactly the entries that only they allowed;
 * setting them, and clearing them, keeps the others (Linux toggles SUM
 * around every user copy). */
static void test_sum_mxr_flush(void **state)
{
    /* (three different TLB slots) */
    const gva_t kva = 0x22001000ULL, uva = 0x23002000ULL, xva = 0x24003000ULL;
    uint64_t v;
    map(SATP_MODE_SV39, kva, RAM_BASE + 0x120000, V | R | W | A | D, 0);
    map(SATP_MODE_SV39, uva, RAM_BASE + 0x121000, V | R | W | U | A | D, 0);
    map(SATP_MODE_SV39, xva, RAM_BASE + 0x122000, V | X | A, 0);
    use_mode(SATP_MODE_SV39);
    hart_set_priv(h, PRIV_S);
    assert_true(mem_load_slow(h, kva, 8, &v));
    assert_int_equal(hart_csr_write(h, CSR_SSTATUS, MSTATUS_SUM), 0);
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, kva)); /* setting keeps */
    assert_true(mem_load_slow(h, uva, 8, &v));
    assert_true(mem_store_slow(h, uva + 8, 8, 1));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, uva));
    assert_non_null(tlb_lookup(h, ACCESS_STORE, uva));
    assert_int_equal(hart_csr_write(h, CSR_SSTATUS, 0), 0);
    assert_null(tlb_lookup(h, ACCESS_LOAD, uva));
    assert_null(tlb_lookup(h, ACCESS_STORE, uva));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, kva));
    assert_false(mem_load_slow(h, uva, 8, &v));
    assert_int_equal(h->mcause, EXC_LOAD_PAGE_FAULT);
    hart_set_priv(h, PRIV_S); /* (the trap to M flushed everything) */
    assert_true(mem_load_slow(h, kva, 8, &v));

    /* MXR: a load of an execute-only page */
    assert_int_equal(hart_csr_write(h, CSR_SSTATUS, MSTATUS_MXR), 0);
    assert_true(mem_load_slow(h, xva, 8, &v));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, xva));
    assert_int_equal(hart_csr_write(h, CSR_SSTATUS, 0), 0);
    assert_null(tlb_lookup(h, ACCESS_LOAD, xva));
    assert_non_null(tlb_lookup(h, ACCESS_LOAD, kva));
    assert_false(mem_load_slow(h, xva, 8, &v));
    hart_set_priv(h, PRIV_S);

    /* More widened fills than the log holds: clearing flushes them all. */
    assert_int_equal(hart_csr_write(h, CSR_SSTATUS, MSTATUS_SUM), 0);
    for (int i = 0; i < TLB_PERM_MAX + 8; i++) {
        gva_t p = 0x31000000ULL + (uint64_t)i * 4096;
        map(SATP_MODE_SV39, p, RAM_BASE + 0x121000, V | R | U | A, 0);
        assert_true(mem_load_slow(h, p, 8, &v));
    }
    assert_int_equal(hart_csr_write(h, CSR_SSTATUS, 0), 0);
    for (int i = 0; i < TLB_PERM_MAX + 8; i++)
        assert_null(tlb_lookup(h, ACCESS_LOAD,
                               0x31000000ULL + (uint64_t)i * 4096));
}

static void test_page_crossing(void **state)
{
    const gva_t va = 0x22000000ULL;
    uint64_t v;
    map(SATP_MODE_SV39, va, RAM_BASE + 0x120000, V | R | W | A | D, 0);
    map(SATP_MODE_SV39, va + 0x1000, RAM_BASE + 0x125000, V | R | A, 0);
    use_mode(SATP_MODE_SV39);
    memset(host(RAM_BASE + 0x120ff0), 0xaa, 16);
    memset(host(RAM_BASE + 0x125000), 0xbb, 16);
    /* A load across the boundary reads both (discontiguous) frames. */
    assert_true(mem_load_slow(h, va + 0xffd, 8, &v));
    assert_int_equal(v, 0xbbbbbbbbbbaaaaaaULL);
    /* Misaligned within one page. */
    assert_true(mem_load_slow(h, va + 0xff1, 4, &v));
    assert_int_equal(v, 0xaaaaaaaa);
    /* Store faults on the second (read-only) page: nothing is written. */
    h->pc = 0x4444;
    assert_false(mem_store_slow(h, va + 0xffe, 4, 0x11223344));
    assert_int_equal(h->mcause, EXC_STORE_PAGE_FAULT);
    assert_int_equal(h->mtval, va + 0x1000);
    assert_int_equal(h->mepc, 0x4444);
    assert_int_equal(peek(RAM_BASE + 0x120ffe, 2), 0xaaaa);
    /* A misaligned store within the writable page works. */
    hart_set_priv(h, PRIV_S);
    assert_true(mem_store_slow(h, va + 0xff3, 4, 0x11223344));
    assert_int_equal(peek(RAM_BASE + 0x120ff3, 4), 0x11223344);
    /* And across two writable pages. */
    uint64_t *pte2 = map(SATP_MODE_SV39, va + 0x1000, RAM_BASE + 0x125000,
                         V | R | W | A, 0);
    tlb_flush_all(h);
    assert_true(mem_store_slow(h, va + 0xffc, 8, 0x0102030405060708ULL));
    assert_int_equal(peek(RAM_BASE + 0x120ffc, 4), 0x05060708);
    assert_int_equal(peek(RAM_BASE + 0x125000, 4), 0x01020304);
    assert_true(*pte2 & D);
    /* Misaligned MMIO is not emulated. */
    h->satp = 0;
    assert_false(mem_load_slow(h, MMIO_BASE + 1, 4, &v));
    assert_int_equal(h->mcause, EXC_LOAD_MISALIGNED);
    hart_set_priv(h, PRIV_S);
    assert_false(mem_load_slow(h, 0x40000001ULL, 4, &v));
    assert_int_equal(h->mcause, EXC_LOAD_ACCESS);
}

static void test_fetch16(void **state)
{
    const gva_t va = 0x23000000ULL;
    uint16_t v;
    map(SATP_MODE_SV39, va, RAM_BASE + 0x130000, V | R | X | A, 0);
    map(SATP_MODE_SV39, va + 0x1000, RAM_BASE + 0x131000, V | R | A, 0);
    use_mode(SATP_MODE_SV39);
    memcpy(host(RAM_BASE + 0x130ffe), "\x05\x45", 2);
    assert_true(mem_fetch16_slow(h, va + 0xffe, &v));
    assert_int_equal(v, 0x4505);
    assert_non_null(tlb_lookup(h, ACCESS_FETCH, va));
    h->pc = va + 0xffe;
    assert_false(mem_fetch16_slow(h, va + 0x1000, &v));
    assert_int_equal(h->mcause, EXC_INSN_PAGE_FAULT);
    assert_int_equal(h->mtval, va + 0x1000);
    assert_int_equal(h->mepc, va + 0xffe);
    /* Device memory is not executable. */
    hart_set_priv(h, PRIV_M);
    assert_false(mem_fetch16_slow(h, MMIO_BASE, &v));
    assert_int_equal(h->mcause, EXC_INSN_ACCESS);
}

static void test_atomic_ptr(void **state)
{
    const gva_t va = 0x24000000ULL;
    gpa_t pa;
    map(SATP_MODE_SV39, va, RAM_BASE + 0x140000, V | R | A, 0);
    uint64_t *pte = map(SATP_MODE_SV39, va + 0x1000, RAM_BASE + 0x141000,
                        V | R | W | A, 0);
    use_mode(SATP_MODE_SV39);
    void *p = mem_atomic_ptr(h, va + 8, 8, true, &pa);
    assert_ptr_equal(p, host(RAM_BASE + 0x140008));
    assert_int_equal(pa, RAM_BASE + 0x140008);
    assert_null(mem_atomic_ptr(h, va + 8, 8, false, &pa));
    assert_int_equal(h->mcause, EXC_STORE_PAGE_FAULT);
    hart_set_priv(h, PRIV_S);
    assert_null(mem_atomic_ptr(h, va + 4, 8, true, &pa));
    assert_int_equal(h->mcause, EXC_LOAD_MISALIGNED);
    hart_set_priv(h, PRIV_S);
    assert_null(mem_atomic_ptr(h, va + 4, 8, false, &pa));
    assert_int_equal(h->mcause, EXC_STORE_MISALIGNED);
    hart_set_priv(h, PRIV_S);
    p = mem_atomic_ptr(h, va + 0x1004, 4, false, &pa);
    assert_ptr_equal(p, host(RAM_BASE + 0x141004));
    assert_true(*pte & D);
    map(SATP_MODE_SV39, va + 0x2000, MMIO_BASE, V | R | W | A | D, 0);
    assert_null(mem_atomic_ptr(h, va + 0x2000, 4, false, &pa));
    assert_int_equal(h->mcause, EXC_STORE_ACCESS);
    hart_set_priv(h, PRIV_S);
    assert_null(mem_atomic_ptr(h, va + 0x2000, 4, true, &pa));
    assert_int_equal(h->mcause, EXC_LOAD_ACCESS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bare_and_m_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sv39, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sv48, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sv57, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noncanonical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_superpages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mprv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_encodings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ad_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pte_access_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_cause_and_tval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tlb_fill_and_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tlb_restrictions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tlb_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sum_mxr_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_crossing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch16, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_ptr, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
