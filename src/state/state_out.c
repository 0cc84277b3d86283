/* Writing state streams (state.h): an in-memory buffer that grows, with
 * open sections patched with their length and checksum when they end. */
#include "state/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void state_out_init(struct state_out *o)
{
    memset(o, 0, sizeof(*o));
}

void state_out_free(struct state_out *o)
{
    free(o->buf);
    memset(o, 0, sizeof(*o));
}

static uint8_t *reserve(struct state_out *o, size_t n)
{
    if (o->err)
        return NULL;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        uint8_t *b = realloc(o->buf, cap);
        if (!b) {
            o->err = -ENOMEM;
            return NULL;
        }
        o->buf = b;
        o->cap = cap;
    }
    uint8_t *p = o->buf + o->len;
    o->len += n;
    return p;
}

static void put_le(struct state_out *o, uint64_t v, unsigned n)
{
    uint8_t *p = reserve(o, n);
    for (unsigned i = 0; p && i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void state_put_u8(struct state_out *o, uint8_t v) { put_le(o, v, 1); }
void state_put_u16(struct state_out *o, uint16_t v) { put_le(o, v, 2); }
void state_put_u32(struct state_out *o, uint32_t v) { put_le(o, v, 4); }
void state_put_u64(struct state_out *o, uint64_t v) { put_le(o, v, 8); }

void state_put_bytes(struct state_out *o, const void *src, size_t n)
{
    uint8_t *p = reserve(o, n);
    if (p && n)
        memcpy(p, src, n);
}

void state_put_str(struct state_out *o, const char *s)
{
    if (!s) {
        state_put_u32(o, UINT32_MAX);
        return;
    }
    size_t n = strlen(s);
    state_put_u32(o, (uint32_t)n);
    state_put_bytes(o, s, n);
}

void state_out_header(struct state_out *o)
{
    state_put_bytes(o, STATE_MAGIC, 8);
    state_put_u32(o, STATE_FORMAT_VERSION);
    state_put_u32(o, 0);
}

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > STATE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_'))
            return false;
    }
    return true;
}

void state_begin(struct state_out *o, const char *id, uint32_t version, uint32_t flags)
{
    if (o->err)
        return;
    if (o->depth >= STATE_MAX_DEPTH || !valid_id(id)) {
        o->err = -EINVAL;
        return;
    }
    o->open[o->depth++] = o->len;
    size_t n = strlen(id);
    state_put_u8(o, (uint8_t)n);
    state_put_bytes(o, id, n);
    state_put_u32(o, version);
    state_put_u32(o, flags);
    state_put_u64(o, 0); /* length, patched by state_end */
}

void state_end(struct state_out *o)
{
    if (o->err)
        return;
    if (!o->depth) {
        o->err = -EINVAL;
        return;
    }
    size_t start = o->open[--o->depth];
    size_t idlen = o->buf[start];
    size_t len_at = start + 1 + idlen + 8;
    uint64_t payload = o->len - (len_at + 8);
    for (unsigned i = 0; i < 8; i++)
        o->buf[len_at + i] = (uint8_t)(payload >> (8 * i));
    uint64_t sum = XXH64(o->buf + start, o->len - start, 0);
    state_put_u64(o, sum);
}

int state_out_status(const struct state_out *o)
{
    if (o->err)
        return o->err;
    return o->depth ? -EINVAL : 0;
}
