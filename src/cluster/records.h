/* The cluster's records in etcd, as typed structs: hosts (kept alive by
 * their agent's lease), VMs (what should run, and where), each VM's status
 * (what runs, written by the agent that runs it) and the destination of a
 * migration in progress. JSON in etcd; the decoders check every field,
 * since anything read back from etcd may have been written by anyone.
 *
 *   /corral/hosts/H      host record, on H's lease
 *   /corral/vms/N        VM record (desired state and placement)
 *   /corral/status/N     VM status, on the running host's lease
 *   /corral/incoming/N   a destination ready for N's migration, on its lease
 *   /corral/leader       the agent that restarts VMs of dead hosts, on its lease
 *   /corral/migrations/N the last migration's statistics (GET /migrate's answer)
 *   /corral/drain/H      host H takes no VMs (corral cluster drain)
 */
#ifndef CORRAL_CLUSTER_RECORDS_H
#define CORRAL_CLUSTER_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

#define CLUSTER_NAME_MAX 64
#define CLUSTER_ADDR_MAX 64
#define CLUSTER_MSG_MAX 256
#define CLUSTER_PATH_MAX 512

#define CLUSTER_PREFIX "/corral/"
#define CLUSTER_HOSTS CLUSTER_PREFIX "hosts/"
#define CLUSTER_VMS CLUSTER_PREFIX "vms/"
#define CLUSTER_STATUS CLUSTER_PREFIX "status/"
#define CLUSTER_INCOMING CLUSTER_PREFIX "incoming/"
#define CLUSTER_LEADER CLUSTER_PREFIX "leader"
#define CLUSTER_MIGRATIONS CLUSTER_PREFIX "migrations/"

struct cluster_host {
    char name[CLUSTER_NAME_MAX];
    char addr[CLUSTER_ADDR_MAX]; /* where migrations to this host connect */
    unsigned cpus;
    uint64_t memory_mib; /* capacity offered to VMs */
    bool draining;       /* takes no new VMs */
    uint64_t started_ms; /* wall clock, for `hosts` */
};

/* What should run: written by the CLI (create, stop, migrate) and by the
 * leader (failover), always compare-and-swap on the record's revision. */
struct cluster_vm {
    char name[CLUSTER_NAME_MAX];
    char host[CLUSTER_NAME_MAX]; /* where it runs ("" before placement) */
    char *config;                /* the VM's JSON configuration (--config-file) */
    unsigned cpus;
    uint64_t memory_mib;
    bool running;        /* desired: running, or stopped */
    bool shared_storage; /* every host reaches its disks: restart elsewhere on host loss */
    uint64_t epoch;      /* +1 each time the VM changes host */
    char migrate_to[CLUSTER_NAME_MAX]; /* "" unless a migration is asked for */
    uint64_t migrate_id;
    char migrate_mode[16]; /* precopy, postcopy or auto */
    char message[CLUSTER_MSG_MAX]; /* the last thing that went wrong, or happened */
    uint64_t failovers;            /* restarts after a host was lost */
    uint64_t lost_ms;              /* wall clock when its host was found lost */
    /* Snapshots (corral cluster snapshot): the CLI asks with a new
     * snapshot_id and a directory; the agent running the VM takes it and
     * sets snapshot_done to that id, and last_snapshot on success. */
    uint64_t snapshot_id;
    char snapshot_dir[CLUSTER_PATH_MAX];
    uint64_t snapshot_done;
    char last_snapshot[CLUSTER_PATH_MAX]; /* "" when none was taken */
    uint64_t last_snapshot_ms;            /* wall clock it was taken */
    uint64_t last_snapshot_id;            /* its snapshot_id */
    /* Set by the leader when it moves the VM of a lost host that has a
     * snapshot: the new host restores it (cold boot when that fails). */
    bool restore_pending;
};

/* What runs: written by the agent that runs it, on that agent's lease. */
struct cluster_status {
    char host[CLUSTER_NAME_MAX];
    char state[16]; /* starting, running, migrating, stopping, stopped, failed */
    int pid;
    uint64_t epoch;
    uint64_t since_ms; /* wall clock of the last state change */
    char message[CLUSTER_MSG_MAX];
    char *migration; /* the last migration's statistics as JSON, or NULL */
};

struct cluster_incoming {
    char host[CLUSTER_NAME_MAX];
    char uri[CLUSTER_ADDR_MAX + 16];
    uint64_t migrate_id;
};

/* Encoders return malloc'd JSON text (NULL: out of memory). Decoders fill
 * the struct from JSON text: 0, or -EINVAL with the reason in err. */
char *cluster_host_encode(const struct cluster_host *h);
int cluster_host_decode(const char *json, struct cluster_host *h, char *err, size_t errlen) WARN_UNUSED;
char *cluster_vm_encode(const struct cluster_vm *v);
int cluster_vm_decode(const char *json, struct cluster_vm *v, char *err, size_t errlen) WARN_UNUSED;
void cluster_vm_free(struct cluster_vm *v);
char *cluster_status_encode(const struct cluster_status *s);
int cluster_status_decode(const char *json, struct cluster_status *s, char *err,
                          size_t errlen) WARN_UNUSED;
void cluster_status_free(struct cluster_status *s);
char *cluster_incoming_encode(const struct cluster_incoming *in);
int cluster_incoming_decode(const char *json, struct cluster_incoming *in, char *err,
                            size_t errlen) WARN_UNUSED;

/* Host and VM names: 1..63 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool cluster_valid_name(const char *name);
/* The harts and MiB a VM configuration asks for ("machine-config":
 * vcpu_count, mem_size_mib; Corral's defaults when absent). 0 or -EINVAL. */
int cluster_config_size(const char *config_json, unsigned *cpus, uint64_t *memory_mib, char *err,
                        size_t errlen) WARN_UNUSED;
/* Milliseconds of the wall clock (records are read on other hosts). */
uint64_t cluster_now_ms(void);

#endif
