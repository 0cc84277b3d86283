/* The API server: a unix socket served by libmicrohttpd's thread pool.
 * Bodies are collected up to API_MAX_BODY; a larger Content-Length is
 * refused (413) before any of the body is read, and a chunked body that
 * grows past the limit closes the connection. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "core/log.h"

#define API_THREADS 4
#define API_CONN_TIMEOUT_S 30

struct api_server {
    struct MHD_Daemon *daemon;
    struct vm *vm;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
};

struct request {
    char *buf;
    size_t len;
    bool too_big;
};

int api_socket_bind(const char *path, char *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, API_ERR_LEN, "--api-sock %s: a socket path must be 1 to %zu bytes",
                 path, sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    char dir[sizeof(sa.sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    const char *d = dirname(dir);
    if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, API_ERR_LEN, "--api-sock %s: directory %s does not exist", path, d);
        return -ENOENT;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, API_ERR_LEN, "--api-sock %s: exists and is not a socket", path);
            return -EEXIST;
        }
        /* Someone answering there is a live VM; refused means stale. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            snprintf(err, API_ERR_LEN, "socket: %s", strerror(errno));
            return -errno;
        }
        int r = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
        int e = errno;
        close(probe);
        if (r == 0) {
            snprintf(err, API_ERR_LEN, "--api-sock %s: in use by a running VM", path);
            return -EADDRINUSE;
        }
        if (e != ECONNREFUSED) {
            snprintf(err, API_ERR_LEN, "--api-sock %s: %s", path, strerror(e));
            return -e;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            snprintf(err, API_ERR_LEN, "--api-sock %s: cannot remove the stale socket: %s",
                     path, strerror(errno));
            return -errno;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, API_ERR_LEN, "socket: %s", strerror(errno));
        return -errno;
    }
    /* Mode 0600 from the start: no window where others may connect. */
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (r < 0 || listen(fd, 128) < 0) {
        if (r == 0)
            e = errno;
        close(fd);
        snprintf(err, API_ERR_LEN, "--api-sock %s: %s", path, strerror(e));
        return -e;
    }
    return fd;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct api_reply *rep,
                                  const char *allow)
{
    char *text = NULL;
    if (rep->status >= 400) {
        json_t *j = json_pack("{s:s}", "fault_message", rep->fault);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
    } else if (rep->body) {
        text = json_dumps(rep->body, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    json_decref(rep->body);
    rep->body = NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        text ? strlen(text) : 0, text ? text : (void *)"", text ? MHD_RESPMEM_MUST_FREE
                                                               : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (allow && *allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result r = MHD_queue_response(c, rep->status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **ctx)
{
    struct api_server *s = cls;
    struct request *rq = *ctx;
    struct api_reply rep = { 0 };

    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *ctx = rq;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > API_MAX_BODY) {
            rq->too_big = true;
            api_reply_fault(&rep, 413, "request body over %d bytes", API_MAX_BODY);
            return send_reply(c, &rep, NULL);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->too_big)
            return MHD_NO;
        if (rq->len + *upload_size > API_MAX_BODY) {
            /* Chunked and too long: stop reading, drop the connection. */
            rq->too_big = true;
            return MHD_NO;
        }
        char *nb = realloc(rq->buf, rq->len + *upload_size + 1);
        if (!nb)
            return MHD_NO;
        memcpy(nb + rq->len, upload, *upload_size);
        rq->buf = nb;
        rq->len += *upload_size;
        rq->buf[rq->len] = 0;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return MHD_YES; /* the 413 is queued already */

    char allow[64] = "";
    char id[VM_ID_LEN + 1];
    if (!api_route_find(method, url, id, sizeof(id), allow, sizeof(allow), &rep))
        return send_reply(c, &rep, allow);
    api_dispatch(s->vm, method, url, rq->buf, rq->len, &rep);
    return send_reply(c, &rep, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode why)
{
    struct request *rq = *ctx;
    if (rq) {
        free(rq->buf);
        free(rq);
        *ctx = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (log_verbose > 1) {
        fprintf(stderr, "corral: api: ");
        vfprintf(stderr, fmt, ap);
    }
}

int api_server_start(struct api_server **out, const char *path, struct vm *vm, char *err)
{
    struct api_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, API_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    int fd = api_socket_bind(path, err);
    if (fd < 0) {
        free(s);
        return fd;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && stat(path, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->vm = vm;
    /* Server threads inherit this mask: signals stay with the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)API_THREADS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONN_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!s->daemon) {
        snprintf(err, API_ERR_LEN, "--api-sock %s: cannot start the API server", path);
        close(fd);
        unlink(path);
        free(s);
        return -EIO;
    }
    *out = s;
    return 0;
}

void api_server_stop(struct api_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon); /* closes the listening socket too */
    struct stat st;
    /* Remove the file only if it is still the one we bound. */
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path);
    free(s);
}
