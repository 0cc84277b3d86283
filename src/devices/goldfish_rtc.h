/* Goldfish RTC (google,goldfish-rtc): wall-clock time in nanoseconds since
 * the Unix epoch plus a one-shot alarm, PLIC source 11 on the virt board.
 * Threads: MMIO handlers on hart threads; goldfish_rtc_poll() and
 * goldfish_rtc_next_alarm() from any thread (the I/O thread's timer);
 * create/destroy/save/load while harts are stopped. */
#ifndef CORRAL_DEVICES_GOLDFISH_RTC_H
#define CORRAL_DEVICES_GOLDFISH_RTC_H

#include <pthread.h>

#include "core/types.h"
#include "devices/irq.h"
#include "mem/bus.h"

#define GOLDFISH_RTC_BASE 0x101000ULL
#define GOLDFISH_RTC_SIZE 0x1000ULL
#define GOLDFISH_RTC_IRQ 11 /* PLIC source */

struct goldfish_rtc {
    pthread_mutex_t lock;
    struct irq_line irq;
    bool irq_level;        /* last level driven on `irq` */
    uint64_t offset_ns;    /* guest time = host CLOCK_REALTIME + offset, mod 2^64 */
    uint32_t time_high;    /* latched by a TIME_LOW read */
    uint64_t alarm_ns;     /* ALARM_HIGH:ALARM_LOW, guest time */
    bool alarm_armed;      /* ALARM_STATUS */
    bool irq_enabled;
    bool irq_pending;
};

/* The offset travels, not the absolute time: a restored guest's clock
 * keeps following the host's wall clock, as a real RTC would. */
struct goldfish_rtc_state {
    uint64_t offset_ns;
    uint64_t alarm_ns;
    uint32_t time_high;
    uint8_t alarm_armed, irq_enabled, irq_pending;
    uint8_t pad;
};

struct goldfish_rtc *goldfish_rtc_create(struct irq_line irq);
void goldfish_rtc_destroy(struct goldfish_rtc *r);
int goldfish_rtc_attach(struct goldfish_rtc *r, struct bus *b,
                        gpa_t base) WARN_UNUSED;

/* Fire the alarm if its time has come (raises the irq when enabled). */
void goldfish_rtc_poll(struct goldfish_rtc *r);
/* Host CLOCK_REALTIME nanoseconds at which the armed alarm fires, or
 * INT64_MAX when none is armed: when the I/O thread should poll next. */
int64_t goldfish_rtc_next_alarm(struct goldfish_rtc *r);

void goldfish_rtc_save(const struct goldfish_rtc *r,
                       struct goldfish_rtc_state *out);
int goldfish_rtc_load(struct goldfish_rtc *r,
                      const struct goldfish_rtc_state *in) WARN_UNUSED;

struct state_out;
struct state_in;
#define GOLDFISH_RTC_STATE_VERSION 1
/* Explicitly encoded fields of the "rtc" section (state/state.h). */
void goldfish_rtc_save_state(const struct goldfish_rtc *r, struct state_out *o);
int goldfish_rtc_load_state(struct goldfish_rtc *r, struct state_in *in,
                            uint32_t version) WARN_UNUSED;
#endif
