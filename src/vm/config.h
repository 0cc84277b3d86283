/* A VM's configuration as the API and the config file see it: Firecracker's
 * resources (boot-source, machine-config, drives, network-interfaces) plus
 * Corral's additions, with owned strings. One parser per resource, shared
 * by PUT requests and `--config-file`; unknown keys are errors that name
 * the key. vmcfg_to_machine() turns it into the board's machine_config.
 * Not thread-safe: the vm module calls these under its lock. */
#ifndef CORRAL_VM_CONFIG_H
#define CORRAL_VM_CONFIG_H

#include <jansson.h>

#include "core/types.h"
#include "machine/virt.h"

#define VM_ERR_LEN VIRT_ERR_LEN
#define VM_ID_LEN 64
#define VM_MAX_DRIVES MACHINE_MAX_DISKS
#define VM_MAX_NETS MACHINE_MAX_NICS
#define VM_DEFAULT_CMDLINE "console=ttyS0"
#define VM_NET_MTU 1500 /* what devices/virtio_net.c advertises */

struct vm_drive {
    char id[VM_ID_LEN];
    char *path;
    char *format;        /* NULL: probed */
    char *cache;         /* NULL: writeback */
    char *serial;        /* --disk serial=S (not in the API); NULL: default */
    char *partuuid;      /* root=PARTUUID= instead of /dev/vda (root drive) */
    char *io_engine;     /* "Sync" / "Async" as given (both behave alike) */
    bool root, readonly;
    struct ratelimit_cfg rate_limit; /* rate_limiter; zero: none */
};

struct vm_net {
    char id[VM_ID_LEN];
    enum machine_net_kind kind;
    char *tap_name;
    char *bridge;        /* tap: the Linux bridge to put it on ("bridge"); NULL: none */
    char *vde_path;      /* vde: the switch ("vde_path") */
    char *hostfwd[MACHINE_MAX_HOSTFWD];
    unsigned nhostfwd;
    uint8_t mac[6];
    bool mac_set;
    struct ratelimit_cfg rx_limit, tx_limit; /* rx_/tx_rate_limiter */
    unsigned mtu;        /* as given; 0: not given (the device's is 1500) */
};

/* PUT /balloon (Firecracker's fields + free_page_reporting). */
struct vm_balloon {
    bool present;
    uint64_t amount_mib;
    bool deflate_on_oom, free_page_reporting;
    unsigned stats_polling_interval_s;
};

/* PUT /logger and the config file's "logger" (applied by the API layer,
 * which owns the process's log output). */
struct vm_logger {
    bool present;
    char *log_path;      /* NULL: stderr */
    int level;           /* enum log_level (core/log.h) */
    bool show_level, show_log_origin;
    char *module;        /* only lines from src/<module>... */
};

/* PUT /mmds/config (net/mmds.h has the store it configures). */
struct vm_mmds_config {
    bool present;
    int version;         /* enum mmds_version */
    char ifaces[VM_MAX_NETS][VM_ID_LEN];
    unsigned nifaces;
    uint32_t ipv4;       /* host order */
    bool imds_compat;
};

struct mmds;

struct vm_config {
    char *kernel, *initrd, *firmware, *cmdline;
    char *test_elf;      /* --test: bare-metal program, no firmware */
    char *mmu_type;      /* "riscv,sv57" etc.; NULL: the board's default */
    unsigned ncpus;
    uint64_t mem_mib;
    bool mem_merge;      /* machine-config mem_merge / --mem-merge */
    /* Quotas (vm/cgroup.h); 0 = none. */
    unsigned cpu_quota_pct, cpu_weight;
    uint64_t memory_limit_mib;
    bool rng;            /* --rng or PUT /entropy */
    struct ratelimit_cfg rng_limit; /* entropy rate_limiter: kept, not enforced */
    /* Firecracker's machine-config fields that have one meaning here. */
    bool track_dirty_pages; /* Corral always logs dirty pages; kept as given */
    char *huge_pages;    /* "None" / "Transparent" as given; NULL: not given */
    char *serial_out;    /* PUT /serial serial_out_path (the API layer opens it) */
    struct ratelimit_cfg serial_limit; /* its rate_limiter bucket (bw): kept */
    bool serial_limit_set;
    struct vm_logger logger;
    char *metrics_path;  /* PUT /metrics (the API layer writes it) */
    bool metrics_emit_id;        /* each line gets "id" (the VM's) */
    json_t *metrics_properties;  /* each line gets "properties"; owned */
    int cpu_engine;      /* enum cpu_engine; 0 = default */
    struct vm_balloon balloon;
    /* PUT /vsock: guest_cid 0 = no device; vsock_id as given (deprecated
     * in Firecracker, kept for GET /vm/config). */
    uint64_t vsock_cid;
    char *vsock_uds, *vsock_id;
    struct vm_drive drives[VM_MAX_DRIVES];
    unsigned ndrives;
    struct vm_net nets[VM_MAX_NETS];
    unsigned nnets;
    char *full_cmdline;  /* built by vmcfg_to_machine (root= added) */
    /* firmware / initrd were left out and filled from the default guest
     * build at start (vmcfg_to_machine). */
    bool firmware_default, initrd_default;
    struct vm_mmds_config mmds; /* PUT /mmds/config */
    struct mmds *mmds_store;    /* owned; made by vmcfg_mmds_store */
};

void vmcfg_init(struct vm_config *c);
void vmcfg_free(struct vm_config *c);
/* Replace *dst with a copy of s (NULL clears). 0 or -ENOMEM. */
int vmcfg_set_str(char **dst, const char *s) WARN_UNUSED;

/* Resource bodies. `id` is the id from the URL (NULL in a config file,
 * where the body's own id is used). 0, or -EINVAL with a message. */
int vmcfg_put_boot_source(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
int vmcfg_put_machine_config(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
int vmcfg_put_drive(struct vm_config *c, const char *id, const json_t *body,
                    char *err) WARN_UNUSED;
int vmcfg_put_net(struct vm_config *c, const char *id, const json_t *body,
                  char *err) WARN_UNUSED;
int vmcfg_put_balloon(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
/* PATCH /machine-config: the fields given over the current ones, checked
 * as a whole PUT would be; an empty body is refused. */
int vmcfg_patch_machine_config(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
/* PUT /entropy ({rate_limiter}), PUT /serial ({serial_out_path,
 * rate_limiter}), PUT /logger, PUT /metrics: check and record. Opening the
 * files is the caller's (the API layer), after these succeed. */
int vmcfg_put_entropy(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
int vmcfg_put_serial(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
/* PUT /vsock ({vsock_id (optional), guest_cid >= 3, uds_path}): the
 * virtio-vsock device; the socket is made at InstanceStart. */
int vmcfg_put_vsock(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
int vmcfg_parse_logger(struct vm_logger *out, const json_t *body, char *err) WARN_UNUSED;
void vmcfg_logger_free(struct vm_logger *l);
int vmcfg_put_metrics(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
/* The files a body names must be there, as Firecracker opens them at the
 * PUT: the API checks PUT /boot-source and PUT /drives bodies with these,
 * vmcfg_load_file the whole file (the parsers themselves touch no file).
 * There, not a directory, readable (and writable unless the drive
 * is_read_only); the message names the field, or the drive. */
int vmcfg_check_file(const char *path, const char *what, bool writable, char *err) WARN_UNUSED;
int vmcfg_check_boot_files(const json_t *body, char *err) WARN_UNUSED;
int vmcfg_check_drive_file(const char *url_id, const json_t *body, char *err) WARN_UNUSED;
/* PATCH /drives/{id} ({drive_id, path_on_host, rate_limiter}; a path must
 * be the drive's own) and PATCH /network-interfaces/{id} ({iface_id,
 * rx_rate_limiter, tx_rate_limiter}): change the limiters of a drive or
 * interface that exists. *index is its place among the machine's disks
 * (vmcfg_to_machine's order) or NICs (the configuration's order too);
 * *drive the drive changed. 0, or -EINVAL with a message. */
int vmcfg_patch_drive(struct vm_config *c, const char *id, const json_t *body,
                      const struct vm_drive **drive, unsigned *index, char *err) WARN_UNUSED;
int vmcfg_patch_net(struct vm_config *c, const char *id, const json_t *body, unsigned *index,
                    char *err) WARN_UNUSED;
/* PATCH /balloon and /balloon/statistics bodies: the one field each. */
int vmcfg_parse_balloon_patch(const json_t *body, uint64_t *amount_mib, char *err) WARN_UNUSED;
int vmcfg_parse_balloon_stats_patch(const json_t *body, unsigned *interval_s,
                                    char *err) WARN_UNUSED;
json_t *vmcfg_balloon_json(const struct vm_config *c);
/* Devices from the --disk/--net flags (parsed by machine/options.c):
 * clear the lists, then add with generated ids (disk0.., net0..). */
void vmcfg_clear_devices(struct vm_config *c, bool drives, bool nets);
int vmcfg_add_disk(struct vm_config *c, const struct machine_disk *d, char *err) WARN_UNUSED;
int vmcfg_add_net(struct vm_config *c, const struct machine_net *n, char *err) WARN_UNUSED;
/* A whole document ({"boot-source": ..., "machine-config": ..., "drives":
 * [...], "network-interfaces": [...]}), as --config-file holds. */
int vmcfg_apply_document(struct vm_config *c, const json_t *doc, char *err) WARN_UNUSED;
int vmcfg_load_file(struct vm_config *c, const char *path, char *err) WARN_UNUSED;

/* An id as Firecracker accepts them: 1..63 of [A-Za-z0-9_]. */
bool vmcfg_valid_id(const char *id);
int vmcfg_parse_mac(const char *s, uint8_t mac[6]) WARN_UNUSED;

/* JSON views (new references; NULL on allocation failure). */
json_t *vmcfg_machine_config_json(const struct vm_config *c);
json_t *vmcfg_to_json(const struct vm_config *c);

/* PUT /mmds/config ({version, network_interfaces, ipv4_address,
 * imds_compat}): the interfaces must exist and be user-mode ones. */
int vmcfg_put_mmds_config(struct vm_config *c, const json_t *body, char *err) WARN_UNUSED;
json_t *vmcfg_mmds_config_json(const struct vm_config *c);
/* The MMDS store, made on first use (NULL: out of memory). It lives as
 * long as `c`; the running machine's network holds a pointer to it. */
struct mmds *vmcfg_mmds_store(struct vm_config *c);
/* MMDS answers as *m says (its store made if needed, its data kept). */
int vmcfg_set_mmds(struct vm_config *c, const struct vm_mmds_config *m) WARN_UNUSED;

/* The default guest build (scripts/guest.sh --print-dir without building:
 * $XDG_CACHE_HOME/corral/guest/current, resolved). 0, or -errno with the
 * path that was looked for in dir. */
int vmcfg_default_guest_dir(char *dir, size_t len) WARN_UNUSED;
/* Fill `mc` from `c` (strings stay owned by `c`, which must outlive the
 * machine). Checks that what start needs is there. A missing firmware
 * (and initrd, when there is a root disk or root=) is taken from the
 * default guest build and recorded in `c`. */
int vmcfg_to_machine(struct vm_config *c, struct machine_config *mc, char *err) WARN_UNUSED;

#endif
