/* Resource quotas through the kernel's cgroups (what Firecracker's jailer
 * does): the VMM process moves into a cgroup of its own, created as a
 * child of the cgroup it is in (so it stays inside whatever limits its
 * parent already has), with CPU bandwidth, CPU weight and a memory limit.
 * cgroup v2 when /sys/fs/cgroup is a v2 mount with the controllers, else
 * v1's cpu and memory hierarchies. The group is removed on leave.
 * Threads: main/API thread, before the hart threads start (moving the
 * process moves every thread anyway). */
#ifndef CORRAL_VM_CGROUP_H
#define CORRAL_VM_CGROUP_H

#include <stddef.h>

#include "core/types.h"

struct vm_cgroup_limits {
    unsigned cpu_quota_pct;   /* 0: none; 100 = one core, 200 = two */
    unsigned cpu_weight;      /* 0: none; 1..10000, v2's scale (100 default) */
    uint64_t memory_limit;    /* bytes; 0: none */
};

struct vm_cgroup;

static inline bool vm_cgroup_wanted(const struct vm_cgroup_limits *l)
{
    return l->cpu_quota_pct || l->cpu_weight || l->memory_limit;
}

/* Create the group(s), set the limits, move this process in. -errno with
 * one line in err (e.g. "/sys/fs/cgroup/cpu is not writable"); nothing is
 * left behind on failure. */
int vm_cgroup_enter(const struct vm_cgroup_limits *l, struct vm_cgroup **out, char *err,
                    size_t errlen) WARN_UNUSED;
/* Move back to the original cgroup(s) and remove ours. NULL is fine. */
void vm_cgroup_leave(struct vm_cgroup *cg);

#endif
