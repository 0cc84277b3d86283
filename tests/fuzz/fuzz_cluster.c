/* What the cluster reads back from etcd: any bytes as etcd's range and txn
 * answers, and as each kind of record (a host, a VM, a status, an incoming
 * destination) a hostile writer could have put there, and as base64. The
 * first byte picks the parser. Nothing may crash or leak; a record that
 * decodes must encode again and decode to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/etcd.h"
#include "cluster/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    char err[256];
    switch (data[0] % 7) {
    case 0: {
        struct etcd_range r;
        if (!etcd_parse_range(s, size - 1, &r))
            etcd_range_free(&r);
        break;
    }
    case 1: {
        bool ok;
        (void)etcd_parse_txn(s, size - 1, &ok);
        break;
    }
    case 2: {
        struct cluster_vm v;
        if (!cluster_vm_decode(s, &v, err, sizeof(err))) {
            char *t = cluster_vm_encode(&v);
            struct cluster_vm w;
            if (!t || cluster_vm_decode(t, &w, err, sizeof(err)))
                abort();
            if (strcmp(v.name, w.name) || strcmp(v.host, w.host) || v.epoch != w.epoch ||
                v.memory_mib != w.memory_mib)
                abort();
            cluster_vm_free(&w);
            free(t);
            cluster_vm_free(&v);
        }
        break;
    }
    case 3: {
        struct cluster_host h;
        if (!cluster_host_decode(s, &h, err, sizeof(err)))
            free(cluster_host_encode(&h));
        break;
    }
    case 4: {
        struct cluster_status st;
        if (!cluster_status_decode(s, &st, err, sizeof(err))) {
            free(cluster_status_encode(&st));
            cluster_status_free(&st);
        }
        break;
    }
    case 5: {
        struct cluster_incoming in;
        if (!cluster_incoming_decode(s, &in, err, sizeof(err)))
            free(cluster_incoming_encode(&in));
        break;
    }
    default: {
        char *out = malloc(size / 4 * 3 + 2);
        if (out)
            (void)etcd_b64_decode(s, size - 1, out);
        free(out);
        break;
    }
    }
    free(s);
    return 0;
}
