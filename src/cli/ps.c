/* corral ps: the named VMs on this host. An entry is listed only when its
 * process runs (registry.c prunes gone, reused and zombie pids) and, for a
 * VM with an API socket, that socket still accepts a connection: a VM that
 * closed it is on its way out. Each one's state comes from its API. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"
#include "vm/registry.h"

static const char ps_help[] =
    "usage: corral ps [--json]\n"
    "\n"
    "The running VMs started with --name: name, pid, state (asked from the\n"
    "VM's API socket; '-' without --api-sock) and socket. Entries of VMs that\n"
    "are gone are removed as they are found.\n"
    "\n"
    "options:\n"
    "  --json      one JSON array of {name, pid, state, socket}\n"
    "  -h, --help  this help\n";

/* The VM's state into out; false when its socket is gone or refuses (the
 * VM is exiting: not listed). Other failures show as "unresponsive". */
static bool query_state(const char *sock, char *out, size_t len)
{
    unsigned status;
    char *resp, err[API_ERR_LEN];
    snprintf(out, len, "-");
    if (!*sock)
        return true;
    int r = api_client_request(sock, "GET", "/", NULL, &status, &resp, err);
    if (r == -ECONNREFUSED || r == -ENOENT)
        return false;
    if (r) {
        snprintf(out, len, "unresponsive");
        return true;
    }
    json_t *j = json_loads(resp, 0, NULL);
    json_t *s = json_object_get(j, "state");
    if (status == 200 && json_is_string(s))
        snprintf(out, len, "%s", json_string_value(s));
    json_decref(j);
    free(resp);
    return true;
}

int cli_ps(int argc, char **argv)
{
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(ps_help, stdout);
            return 0;
        } else {
            return cli_usage_error("ps: unexpected argument '%s' (see corral ps --help)",
                                   argv[i]);
        }
    }
    struct vm_registry_entry *e;
    size_t n;
    int r = vm_registry_list(&e, &n);
    if (r) {
        fprintf(stderr, "corral: error: cannot read the VM registry: %s\n", strerror(-r));
        return 1;
    }
    json_t *arr = as_json ? json_array() : NULL;
    if (!as_json)
        printf("%-20s %8s  %-12s %s\n", "NAME", "PID", "STATE", "SOCKET");
    for (size_t i = 0; i < n; i++) {
        char state[32];
        if (!query_state(e[i].socket, state, sizeof(state)))
            continue;
        if (as_json)
            json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s}", "name", e[i].name,
                                                 "pid", (int)e[i].pid, "state", state,
                                                 "socket", e[i].socket));
        else
            printf("%-20s %8d  %-12s %s\n", e[i].name, (int)e[i].pid, state,
                   *e[i].socket ? e[i].socket : "-");
    }
    if (as_json) {
        char *s = json_dumps(arr, JSON_COMPACT);
        printf("%s\n", s ? s : "[]");
        free(s);
        json_decref(arr);
    }
    free(e);
    return 0;
}
