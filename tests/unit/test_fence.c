/* vm/fence.h: a heartbeat file older than the timeout (or missing) stops
 * the VM; a fresh one does not; checks are at most every 200 ms and lower
 * the main loop's wait to the next one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vm/fence.h"

static void touch_at(const char *path, time_t age_s)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age_s;
    ts[1] = ts[0];
    assert_int_equal(futimens(fd, ts), 0);
    close(fd);
}

static void test_fence(void **state)
{
    char dir[] = "/tmp/corral-fence-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/heartbeat", dir);
    struct vm_fence f = { .path = path, .timeout_ms = 3000 };
    int wait = 1000;
    int64_t now = 1000000000;
    /* Missing: fenced. */
    assert_true(vm_fence_expired(&f, now, &wait));
    assert_true(wait <= 200);
    /* Fresh: not fenced; and not looked at again within 200 ms. */
    touch_at(path, 0);
    now += 250000000;
    wait = 1000;
    assert_false(vm_fence_expired(&f, now, &wait));
    unlink(path);
    wait = 1000;
    assert_false(vm_fence_expired(&f, now + 100000000, &wait)); /* too soon to check */
    assert_true(wait <= 101);
    /* Older than the timeout: fenced. */
    touch_at(path, 10);
    now += 300000000;
    assert_true(vm_fence_expired(&f, now, &wait));
    /* Just under it: not. */
    touch_at(path, 2);
    now += 300000000;
    assert_false(vm_fence_expired(&f, now, &wait));
    /* No fence configured: never. */
    struct vm_fence none = { 0 };
    assert_false(vm_fence_expired(&none, now, &wait));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_fence) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
