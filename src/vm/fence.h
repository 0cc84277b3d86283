/* Self-fencing for VMs that a cluster agent supervises (corral agent):
 * the agent touches a heartbeat file while its etcd lease is known to be
 * alive; a VM whose heartbeat file has not been touched for the timeout
 * stops at once, before the lease can expire and the cluster restart it on
 * another host. That is how "no VM runs twice" holds when an agent dies
 * (or loses etcd) but its VMs would run on. Main thread (vm_run). */
#ifndef CORRAL_VM_FENCE_H
#define CORRAL_VM_FENCE_H

#include <stdint.h>

#include "core/types.h"

struct vm_fence {
    char *path;          /* NULL: no fencing */
    int64_t timeout_ms;
    int64_t next_check_ns; /* monotonic */
};

/* The heartbeat file is missing or older than the timeout (wall clock:
 * the agent and the VM compare the same clock on one host). Checks at
 * most every 200 ms; *wait_ms is lowered to the next check. */
bool vm_fence_expired(struct vm_fence *f, int64_t now_ns, int *wait_ms);

#endif
