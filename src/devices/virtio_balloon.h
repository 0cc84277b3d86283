/* virtio-balloon (virtio 1.2 section 5.5): the host asks the guest to give
 * back memory (a target in 4 KiB pages), the guest hands over page frame
 * numbers on the inflate queue and takes them back on the deflate queue;
 * the statistics queue carries the guest's memory figures, and with
 * VIRTIO_BALLOON_F_REPORTING the guest reports free pages on its own.
 * Pages given back are released to the host (gmem_discard: they read zero
 * when the guest touches them again, as the spec allows).
 *
 * Threads: queues run on the I/O thread under the device lock (as
 * virtio_mmio.h); the virtio_balloon_* calls below take that lock and may
 * be called from any thread (API handlers, the main loop). None blocks on
 * the guest. */
#ifndef CORRAL_DEVICES_VIRTIO_BALLOON_H
#define CORRAL_DEVICES_VIRTIO_BALLOON_H

#include "virtio/virtio_mmio.h"

/* Feature bits and statistics tags (<linux/virtio_balloon.h>). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_REPORTING 5

#define VIRTIO_BALLOON_PFN_SHIFT 12
#define VIRTIO_BALLOON_S_NR 16 /* tags 0..15 known to Linux 6.x */

struct virtio_balloon;

struct virtio_balloon_opts {
    bool deflate_on_oom;
    bool free_page_reporting;
    unsigned stats_interval_s;  /* 0: no statistics queue polling */
    uint32_t target_pages;      /* initial target (4 KiB pages) */
};

/* Statistics as last reported by the guest. */
struct virtio_balloon_stats {
    bool valid[VIRTIO_BALLOON_S_NR];
    uint64_t val[VIRTIO_BALLOON_S_NR];
    uint32_t target_pages, actual_pages;
    uint64_t updates;           /* stats buffers received */
    uint64_t inflated_pages, deflated_pages, reported_bytes; /* counters */
};

struct virtio_balloon *virtio_balloon_create(struct gmem *mem, struct iothread *io,
                                             struct irq_line irq,
                                             const struct virtio_balloon_opts *o);
void virtio_balloon_destroy(struct virtio_balloon *b);
struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b);

/* New target; -EINVAL when it exceeds guest RAM. */
int virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages) WARN_UNUSED;
/* 0 turns statistics polling off. */
void virtio_balloon_set_stats_interval(struct virtio_balloon *b, unsigned seconds);
unsigned virtio_balloon_stats_interval(struct virtio_balloon *b);
void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out);
/* Periodic work (main loop): ask the guest for fresh statistics when the
 * interval has passed. Returns ms until it is next needed. */
int virtio_balloon_poll(struct virtio_balloon *b);
/* Name of statistics tag `tag` in Firecracker's JSON, NULL if unknown. */
const char *virtio_balloon_stat_name(unsigned tag);


#endif
