/* Fuzz target: the storage-migration frames a destination receives
 * (vm/migrate_disks.c): "disk-formats" before the machine is built and
 * "disk-chunks" into its disk. A bad disk index, chunk shift, count,
 * chunk number, kind or truncation is refused; nothing is written
 * outside the disk. The first byte picks the frame; the rest is its body.
 * The disk is a 1 MiB + 100 bytes raw file in a scratch directory (the
 * short last chunk is reachable). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "machine/virt.h"
#include "state/state.h"
#include "vm/migrate_disks.h"

static struct machine *machine_once(void)
{
    static struct machine *m;
    if (m)
        return m;
    static char path[] = "/tmp/corral-fuzz-disk-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, (1 << 20) + 100))
        abort();
    close(fd);
    struct machine_config cfg = { .ncpus = 1, .mem_size = 16ULL << 20, .ndisks = 1 };
    cfg.disks[0].path = path;
    cfg.disks[0].format = "raw";
    char err[VIRT_ERR_LEN];
    if (machine_create(&m, &cfg, err)) {
        fprintf(stderr, "fuzz_migrate_disks: %s\n", err);
        abort();
    }
    unlink(path); /* open: gone when the process ends */
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct machine *m = machine_once();
    if (size < 1)
        return 0;
    char err[256];
    struct state_in in;
    state_in_init(&in, data + 1, size - 1, "fuzz", err, sizeof(err));
    if (data[0] & 1) {
        char formats[MACHINE_MAX_DISKS][8];
        unsigned n;
        (void)mig_disks_get_formats(&in, formats, &n);
    } else {
        (void)mig_disks_receive(m, &in);
    }
    return 0;
}
