/* JSON encoding of the cluster's records (cluster/records.h). A decoder
 * takes only the fields it knows, each of its own type and within its
 * bounds; unknown fields are ignored so that a newer agent's records still
 * read. */
#include "cluster/records.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm/config.h"
#include "vm/registry.h"

uint64_t cluster_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool cluster_valid_name(const char *name)
{
    /* A VM's registry name (the agent registers it under that), and not an
     * option-looking "-x" on the command lines the agent builds. */
    return vm_registry_valid_name(name) && name[0] != '-';
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return s;
}

/* ---- field readers: absent is the zero value; present must be right ---- */

struct reader {
    const json_t *obj;
    const char *what;
    char *err;
    size_t errlen;
    int r;
};

static void get_str(struct reader *rd, const char *key, char *out, size_t size, bool is_name)
{
    json_t *v = json_object_get(rd->obj, key);
    if (rd->r || !v)
        return;
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) >= size || strlen(s) != json_string_length(v) ||
        (is_name && *s && !cluster_valid_name(s))) {
        rd->r = bad(rd->err, rd->errlen, "%s: '%s' is not a valid string", rd->what, key);
        return;
    }
    memcpy(out, s, strlen(s) + 1);
}

static void get_u64(struct reader *rd, const char *key, uint64_t *out, uint64_t max)
{
    json_t *v = json_object_get(rd->obj, key);
    if (rd->r || !v)
        return;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max) {
        rd->r = bad(rd->err, rd->errlen, "%s: '%s' must be an integer 0..%llu", rd->what, key,
                    (unsigned long long)max);
        return;
    }
    *out = (uint64_t)json_integer_value(v);
}

static void get_bool(struct reader *rd, const char *key, bool *out)
{
    json_t *v = json_object_get(rd->obj, key);
    if (rd->r || !v)
        return;
    if (!json_is_boolean(v)) {
        rd->r = bad(rd->err, rd->errlen, "%s: '%s' must be true or false", rd->what, key);
        return;
    }
    *out = json_is_true(v);
}

/* A nested JSON object kept as text. */
static void get_json(struct reader *rd, const char *key, char **out, bool required)
{
    json_t *v = json_object_get(rd->obj, key);
    if (rd->r)
        return;
    if (!v || json_is_null(v)) {
        if (required)
            rd->r = bad(rd->err, rd->errlen, "%s: '%s' is missing", rd->what, key);
        return;
    }
    if (!json_is_object(v)) {
        rd->r = bad(rd->err, rd->errlen, "%s: '%s' must be an object", rd->what, key);
        return;
    }
    if (!(*out = json_dumps(v, JSON_COMPACT)))
        rd->r = bad(rd->err, rd->errlen, "out of memory");
}

static json_t *load(const char *json, struct reader *rd)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    if (!json_is_object(j)) {
        rd->r = bad(rd->err, rd->errlen, "%s: not a JSON object%s%s", rd->what, j ? "" : ": ",
                    j ? "" : je.text);
        json_decref(j);
        return NULL;
    }
    rd->obj = j;
    return j;
}

/* ---- hosts ---- */

char *cluster_host_encode(const struct cluster_host *h)
{
    return dump(json_pack("{s:s, s:s, s:I, s:I, s:b, s:I}", "name", h->name, "addr", h->addr,
                          "cpus", (json_int_t)h->cpus, "memory_mib", (json_int_t)h->memory_mib,
                          "draining", h->draining, "started_ms", (json_int_t)h->started_ms));
}

int cluster_host_decode(const char *json, struct cluster_host *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    struct reader rd = { .what = "host record", .err = err, .errlen = errlen };
    json_t *j = load(json, &rd);
    uint64_t cpus = 0;
    get_str(&rd, "name", h->name, sizeof(h->name), true);
    get_str(&rd, "addr", h->addr, sizeof(h->addr), false);
    get_u64(&rd, "cpus", &cpus, 1024);
    get_u64(&rd, "memory_mib", &h->memory_mib, 1ull << 40);
    get_bool(&rd, "draining", &h->draining);
    get_u64(&rd, "started_ms", &h->started_ms, UINT64_MAX >> 1);
    h->cpus = (unsigned)cpus;
    if (!rd.r && !*h->name)
        rd.r = bad(err, errlen, "host record: no name");
    json_decref(j);
    return rd.r;
}

/* ---- VMs ---- */

char *cluster_vm_encode(const struct cluster_vm *v)
{
    json_t *cfg = v->config ? json_loads(v->config, 0, NULL) : json_object();
    if (!cfg)
        return NULL;
    json_t *j = json_pack("{s:s, s:s, s:o, s:I, s:I, s:b, s:b, s:I, s:s, s:I, s:s, s:s, s:I, s:I}",
                          "name", v->name, "host", v->host, "config", cfg, "cpus",
                          (json_int_t)v->cpus, "memory_mib", (json_int_t)v->memory_mib,
                          "running", v->running, "shared_storage", v->shared_storage, "epoch",
                          (json_int_t)v->epoch, "migrate_to", v->migrate_to, "migrate_id",
                          (json_int_t)v->migrate_id, "migrate_mode", v->migrate_mode, "message",
                          v->message, "failovers", (json_int_t)v->failovers, "lost_ms",
                          (json_int_t)v->lost_ms);
    json_t *snap = json_pack("{s:I, s:s, s:I, s:s, s:I, s:I, s:b}", "snapshot_id",
                             (json_int_t)v->snapshot_id, "snapshot_dir", v->snapshot_dir,
                             "snapshot_done", (json_int_t)v->snapshot_done, "last_snapshot",
                             v->last_snapshot, "last_snapshot_ms", (json_int_t)v->last_snapshot_ms,
                             "last_snapshot_id", (json_int_t)v->last_snapshot_id,
                             "restore_pending", v->restore_pending);
    if (!j || !snap || json_object_update(j, snap)) {
        json_decref(j);
        j = NULL;
    }
    json_decref(snap);
    return dump(j);
}

int cluster_vm_decode(const char *json, struct cluster_vm *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    struct reader rd = { .what = "VM record", .err = err, .errlen = errlen };
    json_t *j = load(json, &rd);
    uint64_t cpus = 0;
    get_str(&rd, "name", v->name, sizeof(v->name), true);
    get_str(&rd, "host", v->host, sizeof(v->host), true);
    get_json(&rd, "config", &v->config, true);
    get_u64(&rd, "cpus", &cpus, 1024);
    get_u64(&rd, "memory_mib", &v->memory_mib, 1ull << 40);
    get_bool(&rd, "running", &v->running);
    get_bool(&rd, "shared_storage", &v->shared_storage);
    get_u64(&rd, "epoch", &v->epoch, UINT64_MAX >> 1);
    get_str(&rd, "migrate_to", v->migrate_to, sizeof(v->migrate_to), true);
    get_u64(&rd, "migrate_id", &v->migrate_id, UINT64_MAX >> 1);
    get_str(&rd, "migrate_mode", v->migrate_mode, sizeof(v->migrate_mode), false);
    get_str(&rd, "message", v->message, sizeof(v->message), false);
    get_u64(&rd, "failovers", &v->failovers, UINT64_MAX >> 1);
    get_u64(&rd, "lost_ms", &v->lost_ms, UINT64_MAX >> 1);
    get_u64(&rd, "snapshot_id", &v->snapshot_id, UINT64_MAX >> 1);
    get_str(&rd, "snapshot_dir", v->snapshot_dir, sizeof(v->snapshot_dir), false);
    get_u64(&rd, "snapshot_done", &v->snapshot_done, UINT64_MAX >> 1);
    get_str(&rd, "last_snapshot", v->last_snapshot, sizeof(v->last_snapshot), false);
    get_u64(&rd, "last_snapshot_ms", &v->last_snapshot_ms, UINT64_MAX >> 1);
    get_u64(&rd, "last_snapshot_id", &v->last_snapshot_id, UINT64_MAX >> 1);
    get_bool(&rd, "restore_pending", &v->restore_pending);
    /* Both go on command lines and into API requests on other hosts. */
    if (!rd.r && ((*v->snapshot_dir && v->snapshot_dir[0] != '/') ||
                  (*v->last_snapshot && v->last_snapshot[0] != '/')))
        rd.r = bad(err, errlen, "VM record: a snapshot directory is not an absolute path");
    v->cpus = (unsigned)cpus;
    if (!rd.r && !*v->name)
        rd.r = bad(err, errlen, "VM record: no name");
    json_decref(j);
    if (rd.r)
        cluster_vm_free(v);
    return rd.r;
}

void cluster_vm_free(struct cluster_vm *v)
{
    free(v->config);
    v->config = NULL;
}

/* ---- status ---- */

char *cluster_status_encode(const struct cluster_status *s)
{
    json_t *mig = s->migration ? json_loads(s->migration, 0, NULL) : json_null();
    if (!mig)
        mig = json_null();
    return dump(json_pack("{s:s, s:s, s:i, s:I, s:I, s:s, s:o}", "host", s->host, "state",
                          s->state, "pid", s->pid, "epoch", (json_int_t)s->epoch, "since_ms",
                          (json_int_t)s->since_ms, "message", s->message, "migration", mig));
}

int cluster_status_decode(const char *json, struct cluster_status *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    struct reader rd = { .what = "VM status", .err = err, .errlen = errlen };
    json_t *j = load(json, &rd);
    uint64_t pid = 0;
    get_str(&rd, "host", s->host, sizeof(s->host), true);
    get_str(&rd, "state", s->state, sizeof(s->state), false);
    get_u64(&rd, "pid", &pid, 1u << 30);
    get_u64(&rd, "epoch", &s->epoch, UINT64_MAX >> 1);
    get_u64(&rd, "since_ms", &s->since_ms, UINT64_MAX >> 1);
    get_str(&rd, "message", s->message, sizeof(s->message), false);
    get_json(&rd, "migration", &s->migration, false);
    s->pid = (int)pid;
    json_decref(j);
    if (rd.r)
        cluster_status_free(s);
    return rd.r;
}

void cluster_status_free(struct cluster_status *s)
{
    free(s->migration);
    s->migration = NULL;
}

/* ---- incoming ---- */

char *cluster_incoming_encode(const struct cluster_incoming *in)
{
    return dump(json_pack("{s:s, s:s, s:I}", "host", in->host, "uri", in->uri, "migrate_id",
                          (json_int_t)in->migrate_id));
}

int cluster_incoming_decode(const char *json, struct cluster_incoming *in, char *err,
                            size_t errlen)
{
    memset(in, 0, sizeof(*in));
    struct reader rd = { .what = "incoming record", .err = err, .errlen = errlen };
    json_t *j = load(json, &rd);
    get_str(&rd, "host", in->host, sizeof(in->host), true);
    get_str(&rd, "uri", in->uri, sizeof(in->uri), false);
    get_u64(&rd, "migrate_id", &in->migrate_id, UINT64_MAX >> 1);
    if (!rd.r && strncmp(in->uri, "tcp:", 4))
        rd.r = bad(err, errlen, "incoming record: uri '%s' is not tcp:HOST:PORT", in->uri);
    json_decref(j);
    return rd.r;
}

/* ---- VM configurations ---- */

int cluster_config_size(const char *config_json, unsigned *cpus, uint64_t *memory_mib, char *err,
                        size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loads(config_json, 0, &je);
    if (!doc)
        return bad(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
    struct vm_config c;
    vmcfg_init(&c);
    char verr[VM_ERR_LEN] = "";
    int r = vmcfg_apply_document(&c, doc, verr);
    json_decref(doc);
    if (r) {
        vmcfg_free(&c);
        return bad(err, errlen, "%s", verr);
    }
    *cpus = c.ncpus;
    *memory_mib = c.mem_mib;
    vmcfg_free(&c);
    return 0;
}
