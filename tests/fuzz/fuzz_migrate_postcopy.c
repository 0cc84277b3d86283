/* Fuzz target: the post-copy destination's receiver (vm/migrate_postcopy.c).
 * Once a post-copy destination runs the guest, every frame the source
 * sends ("pc-pages" with page numbers and kinds, "pc-end", anything else)
 * is placed into registered guest RAM with userfaultfd: a bad page number,
 * kind, count or truncation must end post-copy with a reason, never place
 * a page outside RAM, crash or hang. The input goes into one end of a
 * socketpair, shut for writing, as in fuzz_migrate. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "vm/migrate_postcopy.h"
#include "fuzz_feed.h"

#define PAGES 64

static void on_fail(void *opaque, const char *why)
{
    (void)opaque;
    (void)why;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gmem ram;
    if (!ram.host && gmem_init(&ram, 0x80000000ULL, PAGES * GMEM_PAGE_SIZE))
        abort();
    int sv[2];
    if (size > 512 * 1024 || fuzz_feed(data, size, 4 << 20, sv))
        return 0;
    uint64_t missing[PAGES / 64];
    memset(missing, 0xff, sizeof(missing));
    struct mig_pc_dest *d;
    char err[256];
    if (mig_pc_dest_start(&d, &ram, sv[1], missing, on_fail, NULL, err, sizeof(err))) {
        /* Loudly: without userfaultfd this target would test nothing. */
        fprintf(stderr, "fuzz_migrate_postcopy: %s\n", err);
        abort();
    }
    if (mig_pc_dest_run(d, err, sizeof(err)))
        abort();
    /* The receiver ends at pc-end, a bad frame or the end of the input;
     * either way RAM is ordinary memory again and reads cannot block. */
    mig_pc_dest_finish(d, false, NULL);
    volatile uint8_t sum = 0;
    for (unsigned p = 0; p < PAGES; p++)
        sum += ram.host[p * GMEM_PAGE_SIZE];
    (void)sum;
    close(sv[0]);
    close(sv[1]);
    return 0;
}
