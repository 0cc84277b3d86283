/* corral migrate --sock PATH [--downtime-ms N] URI: start a live migration
 * of the VM behind PATH to a `corral run --incoming URI` process, show its
 * progress, and print the final statistics. Exit 0 when it completed (the
 * source process then ends by itself), 1 when it failed (the VM goes on). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"

static json_t *get_json(const char *sock, const char *path)
{
    unsigned status;
    char *resp, err[API_ERR_LEN];
    if (api_client_request(sock, "GET", path, NULL, &status, &resp, err))
        return NULL;
    json_error_t je;
    json_t *j = status == 200 ? json_loads(resp, 0, &je) : NULL;
    free(resp);
    return j;
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

int cli_migrate(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sock", required_argument, NULL, 's' },
        { "downtime-ms", required_argument, NULL, 'd' },
        { 0 },
    };
    const char *sock = NULL;
    long downtime = 0;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's': sock = optarg; break;
        case 'd':
            downtime = strtol(optarg, &end, 10);
            if (!*optarg || *end || downtime < 1 || downtime > 60000)
                return cli_usage_error("migrate: --downtime-ms %s: 1..60000", optarg);
            break;
        default:
            return cli_usage_error("migrate: unknown option or missing value near '%s'",
                                   argv[optind - 1]);
        }
    }
    if (!sock || optind != argc - 1)
        return cli_usage_error("migrate: usage: corral migrate --sock PATH URI%s", "");
    const char *uri = argv[optind];
    json_t *body = json_pack("{s:s}", "uri", uri);
    if (downtime)
        json_object_set_new(body, "downtime_limit_ms", json_integer(downtime));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    unsigned status;
    char *resp, err[API_ERR_LEN];
    int r = api_client_request(sock, "PUT", "/migrate", text, &status, &resp, err);
    free(text);
    if (r) {
        fprintf(stderr, "corral: error: %s\n", err);
        return 1;
    }
    if (status >= 300) {
        json_error_t je;
        json_t *j = json_loads(resp, 0, &je);
        json_t *m = json_object_get(j, "fault_message");
        fprintf(stderr, "corral: error: %s\n", json_is_string(m) ? json_string_value(m) : resp);
        json_decref(j);
        free(resp);
        return 1;
    }
    free(resp);
    bool tty = isatty(STDERR_FILENO);
    json_t *last = NULL;
    for (;;) {
        usleep(50000);
        json_t *j = get_json(sock, "/migrate");
        if (!j)
            break; /* the source exited: completed, see the last status */
        json_decref(last);
        last = j;
        const char *st = json_string_value(json_object_get(j, "status"));
        json_t *ram = json_object_get(j, "ram");
        if (tty)
            fprintf(stderr, "\r%-10s %8.1f MiB sent, round %.0f, %.0f pages left, %.0f MiB/s   ",
                    st ? st : "?", num(ram, "transferred_bytes") / 1048576.0,
                    num(ram, "iterations"), num(ram, "remaining_pages"),
                    num(j, "bandwidth_mibps"));
        if (st && strcmp(st, "setup") && strcmp(st, "active"))
            break;
    }
    if (tty)
        fprintf(stderr, "\n");
    if (!last) {
        fprintf(stderr, "corral: error: %s: no answer from the VM\n", sock);
        return 1;
    }
    const char *st = json_string_value(json_object_get(last, "status"));
    bool ok = st && !strcmp(st, "completed");
    json_t *ram = json_object_get(last, "ram");
    if (ok) {
        printf("migration to %s completed: total %.1f ms, downtime %.1f ms, %.1f MiB sent "
               "(%.0f pages, %.0f zero), %.0f rounds\n",
               uri, num(last, "total_time_ms"), num(last, "downtime_ms"),
               num(ram, "transferred_bytes") / 1048576.0, num(ram, "normal_pages"),
               num(ram, "zero_pages"), num(ram, "iterations"));
        json_decref(last);
        return 0;
    }
    json_t *e = json_object_get(last, "error");
    fprintf(stderr, "corral: error: migration %s: %s (the VM keeps running here)\n",
            st ? st : "failed", json_is_string(e) ? json_string_value(e) : "");
    json_decref(last);
    return 1;
}
