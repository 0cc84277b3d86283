/* corral snapshot: take snapshots of a running VM over its API, and fold
 * Diff chains into Full snapshots. A snapshot directory holds `state` and
 * `memory` (vm/snapshot.h); `corral restore DIR` runs it again.
 *
 *   corral snapshot create --sock PATH --dir DIR [--diff] [--no-resume]
 *       pause (if running), write DIR/state and DIR/memory, resume
 *   corral snapshot merge --dir DIR --out DIR2
 *       DIR's memory chain as one Full memory file in DIR2 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api.h"
#include "cli/cli.h"
#include "vm/vm.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One request; 0 on 2xx, else 1 with the VM's fault_message printed. */
static int request(const char *sock, const char *method, const char *path, const char *body,
                   json_t **out)
{
    unsigned status;
    char *resp, err[API_ERR_LEN];
    if (api_client_request(sock, method, path, body, &status, &resp, err)) {
        fprintf(stderr, "corral: error: %s\n", err);
        return 1;
    }
    json_error_t je;
    json_t *j = *resp ? json_loads(resp, JSON_DECODE_ANY, &je) : NULL;
    free(resp);
    if (status >= 300) {
        json_t *m = json_object_get(j, "fault_message");
        fprintf(stderr, "corral: error: %s\n",
                json_is_string(m) ? json_string_value(m) : "the VM refused the request");
        json_decref(j);
        return 1;
    }
    if (out)
        *out = j;
    else
        json_decref(j);
    return 0;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        fprintf(stderr, "corral: error: %s: not a directory\n", dir);
        return 1;
    }
    fprintf(stderr, "corral: error: %s: %s\n", dir, strerror(errno));
    return 1;
}

static int snapshot_create(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sock", required_argument, NULL, 's' },
        { "dir", required_argument, NULL, 'd' },
        { "diff", no_argument, NULL, 'D' },
        { "no-resume", no_argument, NULL, 'n' },
        { 0 },
    };
    const char *sock = NULL, *dir = NULL;
    bool diff = false, no_resume = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sock = optarg; break;
        case 'd': dir = optarg; break;
        case 'D': diff = true; break;
        case 'n': no_resume = true; break;
        default:
            return cli_usage_error("snapshot create: unknown option or missing value near "
                                   "'%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("snapshot create: unexpected argument '%s'", argv[optind]);
    if (!sock || !dir)
        return cli_usage_error("snapshot create: give --sock PATH and --dir DIR%s", "");
    if (make_dir(dir))
        return 1;

    json_t *info = NULL;
    if (request(sock, "GET", "/", NULL, &info))
        return 1;
    const char *st = json_string_value(json_object_get(info, "state"));
    bool was_running = st && !strcmp(st, "Running");
    json_decref(info);
    double t0 = now_ms();
    if (was_running && request(sock, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL))
        return 1;
    double t_paused = now_ms();
    char state[PATH_MAX], memory[PATH_MAX];
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(memory, sizeof(memory), "%s/memory", dir);
    json_t *body = json_pack("{s:s, s:s, s:s}", "snapshot_path", state, "mem_file_path",
                             memory, "snapshot_type", diff ? "Diff" : "Full");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int rc = text ? request(sock, "PUT", "/snapshot/create", text, NULL) : 1;
    free(text);
    double t_done = now_ms();
    /* The VM goes on, whether the snapshot worked or not. */
    if (was_running && !no_resume &&
        request(sock, "PATCH", "/vm", "{\"state\":\"Resumed\"}", NULL))
        rc = 1;
    double t_resumed = now_ms();
    if (rc)
        return 1;
    struct stat ms;
    unsigned long long on_disk = stat(memory, &ms) == 0 ? (unsigned long long)ms.st_blocks * 512
                                                       : 0;
    printf("snapshot %s created (%s): pause %.1f ms, write %.1f ms, guest stopped %.1f ms; "
           "memory file %.1f MiB on disk\n",
           dir, diff ? "Diff" : "Full", t_paused - t0, t_done - t_paused,
           (was_running && !no_resume ? t_resumed : t_done) - t0, on_disk / 1048576.0);
    return 0;
}

static int snapshot_merge(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "out", required_argument, NULL, 'o' },
        { 0 },
    };
    const char *dir = NULL, *out = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'o': out = optarg; break;
        default:
            return cli_usage_error("snapshot merge: unknown option or missing value near "
                                   "'%s'", argv[optind - 1]);
        }
    }
    if (!dir || !out || optind < argc)
        return cli_usage_error("snapshot merge: give --dir DIR --out DIR%s", "");
    if (make_dir(out))
        return 1;
    char state[PATH_MAX], ostate[PATH_MAX], omem[PATH_MAX], err[VM_ERR_LEN];
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(ostate, sizeof(ostate), "%s/state", out);
    snprintf(omem, sizeof(omem), "%s/memory", out);
    if (vm_snapshot_merge(state, ostate, omem, err)) {
        fprintf(stderr, "corral: error: snapshot merge: %s\n", err);
        return 1;
    }
    printf("snapshot %s: Full snapshot of %s\n", out, dir);
    return 0;
}

int cli_snapshot(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("snapshot: create or merge?%s", "");
    if (!strcmp(argv[1], "create"))
        return snapshot_create(argc - 1, argv + 1);
    if (!strcmp(argv[1], "merge"))
        return snapshot_merge(argc - 1, argv + 1);
    return cli_usage_error("snapshot: unknown command '%s' (create, merge)", argv[1]);
}
