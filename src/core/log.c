#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

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
