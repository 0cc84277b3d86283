/* CLINT, as in QEMU's riscv virt board (SiFive CLINT / RISC-V ACLINT MSWI
 * and MTIMER devices; ACLINT spec v1.0, sections 2 and 3).
 *
 * Register map (offsets from 0x0200_0000, little-endian):
 *   0x0000 + 4*h   msip[h]      32-bit; bit 0 drives MIP.MSIP of hart h,
 *                               bits 31:1 read as zero
 *   0x4000 + 8*h   mtimecmp[h]  64-bit; 32-bit accesses to either half
 *                               work (RV32-style code and Linux may use them)
 *   0xBFF8         mtime        64-bit, also as two 32-bit halves; read-only
 *                               here: it is the VM clock (core/vclock), which
 *                               also backs the `time` CSR, and letting one
 *                               guest write move it would break the pause and
 *                               snapshot accounting. Writes are ignored.
 *
 * The hart compares `time` against its own mtimecmp (hart.h: MTIP = time >=
 * mtimecmp), so this device only stores the compare value through
 * hart_set_mtimecmp() and never raises MTIP itself. Everything a guest may
 * do that is not listed above (other offsets, sizes, misaligned accesses,
 * harts beyond nharts) reads as 0 and ignores writes. */
#include "devices/clint.h"
#include "state/state.h"

#include <errno.h>
#include <stdlib.h>

#include "cpu/riscv/hart.h"

#define CLINT_MSIP 0x0000
#define CLINT_MTIMECMP 0x4000
#define CLINT_MTIME 0xBFF8

struct clint *clint_create(struct hart *const *harts, unsigned nharts,
                           struct vclock *clock)
{
    if (!harts || nharts < 1 || nharts > CLINT_MAX_HARTS || !clock)
        return NULL;
    for (unsigned i = 0; i < nharts; i++)
        if (!harts[i])
            return NULL;
    struct clint *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (pthread_mutex_init(&c->lock, NULL)) {
        free(c);
        return NULL;
    }
    for (unsigned i = 0; i < nharts; i++)
        c->harts[i] = harts[i];
    c->nharts = nharts;
    c->clock = clock;
    clint_reset(c);
    return c;
}

void clint_destroy(struct clint *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void clint_reset(struct clint *c)
{
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->nharts; i++) {
        c->msip[i] = 0;
        hart_set_irq(c->harts[i], MIP_MSIP, false);
        hart_set_mtimecmp(c->harts[i], UINT64_MAX);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Value of the 64-bit register `reg` seen through an access of `size` at
 * byte `sub` (0 or 4) within it. */
static uint64_t clint_slice(uint64_t reg, unsigned sub, unsigned size)
{
    if (size == 8)
        return reg;
    return (uint32_t)(reg >> (sub * 8));
}

/* 64-bit register with `val` deposited at the accessed half (or whole). */
static uint64_t clint_deposit(uint64_t reg, unsigned sub, unsigned size,
                              uint64_t val)
{
    if (size == 8)
        return val;
    uint64_t mask = 0xffffffffULL << (sub * 8);
    return (reg & ~mask) | (((uint64_t)(uint32_t)val << (sub * 8)) & mask);
}

/* Width check shared by the 64-bit registers: 8 bytes aligned, or 4 bytes
 * at either half. */
static bool clint_ok64(uint64_t off, unsigned size)
{
    return (size == 8 && !(off & 7)) || (size == 4 && !(off & 3));
}

static int clint_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    struct clint *c = opaque;
    *val = 0;
    if (off < CLINT_MTIMECMP) {
        uint64_t h = off / 4;
        if (size == 4 && !(off & 3) && h < c->nharts) {
            pthread_mutex_lock(&c->lock);
            *val = c->msip[h];
            pthread_mutex_unlock(&c->lock);
        }
    } else if (off < CLINT_MTIME) {
        uint64_t h = (off - CLINT_MTIMECMP) / 8;
        if (clint_ok64(off, size) && h < c->nharts)
            *val = clint_slice(atomic_load(&c->harts[h]->mtimecmp), off & 7,
                               size);
    } else if (off - CLINT_MTIME < 8 && clint_ok64(off, size)) {
        *val = clint_slice(vclock_ticks(c->clock), off & 7, size);
    }
    return 0;
}

static int clint_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct clint *c = opaque;
    if (off < CLINT_MTIMECMP) {
        uint64_t h = off / 4;
        if (size != 4 || (off & 3) || h >= c->nharts)
            return 0;
        pthread_mutex_lock(&c->lock);
        c->msip[h] = val & 1;
        hart_set_irq(c->harts[h], MIP_MSIP, val & 1);
        pthread_mutex_unlock(&c->lock);
    } else if (off < CLINT_MTIME) {
        uint64_t h = (off - CLINT_MTIMECMP) / 8;
        if (!clint_ok64(off, size) || h >= c->nharts)
            return 0;
        /* The lock makes the half-register read-modify-write atomic against
         * another hart writing the other half. */
        pthread_mutex_lock(&c->lock);
        struct hart *hart = c->harts[h];
        uint64_t cmp = clint_deposit(atomic_load(&hart->mtimecmp), off & 7,
                                     size, val);
        hart_set_mtimecmp(hart, cmp);
        pthread_mutex_unlock(&c->lock);
    }
    /* mtime: read-only (see the top of the file). */
    return 0;
}

static const struct mmio_ops clint_mmio_ops = {
    .read = clint_read,
    .write = clint_write,
};

int clint_attach(struct clint *c, struct bus *b, gpa_t base)
{
    return bus_add_mmio(b, base, CLINT_SIZE, &clint_mmio_ops, c, "clint");
}

void clint_save(const struct clint *c, struct clint_state *out)
{
    struct clint *mc = (struct clint *)c; /* the lock only */
    *out = (struct clint_state){ .nharts = c->nharts };
    pthread_mutex_lock(&mc->lock);
    for (unsigned i = 0; i < c->nharts; i++) {
        out->msip[i] = c->msip[i];
        out->mtimecmp[i] = atomic_load(&c->harts[i]->mtimecmp);
    }
    pthread_mutex_unlock(&mc->lock);
}

int clint_load(struct clint *c, const struct clint_state *in)
{
    if (in->nharts != c->nharts)
        return -EINVAL;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->nharts; i++) {
        c->msip[i] = in->msip[i] & 1;
        hart_set_irq(c->harts[i], MIP_MSIP, c->msip[i]);
        hart_set_mtimecmp(c->harts[i], in->mtimecmp[i]);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* ---- saved state: section "clint", version 1 ----
 * u32 nharts, then per hart: u32 msip, u64 mtimecmp. */
void clint_save_state(const struct clint *c, struct state_out *o)
{
    struct clint_state s;
    clint_save(c, &s);
    state_put_u32(o, s.nharts);
    for (unsigned i = 0; i < s.nharts; i++) {
        state_put_u32(o, s.msip[i]);
        state_put_u64(o, s.mtimecmp[i]);
    }
}

int clint_load_state(struct clint *c, struct state_in *in, uint32_t version)
{
    struct clint_state s = { .nharts = state_get_u32(in) };
    if (state_in_status(in))
        return -EINVAL;
    if (s.nharts != c->nharts)
        return state_in_fail(in, "saved with %u harts, this machine has %u", s.nharts,
                             c->nharts);
    for (unsigned i = 0; i < s.nharts; i++) {
        s.msip[i] = state_get_u32(in);
        s.mtimecmp[i] = state_get_u64(in);
    }
    if (state_in_status(in))
        return -EINVAL;
    return clint_load(c, &s) ? state_in_fail(in, "inconsistent CLINT state") : 0;
}
