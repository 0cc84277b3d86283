/* Post-copy on the destination (docs/migration.md, "Post-copy"): the
 * guest runs here before all of its memory has arrived. The pages the
 * source still owns are dropped and RAM is registered with userfaultfd;
 * a fault thread turns each missing-page fault (a hart, the I/O thread or
 * the kernel touching guest RAM) into a request to the source, and a
 * receiver thread places the pages that come back, asked for or pushed in
 * the background, with UFFDIO_COPY, which wakes whoever waits for them.
 * When the source says every page has been sent, RAM is unregistered and
 * the destination confirms.
 *
 * With a recovery id (feature bit 4, "Post-copy recovery"), a link that
 * breaks pauses instead: whoever faults keeps waiting, the receiver
 * waits for mig_pc_dest_recover's new connection (a source that proves
 * the id), tells it what is still missing and carries on; a window
 * without one, or mig_pc_dest_cancel, fails as a break does without. */
#ifndef CORRAL_VM_MIGRATE_POSTCOPY_H
#define CORRAL_VM_MIGRATE_POSTCOPY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/gmem.h"
#include "vm/migrate_recover.h"

struct mig_pc_dest;

/* Called on the receiver thread when post-copy fails (the source is
 * gone): the guest cannot go on, its memory is split. */
typedef void (*mig_pc_fail_fn)(void *opaque, const char *why);
/* Status changes for GET /migrate: "postcopy-paused" (why: the break),
 * "postcopy-recover", "postcopy-active", "completed". Receiver thread,
 * or the caller of mig_pc_dest_recover. */
typedef void (*mig_pc_status_fn)(void *opaque, const char *status, const char *why);

struct mig_pc_dest_cfg {
    struct gmem *ram;
    int fd;                      /* the stream (the receiver's once it runs) */
    const uint64_t *missing;     /* pages to drop: they come from the source */
    const uint8_t *id;           /* MIG_ID_LEN bytes; NULL: no recovery */
    uint32_t window_ms;          /* how long a paused receiver waits */
    mig_pc_fail_fn fail;
    void *opaque;                /* fail's */
    mig_pc_status_fn status;     /* may be NULL */
    void *status_opaque;
};

/* Drop the missing pages, register RAM and start the fault thread. The
 * receiver starts with mig_pc_dest_run, once the main thread stops
 * reading fd. Writes to fd go through the send lock from then on. 0 or
 * -errno (err set). */
int mig_pc_dest_start(struct mig_pc_dest **out, const struct mig_pc_dest_cfg *cfg, char *err,
                      size_t errlen) WARN_UNUSED;
int mig_pc_dest_run(struct mig_pc_dest *d, char *err, size_t errlen) WARN_UNUSED;
/* Send a frame on the shared socket (the main thread's "done"); -EPIPE
 * when the link is already down. */
int mig_pc_dest_send_simple(struct mig_pc_dest *d, const char *id, const char *reason,
                            char *err) WARN_UNUSED;
/* While paused: listen on uri for the source's new connection (an fd:N
 * is that connection). Any thread (the API's); -EINVAL with err when not
 * paused, already listening, or the URI cannot be listened on. */
int mig_pc_dest_recover(struct mig_pc_dest *d, const char *uri, char *err) WARN_UNUSED;
/* While paused or listening: give up now (the fail callback runs). */
int mig_pc_dest_cancel(struct mig_pc_dest *d, char *err) WARN_UNUSED;
/* Wait for both threads (they end when post-copy completes or fails, or
 * now if `stop`) and free. Statistics: faults sent as requests. */
void mig_pc_dest_finish(struct mig_pc_dest *d, bool stop, uint64_t *faults);
bool mig_pc_dest_done(struct mig_pc_dest *d);

#endif
