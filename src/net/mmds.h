/* MMDS, Firecracker's metadata service: a JSON store the host fills
 * through the API (PUT/PATCH/GET /mmds) and the guest reads over HTTP at
 * 169.254.169.254:80 on the interfaces PUT /mmds/config names. V1 answers
 * plain GETs; V2 wants a session token from PUT /latest/api/token first.
 * Three parts: the store and its tokens (mmds.c, any thread, locked
 * inside), the guest-side HTTP/1.1 request parser and responder
 * (mmds_http.c, pure: bytes in, response bytes out), and the hook in the
 * user-mode network that carries the guest's TCP to it (net/slirp.c). */
#ifndef CORRAL_NET_MMDS_H
#define CORRAL_NET_MMDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

#define MMDS_DEFAULT_LIMIT 51200       /* Firecracker's data store limit, bytes */
#define MMDS_DEFAULT_IPV4 0xa9fea9feu  /* 169.254.169.254, host order */
#define MMDS_TOKEN_TTL_MAX 21600       /* seconds (6 hours) */
#define MMDS_MAX_TOKENS 64             /* live V2 tokens; the oldest go first */
#define MMDS_TOKEN_LEN 44              /* base64 of 32 random bytes */

enum mmds_version { MMDS_V1 = 1, MMDS_V2 = 2 };

struct mmds;

/* A new, empty store (V1, 169.254.169.254, the default size limit).
 * NULL when out of memory. */
struct mmds *mmds_new(void);
void mmds_free(struct mmds *m);

/* Replace the store (PUT /mmds), merge a patch into it (PATCH /mmds, RFC
 * 7396). The result is refused when its JSON would be over the limit;
 * the store is then unchanged. 0, or -EINVAL / -EFBIG / -ENOMEM with a
 * message. Any thread. */
int mmds_put(struct mmds *m, const json_t *data, char *err, size_t errlen) WARN_UNUSED;
int mmds_patch(struct mmds *m, const json_t *patch, char *err, size_t errlen) WARN_UNUSED;
/* A copy of the store (an empty object when never set); NULL: no memory. */
json_t *mmds_get(struct mmds *m);
void mmds_set_limit(struct mmds *m, size_t bytes);

/* RFC 7396: `target` (may be NULL) with `patch` merged in, a new
 * reference (NULL: no memory). Pure. */
json_t *mmds_merge_patch(const json_t *target, const json_t *patch);

/* PUT /mmds/config: the version, the address (host order) and whether
 * every answer is in IMDS format whatever Accept says. */
void mmds_configure(struct mmds *m, enum mmds_version v, uint32_t ipv4, bool imds_compat);
enum mmds_version mmds_version(struct mmds *m);
uint32_t mmds_ipv4(struct mmds *m);
bool mmds_imds_compat(struct mmds *m);
/* The value at a JSON pointer path ("/a/b", "/list/0"; empty segments,
 * as a trailing '/', are skipped; ~0 and ~1 escapes), a copy. NULL when
 * there is none (or no memory). */
json_t *mmds_lookup(struct mmds *m, const char *path, size_t len);

/* V2 session tokens. New: ttl in 1..MMDS_TOKEN_TTL_MAX seconds, `now_s`
 * a monotonic clock; the token (NUL-terminated) in tok. 0 or -errno.
 * Valid: known and not expired at now_s. */
int mmds_token_new(struct mmds *m, unsigned ttl_s, uint64_t now_s,
                   char tok[MMDS_TOKEN_LEN + 1]) WARN_UNUSED;
bool mmds_token_valid(struct mmds *m, const char *tok, size_t len, uint64_t now_s);

/* ---- the guest's HTTP (mmds_http.c) ---- */

#define MMDS_HTTP_MAX_HEAD 4096     /* request line + headers */
#define MMDS_HTTP_MAX_BODY 4096     /* a request body is read and dropped */
#define MMDS_HTTP_MAX_OUT (256 * 1024) /* answers not yet taken by the guest */

/* One guest TCP connection's parser state. Pure data: the caller feeds
 * the bytes the guest sent and takes the response bytes from out. */
struct mmds_conn {
    uint8_t in[MMDS_HTTP_MAX_HEAD];
    size_t in_len;
    size_t body_left;       /* of the current request, being skipped */
    bool closed;            /* answered with Connection: close: drop the rest */
    uint8_t *out;
    size_t out_len, out_cap;
};

void mmds_conn_init(struct mmds_conn *c);
/* Forget everything (a new connection). */
void mmds_conn_reset(struct mmds_conn *c);
void mmds_conn_free(struct mmds_conn *c);
/* Bytes from the guest: parse every complete request and append its
 * answer to c->out. Never fails: a bad request gets its HTTP error and
 * closes the connection (later bytes are dropped). `now_s` is for tokens. */
void mmds_conn_feed(struct mmds_conn *c, struct mmds *m, const uint8_t *buf, size_t len,
                    uint64_t now_s);
/* The first n bytes of c->out were sent. */
void mmds_conn_consume(struct mmds_conn *c, size_t n);

#endif
