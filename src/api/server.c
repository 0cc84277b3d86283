/* The API server: a unix socket served by libmicrohttpd's thread pool.
 * Bodies come with a Content-Length (the front door refuses chunked
 * ones, 411) and are collected up to API_MAX_BODY; a larger
 * Content-Length is refused (413) before any of the body is read.
 *
 * A local client is not trusted either: only the socket owner's uid (or
 * root) is served (SO_PEERCRED, on top of the socket's 0600 mode); URL
 * and header sizes are capped with JSON errors (414, 431) and every
 * request head is checked by the front door (front.h) before the library
 * parses it, so the library never answers with its own HTML; connections
 * are capped and idle ones dropped (the server polls, so a slow client holds
 * no thread); requests are rate-limited (429). */
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
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/front.h"
#include "core/log.h"
#include "core/seccomp.h"

#define API_THREADS 4
#define API_CONN_TIMEOUT_S 10
#define API_MAX_CONNS 256
#define API_DRAIN_S 2 /* stopping waits this long for requests being answered */
#define API_MAX_JOBS 16 /* off-thread requests at once; more are refused */
#define API_MAX_HEADER_BYTES 8192
/* Token bucket: sustained requests per second and burst. */
#define API_RATE_PER_S 2000
#define API_RATE_BURST 4000

struct api_server {
    struct MHD_Daemon *daemon;
    struct api_front *front; /* accepts, checks each head, hands it on */
    struct api_ctx *ctx;
    /* Requests running on their own thread (api_route.off_thread), with
     * their connection suspended: stopping waits for them. */
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_cond;
    unsigned jobs;
    /* Requests begun and not yet answered in full (on_completed not
     * called): stopping waits a little for them, so the request that ends
     * the VM (a cancel, an action) still gets its answer, not a closed
     * connection. */
    unsigned requests;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
    uid_t owner;
    pthread_mutex_t rate_lock;
    double tokens;
    struct timespec rate_ts;
};

struct request {
    char *buf;
    size_t len, cap;
    bool too_big;
    /* Off-thread requests: what the job needs, and its answer. */
    struct api_server *s;
    struct MHD_Connection *conn;
    char method[8], url[API_MAX_URL + 1];
    struct api_reply rep;
    bool job_started, job_done;
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
    /* One request per connection: every request then passes the front
     * door's check (front.h), none is parsed by the library alone. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(c, rep->status, resp);
    MHD_destroy_response(resp);
    return r;
}

static bool rate_ok(struct api_server *s)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&s->rate_lock);
    double dt = (double)(now.tv_sec - s->rate_ts.tv_sec) +
                (double)(now.tv_nsec - s->rate_ts.tv_nsec) / 1e9;
    s->rate_ts = now;
    s->tokens += dt * API_RATE_PER_S;
    if (s->tokens > API_RATE_BURST)
        s->tokens = API_RATE_BURST;
    bool ok = s->tokens >= 1;
    if (ok)
        s->tokens -= 1;
    pthread_mutex_unlock(&s->rate_lock);
    return ok;
}

static bool peer_allowed(struct api_server *s, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    return cred.uid == s->owner || cred.uid == 0;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Checks made once per request, before any of its body is read. */
static bool admit(struct api_server *s, struct MHD_Connection *c, const char *url,
                  const char *version, struct api_reply *rep)
{
    size_t hdr = 0;
    if (!peer_allowed(s, c)) {
        api_reply_fault(rep, 403, "the API serves only the VMM's own user");
        return false;
    }
    if (strcmp(version, MHD_HTTP_VERSION_1_1) && strcmp(version, MHD_HTTP_VERSION_1_0)) {
        api_reply_fault(rep, 505, "HTTP version not supported (HTTP/1.0 or 1.1 only)");
        return false;
    }
    if (strlen(url) > API_MAX_URL) {
        api_reply_fault(rep, 414, "URI over %d bytes", API_MAX_URL);
        return false;
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &hdr);
    if (hdr > API_MAX_HEADER_BYTES) {
        api_reply_fault(rep, 431, "request headers over %d bytes", API_MAX_HEADER_BYTES);
        return false;
    }
    if (!rate_ok(s)) {
        api_reply_fault(rep, 429, "too many requests (over %d per second)", API_RATE_PER_S);
        return false;
    }
    return true;
}

/* An off-thread request: the handler runs here, then the connection is
 * resumed and on_request sends the answer. */
static void *job_main(void *arg)
{
    struct request *rq = arg;
    struct api_server *s = rq->s;
    api_dispatch(s->ctx, rq->method, rq->url, rq->buf, rq->len, &rq->rep);
    pthread_mutex_lock(&s->jobs_lock);
    rq->job_done = true;
    MHD_resume_connection(rq->conn);
    s->jobs--;
    pthread_cond_broadcast(&s->jobs_cond);
    pthread_mutex_unlock(&s->jobs_lock);
    return NULL;
}

/* false: run it inline (no thread could be made); *busy: refused. */
static bool start_job(struct api_server *s, struct MHD_Connection *c, struct request *rq,
                      const char *method, const char *url, bool *busy)
{
    rq->s = s;
    rq->conn = c;
    snprintf(rq->method, sizeof(rq->method), "%s", method);
    snprintf(rq->url, sizeof(rq->url), "%s", url);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    pthread_mutex_lock(&s->jobs_lock);
    *busy = s->jobs >= API_MAX_JOBS;
    if (*busy) {
        pthread_mutex_unlock(&s->jobs_lock);
        pthread_attr_destroy(&attr);
        return false;
    }
    MHD_suspend_connection(c);
    rq->job_started = true;
    bool ok = pthread_create(&t, &attr, job_main, rq) == 0;
    if (ok) {
        s->jobs++;
    } else {
        rq->job_started = false;
        MHD_resume_connection(c);
    }
    pthread_mutex_unlock(&s->jobs_lock);
    pthread_attr_destroy(&attr);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **ctx)
{
    struct api_server *s = cls;
    struct request *rq = *ctx;
    struct api_reply rep = { 0 };

    sandbox_enter_once(SANDBOX_API);
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *ctx = rq;
        pthread_mutex_lock(&s->jobs_lock);
        s->requests++;
        pthread_mutex_unlock(&s->jobs_lock);
        if (!admit(s, c, url, version, &rep)) {
            rq->too_big = true; /* discard any body; the error is queued */
            return send_reply(c, &rep, NULL);
        }
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
        /* Doubling: 60,000 one-byte chunks cost 17 reallocations, not 60,000. */
        if (rq->len + *upload_size + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 256;
            while (cap < rq->len + *upload_size + 1)
                cap *= 2;
            char *nb = realloc(rq->buf, cap);
            if (!nb)
                return MHD_NO;
            rq->buf = nb;
            rq->cap = cap;
        }
        memcpy(rq->buf + rq->len, upload, *upload_size);
        rq->len += *upload_size;
        rq->buf[rq->len] = 0;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return MHD_YES; /* the 413 is queued already */
    if (rq->job_started) {
        /* Resumed: the job's answer (or, spuriously, not yet). */
        pthread_mutex_lock(&s->jobs_lock);
        bool done = rq->job_done;
        pthread_mutex_unlock(&s->jobs_lock);
        return done ? send_reply(c, &rq->rep, NULL) : MHD_YES;
    }

    char allow[64] = "";
    char id[VM_ID_LEN + 1];
    const struct api_route *route =
        api_route_find(method, url, id, sizeof(id), allow, sizeof(allow), &rep);
    if (!route)
        return send_reply(c, &rep, allow);
    bool busy = false;
    if (route->off_thread && start_job(s, c, rq, method, url, &busy))
        return MHD_YES;
    if (busy) {
        api_reply_fault(&rep, 503, "%d requests that read or write files are in progress; "
                        "try again", API_MAX_JOBS);
        return send_reply(c, &rep, NULL);
    }
    api_dispatch(s->ctx, method, url, rq->buf, rq->len, &rep);
    return send_reply(c, &rep, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode why)
{
    struct api_server *s = cls;
    struct request *rq = *ctx;
    if (rq) {
        pthread_mutex_lock(&s->jobs_lock);
        s->requests--;
        pthread_cond_broadcast(&s->jobs_cond);
        pthread_mutex_unlock(&s->jobs_lock);
        free(rq->buf);
        free(rq);
        *ctx = NULL;
    }
}

/* libmicrohttpd's messages: debug lines of the log (PUT /logger, --log-file). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (log_verbose >= LOG_DEBUG) {
        char line[512];
        vsnprintf(line, sizeof(line), fmt, ap);
        line[strcspn(line, "\n")] = 0;
        log_debug("api: %s", line);
    }
}

int api_server_start(struct api_server **out, const char *path, struct api_ctx *ctx,
                     char *err)
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
    s->ctx = ctx;
    s->owner = geteuid();
    pthread_mutex_init(&s->rate_lock, NULL);
    pthread_mutex_init(&s->jobs_lock, NULL);
    pthread_cond_init(&s->jobs_cond, NULL);
    s->tokens = API_RATE_BURST;
    clock_gettime(CLOCK_MONOTONIC, &s->rate_ts);
    /* Server threads inherit this mask: signals stay with the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    /* The library gets its connections from the front door, which owns
     * the listening socket. */
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC, 0, NULL, NULL,
        on_request, s, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)API_THREADS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNS,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_END);
    int fr = s->daemon ? api_front_start(&s->front, fd, s->daemon, s->owner) : -EIO;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (fr) {
        if (s->daemon)
            MHD_stop_daemon(s->daemon);
        else
            close(fd);
        unlink(path);
        snprintf(err, API_ERR_LEN, "--api-sock %s: cannot start the API server", path);
        pthread_mutex_destroy(&s->rate_lock);
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
    api_front_stop(s->front); /* no new connections; closes the socket */
    /* A suspended connection must be resumed before the daemon stops:
     * let the jobs finish (a snapshot's files; bounded by the disk). */
    pthread_mutex_lock(&s->jobs_lock);
    while (s->jobs)
        pthread_cond_wait(&s->jobs_cond, &s->jobs_lock);
    /* Requests being answered: bounded, a client that does not read
     * (or sends its body slowly) must not hold the VMM up. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += API_DRAIN_S;
    while (s->requests &&
           pthread_cond_timedwait(&s->jobs_cond, &s->jobs_lock, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&s->jobs_lock);
    MHD_stop_daemon(s->daemon);
    struct stat st;
    /* Remove the file only if it is still the one we bound. */
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path);
    pthread_mutex_destroy(&s->rate_lock);
    pthread_mutex_destroy(&s->jobs_lock);
    pthread_cond_destroy(&s->jobs_cond);
    free(s);
}
