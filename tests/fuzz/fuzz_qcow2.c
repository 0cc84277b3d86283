/* libFuzzer target for the qcow2 metadata parser: the input is an image
 * file (in a memfd), opened read-only as qcow2 (header, extensions,
 * L1/refcount tables, backing name: a backing file is never found, the
 * fd path lives in /proc), then a few sectors are read across the disk
 * (L2 lookups, compressed clusters, subclusters). Must never crash, hang
 * or leak. Seeds: tests/fuzz/corpus/qcow2/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct blk_backend *b;
    if (blk_open(path, "qcow2", true, &b, err, sizeof(err)) == 0) {
        static uint8_t buf[65536];
        uint64_t offs[6] = { 0, 512, 65536, b->size / 2, b->size > 4096 ? b->size - 4096 : 0,
                             (uint64_t)size * 977 };
        for (int i = 0; i < 6; i++) {
            struct iovec v = { buf, sizeof(buf) };
            if (offs[i] < b->size)
                (void)b->ops->preadv(b, &v, 1, offs[i] & ~511ULL);
            /* The cached path (a hart's), now that tables are cached. */
            struct iovec t = { buf, 4096 };
            if (b->ops->try_rw)
                (void)b->ops->try_rw(b, false, &t, 1, offs[i] & ~511ULL);
        }
        blk_close(b);
    }
    close(fd);
    return 0;
}
