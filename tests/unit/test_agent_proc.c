/* The agent's process table when two processes of one VM overlap: the
 * source of a move away is still exiting when the VM comes back, and the
 * new process listens on the same socket path. Requests meant for the old
 * one must not reach the new one (a Shutdown there once turned the
 * incoming VM away: "this VM is already configured"); the old one is
 * stopped by its pid instead. The "VM" is a shell script that sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/agent_proc.h"

static char dir[64], script[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/corral-agent-proc.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(script, sizeof(script), "%s/fake-corral", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return -1;
    fputs("#!/bin/sh\nexec sleep 30\n", f);
    fclose(f);
    return chmod(script, 0755);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A stand-in for the new process's API: listening on `path`. */
static int listen_on(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void test_old_process_loses_its_socket(void **state)
{
    (void)state;
    struct agent_procs t = { .corral = script, .state_dir = dir, .fence_file = "/dev/null",
                             .fence_timeout_ms = 4000 };
    char err[256];
    struct agent_proc *old = agent_proc_start(&t, "vm1", AGENT_MAIN, "{}", NULL, NULL, err,
                                              sizeof(err));
    assert_non_null(old);
    assert_false(old->sock_taken);
    old->migrate_id = 7; /* it moved the VM away and is on its way out */
    struct agent_proc *in = agent_proc_start(&t, "vm1", AGENT_INCOMING, NULL, NULL,
                                             "tcp:127.0.0.1:1", err, sizeof(err));
    assert_non_null(in);
    assert_string_equal(in->sock, old->sock);
    assert_true(old->sock_taken);
    assert_false(in->sock_taken);

    int ls = listen_on(in->sock);
    /* No request of the old process's reaches the new one. */
    assert_null(agent_proc_api(old, "GET", "/", NULL, NULL));
    assert_non_null(strstr(old->api_err, "newer process"));
    agent_proc_stop(old, 1000, 5000);
    assert_int_equal(old->stop_deadline_ms, 6000);
    int c = accept(ls, NULL, NULL);
    if (c >= 0)
        close(c);
    assert_true(c < 0);
    /* It was stopped by its pid. */
    int status = 0;
    assert_int_equal(waitpid(old->pid, &status, 0), old->pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    old->exited = true;
    /* Forgetting it keeps the new process's socket file. */
    agent_proc_forget(&t, old);
    assert_int_equal(access(in->sock, F_OK), 0);

    /* The new process's own requests do go to its socket (nobody
     * listens there now: refused, not withheld). */
    close(ls);
    assert_null(agent_proc_api(in, "GET", "/", NULL, NULL));
    assert_non_null(strstr(in->api_err, "refused"));
    kill(in->pid, SIGKILL);
    waitpid(in->pid, &status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_old_process_loses_its_socket),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
