/* The API's routes and their handlers. One handler per resource; each
 * checks its body's shape and hands the rest to the vm module, which
 * decides whether the action fits the VM's state. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/routes.h"
#include "core/log.h"

/* routes_fc.c (declared here: routes.h is shared with other resources). */
API_HANDLER(api_put_vsock);

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

void api_reply_json(struct api_reply *out, json_t *j)
{
    if (!j) {
        api_reply_fault(out, 500, "out of memory");
        return;
    }
    out->status = 200;
    out->body = j;
}

/* vm_* results: -EINVAL is the caller's fault (bad input, wrong state). */
void api_reply_result(struct api_reply *out, int r, const char *err)
{
    if (r == 0)
        out->status = 204;
    else
        api_reply_fault(out, r == -EINVAL ? 400 : 500, "%s", err);
}

/* Every key of `body` is one of `keys` (NULL-terminated). */
bool api_only_keys(const json_t *body, const char *const *keys, struct api_reply *out)
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
bool api_opt_string(const json_t *body, const char *key, const char **v,
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

bool api_opt_bool(const json_t *body, const char *key, bool *v, struct api_reply *out)
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

static API_HANDLER(get_root)
{
    api_reply_json(out, vm_info_json(ctx->vm));
}

static API_HANDLER(put_boot_source)
{
    char err[API_ERR_LEN];
    if (vmcfg_check_boot_files(body, err)) {
        api_reply_fault(out, 400, "%s", err);
        return;
    }
    api_reply_result(out, vm_configure(ctx->vm, VM_RES_BOOT_SOURCE, NULL, body, err), err);
}

static API_HANDLER(get_machine_config)
{
    api_reply_json(out, vm_machine_config_json(ctx->vm));
}

static API_HANDLER(put_machine_config)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_configure(ctx->vm, VM_RES_MACHINE_CONFIG, NULL, body, err), err);
}

static API_HANDLER(put_drive)
{
    char err[API_ERR_LEN];
    if (vmcfg_check_drive_file(id, body, err)) {
        api_reply_fault(out, 400, "%s", err);
        return;
    }
    api_reply_result(out, vm_configure(ctx->vm, VM_RES_DRIVE, id, body, err), err);
}

static API_HANDLER(put_net)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_configure(ctx->vm, VM_RES_NET, id, body, err), err);
}

static API_HANDLER(patch_drive)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_patch_drive(ctx->vm, id, body, err), err);
}

static API_HANDLER(patch_net)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_patch_net(ctx->vm, id, body, err), err);
}

/* One string member and nothing else: {"action_type": ...}, {"state": ...}. */
static const char *only_string(const json_t *body, const char *key, struct api_reply *out)
{
    const char *const keys[] = { key, NULL };
    const char *v;
    if (!api_only_keys(body, keys, out) || !api_opt_string(body, key, &v, out))
        return NULL;
    if (!v)
        api_reply_fault(out, 400, "'%s' must be a string", key);
    return v;
}

static API_HANDLER(put_actions)
{
    char err[API_ERR_LEN];
    const char *a = only_string(body, "action_type", out);
    int r;
    if (!a)
        return;
    if (!strcmp(a, "InstanceStart"))
        r = vm_start(ctx->vm, err);
    else if (!strcmp(a, "Shutdown") || !strcmp(a, "SendCtrlAltDel"))
        r = vm_shutdown(ctx->vm, err);
    else if (!strcmp(a, "Reset"))
        r = vm_reset(ctx->vm, err);
    else if (!strcmp(a, "FlushMetrics")) {
        api_flush_metrics(ctx, out);
        return;
    } else {
        api_reply_fault(out, 400, "unknown action_type '%.64s' (InstanceStart, Shutdown, "
                        "SendCtrlAltDel, Reset, FlushMetrics)", a);
        return;
    }
    api_reply_result(out, r, err);
}

static API_HANDLER(patch_vm)
{
    char err[API_ERR_LEN];
    const char *s = only_string(body, "state", out);
    if (!s)
        return;
    if (!strcmp(s, "Paused"))
        api_reply_result(out, vm_pause(ctx->vm, err), err);
    else if (!strcmp(s, "Resumed"))
        api_reply_result(out, vm_resume(ctx->vm, err), err);
    else
        api_reply_fault(out, 400, "unknown state '%.64s' (Paused or Resumed)", s);
}

static API_HANDLER(get_vm_config)
{
    api_reply_json(out, vm_config_json(ctx->vm));
}

static API_HANDLER(get_metrics)
{
    api_reply_json(out, vm_metrics_json(ctx->vm));
}

static API_HANDLER(put_balloon)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_balloon_put(ctx->vm, body, err), err);
}

static API_HANDLER(patch_balloon)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_balloon_patch(ctx->vm, body, err), err);
}

static API_HANDLER(patch_balloon_stats)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_balloon_patch_stats(ctx->vm, body, err), err);
}

static API_HANDLER(get_balloon)
{
    char err[API_ERR_LEN] = "out of memory";
    json_t *j = vm_balloon_json(ctx->vm, err);
    if (j)
        api_reply_json(out, j);
    else
        api_reply_fault(out, 400, "%s", err);
}

static API_HANDLER(get_balloon_stats)
{
    char err[API_ERR_LEN] = "out of memory";
    json_t *j = vm_balloon_stats_json(ctx->vm, err);
    if (j)
        api_reply_json(out, j);
    else
        api_reply_fault(out, 400, "%s", err);
}

#define ROUTE(m, p, body, handler) { m, p, body, handler, NULL, false }
#define ROUTE_IO(m, p, body, handler) { m, p, body, handler, NULL, true }
#define REFUSED(m, p, why) { m, p, API_BODY_OPTIONAL, NULL, why, false }
#define NO_HINTING "free page hinting is not supported; the balloon does free_page_reporting"
#define NO_HOTPLUG "memory hotplug needs a virtio-mem device, which Corral does not have"
#define NO_PMEM "Corral has no virtio-pmem device; use a drive"

const struct api_route api_routes[] = {
    ROUTE("GET", "/", API_NO_BODY, get_root),
    ROUTE("GET", "/version", API_NO_BODY, api_get_version),
    ROUTE("PUT", "/boot-source", API_BODY, put_boot_source),
    ROUTE("GET", "/machine-config", API_NO_BODY, get_machine_config),
    ROUTE("PUT", "/machine-config", API_BODY, put_machine_config),
    ROUTE("PATCH", "/machine-config", API_BODY, api_patch_machine_config),
    ROUTE_IO("PUT", "/drives/{drive_id}", API_BODY, put_drive),
    ROUTE("PATCH", "/drives/{drive_id}", API_BODY, patch_drive),
    ROUTE_IO("PUT", "/drives/{drive_id}/snapshot", API_BODY, api_put_drive_snapshot),
    ROUTE_IO("PUT", "/drives/{drive_id}/commit", API_BODY_OPTIONAL, api_put_drive_commit),
    ROUTE("PUT", "/network-interfaces/{iface_id}", API_BODY, put_net),
    ROUTE("PATCH", "/network-interfaces/{iface_id}", API_BODY, patch_net),
    ROUTE("PUT", "/entropy", API_BODY, api_put_entropy),
    ROUTE("PUT", "/vsock", API_BODY, api_put_vsock),
    ROUTE_IO("PUT", "/serial", API_BODY, api_put_serial),
    ROUTE_IO("PUT", "/logger", API_BODY, api_put_logger),
    ROUTE_IO("PUT", "/metrics", API_BODY, api_put_metrics),
    ROUTE_IO("PUT", "/actions", API_BODY, put_actions),
    ROUTE("PATCH", "/vm", API_BODY, patch_vm),
    ROUTE("GET", "/vm/config", API_NO_BODY, get_vm_config),
    ROUTE("GET", "/metrics", API_NO_BODY, get_metrics),
    ROUTE_IO("PUT", "/snapshot/create", API_BODY, api_put_snapshot_create),
    ROUTE_IO("PUT", "/snapshot/load", API_BODY, api_put_snapshot_load),
    ROUTE("PUT", "/migrate", API_BODY, api_put_migrate),
    ROUTE("GET", "/migrate", API_NO_BODY, api_get_migrate),
    ROUTE("PUT", "/migrate/cancel", API_NO_BODY, api_put_migrate_cancel),
    ROUTE("PUT", "/migrate/incoming", API_BODY, api_put_migrate_incoming),
    ROUTE("PUT", "/migrate/recover", API_BODY, api_put_migrate_recover),
    ROUTE("PUT", "/balloon", API_BODY, put_balloon),
    ROUTE("PATCH", "/balloon", API_BODY, patch_balloon),
    ROUTE("GET", "/balloon", API_NO_BODY, get_balloon),
    ROUTE("PATCH", "/balloon/statistics", API_BODY, patch_balloon_stats),
    ROUTE("GET", "/balloon/statistics", API_NO_BODY, get_balloon_stats),
    REFUSED("PATCH", "/balloon/hinting/start", NO_HINTING),
    REFUSED("GET", "/balloon/hinting/status", NO_HINTING),
    REFUSED("PATCH", "/balloon/hinting/stop", NO_HINTING),
    REFUSED("PUT", "/cpu-config", "CPU templates and KVM capability modifiers are x86/Arm "
                                  "features; RISC-V harts here have one fixed ISA"),
    REFUSED("PUT", "/pmem/{id}", NO_PMEM),
    REFUSED("PATCH", "/pmem/{id}", NO_PMEM),
    ROUTE("PUT", "/mmds", API_BODY, api_put_mmds),
    ROUTE("PATCH", "/mmds", API_BODY, api_patch_mmds),
    ROUTE("GET", "/mmds", API_NO_BODY, api_get_mmds),
    ROUTE("PUT", "/mmds/config", API_BODY, api_put_mmds_config),
    REFUSED("PUT", "/hotplug/memory", NO_HOTPLUG),
    REFUSED("PATCH", "/hotplug/memory", NO_HOTPLUG),
    REFUSED("GET", "/hotplug/memory", NO_HOTPLUG),
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
    }
    /* Firecracker's answer and wording, for both cases; the Allow header
     * (server.c) still lists the methods a known path has. */
    api_reply_fault(out, 400, "Invalid request method and/or path: %.16s %.200s.", method,
                    path[0] == '/' ? path + 1 : path);
    return NULL;
}

void api_dispatch(struct api_ctx *ctx, const char *method, const char *path, const char *body,
                  size_t body_len, struct api_reply *out)
{
    char id[VM_ID_LEN + 1], allow[64];
    const struct api_route *r = api_route_find(method, path, id, sizeof(id), allow,
                                               sizeof(allow), out);
    if (!r)
        return;
    log_debug("api: %s %s", method, path);
    if (r->refused) {
        api_reply_fault(out, 400, "%s %s is not supported: %s", method, r->path, r->refused);
        return;
    }
    json_t *j = NULL;
    if (r->has_body == API_BODY && (!body || body_len == 0)) {
        api_reply_fault(out, 400, "Empty %s request: %s %s needs a JSON body", method, method,
                        r->path);
        return;
    }
    if (r->has_body != API_NO_BODY && body && body_len > 0) {
        json_error_t je;
        j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
            api_reply_fault(out, 400, "malformed JSON at line %d column %d: %s", je.line,
                            je.column, je.text);
            return;
        }
    } else if (body_len > 0) {
        /* Firecracker's words for a GET, then which route. */
        api_reply_fault(out, 400, "%s request cannot have a body: %s %s takes no body", method,
                        method, r->path);
        return;
    }
    r->handler(ctx, id[0] ? id : NULL, j, out);
    json_decref(j);
}
