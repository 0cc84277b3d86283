/* The guest's side of MMDS: a strict, bounded HTTP/1.1 request parser and
 * the answers Firecracker gives (docs/mmds/mmds-user-guide.md). Every byte
 * comes from the guest. A request head is at most MMDS_HTTP_MAX_HEAD
 * bytes, a body (dropped) at most MMDS_HTTP_MAX_BODY, answers not yet
 * taken by the guest at most MMDS_HTTP_MAX_OUT; anything malformed gets
 * 400 and ends the conversation. No I/O here: net/slirp.c moves bytes. */
#include "net/mmds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PATH 1024
#define MAX_HEADERS 64

void mmds_conn_init(struct mmds_conn *c)
{
    memset(c, 0, sizeof(*c));
}

void mmds_conn_reset(struct mmds_conn *c)
{
    c->in_len = 0;
    c->body_left = 0;
    c->closed = false;
    c->out_len = 0;
}

void mmds_conn_free(struct mmds_conn *c)
{
    free(c->out);
    mmds_conn_init(c);
}

void mmds_conn_consume(struct mmds_conn *c, size_t n)
{
    if (n > c->out_len)
        n = c->out_len;
    if (n == 0)
        return;
    memmove(c->out, c->out + n, c->out_len - n);
    c->out_len -= n;
}

/* A request as far as MMDS cares. Strings point into the head buffer. */
struct request {
    const char *method, *path, *token, *ttl, *accept;
    size_t method_len, path_len, token_len, ttl_len, accept_len;
    bool http10, forwarded, conn_close, chunked;
    bool has_length;
    size_t content_length;
};

static bool out_append(struct mmds_conn *c, const void *p, size_t n)
{
    if (c->out_len + n > MMDS_HTTP_MAX_OUT)
        return false;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *o = realloc(c->out, cap);
        if (!o)
            return false;
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

static const char *reason(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    default: return "Error";
    }
}

/* One whole answer; a guest that does not read its answers (over
 * MMDS_HTTP_MAX_OUT) is not answered any more. */
static void respond(struct mmds_conn *c, unsigned status, bool json, bool close,
                    const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %u %s\r\nServer: Corral MMDS\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     status, reason(status), json ? "application/json" : "text/plain", len,
                     status == 405 ? "Allow: GET, PUT\r\n" : "",
                     close ? "Connection: close\r\n" : "");
    size_t at = c->out_len;
    if (n < 0 || !out_append(c, head, (size_t)n) || !out_append(c, body, len)) {
        c->out_len = at; /* nothing half-written */
        close = true;
    }
    if (close)
        c->closed = true;
}

static void respond_msg(struct mmds_conn *c, unsigned status, bool close, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void respond_msg(struct mmds_conn *c, unsigned status, bool close, const char *fmt, ...)
{
    char msg[MAX_PATH + 160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    respond(c, status, false, close, msg, (size_t)n);
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && !strncasecmp(name, want, n);
}

/* Digits only, no sign, no overflow past `max`. */
static bool parse_uint(const char *s, size_t n, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* The head, CRLFs included, in [p, p + n). 0, or -EINVAL: malformed. */
static int parse_head(const char *p, size_t n, struct request *rq)
{
    memset(rq, 0, sizeof(*rq));
    const char *end = p + n;
    const char *eol = memchr(p, '\r', n);
    if (!eol || eol + 1 >= end || eol[1] != '\n')
        return -EINVAL;
    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (!sp1 || sp1 == p)
        return -EINVAL;
    for (const char *q = p; q < sp1; q++)
        if (!is_tchar((unsigned char)*q))
            return -EINVAL;
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
    if (!sp2 || sp2 == t || *t != '/' || (size_t)(sp2 - t) > MAX_PATH)
        return -EINVAL;
    for (const char *q = t; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return -EINVAL;
    size_t vlen = (size_t)(eol - sp2 - 1);
    if (vlen == 8 && !memcmp(sp2 + 1, "HTTP/1.1", 8))
        rq->http10 = false;
    else if (vlen == 8 && !memcmp(sp2 + 1, "HTTP/1.0", 8))
        rq->http10 = true;
    else
        return -EINVAL;
    rq->method = p;
    rq->method_len = (size_t)(sp1 - p);
    rq->path = t;
    rq->path_len = (size_t)(sp2 - t);
    /* A query string is not part of the resource. */
    const char *qm = memchr(t, '?', rq->path_len);
    if (qm)
        rq->path_len = (size_t)(qm - t);

    unsigned nheaders = 0;
    const char *line = eol + 2;
    for (;;) {
        if (line + 2 > end)
            return -EINVAL;
        eol = memchr(line, '\r', (size_t)(end - line));
        if (!eol || eol + 1 >= end || eol[1] != '\n')
            return -EINVAL;
        if (eol == line)
            break; /* the empty line */
        if (++nheaders > MAX_HEADERS)
            return -EINVAL;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon || colon == line)
            return -EINVAL; /* also obsolete folding: a line starting with SP */
        for (const char *q = line; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                return -EINVAL;
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *q = v; q < ve; q++)
            if ((unsigned char)*q < 0x20 && *q != '\t')
                return -EINVAL;
        size_t nl = (size_t)(colon - line), vl = (size_t)(ve - v);
        if (name_is(line, nl, "X-metadata-token") ||
            name_is(line, nl, "X-aws-ec2-metadata-token")) {
            rq->token = v;
            rq->token_len = vl;
        } else if (name_is(line, nl, "X-metadata-token-ttl-seconds") ||
                   name_is(line, nl, "X-aws-ec2-metadata-token-ttl-seconds")) {
            rq->ttl = v;
            rq->ttl_len = vl;
        } else if (name_is(line, nl, "Accept")) {
            rq->accept = v;
            rq->accept_len = vl;
        } else if (name_is(line, nl, "X-Forwarded-For")) {
            rq->forwarded = true;
        } else if (name_is(line, nl, "Transfer-Encoding")) {
            rq->chunked = true;
        } else if (name_is(line, nl, "Connection")) {
            rq->conn_close = vl == 5 && !strncasecmp(v, "close", 5);
        } else if (name_is(line, nl, "Content-Length")) {
            unsigned long cl;
            if (rq->has_length || !parse_uint(v, vl, 0xffffffffUL, &cl))
                return -EINVAL;
            rq->has_length = true;
            rq->content_length = cl;
        }
        line = eol + 2;
    }
    return 0;
}

static bool accepts_json(const struct request *rq)
{
    static const char want[] = "application/json";
    size_t wl = sizeof(want) - 1;
    for (size_t i = 0; rq->accept && i + wl <= rq->accept_len; i++)
        if (!strncasecmp(rq->accept + i, want, wl))
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* IMDS format: a string as it is, an object as its keys (sorted, one a
 * line, '/' after those holding objects); nothing else (Firecracker). */
static void respond_imds(struct mmds_conn *c, const json_t *v, bool close)
{
    if (json_is_string(v)) {
        respond(c, 200, false, close, json_string_value(v), json_string_length(v));
        return;
    }
    if (!json_is_object(v)) {
        respond_msg(c, 501, close, "Cannot retrieve value. The value has an unsupported type.");
        return;
    }
    size_t n = json_object_size(v), i = 0, len = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    if (!keys) {
        respond_msg(c, 500, true, "out of memory");
        return;
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        keys[i++] = k;
        len += strlen(k) + 2;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    char *body = malloc(len + 1);
    if (!body) {
        free(keys);
        respond_msg(c, 500, true, "out of memory");
        return;
    }
    size_t o = 0;
    for (i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]);
        if (i)
            body[o++] = '\n';
        memcpy(body + o, keys[i], kl);
        o += kl;
        if (json_is_object(json_object_get(v, keys[i])))
            body[o++] = '/';
    }
    respond(c, 200, false, close, body, o);
    free(body);
    free(keys);
}

static void handle_get(struct mmds_conn *c, struct mmds *m, const struct request *rq,
                       bool close, uint64_t now_s)
{
    if (mmds_version(m) == MMDS_V2) {
        if (!rq->token) {
            respond_msg(c, 401, close, "No MMDS token provided. Use `X-metadata-token` header "
                        "to specify the session token.");
            return;
        }
        if (!mmds_token_valid(m, rq->token, rq->token_len, now_s)) {
            respond_msg(c, 401, close, "MMDS token not valid.");
            return;
        }
    }
    json_t *v = mmds_lookup(m, rq->path, rq->path_len);
    if (!v) {
        respond_msg(c, 404, close, "Resource not found: %.*s.", (int)rq->path_len, rq->path);
        return;
    }
    if (accepts_json(rq) && !mmds_imds_compat(m)) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_INDENT(0) | JSON_COMPACT);
        if (s)
            respond(c, 200, true, close, s, strlen(s));
        else
            respond_msg(c, 500, true, "out of memory");
        free(s);
    } else {
        respond_imds(c, v, close);
    }
    json_decref(v);
}

static void handle_put(struct mmds_conn *c, struct mmds *m, const struct request *rq,
                       bool close, uint64_t now_s)
{
    static const char tokpath[] = "/latest/api/token";
    if (rq->path_len != sizeof(tokpath) - 1 || memcmp(rq->path, tokpath, rq->path_len)) {
        respond_msg(c, 404, close, "Resource not found: %.*s.", (int)rq->path_len, rq->path);
        return;
    }
    if (rq->forwarded) {
        respond_msg(c, 400, close, "Invalid header. Reason: Unsupported header name. "
                    "Key: X-Forwarded-For");
        return;
    }
    if (!rq->ttl) {
        respond_msg(c, 400, close, "Token time to live value not found. Use "
                    "`X-metadata-token-ttl-seconds` header to specify the token's lifetime.");
        return;
    }
    unsigned long ttl;
    if (!parse_uint(rq->ttl, rq->ttl_len, MMDS_TOKEN_TTL_MAX, &ttl) || ttl < 1) {
        respond_msg(c, 400, close, "Invalid time to live value provided for token: %.*s. "
                    "Please provide a value between 1 and %d.",
                    (int)(rq->ttl_len > 32 ? 32 : rq->ttl_len), rq->ttl, MMDS_TOKEN_TTL_MAX);
        return;
    }
    char tok[MMDS_TOKEN_LEN + 1];
    if (mmds_token_new(m, (unsigned)ttl, now_s, tok)) {
        respond_msg(c, 500, close, "cannot make a token now");
        return;
    }
    respond(c, 200, false, close, tok, MMDS_TOKEN_LEN);
}

static void handle(struct mmds_conn *c, struct mmds *m, const char *head, size_t n,
                   uint64_t now_s)
{
    struct request rq;
    if (parse_head(head, n, &rq)) {
        respond_msg(c, 400, true, "Malformed HTTP request.");
        return;
    }
    if (rq.chunked) {
        respond_msg(c, 501, true, "Transfer-Encoding is not supported.");
        return;
    }
    if (rq.content_length > MMDS_HTTP_MAX_BODY) {
        respond_msg(c, 413, true, "Request body over %d bytes.", MMDS_HTTP_MAX_BODY);
        return;
    }
    c->body_left = rq.content_length;
    bool close = rq.conn_close || rq.http10;
    if (rq.method_len == 3 && !memcmp(rq.method, "GET", 3))
        handle_get(c, m, &rq, close, now_s);
    else if (rq.method_len == 3 && !memcmp(rq.method, "PUT", 3))
        handle_put(c, m, &rq, close, now_s);
    else
        respond_msg(c, 405, close, "Not allowed HTTP method.");
}

/* Where the head in c->in ends (just past its empty line), 0: not yet. */
static size_t head_end(const struct mmds_conn *c)
{
    for (size_t i = 3; i < c->in_len; i++)
        if (c->in[i] == '\n' && c->in[i - 1] == '\r' && c->in[i - 2] == '\n' &&
            c->in[i - 3] == '\r')
            return i + 1;
    return 0;
}

static void drop_in(struct mmds_conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void process(struct mmds_conn *c, struct mmds *m, uint64_t now_s)
{
    for (;;) {
        if (c->closed) {
            c->in_len = 0;
            return;
        }
        if (c->body_left) {
            size_t n = c->body_left < c->in_len ? c->body_left : c->in_len;
            drop_in(c, n);
            c->body_left -= n;
            if (c->body_left)
                return;
            continue;
        }
        /* Empty lines before a request line are allowed (RFC 9112 2.2). */
        size_t lead = 0;
        while (lead + 1 < c->in_len && c->in[lead] == '\r' && c->in[lead + 1] == '\n')
            lead += 2;
        if (lead)
            drop_in(c, lead);
        size_t end = head_end(c);
        if (!end) {
            if (c->in_len == sizeof(c->in))
                respond_msg(c, 400, true, "Request head over %d bytes.", MMDS_HTTP_MAX_HEAD);
            return;
        }
        handle(c, m, (const char *)c->in, end, now_s);
        drop_in(c, end);
    }
}

void mmds_conn_feed(struct mmds_conn *c, struct mmds *m, const uint8_t *buf, size_t len,
                    uint64_t now_s)
{
    while (len > 0) {
        if (c->closed)
            return;
        size_t room = sizeof(c->in) - c->in_len;
        size_t n = len < room ? len : room;
        memcpy(c->in + c->in_len, buf, n);
        c->in_len += n;
        buf += n;
        len -= n;
        process(c, m, now_s);
    }
}
