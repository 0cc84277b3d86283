/* Post-copy recovery (docs/migration.md, "Post-copy recovery"): the
 * handshake's frames checked as hostile input, and a post-copy
 * destination over socketpairs, no guest: a broken link pauses it (a
 * reader of a missing page waits, nothing is lost), a foreign peer at
 * recovery is refused, a second recover is refused, the right source
 * learns what is missing and what is waited for, and post-copy finishes;
 * a cancel or the window's end fails it with a reason. Needs
 * userfaultfd (root), as post-copy does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "state/state.h"
#include "vm/migrate_pages.h"
#include "vm/migrate_postcopy.h"
#include "vm/migrate_recover.h"
#include "vm/migrate_stream.h"

#define PAGES 16

static const uint8_t id_a[MIG_ID_LEN] = "migration-a....";
static const uint8_t id_b[MIG_ID_LEN] = "migration-b....";

/* One frame of o, read back as a section. */
static struct state_section frame(struct state_out *o, struct state_in *in, char *err)
{
    struct state_section s;
    state_in_init(in, o->buf, o->len, "test", err, 256);
    assert_int_equal(state_in_next(in, &s), 1);
    return s;
}

static void resume_frame_checked(void **state)
{
    (void)state;
    char err[256], why[256];
    struct state_out o;
    struct state_in in;
    state_out_init(&o);
    mig_resume_put(&o, id_a);
    struct state_section s = frame(&o, &in, err);
    assert_int_equal(mig_resume_check(&s, id_a, why, sizeof(why)), 0);
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_check(&s, id_b, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "another migration"));
    state_out_free(&o);
    /* Another version, a frame of another kind, a truncated one. */
    state_out_init(&o);
    state_begin(&o, "pc-resume", 1, 0);
    state_put_u64(&o, MIG_MAGIC);
    state_put_u32(&o, MIG_VERSION + 1);
    state_put_u64(&o, MIG_F_RECOVER);
    state_put_bytes(&o, id_a, MIG_ID_LEN);
    state_end(&o);
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_check(&s, id_a, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "protocol version 2"));
    state_out_free(&o);
    state_out_init(&o);
    state_begin(&o, "hello", 1, 0);
    state_put_u64(&o, MIG_MAGIC);
    state_end(&o);
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_check(&s, id_a, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "got 'hello'"));
    state_out_free(&o);
    state_out_init(&o);
    state_begin(&o, "pc-resume", 1, 0);
    state_put_u64(&o, MIG_MAGIC);
    state_put_u32(&o, MIG_VERSION);
    state_end(&o);
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_check(&s, id_a, why, sizeof(why)), -EINVAL);
    state_out_free(&o);
}

static void ack_checked_against_the_map(void **state)
{
    (void)state;
    char err[256], why[256];
    uint64_t map[2] = { ~0ULL, 0xff }, missing[2] = { 0xf0f0, 0x3 }, wanted[2] = { 0x10, 0x2 };
    uint64_t got[2], urgent[MIG_RECOVER_URGENT_MAX];
    uint32_t n = 99;
    struct state_out o;
    struct state_in in;
    state_out_init(&o);
    mig_resume_ack_put(&o, id_a, missing, wanted, 2);
    struct state_section s = frame(&o, &in, err);
    assert_int_equal(mig_resume_ack_parse(&s.body, id_a, map, 2, got, urgent, &n, why,
                                          sizeof(why)), 0);
    assert_memory_equal(got, missing, sizeof(got));
    /* The pages waited for that are still missing, in order. */
    assert_int_equal(n, 2);
    assert_int_equal(urgent[0], 4);
    assert_int_equal(urgent[1], 65);
    /* Another migration's answer. */
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_ack_parse(&s.body, id_b, map, 2, got, urgent, &n, why,
                                          sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "another migration"));
    /* A map of another size. */
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_ack_parse(&s.body, id_a, map, 1, got, urgent, &n, why,
                                          sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "2 words"));
    /* A page the destination had before post-copy (65 is not in this map). */
    uint64_t small[2] = { ~0ULL, 0x1 };
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_ack_parse(&s.body, id_a, small, 2, got, urgent, &n, why,
                                          sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "page 65"));
    state_out_free(&o);
    /* A page waited for that is not missing. */
    state_out_init(&o);
    state_begin(&o, "pc-resume-ack", 1, 0);
    state_put_bytes(&o, id_a, MIG_ID_LEN);
    state_put_u32(&o, 2);
    state_put_u64(&o, missing[0]);
    state_put_u64(&o, missing[1]);
    state_put_u32(&o, 1);
    state_put_u64(&o, 0);
    state_end(&o);
    s = frame(&o, &in, err);
    assert_int_equal(mig_resume_ack_parse(&s.body, id_a, map, 2, got, urgent, &n, why,
                                          sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "page 0"));
    state_out_free(&o);
}

/* ---- a destination over socketpairs ---- */

struct watch {
    pthread_mutex_t lock;
    char status[32], why[MIG_ERR_LEN], fail[MIG_ERR_LEN];
    int paused, failed;
};

static void on_status(void *opaque, const char *status, const char *why)
{
    struct watch *w = opaque;
    pthread_mutex_lock(&w->lock);
    snprintf(w->status, sizeof(w->status), "%s", status);
    snprintf(w->why, sizeof(w->why), "%s", why ? why : "");
    w->paused += !strcmp(status, "postcopy-paused");
    pthread_mutex_unlock(&w->lock);
}

static void on_fail(void *opaque, const char *why)
{
    struct watch *w = opaque;
    pthread_mutex_lock(&w->lock);
    snprintf(w->fail, sizeof(w->fail), "%s", why);
    w->failed++;
    pthread_mutex_unlock(&w->lock);
}

/* Wait (5 s at most) until the status is `want` (and, if paused > 0,
 * it has paused that many times) or post-copy failed. */
static bool wait_status(struct watch *w, const char *want, int paused)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&w->lock);
        bool ok = !strcmp(w->status, want) && w->paused >= paused;
        bool failed = w->failed;
        pthread_mutex_unlock(&w->lock);
        if (ok)
            return true;
        if (failed)
            return !strcmp(want, "failed");
        usleep(1000);
    }
    return false;
}

static struct gmem ram;
static struct watch w;

static struct mig_pc_dest *start_dest(int fd, uint32_t window_ms, bool done)
{
    static uint64_t missing[1] = { (1ULL << PAGES) - 1 };
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.lock, NULL);
    struct mig_pc_dest_cfg cfg = {
        .ram = &ram, .fd = fd, .missing = missing, .id = id_a, .window_ms = window_ms,
        .fail = on_fail, .opaque = &w, .status = on_status, .status_opaque = &w,
    };
    struct mig_pc_dest *d;
    char err[MIG_ERR_LEN];
    if (mig_pc_dest_start(&d, &cfg, err, sizeof(err)))
        fail_msg("post-copy destination: %s (userfaultfd needs root)", err);
    /* The guest runs here from "done" on: a break pauses from then. */
    if (done)
        assert_int_equal(mig_pc_dest_send_simple(d, "done", NULL, err), 0);
    assert_int_equal(mig_pc_dest_run(d, err, sizeof(err)), 0);
    return d;
}

static void send_pages(int fd, uint64_t first, uint64_t n, bool end)
{
    static uint8_t page[GMEM_PAGE_SIZE];
    char err[MIG_ERR_LEN];
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "pc-pages", 1, 0);
    state_put_u32(&o, (uint32_t)n);
    for (uint64_t p = first; p < first + n; p++) {
        memset(page, (int)(0x40 + p), sizeof(page));
        state_put_u64(&o, p);
        state_put_u8(&o, 1);
        state_put_bytes(&o, page, sizeof(page));
    }
    state_end(&o);
    assert_int_equal(mig_send(fd, &o, err), 0);
    state_out_free(&o);
    if (end)
        assert_int_equal(mig_send_simple(fd, "pc-end", NULL, err), 0);
}

static void send_resume(int fd, const uint8_t *id)
{
    char err[MIG_ERR_LEN];
    struct state_out o;
    state_out_init(&o);
    mig_resume_put(&o, id);
    assert_int_equal(mig_send(fd, &o, err), 0);
    state_out_free(&o);
}

/* The next frame on fd that is not a page request. */
static struct state_section recv_skip(int fd, uint8_t **buf, size_t *cap)
{
    char err[MIG_ERR_LEN];
    struct state_section s;
    do
        assert_int_equal(mig_recv(fd, buf, cap, &s, err), 0);
    while (!strcmp(s.id, "pc-req"));
    return s;
}

static void *read_page5(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)*(volatile uint8_t *)(ram.host + 5 * GMEM_PAGE_SIZE);
}

static void paused_destination_recovers(void **state)
{
    (void)state;
    char err[MIG_ERR_LEN], why[256], uri[160], dir[] = "/tmp/mig-recover-XXXXXX";
    uint8_t *buf = NULL;
    size_t cap = 0;
    int a[2], b[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    struct mig_pc_dest *d = start_dest(a[1], 5000, true);
    send_pages(a[0], 0, 1, false);
    /* The link breaks: paused, not failed. */
    close(a[0]);
    assert_true(wait_status(&w, "postcopy-paused", 1));
    assert_int_equal(w.failed, 0);
    assert_non_null(strstr(w.why, "migration stream: "));
    /* A reader of a missing page waits in its fault meanwhile. */
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, read_page5, NULL), 0);
    usleep(100000);

    /* A foreign peer on an fd: connection is refused; paused again. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
    snprintf(uri, sizeof(uri), "fd:%d", b[1]);
    assert_int_equal(mig_pc_dest_recover(d, uri, err), 0);
    send_resume(b[0], id_b);
    struct state_section s = recv_skip(b[0], &buf, &cap);
    assert_string_equal(s.id, "refuse");
    state_get_str(&s.body, why, sizeof(why), NULL);
    assert_non_null(strstr(why, "another migration"));
    assert_true(wait_status(&w, "postcopy-paused", 2));
    assert_non_null(strstr(w.why, "recovery on fd:"));
    close(b[0]);

    /* Listening on a unix socket; a second recover is refused. */
    assert_non_null(mkdtemp(dir));
    snprintf(uri, sizeof(uri), "unix:%s/r.sock", dir);
    assert_int_equal(mig_pc_dest_recover(d, uri, err), 0);
    assert_true(wait_status(&w, "postcopy-recover", 0));
    assert_int_equal(mig_pc_dest_recover(d, uri, err), -EINVAL);
    assert_non_null(strstr(err, "already listens"));

    /* The source proves the id and learns what is missing: every page
     * but page 0, which arrived, and page 5 waited for. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/r.sock", dir);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
    send_resume(c, id_a);
    s = recv_skip(c, &buf, &cap);
    assert_string_equal(s.id, "pc-resume-ack");
    uint64_t map[1] = { (1ULL << PAGES) - 1 }, missing[1], urgent[MIG_RECOVER_URGENT_MAX];
    uint32_t n = 0;
    assert_int_equal(mig_resume_ack_parse(&s.body, id_a, map, 1, missing, urgent, &n, why,
                                          sizeof(why)), 0);
    assert_int_equal(missing[0], map[0] & ~1ULL);
    assert_int_equal(n, 1);
    assert_int_equal(urgent[0], 5);
    assert_true(wait_status(&w, "postcopy-active", 0));
    /* Running again: nothing to recover or cancel. */
    assert_int_equal(mig_pc_dest_recover(d, uri, err), -EINVAL);
    assert_non_null(strstr(err, "not paused"));
    assert_int_equal(mig_pc_dest_cancel(d, err), -EINVAL);

    /* The waiting reader gets its page; the rest follows, post-copy ends. */
    send_pages(c, 5, 1, false);
    void *got;
    pthread_join(reader, &got);
    assert_int_equal((uintptr_t)got, 0x45);
    send_pages(c, 1, PAGES - 1, true);
    s = recv_skip(c, &buf, &cap);
    assert_string_equal(s.id, "pc-complete");
    assert_true(wait_status(&w, "completed", 0));
    mig_pc_dest_finish(d, false, NULL);
    assert_int_equal(w.failed, 0);
    for (unsigned p = 0; p < PAGES; p++)
        assert_int_equal(ram.host[p * GMEM_PAGE_SIZE + 7], 0x40 + p);
    close(c);
    unlink(sa.sun_path);
    rmdir(dir);
    free(buf);
}

static void cancel_window_or_garbage_end_it(void **state)
{
    (void)state;
    char err[MIG_ERR_LEN];
    int a[2];
    /* Cancelled while paused (after a bad URI was refused). */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    struct mig_pc_dest *d = start_dest(a[1], 5000, true);
    close(a[0]);
    assert_true(wait_status(&w, "postcopy-paused", 1));
    assert_int_equal(mig_pc_dest_recover(d, "tcp:nowhere", err), -EINVAL);
    assert_non_null(strstr(err, "migrate recover: tcp:nowhere: expected tcp:HOST:PORT"));
    assert_int_equal(mig_pc_dest_cancel(d, err), 0);
    assert_true(wait_status(&w, "failed", 0));
    assert_non_null(strstr(w.fail, "cancelled while post-copy was paused"));
    mig_pc_dest_finish(d, false, NULL);

    /* The window ends without a recovery. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    d = start_dest(a[1], 200, true);
    close(a[0]);
    assert_true(wait_status(&w, "failed", 0));
    assert_non_null(strstr(w.fail, "no recovery within 0.2 s"));
    assert_int_equal(w.paused, 1);
    mig_pc_dest_finish(d, false, NULL);

    /* Before "done" the guest never ran here: a break fails at once. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    d = start_dest(a[1], 5000, false);
    close(a[0]);
    assert_true(wait_status(&w, "failed", 0));
    assert_int_equal(w.paused, 0);
    mig_pc_dest_finish(d, false, NULL);

    /* Garbage is no broken link: it fails at once. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    d = start_dest(a[1], 5000, true);
    assert_int_equal(write(a[0], "xxxxxxxxxxxxxxxxxxxxxxxx", 24), 24);
    assert_true(wait_status(&w, "failed", 0));
    assert_int_equal(w.paused, 0);
    assert_non_null(strstr(w.fail, "garbage"));
    mig_pc_dest_finish(d, false, NULL);
    close(a[0]);
}

int main(void)
{
    if (gmem_init(&ram, 0x80000000ULL, PAGES * GMEM_PAGE_SIZE))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_frame_checked),
        cmocka_unit_test(ack_checked_against_the_map),
        cmocka_unit_test(paused_destination_recovers),
        cmocka_unit_test(cancel_window_or_garbage_end_it),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    gmem_destroy(&ram);
    return r;
}
