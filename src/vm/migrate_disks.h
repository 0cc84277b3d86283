/* Storage migration (docs/migration.md, "Storage"): with migrate_disks the
 * disks' content travels with the VM, for a destination that does not
 * share the source's storage. Pre-copy style: every chunk is sent once,
 * then every chunk written meanwhile again in each round, the rest while
 * the guest is paused at the switch-over. The destination creates each
 * disk where its own --disk-override says (never where the stream says,
 * never over an existing file) with the source's format and size,
 * writes the chunks into it, and removes what it created if the
 * migration fails.
 *
 * Frames: "disk-formats" {u8 n, n x str format} after the configuration;
 * "disk-chunks" {u8 disk, u8 shift, u32 n, n x {u64 chunk, u8 kind (0
 * zero, 1 data), [chunk bytes]}} in the rounds. */
#ifndef CORRAL_VM_MIGRATE_DISKS_H
#define CORRAL_VM_MIGRATE_DISKS_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/virt.h"
#include "state/state.h"
#include "vm/vm.h"

#define MIG_DISK_SHIFT 18  /* 256 KiB chunks */
#define MIG_DISK_BATCH 16  /* chunks per frame */

/* Source. start: every disk tracked, all of it still to send. send: every
 * chunk changed since it was last sent (paused: the I/O thread is
 * stopped, read directly). */
int mig_disks_start(struct machine *m, char *err) WARN_UNUSED;
void mig_disks_stop(struct machine *m);
void mig_disks_put_formats(struct machine *m, struct state_out *o);
/* Chunks changed and not sent yet, over every copied disk. */
uint64_t mig_disks_pending(struct machine *m);
int mig_disks_send(struct machine *m, int fd, bool paused, uint64_t *bytes, uint64_t *chunks,
                   char *err) WARN_UNUSED;

/* Destination. The formats frame, before the machine is built; the
 * disks created by vm_restore_build_locked (vm->create_disks) with them;
 * a chunks frame into the built machine (not running). */
int mig_disks_get_formats(struct state_in *in, char formats[][8], unsigned *n) WARN_UNUSED;
int vm_create_migrated_disks(struct vm *vm, const struct machine_saved_config *sc,
                             char *err) WARN_UNUSED;
int mig_disks_receive(struct machine *m, struct state_in *in) WARN_UNUSED;

#endif
