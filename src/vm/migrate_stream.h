/* The migration stream (docs/migration.md): URIs, connections, and one
 * frame (a state-layer section) at a time over a socket, with bounded
 * sizes and timeouts so a dead or hostile peer cannot hang or exhaust us.
 * Used by the migration thread (source) and the main thread (destination). */
#ifndef CORRAL_VM_MIGRATE_STREAM_H
#define CORRAL_VM_MIGRATE_STREAM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/types.h"
#include "state/state.h"

#define MIG_MAGIC 0x474d4c4152524f43ULL /* "CORRALMG" little-endian */
#define MIG_VERSION 1
#define MIG_FRAME_MAX (64u << 20)
#define MIG_TIMEOUT_MS 30000
#define MIG_ERR_LEN 512

/* tcp:HOST:PORT, unix:PATH, fd:N. Connect (source) or listen and accept
 * one peer (destination; gives up when *stop becomes non-zero). */
int mig_connect(const char *uri, int *fd, char *err) WARN_UNUSED;
int mig_accept(const char *uri, int *fd, volatile sig_atomic_t *stop, char *err) WARN_UNUSED;
/* The two halves of mig_accept: listen (fd: the listener, or with
 * *connected the already connected fd:N), then accept one peer on it
 * (closing the listener). */
int mig_listen(const char *uri, int *fd, bool *connected, char *err) WARN_UNUSED;
int mig_accept_on(int ls, const char *uri, int *fd, volatile sig_atomic_t *stop,
                  char *err) WARN_UNUSED;

/* Send every byte of o's buffer (one or more whole sections). */
int mig_send(int fd, const struct state_out *o, char *err) WARN_UNUSED;
/* Receive one section into *buf (reallocated as needed, caller frees) and
 * parse it into *s (its body points into *buf). */
int mig_recv(int fd, uint8_t **buf, size_t *cap, struct state_section *s, char *err) WARN_UNUSED;
/* TCP_NODELAY on a migration socket (no-op on others). */
void mig_tune(int fd);
/* Does this error of mig_send/mig_recv mean the link broke (the stream
 * ended, was reset or stalled), rather than a peer that sent garbage? */
bool mig_is_break(int r);
/* "tcp:HOST:PORT", "unix:PATH" or "fd:N" in form (nothing is opened). */
int mig_uri_check(const char *uri, char *err) WARN_UNUSED;

/* Send a section with no fields but a reason string ("refuse") or none. */
int mig_send_simple(int fd, const char *id, const char *reason, char *err) WARN_UNUSED;

#endif
