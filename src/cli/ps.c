/* corral ps: the named VMs on this host (registry entries of live
 * processes; stale ones are cleaned while listing), with each one's state
 * asked from its API socket when it has one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"
#include "vm/registry.h"

static void query_state(const char *sock, char *out, size_t len)
{
    unsigned status;
    char *resp, err[API_ERR_LEN];
    snprintf(out, len, "-");
    if (!*sock || api_client_request(sock, "GET", "/", NULL, &status, &resp, err))
        return;
    json_t *j = json_loads(resp, 0, NULL);
    json_t *s = json_object_get(j, "state");
    if (status == 200 && json_is_string(s))
        snprintf(out, len, "%s", json_string_value(s));
    json_decref(j);
    free(resp);
}

int cli_ps(int argc, char **argv)
{
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            as_json = true;
        else
            return cli_usage_error("ps: unexpected argument '%s'", argv[i]);
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
        query_state(e[i].socket, state, sizeof(state));
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
