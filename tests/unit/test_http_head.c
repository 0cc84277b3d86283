/* The front door's request-head check (src/api/http_head.c): what it
 * accepts, what it waits for, and the status of each refusal; every
 * prefix of a good head is "more", never a refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_head.h"

static int check(const char *s, unsigned *status)
{
    struct api_reply rep = { 0 };
    int r = http_head_check(s, strlen(s), &rep);
    *status = r == HTTP_HEAD_BAD ? rep.status : 0;
    if (r == HTTP_HEAD_BAD)
        assert_true(rep.fault[0] != 0);
    return r;
}

static void test_accepted(void **state)
{
    static const char *const good[] = {
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",                      /* 1.0 needs no Host */
        "PUT /machine-config HTTP/1.1\nhost: x\ncontent-length:  12 \n\n", /* bare LF */
        "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\nX-A:\r\n\r\n",
        "GET /%20a?b=c HTTP/1.1\r\nHost: x\r\nUser-Agent: t\tab\xc3\xa9\r\n\r\nbody bytes",
    };
    unsigned st;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(check(good[i], &st), HTTP_HEAD_OK);
        /* Every proper prefix of the head waits for more. */
        const char *end = strstr(good[i], "\r\n\r\n");
        size_t head = end ? (size_t)(end - good[i]) + 4
                          : (size_t)(strstr(good[i], "\n\n") - good[i]) + 2;
        for (size_t n = 0; n < head; n++) {
            struct api_reply rep = { 0 };
            assert_int_equal(http_head_check(good[i], n, &rep), HTTP_HEAD_MORE);
        }
    }
}

static void test_refused(void **state)
{
    static const struct { const char *s; unsigned status; } bad[] = {
        { "GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n", 400 },  /* stray CR */
        { "GET / HTTP/1.1\r\nHost: x\r\nA: b\x01\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\n\r\n", 400 },                         /* no Host */
        { "GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400 },
        { " GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "GET /\r\n\r\n", 400 },
        { "GET / HTTP/x.1\r\nHost: x\r\n\r\n", 400 },
        { "GET / FTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "G\x80T / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "\x16\x03\x01", 400 },                                  /* TLS, unfinished */
        { "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
        { "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505 },
        { "GET / HTTP/0.9\r\n\r\n", 505 },
        { "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", 413 },
        { "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413 },
        { "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400 },
        { "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400 },
        { "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400 },
        { "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
    };
    unsigned st;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (check(bad[i].s, &st) != HTTP_HEAD_BAD || st != bad[i].status)
            fail_msg("case %zu: status %u, want %u", i, st, bad[i].status);
    }
    /* A NUL in a header line (strlen would stop at it). */
    const char nul[] = "GET / HTTP/1.1\r\nHost: x\r\nA: \0b\r\n\r\n";
    struct api_reply rep = { 0 };
    assert_int_equal(http_head_check(nul, sizeof(nul) - 1, &rep), HTTP_HEAD_BAD);
    assert_int_equal(rep.status, 400);
}

static void test_limits(void **state)
{
    char *buf = malloc(HTTP_MAX_HEAD + 4096);
    unsigned st;
    /* A target of API_MAX_URL bytes is accepted, one more is 414. */
    for (int extra = 0; extra <= 1; extra++) {
        int n = sprintf(buf, "GET /");
        memset(buf + n, 'a', API_MAX_URL - 1 + extra);
        n += API_MAX_URL - 1 + extra;
        strcpy(buf + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(check(buf, &st), extra ? HTTP_HEAD_BAD : HTTP_HEAD_OK);
        if (extra)
            assert_int_equal(st, 414);
    }
    /* A request line that never ends: 414 once the limit is reached. */
    int n = sprintf(buf, "GET /");
    memset(buf + n, 'a', HTTP_MAX_REQUEST_LINE);
    buf[n + HTTP_MAX_REQUEST_LINE] = 0;
    assert_int_equal(check(buf, &st), HTTP_HEAD_BAD);
    assert_int_equal(st, 414);
    /* Headers of exactly HTTP_MAX_HEADER_BYTES, blank line included, are
     * accepted; one byte more is 431, ended or not. */
    for (int extra = 0; extra <= 1; extra++) {
        n = sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
        int hdr_start = (int)strlen("GET / HTTP/1.1\r\n");
        int fill = HTTP_MAX_HEADER_BYTES - (n - hdr_start) - 4 + extra;
        memset(buf + n, 'b', (size_t)fill);
        strcpy(buf + n + fill, "\r\n\r\n");
        assert_int_equal(check(buf, &st), extra ? HTTP_HEAD_BAD : HTTP_HEAD_OK);
        if (extra)
            assert_int_equal(st, 431);
    }
    n = sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(buf + n, 'b', HTTP_MAX_HEADER_BYTES + 100);
    buf[n + HTTP_MAX_HEADER_BYTES + 100] = 0;
    assert_int_equal(check(buf, &st), HTTP_HEAD_BAD);
    assert_int_equal(st, 431);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
