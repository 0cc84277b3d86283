/* The HTTP API below HTTP: the router and every route's JSON parser on
 * fuzzed methods, paths and bodies, against a VM that is never started
 * (PUT /actions is left out: InstanceStart would boot whatever the input
 * configured). Input: method index byte, path up to '\n', then the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vm/vm.h"

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
    size_t blen = (size_t)(end - nl - 1);
    char *body = malloc(blen + 1);
    if (!body)
        return 0;
    memcpy(body, nl + 1, blen);
    body[blen] = 0;

    struct vm *vm;
    if (vm_create(&vm, "fuzz", NULL) == 0) {
        char id[VM_ID_LEN + 1], allow[64];
        struct api_reply rep = { 0 };
        if (api_route_find(method, path, id, sizeof(id), allow, sizeof(allow), &rep)) {
            api_dispatch(vm, method, path, body, blen, &rep);
            /* A second request sees the state the first one left. */
            struct api_reply rep2 = { 0 };
            api_dispatch(vm, "GET", "/vm/config", NULL, 0, &rep2);
            json_decref(rep2.body);
        }
        json_decref(rep.body);
        vm_destroy(vm);
    }
    free(body);
    return 0;
}
