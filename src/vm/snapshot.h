/* Snapshots (DESIGN.md "State"): the whole VM saved to two files and
 * brought back in a fresh process exactly where it was.
 *
 *   state file   a state stream (state/state.h): "machine" (the
 *                configuration that rebuilds the board), "disks" (each
 *                disk's path, size and, for raw images, a content
 *                fingerprint), "memory" (the chain of memory files), then
 *                "clock", "hart.N" and one section per device.
 *   memory file  guest RAM as raw pages at their offset, as large as RAM,
 *                sparse (zero pages are holes) so it can be mapped: a
 *                restore maps it MAP_PRIVATE and pages load on first touch
 *                (milliseconds whatever the RAM size; VMs restored from one
 *                file share its clean pages in the host's page cache).
 *   diff         a memory file holding only the pages written since the
 *                previous snapshot of this VM; its state lists the whole
 *                chain (base full file + diffs, with each diff's page map)
 *                and a restore applies them in order. vm_snapshot_merge
 *                folds a chain into one full memory file.
 *
 * Files are written under temporary names, fsynced and renamed, memory
 * before state: a failed create leaves the VM paused as it was and no
 * state file that looks complete; a memory file that does not belong to
 * its state (sampled content fingerprint, size) is refused on load.
 *
 * Time: the guest's monotonic clock (the `time` CSR, timers) continues
 * from the instant of the snapshot: no jump, never backwards, no storm of
 * expired timers. The guest's wall clock therefore lags the host's by the
 * time the snapshot spent on disk; the RTC reads the host's time, so
 * `hwclock -s` in the guest steps it to the host's time. */
#ifndef CORRAL_VM_SNAPSHOT_H
#define CORRAL_VM_SNAPSHOT_H

#include "core/types.h"

#define VM_SNAP_MAX_LAYERS 16

struct vm_snap_layer {
    char *path;          /* absolute */
    bool diff;
    uint64_t fingerprint;
    uint64_t *pages;     /* diff: bitmap of the pages it holds */
    size_t nwords;
};

struct vm_snap_chain {
    struct vm_snap_layer layer[VM_SNAP_MAX_LAYERS];
    unsigned n;
};

void vm_snap_chain_free(struct vm_snap_chain *c);

struct vm_snapshot_load_opts {
    const char *state_path;
    const char *mem_path;     /* NULL: the path recorded in the state */
    bool resume;              /* run at once (else Paused) */
    bool ignore_disk_changes; /* load even if a raw disk changed since */
    unsigned expect_cpus;     /* 0, or refuse a snapshot with another count */
    uint64_t expect_mem;      /* 0, or refuse another RAM size (bytes) */
};

#endif
