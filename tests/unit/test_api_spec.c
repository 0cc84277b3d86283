/* docs/api.yaml is the API's contract: its (method, path) set must be the
 * server's route table, no more and no less; and every property the spec
 * gives the bodies (drive, interface, rate limiter, machine-config,
 * entropy, serial, logger, metrics, the whole document) is a key
 * their parsers know. */
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
#include "core/ratelimit.h"
#include "vm/config.h"

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

#define MAX_PROPS 32

/* The property names of components/schemas/NAME ("    NAME:", then
 * "      properties:", then "        key:" lines). */
static size_t read_props(const char *schema, char props[][64])
{
    FILE *f = fopen(CORRAL_SOURCE_DIR "/docs/api.yaml", "r");
    assert_non_null(f);
    char line[512], want[80];
    snprintf(want, sizeof(want), "    %s:", schema);
    bool in_schema = false, in_props = false;
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "    ", 4) && line[4] != ' ') {
            in_schema = !strcmp(line, want);
            in_props = false;
            continue;
        }
        if (!in_schema)
            continue;
        if (!strncmp(line, "      ", 6) && line[6] != ' ') {
            in_props = !strcmp(line, "      properties:");
            continue;
        }
        if (in_props && !strncmp(line, "        ", 8) && line[8] != ' ' && line[8]) {
            assert_true(n < MAX_PROPS);
            snprintf(props[n], 64, "%.*s", (int)strcspn(line + 8, ":"), line + 8);
            n++;
        }
    }
    fclose(f);
    return n;
}

/* Feed `body` (a JSON object text) to the parser for `schema`; the
 * message it leaves (empty when it took the body). */
static void parse_as(const char *schema, const char *body, char *err)
{
    struct vm_config c;
    vmcfg_init(&c);
    err[0] = 0;
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    json_t *d = json_loads("{\"path_on_host\":\"/x\",\"is_root_device\":false}", 0, NULL);
    assert_int_equal(vmcfg_put_drive(&c, "d", d, err), 0);
    json_decref(d);
    json_t *empty = json_object();
    assert_int_equal(vmcfg_put_net(&c, "n", empty, err), 0);
    json_decref(empty);
    const struct vm_drive *dr;
    struct ratelimit_cfg rl;
    unsigned i;
    int r;
    if (!strcmp(schema, "Drive"))
        r = vmcfg_put_drive(&c, "d", j, err);
    else if (!strcmp(schema, "PartialDrive"))
        r = vmcfg_patch_drive(&c, "d", j, &dr, &i, err);
    else if (!strcmp(schema, "NetworkInterface"))
        r = vmcfg_put_net(&c, "n", j, err);
    else if (!strcmp(schema, "PartialNetworkInterface"))
        r = vmcfg_patch_net(&c, "n", j, &i, err);
    else if (!strcmp(schema, "MachineConfiguration")) {
        json_object_set_new(j, "vcpu_count", json_integer(1));
        json_object_set_new(j, "mem_size_mib", json_integer(64));
        r = vmcfg_put_machine_config(&c, j, err);
    } else if (!strcmp(schema, "EntropyDevice"))
        r = vmcfg_put_entropy(&c, j, err);
    else if (!strcmp(schema, "SerialDevice"))
        r = vmcfg_put_serial(&c, j, err);
    else if (!strcmp(schema, "MetricsConfig"))
        r = vmcfg_put_metrics(&c, j, err);
    else if (!strcmp(schema, "Logger")) {
        struct vm_logger l = { 0 };
        r = vmcfg_parse_logger(&l, j, err);
        vmcfg_logger_free(&l);
    } else if (!strcmp(schema, "FullVmConfiguration"))
        r = vmcfg_apply_document(&c, j, err);
    else if (!strcmp(schema, "RateLimiter"))
        r = ratelimit_cfg_parse(&rl, j, "rate_limiter", err, VM_ERR_LEN);
    else {
        json_t *wrap = json_pack("{s:O}", "bandwidth", j);
        r = ratelimit_cfg_parse(&rl, wrap, "rate_limiter", err, VM_ERR_LEN);
        json_decref(wrap);
    }
    if (r == 0)
        err[0] = 0;
    json_decref(j);
    vmcfg_free(&c);
}

static void test_schemas_match_parsers(void **state)
{
    static const char *const schemas[] = { "Drive", "PartialDrive", "NetworkInterface",
                                           "PartialNetworkInterface", "RateLimiter",
                                           "TokenBucket", "MachineConfiguration",
                                           "EntropyDevice", "SerialDevice", "MetricsConfig",
                                           "Logger", "FullVmConfiguration" };
    char props[MAX_PROPS][64], body[256], err[VM_ERR_LEN];
    for (size_t s = 0; s < sizeof(schemas) / sizeof(schemas[0]); s++) {
        size_t n = read_props(schemas[s], props);
        if (n == 0)
            fail_msg("docs/api.yaml: schema %s has no properties", schemas[s]);
        for (size_t i = 0; i < n; i++) {
            /* A value of the wrong kind may be refused, but never as an
             * unknown key. */
            snprintf(body, sizeof(body), "{\"%s\":%s}", props[i],
                     !strcmp(schemas[s], "TokenBucket") ? "1" : "null");
            parse_as(schemas[s], body, err);
            if (strstr(err, "unknown key"))
                fail_msg("docs/api.yaml has %s.%s but the parser says: %s", schemas[s],
                         props[i], err);
        }
        /* The check can fail: a key outside the spec is refused. */
        parse_as(schemas[s], "{\"not_in_the_spec\":1}", err);
        if (!strstr(err, "unknown key"))
            fail_msg("%s: an unknown key was not refused ('%s')", schemas[s], err);
    }
    /* What this change added is in the spec. */
    size_t n = read_props("Drive", props);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= !strcmp(props[i], "rate_limiter");
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_matches_routes),
        cmocka_unit_test(test_schemas_match_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
