/* Snapshots of the agent's VMs for failover (corral cluster snapshot):
 * taking one through the VM's API, and keeping the VM record's disk paths
 * on the files the VM really writes. A snapshot freezes a qcow2 disk under
 * a new overlay and a restore starts another one, so after either the
 * record's configuration would name a frozen image: a cold boot from it
 * would write into the snapshot's own disk state. */
#ifndef CORRAL_CLUSTER_AGENT_SNAPSHOT_H
#define CORRAL_CLUSTER_AGENT_SNAPSHOT_H

#include <stddef.h>

#include "cluster/agent_proc.h"

/* Pause the VM (when running), write DIR/state and DIR/memory, resume it.
 * 0 with *ms the time the guest was stopped, or -1 with the reason. */
int agent_snapshot_take(struct agent_proc *p, const char *dir, double *ms, char *err,
                        size_t errlen);

/* config_json (the record's) with every drive's path_on_host replaced by
 * the one the running VM reports (GET /vm/config). Malloc'd; NULL when
 * nothing changed or the VM did not answer. */
char *agent_config_follow_drives(struct agent_proc *p, const char *config_json);

#endif
