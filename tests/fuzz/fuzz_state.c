/* Fuzz target: the snapshot state reader. Every byte of a state file is
 * hostile (a file can be edited, truncated or crafted): the stream
 * framing, the machine configuration, the disk list and memory chain, and
 * every hart and device loader must refuse bad input with a message and
 * never crash, hang or read out of bounds. The seeds are real snapshots
 * of a 1-hart, 256 MiB guest with virtio-rng and a virtio-balloon
 * (--balloon 16,deflate-on-oom,reporting,stats=1), the shape of the
 * machine built here, so the loaders behind the checksums are reached. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "machine/virt.h"
#include "state/state.h"
#include "vm/vm.h"
#include "fuzz_reseal.h"

static struct machine *machine_once(void)
{
    static struct machine *m;
    if (!m) {
        struct machine_config cfg = {
            .ncpus = 1, .mem_size = 256ULL << 20, .rng = true,
            .balloon = true, .balloon_deflate_on_oom = true, .balloon_reporting = true,
            .balloon_mib = 16, .balloon_stats_s = 1,
        };
        char err[VIRT_ERR_LEN];
        if (machine_create(&m, &cfg, err))
            abort();
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[VIRT_ERR_LEN];
    struct machine *m = machine_once();
    /* As given (checksums must catch damage)... */
    (void)vm_snapshot_parse(data, size, err);
    /* ...and resealed, so the decoders see the damage. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    fuzz_reseal(copy, size, 16);
    (void)vm_snapshot_parse(copy, size, err);
    struct state_in in;
    if (state_in_open(&in, copy, size, "fuzz", err, sizeof(err)) == 0) {
        /* Skip the file sections before the clock, as a load does. */
        struct state_section s;
        size_t at = in.off;
        while (state_in_next(&in, &s) > 0 && strcmp(s.id, "clock"))
            at = in.off;
        in.off = at;
        *in.failed = false;
        (void)machine_load_state(m, &in);
    }
    free(copy);
    return 0;
}
