/* File plumbing for snapshots (snapshot.c): atomic creation, memory
 * files written from guest RAM, their fingerprints, and applying a chain
 * of them back into RAM. Caller holds the VM lock with the machine
 * quiesced, or works on files only (merge). */
#ifndef CORRAL_VM_SNAPSHOT_FILES_H
#define CORRAL_VM_SNAPSHOT_FILES_H

#include <stddef.h>

#include "core/types.h"
#include "mem/gmem.h"
#include "vm/snapshot.h"

#define SNAP_PATH_MAX 4096

/* A temporary file beside `path` (mkstemp: never follows a planted
 * name). Returns the fd; the name is in tmp[SNAP_PATH_MAX]. */
int snap_tmp_create(const char *path, char *tmp) WARN_UNUSED;
/* fsync, close, rename over `path`, fsync the directory. Closes fd
 * whatever happens; unlinks tmp on failure. */
int snap_tmp_commit(int fd, const char *tmp, const char *path) WARN_UNUSED;
/* Two files at once (memory, then state): both fsynced, renamed in that
 * order, directories synced once. Closes both fds; unlinks what did not
 * land. */
int snap_tmp_commit_pair(int fd1, const char *tmp1, const char *path1, int fd2,
                         const char *tmp2, const char *path2) WARN_UNUSED;
/* Absolute form of `path` (its directory must exist). */
int snap_abs_path(const char *path, char *out) WARN_UNUSED;
int snap_write_at(int fd, const void *buf, size_t len, uint64_t off) WARN_UNUSED;

/* Guest RAM into a memory file: every non-zero page (full), or the pages
 * set in `pages` (diff; zero pages too, as data). */
int snap_write_full(const struct gmem *m, int fd) WARN_UNUSED;
int snap_write_diff(const uint8_t *ram, uint64_t size, const uint64_t *pages, int fd) WARN_UNUSED;
/* Sampled content fingerprint of a memory file of `size` bytes (one
 * 4 KiB of every 8 MiB, and the size): cheap enough to check on every load,
 * and enough to tell a memory file from another one. */
int snap_fingerprint(int fd, uint64_t size, uint64_t *fp) WARN_UNUSED;
/* The same fingerprint computed from RAM for the file just written from
 * it (pages: a diff's page map, NULL for a full file). */
int snap_fingerprint_ram(const uint8_t *ram, uint64_t size, const uint64_t *pages,
                         uint64_t *fp) WARN_UNUSED;

/* Record on the memory file just written (an extended attribute) its
 * fingerprint, size and modification time, so a load can trust an
 * unmodified file without reading it: a cold restore then costs no data
 * reads. Best effort: a file system without user xattrs, or a copy that
 * drops them, falls back to the sampled content check. */
void snap_seal(int fd, uint64_t fp);

/* Open a layer's file for reading and check it is a regular file of
 * `size` bytes with its recorded fingerprint (its seal when intact, else
 * its sampled content). err names the file. */
int snap_open_layer(const struct vm_snap_layer *l, uint64_t size, char *err,
                    size_t errlen) WARN_UNUSED;
/* Copy the pages a diff layer holds from fd into RAM (marking them
 * written: dirty log, decoded code). */
int snap_apply_diff(struct gmem *ram, const struct vm_snap_layer *l, int fd) WARN_UNUSED;
/* Read a whole (small) file: regular files only, at most `max` bytes. */
int snap_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, char *err,
                   size_t errlen) WARN_UNUSED;

#endif
