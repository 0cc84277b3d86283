/* Opening images: format choice (given or probed, with QEMU's rule that a
 * writable image is never taken for qcow2 on its content alone), backing
 * chains with loop detection, and the small generic helpers. */
#include "block/raw.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"

static const uint8_t qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };

int blk_parse_cache(const char *s, enum blk_cache *out)
{
    if (!strcmp(s, "writeback"))
        *out = BLK_CACHE_WRITEBACK;
    else if (!strcmp(s, "none"))
        *out = BLK_CACHE_NONE;
    else if (!strcmp(s, "unsafe"))
        *out = BLK_CACHE_UNSAFE;
    else
        return -EINVAL;
    return 0;
}

int blk_open_chain(const char *path, const struct blk_open_opts *o, struct blk_chain *chain,
                   struct blk_backend **out, char *err, size_t errlen)
{
    const char *fmt = o->format;
    if (fmt && strcmp(fmt, "raw") && strcmp(fmt, "qcow2")) {
        snprintf(err, errlen, "%s: format=%s is not supported (raw or qcow2)", path, fmt);
        return -ENOTSUP;
    }
    /* Loops are found before opening: the open would meet our own locks. */
    struct stat st = { 0 };
    if (chain && stat(path, &st) == 0) {
        for (unsigned i = 0; i < chain->depth; i++)
            if (chain->dev[i] == st.st_dev && chain->ino[i] == st.st_ino) {
                snprintf(err, errlen, "%s: backing file loop (the chain comes back to this "
                         "file)", path);
                return -ELOOP;
            }
        if (chain->depth == ARRAY_SIZE(chain->dev)) {
            snprintf(err, errlen, "%s: backing chain deeper than %zu files", path,
                     ARRAY_SIZE(chain->dev));
            return -ELOOP;
        }
    }
    struct blk_file f;
    int r = o->inactive ? blk_file_open_inactive(&f, path, o->readonly, o->cache, err, errlen)
                        : blk_file_open(&f, path, o->readonly, o->cache, err, errlen);
    if (r)
        return r;
    struct stat fst;
    if (fstat(f.fd, &fst) == 0)
        st = fst;
    if (chain) {
        for (unsigned i = 0; i < chain->depth; i++)
            if (chain->dev[i] == st.st_dev && chain->ino[i] == st.st_ino) {
                snprintf(err, errlen, "%s: backing file loop (the chain comes back to this "
                         "file)", path);
                blk_file_close(&f);
                return -ELOOP;
            }
        chain->dev[chain->depth] = st.st_dev;
        chain->ino[chain->depth] = st.st_ino;
        chain->depth++;
    }
    if (!fmt) {
        uint8_t head[4] = { 0 };
        if ((r = blk_file_pread(&f, head, sizeof(head), 0))) {
            snprintf(err, errlen, "%s: cannot read the image: %s", path, strerror(-r));
            blk_file_close(&f);
            return r;
        }
        bool looks_qcow2 = f.size >= 4 && !memcmp(head, qcow2_magic, 4);
        if (looks_qcow2 && !o->readonly) {
            snprintf(err, errlen, "%s: the image looks like qcow2 but no format was given: "
                     "a writable image is never probed as qcow2 (a guest can write that "
                     "header into a raw disk); add format=qcow2 (or format=raw)", path);
            blk_file_close(&f);
            return -EPERM;
        }
        if (looks_qcow2)
            log_warn("%s: no format given; probed qcow2 (read-only)", path);
        fmt = looks_qcow2 ? "qcow2" : "raw";
    }
    if (!strcmp(fmt, "raw"))
        return blk_raw_from_file(path, &f, o->readonly, o->cache, out, err, errlen);
    if (o->inactive) /* the source still writes it: see qcow2_handover.c */
        return blk_qcow2_handover_open(path, &f, o->readonly, o->cache, out, err, errlen);
    struct blk_chain local = { .depth = 0 };
    if (!chain) {
        local.dev[0] = st.st_dev;
        local.ino[0] = st.st_ino;
        local.depth = 1;
        chain = &local;
    }
    return blk_qcow2_from_file(path, &f, o->readonly, o->cache, chain, NULL, out, err, errlen);
}

int blk_open_ex(const char *path, const struct blk_open_opts *o, struct blk_backend **out,
                char *err, size_t errlen)
{
    return blk_open_chain(path, o, NULL, out, err, errlen);
}

int blk_open(const char *path, const char *format, bool readonly, struct blk_backend **out,
             char *err, size_t errlen)
{
    struct blk_open_opts o = { .format = format, .readonly = readonly };
    return blk_open_ex(path, &o, out, err, errlen);
}

void blk_close(struct blk_backend *b)
{
    if (b)
        b->ops->close(b);
}

int blk_activate(struct blk_backend **slot, char *err, size_t errlen)
{
    struct blk_backend *b = *slot;
    if (!b || !b->ops->activate)
        return 0;
    int r = b->ops->activate(b, err, errlen);
    if (!r && b->ops == &qcow2_handover_ops)
        *slot = blk_qcow2_handover_finish(b);
    return r;
}
