/* docs/api.yaml is the API's contract: its (method, path) set must be the
 * server's route table, no more and no less. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"

#ifndef CORRAL_SOURCE_DIR
#define CORRAL_SOURCE_DIR "."
#endif

#define MAX_OPS 64

struct op {
    char method[8];
    char path[128];
};

/* The `paths:` section: "  /path:" lines, then "    method:" lines. */
static size_t read_spec(struct op *ops)
{
    FILE *f = fopen(CORRAL_SOURCE_DIR "/docs/api.yaml", "r");
    assert_non_null(f);
    char line[512], path[128] = "";
    bool in_paths = false;
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] && line[0] != ' ' && line[0] != '#') {
            in_paths = !strcmp(line, "paths:");
            continue;
        }
        if (!in_paths)
            continue;
        if (!strncmp(line, "  /", 3) || !strncmp(line, "  \"/", 4)) {
            const char *p = line + 2 + (line[2] == '"');
            size_t l = strcspn(p, "\":");
            snprintf(path, sizeof(path), "%.*s", (int)l, p);
            continue;
        }
        static const char *const methods[] = { "get", "put", "patch", "post", "delete",
                                               "head", "options" };
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
            char want[32];
            snprintf(want, sizeof(want), "    %s:", methods[i]);
            if (!strcmp(line, want)) {
                assert_true(path[0]);
                assert_true(n < MAX_OPS);
                for (size_t k = 0; methods[i][k]; k++)
                    ops[n].method[k] = (char)toupper((unsigned char)methods[i][k]);
                ops[n].method[strlen(methods[i])] = 0;
                snprintf(ops[n].path, sizeof(ops[n].path), "%s", path);
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

static void test_spec_matches_routes(void **state)
{
    struct op ops[MAX_OPS];
    size_t n = read_spec(ops);
    assert_true(n > 5);
    /* Every spec operation is served... */
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < api_nroutes; k++)
            if (!strcmp(api_routes[k].method, ops[i].method) &&
                !strcmp(api_routes[k].path, ops[i].path))
                found = true;
        if (!found)
            fail_msg("docs/api.yaml has %s %s but the server has no such route",
                     ops[i].method, ops[i].path);
    }
    /* ...and every route is in the spec. */
    for (size_t k = 0; k < api_nroutes; k++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(api_routes[k].method, ops[i].method) &&
                !strcmp(api_routes[k].path, ops[i].path))
                found = true;
        if (!found)
            fail_msg("the server routes %s %s but docs/api.yaml does not describe it",
                     api_routes[k].method, api_routes[k].path);
    }
    assert_int_equal(n, api_nroutes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_matches_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
