/* The registry of named VMs on this host, for `corral ps`: one small JSON
 * file per VM in $XDG_RUNTIME_DIR/corral (or /tmp/corral-$UID), written
 * when a VM started with --name boots and removed when it exits. An entry
 * whose process is gone (or whose pid now belongs to another process) is
 * stale and cleaned by whoever finds it; so is one whose process was
 * killed but not yet reaped (a zombie). Main thread. */
#ifndef CORRAL_VM_REGISTRY_H
#define CORRAL_VM_REGISTRY_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/types.h"

#define VM_NAME_MAX 64

struct vm_registry_entry {
    char name[VM_NAME_MAX];
    pid_t pid;
    char socket[PATH_MAX]; /* "" when started without --api-sock */
    unsigned long long start_time; /* of the process, in clock ticks since boot */
};

/* Names: 1..63 of [A-Za-z0-9._-], not starting with '.'. */
bool vm_registry_valid_name(const char *name);
/* The registry directory, created (mode 0700) when missing. */
int vm_registry_dir(char *out, size_t len) WARN_UNUSED;
/* Register this process as `name`; -EEXIST when a live VM holds the
 * name. Writes the entry's path to path_out (for vm_registry_remove). */
int vm_registry_add(const char *name, const char *socket, char *path_out, size_t len,
                    char *err) WARN_UNUSED;
/* Remove our entry (only if it is still ours). */
void vm_registry_remove(const char *path);
/* Live entries, sorted by name, stale ones deleted. *out is malloc'd. */
int vm_registry_list(struct vm_registry_entry **out, size_t *n) WARN_UNUSED;
/* The live entry registered as `name`; -ENOENT when there is none (a
 * stale one is deleted). */
int vm_registry_find(const char *name, struct vm_registry_entry *out) WARN_UNUSED;
/* The entry's process still runs (not gone, not a zombie, and its pid
 * not reused by another process). */
bool vm_registry_alive(const struct vm_registry_entry *e);

#endif
