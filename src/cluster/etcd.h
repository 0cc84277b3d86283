/* A small client of etcd's v3 API through its HTTP/JSON gateway (etcd
 * 3.4: POST /v3/kv/range, /v3/kv/put, /v3/kv/txn, /v3/kv/deleterange,
 * /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke). The cluster's
 * membership, leases, placement records and leader election all live in
 * etcd; this file only speaks its protocol. Keys and values are strings
 * (the gateway base64-encodes them; that stays in here).
 * Threads: one struct etcd per thread (it owns a curl handle). */
#ifndef CORRAL_CLUSTER_ETCD_H
#define CORRAL_CLUSTER_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

struct etcd;

/* One key-value pair of a range answer. */
struct etcd_kv {
    char *key;
    char *value;
    int64_t create_revision, mod_revision, lease;
};

struct etcd_range {
    struct etcd_kv *kvs;
    size_t n;
    int64_t revision; /* of the store when it answered */
};

/* URL like "http://127.0.0.1:2379" (several, comma-separated: each is tried
 * in turn when one does not answer). Nothing is sent yet. */
struct etcd *etcd_open(const char *urls, char *err, size_t errlen);
void etcd_close(struct etcd *e);
/* The last error, one line ("etcd at URL: ..."). */
const char *etcd_error(const struct etcd *e);

/* Every key starting with prefix (or exactly `key` when prefix is false).
 * 0 or -errno (-EIO: etcd unreachable or answered an error). */
int etcd_get(struct etcd *e, const char *key, bool prefix, struct etcd_range *out) WARN_UNUSED;
void etcd_range_free(struct etcd_range *r);
/* The value of one key into *value (malloc'd) and its mod revision;
 * -ENOENT when absent. */
int etcd_get_one(struct etcd *e, const char *key, char **value, int64_t *mod_revision) WARN_UNUSED;
/* Put, attached to a lease when lease != 0. */
int etcd_put(struct etcd *e, const char *key, const char *value, int64_t lease) WARN_UNUSED;
/* Compare-and-swap: put only when the key's mod revision is still
 * `mod_revision` (0: only when the key does not exist). 0 when written,
 * -EAGAIN when the comparison failed (someone else changed it). */
int etcd_put_if(struct etcd *e, const char *key, const char *value, int64_t mod_revision,
                int64_t lease) WARN_UNUSED;
/* Delete one key (or a prefix); delete_if only at that mod revision. */
int etcd_delete(struct etcd *e, const char *key, bool prefix) WARN_UNUSED;
int etcd_delete_if(struct etcd *e, const char *key, int64_t mod_revision) WARN_UNUSED;

/* Leases: grant (TTL seconds) into *id; keepalive (-ENOENT when the lease
 * has expired: whoever held it has lost everything attached to it). */
int etcd_lease_grant(struct etcd *e, int ttl, int64_t *id) WARN_UNUSED;
int etcd_lease_keepalive(struct etcd *e, int64_t id, int *ttl_left) WARN_UNUSED;
int etcd_lease_revoke(struct etcd *e, int64_t id) WARN_UNUSED;

/* The parsers of etcd's answers, apart for the fuzz target: a range
 * answer, and whether a txn succeeded. 0 or -EINVAL. */
int etcd_parse_range(const char *json, size_t len, struct etcd_range *out) WARN_UNUSED;
int etcd_parse_txn(const char *json, size_t len, bool *succeeded) WARN_UNUSED;
/* Base64 (standard alphabet, padded) of etcd's keys and values. decode
 * returns the length or -1 on a bad input; out holds at least
 * len / 4 * 3 + 1 bytes and is NUL-terminated. */
char *etcd_b64_encode(const char *s, size_t len);
long etcd_b64_decode(const char *s, size_t len, char *out);

#endif
