/* PATCH /drives/{id} and PATCH /network-interfaces/{id}: change the rate
 * limiters of a drive or an interface, before the VM starts (the
 * configuration only) or while it runs or is paused (the configuration,
 * the device, and the machine's copy of its configuration, which a
 * snapshot or a migration records). The limiter is the one field of a
 * started VM's configuration that may still change. */
#include <errno.h>
#include <stdio.h>

#include "devices/virtio_blk.h"
#include "devices/virtio_net.h"
#include "vm/vm.h"

/* Lock held. A stopped VM has no devices left to change. */
static int check_patchable_locked(struct vm *vm, char *err)
{
    if (vm->state != VM_STOPPED)
        return 0;
    snprintf(err, VM_ERR_LEN, "PATCH refused: the VM has stopped");
    return -EINVAL;
}

int vm_patch_drive(struct vm *vm, const char *id, const json_t *body, char *err)
{
    const struct vm_drive *d;
    unsigned i;
    pthread_mutex_lock(&vm->lock);
    int r = check_patchable_locked(vm, err);
    if (!r)
        r = vmcfg_patch_drive(&vm->cfg, id, body, &d, &i, err);
    if (!r && vm->m && i < vm->m->cfg.ndisks && vm->m->blk[i]) {
        vm->m->cfg.disks[i].rate_limit = d->rate_limit;
        virtio_blk_set_rate_limit(vm->m->blk[i], &d->rate_limit);
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_patch_net(struct vm *vm, const char *id, const json_t *body, char *err)
{
    unsigned i;
    pthread_mutex_lock(&vm->lock);
    int r = check_patchable_locked(vm, err);
    if (!r)
        r = vmcfg_patch_net(&vm->cfg, id, body, &i, err);
    if (!r && vm->m && i < vm->m->cfg.nnets && vm->m->net[i]) {
        const struct vm_net *n = &vm->cfg.nets[i];
        vm->m->cfg.nets[i].rx_limit = n->rx_limit;
        vm->m->cfg.nets[i].tx_limit = n->tx_limit;
        virtio_net_set_rate_limits(vm->m->net[i], &n->rx_limit, &n->tx_limit);
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}
