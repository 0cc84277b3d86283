/* The API front door's request-head check (src/api/http_head.c) on fuzzed
 * bytes: it never reads past len, and its answers hold together: a
 * refusal carries one of the statuses the check documents and a reason,
 * and a head it accepts or waits on stays accepted or waited on when a
 * byte is cut from the end only if it was not complete. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > HTTP_MAX_HEAD + 64)
        return 0;
    /* An exact-size copy, so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct api_reply rep = { 0 };
    enum http_head_result r = http_head_check(buf, size, &rep);
    if (r == HTTP_HEAD_BAD) {
        switch (rep.status) {
        case 400: case 411: case 413: case 414: case 431: case 505:
            break;
        default:
            abort();
        }
        if (!rep.fault[0])
            abort();
    } else if (r != HTTP_HEAD_MORE && r != HTTP_HEAD_OK) {
        abort();
    }
    /* Waiting means no prefix was refused: checked one byte shorter. */
    if (r == HTTP_HEAD_MORE && size) {
        struct api_reply rep2 = { 0 };
        if (http_head_check(buf, size - 1, &rep2) != HTTP_HEAD_MORE)
            abort();
    }
    free(buf);
    return 0;
}
