/* corral ctl: one API request to a running VM, printed for people (or as
 * the API's JSON with --json). Exit status 0 when the VM accepted it, 1
 * when it refused (its fault_message is printed), 2 for usage errors. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"

struct ctl_cmd {
    const char *name, *method, *path, *body, *done;
};

static const struct ctl_cmd cmds[] = {
    { "status", "GET", "/", NULL, NULL },
    { "pause", "PATCH", "/vm", "{\"state\":\"Paused\"}", "paused" },
    { "resume", "PATCH", "/vm", "{\"state\":\"Resumed\"}", "resumed" },
    { "shutdown", "PUT", "/actions", "{\"action_type\":\"Shutdown\"}",
      "shutdown requested" },
    { "reset", "PUT", "/actions", "{\"action_type\":\"Reset\"}", "reset requested" },
    { "start", "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", "started" },
    { "metrics", "GET", "/metrics", NULL, NULL },
    { "config", "GET", "/vm/config", NULL, NULL },
    { "balloon", "PATCH", "/balloon", NULL, "balloon target set" }, /* + SIZE */
    { "balloon-stats", "GET", "/balloon/statistics", NULL, NULL },
};

/* "384M", "384MiB", "1G" or plain MiB ("384") to MiB; -1 when not a size. */
static long long parse_mib(const char *s)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || v > (1ULL << 40))
        return -1;
    unsigned long long mul = 1;
    if (*end == 'G' || *end == 'g') {
        mul = 1024;
        end++;
    } else if (*end == 'M' || *end == 'm') {
        end++;
    }
    if (*end == 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    return *end ? -1 : (long long)(v * mul);
}

/* Nested objects as dotted keys, arrays as [i]: "instructions.per_hart[0]: 12". */
static void print_flat(const char *prefix, json_t *j)
{
    char key[256];
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", k);
            print_flat(key, v);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            snprintf(key, sizeof(key), "%s[%zu]", prefix, i);
            print_flat(key, v);
        }
    } else {
        char *s = json_dumps(j, JSON_ENCODE_ANY);
        if (json_is_string(j))
            printf("%s: %s\n", prefix, json_string_value(j));
        else
            printf("%s: %s\n", prefix, s ? s : "?");
        free(s);
    }
}

int cli_ctl(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sock", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { 0 },
    };
    const char *sock = NULL;
    bool as_json = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sock = optarg; break;
        case 'j': as_json = true; break;
        default:
            return cli_usage_error("ctl: unknown option or missing value near '%s'",
                                   argv[optind - 1]);
        }
    }
    if (!sock)
        return cli_usage_error("ctl: which VM? give --sock PATH%s", "");
    if (optind >= argc)
        return cli_usage_error("ctl: no command (status, pause, resume, shutdown, reset, "
                               "metrics)%s", "");
    const char *name = argv[optind++];
    const char *size_arg = NULL;
    /* --json may also follow the command. */
    for (; optind < argc; optind++) {
        if (!strcmp(argv[optind], "--json"))
            as_json = true;
        else if (!strcmp(name, "balloon") && !size_arg)
            size_arg = argv[optind];
        else
            return cli_usage_error("ctl: unexpected argument '%s'", argv[optind]);
    }
    const struct ctl_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(cmds[i].name, name))
            cmd = &cmds[i];
    if (!cmd)
        return cli_usage_error("ctl: unknown command '%s'", name);

    char body[64];
    const char *req_body = cmd->body;
    if (!strcmp(cmd->name, "balloon")) {
        long long mib = size_arg ? parse_mib(size_arg) : -1;
        if (mib < 0)
            return cli_usage_error("ctl balloon: give the target as a size (e.g. 128M, "
                                   "1G)%s", "");
        snprintf(body, sizeof(body), "{\"amount_mib\":%lld}", mib);
        req_body = body;
    }
    unsigned status;
    char *resp, err[API_ERR_LEN];
    if (api_client_request(sock, cmd->method, cmd->path, req_body, &status, &resp, err)) {
        fprintf(stderr, "corral: error: %s\n", err);
        return 1;
    }
    json_error_t je;
    json_t *j = *resp ? json_loads(resp, JSON_DECODE_ANY, &je) : NULL;
    int rc = 0;
    if (status >= 300) {
        json_t *m = json_object_get(j, "fault_message");
        if (as_json)
            printf("%s\n", resp);
        fprintf(stderr, "corral: error: %s\n",
                json_is_string(m) ? json_string_value(m) : "the VM refused the request");
        rc = 1;
    } else if (as_json) {
        printf("%s\n", *resp ? resp : "{}");
    } else if (cmd->done) {
        printf("%s\n", cmd->done);
    } else if (j) {
        print_flat("", j);
    }
    json_decref(j);
    free(resp);
    return rc;
}
