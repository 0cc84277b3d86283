/* The management API: REST + JSON on a unix socket, in Firecracker's shape
 * (docs/api.yaml is the contract; tests/unit/test_api_spec.c holds the
 * route table to it).
 *
 *   routes.c  the route table and one handler per resource (no HTTP here)
 *   server.c  the socket and libmicrohttpd: bodies, limits, replies
 *   client.c  a small HTTP client for `corral ctl` / `corral ps`
 *
 * Handlers run on the server's threads and act on the VM only through the
 * vm_* functions, which check every action against the lifecycle. */
#ifndef CORRAL_API_API_H
#define CORRAL_API_API_H

#include <jansson.h>

#include "core/types.h"
#include "vm/vm.h"

#define API_MAX_BODY (64 * 1024)
#define API_ERR_LEN VM_ERR_LEN

/* What a handler produces: a status and either a JSON body (owned) or,
 * for errors, a message sent as {"fault_message": ...}. */
struct api_reply {
    unsigned status;
    json_t *body;
    char fault[API_ERR_LEN];
};

typedef void (*api_handler)(struct vm *vm, const char *id, const json_t *body,
                            struct api_reply *out);

struct api_route {
    const char *method;   /* "GET", "PUT", "PATCH" */
    const char *path;     /* "/drives/{drive_id}": {x} matches one segment */
    bool has_body;        /* a JSON body is required */
    api_handler handler;
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* Route a request. Returns the route, or NULL with out->status 404 (no
 * such path) or 405 (path known, method not; *allow lists the methods). A
 * {param} segment is copied to id (empty if none). */
const struct api_route *api_route_find(const char *method, const char *path, char *id,
                                       size_t id_len, char *allow, size_t allow_len,
                                       struct api_reply *out);
/* Parse a body and run the route's handler: the whole request path minus
 * HTTP, for tests. */
void api_dispatch(struct vm *vm, const char *method, const char *path, const char *body,
                  size_t body_len, struct api_reply *out);
void api_reply_fault(struct api_reply *out, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- server ---- */
struct api_server;
/* Bind the socket (mode 0600) and serve. A path in a missing directory,
 * a path that is not a socket, or a socket answered by a live process is
 * an error; a stale socket from a dead process is replaced. */
int api_server_start(struct api_server **out, const char *path, struct vm *vm,
                     char *err) WARN_UNUSED;
/* Stop serving and remove the socket file. */
void api_server_stop(struct api_server *s);
/* The socket part alone: returns a listening fd or -errno. */
int api_socket_bind(const char *path, char *err);

/* ---- client ---- */
/* One request over the socket (Connection: close). *status is the HTTP
 * status; *resp is the body (malloc'd, NUL-terminated). 0 or -errno. */
int api_client_request(const char *sock, const char *method, const char *path,
                       const char *body, unsigned *status, char **resp,
                       char *err) WARN_UNUSED;

#endif
