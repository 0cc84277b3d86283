/* Fuzz target: the post-copy destination's receiver (vm/migrate_postcopy.c)
 * and post-copy recovery's handshake (vm/migrate_recover.c).
 * Once a post-copy destination runs the guest, every frame the source
 * sends ("pc-pages" with page numbers and kinds, "pc-end", anything else)
 * is placed into registered guest RAM with userfaultfd: a bad page number,
 * kind, count or truncation must end post-copy with a reason, never place
 * a page outside RAM, crash or hang. The input goes into one end of a
 * socketpair, shut for writing, as in fuzz_migrate. Its first byte picks
 * what reads the rest:
 *   0 (even)  the receiver's stream, as above (no recovery)
 *   1         a recovery connection to a paused destination: whoever
 *             reaches the recovery URI (pc-resume with an id, then, if
 *             it is this migration's, post-copy frames again)
 *   3         the source's side: one frame parsed as a pc-resume-ack */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "vm/migrate_postcopy.h"
#include "vm/migrate_recover.h"
#include "vm/migrate_stream.h"
#include "fuzz_feed.h"

#define PAGES 64

/* The id the corpus's recovery seeds carry. */
static const uint8_t fuzz_id[MIG_ID_LEN] = "corral-fuzz-id!";

static _Atomic int paused_count, ended;

static void on_fail(void *opaque, const char *why)
{
    (void)opaque;
    (void)why;
    atomic_store(&ended, 1);
}

static void on_status(void *opaque, const char *status, const char *why)
{
    (void)opaque;
    (void)why;
    if (!strcmp(status, "postcopy-paused"))
        atomic_fetch_add(&paused_count, 1);
    else if (!strcmp(status, "completed"))
        atomic_store(&ended, 1);
}

/* Until the receiver has paused `n` times or ended (bounded: a stuck
 * receiver is a hang the fuzzer reports). */
static void wait_paused(int n)
{
    for (int i = 0; i < 20000 && atomic_load(&paused_count) < n && !atomic_load(&ended); i++)
        usleep(100);
}

static void ack_parse(const uint8_t *data, size_t size)
{
    uint64_t map[PAGES / 64], missing[PAGES / 64], urgent[MIG_RECOVER_URGENT_MAX];
    uint32_t n;
    char why[256], err[256];
    memset(map, 0xff, sizeof(map));
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return;
    memcpy(copy, data, size);
    fuzz_reseal(copy, size, 0);
    struct state_in in;
    struct state_section s;
    state_in_init(&in, copy, size, "fuzz", err, sizeof(err));
    if (state_in_next(&in, &s) > 0)
        (void)mig_resume_ack_parse(&s.body, fuzz_id, map, PAGES / 64, missing, urgent, &n, why,
                                   sizeof(why));
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gmem ram;
    if (!ram.host && gmem_init(&ram, 0x80000000ULL, PAGES * GMEM_PAGE_SIZE))
        abort();
    if (size < 1 || size > 512 * 1024)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    if (mode == 3) {
        ack_parse(data, size);
        return 0;
    }
    bool recover = mode & 1;
    int sv[2], rv[2] = { -1, -1 };
    /* Recovery: the first link carries nothing (it breaks at once); the
     * input arrives on the recovery connection. */
    if (fuzz_feed(data, recover ? 0 : size, 4 << 20, sv))
        return 0;
    if (recover && fuzz_feed(data, size, 4 << 20, rv)) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    uint64_t missing[PAGES / 64];
    memset(missing, 0xff, sizeof(missing));
    atomic_store(&paused_count, 0);
    atomic_store(&ended, 0);
    struct mig_pc_dest_cfg cfg = {
        .ram = &ram, .fd = sv[1], .missing = missing, .id = recover ? fuzz_id : NULL,
        .window_ms = recover ? 10000 : 0, .fail = on_fail, .status = on_status,
    };
    struct mig_pc_dest *d;
    char err[MIG_ERR_LEN];
    if (mig_pc_dest_start(&d, &cfg, err, sizeof(err))) {
        /* Loudly: without userfaultfd this target would test nothing. */
        fprintf(stderr, "fuzz_migrate_postcopy: %s\n", err);
        abort();
    }
    /* The guest "runs" here: a break pauses rather than fails. */
    if (recover && mig_pc_dest_send_simple(d, "done", NULL, err))
        abort();
    if (mig_pc_dest_run(d, err, sizeof(err)))
        abort();
    if (recover) {
        wait_paused(1);
        char uri[32];
        snprintf(uri, sizeof(uri), "fd:%d", rv[1]);
        if (!atomic_load(&ended) && mig_pc_dest_recover(d, uri, err) == 0)
            rv[1] = -1; /* the receiver's now */
        /* Refused (paused again), or taken and then broken at the end of
         * the input (paused again), or ended by a bad frame or pc-end. */
        wait_paused(2);
    }
    /* The receiver ends at pc-end, a bad frame or the end of the input
     * (recovery: stopped here); either way RAM is ordinary memory again
     * and reads cannot block. */
    mig_pc_dest_finish(d, recover, NULL);
    volatile uint8_t sum = 0;
    for (unsigned p = 0; p < PAGES; p++)
        sum += ram.host[p * GMEM_PAGE_SIZE];
    (void)sum;
    close(sv[0]);
    if (recover) {
        close(rv[0]);
        if (rv[1] >= 0)
            close(rv[1]);
    }
    return 0;
}
