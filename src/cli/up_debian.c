/* corral up --debian: boot the full Debian system that `corral image
 * debian` (scripts/debian-image.sh) left in the cache, under a fresh qcow2
 * overlay so the cached base is never written, with SSH forwarded from a
 * host port. The overlay is removed when corral exits; keep state with
 * `corral run --disk OUT.qcow2,format=qcow2 ...` on the image it wrote. */
#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "cli/up_debian.h"

int up_debian_dir(const char *suite, char *dir, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && *xdg)
        n = snprintf(dir, len, "%s/corral/debian/%s", xdg, suite);
    else
        n = snprintf(dir, len, "%s/.cache/corral/debian/%s", home ? home : ".", suite);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The first free port of 2222..2231 on 127.0.0.1 (what users type), else
 * one the kernel picks. Probed by binding; libslirp binds it again a
 * moment later, so a race with another program is possible but harmless
 * (start-up then fails with the port named). */
static int free_port(void)
{
    for (int port = 2222; port <= 2232; port++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -errno;
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons(port == 2232 ? 0 : (uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t alen = sizeof(a);
        int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
        if (r == 0 && getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
            close(fd);
            return ntohs(a.sin_port);
        }
        close(fd);
    }
    return -EADDRINUSE;
}

/* Overlays of earlier runs that were killed (their pid is gone). */
static void remove_stale_overlays(const char *dir)
{
    char pattern[PATH_MAX + 32];
    glob_t g;
    snprintf(pattern, sizeof(pattern), "%s/run/overlay-*.qcow2", dir);
    if (glob(pattern, 0, NULL, &g))
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *name = strrchr(g.gl_pathv[i], '/') + 1;
        long pid = strtol(name + strlen("overlay-"), NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) && errno == ESRCH)
            unlink(g.gl_pathv[i]);
    }
    globfree(&g);
}

static bool readable(const char *path)
{
    return access(path, R_OK) == 0;
}

int up_debian_prepare(struct up_debian *u, const char *suite, bool want_net)
{
    char err[256];
    memset(u, 0, sizeof(*u));
    if (up_debian_dir(suite, u->dir, sizeof(u->dir))) {
        fprintf(stderr, "corral: error: --debian: the cache path is too long\n");
        return 1;
    }
    snprintf(u->base, sizeof(u->base), "%s/base.qcow2", u->dir);
    snprintf(u->kernel, sizeof(u->kernel), "%s/Image", u->dir);
    snprintf(u->initrd, sizeof(u->initrd), "%s/initrd.img", u->dir);
    if (!readable(u->base) || !readable(u->kernel) || !readable(u->initrd)) {
        fprintf(stderr, "corral: error: --debian: no Debian %s image built yet (looked in %s); "
                        "build it with 'corral image debian%s%s OUT.qcow2' (15 to 30 minutes, "
                        "once)\n", suite, u->dir, strcmp(suite, "trixie") ? " --suite " : "",
                strcmp(suite, "trixie") ? suite : "");
        return 1;
    }
    char run[PATH_MAX + 8];
    snprintf(run, sizeof(run), "%s/run", u->dir);
    if (mkdir(run, 0700) && errno != EEXIST) {
        fprintf(stderr, "corral: error: --debian: %s: %s\n", run, strerror(errno));
        return 1;
    }
    remove_stale_overlays(u->dir);
    snprintf(u->overlay, sizeof(u->overlay), "%s/overlay-%ld.qcow2", run, (long)getpid());
    unlink(u->overlay); /* a leftover of an earlier process with this pid */
    if (blk_qcow2_create_overlay(u->overlay, u->base, "qcow2", 0, err, sizeof(err))) {
        fprintf(stderr, "corral: error: --debian: overlay %s: %s\n", u->overlay, err);
        u->overlay[0] = '\0';
        return 1;
    }
    snprintf(u->disk_spec, sizeof(u->disk_spec), "%s,format=qcow2", u->overlay);
    if (want_net) {
        int port = free_port();
        if (port < 0) {
            fprintf(stderr, "corral: error: --debian: no free host port for SSH: %s\n",
                    strerror(-port));
            up_debian_finish(u);
            return 1;
        }
        u->ssh_port = port;
        snprintf(u->net_spec, sizeof(u->net_spec), "user,hostfwd=tcp:127.0.0.1:%d-:22", port);
    }
    return 0;
}

void up_debian_banner(const struct up_debian *u)
{
    char path[PATH_MAX + 32], pw[64] = "";
    snprintf(path, sizeof(path), "%s/root-password", u->dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(pw, sizeof(pw), f))
            pw[0] = '\0';
        pw[strcspn(pw, "\r\n")] = '\0';
        fclose(f);
    }
    fprintf(stderr, "corral: Debian from %s under a fresh overlay (removed at exit)\n", u->base);
    fprintf(stderr, "corral: console login: root, password %s\n", pw[0] ? pw : "(see the build's output)");
    if (u->ssh_port)
        fprintf(stderr, "corral: ssh: ssh -p %d root@127.0.0.1   (once the guest is up)\n",
                u->ssh_port);
}

void up_debian_finish(struct up_debian *u)
{
    if (u->overlay[0])
        unlink(u->overlay);
    u->overlay[0] = '\0';
}
