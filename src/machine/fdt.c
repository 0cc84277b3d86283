/* Device tree for the virt board. Node names, compatibles and interrupt
 * wiring follow QEMU's riscv virt machine so OpenSBI's generic platform and
 * Linux drivers find everything without board-specific code. */
#include "machine/fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/clint.h"
#include "devices/goldfish_rtc.h"
#include "devices/plic.h"
#include "devices/sifive_test.h"
#include "devices/uart16550.h"
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

enum { PH_PLIC = 1, PH_TEST = 2, PH_CPU_INTC = 16 /* + hart */ };

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

int fdt_build(const struct fdt_config *cfg, void **blob, size_t *size)
{
    size_t cap = 64 * 1024;
    void *fdt = calloc(1, cap);
    int err = 0;
    if (!fdt)
        return -ENOMEM;
    if (cfg->nharts == 0 || cfg->nharts > 8 || cfg->nvirtio > FDT_MAX_VIRTIO) {
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

    {
        static const char *const test_compat[] = { "sifive,test1", "sifive,test0", "syscon" };
        CHECK(begin_node_at(fdt, "test", MM(TEST).base));
        CHECK(prop_stringlist(fdt, "compatible", test_compat, 3));
        CHECK(prop_reg(fdt, MM(TEST).base, MM(TEST).size));
        CHECK(fdt_property_u32(fdt, "phandle", PH_TEST));
        CHECK(fdt_end_node(fdt));
    }
    CHECK(begin_node_at(fdt, "rtc", MM(RTC).base));
    CHECK(fdt_property_string(fdt, "compatible", "google,goldfish-rtc"));
    CHECK(prop_reg(fdt, MM(RTC).base, MM(RTC).size));
    CHECK(fdt_property_u32(fdt, "interrupts", MM(RTC).irq));
    CHECK(fdt_property_u32(fdt, "interrupt-parent", PH_PLIC));
    CHECK(fdt_end_node(fdt));

    CHECK(begin_node_at(fdt, "serial", MM(UART0).base));
    CHECK(fdt_property_string(fdt, "compatible", "ns16550a"));
    CHECK(prop_reg(fdt, MM(UART0).base, MM(UART0).size));
    CHECK(fdt_property_u32(fdt, "clock-frequency", 0x384000));
    CHECK(fdt_property_u32(fdt, "interrupts", MM(UART0).irq));
    CHECK(fdt_property_u32(fdt, "interrupt-parent", PH_PLIC));
    CHECK(fdt_end_node(fdt));

    /* Virtio slots in ascending order: Linux probes nodes in blob order,
     * so slot 0 becomes virtio0 and the first disk /dev/vda. (QEMU writes
     * them highest first, but its node insertion reverses the order.) */
    for (int n = 0; n < (int)cfg->nvirtio; n++) {
        uint64_t base = virt_virtio_base((unsigned)n);
        CHECK(begin_node_at(fdt, "virtio_mmio", base));
        CHECK(fdt_property_string(fdt, "compatible", "virtio,mmio"));
        CHECK(prop_reg(fdt, base, MM(VIRTIO).size));
        CHECK(fdt_property_u32(fdt, "interrupts", virt_virtio_irq((unsigned)n)));
        CHECK(fdt_property_u32(fdt, "interrupt-parent", PH_PLIC));
        CHECK(fdt_end_node(fdt));
    }

    {
        static const char *const clint_compat[] = { "sifive,clint0", "riscv,clint0" };
        fdt32_t ie[8 * 4];
        CHECK(begin_node_at(fdt, "clint", MM(CLINT).base));
        CHECK(prop_stringlist(fdt, "compatible", clint_compat, 2));
        CHECK(prop_reg(fdt, MM(CLINT).base, MM(CLINT).size));
        for (unsigned i = 0; i < cfg->nharts; i++) {
            ie[i * 4 + 0] = cpu_to_fdt32(PH_CPU_INTC + i);
            ie[i * 4 + 1] = cpu_to_fdt32(3); /* machine software */
            ie[i * 4 + 2] = cpu_to_fdt32(PH_CPU_INTC + i);
            ie[i * 4 + 3] = cpu_to_fdt32(7); /* machine timer */
        }
        CHECK(fdt_property(fdt, "interrupts-extended", ie, (int)(cfg->nharts * 16)));
        CHECK(fdt_end_node(fdt));
    }
    {
        static const char *const plic_compat[] = { "sifive,plic-1.0.0", "riscv,plic0" };
        fdt32_t ie[8 * 4];
        CHECK(begin_node_at(fdt, "plic", MM(PLIC).base));
        CHECK(prop_stringlist(fdt, "compatible", plic_compat, 2));
        CHECK(prop_reg(fdt, MM(PLIC).base, MM(PLIC).size));
        CHECK(fdt_property_u32(fdt, "#address-cells", 0));
        CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
        CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
        CHECK(fdt_property_u32(fdt, "riscv,ndev", PLIC_NDEV));
        for (unsigned i = 0; i < cfg->nharts; i++) {
            ie[i * 4 + 0] = cpu_to_fdt32(PH_CPU_INTC + i);
            ie[i * 4 + 1] = cpu_to_fdt32(11); /* M external: context 2i */
            ie[i * 4 + 2] = cpu_to_fdt32(PH_CPU_INTC + i);
            ie[i * 4 + 3] = cpu_to_fdt32(9);  /* S external: context 2i+1 */
        }
        CHECK(fdt_property(fdt, "interrupts-extended", ie, (int)(cfg->nharts * 16)));
        CHECK(fdt_property_u32(fdt, "phandle", PH_PLIC));
        CHECK(fdt_end_node(fdt));
    }
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
