/* virtio-blk through its virtio-mmio registers, with no CPU: the test is
 * the driver. Requests run on a real I/O thread against a temporary raw
 * image. Covers feature negotiation, read/write/flush/get-id/discard/
 * write-zeroes, readonly, bad requests (IOERR/UNSUPP) and malformed
 * chains (NEEDS_RESET, then a reset brings the device back), and the
 * rate limiter (a held request waits in the ring; a new limit frees it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio_blk.h"
#include "mem/bus.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (4 * 1024 * 1024)
#define MMIO 0x10001000ULL
#define QN 16
#define DESC (RAM_BASE + 0x1000)
#define AVAIL (RAM_BASE + 0x2000)
#define USED (RAM_BASE + 0x3000)
#define HDR (RAM_BASE + 0x4000)
#define DATA (RAM_BASE + 0x10000)
#define STATUS (RAM_BASE + 0x5000)
#define DISK_SECTORS 2048

static struct bus bus;
static struct iothread *io;
static struct virtio_blk *blk;
static char path[64];
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

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
    memcpy(gp(DESC + 16ULL * i), &d, sizeof(d));
}

static uint16_t used_idx(void)
{
    return __atomic_load_n((uint16_t *)gp(USED + 2), __ATOMIC_ACQUIRE);
}

static void driver_init(bool readonly_expected)
{
    wr(0x070, 0);
    assert_int_equal(rd(0x000), 0x74726976);
    assert_int_equal(rd(0x004), 2);
    assert_int_equal(rd(0x008), 2);
    wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(0x014, 0);
    uint32_t f0 = rd(0x010);
    assert_int_equal(!!(f0 & (1u << 5)), readonly_expected);
    wr(0x014, 1);
    assert_true(rd(0x010) & 1); /* VERSION_1 */
    /* Without VERSION_1 FEATURES_OK must not stick. */
    wr(0x024, 0);
    wr(0x020, 1u << 9);
    wr(0x024, 1);
    wr(0x020, 0);
    wr(0x070, 0x3 | VIRTIO_STATUS_FEATURES_OK);
    assert_false(rd(0x070) & VIRTIO_STATUS_FEATURES_OK);
    wr(0x020, 1); /* VERSION_1 */
    wr(0x070, 0x3 | VIRTIO_STATUS_FEATURES_OK);
    assert_true(rd(0x070) & VIRTIO_STATUS_FEATURES_OK);
    wr(0x030, 0);
    assert_true(rd(0x034) >= QN);
    wr(0x038, QN);
    wr(0x080, (uint32_t)DESC);
    wr(0x084, (uint32_t)(DESC >> 32));
    wr(0x090, (uint32_t)AVAIL);
    wr(0x094, (uint32_t)(AVAIL >> 32));
    wr(0x0a0, (uint32_t)USED);
    wr(0x0a4, (uint32_t)(USED >> 32));
    memset(gp(AVAIL), 0, 6 + 2 * QN);
    memset(gp(USED), 0, 6 + 8 * QN);
    wr(0x044, 1);
    wr(0x070, 0xf & ~0u);
    assert_int_equal(rd(0x070), 0xf);
}

/* Offer head 0 and notify. */
static void offer(void)
{
    uint16_t *aidx = gp(AVAIL + 2);
    uint16_t *ring = gp(AVAIL + 4);
    ring[*aidx % QN] = 0;
    __atomic_store_n(aidx, (uint16_t)(*aidx + 1), __ATOMIC_RELEASE);
    wr(0x050, 0);
}

/* Offer head 0 and wait for the device: true when it used the chain,
 * false when it set NEEDS_RESET instead. */
static bool kick(void)
{
    uint16_t before = used_idx();
    offer();
    for (int i = 0; i < 4000; i++) {
        if (used_idx() != before)
            return true;
        if (rd(0x070) & VIRTIO_STATUS_NEEDS_RESET)
            return false;
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
    fail_msg("device did not answer");
    return false;
}

/* type, sector, data buffer of len bytes (device-writable when `in`). */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t len, bool in)
{
    struct { uint32_t type, rsv; uint64_t sector; } h = { type, 0, sector };
    memcpy(gp(HDR), &h, sizeof(h));
    *(uint8_t *)gp(STATUS) = 0xee;
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, len ? 1 : 2);
    set_desc(1, DATA, len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0), 2);
    set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    assert_true(kick());
    return *(uint8_t *)gp(STATUS);
}

static void open_device(bool readonly)
{
    struct blk_backend *be;
    char err[256];
    assert_int_equal(blk_open(path, "raw", readonly, &be, err, sizeof(err)), 0);
    struct irq_line irq = { .set = fake_irq, .line = 1 };
    blk = virtio_blk_create(be, "test-serial", &bus.ram, io, irq);
    assert_non_null(blk);
    assert_int_equal(virtio_mmio_attach(virtio_blk_dev(blk), &bus, MMIO), 0);
    assert_int_equal(iothread_start(io), 0);
}

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(gmem_init(&bus.ram, RAM_BASE, RAM_SIZE), 0);
    snprintf(path, sizeof(path), "/tmp/corral-test-blk-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t sec[512];
    for (int s = 0; s < DISK_SECTORS; s++) {
        memset(sec, s & 0xff, sizeof(sec));
        assert_int_equal(write(fd, sec, sizeof(sec)), (ssize_t)sizeof(sec));
    }
    close(fd);
    assert_int_equal(iothread_create(&io), 0);
    return 0;
}

static int teardown(void **state)
{
    iothread_stop(io);
    virtio_blk_destroy(blk);
    blk = NULL;
    iothread_destroy(io);
    unlink(path);
    gmem_destroy(&bus.ram);
    return 0;
}

static void test_config(void **state)
{
    open_device(false);
    uint64_t cap;
    assert_int_equal(bus_read(&bus, MMIO + 0x100, 8, &cap), 0);
    assert_int_equal(cap, DISK_SECTORS);
    uint64_t bs;
    assert_int_equal(bus_read(&bus, MMIO + 0x100 + 20, 4, &bs), 0);
    assert_int_equal(bs, 512);
}

static void test_read_write_flush_id(void **state)
{
    open_device(false);
    driver_init(false);
    assert_int_equal(request(0, 7, 1024, true), 0);
    assert_int_equal(((uint8_t *)gp(DATA))[0], 7);
    assert_int_equal(((uint8_t *)gp(DATA))[1023], 8);
    assert_int_equal(((uint32_t *)gp(USED + 4))[1], 1025); /* data + status */
    assert_true(irq_level);
    wr(0x064, rd(0x060));
    assert_false(irq_level);

    memset(gp(DATA), 0xab, 512);
    assert_int_equal(request(1, 100, 512, false), 0);
    assert_int_equal(request(4, 0, 0, false), 0);
    int fd = open(path, O_RDONLY);
    uint8_t b[512];
    assert_int_equal(pread(fd, b, 512, 100 * 512), 512);
    close(fd);
    assert_int_equal(b[0], 0xab);
    assert_int_equal(b[511], 0xab);

    memset(gp(DATA), 0, 20);
    assert_int_equal(request(8, 0, 20, true), 0);
    assert_memory_equal(gp(DATA), "test-serial", 11);

    /* Beyond the end, odd length, unknown type. */
    assert_int_equal(request(0, DISK_SECTORS - 1, 1024, true), 1);
    assert_int_equal(request(0, UINT64_MAX, 512, true), 1);
    assert_int_equal(request(0, 0, 100, true), 1);
    assert_int_equal(request(99, 0, 0, false), 2);
}

static void test_discard_write_zeroes(void **state)
{
    open_device(false);
    driver_init(false);
    struct { uint64_t sector; uint32_t n, flags; } rg = { 8, 16, 0 };
    memcpy(gp(DATA), &rg, sizeof(rg));
    assert_int_equal(request(13, 0, sizeof(rg), false), 0); /* write zeroes */
    int fd = open(path, O_RDONLY);
    uint8_t b[512];
    assert_int_equal(pread(fd, b, 512, 10 * 512), 512);
    assert_int_equal(b[0], 0);
    assert_int_equal(pread(fd, b, 512, 24 * 512), 512);
    assert_int_equal(b[0], 24);
    close(fd);
    rg = (typeof(rg)){ 100, 8, 0 };
    memcpy(gp(DATA), &rg, sizeof(rg));
    assert_int_equal(request(11, 0, sizeof(rg), false), 0); /* discard */
    rg = (typeof(rg)){ DISK_SECTORS, 8, 0 };
    memcpy(gp(DATA), &rg, sizeof(rg));
    assert_int_equal(request(11, 0, sizeof(rg), false), 1); /* out of range */
}

static void test_readonly(void **state)
{
    struct stat st0, st1;
    assert_int_equal(stat(path, &st0), 0);
    open_device(true);
    driver_init(true);
    memset(gp(DATA), 0xcd, 512);
    assert_int_equal(request(1, 3, 512, false), 1); /* write: IOERR */
    assert_int_equal(request(0, 3, 512, true), 0);  /* read works */
    assert_int_equal(((uint8_t *)gp(DATA))[0], 3);
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st0.st_mtime, st1.st_mtime);
}

static void expect_needs_reset(void)
{
    assert_false(kick());
    assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(rd(0x060) & VIRTIO_INT_CONFIG);
    /* Reset and a fresh driver: the device works again. */
    driver_init(false);
    assert_false(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(request(0, 5, 512, true), 0);
    assert_int_equal(((uint8_t *)gp(DATA))[0], 5);
}

static void test_malformed(void **state)
{
    open_device(false);
    driver_init(false);
    struct { uint32_t type, rsv; uint64_t sector; } h = { 0, 0, 0 };
    memcpy(gp(HDR), &h, sizeof(h));

    /* Data buffer outside RAM. */
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, RAM_BASE + RAM_SIZE, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    expect_needs_reset();

    /* A loop. */
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
    expect_needs_reset();

    /* 4 GiB length. */
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, DATA, 0xffffffffu, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    expect_needs_reset();

    /* Read into a device-readable buffer. */
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, DATA, 512, VIRTQ_DESC_F_NEXT, 2);
    set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    expect_needs_reset();

    /* Status byte not writable. */
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc(2, STATUS, 1, 0, 0);
    expect_needs_reset();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void read_chain(uint32_t len)
{
    struct { uint32_t type, rsv; uint64_t sector; } h = { 0, 0, 0 };
    memcpy(gp(HDR), &h, sizeof(h));
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, DATA, len, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
}

static void test_rate_limit(void **state)
{
    open_device(false);
    driver_init(false);
    /* 64 KiB per 100 ms: 20 reads of 32 KiB are 640 KiB, of which the
     * full bucket pays 64 KiB at once; the rest takes 0.9 s. */
    struct ratelimit_cfg c = { .bw = { .size = 64 << 10, .refill_ms = 100 } };
    virtio_blk_set_rate_limit(blk, &c);
    read_chain(32 << 10);
    double t0 = now_s();
    for (int i = 0; i < 20; i++)
        assert_true(kick());
    double limited = now_s() - t0;
    assert_true(limited >= 0.8);
    assert_true(limited < 10); /* wide: the machine is shared */
    assert_int_equal(*(uint8_t *)gp(STATUS), 0);

    /* One op per 100 s: the first request passes, the second waits in the
     * ring, the guest's notifications do not free it, a new limit does. */
    struct ratelimit_cfg one = { .ops = { .size = 1, .refill_ms = 100000 } };
    virtio_blk_set_rate_limit(blk, &one);
    assert_true(kick());
    uint16_t before = used_idx();
    offer();
    struct timespec ts = { 0, 200 * 1000000 };
    nanosleep(&ts, NULL);
    wr(0x050, 0);
    nanosleep(&ts, NULL);
    assert_int_equal(used_idx(), before);
    assert_false(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
    struct ratelimit_cfg off = { 0 };
    virtio_blk_set_rate_limit(blk, &off);
    for (int i = 0; i < 4000 && used_idx() == before; i++) {
        ts.tv_nsec = 500000;
        nanosleep(&ts, NULL);
    }
    assert_int_equal(used_idx(), (uint16_t)(before + 1));

    /* No limit: the same 20 reads are much faster than 0.8 s. */
    t0 = now_s();
    for (int i = 0; i < 20; i++)
        assert_true(kick());
    assert_true(now_s() - t0 < limited / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_config),
        T(test_read_write_flush_id),
        T(test_discard_write_zeroes),
        T(test_readonly),
        T(test_malformed),
        T(test_rate_limit),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
