/* Logging. Messages go to stderr (or the file log_configure names)
 * prefixed with "corral: ". Any thread.
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

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/types.h"

/* Levels, in Firecracker's names (PUT /logger, --log-level). A line is
 * written when its level is at most log_verbose. */
enum log_level {
    LOG_OFF = -2,
    LOG_ERROR = -1,
    LOG_WARN = 0,   /* the default: errors and warnings */
    LOG_INFO = 1,   /* -v */
    LOG_DEBUG = 2,  /* -vv */
    LOG_TRACE = 3,
};
extern _Atomic int log_verbose; /* an enum log_level; -v raises it */

/* "Error", "warning", "Warn", "info", "Debug", "trace", "off" (any case).
 * 0 and *level, or -EINVAL. */
int log_level_parse(const char *name, int *level) WARN_UNUSED;
const char *log_level_name(int level);

/* PUT /logger, --log-file, --log-level. path NULL keeps the output as it
 * is; a file is appended to, a FIFO opened without waiting for a reader
 * (a line that does not fit is dropped and counted, never waited for).
 * show_level: the level word on which lines; show_origin:
 * [file:line]; module (NULL: all): only lines from src/<module>... (or
 * Firecracker's "a::b" spelling of a/b). Any thread; 0, or -errno with
 * the reason in err[errlen]. */
enum log_show_level { LOG_SHOW_LEVEL_NONE = -1, LOG_SHOW_LEVEL_CLI = 0, LOG_SHOW_LEVEL_ALL = 1 };
struct log_options {
    int level;
    int show_level;       /* enum log_show_level; CLI: not on info lines */
    bool show_origin;
    const char *module;
};
int log_configure(const char *path, const struct log_options *o, char *err,
                  size_t errlen) WARN_UNUSED;

/* Open an output the way the log, the metrics sink and the serial console
 * open theirs: a regular file appended to (created 0644), a FIFO
 * read-write (the open never waits for a reader), a character device;
 * non-blocking, so a write finds a full pipe rather than waits for it.
 * Returns the fd, or -errno with "what 'path': reason" in err[errlen]. */
int log_open_output(const char *path, const char *what, char *err, size_t errlen) WARN_UNUSED;

/* All of buf to fd, or as much as goes before an error (EAGAIN from a
 * full non-blocking pipe included): true when all of it went. */
bool log_write_fd(int fd, const void *buf, size_t len);

void log_msg(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The macros' form: where the line comes from, for show_origin and module. */
void log_msg_at(const char *level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

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

#define log_error(...) log_msg_at("error", __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg_at("warning", __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) \
    do { if (log_verbose >= LOG_INFO) log_msg_at(NULL, __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define log_debug(...) \
    do { if (log_verbose >= LOG_DEBUG) log_msg_at("debug", __FILE__, __LINE__, __VA_ARGS__); } while (0)

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
