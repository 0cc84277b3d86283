/* One consistent-enough read of the cluster (cluster/cluster.h): a range
 * over /corral/ at one revision, split by key. */
#include "cluster/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/etcd.h"

static bool starts(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n))
        return false;
    *rest = s + n;
    return true;
}

static void skip(struct cluster_view *v, const char *key, const char *why)
{
    v->skipped++;
    snprintf(v->skipped_why, sizeof(v->skipped_why), "%.100s: %.150s", key, why);
}

int cluster_view_load(struct etcd *e, struct cluster_view *v)
{
    memset(v, 0, sizeof(*v));
    struct etcd_range r;
    int rc = etcd_get(e, CLUSTER_PREFIX, true, &r);
    if (rc)
        return rc;
    v->hosts = calloc(r.n + 1, sizeof(*v->hosts));
    v->vms = calloc(r.n + 1, sizeof(*v->vms));
    v->vm_list = calloc(r.n + 1, sizeof(*v->vm_list));
    v->incoming = calloc(r.n + 1, sizeof(*v->incoming));
    v->incoming_names = calloc(r.n + 1, sizeof(*v->incoming_names));
    if (!v->hosts || !v->vms || !v->vm_list || !v->incoming || !v->incoming_names) {
        etcd_range_free(&r);
        cluster_view_free(v);
        return -12; /* -ENOMEM */
    }
    char err[CLUSTER_MSG_MAX];
    /* Keys come sorted: drain/ < hosts/ < incoming/ < leader < status/ < vms/. */
    for (size_t i = 0; i < r.n; i++) {
        const char *k = r.kvs[i].key, *val = r.kvs[i].value, *name;
        if (starts(k, CLUSTER_HOSTS, &name)) {
            struct cluster_host h;
            if (cluster_host_decode(val, &h, err, sizeof(err)) || strcmp(h.name, name))
                skip(v, k, "not a valid host record");
            else
                v->hosts[v->nhosts++] = h;
        } else if (starts(k, CLUSTER_VMS, &name)) {
            struct cluster_vm_rec *vr = &v->vms[v->nvms];
            if (cluster_vm_decode(val, &vr->vm, err, sizeof(err))) {
                skip(v, k, err);
            } else if (strcmp(vr->vm.name, name)) {
                cluster_vm_free(&vr->vm);
                skip(v, k, "the record names another VM");
            } else {
                vr->mod_revision = r.kvs[i].mod_revision;
                v->nvms++;
            }
        } else if (starts(k, CLUSTER_INCOMING, &name)) {
            if (!cluster_valid_name(name) ||
                cluster_incoming_decode(val, &v->incoming[v->nincoming], err, sizeof(err))) {
                skip(v, k, "not a valid incoming record");
            } else {
                snprintf(v->incoming_names[v->nincoming], CLUSTER_NAME_MAX, "%s", name);
                v->nincoming++;
            }
        } else if (!strcmp(k, CLUSTER_LEADER)) {
            if (cluster_valid_name(val)) {
                v->leader_known = true;
                snprintf(v->leader, sizeof(v->leader), "%s", val);
            }
        }
    }
    /* Second pass: what refers to hosts and VMs read in the first. */
    for (size_t i = 0; i < r.n; i++) {
        const char *k = r.kvs[i].key, *name;
        if (starts(k, CLUSTER_DRAIN, &name)) {
            for (size_t h = 0; h < v->nhosts; h++)
                if (!strcmp(v->hosts[h].name, name))
                    v->hosts[h].draining = true;
        } else if (starts(k, CLUSTER_STATUS, &name)) {
            for (size_t m = 0; m < v->nvms; m++) {
                struct cluster_vm_rec *vr = &v->vms[m];
                if (strcmp(vr->vm.name, name) || vr->has_status)
                    continue;
                if (!cluster_status_decode(r.kvs[i].value, &vr->status, err, sizeof(err)))
                    vr->has_status = true;
            }
        }
    }
    for (size_t m = 0; m < v->nvms; m++)
        v->vm_list[m] = v->vms[m].vm; /* shallow: placement only reads */
    etcd_range_free(&r);
    return 0;
}

void cluster_view_free(struct cluster_view *v)
{
    for (size_t i = 0; v->vms && i < v->nvms; i++) {
        cluster_vm_free(&v->vms[i].vm);
        cluster_status_free(&v->vms[i].status);
    }
    free(v->hosts);
    free(v->vms);
    free(v->vm_list);
    free(v->incoming);
    free(v->incoming_names);
    memset(v, 0, sizeof(*v));
}

const struct cluster_host *cluster_view_host(const struct cluster_view *v, const char *name)
{
    for (size_t i = 0; i < v->nhosts; i++)
        if (!strcmp(v->hosts[i].name, name))
            return &v->hosts[i];
    return NULL;
}

const struct cluster_vm_rec *cluster_view_vm(const struct cluster_view *v, const char *name)
{
    for (size_t i = 0; i < v->nvms; i++)
        if (!strcmp(v->vms[i].vm.name, name))
            return &v->vms[i];
    return NULL;
}

const struct cluster_incoming *cluster_view_incoming(const struct cluster_view *v,
                                                     const char *name)
{
    for (size_t i = 0; i < v->nincoming; i++)
        if (!strcmp(v->incoming_names[i], name))
            return &v->incoming[i];
    return NULL;
}

int cluster_free_port(const char *addr)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t len = sizeof(sa);
    int port = -1;
    if (!bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
        !getsockname(fd, (struct sockaddr *)&sa, &len))
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}
