/* Fuzz target: the incoming live-migration stream (vm_migrate_incoming).
 * Whatever a source (or anyone reaching the port) sends must end in a
 * refusal with a message: never a crash, a hang or an out-of-bounds
 * access. The input is written into one end of a socketpair, which is
 * then shut for writing; the destination reads the other end as "fd:N". */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "vm/vm.h"
#include "fuzz_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (size > 128 * 1024 || fuzz_feed(data, size, 1 << 20, sv))
        return 0;
    struct vm *vm;
    if (vm_create(&vm, "fuzz", NULL) == 0) {
        char uri[32], err[VM_ERR_LEN];
        snprintf(uri, sizeof(uri), "fd:%d", sv[1]);
        volatile sig_atomic_t stop = 0;
        (void)vm_migrate_incoming(vm, uri, &stop, err);
        vm_destroy(vm);
    } else {
        close(sv[1]);
    }
    close(sv[0]);
    return 0;
}
