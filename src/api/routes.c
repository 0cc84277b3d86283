/* The API's routes and their handlers. One handler per resource; each
 * checks its body's shape and hands the rest to the vm module, which
 * decides whether the action fits the VM's state. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

void api_reply_fault(struct api_reply *out, unsigned status, const char *fmt, ...)
{
    va_list ap;
    out->status = status;
    json_decref(out->body);
    out->body = NULL;
    va_start(ap, fmt);
    vsnprintf(out->fault, sizeof(out->fault), fmt, ap);
    va_end(ap);
}

static void reply_json(struct api_reply *out, json_t *j)
{
    if (!j) {
        api_reply_fault(out, 500, "out of memory");
        return;
    }
    out->status = 200;
    out->body = j;
}

/* vm_* results: -EINVAL is the caller's fault (bad input, wrong state). */
static void reply_result(struct api_reply *out, int r, const char *err)
{
    if (r == 0)
        out->status = 204;
    else
        api_reply_fault(out, r == -EINVAL ? 400 : 500, "%s", err);
}

static void get_root(struct vm *vm, const char *id, const json_t *body, struct api_reply *out)
{
    reply_json(out, vm_info_json(vm));
}

static void put_boot_source(struct vm *vm, const char *id, const json_t *body,
                            struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_configure(vm, VM_RES_BOOT_SOURCE, NULL, body, err), err);
}

static void get_machine_config(struct vm *vm, const char *id, const json_t *body,
                               struct api_reply *out)
{
    reply_json(out, vm_machine_config_json(vm));
}

static void put_machine_config(struct vm *vm, const char *id, const json_t *body,
                               struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_configure(vm, VM_RES_MACHINE_CONFIG, NULL, body, err), err);
}

static void put_drive(struct vm *vm, const char *id, const json_t *body, struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_configure(vm, VM_RES_DRIVE, id, body, err), err);
}

static void put_net(struct vm *vm, const char *id, const json_t *body, struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_configure(vm, VM_RES_NET, id, body, err), err);
}

static void patch_drive(struct vm *vm, const char *id, const json_t *body,
                        struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_patch_drive(vm, id, body, err), err);
}

static void patch_net(struct vm *vm, const char *id, const json_t *body, struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_patch_net(vm, id, body, err), err);
}

/* One string member and nothing else: {"action_type": ...}, {"state": ...}. */
static const char *only_string(const json_t *body, const char *key, struct api_reply *out)
{
    const char *k;
    json_t *v;
    if (!json_is_object(body)) {
        api_reply_fault(out, 400, "the body must be a JSON object");
        return NULL;
    }
    json_object_foreach((json_t *)body, k, v) {
        if (strcmp(k, key)) {
            api_reply_fault(out, 400, "unknown key '%s'", k);
            return NULL;
        }
    }
    v = json_object_get(body, key);
    if (!json_is_string(v)) {
        api_reply_fault(out, 400, "'%s' must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

static void put_actions(struct vm *vm, const char *id, const json_t *body,
                        struct api_reply *out)
{
    char err[API_ERR_LEN];
    const char *a = only_string(body, "action_type", out);
    int r;
    if (!a)
        return;
    if (!strcmp(a, "InstanceStart"))
        r = vm_start(vm, err);
    else if (!strcmp(a, "Shutdown") || !strcmp(a, "SendCtrlAltDel"))
        r = vm_shutdown(vm, err);
    else if (!strcmp(a, "Reset"))
        r = vm_reset(vm, err);
    else {
        api_reply_fault(out, 400, "unknown action_type '%.64s' (InstanceStart, Shutdown, "
                        "SendCtrlAltDel, Reset)", a);
        return;
    }
    reply_result(out, r, err);
}

static void patch_vm(struct vm *vm, const char *id, const json_t *body, struct api_reply *out)
{
    char err[API_ERR_LEN];
    const char *s = only_string(body, "state", out);
    if (!s)
        return;
    if (!strcmp(s, "Paused"))
        reply_result(out, vm_pause(vm, err), err);
    else if (!strcmp(s, "Resumed"))
        reply_result(out, vm_resume(vm, err), err);
    else
        api_reply_fault(out, 400, "unknown state '%.64s' (Paused or Resumed)", s);
}

/* Every key of `body` is one of `keys` (NULL-terminated). */
static bool only_keys(const json_t *body, const char *const *keys, struct api_reply *out)
{
    const char *k;
    json_t *v;
    if (!json_is_object(body)) {
        api_reply_fault(out, 400, "the body must be a JSON object");
        return false;
    }
    json_object_foreach((json_t *)body, k, v) {
        unsigned i;
        for (i = 0; keys[i] && strcmp(keys[i], k); i++)
            ;
        if (!keys[i]) {
            api_reply_fault(out, 400, "unknown key '%.64s'", k);
            return false;
        }
    }
    return true;
}

/* Optional string / bool members: false (reply set) when of another type. */
static bool opt_string(const json_t *body, const char *key, const char **v,
                       struct api_reply *out)
{
    json_t *j = json_object_get(body, key);
    *v = NULL;
    if (!j)
        return true;
    if (!json_is_string(j)) {
        api_reply_fault(out, 400, "'%s' must be a string", key);
        return false;
    }
    *v = json_string_value(j);
    return true;
}

static bool opt_bool(const json_t *body, const char *key, bool *v, struct api_reply *out)
{
    json_t *j = json_object_get(body, key);
    if (!j)
        return true;
    if (!json_is_boolean(j)) {
        api_reply_fault(out, 400, "'%s' must be true or false", key);
        return false;
    }
    *v = json_is_true(j);
    return true;
}

static void put_snapshot_create(struct vm *vm, const char *id, const json_t *body,
                                struct api_reply *out)
{
    static const char *const keys[] = { "snapshot_path", "mem_file_path", "snapshot_type",
                                        "version", NULL };
    char err[API_ERR_LEN];
    const char *sp, *mp, *type, *version;
    if (!only_keys(body, keys, out) || !opt_string(body, "snapshot_path", &sp, out) ||
        !opt_string(body, "mem_file_path", &mp, out) ||
        !opt_string(body, "snapshot_type", &type, out) ||
        !opt_string(body, "version", &version, out))
        return;
    if (!sp || !mp) {
        api_reply_fault(out, 400, "snapshot_path and mem_file_path are required");
        return;
    }
    bool diff = false;
    if (type && !strcmp(type, "Diff"))
        diff = true;
    else if (type && strcmp(type, "Full")) {
        api_reply_fault(out, 400, "unknown snapshot_type '%.64s' (Full or Diff)", type);
        return;
    }
    reply_result(out, vm_snapshot_create(vm, sp, mp, diff, err), err);
}

static void put_snapshot_load(struct vm *vm, const char *id, const json_t *body,
                              struct api_reply *out)
{
    static const char *const keys[] = { "snapshot_path", "mem_backend", "mem_file_path",
                                        "enable_diff_snapshots", "resume_vm",
                                        "ignore_disk_changes", NULL };
    static const char *const be_keys[] = { "backend_type", "backend_path", NULL };
    char err[API_ERR_LEN];
    struct vm_snapshot_load_opts o = { .resume = false };
    const char *mem_file = NULL, *be_type = NULL, *be_path = NULL;
    bool diff = false;
    if (!only_keys(body, keys, out) || !opt_string(body, "snapshot_path", &o.state_path, out) ||
        !opt_string(body, "mem_file_path", &mem_file, out) ||
        !opt_bool(body, "enable_diff_snapshots", &diff, out) ||
        !opt_bool(body, "resume_vm", &o.resume, out) ||
        !opt_bool(body, "ignore_disk_changes", &o.ignore_disk_changes, out))
        return;
    json_t *be = json_object_get(body, "mem_backend");
    if (be) {
        if (!only_keys(be, be_keys, out) || !opt_string(be, "backend_type", &be_type, out) ||
            !opt_string(be, "backend_path", &be_path, out))
            return;
        if (!be_type || strcmp(be_type, "File")) {
            api_reply_fault(out, 400, "mem_backend.backend_type must be \"File\" (Uffd is "
                            "not supported)");
            return;
        }
    }
    if (!o.state_path) {
        api_reply_fault(out, 400, "snapshot_path is required");
        return;
    }
    if (mem_file && be_path) {
        api_reply_fault(out, 400, "give mem_backend or mem_file_path, not both");
        return;
    }
    o.mem_path = be_path ? be_path : mem_file;
    reply_result(out, vm_snapshot_load(vm, &o, err), err);
}

static void put_migrate(struct vm *vm, const char *id, const json_t *body,
                        struct api_reply *out)
{
    char err[API_ERR_LEN];
    struct vm_mig_params p;
    if (vm_mig_params_from_json(&p, body, err)) {
        api_reply_fault(out, 400, "%s", err);
        return;
    }
    reply_result(out, vm_migrate_start(vm, &p, err), err);
}

static void put_migrate_incoming(struct vm *vm, const char *id, const json_t *body,
                                 struct api_reply *out)
{
    static const char *const keys[] = { "uri", NULL };
    char err[API_ERR_LEN];
    const char *uri;
    if (!only_keys(body, keys, out) || !opt_string(body, "uri", &uri, out))
        return;
    if (!uri) {
        api_reply_fault(out, 400, "'uri' is required (tcp:HOST:PORT, unix:PATH, fd:N)");
        return;
    }
    reply_result(out, vm_migrate_incoming_start(vm, uri, err), err);
}

static void get_migrate(struct vm *vm, const char *id, const json_t *body,
                        struct api_reply *out)
{
    reply_json(out, vm_migrate_json(vm));
}

static void put_migrate_cancel(struct vm *vm, const char *id, const json_t *body,
                               struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_migrate_cancel(vm, err), err);
}

static void get_vm_config(struct vm *vm, const char *id, const json_t *body,
                          struct api_reply *out)
{
    reply_json(out, vm_config_json(vm));
}

static void get_metrics(struct vm *vm, const char *id, const json_t *body,
                        struct api_reply *out)
{
    reply_json(out, vm_metrics_json(vm));
}

static void put_balloon(struct vm *vm, const char *id, const json_t *body,
                        struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_balloon_put(vm, body, err), err);
}

static void patch_balloon(struct vm *vm, const char *id, const json_t *body,
                          struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_balloon_patch(vm, body, err), err);
}

static void patch_balloon_stats(struct vm *vm, const char *id, const json_t *body,
                                struct api_reply *out)
{
    char err[API_ERR_LEN];
    reply_result(out, vm_balloon_patch_stats(vm, body, err), err);
}

static void get_balloon(struct vm *vm, const char *id, const json_t *body,
                        struct api_reply *out)
{
    char err[API_ERR_LEN] = "out of memory";
    json_t *j = vm_balloon_json(vm, err);
    if (j)
        reply_json(out, j);
    else
        api_reply_fault(out, 400, "%s", err);
}

static void get_balloon_stats(struct vm *vm, const char *id, const json_t *body,
                              struct api_reply *out)
{
    char err[API_ERR_LEN] = "out of memory";
    json_t *j = vm_balloon_stats_json(vm, err);
    if (j)
        reply_json(out, j);
    else
        api_reply_fault(out, 400, "%s", err);
}

const struct api_route api_routes[] = {
    { "GET", "/", false, get_root },
    { "PUT", "/boot-source", true, put_boot_source },
    { "GET", "/machine-config", false, get_machine_config },
    { "PUT", "/machine-config", true, put_machine_config },
    { "PUT", "/drives/{drive_id}", true, put_drive },
    { "PATCH", "/drives/{drive_id}", true, patch_drive },
    { "PUT", "/network-interfaces/{iface_id}", true, put_net },
    { "PATCH", "/network-interfaces/{iface_id}", true, patch_net },
    { "PUT", "/actions", true, put_actions },
    { "PATCH", "/vm", true, patch_vm },
    { "GET", "/vm/config", false, get_vm_config },
    { "GET", "/metrics", false, get_metrics },
    { "PUT", "/snapshot/create", true, put_snapshot_create },
    { "PUT", "/snapshot/load", true, put_snapshot_load },
    { "PUT", "/migrate", true, put_migrate },
    { "GET", "/migrate", false, get_migrate },
    { "PUT", "/migrate/cancel", false, put_migrate_cancel },
    { "PUT", "/migrate/incoming", true, put_migrate_incoming },
    { "PUT", "/balloon", true, put_balloon },
    { "PATCH", "/balloon", true, patch_balloon },
    { "GET", "/balloon", false, get_balloon },
    { "PATCH", "/balloon/statistics", true, patch_balloon_stats },
    { "GET", "/balloon/statistics", false, get_balloon_stats },
};
const size_t api_nroutes = ARRAY_SIZE(api_routes);

/* Does `path` match `pattern`? A {x} segment takes one non-empty segment
 * (copied to id). */
static bool path_match(const char *pattern, const char *path, char *id, size_t id_len)
{
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *pe = strchr(pattern, '}');
            const char *se = strchr(path, '/');
            size_t n = se ? (size_t)(se - path) : strlen(path);
            if (!pe || n == 0)
                return false;
            if (id && id_len) {
                snprintf(id, id_len, "%.*s", (int)n, path);
                if (n >= id_len)
                    id[0] = 0x7f; /* too long: invalid id, refused later */
            }
            pattern = pe + 1;
            path += n;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == 0 && *path == 0;
}

const struct api_route *api_route_find(const char *method, const char *path, char *id,
                                       size_t id_len, char *allow, size_t allow_len,
                                       struct api_reply *out)
{
    bool known = false;
    char tmp[API_ERR_LEN];
    if (id && id_len)
        id[0] = 0;
    if (allow && allow_len)
        allow[0] = 0;
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *r = &api_routes[i];
        tmp[0] = 0;
        if (!path_match(r->path, path, tmp, sizeof(tmp)))
            continue;
        if (!strcmp(r->method, method)) {
            if (id && id_len)
                snprintf(id, id_len, "%s", tmp);
            return r;
        }
        if (allow && allow_len) {
            size_t l = strlen(allow);
            snprintf(allow + l, allow_len - l, "%s%s", l ? ", " : "", r->method);
        }
        known = true;
    }
    if (known)
        api_reply_fault(out, 405, "method %.16s is not allowed on %.200s (allowed: %s)",
                        method, path, allow ? allow : "");
    else
        api_reply_fault(out, 404, "no resource at %.200s", path);
    return NULL;
}

void api_dispatch(struct vm *vm, const char *method, const char *path, const char *body,
                  size_t body_len, struct api_reply *out)
{
    char id[VM_ID_LEN + 1], allow[64];
    const struct api_route *r = api_route_find(method, path, id, sizeof(id), allow,
                                               sizeof(allow), out);
    if (!r)
        return;
    json_t *j = NULL;
    if (r->has_body) {
        json_error_t je;
        if (!body || body_len == 0) {
            api_reply_fault(out, 400, "%s %s needs a JSON body", method, r->path);
            return;
        }
        j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
            api_reply_fault(out, 400, "malformed JSON at line %d column %d: %s", je.line,
                            je.column, je.text);
            return;
        }
    } else if (body_len > 0) {
        api_reply_fault(out, 400, "%s %s takes no body", method, r->path);
        return;
    }
    r->handler(vm, id[0] ? id : NULL, j, out);
    json_decref(j);
}
