#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int log_verbose;

void log_msg(const char *level, const char *fmt, ...)
{
    /* One fputs-sized write so lines from different threads do not interleave. */
    char buf[1024];
    va_list ap;
    int n;

    if (level)
        n = snprintf(buf, sizeof(buf), "corral: %s: ", level);
    else
        n = snprintf(buf, sizeof(buf), "corral: ");
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", buf);
}

static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

bool log_ratelimit_ok(struct log_ratelimit *rl, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    uint64_t report = 0;
    bool ok;
    pthread_mutex_lock(&ratelimit_lock);
    if (!rl->window_start_ns || now - rl->window_start_ns >= LOG_RATELIMIT_WINDOW_MS * 1000000LL) {
        report = rl->suppressed;
        rl->suppressed = 0;
        rl->count = 0;
        rl->window_start_ns = now;
    }
    ok = rl->count < LOG_RATELIMIT_BURST;
    if (ok)
        rl->count++;
    else
        rl->suppressed++;
    pthread_mutex_unlock(&ratelimit_lock);
    if (report)
        log_msg("warning", "%s: %llu messages suppressed (rate limit)", what,
                (unsigned long long)report);
    return ok;
}
