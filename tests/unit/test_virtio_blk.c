/* virtio-blk through its virtio-mmio registers, with no CPU: the test is
 * the driver. Requests run on a real I/O thread against a temporary raw
 * image. Covers feature negotiation, read/write/flush/get-id/discard/
 * write-zeroes, readonly, bad requests (IOERR/UNSUPP) and malformed
 * chains (NEEDS_RESET, then a reset brings the device back), and the
 * rate limiter (a held request waits in the ring; a new limit frees it).
 * Asynchronous requests against a fake disk whose reads of one sector
 * block until the test lets them go: the I/O thread keeps serving other
 * work and the registers meanwhile, a later request completes first, and
 * stopping the I/O thread (a pause) drains what is in flight. */
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
#include <pthread.h>
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
static bool irq_level; /* __atomic: set on the device's threads */

static void fake_irq(void *opaque, unsigned line, bool level)
{
    __atomic_store_n(&irq_level, level, __ATOMIC_RELEASE);
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

static void open_device_io(bool readonly, bool start_io)
{
    struct blk_backend *be;
    char err[256];
    assert_int_equal(blk_open(path, "raw", readonly, &be, err, sizeof(err)), 0);
    struct irq_line irq = { .set = fake_irq, .line = 1 };
    blk = virtio_blk_create(be, "test-serial", &bus.ram, io, irq);
    assert_non_null(blk);
    assert_int_equal(virtio_mmio_attach(virtio_blk_dev(blk), &bus, MMIO), 0);
    if (start_io)
        assert_int_equal(iothread_start(io), 0);
}

static void open_device(bool readonly)
{
    open_device_io(readonly, true);
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
    assert_true(__atomic_load_n(&irq_level, __ATOMIC_ACQUIRE));
    wr(0x064, rd(0x060));
    assert_false(__atomic_load_n(&irq_level, __ATOMIC_ACQUIRE));

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

/* ---- asynchronous requests ---- */

#define SLOW_SECTOR 8
#define HDR_B (HDR + 0x100)
#define STATUS_B (STATUS + 0x100)
#define DATA_B (DATA + 0x20000)

/* A disk of DISK_SECTORS whose byte i reads as (i / 512) & 0xff; a read
 * that starts at SLOW_SECTOR waits until `release`. */
static struct fake_disk {
    struct blk_backend b;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool blocked, release;
} fake;

static int fake_preadv(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    if (off == SLOW_SECTOR * 512ULL) {
        pthread_mutex_lock(&fake.lock);
        fake.blocked = true;
        pthread_cond_broadcast(&fake.cond);
        while (!fake.release)
            pthread_cond_wait(&fake.cond, &fake.lock);
        pthread_mutex_unlock(&fake.lock);
    }
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < iov[i].iov_len; k++)
            ((uint8_t *)iov[i].iov_base)[k] = (uint8_t)((off + k) / 512);
        off += iov[i].iov_len;
    }
    return 0;
}

static int fake_fail(struct blk_backend *b, struct iovec *iov, int n, uint64_t off)
{
    return -EIO;
}

static int fake_flush(struct blk_backend *b)
{
    return 0;
}

static void fake_close(struct blk_backend *b)
{
}

static const struct blk_backend_ops fake_ops = {
    .preadv = fake_preadv, .pwritev = fake_fail, .flush = fake_flush, .close = fake_close,
};

static void fake_release(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.release = true;
    pthread_cond_broadcast(&fake.cond);
    pthread_mutex_unlock(&fake.lock);
}

static void *release_later(void *arg)
{
    struct timespec ts = { 1, 0 }; /* wide: the machine is shared */
    nanosleep(&ts, NULL);
    fake_release();
    return NULL;
}

static void timer_fired(void *opaque)
{
    __atomic_store_n((bool *)opaque, true, __ATOMIC_RELEASE);
}

static bool wait_until(bool (*cond)(void *), void *arg, double seconds)
{
    double end = now_s() + seconds;
    while (!cond(arg)) {
        if (now_s() > end)
            return false;
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
    return true;
}

static bool flag_set(void *arg)
{
    return __atomic_load_n((bool *)arg, __ATOMIC_ACQUIRE);
}

static bool fake_blocked(void *arg)
{
    pthread_mutex_lock(&fake.lock);
    bool b = fake.blocked;
    pthread_mutex_unlock(&fake.lock);
    return b;
}

static bool used_reaches(void *arg)
{
    return used_idx() == *(uint16_t *)arg;
}

/* A read of `len` bytes at `sector` as chain head..head+2. */
static void read_chain_at(unsigned head, gpa_t hdr, gpa_t data, gpa_t status, uint64_t sector,
                          uint32_t len)
{
    struct { uint32_t type, rsv; uint64_t sector; } h = { 0, 0, sector };
    memcpy(gp(hdr), &h, sizeof(h));
    *(uint8_t *)gp(status) = 0xee;
    memset(gp(data), 0xee, len);
    set_desc(head, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
    set_desc(head + 1, data, len, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(head + 2));
    set_desc(head + 2, status, 1, VIRTQ_DESC_F_WRITE, 0);
}

static void offer_head(uint16_t head)
{
    uint16_t *aidx = gp(AVAIL + 2);
    uint16_t *ring = gp(AVAIL + 4);
    ring[*aidx % QN] = head;
    __atomic_store_n(aidx, (uint16_t)(*aidx + 1), __ATOMIC_RELEASE);
    wr(0x050, 0);
}

static uint32_t used_id(unsigned slot)
{
    uint32_t id;
    memcpy(&id, (uint8_t *)gp(USED + 4 + 8 * (slot % QN)), 4);
    return id;
}

static struct iothread_timer *open_fake(bool *fired)
{
    memset(&fake, 0, sizeof(fake));
    pthread_mutex_init(&fake.lock, NULL);
    pthread_cond_init(&fake.cond, NULL);
    fake.b = (struct blk_backend){ .ops = &fake_ops, .size = DISK_SECTORS * 512ULL,
                                   .phys_block = 512, .readonly = true, .concurrent = true,
                                   .format = "raw" };
    struct irq_line irq = { .set = fake_irq, .line = 1 };
    blk = virtio_blk_create(&fake.b, "fake", &bus.ram, io, irq);
    assert_non_null(blk);
    assert_int_equal(virtio_mmio_attach(virtio_blk_dev(blk), &bus, MMIO), 0);
    /* Another user of the same I/O thread (as virtio-net would be). */
    struct iothread_timer *t = iothread_timer_new(io, timer_fired, fired);
    assert_non_null(t);
    assert_int_equal(iothread_start(io), 0);
    driver_init(true);
    return t;
}

static void test_slow_disk_out_of_order(void **state)
{
    bool fired = false;
    struct iothread_timer *t = open_fake(&fired);
    read_chain_at(0, HDR, DATA, STATUS, SLOW_SECTOR, 512);
    read_chain_at(3, HDR_B, DATA_B, STATUS_B, 16, 1024);
    offer_head(0);
    assert_true(wait_until(fake_blocked, NULL, 5));

    /* The slow read holds neither the I/O thread nor the registers. */
    pthread_t rel;
    assert_int_equal(pthread_create(&rel, NULL, release_later, NULL), 0);
    double t0 = now_s();
    assert_int_equal(rd(0x070), 0xf);
    iothread_timer_mod(t, iothread_now_ns());
    assert_true(wait_until(flag_set, &fired, 0.8));
    /* The second request overtakes the first. */
    offer_head(3);
    uint16_t one = 1, two = 2;
    assert_true(wait_until(used_reaches, &one, 0.8));
    assert_true(now_s() - t0 < 0.95); /* before release_later let the first go */
    assert_int_equal(used_id(0), 3);
    assert_int_equal(*(uint8_t *)gp(STATUS_B), 0);
    assert_int_equal(((uint8_t *)gp(DATA_B))[0], 16);
    assert_int_equal(((uint8_t *)gp(DATA_B))[1023], 17);
    assert_int_equal(*(uint8_t *)gp(STATUS), 0xee);

    assert_true(wait_until(used_reaches, &two, 5));
    assert_int_equal(used_id(1), 0);
    assert_int_equal(*(uint8_t *)gp(STATUS), 0);
    assert_int_equal(((uint8_t *)gp(DATA))[511], SLOW_SECTOR);
    pthread_join(rel, NULL);
    iothread_timer_free(t);
}

/* The fake disk with a read of SLOW_SECTOR (head 0) blocked in it, and a
 * thread that lets it go in a second. */
static struct iothread_timer *start_slow_read(bool *fired, pthread_t *rel)
{
    struct iothread_timer *t = open_fake(fired);
    read_chain_at(0, HDR, DATA, STATUS, SLOW_SECTOR, 512);
    offer_head(0);
    assert_true(wait_until(fake_blocked, NULL, 5));
    assert_int_equal(pthread_create(rel, NULL, release_later, NULL), 0);
    return t;
}

/* iothread_stop (what machine_pause does) returns with the request that
 * was in flight answered in the used ring: nothing is saved half done. */
static void test_stop_drains(void **state)
{
    bool fired = false;
    pthread_t rel;
    struct iothread_timer *t = start_slow_read(&fired, &rel);
    iothread_stop(io);
    assert_int_equal(used_idx(), 1);
    assert_int_equal(*(uint8_t *)gp(STATUS), 0);
    assert_int_equal(((uint8_t *)gp(DATA))[0], SLOW_SECTOR);
    pthread_join(rel, NULL);
    iothread_timer_free(t);
}

/* A reset waits for the request in flight and drops it: nothing reaches
 * the rings the driver sets up afterwards. */
static void test_reset_waits(void **state)
{
    bool fired = false;
    pthread_t rel;
    struct iothread_timer *t = start_slow_read(&fired, &rel);
    wr(0x070, 0);
    assert_int_equal(((uint8_t *)gp(DATA))[0], SLOW_SECTOR); /* it had landed */
    assert_int_equal(used_idx(), 0);
    assert_int_equal(*(uint8_t *)gp(STATUS), 0xee);
    driver_init(true);
    read_chain_at(3, HDR_B, DATA_B, STATUS_B, 16, 512);
    offer_head(3);
    uint16_t one = 1;
    assert_true(wait_until(used_reaches, &one, 5));
    assert_int_equal(used_id(0), 3);
    pthread_join(rel, NULL);
    iothread_timer_free(t);
}

/* QueueNotify hands writes to the workers on the notifying thread (a
 * hart's): with the I/O thread not running, a write still completes,
 * into the used ring, with the interrupt raised. A small read the page
 * cache holds is copied on that thread and answered before QueueNotify
 * returns; a read over the hart's limit is left for the I/O thread, and
 * is answered once that thread runs. */
static void test_notify_on_hart(void **state)
{
    open_device_io(false, false);
    driver_init(false);
    memset(gp(DATA), 0x5c, 4096);
    assert_int_equal(request(1, 40, 4096, false), 0);
    assert_true(__atomic_load_n(&irq_level, __ATOMIC_ACQUIRE));
    wr(0x064, rd(0x060));
    /* Just written, so cached: answered on this thread. */
    memset(gp(DATA), 0, 4096);
    struct { uint32_t type, rsv; uint64_t sector; } h = { 0, 0, 40 };
    memcpy(gp(HDR), &h, sizeof(h));
    *(uint8_t *)gp(STATUS) = 0xee;
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, DATA, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    uint16_t before = used_idx();
    offer(); /* returns with the request answered: no other thread took it */
    assert_int_equal(used_idx(), (uint16_t)(before + 1));
    assert_int_equal(*(uint8_t *)gp(STATUS), 0);
    assert_true(__atomic_load_n(&irq_level, __ATOMIC_ACQUIRE));
    assert_int_equal(((uint8_t *)gp(DATA))[0], 0x5c);
    assert_int_equal(((uint8_t *)gp(DATA))[4095], 0x5c);
    wr(0x064, rd(0x060));
    /* 256 KiB: more than a hart copies in one QueueNotify. */
    const uint32_t big = 256 * 1024;
    memset(gp(DATA), 0, big);
    h.sector = 100;
    memcpy(gp(HDR), &h, sizeof(h));
    set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, DATA, big, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    before = used_idx();
    offer();
    assert_int_equal(used_idx(), before); /* not popped on this thread */
    assert_int_equal(iothread_start(io), 0);
    uint16_t want = (uint16_t)(before + 1);
    assert_true(wait_until(used_reaches, &want, 5));
    assert_int_equal(*(uint8_t *)gp(STATUS), 0);
    for (uint32_t k = 0; k < big / 512; k++)
        assert_int_equal(((uint8_t *)gp(DATA))[k * 512 + 7], (100 + k) & 0xff);
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
        T(test_slow_disk_out_of_order),
        T(test_stop_drains),
        T(test_reset_waits),
        T(test_notify_on_hart),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
