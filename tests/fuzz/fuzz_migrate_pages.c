/* Fuzz target: the migration stream's page records (vm/migrate_pages.c),
 * every kind (zero, raw, zstd, dedup, delta) with every feature set, into
 * a small RAM: a record is applied or refused, never read or written out
 * of bounds. The first byte picks the features the hello allowed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mem/gmem.h"
#include "state/state.h"
#include "vm/migrate_pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gmem ram;
    if (!ram.host && gmem_init(&ram, 0x80000000ULL, 64 * GMEM_PAGE_SIZE))
        abort();
    if (!size)
        return 0;
    uint64_t features = data[0] & MIG_F_KNOWN;
    char err[256];
    struct state_in in;
    state_in_init(&in, data + 1, size - 1, "fuzz", err, sizeof(err));
    while (state_in_left(&in) && mig_decode_page(&ram, features, &in) == 0)
        ;
    return 0;
}
