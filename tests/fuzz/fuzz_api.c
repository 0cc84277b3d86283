/* The HTTP API below HTTP: the router and every route's JSON parser on
 * fuzzed methods, paths and bodies, against a VM that is never started
 * (PUT /actions is left out: InstanceStart would boot whatever the input
 * configured; so are the routes that open host files a fuzzer must not
 * create, /logger, /metrics and /serial: their bodies go to their parsers
 * directly). Input: method index byte, path up to '\n', then the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vm/config.h"
#include "vm/vm.h"

/* The parsers of the routes that open files, without the opening. */
static void parse_host_resources(const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return;
    struct vm_config c;
    struct vm_logger l = { 0 };
    char err[VM_ERR_LEN];
    vmcfg_init(&c);
    (void)vmcfg_parse_logger(&l, j, err);
    (void)vmcfg_put_metrics(&c, j, err);
    (void)vmcfg_put_serial(&c, j, err);
    (void)vmcfg_put_entropy(&c, j, err);
    (void)vmcfg_patch_machine_config(&c, j, err);
    json_decref(vmcfg_to_json(&c));
    vmcfg_logger_free(&l);
    vmcfg_free(&c);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = { "GET", "PUT", "PATCH", "POST", "DELETE", "HEAD" };
    if (size < 2)
        return 0;
    const char *method = methods[data[0] % 6];
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl - p > 512)
        return 0;
    char path[520];
    memcpy(path, p, (size_t)(nl - p));
    path[nl - p] = 0;
    if (strlen(path) != (size_t)(nl - p) || strstr(path, "actions"))
        return 0;
    bool opens_files = strstr(path, "logger") || strstr(path, "metrics") ||
                       strstr(path, "serial");
    size_t blen = (size_t)(end - nl - 1);
    char *body = malloc(blen + 1);
    if (!body)
        return 0;
    memcpy(body, nl + 1, blen);
    body[blen] = 0;

    struct vm *vm;
    if (opens_files) {
        parse_host_resources(body, blen);
    } else if (vm_create(&vm, "fuzz", NULL) == 0) {
        struct api_ctx ctx;
        char id[VM_ID_LEN + 1], allow[64];
        struct api_reply rep = { 0 };
        api_ctx_init(&ctx, vm);
        if (api_route_find(method, path, id, sizeof(id), allow, sizeof(allow), &rep)) {
            api_dispatch(&ctx, method, path, body, blen, &rep);
            /* A second request sees the state the first one left. */
            struct api_reply rep2 = { 0 };
            api_dispatch(&ctx, "GET", "/vm/config", NULL, 0, &rep2);
            json_decref(rep2.body);
        }
        json_decref(rep.body);
        api_ctx_destroy(&ctx);
        vm_destroy(vm);
    }
    free(body);
    return 0;
}
