/* The --config-file parser: any bytes as the JSON document, applied to a
 * fresh configuration and turned into a machine configuration. */
#include <jansson.h>
#include <stdint.h>

#include "vm/config.h"
#include "vm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return 0;
    struct vm_config c;
    char err[VM_ERR_LEN];
    vmcfg_init(&c);
    if (vmcfg_apply_document(&c, doc, err) == 0) {
        struct machine_config mc;
        json_decref(vmcfg_to_json(&c));
        (void)vmcfg_to_machine(&c, &mc, err);
    }
    vmcfg_free(&c);
    json_decref(doc);
    return 0;
}
