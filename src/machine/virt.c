/* The virt board: builds the machine from its configuration, places the
 * boot images, and runs one host thread per hart. */
#include "machine/virt.h"

#include <errno.h>
#include <libfdt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "core/iothread.h"
#include "core/log.h"
#include "core/seccomp.h"
#include "cpu/riscv/hart.h"
#include "cpu/riscv/jit.h"
#include "devices/clint.h"
#include "devices/goldfish_rtc.h"
#include "devices/plic.h"
#include "devices/sifive_test.h"
#include "devices/uart16550.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_input.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"
#include "devices/virtio_vsock.h"
#include "net/net.h"
#include "machine/fdt.h"
#include "machine/loader.h"
#include "machine/memmap.h"

#define MiB (1024ULL * 1024)
#define FDT_SLACK (64 * 1024) /* room for OpenSBI's in-place fixups */

static void finisher_event(void *opaque, enum sifive_test_event ev, unsigned code)
{
    struct machine *m = opaque;
    switch (ev) {
    case SIFIVE_TEST_PASS:
        machine_request_stop(m, MACHINE_POWEROFF, 0);
        break;
    case SIFIVE_TEST_FAIL:
        machine_request_stop(m, MACHINE_FAIL, (int)code);
        break;
    case SIFIVE_TEST_RESET:
        machine_request_stop(m, MACHINE_RESET, 0);
        break;
    }
}

static void console_sink(void *opaque, const uint8_t *buf, size_t len)
{
    struct machine *m = opaque;
    if (m->cfg.console_write)
        m->cfg.console_write(m->cfg.console_opaque, buf, len);
}

static void console_rx_ready(void *opaque)
{
    struct machine *m = opaque;
    uint64_t one = 1;
    /* The main loop reads more host input once the guest drained the FIFO. */
    if (write(m->wake_fd, &one, sizeof(one)) < 0) {
        /* eventfd counter saturated: the loop is awake anyway */
    }
}

static int add_virtio_slot(struct machine *m, struct virtio_dev *d, char *err)
{
    unsigned slot = m->nvirtio;
    int r = virtio_mmio_attach(d, &m->bus, virt_virtio_base(slot));
    if (r) {
        snprintf(err, VIRT_ERR_LEN, "cannot map virtio slot %u: %s", slot, strerror(-r));
        return r;
    }
    m->virtio[m->nvirtio++] = d;
    return 0;
}

static struct irq_line next_slot_irq(struct machine *m)
{
    return plic_irq_line(m->plic, virt_virtio_irq(m->nvirtio));
}

static void destroy_virtio(struct machine *m)
{
    if (m->io)
        iothread_stop(m->io);
    for (unsigned i = 0; i < MACHINE_MAX_DISKS; i++) {
        virtio_blk_destroy(m->blk[i]);
        m->blk[i] = NULL;
    }
    for (unsigned i = 0; i < MACHINE_MAX_NICS; i++) {
        virtio_net_destroy(m->net[i]);
        m->net[i] = NULL;
    }
    virtio_rng_destroy(m->rng);
    m->rng = NULL;
    virtio_balloon_destroy(m->balloon);
    m->balloon = NULL;
    virtio_vsock_destroy(m->vsock);
    m->vsock = NULL;
    virtio_input_destroy(m->power_button);
    m->power_button = NULL;
    m->nvirtio = 0;
    iothread_timer_free(m->throttle_timer);
    m->throttle_timer = NULL;
    iothread_destroy(m->io);
    m->io = NULL;
}

static int create_balloon(struct machine *m, char *err)
{
    const struct machine_config *c = &m->cfg;
    struct virtio_balloon_opts o = {
        .deflate_on_oom = c->balloon_deflate_on_oom,
        .free_page_reporting = c->balloon_reporting,
        .stats_interval_s = c->balloon_stats_s,
        .target_pages = (uint32_t)(c->balloon_mib << (20 - VIRTIO_BALLOON_PFN_SHIFT)),
    };
    if (c->balloon_mib > c->mem_size / MiB) {
        snprintf(err, VIRT_ERR_LEN, "balloon: target %llu MiB is larger than the guest's "
                 "%llu MiB", (unsigned long long)c->balloon_mib,
                 (unsigned long long)(c->mem_size / MiB));
        return -EINVAL;
    }
    m->balloon = virtio_balloon_create(&m->bus.ram, m->io, next_slot_irq(m), &o);
    if (!m->balloon) {
        snprintf(err, VIRT_ERR_LEN, "balloon: cannot create the device");
        return -ENOMEM;
    }
    return add_virtio_slot(m, virtio_balloon_dev(m->balloon), err);
}

static int create_vsock(struct machine *m, char *err)
{
    char why[VIRT_ERR_LEN - 16];
    m->vsock = virtio_vsock_create(m->cfg.vsock_cid, m->cfg.vsock_uds, &m->bus.ram, m->io,
                                   next_slot_irq(m), why, sizeof(why));
    if (!m->vsock) {
        snprintf(err, VIRT_ERR_LEN, "vsock: %s", why);
        return -EINVAL;
    }
    return add_virtio_slot(m, virtio_vsock_dev(m->vsock), err);
}

/* Disks, NICs, the rng, the balloon, vsock and the power button into slots 0..
 * in that order. Host-side problems (missing image, busy port, no TAP)
 * fail here, before the guest starts, with one line in `err`. */
static int create_virtio(struct machine *m, char *err)
{
    const struct machine_config *c = &m->cfg;
    int r;
    if (c->ndisks > MACHINE_MAX_DISKS || c->nnets > MACHINE_MAX_NICS) {
        snprintf(err, VIRT_ERR_LEN, "at most %d disks and %d network interfaces",
                 MACHINE_MAX_DISKS, MACHINE_MAX_NICS);
        return -EINVAL;
    }
    /* One slot is the power button's. */
    if (c->ndisks + c->nnets + (c->rng ? 1 : 0) + (c->balloon ? 1 : 0) + (c->vsock_cid ? 1 : 0) >
        VIRTIO_MMIO_SLOTS - 1) {
        snprintf(err, VIRT_ERR_LEN, "too many virtio devices: %u disks + %u NICs%s%s%s > %d slots",
                 c->ndisks, c->nnets, c->rng ? " + rng" : "", c->balloon ? " + balloon" : "",
                 c->vsock_cid ? " + vsock" : "", VIRTIO_MMIO_SLOTS - 1);
        return -EINVAL;
    }
    if ((r = iothread_create(&m->io)) || (r = machine_throttle_init(m))) {
        snprintf(err, VIRT_ERR_LEN, "cannot create the I/O thread: %s", strerror(-r));
        return r;
    }
    for (unsigned i = 0; i < c->ndisks; i++) {
        const struct machine_disk *dk = &c->disks[i];
        struct blk_backend *be;
        if (!dk->path) {
            snprintf(err, VIRT_ERR_LEN, "--disk: no file given");
            return -EINVAL;
        }
        struct blk_open_opts bo = { .format = dk->format, .readonly = dk->readonly,
                                    .inactive = dk->inactive };
        if (dk->cache && blk_parse_cache(dk->cache, &bo.cache)) {
            snprintf(err, VIRT_ERR_LEN, "--disk %s: cache=%s: writeback, none or unsafe",
                     dk->path, dk->cache);
            return -EINVAL;
        }
        if ((r = blk_open_ex(dk->path, &bo, &be, err, VIRT_ERR_LEN)))
            return r;
        snprintf(m->disk_serial[i], sizeof(m->disk_serial[i]), "%s",
                 dk->serial ? dk->serial : "");
        if (!dk->serial)
            snprintf(m->disk_serial[i], sizeof(m->disk_serial[i]), "corral-disk%u", i);
        m->blk[i] = virtio_blk_create(be, m->disk_serial[i], &m->bus.ram, m->io,
                                      next_slot_irq(m));
        if (!m->blk[i]) {
            blk_close(be);
            snprintf(err, VIRT_ERR_LEN, "--disk %s: cannot create the device", dk->path);
            return -ENOMEM;
        }
        virtio_blk_set_rate_limit(m->blk[i], &dk->rate_limit);
        if ((r = add_virtio_slot(m, virtio_blk_dev(m->blk[i]), err)))
            return r;
    }
    for (unsigned i = 0; i < c->nnets; i++) {
        const struct machine_net *nc = &c->nets[i];
        struct net_backend *nb;
        if (nc->kind == MACHINE_NET_TAP)
            r = net_tap_open(m->io, nc->tap_name, nc->bridge, &nb, err, VIRT_ERR_LEN);
        else if (nc->kind == MACHINE_NET_VDE)
            r = net_vde_open(m->io, nc->vde_path, &nb, err, VIRT_ERR_LEN);
        else
            r = net_user_open(m->io, nc->hostfwd, nc->nhostfwd, &nb, err, VIRT_ERR_LEN);
        if (r)
            return r;
        if (nc->mmds && nc->kind == MACHINE_NET_USER) {
            if ((r = net_user_attach_mmds(nb, nc->mmds, err, VIRT_ERR_LEN))) {
                net_close(nb);
                return r;
            }
        } else if (nc->mmds) {
            struct net_backend *link = nb;
            if ((r = net_mmds_wrap(m->io, link, nc->mmds, &nb, err, VIRT_ERR_LEN))) {
                net_close(link);
                return r;
            }
        }
        uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + i) };
        if (nc->mac_set)
            memcpy(mac, nc->mac, 6);
        memcpy(m->nic_mac[i], mac, 6);
        m->net[i] = virtio_net_create(nb, mac, &m->bus.ram, m->io, next_slot_irq(m));
        if (!m->net[i]) {
            net_close(nb);
            snprintf(err, VIRT_ERR_LEN, "--net: cannot create the device");
            return -ENOMEM;
        }
        virtio_net_set_rate_limits(m->net[i], &nc->rx_limit, &nc->tx_limit);
        if ((r = add_virtio_slot(m, virtio_net_dev(m->net[i]), err)))
            return r;
    }
    if (c->rng) {
        m->rng = virtio_rng_create(&m->bus.ram, m->io, next_slot_irq(m));
        if (!m->rng) {
            snprintf(err, VIRT_ERR_LEN, "--rng: cannot create the device");
            return -ENOMEM;
        }
        if ((r = add_virtio_slot(m, virtio_rng_dev(m->rng), err)))
            return r;
    }
    if (c->balloon && (r = create_balloon(m, err)))
        return r;
    if (c->vsock_cid && (r = create_vsock(m, err)))
        return r;
    /* Last, so that adding it moved no other device. */
    m->power_button = virtio_input_create(&m->bus.ram, m->io, next_slot_irq(m));
    if (!m->power_button) {
        snprintf(err, VIRT_ERR_LEN, "power button: cannot create the device");
        return -ENOMEM;
    }
    return add_virtio_slot(m, virtio_input_dev(m->power_button), err);
}

int machine_create(struct machine **out, const struct machine_config *cfg, char *err)
{
    int r;
    struct machine *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, VIRT_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    m->cfg = *cfg;
    if (!m->cfg.mmu_type)
        m->cfg.mmu_type = "riscv,sv57";
    m->nharts = cfg->ncpus;
    m->wake_fd = -1;
    if (m->nharts < 1 || m->nharts > VIRT_MAX_HARTS) {
        snprintf(err, VIRT_ERR_LEN, "--cpus %u: must be 1..%d", m->nharts, VIRT_MAX_HARTS);
        r = -EINVAL;
        goto err_free;
    }
    if (cfg->mem_size < 16 * MiB || cfg->mem_size > 64ULL * 1024 * MiB ||
        (cfg->mem_size & (MiB - 1))) {
        snprintf(err, VIRT_ERR_LEN,
                 "--memory: %llu bytes is not a whole number of MiB between 16M and 64G",
                 (unsigned long long)cfg->mem_size);
        r = -EINVAL;
        goto err_free;
    }
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->wake_fd < 0) {
        r = -errno;
        snprintf(err, VIRT_ERR_LEN, "eventfd: %s", strerror(errno));
        goto err_free;
    }
    vclock_init(&m->clock);
    pthread_mutex_init(&m->pause_lock, NULL);
    pthread_cond_init(&m->pause_cond, NULL);
    r = gmem_init(&m->bus.ram, virt_memmap[VIRT_DRAM].base, cfg->mem_size);
    if (r) {
        snprintf(err, VIRT_ERR_LEN, "cannot allocate %llu MiB of guest RAM: %s",
                 (unsigned long long)(cfg->mem_size / MiB), strerror(-r));
        goto err_free;
    }
    /* THP only when no balloon: khugepaged would fill the holes the
     * balloon punches back in (max_ptes_none), undoing the release. */
    if ((r = gmem_advise(&m->bus.ram, cfg->mem_merge, !cfg->balloon))) {
        if (cfg->mem_merge) {
            snprintf(err, VIRT_ERR_LEN, "--mem-merge on: madvise(MADV_MERGEABLE): %s "
                     "(host kernel without KSM?)", strerror(-r));
            goto err_ram;
        }
        log_info("guest RAM: no transparent huge pages (%s)", strerror(-r));
    }
    for (unsigned i = 0; i < m->nharts; i++) {
        m->harts[i] = calloc(1, sizeof(struct hart));
        if (!m->harts[i] || hart_init(m->harts[i], i, &m->bus, &m->clock)) {
            free(m->harts[i]);
            m->harts[i] = NULL;
            snprintf(err, VIRT_ERR_LEN, "cannot create hart %u", i);
            r = -ENOMEM;
            goto err_harts;
        }
    }
    struct jit_options jo;
    int engine = cpu_engine_resolve(cfg->cpu_engine, &jo);
    for (unsigned i = 0; i < m->nharts; i++) {
        int er = hart_set_engine(m->harts[i], engine, &jo);
        if (er) {
            /* no executable memory (a hardened host): the interpreter is
             * exact, only slower */
            log_warn("cpu engine jit unavailable (%s): using the interpreter", strerror(-er));
            engine = CPU_ENGINE_INTERP;
            for (unsigned k = 0; k < m->nharts; k++)
                (void)!hart_set_engine(m->harts[k], engine, &jo);
            break;
        }
    }
    m->clint = clint_create(m->harts, m->nharts, &m->clock);
    m->plic = plic_create(m->harts, m->nharts);
    struct uart_backend be = {
        .write = console_sink, .rx_ready = console_rx_ready, .opaque = m,
    };
    m->uart = m->plic ? uart_create(&be, plic_irq_line(m->plic, virt_memmap[VIRT_UART0].irq)) : NULL;
    m->rtc = m->plic ? goldfish_rtc_create(plic_irq_line(m->plic, virt_memmap[VIRT_RTC].irq)) : NULL;
    m->finisher = sifive_test_create(finisher_event, m);
    if (!m->clint || !m->plic || !m->uart || !m->rtc || !m->finisher) {
        snprintf(err, VIRT_ERR_LEN, "cannot create the platform devices");
        r = -ENOMEM;
        goto err_devices;
    }
    if ((r = clint_attach(m->clint, &m->bus, virt_memmap[VIRT_CLINT].base)) ||
        (r = plic_attach(m->plic, &m->bus, virt_memmap[VIRT_PLIC].base)) ||
        (r = uart_attach(m->uart, &m->bus, virt_memmap[VIRT_UART0].base)) ||
        (r = goldfish_rtc_attach(m->rtc, &m->bus, virt_memmap[VIRT_RTC].base)) ||
        (r = sifive_test_attach(m->finisher, &m->bus, virt_memmap[VIRT_TEST].base))) {
        snprintf(err, VIRT_ERR_LEN, "cannot map the platform devices: %s", strerror(-r));
        goto err_devices;
    }
    if ((r = create_virtio(m, err)))
        goto err_virtio;
    if ((r = machine_build_device_table(m))) {
        snprintf(err, VIRT_ERR_LEN, "too many devices");
        goto err_virtio;
    }
    *out = m;
    return 0;

err_virtio:
    destroy_virtio(m);
err_devices:
    if (m->finisher)
        sifive_test_destroy(m->finisher);
    if (m->rtc)
        goldfish_rtc_destroy(m->rtc);
    if (m->uart)
        uart_destroy(m->uart);
    if (m->plic)
        plic_destroy(m->plic);
    if (m->clint)
        clint_destroy(m->clint);
err_harts:
    for (unsigned i = 0; i < m->nharts; i++) {
        if (m->harts[i]) {
            hart_destroy(m->harts[i]);
            free(m->harts[i]);
        }
    }
err_ram:
    gmem_destroy(&m->bus.ram);
err_free:
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    free(m);
    return r;
}

void machine_destroy(struct machine *m)
{
    if (!m)
        return;
    if (m->threads_running) {
        machine_request_stop(m, MACHINE_QUIT, 0);
        machine_join(m);
    }
    destroy_virtio(m);
    sifive_test_destroy(m->finisher);
    goldfish_rtc_destroy(m->rtc);
    uart_destroy(m->uart);
    plic_destroy(m->plic);
    clint_destroy(m->clint);
    for (unsigned i = 0; i < m->nharts; i++) {
        hart_destroy(m->harts[i]);
        free(m->harts[i]);
    }
    gmem_destroy(&m->bus.ram);
    close(m->wake_fd);
    free(m);
}

/* Where things go: firmware at the base of RAM, the kernel at its
 * text_offset, the initramfs past the kernel's image_size (its bss), the
 * device tree near the top with fw_dynamic_info just below it. */
static int place_fdt(struct machine *m, gpa_t initrd_start, gpa_t initrd_end, char *err)
{
    struct fdt_config fc = {
        .nharts = m->nharts,
        .ram_base = m->bus.ram.base,
        .ram_size = m->bus.ram.size,
        .bootargs = m->cfg.cmdline ? m->cfg.cmdline : "",
        .initrd_start = initrd_start,
        .initrd_end = initrd_end,
        .mmu_type = m->cfg.mmu_type,
    };
    struct fdt_soc_node soc[FDT_MAX_SOC_NODES];
    for (unsigned i = 0; i < m->ndevices && fc.nsoc < FDT_MAX_SOC_NODES; i++) {
        const struct machine_device *d = &m->devices[i];
        if (d->ops->fdt_node)
            soc[fc.nsoc++] = (struct fdt_soc_node){
                .write = d->ops->fdt_node,
                .ctx = { .base = d->base, .size = d->size, .irq = d->irq,
                         .nharts = m->nharts },
            };
    }
    fc.soc = soc;
    void *blob;
    size_t size;
    if (fdt_build(&fc, &blob, &size)) {
        snprintf(err, VIRT_ERR_LEN, "cannot build the device tree");
        return -EINVAL;
    }
    size_t room = size + FDT_SLACK;
    void *big = calloc(1, room);
    if (!big || fdt_open_into(blob, big, (int)room) != 0) {
        free(blob);
        free(big);
        snprintf(err, VIRT_ERR_LEN, "cannot build the device tree");
        return -ENOMEM;
    }
    free(blob);
    gpa_t ram_end = m->bus.ram.base + m->bus.ram.size;
    m->fdt_addr = (ram_end - room - MiB) & ~(MiB - 1);
    m->info_addr = m->fdt_addr - 4096;
    if (initrd_end > m->info_addr) {
        free(big);
        snprintf(err, VIRT_ERR_LEN, "%s: the initramfs does not fit below the device tree "
                 "(needs RAM up to 0x%llx; give more --memory)",
                 m->cfg.initrd, (unsigned long long)(initrd_end + room + 2 * MiB));
        return -ENOSPC;
    }
    int r = loader_place(&m->bus.ram, m->fdt_addr, big, room, "device tree", "blob", err);
    free(big);
    return r;
}

/* OpenSBI's fw_dynamic_info (firmware/fw_dynamic.S): where to jump next. */
static void place_fw_dynamic_info(struct machine *m, gpa_t next_addr)
{
    uint64_t info[6] = {
        0x4942534fULL, /* magic "OSBI" */
        2,             /* version */
        next_addr,
        1,             /* next_mode: S */
        0,             /* options */
        (uint64_t)-1,  /* boot_hart: any (lottery) */
    };
    if (gmem_write(&m->bus.ram, m->info_addr, info, sizeof(info)))
        log_warn("cannot write fw_dynamic_info");
}

int machine_load(struct machine *m, char *err)
{
    uint8_t *buf = NULL;
    size_t len;
    int r;
    struct gmem *ram = &m->bus.ram;

    if (m->cfg.test_elf) {
        r = loader_load_elf(ram, m->cfg.test_elf, &m->entry, &m->tohost, err);
        if (r)
            return r;
        r = place_fdt(m, 0, 0, err);
        if (r)
            return r;
        goto reset;
    }

    if (!m->cfg.kernel) {
        snprintf(err, VIRT_ERR_LEN, "no kernel given (--kernel PATH)");
        return -EINVAL;
    }
    /* Firmware at the start of RAM. */
    if (!m->cfg.firmware) {
        snprintf(err, VIRT_ERR_LEN, "no firmware given (--firmware fw_dynamic.bin)");
        return -EINVAL;
    }
    if ((r = loader_load_blob(ram, ram->base, m->cfg.firmware, "firmware", &len, err)))
        return r;

    /* Kernel at its text_offset; reserve image_size (bss included). */
    struct riscv_image_info info;
    if ((r = loader_read_file_max(m->cfg.kernel, ram->size, &buf, &len, err)))
        return r;
    r = loader_parse_riscv_image(buf, len, m->cfg.kernel, &info, err);
    if (r) {
        free(buf);
        return r;
    }
    gpa_t kaddr = ram->base + (info.text_offset ? info.text_offset : 2 * MiB);
    if (len > 2 * MiB && kaddr - ram->base < 2 * MiB)
        kaddr = ram->base + 2 * MiB;
    if (!gmem_contains(ram, kaddr, info.image_size)) {
        free(buf);
        snprintf(err, VIRT_ERR_LEN, "%s: kernel needs %llu MiB at 0x%llx; give more --memory",
                 m->cfg.kernel, (unsigned long long)(info.image_size / MiB + 1),
                 (unsigned long long)kaddr);
        return -ENOSPC;
    }
    r = loader_place(ram, kaddr, buf, len, m->cfg.kernel, "kernel", err);
    free(buf);
    if (r)
        return r;
    gpa_t kend = kaddr + info.image_size;

    gpa_t initrd = 0, initrd_end = 0;
    if (m->cfg.initrd) {
        initrd = (kend + 2 * MiB - 1) & ~(2 * MiB - 1);
        if ((r = loader_load_blob(ram, initrd, m->cfg.initrd, "initramfs", &len, err)))
            return r;
        initrd_end = initrd + len;
    }
    if ((r = place_fdt(m, initrd, initrd_end, err)))
        return r;
    place_fw_dynamic_info(m, kaddr);
    m->entry = ram->base;

reset:
    for (unsigned i = 0; i < m->nharts; i++) {
        struct hart *h = m->harts[i];
        hart_reset(h, m->entry);
        h->spin_yield = m->nharts > 1;
        h->x[10] = i;             /* a0: hartid */
        h->x[11] = m->fdt_addr;   /* a1: device tree */
        h->x[12] = m->info_addr;  /* a2: fw_dynamic_info */
    }
    machine_reset_devices(m);
    atomic_store(&m->stop, MACHINE_RUNNING);
    atomic_store(&m->stop_code, 0);
    return 0;
}

static void *hart_thread(void *arg)
{
    struct hart_thread_arg *t = arg;
    sigset_t all;
    /* Signals belong to the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    sandbox_enter(SANDBOX_HART);
    struct machine *m = t->m;
    while (atomic_load(&m->stop) == MACHINE_RUNNING) {
        if (atomic_load(&m->pause_req)) {
            pthread_mutex_lock(&m->pause_lock);
            m->nparked++;
            pthread_cond_broadcast(&m->pause_cond);
            while (atomic_load(&m->pause_req) && atomic_load(&m->stop) == MACHINE_RUNNING)
                pthread_cond_wait(&m->pause_cond, &m->pause_lock);
            m->nparked--;
            pthread_mutex_unlock(&m->pause_lock);
            machine_throttle_point(m, t); /* the rest of a slice's sleep */
            continue;
        }
        hart_run(t->h, 0);
        machine_throttle_point(m, t);
    }
    return NULL;
}

int machine_start(struct machine *m)
{
    /* A machine started parked (restore) gets its I/O thread on resume. */
    if (!atomic_load(&m->pause_req)) {
        int r0 = iothread_start(m->io);
        if (r0)
            return r0;
    }
    for (unsigned i = 0; i < m->nharts; i++) {
        m->thread_args[i] = (struct hart_thread_arg){ .m = m, .h = m->harts[i] };
        int r = pthread_create(&m->threads[i], NULL, hart_thread, &m->thread_args[i]);
        if (r) {
            machine_request_stop(m, MACHINE_QUIT, 0);
            for (unsigned j = 0; j < i; j++)
                pthread_join(m->threads[j], NULL);
            return -r;
        }
    }
    m->threads_running = true;
    return 0;
}

void machine_request_stop(struct machine *m, enum machine_stop why, int code)
{
    int expected = MACHINE_RUNNING;
    if (atomic_compare_exchange_strong(&m->stop, &expected, (int)why))
        atomic_store(&m->stop_code, code);
    for (unsigned i = 0; i < m->nharts; i++)
        hart_kick(m->harts[i]);
    pthread_mutex_lock(&m->pause_lock);
    pthread_cond_broadcast(&m->pause_cond);
    pthread_mutex_unlock(&m->pause_lock);
    uint64_t one = 1;
    if (write(m->wake_fd, &one, sizeof(one)) < 0) {
        /* already signalled */
    }
}

int machine_start_paused(struct machine *m)
{
    atomic_store(&m->pause_req, 1);
    vclock_pause(&m->clock);
    return machine_start(m);
}

void machine_quiesce(struct machine *m)
{
    machine_pause(m);
}

/* Wait until every hart is parked at an instruction boundary (pause_req
 * already set) or a stop is under way. */
static void wait_parked(struct machine *m)
{
    for (unsigned i = 0; i < m->nharts; i++)
        hart_kick(m->harts[i]);
    pthread_mutex_lock(&m->pause_lock);
    pthread_cond_broadcast(&m->pause_cond); /* a throttled hart's sleep ends */
    while (m->nparked < m->nharts && atomic_load(&m->stop) == MACHINE_RUNNING)
        pthread_cond_wait(&m->pause_cond, &m->pause_lock);
    pthread_mutex_unlock(&m->pause_lock);
}

/* Let parked harts go on. */
static void release_parked(struct machine *m)
{
    pthread_mutex_lock(&m->pause_lock);
    atomic_store(&m->pause_req, 0);
    pthread_cond_broadcast(&m->pause_cond);
    pthread_mutex_unlock(&m->pause_lock);
}

void machine_pause(struct machine *m)
{
    if (!m->threads_running || atomic_exchange(&m->pause_req, 1))
        return;
    wait_parked(m);
    /* Backends stop touching guest RAM and device state too. */
    iothread_stop(m->io);
    vclock_pause(&m->clock);
}

uint64_t machine_dirty_sync(struct machine *m, uint64_t *bits)
{
    bool park = m->threads_running && !machine_is_paused(m);
    if (park) {
        atomic_store(&m->pause_req, 1);
        wait_parked(m);
    }
    /* Parked harts re-check code_gen (bumped by the harvest) before their
     * next instruction, so none stores through an entry filled before it. */
    uint64_t n = gmem_dirty_harvest(&m->bus.ram, bits);
    if (park)
        release_parked(m);
    return n;
}

void machine_resume(struct machine *m)
{
    if (!atomic_load(&m->pause_req))
        return;
    vclock_resume(&m->clock);
    if (iothread_start(m->io))
        log_error("cannot restart the I/O thread");
    release_parked(m);
}

bool machine_is_paused(struct machine *m)
{
    return atomic_load(&m->pause_req) != 0;
}

void machine_join(struct machine *m)
{
    if (!m->threads_running)
        return;
    for (unsigned i = 0; i < m->nharts; i++)
        pthread_join(m->threads[i], NULL);
    m->threads_running = false;
}

int machine_reset(struct machine *m, char *err)
{
    struct gmem *ram = &m->bus.ram;
    /* Devices first: a disk read still in flight must not land in the
     * freshly loaded images, nor an old ring be processed after them. */
    iothread_stop(m->io);
    machine_reset_devices(m);
    /* Drop guest RAM: reads as zero again, and the host gets it back
     * (also when RAM was a restored snapshot's private file mapping). */
    if (gmem_zero_all(ram)) {
        snprintf(err, VIRT_ERR_LEN, "cannot clear guest RAM");
        return -ENOMEM;
    }
    gmem_clear_code_map(ram);
    atomic_fetch_add(&ram->code_gen, 1);
    return machine_load(m, err);
}

int machine_press_power_button(struct machine *m)
{
    return virtio_input_press_power(m->power_button);
}

size_t machine_console_input(struct machine *m, const uint8_t *buf, size_t len)
{
    return uart_receive(m->uart, buf, len);
}

void machine_poll_tohost(struct machine *m)
{
    uint64_t v;
    if (!m->tohost || gmem_read(&m->bus.ram, m->tohost, &v, sizeof(v)) || v == 0)
        return;
    if (v == 1)
        machine_request_stop(m, MACHINE_POWEROFF, 0);
    else if (v & 1)
        machine_request_stop(m, MACHINE_FAIL, (int)(v >> 1));
}

int machine_poll_devices(struct machine *m)
{
    if (machine_is_paused(m))
        return 100; /* held: the machine is quiet (machine_quiesce) */
    goldfish_rtc_poll(m->rtc);
    int t = m->balloon ? virtio_balloon_poll(m->balloon) : 100;
    return t < 100 ? t : 100;
}

uint64_t machine_disk_size(const struct machine *m, unsigned i)
{
    return i < MACHINE_MAX_DISKS && m->blk[i] ? virtio_blk_backend(m->blk[i])->size : 0;
}

void machine_nic_mac(const struct machine *m, unsigned i, uint8_t mac[6])
{
    memcpy(mac, m->nic_mac[i], 6);
}

void machine_announce(struct machine *m)
{
    for (unsigned i = 0; i < MACHINE_MAX_NICS; i++)
        if (m->net[i])
            virtio_net_announce(m->net[i]);
}

int machine_disks_inactivate(struct machine *m, char *err)
{
    for (unsigned i = 0; i < MACHINE_MAX_DISKS; i++) {
        struct blk_backend *b = m->blk[i] ? virtio_blk_backend(m->blk[i]) : NULL;
        int r = b && b->ops->inactivate ? b->ops->inactivate(b) : 0;
        if (r) {
            snprintf(err, VIRT_ERR_LEN, "%.300s: cannot flush it for the hand-over: %s", b->path,
                     strerror(-r));
            return r;
        }
    }
    return 0;
}

int machine_disks_activate(struct machine *m, int timeout_ms, char *err)
{
    for (unsigned i = 0; i < MACHINE_MAX_DISKS; i++) {
        if (!m->blk[i])
            continue;
        struct blk_backend **slot = virtio_blk_backend_slot(m->blk[i]);
        /* The source lets go just before it sends the devices; its
         * unlock may land a moment after our first try. */
        int r, waited = 0;
        while ((r = blk_activate(slot, err, VIRT_ERR_LEN)) == -EBUSY && waited < timeout_ms) {
            usleep(10000);
            waited += 10;
        }
        if (r)
            return r;
    }
    return 0;
}
