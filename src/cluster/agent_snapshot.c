/* Snapshots of the agent's VMs (cluster/agent_snapshot.h). */
#include "cluster/agent_snapshot.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One request; 0 on a 2xx answer, else -1 with the API's reason. */
static int request(struct agent_proc *p, const char *method, const char *path, const char *body,
                   char *err, size_t errlen)
{
    unsigned st = 0;
    json_t *j = agent_proc_api(p, method, path, body, &st);
    int r = 0;
    if (!j || st < 200 || st >= 300) {
        const char *m = json_string_value(json_object_get(j, "fault_message"));
        snprintf(err, errlen, "%s %s: %s", method, path, m ? m : j ? "refused" : p->api_err[0] ? p->api_err : "no answer");
        r = -1;
    }
    json_decref(j);
    return r;
}

int agent_snapshot_take(struct agent_proc *p, const char *dir, double *ms, char *err,
                        size_t errlen)
{
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    json_t *info = agent_proc_api(p, "GET", "/", NULL, NULL);
    const char *st = json_string_value(json_object_get(info, "state"));
    bool was_running = st && !strcmp(st, "Running");
    json_decref(info);
    double t0 = now_ms();
    if (was_running && request(p, "PATCH", "/vm", "{\"state\":\"Paused\"}", err, errlen))
        return -1;
    char state[PATH_MAX], memory[PATH_MAX];
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(memory, sizeof(memory), "%s/memory", dir);
    json_t *body = json_pack("{s:s, s:s, s:s}", "snapshot_path", state, "mem_file_path", memory,
                             "snapshot_type", "Full");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int r = text ? request(p, "PUT", "/snapshot/create", text, err, errlen) : -1;
    if (!text)
        snprintf(err, errlen, "out of memory");
    free(text);
    /* The VM goes on, whether the snapshot worked or not. */
    char rerr[256];
    if (was_running && request(p, "PATCH", "/vm", "{\"state\":\"Resumed\"}", rerr, sizeof(rerr)) &&
        !r) {
        snprintf(err, errlen, "%s", rerr);
        r = -1;
    }
    *ms = now_ms() - t0;
    return r;
}

/* The live drive for a record's drive: the one of the same id, else (a
 * snapshot made before snapshots kept drive ids names them disk0,
 * disk1...) the one at its place on the machine, where the root device
 * comes first. */
static json_t *live_drive(json_t *live_drives, json_t *drives, size_t index)
{
    json_t *d = json_array_get(drives, index), *ld;
    const char *id = json_string_value(json_object_get(d, "drive_id"));
    size_t k, place = 0;
    json_array_foreach(live_drives, k, ld) {
        const char *lid = json_string_value(json_object_get(ld, "drive_id"));
        if (id && lid && !strcmp(id, lid))
            return ld;
    }
    bool root = json_is_true(json_object_get(d, "is_root_device"));
    json_t *o;
    json_array_foreach(drives, k, o) {
        bool oroot = json_is_true(json_object_get(o, "is_root_device"));
        if (root ? false : (oroot || k < index))
            place++;
    }
    return json_array_size(live_drives) == json_array_size(drives)
               ? json_array_get(live_drives, place)
               : NULL;
}

char *agent_config_follow_drives(struct agent_proc *p, const char *config_json)
{
    json_t *live = agent_proc_api(p, "GET", "/vm/config", NULL, NULL);
    json_t *cfg = config_json ? json_loads(config_json, 0, NULL) : NULL;
    json_t *live_drives = json_object_get(live, "drives");
    json_t *drives = json_object_get(cfg, "drives");
    bool changed = false;
    size_t i;
    json_t *d;
    json_array_foreach(drives, i, d) {
        const char *path = json_string_value(json_object_get(d, "path_on_host"));
        const char *lpath =
            json_string_value(json_object_get(live_drive(live_drives, drives, i), "path_on_host"));
        if (lpath && (!path || strcmp(path, lpath))) {
            json_object_set_new(d, "path_on_host", json_string(lpath));
            changed = true;
        }
    }
    char *out = changed ? json_dumps(cfg, JSON_COMPACT) : NULL;
    json_decref(cfg);
    json_decref(live);
    return out;
}
