/* The management API: REST + JSON on a unix socket, in Firecracker's shape
 * (docs/api.yaml is the contract; tests/unit/test_api_spec.c holds the
 * route table to it).
 *
 *   routes.c     the route table, the router and the lifecycle's handlers
 *   routes_fc.c  Firecracker's host-side resources (version, logger,
 *                metrics, entropy, serial, PATCH machine-config) and the
 *                routes of its API that Corral refuses, each with its reason
 *   metrics_sink.c  PUT /metrics: JSON lines to a file or FIFO
 *   server.c     the socket and libmicrohttpd: bodies, limits, replies
 *   front.c      the socket's front door: accepts, checks each request's
 *                head (http_head.c) and hands it to libmicrohttpd
 *   client.c     a small HTTP client for `corral ctl` / `corral ps`
 *
 * Handlers run on the server's threads and act on the VM only through the
 * vm_* functions, which check every action against the lifecycle. */
#ifndef CORRAL_API_API_H
#define CORRAL_API_API_H

#include <jansson.h>
#include <pthread.h>

#include "core/types.h"
#include "vm/vm.h"

#define API_MAX_BODY (64 * 1024)
#define API_MAX_URL 1024
#define API_ERR_LEN VM_ERR_LEN

/* What a handler produces: a status and either a JSON body (owned) or,
 * for errors, a message sent as {"fault_message": ...}. */
struct api_reply {
    unsigned status;
    json_t *body;
    char fault[API_ERR_LEN];
};

/* What the handlers act on: the VM, and the host-side outputs the API
 * layer owns for it (the metrics sink). One per VM process, made by the
 * CLI before the API server (which serves it) and destroyed after the
 * server stops and before the VM: the sink reads the VM's counters. */
struct api_metrics;
struct api_ctx {
    struct vm *vm;
    pthread_mutex_t lock;         /* metrics */
    struct api_metrics *metrics;  /* NULL until PUT /metrics */
};
void api_ctx_init(struct api_ctx *ctx, struct vm *vm);
/* Stops the metrics sink after a last line. */
void api_ctx_destroy(struct api_ctx *ctx);
/* The host-side resources a --config-file gave (logger, metrics, serial):
 * opened as their PUTs would. Main thread, before start. 0 or -errno with
 * a message. */
int api_ctx_apply_config(struct api_ctx *ctx, char *err) WARN_UNUSED;

typedef void (*api_handler)(struct api_ctx *ctx, const char *id, const json_t *body,
                            struct api_reply *out);

enum api_body { API_NO_BODY, API_BODY, API_BODY_OPTIONAL };
struct api_route {
    const char *method;   /* "GET", "PUT", "PATCH" */
    const char *path;     /* "/drives/{drive_id}": {x} matches one segment */
    enum api_body has_body; /* true (API_BODY): a JSON body is required */
    api_handler handler;  /* NULL for a refused route */
    /* Firecracker's routes that Corral does not serve: answered 400 with
     * this reason (docs/api.yaml's x-corral-refused says the same). */
    const char *refused;
    /* The handler does host file I/O (a snapshot's files, the kernel and
     * images at InstanceStart): the server runs it on a thread of its own
     * with the connection suspended, so no pool thread, and no other
     * request, waits for the disk. */
    bool off_thread;
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* Route a request. Returns the route, or NULL with out->status 400 and
 * Firecracker's "Invalid request method and/or path: GET x." (*allow
 * lists the methods the path has, if any). A {param} segment is copied to
 * id (empty if none). */
const struct api_route *api_route_find(const char *method, const char *path, char *id,
                                       size_t id_len, char *allow, size_t allow_len,
                                       struct api_reply *out);
/* Parse a body and run the route's handler: the whole request path minus
 * HTTP, for tests. */
void api_dispatch(struct api_ctx *ctx, const char *method, const char *path, const char *body,
                  size_t body_len, struct api_reply *out);
void api_reply_fault(struct api_reply *out, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- server ---- */
struct api_server;
/* Bind the socket (mode 0600) and serve. A path in a missing directory,
 * a path that is not a socket, or a socket answered by a live process is
 * an error; a stale socket from a dead process is replaced. */
int api_server_start(struct api_server **out, const char *path, struct api_ctx *ctx,
                     char *err) WARN_UNUSED;
/* Stop serving and remove the socket file. */
void api_server_stop(struct api_server *s);
/* The socket part alone: returns a listening fd or -errno. */
int api_socket_bind(const char *path, char *err);

/* ---- metrics sink (metrics_sink.c) ---- */
/* Firecracker flushes its metrics every 60 s. */
#define API_METRICS_INTERVAL_MS 60000
/* Open `path` (a file, appended to, or a FIFO, which is never waited for:
 * a line that does not fit is dropped and counted) and write a line
 * every interval_ms from a thread of its own; `extra` (NULL or an object:
 * Firecracker's "id" and "properties") is copied into every line. 0 or
 * -errno with a message. */
int api_metrics_open(struct api_metrics **out, struct vm *vm, const char *path,
                     unsigned interval_ms, const json_t *extra, char *err) WARN_UNUSED;
/* One line now (FlushMetrics). Any thread. 0, or -EAGAIN when the reader
 * did not take it (counted as dropped). */
int api_metrics_flush(struct api_metrics *m) WARN_UNUSED;
/* Lines written and dropped so far. */
void api_metrics_counts(struct api_metrics *m, uint64_t *lines, uint64_t *dropped);
/* A last line, then stop the thread and close the file. */
void api_metrics_close(struct api_metrics *m);

/* ---- client ---- */
/* One request over the socket (Connection: close). *status is the HTTP
 * status; *resp is the body (malloc'd, NUL-terminated). 0 or -errno. */
int api_client_request(const char *sock, const char *method, const char *path,
                       const char *body, unsigned *status, char **resp,
                       char *err) WARN_UNUSED;

#endif
