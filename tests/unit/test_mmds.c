/* MMDS without a guest: the store (PUT, limit, JSON pointer lookup), RFC
 * 7396 merge patch (the RFC's appendix A cases), V2 token rules (ttl
 * range, expiry, eviction, bogus tokens), and the HTTP request parser and
 * answers fed byte strings as a hostile guest would send them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mmds.h"
#include "vm/config.h"

static json_t *js(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    if (!j)
        fail_msg("bad test JSON %s: %s", s, je.text);
    return j;
}

/* RFC 7396 appendix A: target, patch, result. */
static void test_merge_patch_rfc(void **state)
{
    static const char *const cases[][3] = {
        { "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
        { "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
        { "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
        { "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
        { "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
        { "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
        { "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}" },
        { "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
        { "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
        { "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
        { "{\"a\":\"foo\"}", "null", "null" },
        { "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
        { "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
        { "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
        { "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *t = js(cases[i][0]), *p = js(cases[i][1]), *want = js(cases[i][2]);
        json_t *got = mmds_merge_patch(t, p);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_ENCODE_ANY);
            fail_msg("case %zu: %s + %s gave %s, want %s", i, cases[i][0], cases[i][1], g,
                     cases[i][2]);
        }
        json_decref(t);
        json_decref(p);
        json_decref(want);
        json_decref(got);
    }
}

static void test_store_put_patch_limit(void **state)
{
    struct mmds *m = mmds_new();
    char err[256];
    json_t *got = mmds_get(m);
    assert_true(json_is_object(got) && json_object_size(got) == 0);
    json_decref(got);
    json_t *d = js("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"r\":\"r-1\"}}}");
    assert_int_equal(mmds_put(m, d, err, sizeof(err)), 0);
    json_decref(d);
    json_t *p = js("{\"latest\":{\"meta-data\":{\"r\":null,\"x\":[1,2]}}}");
    assert_int_equal(mmds_patch(m, p, err, sizeof(err)), 0);
    json_decref(p);
    got = mmds_get(m);
    json_t *want = js("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"x\":[1,2]}}}");
    assert_true(json_equal(got, want));
    json_decref(want);
    json_decref(got);

    /* The limit counts the compact JSON; a refused change leaves it all. */
    mmds_set_limit(m, 64);
    json_t *big = json_pack("{s:s}", "k", "0123456789012345678901234567890123456789"
                                          "0123456789012345678901234567890123456789");
    assert_int_equal(mmds_put(m, big, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "over its limit of 64 bytes"));
    assert_int_equal(mmds_patch(m, big, err, sizeof(err)), -EFBIG);
    json_decref(big);
    got = mmds_get(m);
    assert_non_null(json_object_get(json_object_get(got, "latest"), "meta-data"));
    json_decref(got);
    json_t *exact = js("{\"k\":\"\"}"); /* 8 bytes */
    mmds_set_limit(m, 8);
    assert_int_equal(mmds_put(m, exact, err, sizeof(err)), 0);
    mmds_set_limit(m, 7);
    assert_int_equal(mmds_put(m, exact, err, sizeof(err)), -EFBIG);
    json_decref(exact);
    assert_int_equal(mmds_put(m, NULL, err, sizeof(err)), -EINVAL);
    mmds_free(m);
}

static void test_lookup(void **state)
{
    struct mmds *m = mmds_new();
    char err[256];
    json_t *d = js("{\"a\":{\"b\":\"c\",\"l\":[\"x\",{\"y\":\"z\"}],\"s/t\":\"1\",\"u~v\":\"2\"}}");
    assert_int_equal(mmds_put(m, d, err, sizeof(err)), 0);
    json_decref(d);
    static const struct { const char *path, *want; } cases[] = {
        { "/", NULL }, { "/a/b", "\"c\"" }, { "/a/b/", "\"c\"" }, { "//a//b", "\"c\"" },
        { "/a/l/0", "\"x\"" }, { "/a/l/1/y", "\"z\"" }, { "/a/l/2", "-" }, { "/a/l/01", "-" },
        { "/a/l/-1", "-" }, { "/a/l/x", "-" }, { "/a/s~1t", "\"1\"" }, { "/a/u~0v", "\"2\"" },
        { "/a/u~2v", "-" }, { "/a/u~", "-" }, { "/a/b/c", "-" }, { "/nope", "-" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = mmds_lookup(m, cases[i].path, strlen(cases[i].path));
        if (!cases[i].want) {
            assert_true(json_is_object(v));
        } else if (!strcmp(cases[i].want, "-")) {
            if (v)
                fail_msg("%s: found something", cases[i].path);
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            if (!s || strcmp(s, cases[i].want))
                fail_msg("%s: got %s, want %s", cases[i].path, s ? s : "nothing",
                         cases[i].want);
            free(s);
        }
        json_decref(v);
    }
    mmds_free(m);
}

static void test_tokens(void **state)
{
    struct mmds *m = mmds_new();
    char tok[MMDS_TOKEN_LEN + 1], other[MMDS_TOKEN_LEN + 1];
    assert_int_equal(mmds_token_new(m, 0, 100, tok), -EINVAL);
    assert_int_equal(mmds_token_new(m, MMDS_TOKEN_TTL_MAX + 1, 100, tok), -EINVAL);
    assert_int_equal(mmds_token_new(m, 10, 100, tok), 0);
    assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
    assert_true(mmds_token_valid(m, tok, strlen(tok), 100));
    assert_true(mmds_token_valid(m, tok, strlen(tok), 109));
    assert_false(mmds_token_valid(m, tok, strlen(tok), 110)); /* expired */
    assert_false(mmds_token_valid(m, tok, strlen(tok) - 1, 100));
    char bad[MMDS_TOKEN_LEN + 1];
    memcpy(bad, tok, sizeof(bad));
    bad[5] ^= 1;
    assert_false(mmds_token_valid(m, bad, strlen(bad), 100));
    /* An all-zero slot is never a token. */
    char zeros[MMDS_TOKEN_LEN + 1] = { 0 };
    assert_false(mmds_token_valid(m, zeros, MMDS_TOKEN_LEN, 0));
    /* Two tokens differ; MMDS_MAX_TOKENS more evict the first. */
    assert_int_equal(mmds_token_new(m, 100, 200, tok), 0);
    assert_int_equal(mmds_token_new(m, 200, 200, other), 0);
    assert_string_not_equal(tok, other);
    for (int i = 0; i < MMDS_MAX_TOKENS - 1; i++) {
        char t[MMDS_TOKEN_LEN + 1];
        assert_int_equal(mmds_token_new(m, 1000, 200, t), 0);
    }
    assert_false(mmds_token_valid(m, tok, MMDS_TOKEN_LEN, 201));
    assert_true(mmds_token_valid(m, other, MMDS_TOKEN_LEN, 201));
    /* A change of version forgets every token. */
    mmds_configure(m, MMDS_V2, MMDS_DEFAULT_IPV4, false);
    assert_false(mmds_token_valid(m, other, MMDS_TOKEN_LEN, 201));
    mmds_free(m);
}

/* ---- HTTP ---- */

static struct mmds *http_store(enum mmds_version v)
{
    struct mmds *m = mmds_new();
    char err[256];
    json_t *d = js("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-87654321\",\"r\":\"r-1\","
                   "\"net\":{\"mac\":\"aa\"},\"n\":5}}}");
    assert_int_equal(mmds_put(m, d, err, sizeof(err)), 0);
    json_decref(d);
    mmds_configure(m, v, MMDS_DEFAULT_IPV4, false);
    return m;
}

/* The HTTP tests' fixture: a store and one connection. */
struct http_fx {
    struct mmds *m;
    struct mmds_conn c;
};

static int http_setup(void **state, enum mmds_version v)
{
    struct http_fx *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    fx->m = http_store(v);
    mmds_conn_init(&fx->c);
    *state = fx;
    return 0;
}

static int setup_v1(void **state)
{
    return http_setup(state, MMDS_V1);
}

static int setup_v2(void **state)
{
    return http_setup(state, MMDS_V2);
}

static int http_teardown(void **state)
{
    struct http_fx *fx = *state;
    mmds_conn_free(&fx->c);
    mmds_free(fx->m);
    free(fx);
    return 0;
}

/* Feed `req`, return the answer (NUL-terminated, static) and clear it. */
static const char *exchange(struct mmds_conn *c, struct mmds *m, const char *req)
{
    static char buf[8192];
    mmds_conn_feed(c, m, (const uint8_t *)req, strlen(req), 1000);
    size_t n = c->out_len < sizeof(buf) - 1 ? c->out_len : sizeof(buf) - 1;
    if (n)
        memcpy(buf, c->out, n);
    buf[n] = 0;
    mmds_conn_consume(c, c->out_len);
    return buf;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

static void test_http_v1(void **state)
{
    struct mmds_conn *c = &((struct http_fx *)*state)->c;
    struct mmds *m = ((struct http_fx *)*state)->m;
    /* Request, a line the answer holds, its body (NULL: not checked). */
    static const struct { const char *req, *has, *body; } cases[] = {
        { "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\n\r\n", "Content-Length: 12\r\n",
          "ami-87654321" },
        { "GET /latest/meta-data HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n", "ami-id\nn\nnet/\nr" },
        { "GET /latest/meta-data/net HTTP/1.1\r\naccept: application/json\r\n\r\n",
          "Content-Type: application/json", "{\"mac\":\"aa\"}" },
        { "GET /latest/meta-data/n HTTP/1.1\r\n\r\n", "HTTP/1.1 501 ", NULL },
        { "GET /latest/meta-data/n HTTP/1.1\r\nAccept: application/json\r\n\r\n", "200 OK", "5" },
        { "GET /nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 ", "Resource not found: /nope." },
        /* V1 answers even with a bogus token. */
        { "GET /latest/meta-data/r HTTP/1.1\r\nX-metadata-token: zz\r\n\r\n", "200 OK", "r-1" },
        { "DELETE /latest HTTP/1.1\r\n\r\n", "Allow: GET, PUT\r\n", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *r = exchange(c, m, cases[i].req);
        if (!strstr(r, cases[i].has) || (cases[i].body && strcmp(body_of(r), cases[i].body)))
            fail_msg("case %zu: %s", i, r);
    }
    /* Pipelined, split at every byte: the same answers. */
    const char *two = "GET /latest/meta-data/r HTTP/1.1\r\n\r\nGET /latest/meta-data/ami-id "
                      "HTTP/1.1\r\n\r\n";
    for (size_t i = 0; two[i]; i++)
        mmds_conn_feed(c, m, (const uint8_t *)two + i, 1, 1000);
    char all[1024];
    snprintf(all, sizeof(all), "%.*s", (int)c->out_len, (const char *)c->out);
    const char *second = strstr(all + 1, "HTTP/1.1 200");
    assert_non_null(second);
    assert_string_equal(body_of(second), "ami-87654321");
    mmds_conn_consume(c, c->out_len);
    /* imds_compat: IMDS format whatever Accept says. */
    mmds_configure(m, MMDS_V1, MMDS_DEFAULT_IPV4, true);
    const char *r = exchange(c, m, "GET /latest/meta-data/net HTTP/1.1\r\nAccept: application/json\r\n\r\n");
    assert_string_equal(body_of(r), "mac");
}

static void test_http_v2_tokens(void **state)
{
    struct mmds_conn *c = &((struct http_fx *)*state)->c;
    struct mmds *m = ((struct http_fx *)*state)->m;
    const char *r = exchange(c, m, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 401 "));
    assert_non_null(strstr(body_of(r), "No MMDS token provided"));
    r = exchange(c, m, "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: nope\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 401 "));
    assert_string_equal(body_of(r), "MMDS token not valid.");
    r = exchange(c, m, "PUT /latest/api/token HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 400 "));
    assert_non_null(strstr(body_of(r), "Token time to live value not found"));
    static const char *const bad_ttls[] = { "0", "21601", "-1", "1x", "", "99999999999" };
    for (size_t i = 0; i < sizeof(bad_ttls) / sizeof(bad_ttls[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req), "PUT /latest/api/token HTTP/1.1\r\n"
                 "X-metadata-token-ttl-seconds: %s\r\n\r\n", bad_ttls[i]);
        r = exchange(c, m, req);
        if (!strstr(r, "HTTP/1.1 400 ") || !strstr(r, "Invalid time to live"))
            fail_msg("ttl '%s': %s", bad_ttls[i], r);
    }
    r = exchange(c, m, "PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n"
                        "X-metadata-token-ttl-seconds: 60\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 400 "));
    r = exchange(c, m, "PUT /latest/other HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 404 "));
    r = exchange(c, m, "PUT /latest/api/token HTTP/1.1\r\n"
                        "X-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
    char tok[MMDS_TOKEN_LEN + 1];
    snprintf(tok, sizeof(tok), "%s", body_of(r));
    assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
    char req[256];
    snprintf(req, sizeof(req), "GET /latest/meta-data/ami-id HTTP/1.1\r\n"
             "X-metadata-token:   %s  \r\n\r\n", tok);
    r = exchange(c, m, req);
    assert_string_equal(body_of(r), "ami-87654321");
    /* Expired at 1000 + 60. */
    mmds_conn_feed(c, m, (const uint8_t *)req, strlen(req), 1060);
    assert_true(c->out_len > 13);
    assert_memory_equal(c->out, "HTTP/1.1 401 ", 13);
}

/* Each of these is refused with 400 (or 413/501) and closes the
 * conversation: what follows is not answered. */
static void test_http_malformed(void **state)
{
    struct mmds *m = http_store(MMDS_V1);
    static const struct { const char *req; const char *status; } cases[] = {
        { "GET /a HTTP/1.2\r\n\r\n", "400" },
        { "GET a HTTP/1.1\r\n\r\n", "400" },
        { "GET  /a HTTP/1.1\r\n\r\n", "400" },
        { "GET /a\x01 HTTP/1.1\r\n\r\n", "400" },
        { "G(T /a HTTP/1.1\r\n\r\n", "400" },
        { "GET /a HTTP/1.1\n\n", NULL },            /* no CRLF: never a head; see below */
        { "GET /a HTTP/1.1\r\nNoColon\r\n\r\n", "400" },
        { "GET /a HTTP/1.1\r\n folded: x\r\n\r\n", "400" },
        { "GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n", "400" },
        { "GET /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "400" },
        { "GET /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400" },
        { "GET /a HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", "413" },
        { "GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "501" },
        { "GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n", "400" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mmds_conn c;
        mmds_conn_init(&c);
        const char *r = exchange(&c, m, cases[i].req);
        if (!cases[i].status) {
            assert_int_equal(r[0], 0);
        } else {
            char want[32];
            snprintf(want, sizeof(want), "HTTP/1.1 %s ", cases[i].status);
            if (strncmp(r, want, strlen(want)) || !strstr(r, "Connection: close"))
                fail_msg("case %zu: %s", i, r);
            r = exchange(&c, m, "GET /latest HTTP/1.1\r\n\r\n");
            assert_int_equal(r[0], 0);
        }
        mmds_conn_free(&c);
    }
    /* A head that never ends: 400 once the buffer is full, never more. */
    struct mmds_conn c;
    mmds_conn_init(&c);
    char junk[1000];
    memset(junk, 'a', sizeof(junk));
    for (int i = 0; i < 10; i++)
        mmds_conn_feed(&c, m, (const uint8_t *)junk, sizeof(junk), 0);
    assert_true(c.out_len > 0 && c.out_len < 512);
    assert_memory_equal(c.out, "HTTP/1.1 400 ", 13);
    /* A new connection starts afresh; a body is skipped. */
    mmds_conn_reset(&c);
    const char *r = exchange(&c, m, "PUT /latest/x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
                                    "abcdeGET /latest HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 404 "));
    assert_non_null(strstr(r, "meta-data/"));
    /* HTTP/1.0 and Connection: close end the conversation after the answer. */
    mmds_conn_reset(&c);
    r = exchange(&c, m, "GET /latest HTTP/1.0\r\n\r\nGET /latest HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(r, "Connection: close"));
    assert_null(strstr(strstr(r, "meta-data/"), "HTTP/1.1"));
    mmds_conn_free(&c);
    mmds_free(m);
}

/* A guest that never reads its answers: they stop at MMDS_HTTP_MAX_OUT. */
static void test_http_out_bounded(void **state)
{
    struct mmds_conn *c = &((struct http_fx *)*state)->c;
    struct mmds *m = ((struct http_fx *)*state)->m;
    const char *req = "GET /latest/meta-data HTTP/1.1\r\n\r\n";
    for (int i = 0; i < 20000; i++)
        mmds_conn_feed(c, m, (const uint8_t *)req, strlen(req), 0);
    assert_true(c->out_len <= MMDS_HTTP_MAX_OUT);
    assert_true(c->closed);
}

/* mmds-config in a config document: after the interfaces it names, only
 * user-mode ones; GET /vm/config's shape loads back the same. */
static void test_config_document(void **state)
{
    struct vm_config c;
    char err[VM_ERR_LEN];
    vmcfg_init(&c);
    json_t *doc = js("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"mmds-config\":{\"version\":\"V2\",\"network_interfaces\":[\"u0\"],"
                     "\"ipv4_address\":\"169.254.170.2\"},\"network-interfaces\":[{\"iface_id\":"
                     "\"u0\",\"type\":\"user\"},{\"iface_id\":\"t0\",\"host_dev_name\":\"tap0\"}]}");
    assert_int_equal(vmcfg_apply_document(&c, doc, err), 0);
    json_decref(doc);
    assert_true(c.mmds.present);
    assert_int_equal(c.mmds.version, MMDS_V2);
    assert_int_equal(c.mmds.ipv4, 0xa9feaa02u);
    assert_int_equal(mmds_version(vmcfg_mmds_store(&c)), MMDS_V2);
    json_t *out = vmcfg_to_json(&c);
    json_t *want = js("{\"version\":\"V2\",\"network_interfaces\":[\"u0\"],"
                      "\"ipv4_address\":\"169.254.170.2\",\"imds_compat\":false}");
    assert_true(json_equal(json_object_get(out, "mmds-config"), want));
    json_decref(want);
    struct vm_config back;
    vmcfg_init(&back);
    if (vmcfg_apply_document(&back, out, err))
        fail_msg("GET /vm/config does not load back: %s", err);
    assert_int_equal(back.mmds.ipv4, c.mmds.ipv4);
    vmcfg_free(&back);
    json_decref(out);
    static const char *const bad[] = {
        "{\"network_interfaces\":[\"nope\"]}",
        "{\"network_interfaces\":[]}",
        "{\"network_interfaces\":[\"u0\",\"u0\"]}",
        "{\"network_interfaces\":[\"u0\"],\"ipv4_address\":\"10.0.2.4\"}",
        "{\"network_interfaces\":[\"u0\"],\"ipv4_address\":\"169.254.1\"}",
        "{\"network_interfaces\":[\"u0\"],\"version\":\"v2\"}",
        "{\"network_interfaces\":[\"u0\"],\"imds_compat\":1}",
        "{\"network_interfaces\":[\"u0\"],\"other\":1}",
        "{\"network_interfaces\":[7]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = js(bad[i]);
        if (vmcfg_put_mmds_config(&c, b, err) != -EINVAL)
            fail_msg("accepted %s", bad[i]);
        json_decref(b);
    }
    assert_int_equal(c.mmds.ipv4, 0xa9feaa02u); /* refusals changed nothing */
    /* A TAP interface gets MMDS too (net/mmds_link.c). */
    json_t *tap = js("{\"network_interfaces\":[\"t0\"]}");
    assert_int_equal(vmcfg_put_mmds_config(&c, tap, err), 0);
    assert_string_equal(c.mmds.ifaces[0], "t0");
    json_decref(tap);
    vmcfg_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_patch_rfc),
        cmocka_unit_test(test_store_put_patch_limit),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test_setup_teardown(test_http_v1, setup_v1, http_teardown),
        cmocka_unit_test_setup_teardown(test_http_v2_tokens, setup_v2, http_teardown),
        cmocka_unit_test(test_http_malformed),
        cmocka_unit_test_setup_teardown(test_http_out_bounded, setup_v1, http_teardown),
        cmocka_unit_test(test_config_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
