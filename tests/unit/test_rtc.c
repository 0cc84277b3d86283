/* Goldfish RTC driven through its registers with no CPU; a fake irq line
 * records the level. Times are checked against the host's wall clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "devices/goldfish_rtc.h"

static bool irq_level;
static unsigned irq_calls;

static void fake_irq(void *opaque, unsigned line, bool level)
{
    assert_int_equal(line, GOLDFISH_RTC_IRQ);
    irq_level = level;
    irq_calls++;
}

static struct bus bus;
static struct goldfish_rtc *rtc;

static int setup(void **state)
{
    memset(&bus, 0, sizeof(bus));
    irq_level = true;
    irq_calls = 0;
    struct irq_line irq = { .set = fake_irq, .line = GOLDFISH_RTC_IRQ };
    rtc = goldfish_rtc_create(irq);
    assert_non_null(rtc);
    assert_int_equal(goldfish_rtc_attach(rtc, &bus, GOLDFISH_RTC_BASE), 0);
    return 0;
}

static int teardown(void **state)
{
    goldfish_rtc_destroy(rtc);
    return 0;
}

#define TIME_LOW 0x00
#define TIME_HIGH 0x04
#define ALARM_LOW 0x08
#define ALARM_HIGH 0x0c
#define IRQ_ENABLED 0x10
#define CLEAR_ALARM 0x14
#define ALARM_STATUS 0x18
#define CLEAR_INTERRUPT 0x1c

#define MS 1000000LL
#define SEC 1000000000LL

static uint32_t rd(unsigned off)
{
    uint64_t v = 0xdeadbeefdeadbeefULL;
    assert_int_equal(bus_read(&bus, GOLDFISH_RTC_BASE + off, 4, &v), 0);
    assert_true(v <= 0xffffffffULL);
    return (uint32_t)v;
}

static void wr(unsigned off, uint32_t v)
{
    assert_int_equal(bus_write(&bus, GOLDFISH_RTC_BASE + off, 4, v), 0);
}

/* The way Linux's rtc-goldfish reads the time: low first (latches high). */
static uint64_t guest_time(void)
{
    uint64_t lo = rd(TIME_LOW);
    uint64_t hi = rd(TIME_HIGH);
    return hi << 32 | lo;
}

/* The way Linux sets it: high, then low. */
static void set_guest_time(uint64_t t)
{
    wr(TIME_HIGH, (uint32_t)(t >> 32));
    wr(TIME_LOW, (uint32_t)t);
}

static void set_alarm(uint64_t t)
{
    wr(ALARM_HIGH, (uint32_t)(t >> 32));
    wr(ALARM_LOW, (uint32_t)t);
}

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = { ns / SEC, ns % SEC };
    nanosleep(&ts, NULL);
}

static int64_t diff(uint64_t a, int64_t b)
{
    return (int64_t)(a - (uint64_t)b);
}

static void test_time_near_host(void **state)
{
    int64_t before = host_ns();
    uint64_t t = guest_time();
    int64_t after = host_ns();
    assert_true(diff(t, before) >= -SEC && diff(t, after) <= SEC);
    assert_false(irq_level);
    assert_int_equal(rd(ALARM_STATUS), 0);
    assert_int_equal(rd(IRQ_ENABLED), 0);
}

static void test_time_high_latched(void **state)
{
    rd(TIME_LOW);
    uint32_t h1 = rd(TIME_HIGH);
    set_guest_time(0x0000000500000000ULL); /* moves the clock, not the latch */
    assert_int_equal(rd(TIME_HIGH), h1);
    rd(TIME_LOW);
    assert_int_equal(rd(TIME_HIGH), 5);
}

static void test_time_runs(void **state)
{
    uint64_t t1 = guest_time();
    sleep_ns(5 * MS);
    uint64_t t2 = guest_time();
    assert_true(t2 - t1 >= 5 * MS && t2 - t1 < 5 * SEC);
}

static void test_set_time(void **state)
{
    const uint64_t target = 1000000000ULL * SEC; /* 2001-09-09 */
    set_guest_time(target);
    uint64_t t = guest_time();
    assert_true(t >= target && t - target < SEC);
    /* Setting the time again, forwards far past 2^63 and back. */
    set_guest_time(0xfffffff000000000ULL);
    t = guest_time();
    assert_true(t >= 0xfffffff000000000ULL && t - 0xfffffff000000000ULL < SEC);
    set_guest_time(0);
    t = guest_time();
    assert_true(t < SEC);
    /* Time keeps running after a set. */
    sleep_ns(2 * MS);
    assert_true(guest_time() >= 2 * MS);
}

static void test_alarm_regs(void **state)
{
    wr(ALARM_HIGH, 0x7fffffff);
    wr(ALARM_LOW, 0x12345678);
    assert_int_equal(rd(ALARM_HIGH), 0x7fffffff);
    assert_int_equal(rd(ALARM_LOW), 0x12345678);
    assert_int_equal(rd(ALARM_STATUS), 1); /* far future: armed */
    wr(IRQ_ENABLED, 0xffffffff);
    assert_int_equal(rd(IRQ_ENABLED), 1);
    wr(CLEAR_ALARM, 1);
    assert_int_equal(rd(ALARM_STATUS), 0);
    assert_true(goldfish_rtc_next_alarm(rtc) == INT64_MAX);
    assert_false(irq_level);
}

static void test_alarm_in_past_fires_at_once(void **state)
{
    wr(IRQ_ENABLED, 1);
    set_alarm(guest_time() - SEC);
    assert_true(irq_level);
    assert_int_equal(rd(ALARM_STATUS), 0);
    wr(CLEAR_INTERRUPT, 1);
    assert_false(irq_level);
    goldfish_rtc_poll(rtc); /* one-shot: nothing more */
    assert_false(irq_level);
}

static void test_alarm_in_future(void **state)
{
    wr(IRQ_ENABLED, 1);
    int64_t host_before = host_ns();
    set_alarm(guest_time() + 20 * MS);
    assert_int_equal(rd(ALARM_STATUS), 1);
    assert_false(irq_level);
    int64_t when = goldfish_rtc_next_alarm(rtc);
    assert_true(when >= host_before + 19 * MS && when <= host_ns() + 21 * MS);
    goldfish_rtc_poll(rtc);
    assert_false(irq_level);

    sleep_ns(when - host_ns() + MS);
    goldfish_rtc_poll(rtc);
    assert_true(irq_level);
    assert_int_equal(rd(ALARM_STATUS), 0);
    assert_true(goldfish_rtc_next_alarm(rtc) == INT64_MAX);
    wr(CLEAR_INTERRUPT, 1);
    assert_false(irq_level);
}

static void test_alarm_noticed_on_access(void **state)
{
    wr(IRQ_ENABLED, 1);
    set_alarm(guest_time() + 2 * MS);
    sleep_ns(4 * MS);
    assert_false(irq_level); /* nobody polled yet */
    assert_int_equal(rd(ALARM_STATUS), 0); /* the access notices it */
    assert_true(irq_level);
}

static void test_alarm_follows_guest_time(void **state)
{
    /* The alarm is in guest time: after the guest moves its clock back
     * by an hour, an alarm 10 ms ahead still fires 10 ms from now. */
    set_guest_time(guest_time() - 3600 * SEC);
    wr(IRQ_ENABLED, 1);
    set_alarm(guest_time() + 10 * MS);
    int64_t when = goldfish_rtc_next_alarm(rtc);
    assert_true(when - host_ns() <= 11 * MS && when - host_ns() > 0);
}

static void test_irq_enable_gates_line(void **state)
{
    set_alarm(guest_time() - 1);
    assert_false(irq_level); /* fired but not enabled */
    wr(IRQ_ENABLED, 1);
    assert_true(irq_level);
    wr(IRQ_ENABLED, 0);
    assert_false(irq_level);
    wr(CLEAR_INTERRUPT, 1);
    wr(IRQ_ENABLED, 1);
    assert_false(irq_level);
}

static void test_clear_alarm_disarms(void **state)
{
    wr(IRQ_ENABLED, 1);
    set_alarm(guest_time() + 2 * MS);
    wr(CLEAR_ALARM, 1);
    sleep_ns(4 * MS);
    goldfish_rtc_poll(rtc);
    assert_false(irq_level);
    assert_int_equal(rd(ALARM_STATUS), 0);
}

static void test_bad_accesses(void **state)
{
    uint64_t v;
    assert_int_equal(bus_read(&bus, GOLDFISH_RTC_BASE + TIME_LOW, 8, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bus_read(&bus, GOLDFISH_RTC_BASE + TIME_LOW, 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bus_read(&bus, GOLDFISH_RTC_BASE + 2, 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rd(0x20), 0);
    assert_int_equal(rd(0xffc), 0);
    assert_int_equal(rd(CLEAR_ALARM), 0);
    wr(0x20, 0xffffffff);
    wr(0xffc, 0xffffffff);
    assert_int_equal(bus_write(&bus, GOLDFISH_RTC_BASE + IRQ_ENABLED, 2, 1), 0);
    assert_int_equal(bus_write(&bus, GOLDFISH_RTC_BASE + TIME_LOW, 8, 0), 0);
    assert_int_equal(rd(IRQ_ENABLED), 0);
    uint64_t t = guest_time();
    assert_true(diff(t, host_ns()) > -SEC); /* the 8-byte write did nothing */
}

static void test_save_load(void **state)
{
    set_guest_time(1000000000ULL * SEC);
    wr(IRQ_ENABLED, 1);
    set_alarm(guest_time() + 3600 * SEC);
    struct goldfish_rtc_state st;
    goldfish_rtc_save(rtc, &st);

    struct irq_line irq = { .set = fake_irq, .line = GOLDFISH_RTC_IRQ };
    struct goldfish_rtc *r2 = goldfish_rtc_create(irq);
    assert_non_null(r2);
    assert_int_equal(goldfish_rtc_load(r2, &st), 0);
    struct goldfish_rtc_state st2;
    goldfish_rtc_save(r2, &st2);
    assert_memory_equal(&st, &st2, sizeof(st));
    int64_t w1 = goldfish_rtc_next_alarm(rtc), w2 = goldfish_rtc_next_alarm(r2);
    assert_true(w2 - w1 < SEC && w1 - w2 < SEC);
    goldfish_rtc_destroy(r2);

    /* A saved, already-due alarm fires on load. */
    st.alarm_ns = 0;
    irq_level = false;
    assert_int_equal(goldfish_rtc_load(rtc, &st), 0);
    assert_true(irq_level);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_time_near_host),
        T(test_time_high_latched),
        T(test_time_runs),
        T(test_set_time),
        T(test_alarm_regs),
        T(test_alarm_in_past_fires_at_once),
        T(test_alarm_in_future),
        T(test_alarm_noticed_on_access),
        T(test_alarm_follows_guest_time),
        T(test_irq_enable_gates_line),
        T(test_clear_alarm_disarms),
        T(test_bad_accesses),
        T(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
