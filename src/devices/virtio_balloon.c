/* virtio-balloon (virtio 1.2 section 5.5). Device ID 5.
 *
 * Queues, in the order the driver finds them (a queue whose feature was
 * not negotiated takes no index): inflate, deflate, stats (STATS_VQ),
 * reporting (REPORTING). FREE_PAGE_HINT and PAGE_POISON are not offered,
 * so a released page may read zero when the guest takes it back.
 *
 * Inflate: every PFN is checked against guest RAM (a bad one is skipped
 * and counted, never trusted) and its page is released to the host.
 * Deflate: nothing to do; the page faults back in, zeroed.
 * Stats: the driver keeps one buffer queued; we read it, hold it, and give
 * it back (used, length 0) when we want fresh figures.
 * Reporting: device-writable segments name free ranges; each is released
 * and the chain returned with length 0. */
#include "devices/virtio_balloon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/vclock.h"
#include "state/state.h"

#define BALLOON_DEVICE_ID 5
#define BALLOON_CONFIG_LEN 16 /* num_pages, actual, free_page_hint_cmd_id, poison_val */
#define STAT_ENTRY 10         /* le16 tag + le64 val, packed */

enum bq { BQ_INFLATE, BQ_DEFLATE, BQ_STATS, BQ_REPORT, BQ_NONE };
#define balloon_ops_nqueues 4

struct virtio_balloon {
    struct virtio_dev vdev; /* first */
    struct virtq_chain chain;
    unsigned stats_interval_s;
    bool stats_held;         /* the driver's stats buffer is with us */
    uint16_t stats_head;
    int64_t stats_next_ns;   /* host time of the next request; 0: asap */
    struct virtio_balloon_stats st;
    uint64_t bad_pfns;
};

static const char *const stat_names[VIRTIO_BALLOON_S_NR] = {
    "swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
    "total_memory", "available_memory", "disk_caches", "hugetlb_allocations",
    "hugetlb_failures", "oom_kills", "alloc_stalls", "async_scans", "direct_scans",
    "async_reclaims", "direct_reclaims",
};

const char *virtio_balloon_stat_name(unsigned tag)
{
    return tag < VIRTIO_BALLOON_S_NR ? stat_names[tag] : NULL;
}

static bool has(const struct virtio_dev *d, unsigned bit)
{
    return (d->driver_features >> bit) & 1;
}

/* Which queue index `qi` is, given what the driver negotiated. */
static enum bq queue_role(const struct virtio_dev *d, unsigned qi)
{
    if (qi == 0)
        return BQ_INFLATE;
    if (qi == 1)
        return BQ_DEFLATE;
    unsigned next = 2;
    if (has(d, VIRTIO_BALLOON_F_STATS_VQ)) {
        if (qi == next)
            return BQ_STATS;
        next++;
    }
    if (has(d, VIRTIO_BALLOON_F_REPORTING) && qi == next)
        return BQ_REPORT;
    return BQ_NONE;
}

static uint32_t cfg32(const struct virtio_dev *d, unsigned off)
{
    uint32_t v;
    memcpy(&v, d->config + off, 4);
    return v;
}

static void inflate_chain(struct virtio_balloon *b, const struct virtq_chain *c)
{
    struct virtio_dev *d = &b->vdev;
    /* Runs of consecutive PFNs are released with one call. */
    gpa_t run_start = 0;
    uint64_t run_len = 0;
    for (unsigned i = 0; i < c->nout; i++) {
        const uint8_t *p = c->seg[i].host;
        for (uint32_t k = 0; k + 4 <= c->seg[i].len; k += 4) {
            uint32_t pfn;
            memcpy(&pfn, p + k, 4);
            gpa_t gpa = (gpa_t)pfn << VIRTIO_BALLOON_PFN_SHIFT;
            if (!gmem_contains(d->mem, gpa, GMEM_PAGE_SIZE)) {
                if (b->bad_pfns++ == 0)
                    log_warn("%s: inflate: PFN 0x%x is outside guest RAM (ignored)",
                             d->name, pfn);
                continue;
            }
            b->st.inflated_pages++;
            if (run_len && gpa == run_start + run_len) {
                run_len += GMEM_PAGE_SIZE;
                continue;
            }
            if (run_len && gmem_discard(d->mem, run_start, run_len))
                log_warn("%s: cannot release guest pages", d->name);
            run_start = gpa;
            run_len = GMEM_PAGE_SIZE;
        }
    }
    if (run_len && gmem_discard(d->mem, run_start, run_len))
        log_warn("%s: cannot release guest pages", d->name);
}

static void deflate_chain(struct virtio_balloon *b, const struct virtq_chain *c)
{
    /* The driver owns the pages again; they fault back in on touch. */
    b->st.deflated_pages += c->out_len / 4;
}

static void report_chain(struct virtio_balloon *b, const struct virtq_chain *c)
{
    struct virtio_dev *d = &b->vdev;
    /* virtq_pop checked every segment lies in RAM. */
    for (unsigned i = c->nout; i < c->nout + c->nin; i++) {
        if (gmem_discard(d->mem, c->seg[i].gpa, c->seg[i].len))
            log_warn("%s: cannot release reported pages", d->name);
        b->st.reported_bytes += c->seg[i].len;
    }
}

static void stats_chain(struct virtio_balloon *b, const struct virtq_chain *c)
{
    uint8_t e[STAT_ENTRY];
    for (size_t off = 0; off + STAT_ENTRY <= c->out_len; off += STAT_ENTRY) {
        if (virtq_chain_read(c, off, e, sizeof(e)) != sizeof(e))
            break;
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, e, 2);
        memcpy(&val, e + 2, 8);
        if (tag < VIRTIO_BALLOON_S_NR) { /* unknown tags: a newer driver */
            b->st.valid[tag] = true;
            b->st.val[tag] = val;
        }
    }
    b->st.updates++;
}

static void balloon_queue_notify(struct virtio_dev *d, unsigned qi)
{
    struct virtio_balloon *b = (struct virtio_balloon *)d;
    struct virtq *q = &d->vq[qi];
    enum bq role = queue_role(d, qi);
    char why[200];
    bool pushed = false;
    if (role == BQ_NONE)
        return;
    for (;;) {
        if (role == BQ_STATS && b->stats_held)
            break; /* one buffer at a time; a second waits in the ring */
        int k = virtq_pop(q, &b->chain, why, sizeof(why));
        if (k == 0)
            break;
        if (k < 0) {
            virtio_mmio_queue_error_locked(d, qi, why);
            return;
        }
        const struct virtq_chain *c = &b->chain;
        switch (role) {
        case BQ_INFLATE: inflate_chain(b, c); break;
        case BQ_DEFLATE: deflate_chain(b, c); break;
        case BQ_REPORT: report_chain(b, c); break;
        case BQ_STATS:
            stats_chain(b, c);
            b->stats_held = true;
            b->stats_head = c->head;
            b->stats_next_ns = vclock_host_now_ns() +
                               (int64_t)b->stats_interval_s * 1000000000LL;
            continue;
        case BQ_NONE: break;
        }
        virtq_push(q, c, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used_locked(d, qi);
}

static void balloon_config_write(struct virtio_dev *d, uint32_t off, const void *buf,
                                 unsigned len)
{
    /* Only `actual` (offset 4) is the driver's to write. */
    if (off >= 4 && off + len <= 8)
        memcpy(d->config + off, buf, len);
}

static void balloon_reset(struct virtio_dev *d)
{
    struct virtio_balloon *b = (struct virtio_balloon *)d;
    b->stats_held = false;
    memset(d->config + 4, 0, 4); /* actual: the driver starts from nothing */
}

/* Linux queues its first statistics buffer (and may notify) before it
 * sets DRIVER_OK, when notifications are not processed yet: look at every
 * queue once the driver is ready. */
static void balloon_driver_ok(struct virtio_dev *d)
{
    for (unsigned qi = 0; qi < balloon_ops_nqueues; qi++)
        if (virtio_mmio_queue_live_locked(d, qi))
            balloon_queue_notify(d, qi);
}

/* ---- saved state (virtio_mmio_save_state calls these after the
 * transport): u32 num_pages, u32 actual, u32 stats_interval_s,
 * u8 stats_held, u16 stats_head, u64 updates, inflated_pages,
 * deflated_pages, reported_bytes, bad_pfns, u32 ntags, per tag
 * {u8 valid, u64 value}. */
#define MAX_STATS_INTERVAL_S 3600

static void balloon_save_state(struct virtio_dev *d, struct state_out *o)
{
    struct virtio_balloon *b = (struct virtio_balloon *)d;
    state_put_u32(o, cfg32(d, 0));
    state_put_u32(o, cfg32(d, 4));
    state_put_u32(o, b->stats_interval_s);
    state_put_u8(o, b->stats_held);
    state_put_u16(o, b->stats_head);
    state_put_u64(o, b->st.updates);
    state_put_u64(o, b->st.inflated_pages);
    state_put_u64(o, b->st.deflated_pages);
    state_put_u64(o, b->st.reported_bytes);
    state_put_u64(o, b->bad_pfns);
    state_put_u32(o, VIRTIO_BALLOON_S_NR);
    for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++) {
        state_put_u8(o, b->st.valid[t]);
        state_put_u64(o, b->st.val[t]);
    }
}

static int balloon_load_state(struct virtio_dev *d, struct state_in *in, uint32_t version)
{
    struct virtio_balloon *b = (struct virtio_balloon *)d;
    uint32_t target = state_get_u32(in), actual = state_get_u32(in);
    uint32_t interval = state_get_u32(in);
    bool held = state_get_u8(in) != 0;
    uint16_t head = state_get_u16(in);
    struct virtio_balloon_stats st = { .updates = state_get_u64(in) };
    st.inflated_pages = state_get_u64(in);
    st.deflated_pages = state_get_u64(in);
    st.reported_bytes = state_get_u64(in);
    uint64_t bad = state_get_u64(in);
    uint32_t ntags = state_get_u32(in);
    if (state_in_status(in))
        return -EINVAL;
    if (ntags > 64)
        return state_in_fail(in, "%u statistics tags", ntags);
    for (uint32_t t = 0; t < ntags; t++) {
        bool valid = state_get_u8(in) != 0;
        uint64_t v = state_get_u64(in);
        if (t < VIRTIO_BALLOON_S_NR) { /* tags this Corral does not know: dropped */
            st.valid[t] = valid;
            st.val[t] = v;
        }
    }
    if (state_in_status(in))
        return -EINVAL;
    uint64_t ram_pages = d->mem->size >> VIRTIO_BALLOON_PFN_SHIFT;
    if (target > ram_pages || actual > ram_pages)
        return state_in_fail(in, "balloon of %u/%u pages in %llu pages of RAM", target, actual,
                             (unsigned long long)ram_pages);
    if (interval > MAX_STATS_INTERVAL_S)
        return state_in_fail(in, "statistics interval %u s", interval);
    /* A held statistics buffer is a chain the driver made available on
     * the statistics queue: its head must be a descriptor of that queue. */
    if (held && (!has(d, VIRTIO_BALLOON_F_STATS_VQ) || !virtio_mmio_queue_live_locked(d, 2) ||
                 head >= d->vq[2].num))
        return state_in_fail(in, "held statistics buffer %u outside the queue", head);
    memcpy(d->config, &target, 4);
    memcpy(d->config + 4, &actual, 4);
    b->stats_interval_s = interval;
    b->stats_held = held;
    b->stats_head = head;
    b->stats_next_ns = 0; /* ask for fresh statistics soon */
    b->st = st;
    b->bad_pfns = bad;
    return 0;
}

static const struct virtio_dev_ops balloon_ops = {
    .name = "virtio-balloon",
    .device_id = BALLOON_DEVICE_ID,
    .nqueues = balloon_ops_nqueues,
    .queue_notify = balloon_queue_notify,
    .reset = balloon_reset,
    .config_write = balloon_config_write,
    .driver_ok = balloon_driver_ok,
    .save_state = balloon_save_state,
    .load_state = balloon_load_state,
};

struct virtio_balloon *virtio_balloon_create(struct gmem *mem, struct iothread *io,
                                             struct irq_line irq,
                                             const struct virtio_balloon_opts *o)
{
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    uint64_t features = (1ULL << VIRTIO_BALLOON_F_STATS_VQ);
    if (o->deflate_on_oom)
        features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    if (o->free_page_reporting)
        features |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
    if (virtio_mmio_init(&b->vdev, &balloon_ops, features, mem, io, irq, BALLOON_CONFIG_LEN)) {
        free(b);
        return NULL;
    }
    b->stats_interval_s = o->stats_interval_s;
    uint32_t t = o->target_pages;
    if ((uint64_t)t > mem->size >> VIRTIO_BALLOON_PFN_SHIFT)
        t = (uint32_t)(mem->size >> VIRTIO_BALLOON_PFN_SHIFT);
    memcpy(b->vdev.config, &t, 4);
    return b;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
    if (!b)
        return;
    virtio_mmio_destroy(&b->vdev);
    free(b);
}

struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b)
{
    return &b->vdev;
}

int virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages)
{
    struct virtio_dev *d = &b->vdev;
    if ((uint64_t)pages > d->mem->size >> VIRTIO_BALLOON_PFN_SHIFT)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    if (cfg32(d, 0) != pages) {
        memcpy(d->config, &pages, 4);
        virtio_mmio_config_changed_locked(d);
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

void virtio_balloon_set_stats_interval(struct virtio_balloon *b, unsigned seconds)
{
    pthread_mutex_lock(&b->vdev.lock);
    b->stats_interval_s = seconds;
    b->stats_next_ns = 0; /* the next poll asks at once */
    pthread_mutex_unlock(&b->vdev.lock);
}

unsigned virtio_balloon_stats_interval(struct virtio_balloon *b)
{
    pthread_mutex_lock(&b->vdev.lock);
    unsigned s = b->stats_interval_s;
    pthread_mutex_unlock(&b->vdev.lock);
    return s;
}

void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out)
{
    struct virtio_dev *d = &b->vdev;
    pthread_mutex_lock(&d->lock);
    *out = b->st;
    out->target_pages = cfg32(d, 0);
    out->actual_pages = cfg32(d, 4);
    pthread_mutex_unlock(&d->lock);
}

int virtio_balloon_poll(struct virtio_balloon *b)
{
    struct virtio_dev *d = &b->vdev;
    int next_ms = 1000;
    pthread_mutex_lock(&d->lock);
    if (b->stats_interval_s && b->stats_held) {
        int64_t now = vclock_host_now_ns();
        unsigned qi = 2; /* stats is always index 2 when negotiated */
        if (now >= b->stats_next_ns && has(d, VIRTIO_BALLOON_F_STATS_VQ) &&
            virtio_mmio_queue_live_locked(d, qi)) {
            struct virtq_chain *c = &b->chain;
            c->head = b->stats_head;
            c->nout = c->nin = 0;
            c->out_len = c->in_len = 0;
            b->stats_held = false;
            virtq_push(&d->vq[qi], c, 0);
            virtio_mmio_used_locked(d, qi);
        } else if (b->stats_next_ns > now) {
            int64_t ms = (b->stats_next_ns - now) / 1000000 + 1;
            if (ms < next_ms)
                next_ms = (int)ms;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return next_ms;
}
