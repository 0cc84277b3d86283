/* Issue 14: a log line from a hart or I/O thread must never block on a
 * stalled stderr. stderr is made a pipe nobody reads; a thread that logs
 * directly stalls on it (the control), one marked non-blocking logs 4 MB
 * and goes on, losing whole lines that are counted and reported once the
 * pipe is read again. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

#define LINES 20000 /* ~100 bytes each: 30 times a 64 KiB pipe */

struct logger {
    bool nonblocking;
    atomic_bool done;
};

static void *logger_main(void *arg)
{
    struct logger *l = arg;
    if (l->nonblocking)
        log_thread_nonblocking();
    for (int i = 0; i < LINES; i++)
        log_warn("test line %d from a %s thread ..................................", i,
                 l->nonblocking ? "hart" : "blocking");
    atomic_store(&l->done, true);
    return NULL;
}

/* Wait up to `ms` for the flag. */
static bool wait_done(struct logger *l, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(&l->done))
            return true;
        usleep(10000);
    }
    return atomic_load(&l->done);
}

/* Read what the pipe holds now (non-blocking) into buf; returns bytes. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (int idle = 0; idle < 20 && n < cap;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r > 0) {
            n += (size_t)r;
            idle = 0;
        } else {
            idle++;
            usleep(10000);
        }
    }
    return n;
}

static void test_stalled_stderr(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);

    /* Control: without the writer's ring, a logging thread stalls. */
    struct logger blocking = { .nonblocking = false };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, logger_main, &blocking), 0);
    bool stalled = !wait_done(&blocking, 1000);
    static char buf[8 << 20];
    while (!atomic_load(&blocking.done))
        drain(p[0], buf, sizeof(buf)); /* let it finish */
    pthread_join(t, NULL);
    drain(p[0], buf, sizeof(buf));

    /* With the writer: the pipe fills, the "hart" never waits. */
    assert_int_equal(log_writer_start(), 0);
    struct logger hart = { .nonblocking = true };
    assert_int_equal(pthread_create(&t, NULL, logger_main, &hart), 0);
    bool went_on = wait_done(&hart, 20000); /* ~50 ms unloaded */
    while (!atomic_load(&hart.done))
        drain(p[0], buf, sizeof(buf)); /* it stalled: free it, then fail */
    pthread_join(t, NULL);
    uint64_t dropped = log_dropped_lines();

    /* Read again: every byte belongs to a whole line, and one more line
     * brings the report of what was dropped. */
    size_t n = drain(p[0], buf, sizeof(buf) - 1);
    log_thread_nonblocking();
    log_warn("after the stall");
    n += drain(p[0], buf + n, sizeof(buf) - 1 - n);
    buf[n] = '\0';
    log_writer_stop();

    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[0]);
    close(p[1]);
    assert_true(stalled);
    assert_true(went_on);
    assert_true(dropped > 0);
    assert_true(dropped < LINES);
    assert_non_null(strstr(buf, "log lines dropped (stderr did not keep up)"));
    assert_non_null(strstr(buf, "corral: warning: after the stall\n"));
    for (char *line = buf; *line; line = strchr(line, '\n') + 1) {
        assert_non_null(strchr(line, '\n'));
        assert_int_equal(strncmp(line, "corral: warning: ", 17), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalled_stderr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
