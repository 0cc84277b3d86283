/* corral ctl: one API request to a running VM (by --sock, or by --name
 * through the registry), printed for people (or as the API's JSON with
 * --json). Exit status 0 when the VM accepted it, 1 when it refused (its
 * fault_message is printed), 2 for usage errors. Also the JSON flattener
 * that ctl and the console monitor print with. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"
#include "vm/registry.h"

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

void cli_json_flat(const char *prefix, const json_t *j,
                   void (*line)(const char *key, const char *value, void *opaque),
                   void *opaque)
{
    char key[256];
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", k);
            cli_json_flat(key, v, line, opaque);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            snprintf(key, sizeof(key), "%s[%zu]", prefix, i);
            cli_json_flat(key, v, line, opaque);
        }
    } else if (j) {
        char *s = json_is_string(j) ? NULL : json_dumps(j, JSON_ENCODE_ANY);
        line(prefix, json_is_string(j) ? json_string_value(j) : s ? s : "?", opaque);
        free(s);
    }
}

static void print_line(const char *key, const char *value, void *opaque)
{
    (void)opaque;
    printf("%s: %s\n", key, value);
}

static const char ctl_help[] =
    "usage: corral ctl (--sock PATH | --name NAME) [--json] COMMAND [ARG]\n"
    "\n"
    "One request to a running VM's API socket. --name finds the socket in the\n"
    "registry of VMs started with --name and --api-sock (see corral ps).\n"
    "\n"
    "commands:\n"
    "  status         the VM's id and state\n"
    "  pause          stop the guest's CPUs\n"
    "  resume         run a paused guest again\n"
    "  shutdown       ask the guest to power off (hard stop after a timeout)\n"
    "  reset          reboot the guest at once\n"
    "  start          start a VM configured through the API\n"
    "  metrics        counters of the VM and its devices\n"
    "  config         the VM's configuration (GET /vm/config)\n"
    "  balloon SIZE   set the balloon target (e.g. 128M)\n"
    "  balloon-stats  the balloon's statistics\n"
    "\n"
    "options:\n"
    "  --sock PATH    the VM's API socket (corral run --api-sock PATH)\n"
    "  --name NAME    the VM registered as NAME (corral run --name NAME)\n"
    "  --json         print the API's JSON answer as it is\n"
    "  -h, --help     this help\n"
    "\n"
    "Exit status: 0 when the VM accepted the request, 1 when it refused it\n"
    "(its reason is printed) or could not be reached, 2 for usage errors.\n";

int cli_sock_for_name(const char *name, char *sock, size_t len)
{
    struct vm_registry_entry e;
    int r = vm_registry_find(name, &e);
    if (r == -ENOENT) {
        fprintf(stderr, "corral: error: no running VM is named '%s' (see corral ps)\n", name);
        return 1;
    }
    if (r) {
        fprintf(stderr, "corral: error: cannot read the VM registry: %s\n", strerror(-r));
        return 1;
    }
    if (!*e.socket) {
        fprintf(stderr, "corral: error: VM '%s' (pid %d) has no API socket: start it with "
                        "--api-sock PATH as well as --name\n", name, (int)e.pid);
        return 1;
    }
    snprintf(sock, len, "%s", e.socket);
    return 0;
}

int cli_ctl(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sock", required_argument, NULL, 's' },
        { "name", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *sock = NULL, *vm_name = NULL;
    char reg_sock[PATH_MAX];
    bool as_json = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sock = optarg; break;
        case 'n': vm_name = optarg; break;
        case 'j': as_json = true; break;
        case 'h':
            fputs(ctl_help, stdout);
            return 0;
        default:
            return cli_usage_error("ctl: unknown option or missing value near '%s'",
                                   argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(ctl_help, stdout);
            return 0;
        }
    if (sock && vm_name)
        return cli_usage_error("ctl: --sock and --name: give one%s", "");
    if (!sock && !vm_name)
        return cli_usage_error("ctl: which VM? give --sock PATH or --name NAME%s", "");
    if (vm_name) {
        if (cli_sock_for_name(vm_name, reg_sock, sizeof(reg_sock)))
            return 1;
        sock = reg_sock;
    }
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
        cli_json_flat("", j, print_line, NULL);
    }
    json_decref(j);
    free(resp);
    return rc;
}
