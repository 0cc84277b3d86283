/* virtio-balloon through its virtio-mmio registers, with no CPU: the test
 * is the driver. Covers feature offer, target/actual in config space,
 * inflate (pages read zero afterwards; PFNs outside RAM ignored), the
 * statistics queue (held buffer, parsed tags, given back on poll), free
 * page reporting (ranges released) and a malformed chain (NEEDS_RESET). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/virtio_balloon.h"
#include "mem/bus.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (4 * 1024 * 1024)
#define MMIO 0x10001000ULL
#define QN 16
#define RING(q) (RAM_BASE + 0x10000 * (uint64_t)(q) + 0x1000) /* desc, +0x1000 avail, +0x2000 used */
#define BUF (RAM_BASE + 0x100000)
#define VICTIM (RAM_BASE + 0x200000)

static struct bus bus;
static struct iothread *io;
static struct virtio_balloon *bal;
static bool irq_level;

static void fake_irq(void *opaque, unsigned line, bool level)
{
    irq_level = level;
}

static uint32_t rd(uint64_t off)
{
    uint64_t v;
    assert_int_equal(bus_read(&bus, MMIO + off, 4, &v), 0);
    return (uint32_t)v;
}

static void wr(uint64_t off, uint32_t v)
{
    assert_int_equal(bus_write(&bus, MMIO + off, 4, v), 0);
}

static void *gp(gpa_t a)
{
    return gmem_ptr(&bus.ram, a, 1);
}

static void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags)
{
    struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = 0 };
    memcpy(gp(RING(q) + 16ULL * i), &d, sizeof(d));
}

static uint16_t used_idx(unsigned q)
{
    return __atomic_load_n((uint16_t *)gp(RING(q) + 0x2000 + 2), __ATOMIC_ACQUIRE);
}

static void setup_queue(unsigned q)
{
    uint64_t desc = RING(q), avail = desc + 0x1000, used = desc + 0x2000;
    wr(0x030, q);
    assert_true(rd(0x034) >= QN);
    wr(0x038, QN);
    wr(0x080, (uint32_t)desc);
    wr(0x084, (uint32_t)(desc >> 32));
    wr(0x090, (uint32_t)avail);
    wr(0x094, (uint32_t)(avail >> 32));
    wr(0x0a0, (uint32_t)used);
    wr(0x0a4, (uint32_t)(used >> 32));
    memset(gp(avail), 0, 6 + 2 * QN);
    memset(gp(used), 0, 6 + 8 * QN);
    wr(0x044, 1);
}

/* Negotiate `want` (device bits, low word) and set up queues 0..3. */
static void driver_init(uint32_t want)
{
    wr(0x070, 0);
    assert_int_equal(rd(0x000), 0x74726976);
    assert_int_equal(rd(0x008), 5); /* balloon */
    wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(0x024, 0);
    wr(0x020, want);
    wr(0x024, 1);
    wr(0x020, 1); /* VERSION_1 */
    wr(0x070, 0x3 | VIRTIO_STATUS_FEATURES_OK);
    assert_true(rd(0x070) & VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 4; q++)
        setup_queue(q);
    wr(0x070, 0xf);
    assert_int_equal(rd(0x070), 0xf);
}

static void wait_used(unsigned q, uint16_t want)
{
    for (int i = 0; i < 4000; i++) {
        if (used_idx(q) == want)
            return;
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
    fail_msg("queue %u: used idx %u, want %u", q, used_idx(q), want);
}

/* Offer head 0 on queue q and notify. */
static void offer(unsigned q)
{
    uint16_t *aidx = gp(RING(q) + 0x1000 + 2);
    uint16_t *ring = gp(RING(q) + 0x1000 + 4);
    ring[*aidx % QN] = 0;
    __atomic_store_n(aidx, (uint16_t)(*aidx + 1), __ATOMIC_RELEASE);
    wr(0x050, q);
}

static void create(bool oom, bool report)
{
    struct virtio_balloon_opts o = {
        .deflate_on_oom = oom, .free_page_reporting = report, .stats_interval_s = 1,
        .target_pages = 16,
    };
    struct irq_line irq = { .set = fake_irq, .line = 1 };
    bal = virtio_balloon_create(&bus.ram, io, irq, &o);
    assert_non_null(bal);
    assert_int_equal(virtio_mmio_attach(virtio_balloon_dev(bal), &bus, MMIO), 0);
    assert_int_equal(iothread_start(io), 0);
}

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(gmem_init(&bus.ram, RAM_BASE, RAM_SIZE), 0);
    assert_int_equal(iothread_create(&io), 0);
    return 0;
}

static int teardown(void **state)
{
    iothread_stop(io);
    virtio_balloon_destroy(bal);
    bal = NULL;
    iothread_destroy(io);
    gmem_destroy(&bus.ram);
    return 0;
}

static void test_features_and_config(void **state)
{
    create(true, true);
    wr(0x014, 0);
    uint32_t f = rd(0x010);
    assert_true(f & (1u << VIRTIO_BALLOON_F_STATS_VQ));
    assert_true(f & (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    assert_true(f & (1u << VIRTIO_BALLOON_F_REPORTING));
    assert_false(f & (1u << VIRTIO_BALLOON_F_FREE_PAGE_HINT));
    assert_int_equal(rd(0x100), 16); /* initial target */
    driver_init(f);
    /* A target beyond RAM is refused; a good one raises a config interrupt. */
    assert_int_equal(virtio_balloon_set_target(bal, RAM_SIZE / 4096 + 1), -EINVAL);
    uint32_t gen = rd(0x0fc);
    assert_int_equal(virtio_balloon_set_target(bal, 100), 0);
    assert_int_equal(rd(0x100), 100);
    assert_true(rd(0x060) & VIRTIO_INT_CONFIG);
    assert_int_not_equal(rd(0x0fc), gen);
    /* The driver reports `actual`; it cannot write the target. */
    wr(0x104, 42);
    wr(0x100, 7);
    assert_int_equal(rd(0x100), 100);
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(bal, &st);
    assert_int_equal(st.actual_pages, 42);
    assert_int_equal(st.target_pages, 100);
}

static void test_inflate_releases(void **state)
{
    create(false, false);
    driver_init(1u << VIRTIO_BALLOON_F_STATS_VQ);
    memset(gp(VICTIM), 0xaa, 2 * 4096);
    uint32_t pfns[4] = {
        (uint32_t)(VICTIM >> 12), (uint32_t)((VICTIM >> 12) + 1),
        0x12345,                          /* below RAM: ignored */
        (uint32_t)((RAM_BASE + RAM_SIZE) >> 12), /* just past RAM: ignored */
    };
    memcpy(gp(BUF), pfns, sizeof(pfns));
    set_desc(0, 0, BUF, sizeof(pfns), 0);
    offer(0);
    wait_used(0, 1);
    const uint8_t *p = gp(VICTIM);
    for (unsigned i = 0; i < 2 * 4096; i++)
        assert_int_equal(p[i], 0);
    assert_int_equal(((uint8_t *)gp(VICTIM + 2 * 4096))[0], 0); /* untouched page */
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(bal, &st);
    assert_int_equal(st.inflated_pages, 2);
    /* Deflate: the chain comes back, pages stay usable. */
    memcpy(gp(RING(1) + 0x3000), pfns, 8);
    set_desc(1, 0, RING(1) + 0x3000, 8, 0);
    offer(1);
    wait_used(1, 1);
    virtio_balloon_get_stats(bal, &st);
    assert_int_equal(st.deflated_pages, 2);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
    memcpy(p, &tag, 2);
    memcpy(p + 2, &val, 8);
}

static void test_stats_queue(void **state)
{
    create(false, false);
    driver_init(1u << VIRTIO_BALLOON_F_STATS_VQ);
    uint8_t *b = gp(BUF);
    put_stat(b, 4, 1234);      /* free_memory */
    put_stat(b + 10, 5, 5678); /* total_memory */
    put_stat(b + 20, 99, 1);   /* unknown: skipped */
    set_desc(2, 0, BUF, 30, 0);
    offer(2);
    struct virtio_balloon_stats st;
    for (int i = 0; i < 4000; i++) {
        virtio_balloon_get_stats(bal, &st);
        if (st.updates)
            break;
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
    assert_int_equal(st.updates, 1);
    assert_true(st.valid[4] && st.valid[5]);
    assert_int_equal(st.val[4], 1234);
    assert_int_equal(st.val[5], 5678);
    assert_false(st.valid[0]);
    assert_string_equal(virtio_balloon_stat_name(4), "free_memory");
    assert_null(virtio_balloon_stat_name(99));
    /* The device holds the buffer until it wants fresh figures. */
    assert_int_equal(used_idx(2), 0);
    virtio_balloon_set_stats_interval(bal, 1);
    virtio_balloon_poll(bal);
    assert_int_equal(used_idx(2), 1);
    /* Polling off: the next buffer is held for good. */
    virtio_balloon_set_stats_interval(bal, 0);
    offer(2);
    wait_used(2, 1);
    assert_true(virtio_balloon_poll(bal) > 0);
    assert_int_equal(used_idx(2), 1);
}

/* Linux queues its first stats buffer before DRIVER_OK. */
static void test_stats_before_driver_ok(void **state)
{
    create(false, false);
    driver_init(1u << VIRTIO_BALLOON_F_STATS_VQ);
    wr(0x070, 0);
    wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(0x024, 0);
    wr(0x020, 1u << VIRTIO_BALLOON_F_STATS_VQ);
    wr(0x024, 1);
    wr(0x020, 1);
    wr(0x070, 0x3 | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 4; q++)
        setup_queue(q);
    put_stat(gp(BUF), 5, 4242);
    set_desc(2, 0, BUF, 10, 0);
    offer(2);
    struct timespec ts = { 0, 20000000 };
    nanosleep(&ts, NULL); /* the I/O thread sees the notify, not live yet */
    wr(0x070, 0xf);
    struct virtio_balloon_stats st;
    for (int i = 0; i < 4000; i++) {
        virtio_balloon_get_stats(bal, &st);
        if (st.updates)
            break;
        struct timespec t2 = { 0, 500000 };
        nanosleep(&t2, NULL);
    }
    assert_int_equal(st.updates, 1);
    assert_int_equal(st.val[5], 4242);
}

static void test_reporting(void **state)
{
    create(false, true);
    /* Without STATS_VQ the reporting queue is index 2. */
    driver_init(1u << VIRTIO_BALLOON_F_REPORTING);
    memset(gp(VICTIM), 0x55, 8192);
    set_desc(2, 0, VICTIM, 8192, VIRTQ_DESC_F_WRITE);
    offer(2);
    wait_used(2, 1);
    const uint8_t *p = gp(VICTIM);
    for (unsigned i = 0; i < 8192; i++)
        assert_int_equal(p[i], 0);
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(bal, &st);
    assert_int_equal(st.reported_bytes, 8192);
}

static void test_malformed_chain(void **state)
{
    create(false, false);
    driver_init(1u << VIRTIO_BALLOON_F_STATS_VQ);
    set_desc(0, 0, RAM_BASE + RAM_SIZE - 8, 64, 0); /* runs past RAM */
    offer(0);
    for (int i = 0; i < 4000 && !(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET); i++) {
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
    assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(used_idx(0), 0);
    /* A reset brings it back. */
    driver_init(1u << VIRTIO_BALLOON_F_STATS_VQ);
    assert_false(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_discard_bounds(void **state)
{
    assert_int_equal(gmem_discard(&bus.ram, RAM_BASE - 4096, 4096), -EINVAL);
    assert_int_equal(gmem_discard(&bus.ram, RAM_BASE + RAM_SIZE - 4096, 8192), -EINVAL);
    memset(gp(RAM_BASE), 1, 3 * 4096);
    /* Only whole pages inside the range go. */
    assert_int_equal(gmem_discard(&bus.ram, RAM_BASE + 100, 2 * 4096), 0);
    assert_int_equal(((uint8_t *)gp(RAM_BASE))[0], 1);
    assert_int_equal(((uint8_t *)gp(RAM_BASE + 4096))[0], 0);
    assert_int_equal(((uint8_t *)gp(RAM_BASE + 2 * 4096))[0], 1);
    bal = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflate_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_before_driver_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reporting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
