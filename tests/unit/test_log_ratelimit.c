/* Issue 14, defect 5: a guest that breaks and resets a virtio device in a
 * loop must not flood the host's log (each reset re-arms "broken"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "virtio/virtio_mmio.h"

static void test_burst_then_suppressed(void **state)
{
    (void)state;
    struct log_ratelimit rl = { 0 };
    unsigned ok = 0;
    for (int i = 0; i < 100000; i++)
        ok += log_ratelimit_ok(&rl, "test");
    assert_int_equal(ok, LOG_RATELIMIT_BURST);
    assert_int_equal(rl.suppressed, 100000 - LOG_RATELIMIT_BURST);
}

static void irq_none(void *opaque, unsigned line, bool level)
{
    (void)opaque, (void)line, (void)level;
}

/* Count the lines the device writes to stderr over 100,000 break/reset
 * cycles: at most one window's burst (the test runs well under 5 s). */
static void test_virtio_reset_loop_bounded(void **state)
{
    (void)state;
    static const struct virtio_dev_ops ops = { .name = "virtio-test", .nqueues = 1 };
    struct gmem mem;
    struct virtio_dev *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    assert_int_equal(gmem_init(&mem, 0x80000000ULL, 1 << 20), 0);
    struct irq_line irq = { .set = irq_none };
    assert_int_equal(virtio_mmio_init(d, &ops, 0, &mem, NULL, irq, 0), 0);

    char path[] = "/tmp/corral-logrl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    for (int i = 0; i < 100000; i++) {
        pthread_mutex_lock(&d->lock);
        virtio_mmio_queue_error_locked(d, 0, "descriptor loop");
        pthread_mutex_unlock(&d->lock);
        virtio_mmio_reset(d);
    }
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    assert_true(n > 0);
    buf[n] = 0;
    unsigned lines = 0;
    for (ssize_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    assert_true(lines >= 1);
    assert_true(lines <= LOG_RATELIMIT_BURST + 1);
    assert_non_null(strstr(buf, "virtio-test: queue 0: descriptor loop"));
    virtio_mmio_destroy(d);
    free(d);
    gmem_destroy(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_suppressed),
        cmocka_unit_test(test_virtio_reset_loop_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
