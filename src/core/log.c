/* Logging (see log.h): a line is formatted on the caller's stack, then
 * either written to stderr at once or, from a thread that must not block,
 * copied whole into the log ring for the writer thread. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/ring.h"

_Atomic int log_verbose;

/* Where lines go: stderr until log_configure names a file; a later file
 * is dup3()ed over the same descriptor, so a writer in the middle of a
 * line never sees it closed. */
static _Atomic int log_out = STDERR_FILENO;
static _Atomic bool log_to_file;
static _Atomic int show_level; /* enum log_show_level */
static _Atomic bool show_origin;
static pthread_mutex_t opt_lock = PTHREAD_MUTEX_INITIALIZER; /* module, configure */
static char module_filter[64];
static _Atomic bool have_module;

/* Set up once and never destroyed: a thread that saw the writer running
 * may still be putting a line in when it stops. */
static struct ring log_ring;
static bool writer_started;      /* main thread only */
static atomic_bool writer_running;
static pthread_t writer;
static _Atomic uint64_t dropped_lines;
static __thread bool nonblocking;

void log_thread_nonblocking(void)
{
    nonblocking = true;
}

uint64_t log_dropped_lines(void)
{
    return atomic_load_explicit(&dropped_lines, memory_order_relaxed);
}

bool log_write_fd(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* The whole buffer, unless the output is gone (or a pipe is full). */
static void write_all(const char *p, size_t n)
{
    (void)log_write_fd(atomic_load(&log_out), p, n);
}

/* The one thread that may block on stderr. Between chunks (the ring only
 * ever holds whole lines, so a chunk that ends in '\n' ends a line) it
 * reports lines dropped since the last report. */
static void *writer_main(void *arg)
{
    char chunk[4096];
    uint64_t reported = 0;
    bool at_line_start = true;
    for (;;) {
        size_t n = ring_get(&log_ring, (uint8_t *)chunk, sizeof(chunk), -1);
        if (!n)
            return NULL; /* closed and empty */
        uint64_t d = log_dropped_lines();
        if (d != reported && at_line_start) {
            char line[128];
            int k = snprintf(line, sizeof(line),
                             "corral: warning: %llu log lines dropped (stderr did not keep "
                             "up)\n", (unsigned long long)(d - reported));
            write_all(line, (size_t)k);
            reported = d;
        }
        write_all(chunk, n);
        at_line_start = chunk[n - 1] == '\n';
        ring_done(&log_ring, n);
    }
}

int log_writer_start(void)
{
    if (writer_started)
        return 0;
    int r = ring_init(&log_ring, LOG_RING_BYTES);
    if (r)
        return r;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
    r = -pthread_create(&writer, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r) {
        ring_destroy(&log_ring);
        return r;
    }
    pthread_setname_np(writer, "log");
    writer_started = true;
    atomic_store(&writer_running, true);
    return 0;
}

void log_writer_stop(void)
{
    if (!atomic_exchange(&writer_running, false))
        return;
    /* Lines from now on are written directly; what is queued goes first,
     * unless the reader has stopped reading for good. */
    bool drained = ring_flush(&log_ring, LOG_FLUSH_STALL_MS) == 0;
    ring_close(&log_ring);
    if (drained)
        pthread_join(writer, NULL);
    else
        pthread_detach(writer); /* blocked in write(2) for good */
}

static const struct { const char *name; int level; } level_names[] = {
    { "off", LOG_OFF }, { "error", LOG_ERROR }, { "warning", LOG_WARN }, { "warn", LOG_WARN },
    { "info", LOG_INFO }, { "debug", LOG_DEBUG }, { "trace", LOG_TRACE },
};

int log_level_parse(const char *name, int *level)
{
    for (size_t i = 0; name && i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (!strcasecmp(name, level_names[i].name)) {
            *level = level_names[i].level;
            return 0;
        }
    return -EINVAL;
}

const char *log_level_name(int level)
{
    static const char *const names[] = { "Off", "Error", "Warning", "Info", "Debug", "Trace" };
    if (level < LOG_OFF)
        level = LOG_OFF;
    if (level > LOG_TRACE)
        level = LOG_TRACE;
    return names[level - LOG_OFF];
}

int log_open_output(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    int flags = O_WRONLY | O_CREAT | O_APPEND;
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        flags = O_RDWR; /* never waits for a reader, and write fails with EAGAIN when full */
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s '%.200s': %s", what, path, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) < 0 ||
        (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))) {
        close(fd);
        snprintf(err, errlen, "%s '%.200s': not a file, a named pipe or a character device",
                 what, path);
        return -EINVAL;
    }
    return fd;
}

int log_configure(const char *path, const struct log_options *o, char *err, size_t errlen)
{
    const char *mod = o->module;
    if (mod && strlen(mod) >= sizeof(module_filter)) {
        snprintf(err, errlen, "module is over %zu characters", sizeof(module_filter) - 1);
        return -EINVAL;
    }
    if (o->level < LOG_OFF || o->level > LOG_TRACE) {
        snprintf(err, errlen, "unknown log level %d", o->level);
        return -EINVAL;
    }
    pthread_mutex_lock(&opt_lock);
    if (path) {
        int fd = log_open_output(path, "log_path", err, errlen);
        if (fd < 0) {
            pthread_mutex_unlock(&opt_lock);
            return fd;
        }
        if (!atomic_load(&log_to_file)) {
            atomic_store(&log_out, fd);
            atomic_store(&log_to_file, true);
        } else {
            dup3(fd, atomic_load(&log_out), O_CLOEXEC);
            close(fd);
        }
    }
    /* "api::server" is Firecracker's spelling of api/server. */
    size_t k = 0;
    for (const char *p = mod; p && *p && k + 1 < sizeof(module_filter); p++) {
        if (p[0] == ':' && p[1] == ':') {
            module_filter[k++] = '/';
            p++;
        } else {
            module_filter[k++] = *p;
        }
    }
    module_filter[k] = 0;
    atomic_store(&have_module, k > 0);
    atomic_store(&show_level, o->show_level);
    atomic_store(&show_origin, o->show_origin);
    atomic_store(&log_verbose, o->level);
    pthread_mutex_unlock(&opt_lock);
    return 0;
}

static int msg_level(const char *level)
{
    if (!level)
        return LOG_INFO;
    int l;
    return log_level_parse(level, &l) ? LOG_ERROR : l;
}

/* src/api/server.c -> api/server.c */
static const char *short_file(const char *file)
{
    return file && !strncmp(file, "src/", 4) ? file + 4 : file;
}

static bool module_ok(const char *file)
{
    if (!atomic_load(&have_module))
        return true;
    if (!file)
        return false;
    pthread_mutex_lock(&opt_lock);
    bool ok = !strncmp(short_file(file), module_filter, strlen(module_filter));
    pthread_mutex_unlock(&opt_lock);
    return ok;
}

static void vlog(const char *level, const char *file, int line, const char *fmt, va_list ap)
{
    /* One write per line so lines from different threads do not interleave. */
    char buf[1024];
    size_t n = 0;
    if (msg_level(level) > atomic_load(&log_verbose) || !module_ok(file))
        return;
    if (atomic_load(&log_to_file)) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n += strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "corral: ");
    int sl = atomic_load(&show_level);
    if ((sl == LOG_SHOW_LEVEL_CLI && level) || sl == LOG_SHOW_LEVEL_ALL)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s: ", level ? level : "info");
    if (atomic_load(&show_origin) && file)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "[%s:%d] ", short_file(file), line);
    if (n < sizeof(buf) - 1)
        vsnprintf(buf + n, sizeof(buf) - 1 - n, fmt, ap);
    size_t len = strlen(buf);
    buf[len++] = '\n';
    if (nonblocking && atomic_load(&writer_running)) {
        if (!ring_put_all(&log_ring, (const uint8_t *)buf, len))
            atomic_fetch_add_explicit(&dropped_lines, 1, memory_order_relaxed);
        return;
    }
    write_all(buf, len);
}

void log_msg(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_msg_at(const char *level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, file, line, fmt, ap);
    va_end(ap);
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
