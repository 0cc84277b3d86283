/* Goldfish RTC (Android emulator "goldfish" virtual hardware spec, RTC
 * section; Linux drivers/rtc/rtc-goldfish.c is its main user).
 *
 * Register map (offsets from 0x0010_1000, 32-bit accesses only):
 *   0x00 TIME_LOW         R: bits 31:0 of the time; latches bits 63:32 for
 *                         TIME_HIGH. W: replaces bits 31:0 of the time
 *   0x04 TIME_HIGH        R: the latched bits 63:32. W: replaces bits 63:32
 *   0x08 ALARM_LOW        W: bits 31:0 of the alarm, and arms it (an alarm
 *                         already due fires at once). R: those bits
 *   0x0c ALARM_HIGH       W: bits 63:32 of the alarm (write it first). R
 *   0x10 IRQ_ENABLED      RW bit 0: the alarm interrupt reaches the PLIC
 *   0x14 CLEAR_ALARM      W: disarm the alarm
 *   0x18 ALARM_STATUS     R: 1 while an alarm is armed
 *   0x1c CLEAR_INTERRUPT  W: drop the interrupt
 * Time is nanoseconds since the Unix epoch: the host's CLOCK_REALTIME plus
 * an offset that time writes adjust, so guest time keeps running. The line
 * is high while an alarm has fired, not yet cleared, and IRQ_ENABLED is 1.
 * A due alarm is noticed on every register access and whenever the I/O
 * thread calls goldfish_rtc_poll() (at goldfish_rtc_next_alarm()).
 * Other offsets and sizes read 0 and ignore writes. */
#include "devices/goldfish_rtc.h"
#include "state/state.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define RTC_TIME_LOW 0x00
#define RTC_TIME_HIGH 0x04
#define RTC_ALARM_LOW 0x08
#define RTC_ALARM_HIGH 0x0c
#define RTC_IRQ_ENABLED 0x10
#define RTC_CLEAR_ALARM 0x14
#define RTC_ALARM_STATUS 0x18
#define RTC_CLEAR_INTERRUPT 0x1c

static uint64_t rtc_host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rtc_now_locked(const struct goldfish_rtc *r)
{
    return rtc_host_ns() + r->offset_ns;
}

static void rtc_update_irq_locked(struct goldfish_rtc *r, bool force)
{
    bool level = r->irq_pending && r->irq_enabled;
    if (level == r->irq_level && !force)
        return;
    r->irq_level = level;
    irq_set(&r->irq, level);
}

static void rtc_check_alarm_locked(struct goldfish_rtc *r)
{
    if (r->alarm_armed && rtc_now_locked(r) >= r->alarm_ns) {
        r->alarm_armed = false;
        r->irq_pending = true;
    }
}

struct goldfish_rtc *goldfish_rtc_create(struct irq_line irq)
{
    struct goldfish_rtc *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (pthread_mutex_init(&r->lock, NULL)) {
        free(r);
        return NULL;
    }
    r->irq = irq;
    pthread_mutex_lock(&r->lock);
    rtc_update_irq_locked(r, true);
    pthread_mutex_unlock(&r->lock);
    return r;
}

void goldfish_rtc_destroy(struct goldfish_rtc *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static uint32_t rtc_read_locked(struct goldfish_rtc *r, uint64_t off)
{
    switch (off) {
    case RTC_TIME_LOW: {
        uint64_t now = rtc_now_locked(r);
        r->time_high = (uint32_t)(now >> 32);
        return (uint32_t)now;
    }
    case RTC_TIME_HIGH:
        return r->time_high;
    case RTC_ALARM_LOW:
        return (uint32_t)r->alarm_ns;
    case RTC_ALARM_HIGH:
        return (uint32_t)(r->alarm_ns >> 32);
    case RTC_IRQ_ENABLED:
        return r->irq_enabled;
    case RTC_ALARM_STATUS:
        return r->alarm_armed;
    }
    return 0;
}

/* Move the clock so bits [shift, shift+32) read `val` now. */
static void rtc_set_time_locked(struct goldfish_rtc *r, unsigned shift,
                                uint32_t val)
{
    uint64_t now = rtc_now_locked(r);
    uint64_t mask = 0xffffffffULL << shift;
    uint64_t want = (now & ~mask) | ((uint64_t)val << shift);
    r->offset_ns += want - now; /* modulo 2^64, like the time itself */
}

static void rtc_write_locked(struct goldfish_rtc *r, uint64_t off, uint32_t val)
{
    switch (off) {
    case RTC_TIME_LOW:
        rtc_set_time_locked(r, 0, val);
        break;
    case RTC_TIME_HIGH:
        rtc_set_time_locked(r, 32, val);
        break;
    case RTC_ALARM_LOW:
        r->alarm_ns = (r->alarm_ns & ~0xffffffffULL) | val;
        r->alarm_armed = true; /* fires below if already due */
        break;
    case RTC_ALARM_HIGH:
        r->alarm_ns = (r->alarm_ns & 0xffffffffULL) | (uint64_t)val << 32;
        break;
    case RTC_IRQ_ENABLED:
        r->irq_enabled = val & 1;
        break;
    case RTC_CLEAR_ALARM:
        r->alarm_armed = false;
        break;
    case RTC_CLEAR_INTERRUPT:
        r->irq_pending = false;
        break;
    }
}

static int rtc_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
    struct goldfish_rtc *r = opaque;
    *val = 0;
    if (size != 4 || (off & 3))
        return 0;
    pthread_mutex_lock(&r->lock);
    rtc_check_alarm_locked(r);
    *val = rtc_read_locked(r, off);
    rtc_update_irq_locked(r, false);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static int rtc_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct goldfish_rtc *r = opaque;
    if (size != 4 || (off & 3))
        return 0;
    pthread_mutex_lock(&r->lock);
    rtc_write_locked(r, off, (uint32_t)val);
    rtc_check_alarm_locked(r);
    rtc_update_irq_locked(r, false);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static const struct mmio_ops goldfish_rtc_mmio_ops = {
    .read = rtc_read,
    .write = rtc_write,
};

int goldfish_rtc_attach(struct goldfish_rtc *r, struct bus *b, gpa_t base)
{
    return bus_add_mmio(b, base, GOLDFISH_RTC_SIZE, &goldfish_rtc_mmio_ops, r,
                        "goldfish-rtc");
}

void goldfish_rtc_poll(struct goldfish_rtc *r)
{
    pthread_mutex_lock(&r->lock);
    rtc_check_alarm_locked(r);
    rtc_update_irq_locked(r, false);
    pthread_mutex_unlock(&r->lock);
}

int64_t goldfish_rtc_next_alarm(struct goldfish_rtc *r)
{
    int64_t when = INT64_MAX;
    pthread_mutex_lock(&r->lock);
    if (r->alarm_armed) {
        uint64_t host = rtc_host_ns();
        uint64_t now = host + r->offset_ns;
        uint64_t wait = r->alarm_ns > now ? r->alarm_ns - now : 0;
        if (wait <= (uint64_t)INT64_MAX - host)
            when = (int64_t)(host + wait);
    }
    pthread_mutex_unlock(&r->lock);
    return when;
}

void goldfish_rtc_save(const struct goldfish_rtc *r,
                       struct goldfish_rtc_state *out)
{
    struct goldfish_rtc *mr = (struct goldfish_rtc *)r; /* the lock only */
    pthread_mutex_lock(&mr->lock);
    *out = (struct goldfish_rtc_state){
        .offset_ns = r->offset_ns, .alarm_ns = r->alarm_ns,
        .time_high = r->time_high, .alarm_armed = r->alarm_armed,
        .irq_enabled = r->irq_enabled, .irq_pending = r->irq_pending,
    };
    pthread_mutex_unlock(&mr->lock);
}

int goldfish_rtc_load(struct goldfish_rtc *r,
                      const struct goldfish_rtc_state *in)
{
    pthread_mutex_lock(&r->lock);
    r->offset_ns = in->offset_ns;
    r->alarm_ns = in->alarm_ns;
    r->time_high = in->time_high;
    r->alarm_armed = in->alarm_armed & 1;
    r->irq_enabled = in->irq_enabled & 1;
    r->irq_pending = in->irq_pending & 1;
    rtc_check_alarm_locked(r);
    rtc_update_irq_locked(r, true);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* ---- saved state: section "rtc", version 1 ----
 * u64 offset_ns, u64 alarm_ns, u32 time_high, u8 alarm_armed,
 * u8 irq_enabled, u8 irq_pending. */
void goldfish_rtc_save_state(const struct goldfish_rtc *r, struct state_out *o)
{
    struct goldfish_rtc_state s;
    goldfish_rtc_save(r, &s);
    state_put_u64(o, s.offset_ns);
    state_put_u64(o, s.alarm_ns);
    state_put_u32(o, s.time_high);
    state_put_u8(o, s.alarm_armed);
    state_put_u8(o, s.irq_enabled);
    state_put_u8(o, s.irq_pending);
}

int goldfish_rtc_load_state(struct goldfish_rtc *r, struct state_in *in, uint32_t version)
{
    static struct goldfish_rtc_state zero;
    struct goldfish_rtc_state s = zero;
    s.offset_ns = state_get_u64(in);
    s.alarm_ns = state_get_u64(in);
    s.time_high = state_get_u32(in);
    s.alarm_armed = state_get_u8(in);
    s.irq_enabled = state_get_u8(in);
    s.irq_pending = state_get_u8(in);
    if (state_in_status(in))
        return -EINVAL;
    return goldfish_rtc_load(r, &s) ? state_in_fail(in, "inconsistent RTC state") : 0;
}
