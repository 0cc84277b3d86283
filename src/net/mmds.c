/* The MMDS store, its configuration and its V2 tokens (see mmds.h). The
 * API threads write the store while the I/O thread answers the guest:
 * one mutex, held only for a copy or a swap, never across I/O. */
#include "net/mmds.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct mmds_token {
    char tok[MMDS_TOKEN_LEN + 1];
    uint64_t expires_s;     /* 0: free slot */
};

struct mmds {
    pthread_mutex_t lock;
    json_t *data;           /* always an object or another JSON value */
    size_t limit;
    enum mmds_version version;
    uint32_t ipv4;
    bool imds_compat;
    struct mmds_token tokens[MMDS_MAX_TOKENS];
};

struct mmds *mmds_new(void)
{
    struct mmds *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->data = json_object();
    if (!m->data) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->limit = MMDS_DEFAULT_LIMIT;
    m->version = MMDS_V1;
    m->ipv4 = MMDS_DEFAULT_IPV4;
    return m;
}

void mmds_free(struct mmds *m)
{
    if (!m)
        return;
    json_decref(m->data);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void mmds_set_limit(struct mmds *m, size_t bytes)
{
    pthread_mutex_lock(&m->lock);
    m->limit = bytes;
    pthread_mutex_unlock(&m->lock);
}

/* Swap in `next` (a reference taken) when its compact JSON fits. */
static int store_swap(struct mmds *m, json_t *next, char *err, size_t errlen)
{
    if (!next) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t n = json_dumpb(next, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    pthread_mutex_lock(&m->lock);
    size_t limit = m->limit;
    if (n > limit) {
        pthread_mutex_unlock(&m->lock);
        json_decref(next);
        snprintf(err, errlen, "the MMDS data store would be %zu bytes, over its limit of "
                 "%zu bytes", n, limit);
        return -EFBIG;
    }
    json_t *old = m->data;
    m->data = next;
    pthread_mutex_unlock(&m->lock);
    json_decref(old);
    return 0;
}

int mmds_put(struct mmds *m, const json_t *data, char *err, size_t errlen)
{
    if (!data) {
        snprintf(err, errlen, "PUT /mmds needs a JSON body");
        return -EINVAL;
    }
    return store_swap(m, json_deep_copy(data), err, errlen);
}

int mmds_patch(struct mmds *m, const json_t *patch, char *err, size_t errlen)
{
    if (!patch) {
        snprintf(err, errlen, "PATCH /mmds needs a JSON body");
        return -EINVAL;
    }
    /* The merge works on a copy: a refused patch changes nothing, and
     * readers never see half of one. */
    json_t *cur = mmds_get(m);
    if (!cur) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    json_t *next = mmds_merge_patch(cur, patch);
    json_decref(cur);
    return store_swap(m, next, err, errlen);
}

json_t *mmds_get(struct mmds *m)
{
    pthread_mutex_lock(&m->lock);
    json_t *j = json_deep_copy(m->data);
    pthread_mutex_unlock(&m->lock);
    return j;
}

/* RFC 7396 section 2: a non-object patch replaces the target; an object
 * patch merges member by member, null removing. Recursion depth is the
 * patch's, which jansson bounds when it parses (JSON_PARSER_MAX_DEPTH). */
json_t *mmds_merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (!out)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        json_t *merged = mmds_merge_patch(json_object_get(out, k), v);
        if (!merged || json_object_set_new(out, k, merged)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* One pointer segment, unescaped, into key (false: too long or a bad
 * escape). */
static bool segment(const char *s, size_t n, char *key, size_t keylen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '~') {
            if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
                return false;
            ch = s[++i] == '0' ? '~' : '/';
        }
        if (o + 1 >= keylen)
            return false;
        key[o++] = ch;
    }
    key[o] = 0;
    return true;
}

json_t *mmds_lookup(struct mmds *m, const char *path, size_t len)
{
    char key[1024];
    json_t *found = NULL;
    pthread_mutex_lock(&m->lock);
    const json_t *cur = m->data;
    size_t i = 0;
    while (cur && i < len) {
        if (path[i] == '/') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (!segment(path + i, j - i, key, sizeof(key))) {
            cur = NULL;
            break;
        }
        if (json_is_object(cur)) {
            cur = json_object_get(cur, key);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long ix = strtoul(key, &end, 10);
            bool digits = key[0] >= '0' && key[0] <= '9' && !*end &&
                          (key[0] != '0' || !key[1]);
            cur = digits ? json_array_get(cur, ix) : NULL;
        } else {
            cur = NULL;
        }
        i = j;
    }
    if (cur)
        found = json_deep_copy(cur);
    pthread_mutex_unlock(&m->lock);
    return found;
}

void mmds_configure(struct mmds *m, enum mmds_version v, uint32_t ipv4, bool imds_compat)
{
    pthread_mutex_lock(&m->lock);
    if (v != m->version)
        memset(m->tokens, 0, sizeof(m->tokens));
    m->version = v;
    m->ipv4 = ipv4;
    m->imds_compat = imds_compat;
    pthread_mutex_unlock(&m->lock);
}

enum mmds_version mmds_version(struct mmds *m)
{
    pthread_mutex_lock(&m->lock);
    enum mmds_version v = m->version;
    pthread_mutex_unlock(&m->lock);
    return v;
}

uint32_t mmds_ipv4(struct mmds *m)
{
    pthread_mutex_lock(&m->lock);
    uint32_t a = m->ipv4;
    pthread_mutex_unlock(&m->lock);
    return a;
}

bool mmds_imds_compat(struct mmds *m)
{
    pthread_mutex_lock(&m->lock);
    bool b = m->imds_compat;
    pthread_mutex_unlock(&m->lock);
    return b;
}

static void base64(const uint8_t *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = 0;
}

int mmds_token_new(struct mmds *m, unsigned ttl_s, uint64_t now_s,
                   char tok[MMDS_TOKEN_LEN + 1])
{
    uint8_t raw[32];
    if (ttl_s < 1 || ttl_s > MMDS_TOKEN_TTL_MAX)
        return -EINVAL;
    if (getrandom(raw, sizeof(raw), GRND_NONBLOCK) != (ssize_t)sizeof(raw))
        return -EAGAIN;
    base64(raw, sizeof(raw), tok);
    pthread_mutex_lock(&m->lock);
    /* A free or expired slot, else the one that expires first. */
    struct mmds_token *slot = &m->tokens[0];
    for (unsigned i = 0; i < MMDS_MAX_TOKENS; i++) {
        struct mmds_token *t = &m->tokens[i];
        if (t->expires_s <= now_s) {
            slot = t;
            break;
        }
        if (t->expires_s < slot->expires_s)
            slot = t;
    }
    memcpy(slot->tok, tok, MMDS_TOKEN_LEN + 1);
    slot->expires_s = now_s + ttl_s;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

bool mmds_token_valid(struct mmds *m, const char *tok, size_t len, uint64_t now_s)
{
    bool ok = false;
    if (len != MMDS_TOKEN_LEN)
        return false;
    pthread_mutex_lock(&m->lock);
    for (unsigned i = 0; i < MMDS_MAX_TOKENS; i++) {
        const struct mmds_token *t = &m->tokens[i];
        /* No early exit on a match of a prefix: compare every byte. */
        uint8_t diff = 0;
        for (size_t k = 0; k < MMDS_TOKEN_LEN; k++)
            diff |= (uint8_t)(t->tok[k] ^ tok[k]);
        if (!diff && t->expires_s > now_s)
            ok = true;
    }
    pthread_mutex_unlock(&m->lock);
    return ok;
}
