/* Page encodings of the migration stream (docs/migration.md, "Sending
 * less"): each page travels as one of
 *   0 zero      nothing more
 *   1 raw       4096 bytes
 *   2 zstd      u32 length, a zstd frame that decodes to exactly 4096 bytes
 *   3 dedup     u64 page: the destination copies its own copy of that page
 *   4 delta     u32 length, runs {u16 skip, u16 count, count bytes}: the new
 *               bytes over the page the destination already holds
 * Kinds 2-4 only when the hello frame's feature bits allow them.
 *
 * The source's encoder keeps what it needs to decide: a table from a
 * page's content hash (xxh64) to a page whose copy on the destination is
 * known to hold that content, and a cache of the bytes last sent for
 * recently sent pages (the delta base). Migration thread only. */
#ifndef CORRAL_VM_MIGRATE_PAGES_H
#define CORRAL_VM_MIGRATE_PAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/types.h"
#include "mem/gmem.h"
#include "state/state.h"

enum mig_page_kind {
    MIG_PAGE_ZERO = 0,
    MIG_PAGE_RAW = 1,
    MIG_PAGE_ZSTD = 2,
    MIG_PAGE_DEDUP = 3,
    MIG_PAGE_DELTA = 4,
};

/* Feature bits of the hello frame. */
#define MIG_F_ZSTD (1ULL << 0)
#define MIG_F_DEDUP (1ULL << 1)
#define MIG_F_DELTA (1ULL << 2)
#define MIG_F_DISKS (1ULL << 3) /* storage migration (migrate_disks.h) */
#define MIG_F_RECOVER (1ULL << 4) /* post-copy recovery (migrate_recover.h) */
#define MIG_F_KNOWN (MIG_F_ZSTD | MIG_F_DEDUP | MIG_F_DELTA | MIG_F_DISKS | MIG_F_RECOVER)

#define MIG_MAX_THREADS 64 /* compression threads */
#define MIG_BATCH_MAX 256  /* pages encoded together (their zstd in parallel) */

struct mig_page_opts {
    bool zero_pages;       /* zero pages as a flag (else sent raw) */
    int zstd_level;        /* 0: off; 1..19 */
    unsigned threads;      /* threads compressing with zstd (1: the sender alone) */
    bool dedup;
    uint32_t delta_cache_mib; /* 0: no page delta */
};

struct mig_page_counts {
    uint64_t normal, zero, compressed, dedup, delta;
    uint64_t raw_bytes, wire_bytes; /* page bytes covered, bytes they took */
};

struct mig_encoder;

/* NULL on out of memory. */
struct mig_encoder *mig_encoder_new(const struct mig_page_opts *o, const struct gmem *ram);
void mig_encoder_free(struct mig_encoder *e);
uint64_t mig_encoder_features(const struct mig_encoder *e);

/* A round begins: the pages in bits (harvested from the dirty log) may
 * differ on the destination until they are sent again. */
void mig_encoder_round(struct mig_encoder *e, const uint64_t *bits);
/* One bit per page: the destination's copy may differ from RAM (post-copy
 * sends exactly these). Clear a bit once the page is sent otherwise. */
uint64_t *mig_encoder_stale(struct mig_encoder *e);
/* Encode page p of RAM into o (u64 page number, u8 kind, payload) in the
 * smallest form allowed: zero, dedup, delta, zstd, else raw. */
void mig_encode_page(struct mig_encoder *e, struct gmem *ram, uint64_t p, struct state_out *o,
                     struct mig_page_counts *c);
/* The same for n pages in order, as records one after another. Kinds are
 * decided in order (a page may refer to one before it); the zstd
 * compression of a batch runs on `threads` threads. */
void mig_encode_pages(struct mig_encoder *e, struct gmem *ram, const uint64_t *pages,
                      unsigned n, struct state_out *o, struct mig_page_counts *c);

/* The destination: apply one encoded page from `in` to RAM. features are
 * what the hello frame allowed. 0 or -EINVAL (in's error set). */
int mig_decode_page(struct gmem *ram, uint64_t features, struct state_in *in) WARN_UNUSED;

#endif
