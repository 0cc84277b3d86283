/* PUT /snapshot/create, /snapshot/load and the live-migration routes:
 * the bodies are checked here, the work is vm/snapshot.c's and
 * vm/migrate.c's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/routes.h"

API_HANDLER(api_put_snapshot_create)
{
    static const char *const keys[] = { "snapshot_path", "mem_file_path", "snapshot_type",
                                        "version", NULL };
    char err[API_ERR_LEN];
    const char *sp, *mp, *type, *version;
    if (!api_only_keys(body, keys, out) || !api_opt_string(body, "snapshot_path", &sp, out) ||
        !api_opt_string(body, "mem_file_path", &mp, out) ||
        !api_opt_string(body, "snapshot_type", &type, out) ||
        !api_opt_string(body, "version", &version, out))
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
    api_reply_result(out, vm_snapshot_create(ctx->vm, sp, mp, diff, err), err);
}

/* network_overrides [{iface_id, host_dev_name}] (Firecracker's) and
 * disk_overrides [{drive_id, path_on_host}] (a Corral extension): the
 * restored or migrated VM's devices on this host's TAPs and files. */
static bool take_overrides(struct vm *vm, const json_t *body, struct api_reply *out)
{
    static const struct {
        const char *list, *id, *value;
        int (*add)(struct vm *, const char *, char *);
    } kinds[] = {
        { "network_overrides", "iface_id", "host_dev_name", vm_add_net_override },
        { "disk_overrides", "drive_id", "path_on_host", vm_add_disk_override },
    };
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const json_t *list = json_object_get(body, kinds[k].list);
        if (!list || json_is_null(list))
            continue;
        if (!json_is_array(list)) {
            api_reply_fault(out, 400, "%s must be an array", kinds[k].list);
            return false;
        }
        size_t i;
        const json_t *e;
        json_array_foreach(list, i, e) {
            const char *const keys[] = { kinds[k].id, kinds[k].value, NULL };
            const char *id = NULL, *value = NULL;
            if (!api_only_keys(e, keys, out) || !api_opt_string(e, kinds[k].id, &id, out) ||
                !api_opt_string(e, kinds[k].value, &value, out))
                return false;
            if (!id || !value) {
                api_reply_fault(out, 400, "%s[%zu]: '%s' and '%s' are required", kinds[k].list,
                                i, kinds[k].id, kinds[k].value);
                return false;
            }
            char spec[4200], err[API_ERR_LEN];
            snprintf(spec, sizeof(spec), "%s=%s", id, value);
            if (kinds[k].add(vm, spec, err)) {
                api_reply_fault(out, 400, "%s[%zu]: %s", kinds[k].list, i, err);
                return false;
            }
        }
    }
    return true;
}

/* Firecracker's snapshot-load fields: what has one meaning here is taken
 * (track_dirty_pages: always on; huge_pages None/Snapshot/Transparent:
 * RAM is restored as it is made), the rest refused with its reason. */
static bool snapshot_load_fc_fields(const json_t *body, struct api_reply *out)
{
    bool dirty = false, realtime = false;
    const char *hp;
    json_t *vo = json_object_get(body, "vsock_override");
    if (!api_opt_bool(body, "track_dirty_pages", &dirty, out) ||
        !api_opt_bool(body, "clock_realtime", &realtime, out) ||
        !api_opt_string(body, "huge_pages", &hp, out))
        return false;
    if (vo && !json_is_null(vo)) {
        api_reply_fault(out, 400, "vsock_override is not supported: there is no vsock "
                        "device");
        return false;
    }
    if (realtime) {
        api_reply_fault(out, 400, "clock_realtime is not supported: it is x86 kvmclock's; "
                        "the guest's clock resumes where it was saved");
        return false;
    }
    if (hp && strcmp(hp, "None") && strcmp(hp, "Snapshot") && strcmp(hp, "Transparent")) {
        api_reply_fault(out, 400, "huge_pages '%.16s' is not supported (None, Snapshot or "
                        "Transparent: guest RAM is an anonymous mapping)", hp);
        return false;
    }
    return true;
}

API_HANDLER(api_put_snapshot_load)
{
    static const char *const keys[] = { "snapshot_path", "mem_backend", "mem_file_path",
                                        "enable_diff_snapshots", "resume_vm",
                                        "ignore_disk_changes", "track_dirty_pages",
                                        "network_overrides", "disk_overrides",
                                        "vsock_override", "clock_realtime", "huge_pages",
                                        NULL };
    static const char *const be_keys[] = { "backend_type", "backend_path", NULL };
    char err[API_ERR_LEN];
    struct vm_snapshot_load_opts o = { .resume = false };
    const char *mem_file = NULL, *be_type = NULL, *be_path = NULL;
    bool diff = false;
    if (!api_only_keys(body, keys, out) || !api_opt_string(body, "snapshot_path", &o.state_path, out) ||
        !api_opt_string(body, "mem_file_path", &mem_file, out) ||
        !api_opt_bool(body, "enable_diff_snapshots", &diff, out) ||
        !api_opt_bool(body, "resume_vm", &o.resume, out) ||
        !api_opt_bool(body, "ignore_disk_changes", &o.ignore_disk_changes, out))
        return;
    if (!snapshot_load_fc_fields(body, out) || !take_overrides(ctx->vm, body, out))
        return;
    json_t *be = json_object_get(body, "mem_backend");
    if (be) {
        if (!api_only_keys(be, be_keys, out) || !api_opt_string(be, "backend_type", &be_type, out) ||
            !api_opt_string(be, "backend_path", &be_path, out))
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
    api_reply_result(out, vm_snapshot_load(ctx->vm, &o, err), err);
}

API_HANDLER(api_put_migrate)
{
    char err[API_ERR_LEN];
    struct vm_mig_params p;
    if (vm_mig_params_from_json(&p, body, err)) {
        api_reply_fault(out, 400, "%s", err);
        return;
    }
    api_reply_result(out, vm_migrate_start(ctx->vm, &p, err), err);
}

API_HANDLER(api_put_migrate_incoming)
{
    static const char *const keys[] = { "uri", "network_overrides", "disk_overrides", NULL };
    char err[API_ERR_LEN];
    const char *uri;
    if (!api_only_keys(body, keys, out) || !api_opt_string(body, "uri", &uri, out) ||
        !take_overrides(ctx->vm, body, out))
        return;
    if (!uri) {
        api_reply_fault(out, 400, "'uri' is required (tcp:HOST:PORT, unix:PATH, fd:N)");
        return;
    }
    api_reply_result(out, vm_migrate_incoming_start(ctx->vm, uri, err), err);
}

/* Post-copy recovery, on either side (docs/migration.md). */
API_HANDLER(api_put_migrate_recover)
{
    static const char *const keys[] = { "uri", NULL };
    char err[API_ERR_LEN];
    const char *uri;
    if (!api_only_keys(body, keys, out) || !api_opt_string(body, "uri", &uri, out))
        return;
    if (!uri) {
        api_reply_fault(out, 400, "'uri' is required (tcp:HOST:PORT, unix:PATH, fd:N)");
        return;
    }
    api_reply_result(out, vm_migrate_recover(ctx->vm, uri, err), err);
}

API_HANDLER(api_get_migrate)
{
    api_reply_json(out, vm_migrate_json(ctx->vm));
}

API_HANDLER(api_put_migrate_cancel)
{
    char err[API_ERR_LEN];
    api_reply_result(out, vm_migrate_cancel(ctx->vm, err), err);
}
