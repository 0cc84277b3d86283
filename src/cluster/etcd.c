/* etcd's v3 HTTP/JSON gateway, through libcurl and jansson. Every request
 * is one POST with a JSON body; int64 fields come back as JSON strings,
 * keys and values as base64. Answers are hostile input (a wrong or hostile
 * etcd must not crash the agent): every field is checked before use. */
#include "cluster/etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETCD_MAX_URLS 4
#define ETCD_MAX_ANSWER (16u << 20) /* a cluster's records are far smaller */

struct etcd {
    CURL *curl;
    char *urls[ETCD_MAX_URLS];
    unsigned nurls, current; /* the URL that answered last */
    char error[256];
};

struct answer {
    char *buf;
    size_t len;
    bool too_big;
};

static void set_error(struct etcd *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->error, sizeof(e->error), fmt, ap);
    va_end(ap);
}

const char *etcd_error(const struct etcd *e)
{
    return e->error;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct etcd *etcd_open(const char *urls, char *err, size_t errlen)
{
    if (!urls || !*urls) {
        snprintf(err, errlen, "no etcd URL (--etcd URL or CORRAL_ETCD)");
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    struct etcd *e = calloc(1, sizeof(*e));
    if (!e)
        goto oom;
    char *copy = strdup(urls), *save = NULL;
    if (!copy)
        goto oom_free;
    for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(u);
        while (n && u[n - 1] == '/')
            u[--n] = '\0';
        if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) {
            snprintf(err, errlen, "etcd URL '%s': must start with http:// or https://", u);
            free(copy);
            etcd_close(e);
            return NULL;
        }
        if (e->nurls == ETCD_MAX_URLS) {
            snprintf(err, errlen, "etcd URLs: at most %d", ETCD_MAX_URLS);
            free(copy);
            etcd_close(e);
            return NULL;
        }
        if (!(e->urls[e->nurls++] = strdup(u))) {
            free(copy);
            goto oom_free;
        }
    }
    free(copy);
    if (!e->nurls) {
        snprintf(err, errlen, "no etcd URL in '%s'", urls);
        etcd_close(e);
        return NULL;
    }
    if (!(e->curl = curl_easy_init()))
        goto oom_free;
    return e;
oom_free:
    etcd_close(e);
oom:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void etcd_close(struct etcd *e)
{
    if (!e)
        return;
    if (e->curl)
        curl_easy_cleanup(e->curl);
    for (unsigned i = 0; i < e->nurls; i++)
        free(e->urls[i]);
    free(e);
}

static size_t on_data(char *p, size_t size, size_t n, void *opaque)
{
    struct answer *a = opaque;
    size_t len = size * n;
    if (a->len + len > ETCD_MAX_ANSWER) {
        a->too_big = true;
        return 0;
    }
    char *nb = realloc(a->buf, a->len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + a->len, p, len);
    a->len += len;
    nb[a->len] = '\0';
    a->buf = nb;
    return len;
}

/* POST body to path on the first URL that answers; the answer into *out
 * (malloc'd, NUL-terminated). 0, -EIO (unreachable, or an HTTP error:
 * etcd's message in the error), -ENOENT for etcd's "not found" errors
 * (an expired lease). */
static int post(struct etcd *e, const char *path, json_t *body, char **out, size_t *outlen)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        set_error(e, "out of memory");
        return -ENOMEM;
    }
    int r = -EIO;
    for (unsigned tries = 0; tries < e->nurls; tries++) {
        unsigned i = (e->current + tries) % e->nurls;
        char url[512];
        snprintf(url, sizeof(url), "%s%s", e->urls[i], path);
        struct answer a = { 0 };
        struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_reset(e->curl);
        curl_easy_setopt(e->curl, CURLOPT_URL, url);
        curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
        curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e->curl, CURLOPT_NOPROXY, "*");
        CURLcode c = curl_easy_perform(e->curl);
        long status = 0;
        curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(hdr);
        if (c != CURLE_OK) {
            set_error(e, "etcd at %s: %s", e->urls[i],
                      a.too_big ? "answer too large" : curl_easy_strerror(c));
            free(a.buf);
            continue;
        }
        if (status != 200) {
            /* The gateway's errors: {"error": "...", "code": N, "message": "..."}. */
            json_t *j = a.buf ? json_loadb(a.buf, a.len, 0, NULL) : NULL;
            const char *msg = json_string_value(json_object_get(j, "message"));
            if (!msg)
                msg = json_string_value(json_object_get(j, "error"));
            set_error(e, "etcd at %s: HTTP %ld%s%s", e->urls[i], status, msg ? ": " : "",
                      msg ? msg : "");
            r = msg && strstr(msg, "not found") ? -ENOENT : -EIO;
            json_decref(j);
            free(a.buf);
            free(text);
            return r;
        }
        e->current = i;
        free(text);
        if (!a.buf) {
            a.buf = strdup("{}");
            a.len = 2;
            if (!a.buf)
                return -ENOMEM;
        }
        *out = a.buf;
        if (outlen)
            *outlen = a.len;
        return 0;
    }
    free(text);
    return r;
}

/* A request whose answer says nothing more than that it succeeded. */
static int post_only(struct etcd *e, const char *path, json_t *body)
{
    char *ans;
    int r = post(e, path, body, &ans, NULL);
    if (!r)
        free(ans);
    return r;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const char *s, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = u[i] << 16 | (i + 1 < len ? u[i + 1] << 8 : 0) | (i + 2 < len ? u[i + 2] : 0);
        *p++ = b64[v >> 18 & 63];
        *p++ = b64[v >> 12 & 63];
        *p++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
        *p++ = i + 2 < len ? b64[v & 63] : '=';
    }
    *p = '\0';
    return out;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

long etcd_b64_decode(const char *s, size_t len, char *out)
{
    if (len % 4)
        return -1;
    long n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(s[i + k])) < 0) {
                return -1;
            }
        }
        unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        out[n++] = (char)(w >> 16);
        if (pad < 2)
            out[n++] = (char)(w >> 8);
        if (pad < 1)
            out[n++] = (char)w;
    }
    out[n] = '\0';
    return n;
}

/* A base64 JSON string member into a malloc'd C string (no NUL inside). */
static char *b64_member(const json_t *o, const char *name, bool required, bool *bad)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        if (required)
            *bad = true;
        return required ? NULL : strdup("");
    }
    const char *s = json_string_value(v);
    if (!s) {
        *bad = true;
        return NULL;
    }
    size_t len = json_string_length(v);
    char *out = malloc(len / 4 * 3 + 1);
    if (!out) {
        *bad = true;
        return NULL;
    }
    long n = etcd_b64_decode(s, len, out);
    if (n < 0 || strlen(out) != (size_t)n) {
        free(out);
        *bad = true;
        return NULL;
    }
    return out;
}

/* int64 as the gateway writes it: a decimal string (absent = 0). */
static int64_t int_member(const json_t *o, const char *name, bool *bad)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return 0;
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    long long x = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno) {
        *bad = true;
        return 0;
    }
    return x;
}

/* ---- parsers ---- */

void etcd_range_free(struct etcd_range *r)
{
    for (size_t i = 0; r->kvs && i < r->n; i++) {
        free(r->kvs[i].key);
        free(r->kvs[i].value);
    }
    free(r->kvs);
    memset(r, 0, sizeof(*r));
}

int etcd_parse_range(const char *json, size_t len, struct etcd_range *out)
{
    memset(out, 0, sizeof(*out));
    json_t *j = json_loadb(json, len, 0, NULL);
    bool bad = !json_is_object(j);
    json_t *kvs = json_object_get(j, "kvs");
    if (!bad && kvs && !json_is_array(kvs))
        bad = true;
    if (!bad)
        out->revision = int_member(json_object_get(j, "header"), "revision", &bad);
    size_t n = kvs ? json_array_size(kvs) : 0;
    if (!bad && n && !(out->kvs = calloc(n, sizeof(*out->kvs))))
        bad = true;
    for (size_t i = 0; !bad && i < n; i++) {
        json_t *kv = json_array_get(kvs, i);
        struct etcd_kv *o = &out->kvs[out->n++];
        if (!json_is_object(kv)) {
            bad = true;
            break;
        }
        o->key = b64_member(kv, "key", true, &bad);
        o->value = b64_member(kv, "value", false, &bad);
        o->create_revision = int_member(kv, "create_revision", &bad);
        o->mod_revision = int_member(kv, "mod_revision", &bad);
        o->lease = int_member(kv, "lease", &bad);
    }
    json_decref(j);
    if (bad) {
        etcd_range_free(out);
        return -EINVAL;
    }
    return 0;
}

int etcd_parse_txn(const char *json, size_t len, bool *succeeded)
{
    json_t *j = json_loadb(json, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return -EINVAL;
    }
    json_t *s = json_object_get(j, "succeeded");
    int r = 0;
    if (s && !json_is_boolean(s))
        r = -EINVAL;
    *succeeded = json_is_true(s); /* false is left out of the answer */
    json_decref(j);
    return r;
}

/* ---- requests ---- */

/* {"key": b64(key)[, "range_end": b64(prefix end)]} */
static json_t *key_body(const char *key, bool prefix)
{
    size_t len = strlen(key);
    char *k = etcd_b64_encode(key, len);
    json_t *o = k ? json_pack("{s:s}", "key", k) : NULL;
    free(k);
    if (o && prefix) {
        /* The range end of a prefix: the prefix with its last byte + 1. */
        char *end = strdup(key);
        if (!end || !len) {
            free(end);
            json_object_set_new(o, "range_end", json_string("AA==")); /* "\0": all keys */
            return o;
        }
        end[len - 1]++;
        char *e64 = etcd_b64_encode(end, len);
        free(end);
        if (!e64) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "range_end", json_string(e64));
        free(e64);
    }
    return o;
}

static int parse_fail(struct etcd *e, const char *what)
{
    set_error(e, "etcd at %s: malformed %s answer", e->urls[e->current], what);
    return -EIO;
}

int etcd_get(struct etcd *e, const char *key, bool prefix, struct etcd_range *out)
{
    json_t *body = key_body(key, prefix);
    if (!body)
        return -ENOMEM;
    char *ans;
    size_t len;
    int r = post(e, "/v3/kv/range", body, &ans, &len);
    if (r)
        return r;
    r = etcd_parse_range(ans, len, out);
    free(ans);
    return r ? parse_fail(e, "range") : 0;
}

int etcd_get_one(struct etcd *e, const char *key, char **value, int64_t *mod_revision)
{
    struct etcd_range rg;
    int r = etcd_get(e, key, false, &rg);
    if (r)
        return r;
    if (rg.n != 1 || strcmp(rg.kvs[0].key, key)) {
        etcd_range_free(&rg);
        return -ENOENT;
    }
    *value = rg.kvs[0].value;
    rg.kvs[0].value = NULL;
    if (mod_revision)
        *mod_revision = rg.kvs[0].mod_revision;
    etcd_range_free(&rg);
    return 0;
}

static json_t *put_body(const char *key, const char *value, int64_t lease)
{
    json_t *o = key_body(key, false);
    char *v = etcd_b64_encode(value, strlen(value));
    if (!o || !v) {
        json_decref(o);
        free(v);
        return NULL;
    }
    json_object_set_new(o, "value", json_string(v));
    free(v);
    if (lease) {
        char id[32];
        snprintf(id, sizeof(id), "%lld", (long long)lease);
        json_object_set_new(o, "lease", json_string(id));
    }
    return o;
}

int etcd_put(struct etcd *e, const char *key, const char *value, int64_t lease)
{
    json_t *body = put_body(key, value, lease);
    if (!body)
        return -ENOMEM;
    return post_only(e, "/v3/kv/put", body);
}

/* One txn: if the key's mod (or create) revision is rev, do `op`. */
static int txn_if(struct etcd *e, const char *key, int64_t rev, const char *op_name, json_t *op)
{
    char *k = etcd_b64_encode(key, strlen(key));
    char revs[32];
    snprintf(revs, sizeof(revs), "%lld", (long long)rev);
    json_t *body = k && op ? json_pack("{s:[{s:s, s:s, s:s, s:s}], s:[{s:o}]}", "compare", "target",
                                       rev ? "MOD" : "CREATE", "result", "EQUAL", "key", k,
                                       rev ? "mod_revision" : "create_revision", revs,
                                       "success", op_name, op)
                           : NULL;
    free(k);
    if (!body) {
        if (op && !k)
            json_decref(op);
        return -ENOMEM;
    }
    char *ans;
    size_t len;
    int r = post(e, "/v3/kv/txn", body, &ans, &len);
    if (r)
        return r;
    bool ok;
    r = etcd_parse_txn(ans, len, &ok);
    free(ans);
    if (r)
        return parse_fail(e, "txn");
    return ok ? 0 : -EAGAIN;
}

int etcd_put_if(struct etcd *e, const char *key, const char *value, int64_t mod_revision,
                int64_t lease)
{
    return txn_if(e, key, mod_revision, "requestPut", put_body(key, value, lease));
}

int etcd_delete_if(struct etcd *e, const char *key, int64_t mod_revision)
{
    return txn_if(e, key, mod_revision, "requestDeleteRange", key_body(key, false));
}

int etcd_delete(struct etcd *e, const char *key, bool prefix)
{
    json_t *body = key_body(key, prefix);
    if (!body)
        return -ENOMEM;
    return post_only(e, "/v3/kv/deleterange", body);
}

int etcd_lease_grant(struct etcd *e, int ttl, int64_t *id)
{
    char *ans;
    size_t len;
    int r = post(e, "/v3/lease/grant", json_pack("{s:i}", "TTL", ttl), &ans, &len);
    if (r)
        return r;
    json_t *j = json_loadb(ans, len, 0, NULL);
    free(ans);
    bool bad = !json_is_object(j);
    *id = bad ? 0 : int_member(j, "ID", &bad);
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (msg)
        set_error(e, "etcd at %s: lease grant: %s", e->urls[e->current], msg);
    json_decref(j);
    if (msg)
        return -EIO;
    return bad || *id == 0 ? parse_fail(e, "lease grant") : 0;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int *ttl_left)
{
    char ids[32], *ans;
    size_t len;
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    int r = post(e, "/v3/lease/keepalive", json_pack("{s:s}", "ID", ids), &ans, &len);
    if (r)
        return r;
    /* A stream of one message: {"result": {"ID", "TTL"}}; TTL absent (or
     * 0) once the lease is gone. */
    json_t *j = json_loadb(ans, len, JSON_DISABLE_EOF_CHECK, NULL);
    free(ans);
    json_t *res = json_object_get(j, "result");
    bool bad = !json_is_object(res);
    int64_t ttl = bad ? 0 : int_member(res, "TTL", &bad);
    json_decref(j);
    if (bad)
        return parse_fail(e, "lease keepalive");
    if (ttl_left)
        *ttl_left = (int)ttl;
    if (ttl <= 0) {
        set_error(e, "etcd at %s: lease %s has expired", e->urls[e->current], ids);
        return -ENOENT;
    }
    return 0;
}

int etcd_lease_revoke(struct etcd *e, int64_t id)
{
    char ids[32];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    return post_only(e, "/v3/lease/revoke", json_pack("{s:s}", "ID", ids));
}
