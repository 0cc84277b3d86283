/* Shared by the route files (routes.c, routes_fc.c): reply helpers and
 * the handlers the route table names. API server threads only. */
#ifndef CORRAL_API_ROUTES_H
#define CORRAL_API_ROUTES_H

#include "api/api.h"

/* 200 with `j` (500 if NULL: out of memory). */
void api_reply_json(struct api_reply *out, json_t *j);
/* A vm_* result: 204, or 400 for -EINVAL (the caller's fault), else 500. */
void api_reply_result(struct api_reply *out, int r, const char *err);

/* Body checks that answer 400 themselves: false when they did. */
bool api_only_keys(const json_t *body, const char *const *keys, struct api_reply *out);
bool api_opt_string(const json_t *body, const char *key, const char **v,
                    struct api_reply *out);
bool api_opt_bool(const json_t *body, const char *key, bool *v, struct api_reply *out);

#define API_HANDLER(name) \
    void name(struct api_ctx *ctx, const char *id, const json_t *body, struct api_reply *out)

/* routes_snapshot.c */
API_HANDLER(api_put_snapshot_create);
API_HANDLER(api_put_snapshot_load);
API_HANDLER(api_put_migrate);
API_HANDLER(api_get_migrate);
API_HANDLER(api_put_migrate_cancel);
API_HANDLER(api_put_migrate_incoming);
API_HANDLER(api_put_migrate_recover);

/* routes_drives.c */
API_HANDLER(api_put_drive_snapshot);
API_HANDLER(api_put_drive_commit);

/* routes_fc.c */
API_HANDLER(api_get_version);
API_HANDLER(api_put_logger);
API_HANDLER(api_put_metrics);
API_HANDLER(api_patch_machine_config);
API_HANDLER(api_put_entropy);
API_HANDLER(api_put_serial);
API_HANDLER(api_put_mmds_config);
API_HANDLER(api_put_mmds);
API_HANDLER(api_patch_mmds);
API_HANDLER(api_get_mmds);
/* PUT /actions {"action_type": "FlushMetrics"} */
void api_flush_metrics(struct api_ctx *ctx, struct api_reply *out);

#endif
