/* Device tree for the virt board. Node names, compatibles and interrupt
 * wiring follow QEMU's riscv virt machine so OpenSBI's generic platform and
 * Linux drivers find everything without board-specific code. */
#include "machine/fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/memmap.h"

#define MM(r) virt_memmap[VIRT_##r]

/* Keep in step with the CPU (cpu/riscv) and with fdt_isa_ext below. */
const char fdt_isa_string[] =
    "rv64imafdc_zicntr_zicsr_zifencei_zihintpause_zihpm_zba_zbb_zbs_sstc";
static const char *const fdt_isa_ext[] = {
    "i", "m", "a", "f", "d", "c", "zicntr", "zicsr", "zifencei",
    "zihintpause", "zihpm", "zba", "zbb", "zbs", "sstc",
};

#define PLIC_NDEV 95

#define PH_PLIC FDT_PH_PLIC
#define PH_TEST FDT_PH_TEST
#define PH_CPU_INTC FDT_PH_CPU_INTC

#define CHECK(x) do { int _r = (x); if (_r < 0) { err = _r; goto fail; } } while (0)

static int prop_reg(void *fdt, uint64_t base, uint64_t size)
{
    fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
    return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int prop_stringlist(void *fdt, const char *name, const char *const *s, size_t n)
{
    char buf[512];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(s[i]) + 1;
        if (len + l > sizeof(buf))
            return -FDT_ERR_NOSPACE;
        memcpy(buf + len, s[i], l);
        len += l;
    }
    return fdt_property(fdt, name, buf, (int)len);
}

static int begin_node_at(void *fdt, const char *name, uint64_t addr)
{
    char n[64];
    snprintf(n, sizeof(n), "%s@%llx", name, (unsigned long long)addr);
    return fdt_begin_node(fdt, n);
}

/* ---- the /soc nodes, one writer per device kind ---- */

#define TRY(x) do { int _r = (x); if (_r < 0) return _r; } while (0)

int fdt_node_test(void *fdt, const struct fdt_node_ctx *c)
{
    static const char *const compat[] = { "sifive,test1", "sifive,test0", "syscon" };
    TRY(begin_node_at(fdt, "test", c->base));
    TRY(prop_stringlist(fdt, "compatible", compat, 3));
    TRY(prop_reg(fdt, c->base, c->size));
    TRY(fdt_property_u32(fdt, "phandle", PH_TEST));
    return fdt_end_node(fdt);
}

/* A device with one register window and one PLIC source. */
static int simple_node(void *fdt, const struct fdt_node_ctx *c, const char *name,
                       const char *compat, uint32_t clock_hz)
{
    TRY(begin_node_at(fdt, name, c->base));
    TRY(fdt_property_string(fdt, "compatible", compat));
    TRY(prop_reg(fdt, c->base, c->size));
    if (clock_hz)
        TRY(fdt_property_u32(fdt, "clock-frequency", clock_hz));
    TRY(fdt_property_u32(fdt, "interrupts", c->irq));
    TRY(fdt_property_u32(fdt, "interrupt-parent", PH_PLIC));
    return fdt_end_node(fdt);
}

int fdt_node_rtc(void *fdt, const struct fdt_node_ctx *c)
{
    return simple_node(fdt, c, "rtc", "google,goldfish-rtc", 0);
}

int fdt_node_uart(void *fdt, const struct fdt_node_ctx *c)
{
    return simple_node(fdt, c, "serial", "ns16550a", 0x384000);
}

int fdt_node_virtio(void *fdt, const struct fdt_node_ctx *c)
{
    return simple_node(fdt, c, "virtio_mmio", "virtio,mmio", 0);
}

/* interrupts-extended: two of each hart's local interrupts. */
static int prop_hart_irqs(void *fdt, unsigned nharts, uint32_t a, uint32_t b)
{
    fdt32_t ie[8 * 4];
    if (nharts > 8)
        return -FDT_ERR_BADVALUE;
    for (unsigned i = 0; i < nharts; i++) {
        ie[i * 4 + 0] = cpu_to_fdt32(PH_CPU_INTC + i);
        ie[i * 4 + 1] = cpu_to_fdt32(a);
        ie[i * 4 + 2] = cpu_to_fdt32(PH_CPU_INTC + i);
        ie[i * 4 + 3] = cpu_to_fdt32(b);
    }
    return fdt_property(fdt, "interrupts-extended", ie, (int)(nharts * 16));
}

int fdt_node_clint(void *fdt, const struct fdt_node_ctx *c)
{
    static const char *const compat[] = { "sifive,clint0", "riscv,clint0" };
    TRY(begin_node_at(fdt, "clint", c->base));
    TRY(prop_stringlist(fdt, "compatible", compat, 2));
    TRY(prop_reg(fdt, c->base, c->size));
    TRY(prop_hart_irqs(fdt, c->nharts, 3, 7)); /* machine software, timer */
    return fdt_end_node(fdt);
}

int fdt_node_plic(void *fdt, const struct fdt_node_ctx *c)
{
    static const char *const compat[] = { "sifive,plic-1.0.0", "riscv,plic0" };
    TRY(begin_node_at(fdt, "plic", c->base));
    TRY(prop_stringlist(fdt, "compatible", compat, 2));
    TRY(prop_reg(fdt, c->base, c->size));
    TRY(fdt_property_u32(fdt, "#address-cells", 0));
    TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
    TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
    TRY(fdt_property_u32(fdt, "riscv,ndev", PLIC_NDEV));
    /* Contexts 2i and 2i+1: M and S external. */
    TRY(prop_hart_irqs(fdt, c->nharts, 11, 9));
    TRY(fdt_property_u32(fdt, "phandle", PH_PLIC));
    return fdt_end_node(fdt);
}

int fdt_build(const struct fdt_config *cfg, void **blob, size_t *size)
{
    size_t cap = 64 * 1024;
    void *fdt = calloc(1, cap);
    int err = 0;
    if (!fdt)
        return -ENOMEM;
    if (cfg->nharts == 0 || cfg->nharts > 8 || cfg->nsoc > FDT_MAX_SOC_NODES) {
        free(fdt);
        return -EINVAL;
    }

    CHECK(fdt_create(fdt, (int)cap));
    CHECK(fdt_finish_reservemap(fdt));
    CHECK(fdt_begin_node(fdt, ""));
    CHECK(fdt_property_u32(fdt, "#address-cells", 2));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_string(fdt, "compatible", "riscv-virtio"));
    CHECK(fdt_property_string(fdt, "model", "corral,virt"));

    CHECK(fdt_begin_node(fdt, "chosen"));
    if (cfg->bootargs)
        CHECK(fdt_property_string(fdt, "bootargs", cfg->bootargs));
    char stdout_path[64];
    snprintf(stdout_path, sizeof(stdout_path), "/soc/%s@%llx", MM(UART0).name,
             (unsigned long long)MM(UART0).base);
    CHECK(fdt_property_string(fdt, "stdout-path", stdout_path));
    if (cfg->initrd_end > cfg->initrd_start) {
        CHECK(fdt_property_u64(fdt, "linux,initrd-start", cfg->initrd_start));
        CHECK(fdt_property_u64(fdt, "linux,initrd-end", cfg->initrd_end));
    }
    CHECK(fdt_end_node(fdt));

    CHECK(begin_node_at(fdt, "memory", cfg->ram_base));
    CHECK(fdt_property_string(fdt, "device_type", "memory"));
    CHECK(prop_reg(fdt, cfg->ram_base, cfg->ram_size));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_begin_node(fdt, "cpus"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 1));
    CHECK(fdt_property_u32(fdt, "#size-cells", 0));
    CHECK(fdt_property_u32(fdt, "timebase-frequency", 10000000));
    for (unsigned i = 0; i < cfg->nharts; i++) {
        CHECK(begin_node_at(fdt, "cpu", i));
        CHECK(fdt_property_string(fdt, "device_type", "cpu"));
        CHECK(fdt_property_u32(fdt, "reg", i));
        CHECK(fdt_property_string(fdt, "status", "okay"));
        CHECK(fdt_property_string(fdt, "compatible", "riscv"));
        CHECK(fdt_property_string(fdt, "riscv,isa", fdt_isa_string));
        CHECK(fdt_property_string(fdt, "riscv,isa-base", "rv64i"));
        CHECK(prop_stringlist(fdt, "riscv,isa-extensions", fdt_isa_ext,
                              sizeof(fdt_isa_ext) / sizeof(fdt_isa_ext[0])));
        CHECK(fdt_property_string(fdt, "mmu-type", cfg->mmu_type));
        CHECK(fdt_property_u32(fdt, "phandle", PH_CPU_INTC + 8 + i));
        CHECK(fdt_begin_node(fdt, "interrupt-controller"));
        CHECK(fdt_property_u32(fdt, "#address-cells", 0));
        CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
        CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
        CHECK(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
        CHECK(fdt_property_u32(fdt, "phandle", PH_CPU_INTC + i));
        CHECK(fdt_end_node(fdt));
        CHECK(fdt_end_node(fdt));
    }
    CHECK(fdt_begin_node(fdt, "cpu-map"));
    CHECK(fdt_begin_node(fdt, "cluster0"));
    for (unsigned i = 0; i < cfg->nharts; i++) {
        char n[16];
        snprintf(n, sizeof(n), "core%u", i);
        CHECK(fdt_begin_node(fdt, n));
        CHECK(fdt_property_u32(fdt, "cpu", PH_CPU_INTC + 8 + i));
        CHECK(fdt_end_node(fdt));
    }
    CHECK(fdt_end_node(fdt));
    CHECK(fdt_end_node(fdt));
    CHECK(fdt_end_node(fdt)); /* cpus */

    CHECK(fdt_begin_node(fdt, "soc"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 2));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_string(fdt, "compatible", "simple-bus"));
    CHECK(fdt_property(fdt, "ranges", NULL, 0));

    for (unsigned i = 0; i < cfg->nsoc; i++)
        CHECK(cfg->soc[i].write(fdt, &cfg->soc[i].ctx));
    CHECK(fdt_end_node(fdt)); /* soc */
    /* Outside /soc: they have no registers of their own (simple-bus
     * children must), they act through the test device's regmap. */
    CHECK(fdt_begin_node(fdt, "poweroff"));
    CHECK(fdt_property_string(fdt, "compatible", "syscon-poweroff"));
    CHECK(fdt_property_u32(fdt, "regmap", PH_TEST));
    CHECK(fdt_property_u32(fdt, "offset", 0));
    CHECK(fdt_property_u32(fdt, "value", 0x5555));
    CHECK(fdt_end_node(fdt));
    CHECK(fdt_begin_node(fdt, "reboot"));
    CHECK(fdt_property_string(fdt, "compatible", "syscon-reboot"));
    CHECK(fdt_property_u32(fdt, "regmap", PH_TEST));
    CHECK(fdt_property_u32(fdt, "offset", 0));
    CHECK(fdt_property_u32(fdt, "value", 0x7777));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_end_node(fdt)); /* root */
    CHECK(fdt_finish(fdt));
    *blob = fdt;
    *size = fdt_totalsize(fdt);
    return 0;
fail:
    free(fdt);
    return err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}
