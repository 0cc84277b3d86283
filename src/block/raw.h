/* Internal to src/block: the format backends' constructors. */
#ifndef CORRAL_BLOCK_RAW_H
#define CORRAL_BLOCK_RAW_H

#include "block/block.h"
#include "block/file.h"

/* Backing chain being opened: for loop detection. */
struct blk_chain {
    dev_t dev[64];
    ino_t ino[64];
    unsigned depth;
};

/* Take ownership of an open file (closed on error too). */
int blk_raw_from_file(const char *path, struct blk_file *f, bool readonly, enum blk_cache cache,
                      struct blk_backend **out, char *err, size_t errlen) WARN_UNUSED;
int blk_qcow2_from_file(const char *path, struct blk_file *f, bool readonly,
                        enum blk_cache cache, struct blk_chain *chain,
                        struct blk_backend *backing, struct blk_backend **out, char *err,
                        size_t errlen) WARN_UNUSED;
/* Open with a chain (backing files of qcow2 images). */
int blk_open_chain(const char *path, const struct blk_open_opts *o, struct blk_chain *chain,
                   struct blk_backend **out, char *err, size_t errlen) WARN_UNUSED;
bool blk_is_qcow2(const struct blk_backend *b);

#endif
