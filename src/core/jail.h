/* --jail DIR [--uid N --gid N], in the spirit of Firecracker's jailer:
 * the VMM runs in its own mount and PID namespaces with DIR as its root,
 * holding only what the VM was given, then drops to an unprivileged user.
 *
 * Every path the VM needs is bind-mounted into DIR at its own absolute
 * path (DIR/home/u/disk.img for /home/u/disk.img), so the configuration,
 * the API socket's path and what clients see outside stay the same; the
 * working directory is kept, so relative paths resolve as before. Inside
 * are also a fresh /proc (of the new PID namespace) and the device nodes
 * a VMM opens (null, zero, random, urandom, net/tun). Files a
 * VMM creates under a bound directory (snapshots, the socket) land in the
 * real directory; anything else it creates lands in DIR.
 *
 * The process that calls jail_enter stays outside as a waiter: it
 * forwards SIGINT, SIGTERM and SIGHUP and exits with the jailed VMM's
 * status; the jailed one (PID 1 of its namespace) dies with it.
 *
 * Main thread only, before any other thread exists (mount namespaces are
 * per process, and fork copies only the calling thread). */
#ifndef CORRAL_CORE_JAIL_H
#define CORRAL_CORE_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/types.h"

#define JAIL_MAX_BINDS 48

struct jail {
    const char *dir;
    long uid, gid; /* -1: stay root */
    struct jail_bind {
        char *path;    /* absolute, symlinks resolved */
        bool dir;      /* bind the directory (else the file) */
        bool writable;
    } binds[JAIL_MAX_BINDS];
    unsigned nbinds;
};

void jail_init(struct jail *j, const char *dir, long uid, long gid);
void jail_free(struct jail *j);
/* Make `path` visible inside: the file itself, or with `parent` its
 * directory (for files the VMM creates, or a disk's backing files).
 * A missing path is skipped (the VMM reports it inside); NULL is ignored.
 * 0 or -ENOMEM / -E2BIG. */
int jail_add(struct jail *j, const char *path, bool parent, bool writable) WARN_UNUSED;
/* Enter the jail. Returns 0 in the jailed process; the calling process
 * never returns (it exits with the jailed one's status). An error before
 * the fork (DIR, not root, no namespaces) returns -errno with a message;
 * one in the child (a bind, pivot_root, the uid) is printed there and
 * ends both processes with status 1. */
int jail_enter(struct jail *j, char *err, size_t len) WARN_UNUSED;

#endif
