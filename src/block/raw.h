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
/* A qcow2 image held for a migration's hand-over (block/qcow2_handover.c):
 * takes the inactive file; its activate op opens the image for real, and
 * _finish then gives that backend back, freeing the stand-in. */
extern const struct blk_backend_ops qcow2_handover_ops;
int blk_qcow2_handover_open(const char *path, struct blk_file *f, bool readonly,
                            enum blk_cache cache, struct blk_backend **out, char *err,
                            size_t errlen) WARN_UNUSED;
struct blk_backend *blk_qcow2_handover_finish(struct blk_backend *b);

#endif
