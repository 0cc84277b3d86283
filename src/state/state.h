/* The state layer: the one format in which snapshots and live migration
 * carry a machine's state (DESIGN.md "State").
 *
 * A stream is a header ("CORRALST", format version) followed by sections.
 * A section is {id, version, flags, length, payload, checksum}; its payload
 * is a sequence of explicitly encoded little-endian fields (never a struct
 * dump), optionally followed by subsections in the same framing. Fields are
 * appended, never reordered: a reader of version N accepts payloads of
 * version N that carry subsections it does not know when they are marked
 * optional, and skips them.
 *
 *   stream:   "CORRALST" u32 format_version u32 reserved
 *   section:  u8 id_len, id[id_len] (1..31 bytes of [a-z0-9._-]),
 *             u32 version, u32 flags, u64 length, payload[length],
 *             u64 xxh64(id_len .. payload)
 *
 * Readers treat every stream as hostile: lengths are checked against what
 * is left, checksums are verified before a payload is parsed, and every
 * problem becomes one line naming the file, the section and what is wrong.
 * Writers build into memory (device state is small; guest RAM travels
 * separately as pages). No locks: one user at a time. */
#ifndef CORRAL_STATE_STATE_H
#define CORRAL_STATE_STATE_H

#include <stdarg.h>
#include <stddef.h>

#include "core/types.h"

#define STATE_MAGIC "CORRALST"
#define STATE_FORMAT_VERSION 1
#define STATE_ID_MAX 31
#define STATE_MAX_DEPTH 8
#define STATE_F_OPTIONAL 1u /* a reader that does not know it may skip it */

/* ---- writing ---- */
struct state_out {
    uint8_t *buf;
    size_t len, cap;
    size_t open[STATE_MAX_DEPTH]; /* offsets of the open sections' headers */
    unsigned depth;
    int err;                      /* first failure (-ENOMEM, -EINVAL) */
};

void state_out_init(struct state_out *o);
void state_out_free(struct state_out *o);
/* The stream header; call once, first. */
void state_out_header(struct state_out *o);
void state_begin(struct state_out *o, const char *id, uint32_t version, uint32_t flags);
void state_end(struct state_out *o);
void state_put_u8(struct state_out *o, uint8_t v);
void state_put_u16(struct state_out *o, uint16_t v);
void state_put_u32(struct state_out *o, uint32_t v);
void state_put_u64(struct state_out *o, uint64_t v);
void state_put_bytes(struct state_out *o, const void *p, size_t n);
/* u32 length + bytes (no terminator); NULL is written as length 0xffffffff. */
void state_put_str(struct state_out *o, const char *s);
/* 0, or the first error; every section must have been ended. */
int state_out_status(const struct state_out *o) WARN_UNUSED;

/* ---- reading ---- */
struct state_in {
    const uint8_t *p;
    size_t len, off;
    const char *file;   /* names the source in messages */
    char where[64];     /* section path, e.g. "devices/virtio-mmio.0" */
    char *err;          /* message buffer shared by nested readers */
    size_t errlen;
    bool *failed;       /* shared latch: the first error wins */
    bool own_failed;
};

struct state_section {
    char id[STATE_ID_MAX + 1];
    uint32_t version, flags;
    struct state_in body; /* the payload, positioned at its start */
};

/* Check the stream header. 0 or -EINVAL with the message in err. */
int state_in_open(struct state_in *in, const void *buf, size_t len, const char *file,
                  char *err, size_t errlen) WARN_UNUSED;
/* A bare sequence of sections (no stream header): one frame of the
 * migration stream. */
void state_in_init(struct state_in *in, const void *buf, size_t len, const char *name,
                   char *err, size_t errlen);
/* The next section: 1 got one, 0 none left, -EINVAL malformed (message
 * set). The body shares the parent's error latch. */
int state_in_next(struct state_in *in, struct state_section *s) WARN_UNUSED;
/* The next section, which must be `id` (any version <= max_version). */
int state_in_expect(struct state_in *in, const char *id, uint32_t max_version,
                    struct state_section *s) WARN_UNUSED;
/* Skip optional subsections left in `in`; a mandatory unknown one or
 * loose bytes are an error. Call at the end of each section's loader. */
int state_in_finish(struct state_in *in) WARN_UNUSED;

uint8_t state_get_u8(struct state_in *in);
uint16_t state_get_u16(struct state_in *in);
uint32_t state_get_u32(struct state_in *in);
uint64_t state_get_u64(struct state_in *in);
void state_get_bytes(struct state_in *in, void *p, size_t n);
/* Into buf[cap] with a terminator; NULL marker -> *was_null (may be NULL). */
void state_get_str(struct state_in *in, char *buf, size_t cap, bool *was_null);
/* A field value is out of range: record "file: section: msg". Returns
 * -EINVAL for `return state_in_fail(...)`. */
int state_in_fail(struct state_in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0 while nothing failed, else -EINVAL. */
int state_in_status(const struct state_in *in) WARN_UNUSED;
size_t state_in_left(const struct state_in *in);

#endif
