/* Token buckets in Firecracker's shape (rate_limiter: {bandwidth: {size,
 * one_time_burst, refill_time}, ops: {...}}): a bucket holds up to `size`
 * tokens, refilled linearly over `refill_time_ms`, plus a one-time burst
 * used first and never refilled. A device asks for tokens before a
 * request; when they are not there it waits for ratelimit_wait_ms().
 * Not thread-safe: one bucket belongs to one device queue (its lock). */
#ifndef CORRAL_CORE_RATELIMIT_H
#define CORRAL_CORE_RATELIMIT_H

#include <jansson.h>

#include "core/types.h"

struct ratelimit_bucket {
    uint64_t size, refill_ms, burst; /* size 0: unlimited */
    uint64_t tokens;                 /* available, <= size */
    int64_t last_ns;                 /* last refill */
};

struct ratelimit {
    struct ratelimit_bucket bw, ops; /* bytes, requests */
};

/* Parse a rate_limiter object (NULL or json null: unlimited). 0, or
 * -EINVAL with a message naming the field in err[errlen]. */
int ratelimit_parse(struct ratelimit *rl, const json_t *j, int64_t now_ns, char *err,
                    size_t errlen) WARN_UNUSED;
void ratelimit_init(struct ratelimit_bucket *b, uint64_t size, uint64_t refill_ms,
                    uint64_t burst, int64_t now_ns);
/* Take `bytes` and one op if both are there (all or nothing). */
bool ratelimit_consume(struct ratelimit *rl, uint64_t bytes, int64_t now_ns);
/* How long until `bytes` + one op could be taken (0: now). */
uint64_t ratelimit_wait_ms(struct ratelimit *rl, uint64_t bytes, int64_t now_ns);

#endif
