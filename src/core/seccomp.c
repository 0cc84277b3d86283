/* The seccomp allow-lists (see seccomp.h). The lists were found with
 * `strace -f -k` over the guest tests (boot, disks raw and qcow2 with
 * cache=none, user networking and TAP, balloon, rng, the API, snapshots,
 * restore, migration (pre- and post-copy), reboot and reset, cgroups) and are kept in four
 * nested groups: each kind allows its own group and every group below it,
 * because the threads of a kind create the threads of the kinds below
 * (main and API threads create hart and I/O threads; a child inherits
 * its parent's filters and adds its own).
 *
 * Filters are compiled to BPF at set-up, where libseccomp may allocate
 * and open what it likes; entering a sandbox later is one seccomp(2) call
 * on a ready program, so it needs nothing the narrow lists forbid. */
#include "core/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "core/log.h"

/* Sanitizer runtimes make calls of their own (ASan and TSan fork a
 * symbolizer to print a report): their builds run without the filters. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

/* ---- the lists ---- */

/* Every thread: what glibc's locks, malloc and thread exit do, and what
 * the SIGSYS handler itself needs (poll, write, exit_group). mmap and
 * mprotect are further limited to non-executable memory in hart and I/O
 * threads (see add_rules). */
static const char *const group_base[] = {
    "futex", "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask", "restart_syscall",
    "sched_yield", "nanosleep", "clock_nanosleep", "clock_gettime", "gettimeofday",
    "getpid", "gettid", "write", "poll", "ppoll", "munmap", "madvise", "brk", "mremap",
    "getrandom", NULL,
};

/* Hart threads: MMIO handlers kick the I/O thread through eventfds
 * (write), virtio-rng fills buffers (getrandom), the balloon gives pages
 * back (madvise): all in the base group already; and virtio-blk copies
 * cached reads (preadv2, RWF_NOWAIT only: add_rules). */
static const char *const group_hart[] = {
    NULL,
};

/* The I/O thread: the event loop, disk requests (raw and qcow2, discard,
 * flush), and libslirp's host sockets for the guest's connections. */
static const char *const group_io[] = {
    "read", "readv", "pread64", "preadv", "preadv2", "writev", "pwrite64", "pwritev",
    "pwritev2", "epoll_wait", "epoll_pwait", "epoll_ctl", "fdatasync", "fsync", "fallocate",
    "ftruncate", "lseek", "close", "fcntl", "fstat", "newfstatat", "statx",
    "connect", "bind", "listen", "accept", "accept4", "setsockopt", "getsockopt",
    "getsockname", "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown",
    "uname", NULL,
};

/* API threads: everything that starts, saves and restores a machine
 * (image and disk files, snapshot files and qcow2 overlays made with
 * link + unlink, guest RAM mappings, threads), migration sockets,
 * cgroups; tgkill for abort(). */
static const char *const group_api[] = {
    "open", "openat", "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "link", "linkat", "mkdir", "mkdirat", "rmdir", "getdents64", "fchmod", "fchmodat",
    "flock", "fstatfs", "statfs", "stat", "lstat", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "dup", "dup2", "dup3", "pipe2", "eventfd2", "epoll_create1",
    "memfd_create", "msync", "fadvise64", "getcwd", "umask", "getuid", "geteuid", "getgid",
    "getegid", "sched_getaffinity", "set_robust_list", "rseq", "sigaltstack", "tgkill",
    /* snapshot memory files' seal; post-copy's userfaultfd (destination) */
    "fsetxattr", "fgetxattr", "userfaultfd",
    /* libvdeplug: vde_open binds the port's socket in the switch's
     * directory and sets its mode by name */
    "chmod", NULL,
};

/* The main thread: signal handling and what its loop does at exit. */
static const char *const group_main[] = {
    "rt_sigaction", NULL,
};

static const char *const *const groups[SANDBOX_NKINDS] = {
    [SANDBOX_HART] = group_hart,
    [SANDBOX_IO] = group_io,
    [SANDBOX_API] = group_api,
    [SANDBOX_MAIN] = group_main,
};

/* Kind k allows the groups of k and of every kind created by it. */
static bool kind_includes(enum sandbox_kind k, enum sandbox_kind g)
{
    static const int rank[SANDBOX_NKINDS] = {
        [SANDBOX_HART] = 0, [SANDBOX_IO] = 1, [SANDBOX_API] = 2, [SANDBOX_MAIN] = 3,
    };
    return rank[g] <= rank[k];
}

static const char *const kind_names[SANDBOX_NKINDS] = {
    [SANDBOX_MAIN] = "main", [SANDBOX_API] = "api", [SANDBOX_IO] = "io",
    [SANDBOX_HART] = "hart",
};

/* For the SIGSYS line. */
static const char *const kind_titles[SANDBOX_NKINDS] = {
    [SANDBOX_MAIN] = "the main thread", [SANDBOX_API] = "an API thread",
    [SANDBOX_IO] = "the I/O thread", [SANDBOX_HART] = "a hart thread",
};

/* ---- state ---- */

static struct sock_fprog progs[SANDBOX_NKINDS];
static atomic_bool active;
static _Atomic int violation_kind = -1;
static __thread int thread_kind = -1; /* -1: main or a thread of no kind */
static __thread bool entered_once;

/* Syscall names for the handler, resolved at set-up (it may not call
 * libseccomp: not async-signal-safe). */
#define MAX_NR 512
static char nr_names[MAX_NR][24];

/* ---- SIGSYS ---- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_uint(char *buf, size_t at, size_t cap, unsigned long v)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && at + 1 < cap)
        buf[at++] = d[--n];
    return at;
}

/* Async-signal-safe: builds the line by hand, waits at most a second for
 * stderr to take it (a stalled reader must not keep a forbidden call
 * alive), then ends the process. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    char line[200];
    size_t n = 0;
    int nr = si->si_syscall;
    int k = thread_kind;
    n = put_str(line, n, sizeof(line), "corral: error: seccomp: ");
    n = put_str(line, n, sizeof(line), k >= 0 ? kind_titles[k] : "a thread under the main filter");
    n = put_str(line, n, sizeof(line), " made system call ");
    n = put_uint(line, n, sizeof(line), (unsigned long)nr);
    if (nr >= 0 && nr < MAX_NR && nr_names[nr][0]) {
        n = put_str(line, n, sizeof(line), " (");
        n = put_str(line, n, sizeof(line), nr_names[nr]);
        n = put_str(line, n, sizeof(line), ")");
    }
    n = put_str(line, n, sizeof(line), ", which its allow-list forbids\n");
    struct pollfd p = { .fd = STDERR_FILENO, .events = POLLOUT };
    if (poll(&p, 1, 1000) == 1 && (p.revents & POLLOUT))
        (void)!write(STDERR_FILENO, line, n);
    syscall(SYS_exit_group, SANDBOX_EXIT_STATUS);
}

/* ---- building ---- */

static int add_name(scmp_filter_ctx ctx, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a call on this architecture (open, poll on arm64) */
    return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/* Calls allowed only with some arguments. */
static int add_rules(scmp_filter_ctx ctx, enum sandbox_kind k)
{
    int r = 0;
    bool api = kind_includes(k, SANDBOX_API);
    /* No new executable memory outside the threads that build machines
     * (the JIT's code arena is mapped when a hart is created). */
    if (api) {
        r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 0);
        r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 0);
    } else {
        r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    }
    /* Only nested filters: no mode change, no listener. */
    r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 2,
                          SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER, 0),
                          SCMP_A1(SCMP_CMP_EQ, 0, 0));
    if (!kind_includes(k, SANDBOX_IO))
        /* A hart copies small cached disk reads itself (virtio_blk.c):
         * RWF_NOWAIT only, which fails rather than wait for the disk. */
        r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(preadv2), 1,
                              SCMP_A5(SCMP_CMP_MASKED_EQ, RWF_NOWAIT, RWF_NOWAIT));
    if (kind_includes(k, SANDBOX_IO)) {
        /* libslirp's sockets (IP) and vsock's host side (unix: a guest
         * connection to port P reaches <uds>_P); no netlink, no packet
         * sockets. */
        static const int domains[] = { AF_INET, AF_INET6, AF_UNIX };
        for (unsigned i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
            r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                  SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)domains[i], 0));
        /* libslirp rereads /etc/resolv.conf: opening for reading only
         * (with --jail, only what was bound in is there to read). */
        if (!api) {
            const scmp_datum_t wr = O_ACCMODE | O_CREAT | O_TRUNC;
            r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, wr, 0));
            r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, wr, 0));
        }
        static const unsigned long io_ioctls[] = { FIONREAD, FIONBIO };
        for (unsigned i = 0; i < sizeof(io_ioctls) / sizeof(io_ioctls[0]); i++)
            r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                  SCMP_A1(SCMP_CMP_EQ, io_ioctls[i], 0));
    }
    if (api) {
        /* Is a registered VM's process alive (vm/registry.c)? Signal 0
         * only: nothing is ever signalled. */
        r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A1(SCMP_CMP_EQ, 0, 0));
        /* Threads, never processes; clone3 hides its flags from BPF, so
         * it fails and glibc falls back to clone. */
        r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
        r |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        static const int prctls[] = { PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS,
                                      PR_GET_NO_NEW_PRIVS, PR_GET_DUMPABLE };
        for (unsigned i = 0; i < sizeof(prctls) / sizeof(prctls[0]); i++)
            r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                  SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctls[i], 0));
        /* Terminals (the stdio and pty consoles), disk sizes, TAP set-up
         * (a NIC hot-added through the API) and putting the TAP on a bridge
         * (net/bridge.c: index, add port, bring up). */
        static const unsigned long api_ioctls[] = {
            TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCGPTN, TIOCSPTLCK,
            0x80081272 /* BLKGETSIZE64 */, 0x1268 /* BLKSSZGET */,
            0x400454ca /* TUNSETIFF */, 0x800454d2 /* TUNGETIFF */,
            0x400454d0 /* TUNSETVNETHDRSZ */, 0x400454d8 /* TUNSETOFFLOAD */,
            0x800454cf /* TUNGETFEATURES */, 0x400454d9 /* TUNSETQUEUE */,
            SIOCGIFINDEX, SIOCBRADDIF, SIOCGIFFLAGS, SIOCSIFFLAGS,
            /* post-copy on the destination (vm/migrate_postcopy.c) */
            UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER, UFFDIO_COPY, UFFDIO_ZEROPAGE,
        };
        for (unsigned i = 0; i < sizeof(api_ioctls) / sizeof(api_ioctls[0]); i++)
            r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                  SCMP_A1(SCMP_CMP_EQ, api_ioctls[i], 0));
    }
    return r;
}

/* Compile the filter of `k` into progs[k]. */
static int build(enum sandbox_kind k, char *err, size_t len)
{
    int r = -ENOMEM, fd = -1;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx)
        goto fail;
    if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)))
        goto fail;
    for (int g = 0; g < SANDBOX_NKINDS; g++) {
        if (!kind_includes(k, (enum sandbox_kind)g))
            continue;
        for (const char *const *n = groups[g]; *n; n++)
            if ((r = add_name(ctx, *n)))
                goto fail;
    }
    for (const char *const *n = group_base; *n; n++)
        if ((r = add_name(ctx, *n)))
            goto fail;
    if ((r = add_rules(ctx, k)))
        goto fail;
    /* libseccomp writes BPF to a file descriptor: a memfd, read back. */
    fd = memfd_create("corral-seccomp", MFD_CLOEXEC);
    if (fd < 0 || (r = seccomp_export_bpf(ctx, fd))) {
        r = fd < 0 ? -errno : r;
        goto fail;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(struct sock_filter) || size > 65536) {
        r = -EINVAL;
        goto fail;
    }
    struct sock_filter *f = malloc((size_t)size);
    if (!f || pread(fd, f, (size_t)size, 0) != size) {
        free(f);
        r = -EIO;
        goto fail;
    }
    progs[k] = (struct sock_fprog){ .len = (unsigned short)(size / sizeof(*f)), .filter = f };
    close(fd);
    seccomp_release(ctx);
    return 0;
fail:
    snprintf(err, len, "seccomp: cannot build the %s thread filter: %s", kind_names[k],
             strerror(r < 0 ? -r : ENOMEM));
    if (fd >= 0)
        close(fd);
    if (ctx)
        seccomp_release(ctx);
    return r < 0 ? r : -ENOMEM;
}

static int install(enum sandbox_kind k, unsigned flags)
{
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &progs[k]);
    /* TSYNC answers with the id of a thread it could not synchronise. */
    return r < 0 ? -errno : r > 0 ? -EBUSY : 0;
}

int sandbox_setup(bool enabled, char *err, size_t len)
{
    if (!enabled)
        return 0;
    if (SANITIZER_BUILD) {
        log_info("seccomp: off in a sanitizer build");
        return 0;
    }
    for (int nr = 0; nr < MAX_NR; nr++) {
        char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (s)
            snprintf(nr_names[nr], sizeof(nr_names[nr]), "%s", s);
        free(s);
    }
    for (int k = 0; k < SANDBOX_NKINDS; k++) {
        int r = build((enum sandbox_kind)k, err, len);
        if (r)
            return r;
    }
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, len, "seccomp: %s", strerror(errno));
        return -errno;
    }
    /* TSYNC: threads that exist already (the console writer) too. */
    int r = install(SANDBOX_MAIN, SECCOMP_FILTER_FLAG_TSYNC);
    if (r) {
        snprintf(err, len, "seccomp: cannot install the filter: %s (run with --no-seccomp "
                 "on a kernel without seccomp filters)", strerror(-r));
        return r;
    }
    thread_kind = SANDBOX_MAIN;
    atomic_store(&active, true);
    return 0;
}

bool sandbox_active(void)
{
    return atomic_load(&active);
}

void sandbox_enter(enum sandbox_kind kind)
{
    thread_kind = (int)kind;
    if (kind == SANDBOX_HART || kind == SANDBOX_IO)
        log_thread_nonblocking();
    /* Hart, I/O and API threads block every signal, but the kernel
     * delivers a blocked SIGSYS by resetting it to its default action
     * (a silent kill): this thread must take it, to print the line. */
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    /* The main filter went in on this kernel and allows seccomp(), so
     * this does not fail; if it did, the wider main filter still holds. */
    if (atomic_load(&active) && kind != SANDBOX_MAIN && install(kind, 0))
        log_warn("seccomp: the %s thread keeps the main filter only", kind_names[kind]);
    int want = (int)kind;
    if (atomic_load(&violation_kind) == want &&
        atomic_compare_exchange_strong(&violation_kind, &want, -1)) {
        char *const argv[] = { "corral-seccomp-test", NULL };
        syscall(SYS_execve, "/nonexistent/corral-seccomp-test", argv, argv + 1);
    }
}

void sandbox_enter_once(enum sandbox_kind kind)
{
    if (entered_once)
        return;
    entered_once = true;
    sandbox_enter(kind);
}

void sandbox_test_violation(enum sandbox_kind kind)
{
    atomic_store(&violation_kind, (int)kind);
}

int sandbox_kind_parse(const char *name)
{
    for (int k = 0; k < SANDBOX_NKINDS; k++)
        if (!strcmp(name, kind_names[k]))
            return k;
    return -1;
}
