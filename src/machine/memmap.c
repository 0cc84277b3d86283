/* The virt board's memory map (memmap.h). */
#include "machine/memmap.h"

#include "devices/clint.h"
#include "devices/goldfish_rtc.h"
#include "devices/plic.h"
#include "devices/sifive_test.h"
#include "devices/uart16550.h"
#include "virtio/virtio_mmio.h"

const struct virt_memmap_entry virt_memmap[VIRT_NREGIONS] = {
    [VIRT_TEST] = { "test", 0x00100000, SIFIVE_TEST_SIZE, 0 },
    [VIRT_RTC] = { "rtc", 0x00101000, GOLDFISH_RTC_SIZE, 11 },
    [VIRT_CLINT] = { "clint", 0x02000000, CLINT_SIZE, 0 },
    [VIRT_PLIC] = { "plic", 0x0c000000, PLIC_SIZE, 0 },
    [VIRT_UART0] = { "serial", 0x10000000, UART_SIZE, 10 },
    [VIRT_VIRTIO] = { "virtio_mmio", 0x10001000, VIRTIO_MMIO_SIZE, 1 },
    [VIRT_DRAM] = { "memory", 0x80000000, 0, 0 },
};
