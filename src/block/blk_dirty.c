/* Changed-chunk map (blk_dirty.h). */
#include "block/blk_dirty.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

int blk_dirty_new(struct blk_dirty **out, uint64_t size, unsigned shift)
{
    if (shift < 12 || shift > 30)
        return -EINVAL;
    struct blk_dirty *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->shift = shift;
    d->size = size;
    d->nchunks = (size + (1ULL << shift) - 1) >> shift;
    uint64_t nwords = (d->nchunks + 63) / 64;
    d->words = calloc(nwords ? nwords : 1, sizeof(uint64_t));
    if (!d->words) {
        free(d);
        return -ENOMEM;
    }
    for (uint64_t c = 0; c < d->nchunks; c++)
        d->words[c >> 6] |= 1ULL << (c & 63);
    *out = d;
    return 0;
}

void blk_dirty_free(struct blk_dirty *d)
{
    if (!d)
        return;
    free((void *)d->words);
    free(d);
}

void blk_dirty_mark(struct blk_dirty *d, uint64_t off, uint64_t len)
{
    if (!len || off >= d->size)
        return;
    if (len > d->size - off)
        len = d->size - off;
    for (uint64_t c = off >> d->shift; c <= (off + len - 1) >> d->shift; c++)
        atomic_fetch_or_explicit(&d->words[c >> 6], 1ULL << (c & 63), memory_order_release);
}

bool blk_dirty_take(struct blk_dirty *d, uint64_t *chunk)
{
    uint64_t nwords = (d->nchunks + 63) / 64;
    for (uint64_t i = 0; i <= nwords; i++) {
        uint64_t w = ((d->cursor >> 6) + i) % (nwords ? nwords : 1);
        uint64_t bits = atomic_load_explicit(&d->words[w], memory_order_acquire);
        while (bits) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            uint64_t bit = 1ULL << b;
            if (atomic_fetch_and_explicit(&d->words[w], ~bit, memory_order_acq_rel) & bit) {
                *chunk = w * 64 + b;
                d->cursor = *chunk + 1 < d->nchunks ? *chunk + 1 : 0;
                return true;
            }
            bits &= ~bit;
        }
    }
    return false;
}

uint64_t blk_dirty_count(const struct blk_dirty *d)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < (d->nchunks + 63) / 64; w++)
        n += (uint64_t)__builtin_popcountll(atomic_load_explicit(&d->words[w], memory_order_relaxed));
    return n;
}

uint64_t blk_dirty_chunk_len(const struct blk_dirty *d, uint64_t c)
{
    uint64_t off = c << d->shift, cs = 1ULL << d->shift;
    return off >= d->size ? 0 : d->size - off < cs ? d->size - off : cs;
}
