/* Changed-chunk map of a disk (storage migration, docs/migration.md): one
 * bit per 2^shift bytes, set by the writer (the I/O thread) and taken
 * (cleared) by whoever copies the chunk. Bits are atomic words: marking
 * and taking need no lock between them. */
#ifndef CORRAL_BLOCK_BLK_DIRTY_H
#define CORRAL_BLOCK_BLK_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/types.h"

struct blk_dirty {
    unsigned shift;
    uint64_t size, nchunks;
    _Atomic uint64_t *words;
    uint64_t cursor; /* where blk_dirty_take looks next (the taker's own) */
};

/* Every chunk starts changed (nothing has been copied yet). */
int blk_dirty_new(struct blk_dirty **out, uint64_t size, unsigned shift) WARN_UNUSED;
void blk_dirty_free(struct blk_dirty *d);
/* Bytes [off, off+len) were written (clamped to the disk). */
void blk_dirty_mark(struct blk_dirty *d, uint64_t off, uint64_t len);
/* The next changed chunk at or after the cursor (wrapping), cleared;
 * false when none is left. */
bool blk_dirty_take(struct blk_dirty *d, uint64_t *chunk);
uint64_t blk_dirty_count(const struct blk_dirty *d);
/* Bytes chunk `c` covers (the last one may be short). */
uint64_t blk_dirty_chunk_len(const struct blk_dirty *d, uint64_t c);

#endif
