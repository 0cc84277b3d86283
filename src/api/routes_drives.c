/* PUT /drives/{id}/snapshot {overlay_path} and PUT /drives/{id}/commit
 * (Corral extensions): a qcow2 overlay put over a running drive, and an
 * overlay's clusters copied back into its backing file. The VM keeps
 * running: only the drive is quiesced (no request taken, those in
 * flight landed) around the switch or the copy. While the files are
 * written the VM lock is not held and `snapshotting` refuses every state
 * change, as a snapshot does. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/routes.h"
#include "devices/virtio_blk.h"
#include "machine/virt.h"
#include "vm/vm.h"

enum drive_op { OP_SNAPSHOT, OP_COMMIT };

/* Find the running drive `id` and mark the VM busy. Lock held. */
static int begin_locked(struct vm *vm, const char *id, const char *what, unsigned *idx,
                        char *err)
{
    if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
        snprintf(err, API_ERR_LEN, "drive %s refused: the VM is not running or paused", what);
        return -EINVAL;
    }
    if (vm->snapshotting || vm->migrating || vm->mig_pc) {
        snprintf(err, API_ERR_LEN, "drive %s refused: a snapshot or migration is under way",
                 what);
        return -EINVAL;
    }
    for (unsigned i = 0; i < vm->cfg.ndrives; i++) {
        if (strcmp(vm->cfg.drives[i].id, id))
            continue;
        if (!vm->m || i >= vm->m->cfg.ndisks || !vm->m->blk[i])
            break;
        if (virtio_blk_backend(vm->m->blk[i])->readonly) {
            snprintf(err, API_ERR_LEN, "drive %s refused: drive %s is read-only", what, id);
            return -EINVAL;
        }
        *idx = i;
        vm->snapshotting = true;
        return 0;
    }
    snprintf(err, API_ERR_LEN, "drive %s refused: no drive '%.64s' in the running VM", what, id);
    return -EINVAL;
}

static int drive_op(struct vm *vm, const char *id, enum drive_op op, const char *overlay,
                    char *err)
{
    const char *what = op == OP_SNAPSHOT ? "snapshot" : "commit";
    unsigned i;
    pthread_mutex_lock(&vm->lock);
    int r = begin_locked(vm, id, what, &i, err);
    struct virtio_blk *blk = r ? NULL : vm->m->blk[i];
    pthread_mutex_unlock(&vm->lock);
    if (r)
        return r;

    char e[API_ERR_LEN - 16] = "";
    virtio_blk_quiesce(blk);
    struct blk_backend **slot = virtio_blk_backend_slot(blk);
    if (op == OP_SNAPSHOT)
        r = blk_reopen_overlay(slot, overlay, e, sizeof(e));
    else
        r = blk_commit_backend(*slot, e, sizeof(e));
    virtio_blk_resume(blk);

    pthread_mutex_lock(&vm->lock);
    if (r) {
        snprintf(err, API_ERR_LEN, "drive %s: %s", what, e);
        r = r == -ENOMEM ? r : -EINVAL;
    } else if (op == OP_SNAPSHOT) {
        /* The drive is the overlay from now on: its configuration (the
         * next snapshot or migration) says so. */
        if (!vmcfg_set_str(&vm->cfg.drives[i].path, overlay))
            vm->m->cfg.disks[i].path = vm->cfg.drives[i].path;
        log_info("drive %s: the VM now writes %s", id, overlay);
    }
    vm->snapshotting = false;
    pthread_mutex_unlock(&vm->lock);
    return r;
}

API_HANDLER(api_put_drive_snapshot)
{
    static const char *const keys[] = { "overlay_path", NULL };
    char err[API_ERR_LEN];
    const char *ov;
    if (!api_only_keys(body, keys, out) || !api_opt_string(body, "overlay_path", &ov, out))
        return;
    if (!ov || !*ov) {
        api_reply_fault(out, 400, "overlay_path is required");
        return;
    }
    api_reply_result(out, drive_op(ctx->vm, id, OP_SNAPSHOT, ov, err), err);
}

API_HANDLER(api_put_drive_commit)
{
    char err[API_ERR_LEN];
    api_reply_result(out, drive_op(ctx->vm, id, OP_COMMIT, NULL, err), err);
}
