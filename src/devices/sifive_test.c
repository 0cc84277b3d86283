/* SiFive test finisher, as in QEMU's riscv virt board (hw/misc/sifive_test;
 * the device has no public datasheet: its contract is what OpenSBI's
 * sifive-test reset driver and Linux's syscon-poweroff write).
 *
 * Register map (offset from 0x0010_0000):
 *   0x0  W  bits 15:0 = status, bits 31:16 = code
 *           0x5555 pass (poweroff), 0x3333 fail with exit code `code`,
 *           0x7777 reset; other status values are ignored.  R: 0
 * 16-bit writes (OpenSBI uses writew) and 32-bit writes (Linux's syscon
 * regmap) are accepted; other sizes, offsets and all reads are harmless
 * no-ops. No state, so no lock: the callback is the whole effect. */
#include "devices/sifive_test.h"
#include "state/state.h"

#include <stdlib.h>

#define FINISHER_FAIL 0x3333
#define FINISHER_PASS 0x5555
#define FINISHER_RESET 0x7777

struct sifive_test *sifive_test_create(sifive_test_event_fn *on_event,
                                       void *opaque)
{
    if (!on_event)
        return NULL;
    struct sifive_test *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->on_event = on_event;
    t->opaque = opaque;
    return t;
}

void sifive_test_destroy(struct sifive_test *t)
{
    free(t);
}

static int sifive_test_read(void *opaque, uint64_t off, unsigned size,
                            uint64_t *val)
{
    *val = 0;
    return 0;
}

static int sifive_test_write(void *opaque, uint64_t off, unsigned size,
                             uint64_t val)
{
    struct sifive_test *t = opaque;
    if (off != 0 || (size != 2 && size != 4))
        return 0;
    unsigned status = val & 0xffff;
    unsigned code = (val >> 16) & 0xffff;
    switch (status) {
    case FINISHER_PASS:
        t->on_event(t->opaque, SIFIVE_TEST_PASS, 0);
        break;
    case FINISHER_FAIL:
        t->on_event(t->opaque, SIFIVE_TEST_FAIL, code);
        break;
    case FINISHER_RESET:
        t->on_event(t->opaque, SIFIVE_TEST_RESET, 0);
        break;
    }
    return 0;
}

static const struct mmio_ops sifive_test_mmio_ops = {
    .read = sifive_test_read,
    .write = sifive_test_write,
};

int sifive_test_attach(struct sifive_test *t, struct bus *b, gpa_t base)
{
    return bus_add_mmio(b, base, SIFIVE_TEST_SIZE, &sifive_test_mmio_ops, t,
                        "sifive-test");
}

void sifive_test_save(const struct sifive_test *t,
                      struct sifive_test_state *out)
{
    *out = (struct sifive_test_state){ 0 };
}

int sifive_test_load(struct sifive_test *t, const struct sifive_test_state *in)
{
    return 0;
}

/* ---- saved state: section "test-finisher", version 1: no fields (the
 * device has no registers that hold a value). */
void sifive_test_save_state(const struct sifive_test *t, struct state_out *o)
{
}

int sifive_test_load_state(struct sifive_test *t, struct state_in *in, uint32_t version)
{
    return state_in_status(in);
}
