/* PUT /migrate's body (docs/api.yaml, a Corral extension): the
 * destination and how to get there. Every field is checked; unknown ones
 * are refused. */
#include <stdio.h>
#include <string.h>

#include "vm/vm.h"

#define MAX_BANDWIDTH_MIBPS 1000000
#define MAX_DELTA_CACHE_MIB 4096
#define MAX_ZSTD_LEVEL 19
#define MAX_THREADS 64

static int fail(char *err, const char *fmt, const char *key, long long lo, long long hi)
{
    snprintf(err, VM_ERR_LEN, fmt, key, lo, hi);
    return -1;
}

/* An optional integer in lo..hi; *v keeps its default when absent. */
static int get_int(const json_t *o, const char *key, long long lo, long long hi, long long *v,
                   char *err)
{
    json_t *j = json_object_get(o, key);
    if (!j)
        return 0;
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi)
        return fail(err, "'%s' must be an integer from %lld to %lld", key, lo, hi);
    *v = json_integer_value(j);
    return 0;
}

static int get_bool(const json_t *o, const char *key, bool *v, char *err)
{
    json_t *j = json_object_get(o, key);
    if (!j)
        return 0;
    if (!json_is_boolean(j)) {
        snprintf(err, VM_ERR_LEN, "'%s' must be true or false", key);
        return -1;
    }
    *v = json_is_true(j);
    return 0;
}

static int only(const json_t *o, const char *const *keys, const char *where, char *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        bool known = false;
        for (const char *const *p = keys; *p; p++)
            known |= !strcmp(k, *p);
        if (!known) {
            snprintf(err, VM_ERR_LEN, "%s: unknown field '%.64s'", where, k);
            return -1;
        }
    }
    return 0;
}

int vm_mig_params_from_json(struct vm_mig_params *p, const json_t *body, char *err)
{
    static const char *const keys[] = { "uri", "mode", "downtime_limit_ms",
                                        "max_bandwidth_mibps", "compression",
                                        "delta_cache_mib", "dedup", NULL };
    static const char *const ckeys[] = { "zero_pages", "zstd_level", "threads", NULL };
    vm_mig_params_default(p);
    if (!json_is_object(body)) {
        snprintf(err, VM_ERR_LEN, "the body must be a JSON object");
        return -1;
    }
    if (only(body, keys, "migrate", err))
        return -1;
    json_t *uri = json_object_get(body, "uri"), *mode = json_object_get(body, "mode");
    if (!json_is_string(uri) || !*json_string_value(uri)) {
        snprintf(err, VM_ERR_LEN, "'uri' is required (tcp:HOST:PORT, unix:PATH)");
        return -1;
    }
    p->uri = json_string_value(uri);
    if (mode) {
        const char *m = json_is_string(mode) ? json_string_value(mode) : "";
        if (!strcmp(m, "precopy"))
            p->mode = VM_MIG_PRECOPY;
        else if (!strcmp(m, "postcopy"))
            p->mode = VM_MIG_POSTCOPY;
        else if (!strcmp(m, "auto"))
            p->mode = VM_MIG_AUTO;
        else {
            snprintf(err, VM_ERR_LEN, "mode '%.32s': expected precopy, postcopy or auto", m);
            return -1;
        }
    }
    long long dl = 0, bw = 0, delta = 0, level = 0, threads = 1;
    if (get_int(body, "downtime_limit_ms", 1, 60000, &dl, err) ||
        get_int(body, "max_bandwidth_mibps", 0, MAX_BANDWIDTH_MIBPS, &bw, err) ||
        get_int(body, "delta_cache_mib", 0, MAX_DELTA_CACHE_MIB, &delta, err) ||
        get_bool(body, "dedup", &p->dedup, err))
        return -1;
    json_t *c = json_object_get(body, "compression");
    if (c) {
        if (!json_is_object(c)) {
            snprintf(err, VM_ERR_LEN, "'compression' must be an object {zero_pages, zstd_level, "
                     "threads}");
            return -1;
        }
        if (only(c, ckeys, "compression", err) || get_bool(c, "zero_pages", &p->zero_pages, err) ||
            get_int(c, "zstd_level", 0, MAX_ZSTD_LEVEL, &level, err) ||
            get_int(c, "threads", 1, MAX_THREADS, &threads, err))
            return -1;
    }
    p->downtime_limit_ms = (uint32_t)dl;
    p->max_bandwidth_mibps = (uint32_t)bw;
    p->delta_cache_mib = (uint32_t)delta;
    p->zstd_level = (int)level;
    return 0;
}
