/* corral agent: one per host. It registers the host in etcd on a lease,
 * runs the VMs that etcd places on it as ordinary `corral run` processes
 * (one process per VM stays the isolation model), reports each VM's state,
 * carries out migrations to and from its host, and, while it holds the
 * cluster's leader key, restarts the VMs of hosts whose lease expired.
 * Everything that must survive the agent lives in etcd: an agent that
 * comes back adopts the VMs still running under it and reconciles the rest.
 * Main thread only (a single loop; no locks). */
#ifndef CORRAL_CLUSTER_AGENT_H
#define CORRAL_CLUSTER_AGENT_H

#include <signal.h>
#include <stdint.h>

struct cluster_agent_opts {
    const char *etcd;      /* URL(s) */
    const char *name;      /* this host's name in the cluster */
    const char *addr;      /* address migrations to this host connect to */
    const char *state_dir; /* sockets, consoles, configs, the heartbeat */
    const char *corral;    /* the corral binary to run VMs with */
    unsigned cpus;
    uint64_t memory_mib; /* capacity offered to VMs */
    int ttl;             /* lease seconds (>= 5) */
};

/* Runs until *stop is set (SIGINT/SIGTERM): then revokes the lease and
 * leaves the VMs running (they fence themselves if it does not come back).
 * 0, or 1 with the reason printed. */
int cluster_agent_run(const struct cluster_agent_opts *o, volatile sig_atomic_t *stop);

#endif
