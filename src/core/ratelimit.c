/* Token buckets (see ratelimit.h). */
#include "core/ratelimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ratelimit_init(struct ratelimit_bucket *b, uint64_t size, uint64_t refill_ms,
                    uint64_t burst, int64_t now_ns)
{
    b->size = size;
    b->refill_ms = refill_ms ? refill_ms : 1;
    b->burst = burst;
    b->tokens = size;
    b->last_ns = now_ns;
}

void ratelimit_apply(struct ratelimit *rl, const struct ratelimit_cfg *c, int64_t now_ns)
{
    ratelimit_init(&rl->bw, c->bw.size, c->bw.refill_ms, c->bw.one_time_burst, now_ns);
    ratelimit_init(&rl->ops, c->ops.size, c->ops.refill_ms, c->ops.one_time_burst, now_ns);
}

bool ratelimit_active(const struct ratelimit *rl)
{
    return rl->bw.size || rl->ops.size;
}

bool ratelimit_cfg_active(const struct ratelimit_cfg *c)
{
    return c->bw.size || c->ops.size;
}

static void refill(struct ratelimit_bucket *b, int64_t now_ns)
{
    if (now_ns <= b->last_ns)
        return;
    /* tokens per ns = size / (refill_ms * 1e6); 128-bit products, so no
     * overflow for sizes and refill times up to RATELIMIT_MAX. */
    unsigned __int128 add = (unsigned __int128)(uint64_t)(now_ns - b->last_ns) * b->size /
                            ((unsigned __int128)b->refill_ms * 1000000);
    if (add == 0)
        return; /* keep last_ns so small gaps accumulate */
    if (b->tokens + add >= b->size) {
        b->tokens = b->size;
        b->last_ns = now_ns;
        return;
    }
    b->tokens += (uint64_t)add;
    /* Advance by exactly the time those tokens took, so fractions carry. */
    b->last_ns += (int64_t)(add * b->refill_ms * 1000000 / b->size);
}

static bool can_take(struct ratelimit_bucket *b, uint64_t n, int64_t now_ns)
{
    if (!b->size)
        return true;
    refill(b, now_ns);
    /* A request larger than the bucket could never pass: let it through
     * on a full bucket (Firecracker's rule) and drain the bucket. */
    return b->burst + b->tokens >= n || b->tokens == b->size;
}

static void take(struct ratelimit_bucket *b, uint64_t n)
{
    if (!b->size)
        return;
    uint64_t from_burst = n < b->burst ? n : b->burst;
    b->burst -= from_burst;
    n -= from_burst;
    b->tokens = n >= b->tokens ? 0 : b->tokens - n;
}

bool ratelimit_consume(struct ratelimit *rl, uint64_t bytes, int64_t now_ns)
{
    if (!can_take(&rl->bw, bytes, now_ns) || !can_take(&rl->ops, 1, now_ns))
        return false;
    take(&rl->bw, bytes);
    take(&rl->ops, 1);
    return true;
}

static uint64_t wait_one(struct ratelimit_bucket *b, uint64_t n, int64_t now_ns)
{
    if (!b->size)
        return 0;
    refill(b, now_ns);
    uint64_t have = b->tokens + b->burst;
    if (have >= n || b->tokens == b->size)
        return 0;
    uint64_t need = n - have;
    if (need > b->size - b->tokens)
        need = b->size - b->tokens; /* a full bucket lets it through */
    unsigned __int128 t = (unsigned __int128)need * b->refill_ms + b->size - 1;
    return (uint64_t)(t / b->size);
}

uint64_t ratelimit_wait_ms(struct ratelimit *rl, uint64_t bytes, int64_t now_ns)
{
    uint64_t a = wait_one(&rl->bw, bytes, now_ns), o = wait_one(&rl->ops, 1, now_ns);
    return a > o ? a : o;
}

bool ratelimit_try(struct ratelimit *rl, uint64_t bytes, int64_t now_ns, int64_t *retry_ns)
{
    if (ratelimit_consume(rl, bytes, now_ns))
        return true;
    uint64_t ms = ratelimit_wait_ms(rl, bytes, now_ns);
    *retry_ns = now_ns + (int64_t)(ms ? ms : 1) * 1000000;
    return false;
}

void ratelimit_mailbox_init(struct ratelimit_mailbox *mb)
{
    memset(mb, 0, sizeof(*mb));
    pthread_mutex_init(&mb->lock, NULL);
}

void ratelimit_mailbox_destroy(struct ratelimit_mailbox *mb)
{
    pthread_mutex_destroy(&mb->lock);
}

void ratelimit_mailbox_post(struct ratelimit_mailbox *mb, const struct ratelimit_cfg *a,
                            const struct ratelimit_cfg *b)
{
    pthread_mutex_lock(&mb->lock);
    mb->cfg[0] = *a;
    if (b)
        mb->cfg[1] = *b;
    atomic_store(&mb->full, true);
    pthread_mutex_unlock(&mb->lock);
}

bool ratelimit_mailbox_take(struct ratelimit_mailbox *mb, struct ratelimit_cfg *a,
                            struct ratelimit_cfg *b)
{
    if (!atomic_load(&mb->full))
        return false; /* the common case: no lock */
    pthread_mutex_lock(&mb->lock);
    *a = mb->cfg[0];
    if (b)
        *b = mb->cfg[1];
    atomic_store(&mb->full, false);
    pthread_mutex_unlock(&mb->lock);
    return true;
}

/* ---- configuration ---- */

static int parse_bucket(struct ratelimit_bucket_cfg *b, const json_t *j, const char *what,
                        const char *name, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    /* size, refill_time, one_time_burst */
    static const char *const keys[3] = { "size", "refill_time", "one_time_burst" };
    long long f[3] = { 0, 0, 0 };
    bool seen[3] = { false, false, false };
    memset(b, 0, sizeof(*b));
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_object(j)) {
        snprintf(err, errlen, "%s: '%s' must be an object", what, name);
        return -EINVAL;
    }
    json_object_foreach((json_t *)j, k, v) {
        int i;
        for (i = 0; i < 3 && strcmp(k, keys[i]); i++)
            ;
        if (i == 3) {
            snprintf(err, errlen, "%s.%s: unknown key '%.64s' (size, refill_time, "
                     "one_time_burst)", what, name, k);
            return -EINVAL;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > RATELIMIT_MAX) {
            snprintf(err, errlen, "%s.%s.%s must be an integer from 0 to 2^40", what, name, k);
            return -EINVAL;
        }
        f[i] = json_integer_value(v);
        seen[i] = true;
    }
    for (int i = 0; i < 2; i++) {
        if (!seen[i]) {
            snprintf(err, errlen, "%s.%s: missing '%s'", what, name, keys[i]);
            return -EINVAL;
        }
    }
    if (f[1] == 0) {
        snprintf(err, errlen, "%s.%s.refill_time must be at least 1 (ms)", what, name);
        return -EINVAL;
    }
    *b = (struct ratelimit_bucket_cfg){
        .size = (uint64_t)f[0], .refill_ms = (uint64_t)f[1], .one_time_burst = (uint64_t)f[2],
    };
    return 0;
}

int ratelimit_cfg_parse(struct ratelimit_cfg *c, const json_t *j, const char *what, char *err,
                        size_t errlen)
{
    const char *k;
    json_t *v;
    struct ratelimit_cfg n;
    memset(&n, 0, sizeof(n));
    if (j && !json_is_null(j)) {
        if (!json_is_object(j)) {
            snprintf(err, errlen, "%s must be an object (or null)", what);
            return -EINVAL;
        }
        json_object_foreach((json_t *)j, k, v) {
            if (strcmp(k, "bandwidth") && strcmp(k, "ops")) {
                snprintf(err, errlen, "%s: unknown key '%.64s' (bandwidth, ops)", what, k);
                return -EINVAL;
            }
        }
        int r = parse_bucket(&n.bw, json_object_get(j, "bandwidth"), what, "bandwidth", err,
                             errlen);
        if (!r)
            r = parse_bucket(&n.ops, json_object_get(j, "ops"), what, "ops", err, errlen);
        if (r)
            return r;
    }
    *c = n;
    return 0;
}

int ratelimit_cfg_patch(struct ratelimit_cfg *c, const json_t *j, const char *what, char *err,
                        size_t errlen)
{
    struct ratelimit_cfg n;
    int r = ratelimit_cfg_parse(&n, j, what, err, errlen);
    if (r)
        return r;
    if (json_is_object(j)) {
        if (!json_object_get(j, "bandwidth"))
            n.bw = c->bw;
        if (!json_object_get(j, "ops"))
            n.ops = c->ops;
    }
    *c = n;
    return 0;
}

static json_t *bucket_json(const struct ratelimit_bucket_cfg *b)
{
    return json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b->size, "one_time_burst",
                     (json_int_t)b->one_time_burst, "refill_time", (json_int_t)b->refill_ms);
}

json_t *ratelimit_cfg_json(const struct ratelimit_cfg *c)
{
    json_t *j = json_object();
    if (!j)
        return NULL;
    if ((c->bw.size && json_object_set_new(j, "bandwidth", bucket_json(&c->bw))) ||
        (c->ops.size && json_object_set_new(j, "ops", bucket_json(&c->ops)))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int ratelimit_parse_amount(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 0: break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -EINVAL;
    }
    if (*end || v == 0 || v > (RATELIMIT_MAX >> shift))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

void ratelimit_cfg_per_second(struct ratelimit_bucket_cfg *b, uint64_t per_s)
{
    *b = (struct ratelimit_bucket_cfg){ .size = per_s, .refill_ms = per_s ? 1000 : 0 };
}
