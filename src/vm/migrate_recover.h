/* Post-copy recovery (docs/migration.md, "Post-copy recovery"): when the
 * link breaks in post-copy both sides pause, and a new connection picks
 * the job up. This is its handshake, written and checked here (both
 * frames come off the network: hostile input):
 *
 *   pc-resume      source -> destination: u64 magic, u32 version,
 *                  u64 features, id[16] (the migration's, from the
 *                  postcopy frame)
 *   pc-resume-ack  destination -> source: id[16], u32 words, words x u64
 *                  pages still missing, u32 n, n x u64 pages a hart (or
 *                  the kernel) waits for: sent first
 *
 * Pure functions, no I/O: any thread. */
#ifndef CORRAL_VM_MIGRATE_RECOVER_H
#define CORRAL_VM_MIGRATE_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"
#include "state/state.h"

#define MIG_ID_LEN 16
/* How long a paused side waits for a recovery (carried in the postcopy frame). */
#define MIG_RECOVER_WINDOW_MS 60000u
#define MIG_RECOVER_WINDOW_MAX_MS 600000u
/* Pages named in one ack as waited for (more go in the background). */
#define MIG_RECOVER_URGENT_MAX 4096u

void mig_resume_put(struct state_out *o, const uint8_t id[MIG_ID_LEN]);
/* The destination: is section `s` a pc-resume of this migration? 0, or
 * -EINVAL with the reason (for the refuse frame) in why. */
int mig_resume_check(struct state_section *s, const uint8_t id[MIG_ID_LEN], char *why,
                     size_t whylen) WARN_UNUSED;

/* The destination's answer: missing (words of it) and the first of the
 * pages in `wanted` that are still missing, up to MIG_RECOVER_URGENT_MAX. */
void mig_resume_ack_put(struct state_out *o, const uint8_t id[MIG_ID_LEN],
                        const uint64_t *missing, const uint64_t *wanted, size_t words);
/* The source: parse an ack (in: the section's body) against this
 * migration's id and the postcopy page map `map` (words words): every
 * missing page must have been in it. Fills missing[words] and
 * urgent[MIG_RECOVER_URGENT_MAX] (*n of them). 0 or -EINVAL (why set). */
int mig_resume_ack_parse(struct state_in *in, const uint8_t id[MIG_ID_LEN], const uint64_t *map,
                         size_t words, uint64_t *missing, uint64_t *urgent, uint32_t *n,
                         char *why, size_t whylen) WARN_UNUSED;

#endif
