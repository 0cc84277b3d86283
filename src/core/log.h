/* Logging. Messages go to stderr prefixed with "corral: ". Any thread. */
#ifndef CORRAL_CORE_LOG_H
#define CORRAL_CORE_LOG_H

#include <stdio.h>

extern int log_verbose; /* 0 = errors and warnings only */

void log_msg(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg("error", __VA_ARGS__)
#define log_warn(...) log_msg("warning", __VA_ARGS__)
#define log_info(...) do { if (log_verbose) log_msg(NULL, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_verbose > 1) log_msg("debug", __VA_ARGS__); } while (0)

#endif
