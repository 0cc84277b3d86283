/* Reading state streams (state.h). Every length is checked against what
 * is left before it is used, and a section's checksum is verified before
 * any of its fields are handed out, so a loader never sees a torn or
 * corrupted payload. Errors latch: after the first one every getter
 * returns zeros and the message names the first problem only. */
#include "state/state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

static void set_failed(struct state_in *in, const char *fmt, va_list ap)
{
    if (*in->failed)
        return;
    *in->failed = true;
    if (!in->err || !in->errlen)
        return;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (in->where[0])
        snprintf(in->err, in->errlen, "%s: section '%s': %s", in->file, in->where, msg);
    else
        snprintf(in->err, in->errlen, "%s: %s", in->file, msg);
}

int state_in_fail(struct state_in *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_failed(in, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int state_in_status(const struct state_in *in)
{
    return *in->failed ? -EINVAL : 0;
}

size_t state_in_left(const struct state_in *in)
{
    return in->len - in->off;
}

void state_in_init(struct state_in *in, const void *buf, size_t len, const char *name,
                   char *err, size_t errlen)
{
    memset(in, 0, sizeof(*in));
    in->p = buf;
    in->len = len;
    in->file = name ? name : "state";
    in->err = err;
    in->errlen = errlen;
    in->failed = &in->own_failed;
}

int state_in_open(struct state_in *in, const void *buf, size_t len, const char *file,
                  char *err, size_t errlen)
{
    state_in_init(in, buf, len, file, err, errlen);
    if (len < 16 || memcmp(buf, STATE_MAGIC, 8))
        return state_in_fail(in, "not a Corral state file (bad magic)");
    in->off = 8;
    uint32_t v = state_get_u32(in);
    uint32_t reserved = state_get_u32(in);
    if (v != STATE_FORMAT_VERSION)
        return state_in_fail(in, "state format version %u; this Corral reads version %u", v,
                             STATE_FORMAT_VERSION);
    if (reserved)
        return state_in_fail(in, "bad stream header (reserved field 0x%x)", reserved);
    return 0;
}

static bool take(struct state_in *in, size_t n, const uint8_t **p)
{
    if (*in->failed)
        return false;
    if (n > in->len - in->off) {
        state_in_fail(in, "truncated: needs %zu more bytes at offset %zu, %zu left", n,
                      in->off, in->len - in->off);
        return false;
    }
    *p = in->p + in->off;
    in->off += n;
    return true;
}

static uint64_t get_le(struct state_in *in, unsigned n)
{
    const uint8_t *p;
    if (!take(in, n, &p))
        return 0;
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t state_get_u8(struct state_in *in) { return (uint8_t)get_le(in, 1); }
uint16_t state_get_u16(struct state_in *in) { return (uint16_t)get_le(in, 2); }
uint32_t state_get_u32(struct state_in *in) { return (uint32_t)get_le(in, 4); }
uint64_t state_get_u64(struct state_in *in) { return get_le(in, 8); }

void state_get_bytes(struct state_in *in, void *dst, size_t n)
{
    const uint8_t *p;
    if (take(in, n, &p))
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

void state_get_str(struct state_in *in, char *buf, size_t cap, bool *was_null)
{
    uint32_t n = state_get_u32(in);
    const uint8_t *p;
    if (was_null)
        *was_null = false;
    buf[0] = 0;
    if (*in->failed)
        return;
    if (n == UINT32_MAX) {
        if (was_null)
            *was_null = true;
        return;
    }
    if (n >= cap) {
        state_in_fail(in, "string of %u bytes is longer than %zu", n, cap - 1);
        return;
    }
    if (!take(in, n, &p))
        return;
    if (memchr(p, 0, n)) {
        state_in_fail(in, "string holds a NUL byte");
        return;
    }
    memcpy(buf, p, n);
    buf[n] = 0;
}

int state_in_next(struct state_in *in, struct state_section *s)
{
    if (*in->failed)
        return -EINVAL;
    if (in->off == in->len)
        return 0;
    size_t start = in->off;
    uint8_t idlen = state_get_u8(in);
    if (idlen == 0 || idlen > STATE_ID_MAX)
        return state_in_fail(in, "bad section header at offset %zu (id length %u)", start,
                             idlen);
    memset(s, 0, sizeof(*s));
    state_get_bytes(in, s->id, idlen);
    for (unsigned i = 0; i < idlen; i++) {
        char c = s->id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_'))
            return state_in_fail(in, "bad section id at offset %zu", start);
    }
    s->version = state_get_u32(in);
    s->flags = state_get_u32(in);
    uint64_t len = state_get_u64(in);
    if (*in->failed)
        return -EINVAL;
    /* Name the section in messages from here on. */
    char where[sizeof(in->where)];
    if (in->where[0])
        snprintf(where, sizeof(where), "%.30s/%s", in->where, s->id);
    else
        snprintf(where, sizeof(where), "%s", s->id);
    if (len > in->len - in->off || in->len - in->off - len < 8) {
        snprintf(in->where, sizeof(in->where), "%s", where);
        return state_in_fail(in, "truncated: payload of %llu bytes, %zu left",
                             (unsigned long long)len, in->len - in->off);
    }
    const uint8_t *payload = in->p + in->off;
    in->off += len;
    uint64_t want = state_get_u64(in);
    uint64_t got = XXH64(in->p + start, (size_t)(payload + len - (in->p + start)), 0);
    if (want != got) {
        snprintf(in->where, sizeof(in->where), "%s", where);
        return state_in_fail(in, "checksum mismatch (corrupted)");
    }
    s->body = *in;
    s->body.p = payload;
    s->body.len = len;
    s->body.off = 0;
    snprintf(s->body.where, sizeof(s->body.where), "%s", where);
    return 1;
}

int state_in_expect(struct state_in *in, const char *id, uint32_t max_version,
                    struct state_section *s)
{
    int r = state_in_next(in, s);
    if (r < 0)
        return r;
    if (r == 0)
        return state_in_fail(in, "section '%s' missing (end of stream)", id);
    if (strcmp(s->id, id))
        return state_in_fail(in, "expected section '%s', found '%s'", id, s->id);
    if (s->version == 0 || s->version > max_version)
        return state_in_fail(&s->body, "version %u; this Corral reads up to %u", s->version,
                             max_version);
    return 0;
}

int state_in_finish(struct state_in *in)
{
    struct state_section sub;
    int r;
    while ((r = state_in_next(in, &sub)) > 0) {
        if (!(sub.flags & STATE_F_OPTIONAL))
            return state_in_fail(&sub.body, "unknown mandatory subsection");
    }
    return r < 0 ? r : state_in_status(in);
}
