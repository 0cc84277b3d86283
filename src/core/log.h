/* Logging. Messages go to stderr prefixed with "corral: ". Any thread.
 *
 * A line logged by a thread that must never block on the host (hart and
 * I/O threads mark themselves with log_thread_nonblocking) goes into a
 * bounded ring that a writer thread drains to stderr, once the writer
 * runs: a stalled stderr reader then costs lines (dropped whole, counted,
 * reported as one line once stderr moves again), never a stalled guest.
 * Other threads, and every thread before the writer starts, write
 * directly. */
#ifndef CORRAL_CORE_LOG_H
#define CORRAL_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/types.h"

extern int log_verbose; /* 0 = errors and warnings only */

void log_msg(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The calling thread's lines go through the ring from now on. */
void log_thread_nonblocking(void);
/* Main thread: start the writer (0 or a negative errno) / stop it at exit,
 * waiting at most LOG_FLUSH_STALL_MS without progress for what is queued. */
int log_writer_start(void) WARN_UNUSED;
void log_writer_stop(void);
#define LOG_RING_BYTES (64u << 10)
#define LOG_FLUSH_STALL_MS 1000
/* Lines dropped because the ring was full. Any thread. */
uint64_t log_dropped_lines(void);

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
