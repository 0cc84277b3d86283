/* One virtual machine's lifecycle: its configuration, the board once it
 * is started, and the main loop that drives it. Every action goes through
 * the state machine in vm/state.h under vm->lock, whichever thread asks
 * (the CLI's main thread, the API server's threads).
 *
 * Guest clock across a pause: the virtual clock (vclock) stops with the
 * harts, so `time`, mtime and timer interrupts resume exactly where they
 * were; only the goldfish RTC (wall-clock time) jumps by the pause. */
#ifndef CORRAL_VM_VM_H
#define CORRAL_VM_VM_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "core/ring.h"
#include "machine/virt.h"
#include "vm/config.h"
#include "vm/fence.h"
#include "vm/snapshot.h"
#include "vm/state.h"

#define VM_VERSION "0.1"
/* How long Shutdown waits for the guest before stopping it hard. */
#define VM_SHUTDOWN_TIMEOUT_MS 10000

/* The host side of the console, provided by the CLI (the library knows no
 * terminal). Any member may be NULL; in_fd < 0 means no input. */
struct vm_console_ops {
    void (*raw)(void);      /* the guest starts: terminal to raw mode */
    void (*restore)(void);  /* the guest stops or the user quits */
    /* Host input, filtered in place; sets *quit on the escape sequence. */
    size_t (*filter)(void *opaque, uint8_t *buf, size_t len, bool *quit);
    void (*write)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
    int in_fd;
};

enum vm_resource { VM_RES_BOOT_SOURCE, VM_RES_MACHINE_CONFIG, VM_RES_DRIVE, VM_RES_NET };

struct mig_pc_dest;
struct vm {
    pthread_mutex_t lock;
    enum vm_state state;          /* under lock */
    struct vm_config cfg;         /* under lock; frozen once started */
    struct machine *m;            /* NULL until started; freed by vm_destroy */
    char id[VM_ID_LEN];
    int wake_fd;                  /* eventfd: wakes vm_run */
    struct vm_console_ops con;

    /* Under lock. */
    bool quit_requested;          /* stop before start (Shutdown, signal) */
    int exit_status;
    int shutdown_step;            /* 0: none; 1: press the power button next;
                                   * 2..4: SysRq s, u, o next; 5: all sent
                                   * (vm.c SHUTDOWN_BUTTON, SHUTDOWN_SYSRQ) */
    int64_t shutdown_next_ns, shutdown_deadline_ns;
    /* After SysRq s and u: the key that follows waits until the virtio
     * devices have completed no request for a while (the emergency sync
     * and remount are asynchronous in the guest). */
    uint64_t shutdown_io_seen;
    int64_t shutdown_io_since_ns, shutdown_key_ns;
    int64_t started_ns;
    unsigned resets;
    int64_t timeout_ns;           /* --timeout: 0 = none */
    bool timed_out;
    struct vm_fence fence;        /* --fence-file (vm/fence.h); main thread */
    bool fenced;

    _Atomic uint64_t con_tx_bytes, con_rx_bytes;

    /* Under lock: the memory files of the last snapshot this process
     * created or loaded (a Diff snapshot goes on top of them). */
    struct vm_snap_chain snap_chain;
    bool restored;                /* started from a snapshot */
    /* Under lock: a snapshot's files are being written (without the
     * lock); state changes are refused meanwhile. */
    bool snapshotting;

    /* Outgoing live migration (vm/migrate.c). `migrating` is under the VM
     * lock (pause, resume, reset and snapshots are refused meanwhile); the
     * statistics under their own lock so GET /migrate never waits. */
    bool migrating;
    /* Incoming post-copy still receiving pages (vm/migrate_postcopy.h). */
    struct mig_pc_dest *mig_pc;
    /* Under lock: host resources for a restored or migrated VM's devices
     * (--net-override net0=TAP, as Firecracker's network_overrides;
     * --disk-override disk0=PATH). */
    struct vm_override {
        char id[VM_ID_LEN];
        char *value;
    } net_overrides[VM_MAX_NETS], disk_overrides[VM_MAX_DRIVES];
    unsigned nnet_overrides, ndisk_overrides;
    /* Incoming storage migration: the disks are created here (never an
     * existing file); on failure the ones created are removed. */
    bool create_disks;
    bool disks_inactive; /* incoming: disks opened for the hand-over (machine_disks_activate) */
    /* The name the VM had on the source ("vm-name"), for the registry. */
    char migrated_name[VM_ID_LEN];
    char create_formats[VM_MAX_DRIVES][8]; /* the source's, disk by disk */
    unsigned ncreate_formats;
    char *created_disks[VM_MAX_DRIVES];
    unsigned ncreated_disks;
    /* PUT /migrate/incoming: the thread that waits for the source. */
    pthread_t incoming_thread;
    bool incoming_live;
    volatile sig_atomic_t incoming_stop;
    pthread_t mig_thread;
    bool mig_thread_live;
    _Atomic int mig_cancel;
    pthread_mutex_t mig_lock;
    struct vm_mig_stats {
        char status[24];          /* none setup active completed failed cancelled
                                   * postcopy-active postcopy-paused postcopy-recover */
        char error[VM_ERR_LEN];
        char uri[256];
        char mode[12];            /* precopy postcopy auto */
        uint64_t postcopy_requests; /* pages the destination faulted on */
        bool incoming;              /* this side receives */
        /* Post-copy recovery (source): PUT /migrate/recover's URI for the
         * paused migration thread; recoveries that picked it up again. */
        char recover_uri[256];
        bool recover_asked;
        uint64_t recoveries;
        unsigned throttle_pct;      /* auto-converge: the harts' last throttle */
        bool migrate_disks;
        uint64_t disk_bytes, disk_chunks; /* storage migration: sent */
        uint32_t downtime_limit_ms, max_bandwidth_mibps;
        uint32_t recover_window_ms; /* post-copy: how long a paused side waits */
        int zstd_level;
        unsigned compression_threads;
        bool dedup;
        uint32_t delta_cache_mib;
        int64_t start_ns;
        double setup_ms, total_ms, downtime_ms, expected_downtime_ms;
        uint64_t bytes, rounds, remaining_pages;
        uint64_t pages_normal, pages_zero, pages_compressed, pages_dedup, pages_delta;
        uint64_t page_bytes, page_wire_bytes; /* RAM covered, bytes it took */
        double bandwidth_mibps, dirty_pages_rate;
    } mig;
    /* Guest console output: hart threads put it in con_out, the
     * con_thread writes it with con.write (which may block on a slow
     * reader: only that thread waits, and full means dropped). */
    struct ring con_out;
    pthread_t con_thread;
    bool con_thread_started;
    struct vm_cgroup *cgroup;     /* quotas, entered at start (vm/cgroup.h) */
};

/* `id` names the VM in GET / (NULL: VM_ANONYMOUS_ID, Firecracker's). */
#define VM_ANONYMOUS_ID "anonymous-instance"
int vm_create(struct vm **out, const char *id, const struct vm_console_ops *con) WARN_UNUSED;
/* Flushes console output still queued (giving up after 1 s without
 * progress: a reader that never reads does not hold the exit). */
void vm_destroy(struct vm *vm);

/* Actions, any thread. 0; -EINVAL (bad input or an action that does not
 * fit the state: the API answers 400) or another -errno (500), with a
 * one-line message in err[VM_ERR_LEN]. */
int vm_configure(struct vm *vm, enum vm_resource res, const char *id, const json_t *body,
                 char *err) WARN_UNUSED;
int vm_start(struct vm *vm, char *err) WARN_UNUSED;
int vm_pause(struct vm *vm, char *err) WARN_UNUSED;
int vm_resume(struct vm *vm, char *err) WARN_UNUSED;
/* Ask the guest to power off (serial break + magic SysRq s, u, o: Linux
 * honours it on the console UART); stop hard after the timeout. */
int vm_shutdown(struct vm *vm, char *err) WARN_UNUSED;
int vm_reset(struct vm *vm, char *err) WARN_UNUSED;

enum vm_state vm_get_state(struct vm *vm);
/* New references (NULL on allocation failure). */
json_t *vm_info_json(struct vm *vm);
json_t *vm_config_json(struct vm *vm);
json_t *vm_machine_config_json(struct vm *vm);
json_t *vm_metrics_json(struct vm *vm);
/* Console output bytes dropped because the reader was too slow. */
uint64_t vm_console_dropped(struct vm *vm);

/* The balloon (vm.c). put: before start (400 after). patch/patch_stats:
 * a started VM with the device. The JSON views return NULL with a message
 * in err when there is nothing to show (no balloon, statistics off). */
int vm_balloon_put(struct vm *vm, const json_t *body, char *err) WARN_UNUSED;
int vm_balloon_patch(struct vm *vm, const json_t *body, char *err) WARN_UNUSED;
int vm_balloon_patch_stats(struct vm *vm, const json_t *body, char *err) WARN_UNUSED;
json_t *vm_balloon_json(struct vm *vm, char *err);
json_t *vm_balloon_stats_json(struct vm *vm, char *err);

/* PATCH /drives/{id}, PATCH /network-interfaces/{id} (device_limits.c):
 * new rate limiters for a drive or interface of the configuration, and of
 * its device once the VM runs. Any state but Stopped. */
int vm_patch_drive(struct vm *vm, const char *id, const json_t *body, char *err) WARN_UNUSED;
int vm_patch_net(struct vm *vm, const char *id, const json_t *body, char *err) WARN_UNUSED;

/* The main loop (main thread): console, guest stop and reboot, Shutdown
 * progress, signals (*sig set by the CLI's handler). Returns the process
 * exit status: 0 for a guest poweroff or Shutdown, the test's code for a
 * failed test, 128+signal for a signal. */
int vm_run(struct vm *vm, volatile sig_atomic_t *sig);
/* Stop the guest `seconds` after it starts (a runaway test): vm_run then
 * prints why and returns 124. Before vm_run. */
void vm_set_timeout(struct vm *vm, double seconds);
/* Stop at once (exit 125) when `path` goes untouched for timeout_ms
 * (vm/fence.h). Before vm_run; path must outlive the VM. */
void vm_set_fence(struct vm *vm, const char *path, int64_t timeout_ms);

/* Snapshots (vm/snapshot.h). Create: Paused only; the VM stays paused.
 * Load: a fresh process before any configuration; builds the machine
 * from the snapshot and leaves it Paused or, with opts->resume, Running.
 * -EINVAL (400) for bad input or state, with one line in err. */
int vm_snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
                       char *err) WARN_UNUSED;
int vm_snapshot_load(struct vm *vm, const struct vm_snapshot_load_opts *opts,
                     char *err) WARN_UNUSED;
/* Live migration (docs/migration.md). Start: Running only; the
 * migration runs on its own thread; on success the source stops (vm_run
 * returns 0). Incoming: a fresh VM, before vm_run, on the main thread:
 * accepts one source on `uri`, builds the machine and runs it. */
enum vm_mig_mode { VM_MIG_PRECOPY, VM_MIG_POSTCOPY, VM_MIG_AUTO };
struct vm_mig_params {
    const char *uri;
    enum vm_mig_mode mode;
    uint32_t downtime_limit_ms;   /* 0: the default (50 ms) */
    uint32_t max_bandwidth_mibps; /* 0: unlimited */
    bool zero_pages;              /* zero pages as a flag */
    int zstd_level;               /* 0: no compression */
    unsigned compression_threads; /* 1 (default): the sender compresses alone */
    bool dedup;
    uint32_t delta_cache_mib;     /* 0: no page delta */
    bool migrate_disks;           /* copy the disks too (storage migration) */
    uint32_t recover_window_s;    /* post-copy: how long a broken link may stay
                                     broken (0: the default, 60 s) */
};
/* The defaults: zero pages and dedup on, no zstd, no delta, no cap. */
void vm_mig_params_default(struct vm_mig_params *p);
/* PUT /migrate's body into p (whose uri then points into body). 0, or
 * -1 with the reason in err (VM_ERR_LEN). */
int vm_mig_params_from_json(struct vm_mig_params *p, const json_t *body, char *err) WARN_UNUSED;
int vm_migrate_start(struct vm *vm, const struct vm_mig_params *p, char *err) WARN_UNUSED;
int vm_migrate_cancel(struct vm *vm, char *err) WARN_UNUSED;
json_t *vm_migrate_json(struct vm *vm);
int vm_migrate_incoming(struct vm *vm, const char *uri, volatile sig_atomic_t *stop,
                        char *err) WARN_UNUSED;
/* PUT /migrate/incoming: listen on uri now, receive on a thread; the
 * main loop runs the VM once it has arrived (GET /migrate follows it). */
int vm_migrate_incoming_start(struct vm *vm, const char *uri, char *err) WARN_UNUSED;
/* PUT /migrate/recover: a post-copy paused by a broken link, on either
 * side, goes on over uri (the destination listens on it, the source
 * connects to it, on its migration thread). */
int vm_migrate_recover(struct vm *vm, const char *uri, char *err) WARN_UNUSED;
/* Stop and free what an incoming migration still runs (vm_destroy). */
void vm_migrate_incoming_end(struct vm *vm);

/* The UART's sink for every machine of this VM: into the console ring
 * (never blocks a hart). */
void vm_console_sink(void *opaque, const uint8_t *buf, size_t len);

/* Shared by snapshot load and incoming migration (lock held, fresh VM):
 * build the board a saved configuration describes (vm->cfg becomes it);
 * then, once RAM and state are loaded, start it parked and resume it if
 * asked. */
/* Give a restored or migrated VM's interface IFACE_ID another TAP
 * (the saved one is in use by the source on this host, or named
 * differently on this one), or its disk DRIVE_ID another image file.
 * Before the restore or the incoming migration; "net0=tap1",
 * "disk0=/images/copy.qcow2" from the command line. */
int vm_add_net_override(struct vm *vm, const char *spec, char *err) WARN_UNUSED;
int vm_add_disk_override(struct vm *vm, const char *spec, char *err) WARN_UNUSED;
/* Incoming storage migration failed: remove the disks it created. */
void vm_remove_created_disks(struct vm *vm);
int vm_restore_build_locked(struct vm *vm, const struct machine_saved_config *sc,
                            struct machine **out, char *err) WARN_UNUSED;
int vm_restore_finish_locked(struct vm *vm, struct machine *m, bool resume,
                             char *err) WARN_UNUSED;

/* Parse a state file's configuration, disk list and memory chain without
 * touching any file or building a machine (the fuzz target's entry). */
int vm_snapshot_parse(const uint8_t *buf, size_t len, char *err) WARN_UNUSED;
/* Fold the memory chain of `state_path` into one full memory file and a
 * state that refers to it (no VM needed). */
int vm_snapshot_merge(const char *state_path, const char *out_state, const char *out_mem,
                      char *err) WARN_UNUSED;

/* Build the machine from the configuration and write its device tree
 * (--dump-dtb). Before start only. */
int vm_dump_dtb(struct vm *vm, const char *path, char *err) WARN_UNUSED;

/* Serial break + SysRq `key` on the console UART (vm/sysrq.c). -EAGAIN
 * when the receive FIFO is not empty (the break would eat user input). */
int vm_guest_sysrq(struct machine *m, char key) WARN_UNUSED;

#endif
