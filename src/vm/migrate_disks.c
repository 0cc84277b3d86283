/* Storage migration (migrate_disks.h). */
#include "vm/migrate_disks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "devices/virtio_blk.h"
#include "mem/gmem.h"
#include "vm/migrate_stream.h"

__attribute__((format(printf, 3, 4))) static int fail(char *err, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, MIG_ERR_LEN, fmt, ap);
    va_end(ap);
    return r;
}

/* Read-only disks are not copied: nothing writes them, and they are
 * usually a shared base image (the destination opens the same path). */
static bool copied(struct machine *m, unsigned i)
{
    return m->blk[i] && !virtio_blk_backend(m->blk[i])->readonly;
}

/* ---- source ---- */

int mig_disks_start(struct machine *m, char *err)
{
    for (unsigned i = 0; i < MACHINE_MAX_DISKS; i++)
        if (copied(m, i) && virtio_blk_track_start(m->blk[i], MIG_DISK_SHIFT)) {
            mig_disks_stop(m);
            return fail(err, -ENOMEM, "%s: cannot track its writes (out of memory)",
                        virtio_blk_backend(m->blk[i])->path);
        }
    return 0;
}

void mig_disks_stop(struct machine *m)
{
    for (unsigned i = 0; i < MACHINE_MAX_DISKS; i++)
        if (m->blk[i])
            virtio_blk_track_stop(m->blk[i]);
}

void mig_disks_put_formats(struct machine *m, struct state_out *o)
{
    unsigned n = 0;
    while (n < MACHINE_MAX_DISKS && m->blk[n])
        n++;
    state_begin(o, "disk-formats", 1, 0);
    state_put_u8(o, (uint8_t)n);
    for (unsigned i = 0; i < n; i++)
        state_put_str(o, copied(m, i) ? virtio_blk_backend(m->blk[i])->format : "");
    state_end(o);
}

uint64_t mig_disks_pending(struct machine *m)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < MACHINE_MAX_DISKS; i++)
        if (copied(m, i))
            n += virtio_blk_track_pending(m->blk[i]);
    return n;
}

static bool all_zero(const uint8_t *p, uint64_t len)
{
    for (uint64_t off = 0; off < len; off += GMEM_PAGE_SIZE) {
        uint64_t l = len - off < GMEM_PAGE_SIZE ? len - off : GMEM_PAGE_SIZE;
        if (l == GMEM_PAGE_SIZE ? !gmem_page_is_zero(p + off)
                                : (p[off] || memcmp(p + off, p + off + 1, l - 1)))
            return false;
    }
    return true;
}

int mig_disks_send(struct machine *m, int fd, bool paused, uint64_t *bytes, uint64_t *chunks,
                   char *err)
{
    const uint64_t cs = 1ULL << MIG_DISK_SHIFT;
    uint8_t *buf = malloc(cs * MIG_DISK_BATCH);
    if (!buf)
        return fail(err, -ENOMEM, "out of memory");
    int r = 0;
    for (unsigned d = 0; d < MACHINE_MAX_DISKS && !r; d++) {
        if (!copied(m, d))
            continue;
        struct virtio_blk *b = m->blk[d];
        uint64_t size = virtio_blk_backend(b)->size;
        for (;;) {
            uint64_t idx[MIG_DISK_BATCH];
            int n = virtio_blk_track_copy(b, buf, idx, MIG_DISK_BATCH, paused);
            if (n < 0) {
                r = fail(err, n, "%s: cannot read it to send: %s",
                         virtio_blk_backend(b)->path, strerror(-n));
                break;
            }
            if (n == 0)
                break;
            struct state_out o;
            state_out_init(&o);
            state_begin(&o, "disk-chunks", 1, 0);
            state_put_u8(&o, (uint8_t)d);
            state_put_u8(&o, MIG_DISK_SHIFT);
            state_put_u32(&o, (uint32_t)n);
            for (int k = 0; k < n; k++) {
                uint64_t off = idx[k] << MIG_DISK_SHIFT;
                uint64_t len = size - off < cs ? size - off : cs;
                bool z = all_zero(buf + k * cs, len);
                state_put_u64(&o, idx[k]);
                state_put_u8(&o, !z);
                if (!z)
                    state_put_bytes(&o, buf + k * cs, (size_t)len);
            }
            state_end(&o);
            r = mig_send(fd, &o, err);
            *bytes += o.len;
            *chunks += (uint64_t)n;
            state_out_free(&o);
            if (r)
                break;
        }
    }
    free(buf);
    return r;
}

/* ---- destination ---- */

int mig_disks_get_formats(struct state_in *in, char formats[][8], unsigned *n)
{
    unsigned k = state_get_u8(in);
    if (state_in_status(in))
        return -EINVAL;
    if (k > MACHINE_MAX_DISKS)
        return state_in_fail(in, "%u disks", k);
    for (unsigned i = 0; i < k; i++) {
        state_get_str(in, formats[i], 8, NULL);
        if (state_in_status(in))
            return -EINVAL;
        if (formats[i][0] && strcmp(formats[i], "raw") && strcmp(formats[i], "qcow2"))
            return state_in_fail(in, "disk %u: format '%.8s' (raw or qcow2)", i, formats[i]);
    }
    *n = k;
    return state_in_finish(in);
}

/* A new, empty image of `size` bytes at `path` (never over a file). */
static int create_disk(const char *path, const char *format, uint64_t size, char *err)
{
    if (!strcmp(format, "qcow2")) {
        int r = blk_qcow2_create_overlay(path, NULL, NULL, size, err, MIG_ERR_LEN);
        return r;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(err, -errno, "%s: cannot create it for the migrated disk: %s", path,
                    strerror(errno));
    int r = ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0 ? -errno : 0;
    close(fd);
    if (r) {
        unlink(path);
        return fail(err, r, "%s: cannot size it: %s", path, strerror(-r));
    }
    return 0;
}

int vm_create_migrated_disks(struct vm *vm, const struct machine_saved_config *sc, char *err)
{
    if (vm->ncreate_formats != vm->cfg.ndrives)
        return fail(err, -EINVAL, "the source sent formats for %u disks, its configuration "
                    "has %u", vm->ncreate_formats, vm->cfg.ndrives);
    for (unsigned i = 0; i < vm->cfg.ndrives; i++) {
        struct vm_drive *d = &vm->cfg.drives[i];
        struct stat st;
        if (!vm->create_formats[i][0])
            continue; /* read-only: shared, opened where it is */
        /* The stream never chooses where a file is created here. */
        bool named = false;
        for (unsigned k = 0; k < vm->ndisk_overrides && !named; k++)
            named = !strcmp(vm->disk_overrides[k].id, d->id);
        if (!named)
            return fail(err, -EINVAL, "disk %s: storage migration creates the disk where "
                        "this side says: give --disk-override %s=PATH", d->id, d->id);
        if (stat(d->path, &st) == 0)
            return fail(err, -EEXIST, "disk %s: %s exists; storage migration creates the disk "
                        "(give another path with --disk-override %s=PATH)", d->id, d->path,
                        d->id);
        int r = create_disk(d->path, vm->create_formats[i], sc->disk_size[i], err);
        if (r)
            return r;
        if (!(vm->created_disks[vm->ncreated_disks] = strdup(d->path))) {
            unlink(d->path);
            return fail(err, -ENOMEM, "out of memory");
        }
        vm->ncreated_disks++;
        if (vmcfg_set_str(&d->format, vm->create_formats[i]))
            return fail(err, -ENOMEM, "out of memory");
    }
    return 0;
}

void vm_remove_created_disks(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncreated_disks; i++) {
        unlink(vm->created_disks[i]);
        free(vm->created_disks[i]);
    }
    vm->ncreated_disks = 0;
}

int mig_disks_receive(struct machine *m, struct state_in *in)
{
    static uint8_t chunk[1u << MIG_DISK_SHIFT];
    unsigned d = state_get_u8(in), shift = state_get_u8(in);
    uint32_t n = state_get_u32(in);
    if (state_in_status(in))
        return -EINVAL;
    if (d >= MACHINE_MAX_DISKS || !copied(m, d) || shift != MIG_DISK_SHIFT || n > 4096)
        return state_in_fail(in, "disk chunks: disk %u, chunk shift %u, %u chunks", d, shift, n);
    struct blk_backend *be = virtio_blk_backend(m->blk[d]);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t c = state_get_u64(in);
        uint8_t kind = state_get_u8(in);
        if (state_in_status(in))
            return -EINVAL;
        if (kind > 1 || c >= (be->size + sizeof(chunk) - 1) >> MIG_DISK_SHIFT)
            return state_in_fail(in, "disk %u: chunk %llu kind %u", d, (unsigned long long)c,
                                 kind);
        uint64_t off = c << MIG_DISK_SHIFT;
        uint64_t len = be->size - off < sizeof(chunk) ? be->size - off : sizeof(chunk);
        int r;
        if (kind) {
            state_get_bytes(in, chunk, (size_t)len);
            if (state_in_status(in))
                return -EINVAL;
            struct iovec iov = { .iov_base = chunk, .iov_len = (size_t)len };
            r = be->ops->pwritev(be, &iov, 1, off);
        } else {
            r = be->ops->write_zeroes(be, off, len);
        }
        if (r)
            return state_in_fail(in, "disk %u (%s): cannot write: %s", d, be->path, strerror(-r));
    }
    return state_in_finish(in);
}
