/* The seccomp sandbox: an allow-list of system calls per kind of thread,
 * installed once start-up is over, so that a guest that takes over a hart
 * or the I/O thread cannot execve, ptrace, mount, open raw sockets or
 * load kernel modules.
 *
 * The filters nest the way threads are created. sandbox_setup (main
 * thread, once, before the VMM's threads start) builds every filter with
 * libseccomp, then installs the widest one, SANDBOX_MAIN, on all threads
 * that exist (TSYNC) and so on every thread created later. A thread that
 * calls sandbox_enter(kind) at its start adds the narrower list of its
 * kind on top: the kernel applies every filter a thread has, so a list
 * can only shrink. Threads that create others (main: reboot restarts the
 * harts; API: InstanceStart, snapshot load) therefore allow everything
 * their children need.
 *
 * A forbidden call raises SIGSYS (SECCOMP_RET_TRAP); the handler writes
 * one line, "corral: error: seccomp: a hart thread made system call 59
 * (execve), which its allow-list forbids", with write(2) and ends the
 * process with status 159 (128 + SIGSYS). Foreign architectures and x32
 * calls kill the process outright.
 *
 * Functions are named sandbox_ because libseccomp owns seccomp_. */
#ifndef CORRAL_CORE_SECCOMP_H
#define CORRAL_CORE_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/types.h"

enum sandbox_kind {
    SANDBOX_MAIN, /* main thread and threads that enter no kind */
    SANDBOX_API,  /* API server threads */
    SANDBOX_IO,   /* the I/O thread */
    SANDBOX_HART, /* hart threads */
    SANDBOX_NKINDS
};

#define SANDBOX_EXIT_STATUS 159 /* 128 + SIGSYS */

/* Main thread, once. `enabled` false (--no-seccomp): nothing is installed
 * and sandbox_enter does nothing. 0 or a negative errno with a message. */
int sandbox_setup(bool enabled, char *err, size_t len) WARN_UNUSED;
/* At the start of a thread of `kind`: its filter (none without
 * sandbox_setup) and, for hart and I/O threads, log lines that never
 * block (log_thread_nonblocking), with the sandbox on or off. */
void sandbox_enter(enum sandbox_kind kind);
/* The same, at most once per thread: for threads we do not create
 * (libmicrohttpd's), called from their callbacks. */
void sandbox_enter_once(enum sandbox_kind kind);
bool sandbox_active(void);

/* Test hook (a hidden CLI flag): the first thread of `kind` that enters
 * its sandbox then calls execve() on a path that does not exist. With the
 * sandbox on, that kills the process with the line above; without it,
 * execve fails with ENOENT and the VMM goes on. */
void sandbox_test_violation(enum sandbox_kind kind);
/* "hart", "io", "api", "main" -> kind, or -1. */
int sandbox_kind_parse(const char *name);

#endif
