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
#include "fuzz_reseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (size > 128 * 1024 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return 0;
    int buf = 1 << 20;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    (void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    /* Checksums resealed: the frames' contents are what is fuzzed. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    memcpy(copy, data, size);
    fuzz_reseal(copy, size, 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(sv[0], copy + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    free(copy);
    shutdown(sv[0], SHUT_WR);
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
