/* Where VMs go: pure functions over the host and VM records, so that the
 * CLI (create, drain, balance) and the leader (failover) decide the same
 * way and unit tests can check every choice. A host's load is the memory
 * of the VMs that should run there, plus those migrating to it. */
#ifndef CORRAL_CLUSTER_PLACEMENT_H
#define CORRAL_CLUSTER_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/records.h"

/* MiB the VMs ask of host `name`. */
uint64_t cluster_host_used(const char *name, const struct cluster_vm *vms, size_t nv);
/* The host for a VM of need_mib: the one with the most free memory that
 * fits (ties: the name first in order), never `exclude` (may be NULL) nor
 * a draining host. -1 when none fits. */
int cluster_place(const struct cluster_host *hosts, size_t nh, const struct cluster_vm *vms,
                  size_t nv, uint64_t need_mib, const char *exclude);

struct cluster_move {
    size_t vm;   /* index into vms */
    size_t host; /* index into hosts: where it goes */
};
/* A plan that evens out memory load: repeatedly the move of one VM from the
 * most loaded host (by share of its capacity) to the least loaded that
 * narrows the gap; at most max moves. Returns how many. */
size_t cluster_balance_plan(const struct cluster_host *hosts, size_t nh,
                            const struct cluster_vm *vms, size_t nv, struct cluster_move *plan,
                            size_t max);

#endif
