/* Token buckets (see ratelimit.h). */
#include "core/ratelimit.h"

#include <errno.h>
#include <stdio.h>
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

static void refill(struct ratelimit_bucket *b, int64_t now_ns)
{
    if (now_ns <= b->last_ns)
        return;
    /* tokens per ns = size / (refill_ms * 1e6); integer math without
     * overflow for sizes up to 2^40 and gaps up to ~hours. */
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
    return (need * b->refill_ms + b->size - 1) / b->size;
}

uint64_t ratelimit_wait_ms(struct ratelimit *rl, uint64_t bytes, int64_t now_ns)
{
    uint64_t a = wait_one(&rl->bw, bytes, now_ns), o = wait_one(&rl->ops, 1, now_ns);
    return a > o ? a : o;
}

static int parse_bucket(struct ratelimit_bucket *b, const json_t *j, const char *name,
                        int64_t now_ns, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    long long f[3] = { 0, 0, 0 }; /* size, refill_time, one_time_burst */
    static const char *const keys[3] = { "size", "refill_time", "one_time_burst" };
    if (!j || json_is_null(j)) {
        ratelimit_init(b, 0, 0, 0, now_ns);
        return 0;
    }
    if (!json_is_object(j)) {
        snprintf(err, errlen, "rate_limiter: '%s' must be an object", name);
        return -EINVAL;
    }
    json_object_foreach((json_t *)j, k, v) {
        int i;
        for (i = 0; i < 3 && strcmp(k, keys[i]); i++)
            ;
        if (i == 3) {
            snprintf(err, errlen, "rate_limiter.%s: unknown key '%s'", name, k);
            return -EINVAL;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (1LL << 40)) {
            snprintf(err, errlen, "rate_limiter.%s.%s must be an integer from 0 to 2^40",
                     name, k);
            return -EINVAL;
        }
        f[i] = json_integer_value(v);
    }
    if (f[0] && !f[1]) {
        snprintf(err, errlen, "rate_limiter.%s: 'refill_time' must be > 0 with a size", name);
        return -EINVAL;
    }
    ratelimit_init(b, (uint64_t)f[0], (uint64_t)f[1], (uint64_t)f[2], now_ns);
    return 0;
}

int ratelimit_parse(struct ratelimit *rl, const json_t *j, int64_t now_ns, char *err,
                    size_t errlen)
{
    const char *k;
    json_t *v;
    if (!j || json_is_null(j))
        return parse_bucket(&rl->bw, NULL, "bandwidth", now_ns, err, errlen) |
               parse_bucket(&rl->ops, NULL, "ops", now_ns, err, errlen);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "rate_limiter must be an object");
        return -EINVAL;
    }
    json_object_foreach((json_t *)j, k, v) {
        if (strcmp(k, "bandwidth") && strcmp(k, "ops")) {
            snprintf(err, errlen, "rate_limiter: unknown key '%s'", k);
            return -EINVAL;
        }
    }
    int r = parse_bucket(&rl->bw, json_object_get(j, "bandwidth"), "bandwidth", now_ns, err,
                         errlen);
    return r ? r : parse_bucket(&rl->ops, json_object_get(j, "ops"), "ops", now_ns, err, errlen);
}
