/* The whole cluster as one read of etcd: hosts alive (their lease holds
 * their record), drained hosts, VM records with their revisions (for
 * compare-and-swap), statuses, incoming destinations and the leader. The
 * agent reads it every tick; the cluster CLI once per command step. */
#ifndef CORRAL_CLUSTER_CLUSTER_H
#define CORRAL_CLUSTER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/records.h"
#include "core/types.h"

struct etcd;

#define CLUSTER_DRAIN CLUSTER_PREFIX "drain/"

struct cluster_vm_rec {
    struct cluster_vm vm;
    int64_t mod_revision;
    bool has_status;
    struct cluster_status status;
};

struct cluster_view {
    struct cluster_host *hosts;
    size_t nhosts;
    struct cluster_vm_rec *vms;
    struct cluster_vm *vm_list; /* the same VMs, as placement wants them */
    size_t nvms;
    struct cluster_incoming *incoming;
    char (*incoming_names)[CLUSTER_NAME_MAX];
    size_t nincoming;
    bool leader_known;
    char leader[CLUSTER_NAME_MAX];
    size_t skipped; /* records that did not decode (reported, not used) */
    char skipped_why[CLUSTER_MSG_MAX];
};

/* 0, or the etcd error (etcd_error has the line). Records that do not
 * decode are skipped and counted. */
int cluster_view_load(struct etcd *e, struct cluster_view *v) WARN_UNUSED;
void cluster_view_free(struct cluster_view *v);
const struct cluster_host *cluster_view_host(const struct cluster_view *v, const char *name);
const struct cluster_vm_rec *cluster_view_vm(const struct cluster_view *v, const char *name);
const struct cluster_incoming *cluster_view_incoming(const struct cluster_view *v,
                                                     const char *name);
/* A TCP port free on addr right now (for a migration destination), or -1. */
int cluster_free_port(const char *addr);

#endif
