/* The jail (see jail.h). Order matters: namespaces first (the caller is
 * still root and alone), fork so the VMM is PID 1 of the new PID
 * namespace, then in the child: the mounts, pivot_root, the working
 * directory, and last the drop of privileges (setgroups, setgid, setuid,
 * no_new_privs), after which nothing can undo any of it. */
#include "core/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Device nodes a VMM opens: libmicrohttpd reads urandom, TAP opens
 * net/tun. Not /dev/pts: the host's terminals stay outside (so does
 * --console pty, whose name would mean nothing outside anyway). */
static const char *const jail_devices[] = {
    "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/net/tun",
};

void jail_init(struct jail *j, const char *dir, long uid, long gid)
{
    memset(j, 0, sizeof(*j));
    j->dir = dir;
    j->uid = uid;
    j->gid = gid;
}

void jail_free(struct jail *j)
{
    for (unsigned i = 0; i < j->nbinds; i++)
        free(j->binds[i].path);
    j->nbinds = 0;
}

int jail_add(struct jail *j, const char *path, bool parent, bool writable)
{
    if (!path || !*path)
        return 0;
    char buf[PATH_MAX], *real;
    snprintf(buf, sizeof(buf), "%s", path);
    if (parent) {
        char *slash = strrchr(buf, '/');
        if (!slash)
            snprintf(buf, sizeof(buf), ".");
        else if (slash == buf)
            buf[1] = '\0';
        else
            *slash = '\0';
    }
    real = realpath(buf, NULL);
    if (!real)
        return errno == ENOMEM ? -ENOMEM : 0;
    struct stat st;
    if (stat(real, &st) < 0 || !strcmp(real, "/")) {
        free(real);
        return 0; /* binding the host's root would undo the jail */
    }
    for (unsigned i = 0; i < j->nbinds; i++)
        if (!strcmp(j->binds[i].path, real)) {
            j->binds[i].writable |= writable;
            free(real);
            return 0;
        }
    if (j->nbinds == JAIL_MAX_BINDS) {
        free(real);
        return -E2BIG;
    }
    j->binds[j->nbinds++] = (struct jail_bind){
        .path = real, .dir = S_ISDIR(st.st_mode), .writable = writable,
    };
    return 0;
}

/* mkdir -p of `path`'s directories below `root` (0755: the user the VMM
 * drops to must be able to walk them). */
static int make_parents(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

/* An empty file or directory at root+src, then src bound onto it. */
static int bind_into(const char *root, const char *src, bool dir, bool writable,
                     char *err, size_t len)
{
    char dst[PATH_MAX];
    if (snprintf(dst, sizeof(dst), "%s%s", root, src) >= (int)sizeof(dst)) {
        snprintf(err, len, "--jail: %s%s: path too long", root, src);
        return -ENAMETOOLONG;
    }
    int r = make_parents(dst);
    if (!r) {
        if (dir)
            r = mkdir(dst, 0755) < 0 && errno != EEXIST ? -errno : 0;
        else {
            int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            r = fd < 0 ? -errno : 0;
            if (fd >= 0)
                close(fd);
        }
    }
    if (!r && mount(src, dst, NULL, MS_BIND | (dir ? MS_REC : 0), NULL) < 0)
        r = -errno;
    /* Read-only binds are remounted; nothing bound runs setuid or is a
     * device by accident (device nodes are bound on purpose, below). */
    unsigned long extra = writable ? 0 : MS_RDONLY;
    if (!r && !strncmp(src, "/dev/", 5))
        extra |= MS_NOSUID | MS_NOEXEC;
    else if (!r)
        extra |= MS_NOSUID | MS_NODEV;
    if (!r && mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | extra, NULL) < 0)
        r = -errno;
    if (r)
        snprintf(err, len, "--jail: cannot bind %s into %s: %s", src, root, strerror(-r));
    return r;
}

static int setup_root(struct jail *j, const char *root, const char *cwd, char *err, size_t len)
{
    int r;
    if (mount(root, root, NULL, MS_BIND, NULL) < 0) {
        snprintf(err, len, "--jail %s: cannot bind it onto itself: %s", root, strerror(errno));
        return -errno;
    }
    for (unsigned i = 0; i < j->nbinds; i++)
        if ((r = bind_into(root, j->binds[i].path, j->binds[i].dir, j->binds[i].writable,
                           err, len)))
            return r;
    for (unsigned i = 0; i < sizeof(jail_devices) / sizeof(jail_devices[0]); i++)
        if (access(jail_devices[i], F_OK) == 0 &&
            (r = bind_into(root, jail_devices[i], false, true, err, len)))
            return r;
    /* /proc of the new PID namespace: /proc/self is the VMM, and nothing
     * of the host's other processes shows. */
    char proc[PATH_MAX + 8];
    snprintf(proc, sizeof(proc), "%s/proc", root);
    if ((mkdir(proc, 0555) < 0 && errno != EEXIST) ||
        mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        snprintf(err, len, "--jail: cannot mount %s: %s", proc, strerror(errno));
        return -errno;
    }
    /* The working directory, so relative paths resolve as outside. */
    char wd[PATH_MAX * 2];
    snprintf(wd, sizeof(wd), "%s%s/", root, cwd);
    if ((r = make_parents(wd))) {
        snprintf(err, len, "--jail: cannot create %s: %s", wd, strerror(-r));
        return r;
    }
    if (chdir(root) < 0 || mkdir(".old-root", 0700) < 0 ||
        syscall(SYS_pivot_root, ".", ".old-root") < 0 || chdir("/") < 0 ||
        umount2("/.old-root", MNT_DETACH) < 0 || rmdir("/.old-root") < 0) {
        snprintf(err, len, "--jail %s: pivot_root: %s", root, strerror(errno));
        return -errno;
    }
    if (chdir(cwd) < 0) {
        snprintf(err, len, "--jail: cannot enter %s inside: %s", cwd, strerror(errno));
        return -errno;
    }
    return 0;
}

static int drop_privileges(const struct jail *j, char *err, size_t len)
{
    if (j->gid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)j->gid) < 0)) {
        snprintf(err, len, "--gid %ld: %s", j->gid, strerror(errno));
        return -errno;
    }
    if (j->uid >= 0 && setuid((uid_t)j->uid) < 0) {
        snprintf(err, len, "--uid %ld: %s", j->uid, strerror(errno));
        return -errno;
    }
    if (j->uid > 0 && setuid(0) == 0) {
        snprintf(err, len, "--uid %ld: root could be regained", j->uid);
        return -EPERM;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, len, "--jail: no_new_privs: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

static volatile pid_t jailed_pid;

static void forward_signal(int sig)
{
    if (jailed_pid > 0)
        kill(jailed_pid, sig);
}

/* The caller's side: wait for the jailed VMM and exit as it did. */
static void wait_and_exit(pid_t child)
{
    jailed_pid = child;
    struct sigaction sa = { .sa_handler = forward_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            _exit(1);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int jail_enter(struct jail *j, char *err, size_t len)
{
    struct stat st;
    char root[PATH_MAX], cwd[PATH_MAX];
    if (stat(j->dir, &st) < 0) {
        snprintf(err, len, "--jail %s: %s", j->dir, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, len, "--jail %s: not a directory", j->dir);
        return -ENOTDIR;
    }
    if (!realpath(j->dir, root) || !strcmp(root, "/")) {
        snprintf(err, len, "--jail %s: not a directory other than /", j->dir);
        return -EINVAL;
    }
    if (geteuid() != 0) {
        snprintf(err, len, "--jail: needs root (it creates mount and PID namespaces; "
                 "--uid N --gid N then drop to an unprivileged user)");
        return -EPERM;
    }
    if ((j->uid >= 0) != (j->gid >= 0)) {
        snprintf(err, len, "--uid and --gid go together");
        return -EINVAL;
    }
    if (!getcwd(cwd, sizeof(cwd))) {
        snprintf(err, len, "--jail: getcwd: %s", strerror(errno));
        return -errno;
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0) {
        snprintf(err, len, "--jail: cannot create mount and PID namespaces: %s",
                 strerror(errno));
        return -errno;
    }
    /* Nothing mounted from here on reaches the host's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        snprintf(err, len, "--jail: cannot make the mounts private: %s", strerror(errno));
        return -errno;
    }
    /* The waiter holds the write end: the jailed side sees it die. */
    int alive[2];
    if (pipe2(alive, O_CLOEXEC) < 0) {
        snprintf(err, len, "--jail: pipe: %s", strerror(errno));
        return -errno;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, len, "--jail: fork: %s", strerror(errno));
        return -errno;
    }
    if (child > 0) {
        close(alive[0]);
        wait_and_exit(child);
    }
    close(alive[1]);
    int r = setup_root(j, root, cwd, err, len);
    if (!r)
        r = drop_privileges(j, err, len);
    if (r) {
        fprintf(stderr, "corral: error: %s\n", err);
        _exit(1);
    }
    /* The jailed VMM must not outlive its waiter. Set only now: a change
     * of credentials clears the parent-death signal. A waiter that died
     * before this shows as end-of-file on the pipe. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd p = { .fd = alive[0], .events = POLLIN };
    if (poll(&p, 1, 0) != 0)
        _exit(1);
    close(alive[0]);
    return 0;
}
