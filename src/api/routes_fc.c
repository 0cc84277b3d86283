/* Firecracker's host-side resources: GET /version, PUT /logger, PUT
 * /metrics (and FlushMetrics), PUT /serial, PUT /entropy and PATCH
 * /machine-config, and MMDS (PUT /mmds/config, PUT/PATCH/GET /mmds). The bodies are parsed in vm/config.c (shared with
 * --config-file); what opens files and starts threads is here, in the
 * API layer that owns them for the VM (struct api_ctx). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/routes.h"
#include "core/log.h"
#include "net/mmds.h"

void api_ctx_init(struct api_ctx *ctx, struct vm *vm)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->vm = vm;
    pthread_mutex_init(&ctx->lock, NULL);
}

void api_ctx_destroy(struct api_ctx *ctx)
{
    api_metrics_close(ctx->metrics);
    ctx->metrics = NULL;
    pthread_mutex_destroy(&ctx->lock);
}

/* Configuration is taken before InstanceStart only: takes vm->lock and
 * keeps it on success; on refusal, the state machine's reason. */
static bool lock_unstarted(struct vm *vm, const char *what, struct api_reply *out)
{
    const char *why;
    enum vm_state to;
    pthread_mutex_lock(&vm->lock);
    if (vm_state_next(vm->state, VM_EV_CONFIGURE, &to, &why) == 0 && !vm->m)
        return true;
    api_reply_fault(out, 400, "%s refused: %s (state: %s)", what,
                    why && vm->state != VM_NOT_STARTED ? why : "the VM has started",
                    vm_state_name(vm->state));
    pthread_mutex_unlock(&vm->lock);
    return false;
}

API_HANDLER(api_get_version)
{
    /* Firecracker's shape; the version is Corral's own (docs/api.yaml). */
    api_reply_json(out, json_pack("{s:s, s:s}", "firecracker_version", VM_VERSION,
                                  "app_name", "corral"));
}

static int apply_logger(const struct vm_logger *l, char *err)
{
    struct log_options o = {
        .level = l->level, .show_origin = l->show_log_origin, .module = l->module,
        .show_level = l->show_level ? LOG_SHOW_LEVEL_ALL : LOG_SHOW_LEVEL_NONE,
    };
    char sub[API_ERR_LEN - 16];
    int r = log_configure(l->log_path, &o, sub, sizeof(sub));
    if (r)
        snprintf(err, API_ERR_LEN, "logger: %s", sub);
    return r;
}

/* Any state: the log is the process's, not the guest's. */
API_HANDLER(api_put_logger)
{
    char err[API_ERR_LEN];
    struct vm_logger l = { 0 };
    int r = vmcfg_parse_logger(&l, body, err);
    if (!r && (r = apply_logger(&l, err)) == 0) {
        pthread_mutex_lock(&ctx->vm->lock);
        vmcfg_logger_free(&ctx->vm->cfg.logger);
        ctx->vm->cfg.logger = l; /* shown by GET /vm/config */
        pthread_mutex_unlock(&ctx->vm->lock);
        log_info("logger: level %s%s%s", log_level_name(l.level),
                 l.log_path ? ", to " : "", l.log_path ? l.log_path : "");
        out->status = 204;
        return;
    }
    vmcfg_logger_free(&l);
    api_reply_fault(out, r == -EINVAL || r == -ENOENT || r == -EACCES ? 400 : 500, "%s",
                    err);
}

/* Open the sink `c` describes unless one is open. ctx->lock held. */
static int open_metrics_locked(struct api_ctx *ctx, const struct vm_config *c, char *err)
{
    if (ctx->metrics) {
        snprintf(err, API_ERR_LEN, "metrics: the metrics system is already initialized");
        return -EINVAL;
    }
    json_t *extra = json_object();
    if (!extra) {
        snprintf(err, API_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    if (c->metrics_emit_id)
        json_object_set_new(extra, "id", json_string(ctx->vm->id));
    if (c->metrics_properties)
        json_object_set(extra, "properties", c->metrics_properties);
    int r = api_metrics_open(&ctx->metrics, ctx->vm, c->metrics_path, API_METRICS_INTERVAL_MS,
                             extra, err);
    json_decref(extra);
    return r;
}

/* Once per process, as in Firecracker; any state. */
API_HANDLER(api_put_metrics)
{
    char err[API_ERR_LEN];
    struct vm_config scratch;
    vmcfg_init(&scratch);
    int r = vmcfg_put_metrics(&scratch, body, err);
    pthread_mutex_lock(&ctx->lock);
    if (!r && (r = open_metrics_locked(ctx, &scratch, err)) == 0) {
        struct vm_config *c = &ctx->vm->cfg;
        pthread_mutex_lock(&ctx->vm->lock);
        free(c->metrics_path);
        json_decref(c->metrics_properties);
        c->metrics_path = scratch.metrics_path;
        c->metrics_emit_id = scratch.metrics_emit_id;
        c->metrics_properties = scratch.metrics_properties;
        scratch.metrics_path = NULL;
        scratch.metrics_properties = NULL;
        pthread_mutex_unlock(&ctx->vm->lock);
    }
    pthread_mutex_unlock(&ctx->lock);
    vmcfg_free(&scratch);
    if (r)
        api_reply_fault(out, r == -ENOMEM ? 500 : 400, "%s", err);
    else
        out->status = 204;
}

void api_flush_metrics(struct api_ctx *ctx, struct api_reply *out)
{
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->metrics) {
        pthread_mutex_unlock(&ctx->lock);
        api_reply_fault(out, 400, "FlushMetrics: the metrics system is not initialized "
                        "(PUT /metrics first)");
        return;
    }
    /* A line the reader does not take is dropped and counted: that is the
     * sink doing its job, not a failed request. */
    if (api_metrics_flush(ctx->metrics))
        log_debug("FlushMetrics: the line was dropped (no room in metrics_path)");
    pthread_mutex_unlock(&ctx->lock);
    out->status = 204;
}

/* A configuration change through `fn`, before start only. */
static void configure_unstarted(struct api_ctx *ctx, const char *what,
                                int (*fn)(struct vm_config *, const json_t *, char *),
                                const json_t *body, struct api_reply *out)
{
    char err[API_ERR_LEN];
    if (!lock_unstarted(ctx->vm, what, out))
        return;
    int r = fn(&ctx->vm->cfg, body, err);
    pthread_mutex_unlock(&ctx->vm->lock);
    api_reply_result(out, r, err);
}

API_HANDLER(api_patch_machine_config)
{
    configure_unstarted(ctx, "PATCH /machine-config", vmcfg_patch_machine_config, body, out);
}

/* PUT /entropy: the virtio-rng device. Its rate_limiter is checked and
 * kept (GET /vm/config shows it) but not enforced: the device has no
 * limiter yet (docs/api.yaml). */
API_HANDLER(api_put_entropy)
{
    configure_unstarted(ctx, "PUT /entropy", vmcfg_put_entropy, body, out);
}

/* PUT /vsock: the virtio-vsock device (Firecracker's host side over a
 * unix socket); the socket is bound at InstanceStart. */
API_HANDLER(api_put_vsock)
{
    configure_unstarted(ctx, "PUT /vsock", vmcfg_put_vsock, body, out);
}

/* The serial console's output, written by the VM's console thread (the
 * one thread that may wait on the reader). A pipe that stays full loses
 * what does not fit rather than stalling the guest's console. */
static void serial_write(void *opaque, const uint8_t *buf, size_t len)
{
    (void)log_write_fd((int)(intptr_t)opaque, buf, len);
}

static int open_serial(const char *path, char *err)
{
    return log_open_output(path, "serial: serial_out_path", err, API_ERR_LEN);
}

/* vm->lock held, before start (no console output has been written yet,
 * so the console thread is not in a write). The descriptor stays open for
 * the life of the process: the console thread may write until vm_destroy,
 * which has no hook to hand it back. A second PUT replaces the first. */
static void install_serial_locked(struct vm *vm, int fd)
{
    if (vm->con.write == serial_write)
        close((int)(intptr_t)vm->con.opaque);
    vm->con.write = serial_write;
    vm->con.opaque = (void *)(intptr_t)fd;
}

API_HANDLER(api_put_serial)
{
    char err[API_ERR_LEN];
    struct vm_config scratch;
    vmcfg_init(&scratch);
    int r = vmcfg_put_serial(&scratch, body, err);
    if (r) {
        vmcfg_free(&scratch);
        api_reply_fault(out, 400, "%s", err);
        return;
    }
    if (!lock_unstarted(ctx->vm, "PUT /serial", out)) {
        vmcfg_free(&scratch);
        return;
    }
    struct vm_config *c = &ctx->vm->cfg;
    int fd = scratch.serial_out ? open_serial(scratch.serial_out, err) : -1;
    if (scratch.serial_out && fd < 0) {
        r = fd;
    } else {
        if (fd >= 0)
            install_serial_locked(ctx->vm, fd);
        free(c->serial_out);
        c->serial_out = scratch.serial_out;
        scratch.serial_out = NULL;
        c->serial_limit = scratch.serial_limit;
        c->serial_limit_set = scratch.serial_limit_set;
    }
    pthread_mutex_unlock(&ctx->vm->lock);
    vmcfg_free(&scratch);
    if (r)
        api_reply_fault(out, r == -ENOMEM ? 500 : 400, "%s", err);
    else
        out->status = 204;
}

int api_ctx_apply_config(struct api_ctx *ctx, char *err)
{
    struct vm *vm = ctx->vm;
    int r = 0;
    pthread_mutex_lock(&vm->lock);
    if (vm->cfg.logger.present)
        r = apply_logger(&vm->cfg.logger, err);
    if (!r && vm->cfg.serial_out) {
        int fd = open_serial(vm->cfg.serial_out, err);
        if (fd < 0)
            r = fd;
        else
            install_serial_locked(vm, fd);
    }
    /* Main thread, before the API serves: vm->cfg cannot change meanwhile. */
    pthread_mutex_unlock(&vm->lock);
    if (!r && vm->cfg.metrics_path) {
        pthread_mutex_lock(&ctx->lock);
        r = open_metrics_locked(ctx, &vm->cfg, err);
        pthread_mutex_unlock(&ctx->lock);
    }
    return r;
}

/* ---- MMDS (net/mmds.h) ---- */

/* PUT /mmds/config: before start only, as in Firecracker. */
API_HANDLER(api_put_mmds_config)
{
    configure_unstarted(ctx, "PUT /mmds/config", vmcfg_put_mmds_config, body, out);
}

/* PUT and PATCH /mmds, in any state. Under the VM's lock: the store
 * belongs to the configuration, which a snapshot load replaces. */
static void mmds_write(struct api_ctx *ctx, const json_t *body, bool patch,
                       struct api_reply *out)
{
    char err[API_ERR_LEN];
    if (!json_is_object(body)) {
        api_reply_fault(out, 400, "the MMDS data must be a JSON object");
        return;
    }
    pthread_mutex_lock(&ctx->vm->lock);
    struct mmds *m = vmcfg_mmds_store(&ctx->vm->cfg);
    int r = !m ? -ENOMEM
               : patch ? mmds_patch(m, body, err, sizeof(err)) : mmds_put(m, body, err,
                                                                            sizeof(err));
    pthread_mutex_unlock(&ctx->vm->lock);
    if (r == -ENOMEM)
        api_reply_fault(out, 500, "out of memory");
    else if (r)
        api_reply_fault(out, 400, "%s", err);
    else
        out->status = 204;
}

API_HANDLER(api_put_mmds)
{
    mmds_write(ctx, body, false, out);
}

API_HANDLER(api_patch_mmds)
{
    mmds_write(ctx, body, true, out);
}

API_HANDLER(api_get_mmds)
{
    pthread_mutex_lock(&ctx->vm->lock);
    struct mmds *m = vmcfg_mmds_store(&ctx->vm->cfg);
    json_t *j = m ? mmds_get(m) : NULL;
    pthread_mutex_unlock(&ctx->vm->lock);
    api_reply_json(out, j);
}
