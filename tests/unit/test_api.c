/* The API without a guest: routing (Firecracker's 400 for an unknown path
 * or method), request bodies, the state checks seen through HTTP, paths
 * checked at the PUT, the socket rules (mode 0600, missing directory,
 * live and stale sockets), the 64 KiB body limit, and 100 concurrent
 * clients. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"

static struct vm *vm;
static struct api_ctx ctx;
static char dir[64], sock[128], disk[128], image[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/corral-api-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/api.sock", dir);
    /* Paths a PUT names must exist (they are checked at the PUT). */
    snprintf(disk, sizeof(disk), "%s/r", dir);
    snprintf(image, sizeof(image), "%s/Image", dir);
    fclose(fopen(disk, "w"));
    fclose(fopen(image, "w"));
    assert_int_equal(vm_create(&vm, "unit", NULL), 0);
    api_ctx_init(&ctx, vm);
    return 0;
}

static int teardown(void **state)
{
    api_ctx_destroy(&ctx);
    vm_destroy(vm);
    unlink(sock);
    unlink(disk);
    unlink(image);
    rmdir(dir);
    return 0;
}

static void dispatch(const char *method, const char *path, const char *body,
                     struct api_reply *rep)
{
    memset(rep, 0, sizeof(*rep));
    api_dispatch(&ctx, method, path, body, body ? strlen(body) : 0, rep);
}

static void expect(const char *method, const char *path, const char *body, unsigned status,
                   const char *needle)
{
    struct api_reply rep;
    dispatch(method, path, body, &rep);
    if (rep.status != status || (needle && !strstr(rep.fault, needle)))
        fail_msg("%s %s %s: got %u '%s', want %u '%s'", method, path, body ? body : "",
                 rep.status, rep.fault, status, needle ? needle : "");
    json_decref(rep.body);
}

/* expect() with the body a format: every %s is the test's image file. */
static void expectf(const char *method, const char *path, unsigned status, const char *needle,
                    const char *fmt)
{
    char body[1024];
    snprintf(body, sizeof(body), fmt, disk, disk, disk);
    expect(method, path, body, status, needle);
}

static void test_routing(void **state)
{
    char id[80], allow[64];
    struct api_reply rep = { 0 };
    const struct api_route *r = api_route_find("PUT", "/drives/rootfs", id, sizeof(id),
                                               allow, sizeof(allow), &rep);
    assert_non_null(r);
    assert_string_equal(id, "rootfs");
    assert_null(api_route_find("DELETE", "/machine-config", id, sizeof(id), allow,
                               sizeof(allow), &rep));
    /* Firecracker answers 400 for both an unknown path and a method the
     * path does not have; Allow still lists the path's methods. */
    assert_int_equal(rep.status, 400);
    assert_string_equal(rep.fault, "Invalid request method and/or path: DELETE machine-config.");
    assert_string_equal(allow, "GET, PUT, PATCH");
    assert_null(api_route_find("GET", "/drives/", id, sizeof(id), allow, sizeof(allow), &rep));
    assert_int_equal(rep.status, 400);
    assert_null(api_route_find("PUT", "/drives/a/b", id, sizeof(id), allow, sizeof(allow),
                               &rep));
    assert_int_equal(rep.status, 400);
    assert_non_null(api_route_find("GET", "/vm/config", id, sizeof(id), allow,
                                   sizeof(allow), &rep));
    assert_string_equal(id, "");
    expect("GET", "/nope", NULL, 400, "Invalid request method and/or path: GET nope.");
    expect("POST", "/actions", "{}", 400, "Invalid request method and/or path: POST actions.");
    expect("GET", "/vm", NULL, 400, "GET vm.");
}

static void test_bodies(void **state)
{
    expect("PUT", "/actions", "{bad", 400, "malformed JSON");
    expect("PUT", "/actions", NULL, 400, "needs a JSON body");
    expect("PUT", "/actions", "[]", 400, "JSON object");
    expect("PUT", "/actions", "{\"action_type\":\"Fly\"}", 400, "unknown action_type");
    expect("PUT", "/actions", "{\"action_type\":1}", 400, "must be a string");
    expect("PUT", "/actions", "{\"action_type\":\"Reset\",\"x\":1}", 400, "unknown key 'x'");
    expect("PUT", "/actions", "{\"a\":1,\"a\":2}", 400, "malformed JSON");
    expect("PATCH", "/vm", "{\"state\":\"Flying\"}", 400, "unknown state 'Flying'");
    expect("PATCH", "/vm", "{\"state\":\"Paused\"}", 400, "not started");
    expect("PUT", "/actions", "{\"action_type\":\"Reset\"}", 400, "not started");
    expect("GET", "/", "{}", 400, "takes no body");
    expect("PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":64}", 204, NULL);
    expectf("PUT", "/drives/rootfs", 204, NULL,
            "{\"path_on_host\":\"%s\",\"is_root_device\":true}");
    expect("PUT", "/drives/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "{\"path_on_host\":\"/r\",\"is_root_device\":false}", 400, "drive_id");
    /* A file that is not there: at the PUT, in the API's words. */
    expect("PUT", "/drives/data", "{\"path_on_host\":\"/nonexistent/d.img\","
                                  "\"is_root_device\":false}", 400,
           "drive 'data': path_on_host '/nonexistent/d.img': No such file or directory");
    expect("PUT", "/network-interfaces/eth0", "{\"type\":\"user\"}", 204, NULL);
    expect("PUT", "/boot-source", "{\"kernel_image_path\":\"/nonexistent/Image\"}", 400,
           "boot-source: kernel_image_path '/nonexistent/Image': No such file");
    /* Empty files: start fails on the images (400), and the VM is still
     * configurable. */
    expectf("PUT", "/boot-source", 204, NULL,
            "{\"kernel_image_path\":\"%s\",\"firmware_path\":\"%s\"}");
    expect("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 400, NULL);
    expect("PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64}", 204, NULL);

    struct api_reply rep;
    dispatch("GET", "/vm/config", NULL, &rep);
    assert_int_equal(rep.status, 200);
    json_t *mc = json_object_get(rep.body, "machine-config");
    assert_int_equal(json_integer_value(json_object_get(mc, "vcpu_count")), 1);
    assert_int_equal(json_array_size(json_object_get(rep.body, "drives")), 1);
    json_decref(rep.body);
    dispatch("GET", "/", NULL, &rep);
    assert_string_equal(json_string_value(json_object_get(rep.body, "state")), "Not started");
    assert_string_equal(json_string_value(json_object_get(rep.body, "id")), "unit");
    json_decref(rep.body);
    dispatch("GET", "/metrics", NULL, &rep);
    assert_int_equal(rep.status, 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(rep.body, "instructions"), "total")), 0);
    json_decref(rep.body);
}

/* PATCH /drives and /network-interfaces before start: the limiters of
 * what exists, shown by GET /vm/config; bad bodies get 400 + a message. */
static void test_patch_limiters(void **state)
{
    expect("PATCH", "/drives/d", "{\"rate_limiter\":null}", 400, "no drive 'd'");
    expectf("PUT", "/drives/d", 400, "rate_limiter.bandwidth.size",
            "{\"path_on_host\":\"%s\",\"is_root_device\":false,"
            "\"rate_limiter\":{\"bandwidth\":{\"size\":-1,\"refill_time\":1}}}");
    expectf("PUT", "/drives/d", 204, NULL, "{\"path_on_host\":\"%s\",\"is_root_device\":false}");
    expect("PATCH", "/drives/d", "{\"rate_limiter\":{\"bandwidth\":{\"size\":1048576,"
                                 "\"refill_time\":1000}}}", 204, NULL);
    expect("PATCH", "/drives/d", "{\"rate_limiter\":{\"ops\":{\"size\":5,\"refill_time\":0}}}",
           400, "refill_time");
    expect("PATCH", "/drives/d", "{\"rate_limiter\":{\"ops\":{\"size\":5,\"refill_time\":9,"
                                 "\"burst\":1}}}", 400, "unknown key 'burst'");
    expect("PATCH", "/drives/d", "{\"drive_id\":\"e\"}", 400, "in the path");
    expect("PATCH", "/drives/d", NULL, 400, "needs a JSON body");
    expect("PUT", "/network-interfaces/n", "{\"type\":\"user\"}", 204, NULL);
    expect("PATCH", "/network-interfaces/n", "{\"tx_rate_limiter\":{\"bandwidth\":"
                                             "{\"size\":1000,\"refill_time\":10}}}", 204, NULL);
    expect("PATCH", "/network-interfaces/n", "{\"rx_rate_limiter\":[]}", 400,
           "rx_rate_limiter must be an object");
    expect("PATCH", "/network-interfaces/m", "{}", 400, "no interface 'm'");
    struct api_reply rep;
    dispatch("GET", "/vm/config", NULL, &rep);
    json_t *d = json_array_get(json_object_get(rep.body, "drives"), 0);
    json_t *bw = json_object_get(json_object_get(d, "rate_limiter"), "bandwidth");
    assert_int_equal(json_integer_value(json_object_get(bw, "size")), 1048576);
    json_t *n = json_array_get(json_object_get(rep.body, "network-interfaces"), 0);
    assert_non_null(json_object_get(n, "tx_rate_limiter"));
    assert_null(json_object_get(n, "rx_rate_limiter"));
    json_decref(rep.body);
}

/* A memory limit below guest RAM + the VMM's share: InstanceStart is
 * refused (400) before any file is opened or any cgroup made. */
static void test_memory_limit_refused(void **state)
{
    expect("PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":256,"
                                     "\"memory_limit_mib\":128}", 204, NULL);
    expectf("PUT", "/boot-source", 204, NULL,
            "{\"kernel_image_path\":\"%s\",\"firmware_path\":\"%s\"}");
    expect("PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 400,
           "memory limit 128 MiB is below the 320 MiB");
    /* The VM is still configurable. */
    expect("PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":256}", 204, NULL);
}

static void test_socket_rules(void **state)
{
    char err[API_ERR_LEN];
    struct stat st;
    /* Missing directory. */
    assert_int_equal(api_socket_bind("/nonexistent-dir/x.sock", err), -ENOENT);
    assert_non_null(strstr(err, "does not exist"));
    /* A regular file is not replaced. */
    FILE *f = fopen(sock, "w");
    fclose(f);
    assert_int_equal(api_socket_bind(sock, err), -EEXIST);
    unlink(sock);
    /* Fresh: mode 0600. */
    int fd = api_socket_bind(sock, err);
    assert_true(fd >= 0);
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Held by a live listener. */
    assert_int_equal(api_socket_bind(sock, err), -EADDRINUSE);
    assert_non_null(strstr(err, "in use"));
    /* Its process died (socket closed, file left): replaced. */
    close(fd);
    fd = api_socket_bind(sock, err);
    assert_true(fd >= 0);
    close(fd);
    unlink(sock);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    assert_true(api_socket_bind(longp, err) < 0);
}

static void *client_thread(void *arg)
{
    unsigned status = 0;
    char *resp = NULL, err[API_ERR_LEN];
    int r = api_client_request(sock, "GET", "/", NULL, &status, &resp, err);
    bool ok = r == 0 && status == 200 && resp && strstr(resp, "\"state\"");
    free(resp);
    return ok ? (void *)1 : NULL;
}

/* Send raw bytes, return the status of the answer (0 if none). */
static unsigned raw_request(const char *req, size_t len)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    assert_true(strlen(sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (send(fd, req, len, MSG_NOSIGNAL) < 0) {
        /* the server may close early */
    }
    /* Until the server closes: an answer may come in more than one piece. */
    char buf[1024];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(buf) - 1 && (r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += (size_t)r;
    close(fd);
    unsigned status = 0;
    ssize_t n = (ssize_t)got;
    if (n > 0) {
        buf[n] = 0;
        if (sscanf(buf, "HTTP/1.%*u %u", &status) != 1)
            status = 0;
        if (status >= 400)
            assert_non_null(strstr(buf, "fault_message"));
    }
    return status;
}

/* Send raw bytes and read until the server closes: the number of HTTP
 * status lines that came back. */
static int count_answers(const char *req)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    char buf[8192];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = 0;
    int answers = 0;
    for (const char *p = buf; (p = strstr(p, "HTTP/1.1 ")); p++)
        answers++;
    return answers;
}

static void test_server(void **state)
{
    struct api_server *s;
    char err[API_ERR_LEN], *resp;
    unsigned status;
    assert_int_equal(api_server_start(&s, sock, &ctx, err), 0);
    /* A second server on the same path is refused. */
    struct api_server *s2;
    assert_int_not_equal(api_server_start(&s2, sock, &ctx, err), 0);

    assert_int_equal(api_client_request(sock, "PUT", "/machine-config",
                                        "{\"vcpu_count\":2,\"mem_size_mib\":128}", &status,
                                        &resp, err), 0);
    assert_int_equal(status, 204);
    free(resp);
    assert_int_equal(api_client_request(sock, "GET", "/machine-config", NULL, &status, &resp,
                                        err), 0);
    assert_int_equal(status, 200);
    assert_non_null(strstr(resp, "\"mem_size_mib\":128"));
    free(resp);
    assert_int_equal(api_client_request(sock, "DELETE", "/", NULL, &status, &resp, err), 0);
    assert_int_equal(status, 400);
    assert_non_null(strstr(resp, "fault_message"));
    free(resp);
    assert_int_equal(api_client_request(sock, "PATCH", "/vm", "{\"state\":\"Flying\"}",
                                        &status, &resp, err), 0);
    assert_int_equal(status, 400);
    free(resp);

    /* Over 64 KiB by Content-Length: 413 without sending the body. */
    const char *big = "PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n"
                      "Connection: close\r\n\r\n";
    assert_int_equal(raw_request(big, strlen(big)), 413);
    /* Exactly at the limit is read (and then judged as JSON). */
    size_t n = API_MAX_BODY;
    char *req = malloc(n + 256);
    int h = snprintf(req, 256, "PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: %zu"
                               "\r\nConnection: close\r\n\r\n", n);
    memset(req + h, ' ', n);
    req[h] = '{';
    req[h + n - 1] = '}';
    assert_int_equal(raw_request(req, (size_t)h + n), 400);
    free(req);

    /* What libmicrohttpd would answer with its own HTML is answered by
     * the front door, as JSON (raw_request checks fault_message). */
    static const struct { const char *req; unsigned status; } lib[] = {
        { "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\n\r\n", 400 },                       /* no Host */
        { "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
        { "GET /\r\n\r\n", 400 },                                /* HTTP/0.9 */
        { "PUT /vm HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400 },
        { "PUT /vm HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          "1\r\n{\r\nzz\r\n", 411 },
        { "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
        { "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400 },    /* TLS */
    };
    for (size_t i = 0; i < sizeof(lib) / sizeof(lib[0]); i++)
        assert_int_equal(raw_request(lib[i].req, strlen(lib[i].req)), lib[i].status);
    /* Headers past the library's own 32 KiB memory: 431 as JSON too. */
    char *huge = malloc(48 * 1024);
    int hn = snprintf(huge, 64, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(huge + hn, 'b', 40 * 1024);
    strcpy(huge + hn + 40 * 1024, "\r\n\r\n");
    assert_int_equal(raw_request(huge, strlen(huge)), 431);
    free(huge);
    /* One request per connection: a second one on it, malformed, never
     * reaches the library: the connection closes after the first answer. */
    const char *two = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nBad\r\n\r\n";
    assert_int_equal(count_answers(two), 1);

    /* 100 concurrent clients all answered. */
    pthread_t t[100];
    for (int i = 0; i < 100; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, NULL), 0);
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        ok += rv != NULL;
    }
    assert_int_equal(ok, 100);

    api_server_stop(s);
    struct stat st;
    assert_int_equal(stat(sock, &st), -1); /* removed on stop */
    assert_int_not_equal(api_client_request(sock, "GET", "/", NULL, &status, &resp, err), 0);
}

struct put_result {
    unsigned mib, status;
};

static void *put_mem_thread(void *arg)
{
    struct put_result *pr = arg;
    char body[80], err[API_ERR_LEN], *resp = NULL;
    snprintf(body, sizeof(body), "{\"vcpu_count\":1,\"mem_size_mib\":%u}", pr->mib);
    if (api_client_request(sock, "PUT", "/machine-config", body, &pr->status, &resp, err))
        pr->status = 0;
    free(resp);
    return NULL;
}

/* A request that ends the VM (a cancel, an action) is answered even when
 * the process stops the server the moment the handler returns: stopping
 * waits for answers on their way out. */
static void test_stop_answers_last_request(void **state)
{
    for (unsigned i = 0; i < 40; i++) {
        struct api_server *s;
        char err[API_ERR_LEN];
        assert_int_equal(api_server_start(&s, sock, &ctx, err), 0);
        struct put_result pr = { .mib = 200 + i };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, put_mem_thread, &pr), 0);
        for (;;) { /* until the handler has run */
            pthread_mutex_lock(&vm->lock);
            bool ran = vm->cfg.mem_mib == pr.mib;
            pthread_mutex_unlock(&vm->lock);
            if (ran)
                break;
            sched_yield();
        }
        api_server_stop(s);
        pthread_join(t, NULL);
        assert_int_equal(pr.status, 204);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_routing), T(test_bodies), T(test_stop_answers_last_request), T(test_patch_limiters),
        T(test_memory_limit_refused), T(test_socket_rules),
        T(test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
