/* The "virt" board: guest RAM, harts, platform devices, the device tree,
 * boot images, and the loop that runs them. Compatible with QEMU's riscv
 * virt memory map (DESIGN.md). Created and driven from the main thread;
 * machine_request_stop() may be called from any thread. */
#ifndef CORRAL_MACHINE_VIRT_H
#define CORRAL_MACHINE_VIRT_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/ratelimit.h"
#include "core/types.h"
#include "core/vclock.h"
#include "machine/fdt.h"
#include "machine/memmap.h"
#include "mem/bus.h"

#define VIRT_RAM_BASE (virt_memmap[VIRT_DRAM].base) /* machine/memmap.h */
#define VIRT_MAX_HARTS 8
#define VIRT_ERR_LEN 512

struct hart;
struct clint;
struct plic;
struct uart;
struct goldfish_rtc;
struct sifive_test;
struct iothread;
struct virtio_dev;
struct virtio_blk;
struct virtio_net;
struct virtio_rng;
struct virtio_balloon;
struct virtio_input;
struct virtio_vsock;

#define MACHINE_MAX_DISKS 6
#define MACHINE_MAX_NICS 4
#define MACHINE_MAX_HOSTFWD 8

/* --disk PATH[,format=raw|qcow2][,readonly][,serial=S][,bw=B][,iops=N] */
struct machine_disk {
    const char *path;
    const char *format;     /* "raw", "qcow2"; NULL: probed */
    const char *cache;      /* "writeback" (NULL), "none" (O_DIRECT), "unsafe" */
    const char *serial;     /* virtio-blk get-id; NULL: derived from slot */
    const char *id;         /* the VMM's name for it (drive_id), kept by
                             * snapshots; NULL: none */
    bool readonly;
    bool inactive;          /* a migration's destination: locks taken at
                             * the hand-over (machine_disks_activate) */
    struct ratelimit_cfg rate_limit; /* all zero: none */
    char *strings;          /* heap copy the strings above point into
                             * (machine_parse_disk); machine_disk_release */
};

/* --net user[,hostfwd=tcp::HOSTPORT-:GUESTPORT...][,mac=..] | tap=NAME[,bridge=BR][,mac=..]
 * | vde=PATH[,mac=..], all with [,rx_bw=B][,tx_bw=B][,rx_pps=N][,tx_pps=N]. The kinds'
 * values are saved in snapshots: append, never renumber. */
enum machine_net_kind { MACHINE_NET_USER, MACHINE_NET_TAP, MACHINE_NET_VDE };
#define MACHINE_VDE_PATH_MAX 1023 /* a socket directory or a libvdeplug URL */
struct machine_net {
    enum machine_net_kind kind;
    const char *tap_name;
    const char *bridge;     /* tap: attach the TAP to this Linux bridge; NULL: none */
    const char *vde_path;   /* vde: the switch's socket directory (vde_switch -s) */
    const char *hostfwd[MACHINE_MAX_HOSTFWD]; /* "tcp::2222-:22" as given */
    unsigned nhostfwd;
    uint8_t mac[6];
    bool mac_set;
    struct ratelimit_cfg rx_limit, tx_limit; /* guest-bound, host-bound; zero: none */
    char *strings;          /* as in machine_disk; machine_net_release */
    struct mmds *mmds;      /* answer MMDS here (user-mode only); not owned */
    const char *id;         /* the VMM's name for it (iface_id), kept by
                             * snapshots; NULL: none */
};

struct machine_config {
    const char *firmware;   /* fw_dynamic.bin; NULL in test mode */
    const char *kernel;     /* RISC-V Image */
    const char *initrd;
    const char *cmdline;
    const char *test_elf;   /* bare-metal test program (no firmware) */
    unsigned ncpus;
    uint64_t mem_size;
    const char *mmu_type;   /* device tree mmu-type; default riscv,sv57 */
    struct machine_disk disks[MACHINE_MAX_DISKS];
    unsigned ndisks;
    struct machine_net nets[MACHINE_MAX_NICS];
    unsigned nnets;
    bool rng;               /* --rng: virtio-rng */
    int cpu_engine;         /* enum cpu_engine (cpu/riscv/jit.h); 0 = default */
    /* virtio-balloon (the last slot); target in MiB. */
    bool balloon, balloon_deflate_on_oom, balloon_reporting;
    uint64_t balloon_mib;
    unsigned balloon_stats_s;
    bool mem_merge;         /* --mem-merge on: KSM on guest RAM */
    /* virtio-vsock (after the balloon) when vsock_cid is set: the guest's
     * CID (>= 3) and the host's unix socket (virtio_vsock.h). */
    uint64_t vsock_cid;
    const char *vsock_uds;
    /* Console output (the UART's transmitter). */
    void (*console_write)(void *opaque, const uint8_t *buf, size_t len);
    void *console_opaque;
};

enum machine_stop {
    MACHINE_RUNNING = 0,
    MACHINE_POWEROFF,   /* guest powered off, or test passed */
    MACHINE_FAIL,       /* test finisher / tohost failure with a code */
    MACHINE_RESET,      /* guest asked for a reboot */
    MACHINE_QUIT,       /* the user or a signal stopped the VMM */
};

/* The device table: every device of the board, in a fixed order (the
 * device tree's /soc order: finisher, RTC, UART, the virtio slots, CLINT,
 * PLIC), each with its place on the board and the ops the machine uses to
 * reset, describe, save, load and measure it without knowing its kind.
 * The table's order is the saved order; `name` is the section id. */
struct state_out;
struct state_in;
/* Counters a device reports (GET /metrics): name/value pairs. */
#define MACHINE_MAX_METRICS 16
struct machine_metrics {
    const char *label;            /* the device's name in the report */
    unsigned n;
    struct { const char *name; uint64_t value; } m[MACHINE_MAX_METRICS];
};
void machine_metric(struct machine_metrics *out, const char *name, uint64_t value);
struct machine_device_ops {
    const char *kind;             /* "uart", "virtio-blk"... */
    uint32_t state_version;
    void (*reset)(void *dev);     /* optional */
    fdt_node_fn fdt_node;         /* its node under /soc */
    void (*save)(void *dev, struct state_out *o);
    int (*load)(void *dev, struct state_in *in, uint32_t version);
    /* Optional; any thread, relaxed reads of the device's counters. */
    void (*metrics)(const void *dev, struct machine_metrics *out);
};
struct machine_device {
    char name[24];
    const struct machine_device_ops *ops;
    void *dev;
    gpa_t base;                   /* from the memory map (memmap.h) */
    uint64_t size;
    uint32_t irq;
};
#define MACHINE_MAX_DEVICES 16

struct hart_thread_arg {
    struct machine *m;
    struct hart *h;
    _Atomic int64_t throttle_until_ns; /* throttle.c: sleep to this (CLOCK_REALTIME); 0: none */
};

struct machine {
    struct machine_config cfg;
    struct bus bus;
    struct vclock clock;
    struct hart *harts[VIRT_MAX_HARTS];
    unsigned nharts;
    struct clint *clint;
    struct plic *plic;
    struct uart *uart;
    struct goldfish_rtc *rtc;
    struct sifive_test *finisher;
    /* virtio-mmio slots 0..nvirtio-1, filled in order: disks (vda is
     * slot 0), NICs, rng, balloon, vsock, and always last the power button.
     * Their backends run on the I/O thread. */
    struct iothread *io;
    struct virtio_blk *blk[MACHINE_MAX_DISKS];
    struct virtio_net *net[MACHINE_MAX_NICS];
    struct virtio_rng *rng;
    struct virtio_balloon *balloon;
    struct virtio_vsock *vsock;
    struct virtio_input *power_button;
    struct virtio_dev *virtio[8];
    unsigned nvirtio;
    char disk_serial[MACHINE_MAX_DISKS][24];
    uint8_t nic_mac[MACHINE_MAX_NICS][6];
    struct machine_device devices[MACHINE_MAX_DEVICES];
    unsigned ndevices;
    pthread_t threads[VIRT_MAX_HARTS];
    struct hart_thread_arg thread_args[VIRT_MAX_HARTS];
    bool threads_running;

    gpa_t tohost;            /* test mode: address of `tohost`, or 0 */
    uint64_t entry;          /* reset pc of every hart */
    gpa_t fdt_addr, info_addr;

    _Atomic int stop;        /* enum machine_stop; first writer wins */
    /* Pause: harts park at an instruction boundary until resumed. */
    _Atomic int pause_req;
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;   /* parked count changed / resume */
    unsigned nparked;
    _Atomic int stop_code;
    int wake_fd;             /* eventfd: wakes the main loop */
    /* Auto-converge (throttle.c): percent of time the harts sleep. */
    _Atomic unsigned throttle_pct;
    struct iothread_timer *throttle_timer;
};

int machine_create(struct machine **out, const struct machine_config *cfg,
                   char *err) WARN_UNUSED;
void machine_destroy(struct machine *m);
/* Load firmware/kernel/initrd/device tree (or the test ELF) into RAM and
 * reset harts and devices: the machine is ready to start. */
int machine_load(struct machine *m, char *err) WARN_UNUSED;
int machine_start(struct machine *m) WARN_UNUSED;
/* Ask every hart to stop; the first reason given wins. Any thread. */
void machine_request_stop(struct machine *m, enum machine_stop why, int code);
/* Stop every hart at an instruction boundary and stop the guest clock;
 * returns once all harts are parked. machine_resume continues exactly
 * there. Main/API thread; not while a stop is in progress. */
void machine_pause(struct machine *m);
void machine_resume(struct machine *m);
/* Auto-converge (throttle.c): harts sleep `pct` percent of the time
 * (0 to 99; 0 stops throttling). Any thread. */
void machine_set_throttle(struct machine *m, unsigned pct);
unsigned machine_throttle(const struct machine *m);
/* For virt.c: the timer (after the I/O thread exists), and the hart
 * thread's sleep when its slice is up. */
int machine_throttle_init(struct machine *m) WARN_UNUSED;
void machine_throttle_point(struct machine *m, struct hart_thread_arg *t);
/* Every NIC announces the guest's MAC (after a live migration: switches
 * learn its new port). Any thread. */
void machine_announce(struct machine *m);
bool machine_is_paused(struct machine *m);
/* Join the hart threads after a stop request. */
void machine_join(struct machine *m);
/* Reboot in place: clear RAM, reload images, reset harts and devices. */
int machine_reset(struct machine *m, char *err) WARN_UNUSED;
/* The quiet point shared by pause, reset, snapshot and migration: every
 * hart parked at an instruction boundary, the I/O thread drained and
 * stopped, device polling held, the guest clock stopped. Idempotent.
 * Main/API thread. */
void machine_quiesce(struct machine *m);
/* A live migration's hand-over of disks both ends open (shared storage):
 * the quiesced source flushes and lets go of its image locks; the
 * destination takes them, retrying for up to timeout_ms while the source
 * still holds them. Disks without the hand-over (qcow2, or opened
 * normally) are left as they are. 0, or -errno with the disk in err. */
int machine_disks_inactivate(struct machine *m, char *err) WARN_UNUSED;
int machine_disks_activate(struct machine *m, int timeout_ms, char *err) WARN_UNUSED;
/* Harvest the dirty log into bits[] while harts run (live migration): the
 * harts are parked for the instant of the harvest so that none keeps a
 * store TLB entry filled before it. Returns the pages harvested. Not
 * concurrently with machine_pause/resume (the VM layer refuses those
 * while a migration runs). */
uint64_t machine_dirty_sync(struct machine *m, uint64_t *bits);
/* Build the device table (machine_create does; virt_devices.c). */
int machine_build_device_table(struct machine *m) WARN_UNUSED;
/* Reset every device in the table (harts stopped, I/O thread stopped). */
void machine_reset_devices(struct machine *m);
/* Start the hart threads parked (as if paused): a restored machine runs
 * only when machine_resume is called. */
int machine_start_paused(struct machine *m) WARN_UNUSED;

/* Machine state (virt_state.c): the clock, every hart and every device of
 * the table, as sections of a state stream. Machine quiesced. */
void machine_save_state(struct machine *m, struct state_out *o);
int machine_load_state(struct machine *m, struct state_in *in) WARN_UNUSED;

/* The configuration as a "machine" section, and back: a saved config
 * owns the strings its machine_config points to. */
#define MACHINE_SAVED_STRS 96
/* MMDS's configuration as a snapshot keeps it (as Firecracker does: the
 * version, the address and the interfaces; not the data store). */
struct machine_saved_mmds {
    bool present;
    uint32_t version;       /* enum mmds_version */
    uint32_t ipv4;          /* host order */
    bool imds_compat;
    bool on_nic[MACHINE_MAX_NICS];
};

struct machine_saved_config {
    struct machine_config cfg;
    struct machine_saved_mmds mmds;
    const char *vmm_version;
    uint64_t tohost;
    uint64_t disk_size[MACHINE_MAX_DISKS];
    unsigned ndevices;
    char device_names[MACHINE_MAX_DEVICES][24];
    char *strs[MACHINE_SAVED_STRS];
    unsigned nstrs;
};
void machine_config_save(const struct machine *m, const char *vmm_version,
                         struct state_out *o);
int machine_config_load(struct state_in *in, struct machine_saved_config *sc) WARN_UNUSED;
void machine_saved_config_free(struct machine_saved_config *sc);
/* Size in bytes of disk i; the MAC NIC i uses. */
uint64_t machine_disk_size(const struct machine *m, unsigned i);
void machine_nic_mac(const struct machine *m, unsigned i, uint8_t mac[6]);

/* Press the power button (virtio-input KEY_POWER). Any thread. 0: a
 * driver in the guest has it; -ENODEV: no driver has the device (a guest
 * without virtio_input, or still booting), nobody will hear it;
 * -ENOSPC: earlier presses still wait for the guest. */
int machine_press_power_button(struct machine *m) WARN_UNUSED;

/* Console input from the host (main thread). Returns bytes accepted. */
size_t machine_console_input(struct machine *m, const uint8_t *buf, size_t len);
/* Test mode: check `tohost`; requests a stop when the program finished. */
void machine_poll_tohost(struct machine *m);
/* Periodic device work (RTC alarm); returns ms until it is next needed. */
int machine_poll_devices(struct machine *m);

#endif
