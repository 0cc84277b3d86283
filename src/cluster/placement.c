/* Placement decisions (cluster/placement.h). */
#include "cluster/placement.h"

#include <stdlib.h>
#include <string.h>

uint64_t cluster_host_used(const char *name, const struct cluster_vm *vms, size_t nv)
{
    uint64_t used = 0;
    for (size_t i = 0; i < nv; i++) {
        if (!vms[i].running)
            continue;
        if (!strcmp(vms[i].host, name) || !strcmp(vms[i].migrate_to, name))
            used += vms[i].memory_mib;
    }
    return used;
}

int cluster_place(const struct cluster_host *hosts, size_t nh, const struct cluster_vm *vms,
                  size_t nv, uint64_t need_mib, const char *exclude)
{
    int best = -1;
    uint64_t best_free = 0;
    for (size_t i = 0; i < nh; i++) {
        if (hosts[i].draining || (exclude && !strcmp(hosts[i].name, exclude)))
            continue;
        uint64_t used = cluster_host_used(hosts[i].name, vms, nv);
        if (used > hosts[i].memory_mib || hosts[i].memory_mib - used < need_mib)
            continue;
        uint64_t free_mib = hosts[i].memory_mib - used;
        if (best < 0 || free_mib > best_free ||
            (free_mib == best_free && strcmp(hosts[i].name, hosts[best].name) < 0)) {
            best = (int)i;
            best_free = free_mib;
        }
    }
    return best;
}

/* Load as parts per million of capacity (a host with none is full). */
static uint64_t load_ppm(uint64_t used, uint64_t cap)
{
    return cap ? used * 1000000 / cap : UINT64_MAX / 2;
}

size_t cluster_balance_plan(const struct cluster_host *hosts, size_t nh,
                            const struct cluster_vm *vms, size_t nv, struct cluster_move *plan,
                            size_t max)
{
    if (nh < 2 || !nv)
        return 0;
    uint64_t *used = calloc(nh, sizeof(*used));
    size_t *where = calloc(nv, sizeof(*where)); /* host index of each VM, nh = none */
    bool *moved = calloc(nv, sizeof(*moved));
    size_t n = 0;
    if (!used || !where || !moved)
        goto out;
    for (size_t v = 0; v < nv; v++) {
        where[v] = nh;
        for (size_t h = 0; h < nh; h++)
            if (vms[v].running && !vms[v].migrate_to[0] && !strcmp(vms[v].host, hosts[h].name))
                where[v] = h;
        if (where[v] < nh)
            used[where[v]] += vms[v].memory_mib;
    }
    while (n < max) {
        size_t hi = 0, lo = nh;
        for (size_t h = 1; h < nh; h++)
            if (load_ppm(used[h], hosts[h].memory_mib) > load_ppm(used[hi], hosts[hi].memory_mib))
                hi = h;
        for (size_t h = 0; h < nh; h++)
            if (!hosts[h].draining && h != hi &&
                (lo == nh ||
                 load_ppm(used[h], hosts[h].memory_mib) < load_ppm(used[lo], hosts[lo].memory_mib)))
                lo = h;
        if (lo == nh)
            break;
        /* The VM on hi whose move leaves the smallest gap between the two. */
        uint64_t gap = load_ppm(used[hi], hosts[hi].memory_mib) - load_ppm(used[lo], hosts[lo].memory_mib);
        size_t pick = nv;
        for (size_t v = 0; v < nv; v++) {
            if (where[v] != hi || moved[v] || used[lo] + vms[v].memory_mib > hosts[lo].memory_mib)
                continue;
            uint64_t a = load_ppm(used[hi] - vms[v].memory_mib, hosts[hi].memory_mib);
            uint64_t b = load_ppm(used[lo] + vms[v].memory_mib, hosts[lo].memory_mib);
            uint64_t g = a > b ? a - b : b - a;
            if (g < gap) {
                gap = g;
                pick = v;
            }
        }
        if (pick == nv)
            break;
        plan[n++] = (struct cluster_move){ .vm = pick, .host = lo };
        used[hi] -= vms[pick].memory_mib;
        used[lo] += vms[pick].memory_mib;
        where[pick] = lo;
        moved[pick] = true;
    }
out:
    free(used);
    free(where);
    free(moved);
    return n;
}
