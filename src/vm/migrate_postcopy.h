/* Post-copy on the destination (docs/migration.md, "Post-copy"): the
 * guest runs here before all of its memory has arrived. The pages the
 * source still owns are dropped and RAM is registered with userfaultfd;
 * a fault thread turns each missing-page fault (a hart, the I/O thread or
 * the kernel touching guest RAM) into a request to the source, and a
 * receiver thread places the pages that come back, asked for or pushed in
 * the background, with UFFDIO_COPY, which wakes whoever waits for them.
 * When the source says every page has been sent, RAM is unregistered and
 * the destination confirms. */
#ifndef CORRAL_VM_MIGRATE_POSTCOPY_H
#define CORRAL_VM_MIGRATE_POSTCOPY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/gmem.h"

struct mig_pc_dest;

/* Called on the receiver thread when post-copy fails (the source is
 * gone): the guest cannot go on, its memory is split. */
typedef void (*mig_pc_fail_fn)(void *opaque, const char *why);

/* Drop the pages set in `missing`, register RAM and start the fault
 * thread. The receiver starts with mig_pc_dest_run, once the main
 * thread stops reading fd. Writes to fd go through mig_pc_send_locked's
 * lock from then on. 0 or -errno (err set). */
int mig_pc_dest_start(struct mig_pc_dest **out, struct gmem *ram, int fd,
                      const uint64_t *missing, mig_pc_fail_fn fail, void *opaque,
                      char *err, size_t errlen) WARN_UNUSED;
int mig_pc_dest_run(struct mig_pc_dest *d, char *err, size_t errlen) WARN_UNUSED;
/* Send a frame on the shared socket (the main thread's "done"). */
int mig_pc_dest_send_simple(struct mig_pc_dest *d, const char *id, const char *reason,
                            char *err) WARN_UNUSED;
/* Wait for both threads (they end when post-copy completes or fails, or
 * now if `stop`) and free. Statistics: faults sent as requests. */
void mig_pc_dest_finish(struct mig_pc_dest *d, bool stop, uint64_t *faults);
bool mig_pc_dest_done(struct mig_pc_dest *d);

#endif
