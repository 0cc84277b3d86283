/* Token buckets in Firecracker's shape (rate_limiter: {bandwidth: {size,
 * one_time_burst, refill_time}, ops: {...}}): a bucket holds up to `size`
 * tokens, refilled linearly over `refill_time_ms`, plus a one-time burst
 * used first and never refilled. A device asks for tokens before a
 * request; when they are not there it waits for ratelimit_wait_ms().
 *
 * A limiter's configuration (struct ratelimit_cfg: what the API, the
 * config file and the --disk/--net flags give) is kept apart from its
 * running buckets (struct ratelimit): the configuration is part of the
 * VM's, the buckets are device state that is never saved (a restored or
 * migrated device starts with full buckets).
 * Not thread-safe: one bucket belongs to one device queue (its lock). */
#ifndef CORRAL_CORE_RATELIMIT_H
#define CORRAL_CORE_RATELIMIT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/types.h"

/* Largest size, burst and refill time accepted (1 TiB, ~35 years in ms):
 * the refill arithmetic stays inside 128 bits. */
#define RATELIMIT_MAX ((uint64_t)1 << 40)

struct ratelimit_bucket_cfg {
    uint64_t size;           /* tokens (bytes or requests); 0: no limit */
    uint64_t one_time_burst; /* extra tokens, used once */
    uint64_t refill_ms;      /* time to refill `size` from empty; >= 1 with a size */
};

struct ratelimit_cfg {
    struct ratelimit_bucket_cfg bw, ops; /* bytes, requests (packets for a NIC) */
};

struct ratelimit_bucket {
    uint64_t size, refill_ms, burst; /* size 0: unlimited */
    uint64_t tokens;                 /* available, <= size */
    int64_t last_ns;                 /* last refill */
};

struct ratelimit {
    struct ratelimit_bucket bw, ops; /* bytes, requests */
};

/* Parse a rate_limiter object into `c` (NULL, json null or {}: no limit).
 * Each bucket object needs `size` and `refill_time` (ms, >= 1); sizes and
 * bursts are 0..2^40, unknown keys are refused. 0, or -EINVAL with a
 * message that starts with `what` ("rate_limiter", "tx_rate_limiter") and
 * names the field, in err[errlen]. */
int ratelimit_cfg_parse(struct ratelimit_cfg *c, const json_t *j, const char *what, char *err,
                        size_t errlen) WARN_UNUSED;
/* The same for a PATCH: a bucket the object does not name stays as it
 * was in `c` (null or size 0 turns it off); null turns both off. */
int ratelimit_cfg_patch(struct ratelimit_cfg *c, const json_t *j, const char *what, char *err,
                        size_t errlen) WARN_UNUSED;
/* Does `c` limit anything? */
bool ratelimit_cfg_active(const struct ratelimit_cfg *c);
/* The rate_limiter object for `c` (only the buckets that limit); a new
 * reference, NULL on allocation failure. */
json_t *ratelimit_cfg_json(const struct ratelimit_cfg *c);
/* "8M" -> 8 MiB: digits with an optional K, M or G suffix (powers of
 * 1024), 1..2^40. The --disk bw= / iops= values. 0 or -EINVAL. */
int ratelimit_parse_amount(const char *s, uint64_t *out) WARN_UNUSED;
/* A bucket refilled with `per_s` tokens every second (the flags' form). */
void ratelimit_cfg_per_second(struct ratelimit_bucket_cfg *b, uint64_t per_s);

/* New configurations handed from any thread (an API handler) to the
 * thread that owns the buckets (a device's I/O thread), so the sender never
 * waits for the device's lock, which the owner holds across disk I/O. Up
 * to two limiters (a NIC's rx and tx); the last post wins. */
struct ratelimit_mailbox {
    pthread_mutex_t lock;      /* held only to copy cfg */
    struct ratelimit_cfg cfg[2];
    _Atomic bool full;
};
void ratelimit_mailbox_init(struct ratelimit_mailbox *mb);
void ratelimit_mailbox_destroy(struct ratelimit_mailbox *mb);
/* Any thread. `b` may be NULL (one limiter). */
void ratelimit_mailbox_post(struct ratelimit_mailbox *mb, const struct ratelimit_cfg *a,
                            const struct ratelimit_cfg *b);
/* The owner: true (and the configurations) when something was posted. */
bool ratelimit_mailbox_take(struct ratelimit_mailbox *mb, struct ratelimit_cfg *a,
                            struct ratelimit_cfg *b);

/* (Re)start the buckets from `c`, full. */
void ratelimit_apply(struct ratelimit *rl, const struct ratelimit_cfg *c, int64_t now_ns);
/* Does `rl` limit anything? */
bool ratelimit_active(const struct ratelimit *rl);
void ratelimit_init(struct ratelimit_bucket *b, uint64_t size, uint64_t refill_ms,
                    uint64_t burst, int64_t now_ns);
/* Take `bytes` and one op if both are there (all or nothing). */
bool ratelimit_consume(struct ratelimit *rl, uint64_t bytes, int64_t now_ns);
/* How long until `bytes` + one op could be taken (0: now). */
uint64_t ratelimit_wait_ms(struct ratelimit *rl, uint64_t bytes, int64_t now_ns);
/* A device's question: take `bytes` + one op now (true), or set *retry_ns
 * to the host time when they will be there (false). */
bool ratelimit_try(struct ratelimit *rl, uint64_t bytes, int64_t now_ns, int64_t *retry_ns);

#endif
