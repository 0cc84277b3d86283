/* Split virtqueue, device side (virtio 1.2 section 2.7). Ring layout:
 *   descriptor table  16 bytes x num, 16-aligned: addr, len, flags, next
 *   available ring    flags u16, idx u16, ring[num] u16, used_event u16
 *   used ring         flags u16, idx u16, ring[num] {id u32, len u32},
 *                     avail_event u16
 * Ring fields are shared with running harts, so indices are read with
 * acquire and published with release ordering; descriptors are copied
 * out once before use so the guest cannot change one between check and
 * use. */
#include "virtio/virtqueue.h"

#include "state/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static inline uint16_t ld16_acquire(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline uint16_t ld16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static inline void st16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static inline void st16_release(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

static inline void st32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void virtq_init(struct virtq *q, struct gmem *mem)
{
    memset(q, 0, sizeof(*q));
    q->mem = mem;
}

void virtq_reset(struct virtq *q, uint32_t num_max)
{
    struct gmem *mem = q->mem;
    uint64_t req = atomic_load(&q->stats.requests);
    uint64_t rd = atomic_load(&q->stats.bytes_read);
    uint64_t wr = atomic_load(&q->stats.bytes_written);
    memset(q, 0, sizeof(*q));
    q->mem = mem;
    q->num = num_max;
    atomic_store(&q->stats.requests, req);
    atomic_store(&q->stats.bytes_read, rd);
    atomic_store(&q->stats.bytes_written, wr);
}

int virtq_enable(struct virtq *q, char *err, size_t errlen)
{
    uint32_t n = q->num;
    q->desc = q->avail = q->used = NULL;
    q->ready = false;
    if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
        return fail(err, errlen, "queue size %u is not a power of 2 up to %u", n,
                    VIRTQ_MAX_SIZE);
    if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
        return fail(err, errlen, "misaligned ring (desc 0x%llx, avail 0x%llx, used 0x%llx)",
                    (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
                    (unsigned long long)q->used_gpa);
    uint8_t *d = gmem_ptr(q->mem, q->desc_gpa, 16ULL * n);
    uint8_t *a = gmem_ptr(q->mem, q->avail_gpa, 6ULL + 2ULL * n);
    uint8_t *u = gmem_ptr(q->mem, q->used_gpa, 6ULL + 8ULL * n);
    if (!d || !a || !u)
        return fail(err, errlen, "ring outside guest RAM (desc 0x%llx, avail 0x%llx, used 0x%llx)",
                    (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
                    (unsigned long long)q->used_gpa);
    q->desc = d;
    q->avail = a;
    q->used = u;
    q->ready = true;
    return 0;
}

bool virtq_has_avail(struct virtq *q)
{
    return q->ready && q->avail && ld16_acquire(q->avail + 2) != q->last_avail;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c, char *err, size_t errlen)
{
    if (!q->ready || !q->avail)
        return 0;
    uint16_t avail_idx = ld16_acquire(q->avail + 2);
    if (avail_idx == q->last_avail) {
        if (!q->event_idx)
            return 0;
        /* Ask for a kick when the driver adds past what we consumed, then
         * look again: it may have added one before seeing avail_event. */
        st16(q->used + 4 + 8 * q->num, q->last_avail);
        gmem_host_wrote(q->mem, q->used_gpa + 4 + 8ULL * q->num, 2);
        atomic_thread_fence(memory_order_seq_cst);
        avail_idx = ld16_acquire(q->avail + 2);
        if (avail_idx == q->last_avail)
            return 0;
    }
    uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
    if (pending > q->num)
        return fail(err, errlen, "available index %u is %u entries ahead of %u (queue size %u)",
                    avail_idx, pending, q->last_avail, q->num);
    uint16_t head = ld16(q->avail + 4 + 2 * (q->last_avail % q->num));
    q->last_avail++;
    if (head >= q->num)
        return fail(err, errlen, "chain head %u beyond queue size %u", head, q->num);

    c->head = head;
    c->nout = c->nin = 0;
    c->out_len = c->in_len = 0;
    const uint8_t *table = q->desc;
    uint32_t tsize = q->num, count = 0;
    bool nested = false;
    uint16_t i = head;
    for (;;) {
        struct virtq_desc d;
        memcpy(&d, table + 16 * (size_t)i, sizeof(d));
        if (++count > tsize)
            return fail(err, errlen, "descriptor chain from %u loops or is longer than its "
                        "table (%u)", head, tsize);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!q->indirect)
                return fail(err, errlen, "indirect descriptor %u without VIRTIO_F_INDIRECT_DESC", i);
            if (nested)
                return fail(err, errlen, "indirect descriptor inside an indirect table");
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return fail(err, errlen, "descriptor %u has both INDIRECT and NEXT", i);
            if (d.len == 0 || (d.len & 15) || d.len / 16 > VIRTQ_MAX_CHAIN)
                return fail(err, errlen, "indirect table length %u is not 16..%u x 16 bytes",
                            d.len, VIRTQ_MAX_CHAIN);
            table = gmem_ptr(q->mem, d.addr, d.len);
            if (!table)
                return fail(err, errlen, "indirect table 0x%llx+%u outside guest RAM",
                            (unsigned long long)d.addr, d.len);
            tsize = d.len / 16;
            nested = true;
            count = 0;
            i = 0;
            continue;
        }
        if (d.len) {
            uint8_t *p = gmem_ptr(q->mem, d.addr, d.len);
            if (!p)
                return fail(err, errlen, "buffer 0x%llx+%u (descriptor %u) outside guest RAM",
                            (unsigned long long)d.addr, d.len, i);
            unsigned n = c->nout + c->nin;
            if (n >= VIRTQ_MAX_CHAIN)
                return fail(err, errlen, "chain longer than %u buffers", VIRTQ_MAX_CHAIN);
            c->seg[n] = (struct virtq_seg){ .host = p, .gpa = d.addr, .len = d.len };
            if (d.flags & VIRTQ_DESC_F_WRITE) {
                c->nin++;
                c->in_len += d.len;
            } else {
                if (c->nin)
                    return fail(err, errlen, "device-readable descriptor %u after a "
                                "device-writable one", i);
                c->nout++;
                c->out_len += d.len;
            }
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= tsize)
            return fail(err, errlen, "descriptor %u: next %u beyond table size %u", i, d.next,
                        tsize);
        i = d.next;
    }
    if (c->in_len > UINT32_MAX || c->out_len > UINT32_MAX)
        return fail(err, errlen, "chain from %u holds more than 4 GiB", head);
    return 1;
}

void virtq_unpop(struct virtq *q)
{
    q->last_avail--;
}

void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written)
{
    if (!q->ready || !q->used)
        return;
    uint8_t *e = q->used + 4 + 8 * (size_t)(q->used_idx % q->num);
    st32(e, c->head);
    st32(e + 4, written);
    q->used_idx++;
    st16_release(q->used + 2, q->used_idx);
    gmem_host_wrote(q->mem, q->used_gpa + (uint64_t)(e - q->used), 8);
    gmem_host_wrote(q->mem, q->used_gpa + 2, 2);
    atomic_fetch_add_explicit(&q->stats.requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->stats.bytes_read, c->out_len, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->stats.bytes_written, written, memory_order_relaxed);
}

bool virtq_need_notify(struct virtq *q)
{
    if (!q->ready || !q->avail)
        return false;
    /* The used index must be visible before we read the driver's wishes,
     * or both sides could miss each other. */
    atomic_thread_fence(memory_order_seq_cst);
    uint16_t old = q->signalled, now = q->used_idx;
    q->signalled = now;
    if (q->event_idx) {
        uint16_t ev = ld16(q->avail + 4 + 2 * q->num);
        return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
    }
    return !(ld16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
    uint8_t *out = buf;
    size_t done = 0;
    for (unsigned k = 0; k < c->nout && done < len; k++) {
        const struct virtq_seg *s = &c->seg[k];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t n = s->len - off;
        if (n > len - done)
            n = len - done;
        memcpy(out + done, s->host + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t virtq_chain_write(struct gmem *mem, const struct virtq_chain *c, size_t off,
                         const void *buf, size_t len)
{
    const uint8_t *in = buf;
    size_t done = 0;
    for (unsigned k = c->nout; k < c->nout + c->nin && done < len; k++) {
        const struct virtq_seg *s = &c->seg[k];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t n = s->len - off;
        if (n > len - done)
            n = len - done;
        memcpy(s->host + off, in + done, n);
        gmem_host_wrote(mem, s->gpa + off, n);
        done += n;
        off = 0;
    }
    return done;
}

void virtq_save(const struct virtq *q, struct virtq_state *out)
{
    memset(out, 0, sizeof(*out));
    out->num = q->num;
    out->ready = q->ready;
    out->desc = q->desc_gpa;
    out->avail = q->avail_gpa;
    out->used = q->used_gpa;
    out->last_avail = q->last_avail;
    out->used_idx = q->used_idx;
    out->signalled = q->signalled;
}

int virtq_load(struct virtq *q, const struct virtq_state *in)
{
    q->num = in->num;
    q->desc_gpa = in->desc;
    q->avail_gpa = in->avail;
    q->used_gpa = in->used;
    q->last_avail = in->last_avail;
    q->used_idx = in->used_idx;
    q->signalled = in->signalled;
    q->ready = false;
    q->desc = q->avail = q->used = NULL;
    if (in->ready)
        return virtq_enable(q, NULL, 0);
    return 0;
}

void virtq_save_state(const struct virtq_state *s, struct state_out *o)
{
    state_put_u32(o, s->num);
    state_put_u32(o, s->ready);
    state_put_u64(o, s->desc);
    state_put_u64(o, s->avail);
    state_put_u64(o, s->used);
    state_put_u16(o, s->last_avail);
    state_put_u16(o, s->used_idx);
    state_put_u16(o, s->signalled);
}

void virtq_load_state(struct virtq_state *s, struct state_in *in)
{
    s->num = state_get_u32(in);
    s->ready = state_get_u32(in);
    s->desc = state_get_u64(in);
    s->avail = state_get_u64(in);
    s->used = state_get_u64(in);
    s->last_avail = state_get_u16(in);
    s->used_idx = state_get_u16(in);
    s->signalled = state_get_u16(in);
}
