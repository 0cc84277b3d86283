/* Logging. Messages go to stderr prefixed with "corral: ". Any thread. */
#ifndef CORRAL_CORE_LOG_H
#define CORRAL_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

extern int log_verbose; /* 0 = errors and warnings only */

void log_msg(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg("error", __VA_ARGS__)
#define log_warn(...) log_msg("warning", __VA_ARGS__)
#define log_info(...) do { if (log_verbose) log_msg(NULL, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_verbose > 1) log_msg("debug", __VA_ARGS__); } while (0)

/* Lines a guest can trigger go through one of these per source (per
 * device): at most LOG_RATELIMIT_BURST lines per LOG_RATELIMIT_WINDOW_MS,
 * the rest counted and reported as one line when the next window opens.
 * Zero-initialised. */
#define LOG_RATELIMIT_BURST 10
#define LOG_RATELIMIT_WINDOW_MS 5000
struct log_ratelimit {
    int64_t window_start_ns;
    unsigned count;
    uint64_t suppressed;
};
/* True if a line may be printed now. Any thread (one lock in log.c);
 * `what` names the source in the "suppressed" summary. */
bool log_ratelimit_ok(struct log_ratelimit *rl, const char *what);

#endif
