/* The console's input filter (cli/console.c) and monitor (cli/monitor.c)
 * without a terminal or a guest: the Ctrl-A escapes, what reaches the
 * guest, the monitor's line editing and its commands on a VM that was
 * never started. Console output goes to a temporary file read back here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The CLI is not part of libcorral.a: its files are built in. */
#include "cli/console.c"
#include "cli/ctl.c"
#include "cli/monitor.c"

int cli_usage_error(const char *fmt, const char *arg)
{
    (void)fmt;
    (void)arg;
    return 2;
}

static char out_path[] = "/tmp/corral-test-console.XXXXXX";

/* Everything written to the console since the last call. */
static char *take_output(void)
{
    static long seen;
    FILE *f = fopen(out_path, "r");
    assert_non_null(f);
    fseek(f, seen, SEEK_SET);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    seen += (long)n;
    fclose(f);
    return buf;
}

static size_t feed(struct console_filter *f, const char *in, uint8_t *out, bool *quit)
{
    size_t len = strlen(in);
    memcpy(out, in, len);
    *quit = false;
    return console_filter_input(f, out, len, quit);
}

static void test_escapes(void **state)
{
    struct console_filter f = { 0 };
    uint8_t buf[64];
    bool quit;
    assert_int_equal(feed(&f, "ab\x03", buf, &quit), 3); /* Ctrl-C passes */
    assert_memory_equal(buf, "ab\x03", 3);
    assert_int_equal(feed(&f, "\x01\x01", buf, &quit), 1); /* one Ctrl-A */
    assert_int_equal(buf[0], 0x01);
    assert_int_equal(feed(&f, "\x01z", buf, &quit), 2); /* not an escape */
    assert_memory_equal(buf, "\x01z", 2);
    assert_int_equal(feed(&f, "\x01", buf, &quit), 0); /* split across reads */
    assert_true(f.escape);
    assert_int_equal(feed(&f, "\x01", buf, &quit), 1);
    free(take_output());
    assert_int_equal(feed(&f, "q\x01hw", buf, &quit), 2);
    assert_memory_equal(buf, "qw", 2);
    char *o = take_output();
    for (const char *k = "xbch"; *k; k++) {
        char want[8];
        snprintf(want, sizeof(want), "C-a %c", *k);
        assert_non_null(strstr(o, want));
    }
    assert_non_null(strstr(o, "\r\n")); /* lines end for a raw terminal */
    free(o);
    assert_int_equal(feed(&f, "ok\x01xlost", buf, &quit), 2);
    assert_true(quit);
    /* No VM: Ctrl-A b says so; Ctrl-A c is passed through. */
    assert_int_equal(feed(&f, "\x01" "b", buf, &quit), 0);
    o = take_output();
    assert_non_null(strstr(o, "no break sent"));
    free(o);
    assert_int_equal(feed(&f, "\x01" "c", buf, &quit), 2);
    assert_false(f.monitor);
}

static void test_monitor(void **state)
{
    struct vm *vm;
    assert_int_equal(vm_create(&vm, "mon-test", NULL), 0);
    struct console_filter f = { .vm = vm };
    uint8_t buf[512];
    bool quit;
    free(take_output());
    assert_int_equal(feed(&f, "\x01" "c", buf, &quit), 0);
    assert_true(f.monitor);
    /* Typed text stays in the monitor; backspace, arrow keys, Ctrl-U. */
    assert_int_equal(feed(&f, "stax\x7ftus\x1b[A\r", buf, &quit), 0);
    char *o = take_output();
    assert_non_null(strstr(o, "(corral) "));
    assert_non_null(strstr(o, "VM mon-test: Not started"));
    free(o);
    assert_int_equal(feed(&f, "junk\x15pause\r", buf, &quit), 0);
    o = take_output();
    assert_non_null(strstr(o, "error: "));
    free(o);
    assert_int_equal(feed(&f, "frobnicate\r", buf, &quit), 0);
    o = take_output();
    assert_non_null(strstr(o, "unknown command 'frobnicate'"));
    free(o);
    assert_int_equal(feed(&f, "help\rsnapshot\r", buf, &quit), 0);
    o = take_output();
    assert_non_null(strstr(o, "resume"));
    assert_non_null(strstr(o, "usage: snapshot DIR [diff]"));
    free(o);
    /* A line longer than the buffer is cut, never overrun. */
    char longline[600];
    memset(longline, 'a', sizeof(longline) - 2);
    longline[sizeof(longline) - 2] = '\r';
    longline[sizeof(longline) - 1] = 0;
    uint8_t big[600];
    assert_int_equal(feed(&f, longline, big, &quit), 0);
    assert_false(quit);
    free(take_output());
    /* Back to the guest: bytes pass again; then quit from the monitor. */
    assert_int_equal(feed(&f, "\x01" "cls\r", buf, &quit), 3);
    assert_false(f.monitor);
    assert_int_equal(feed(&f, "\x01" "cquit\rrest", buf, &quit), 0);
    assert_true(quit);
    vm_destroy(vm);
}

/* A query in the guest's output leaves a reply awaited until one comes in
 * (and passes to the guest like any input). */
static void test_query_reply(void **state)
{
    struct console_filter f = { 0 };
    uint8_t buf[64];
    bool quit;
    console_write(NULL, (const uint8_t *)"\033[6n", 4); /* ours: not the guest's */
    assert_int_equal(atomic_load(&last_query_ms), -1);
    console_write(&f, (const uint8_t *)"$ \033[?25l\033[6", 11);
    assert_int_equal(atomic_load(&last_query_ms), -1); /* not a query, and half of one */
    console_write(&f, (const uint8_t *)"n", 1);
    assert_true(atomic_load(&last_query_ms) >= 0);
    assert_true(atomic_load(&last_query_ms) > atomic_load(&last_reply_ms));
    assert_int_equal(feed(&f, "\033[24;80R", buf, &quit), 8);
    assert_memory_equal(buf, "\033[24;80R", 8);
    assert_true(atomic_load(&last_reply_ms) >= atomic_load(&last_query_ms));
    free(take_output());
}

int main(void)
{
    int fd = mkstemp(out_path);
    if (fd < 0 || console_open_file(out_path))
        return 1;
    close(fd);
    say_fd = -1; /* the monitor's answers into the file too, to be read back */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_monitor),
        cmocka_unit_test(test_query_reply),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(out_path);
    return r;
}
