/* The host end of the vsock tests (Firecracker's unix-socket model).
 *
 *   vsock_host connect UDS PORT IN OUT   connect to UDS, send
 *       "CONNECT PORT\n", expect "OK <n>\n", then send file IN (shutting
 *       the sending side after it) while writing what comes back to OUT,
 *       until the guest's end. Retries the connection for 30 s while the
 *       guest has no listener yet (the VMM closes us without an OK).
 *   vsock_host listen PATH OUT           listen on PATH (the
 *       "<uds>_<port>" a guest connection reaches), accept one
 *       connection, write what it sends to OUT until its end.
 * Exit 0, or 1 with one line on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "vsock_host: %s: %s\n", what, errno ? strerror(errno) : "failed");
    return 1;
}

static struct sockaddr_un addr(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    return sa;
}

/* Copy `in` (or nothing, -1) to `s` and `s` to `out` until s's end. */
static int relay(int s, int in, int out)
{
    static char buf[65536];
    bool sending = in >= 0;
    for (;;) {
        struct pollfd p[2] = { { .fd = s, .events = POLLIN | (sending ? POLLOUT : 0) } };
        if (poll(p, 1, 60000) <= 0)
            return fail("no progress for 60 s");
        if (sending && (p[0].revents & POLLOUT)) {
            ssize_t n = read(in, buf, sizeof(buf));
            if (n < 0)
                return fail("read IN");
            if (n == 0) {
                shutdown(s, SHUT_WR);
                sending = false;
            } else {
                for (ssize_t off = 0; off < n;) {
                    ssize_t w = send(s, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w < 0)
                        return fail("send");
                    off += w;
                }
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n < 0)
                return fail("recv");
            if (n == 0)
                return 0;
            if (write(out, buf, (size_t)n) != n)
                return fail("write OUT");
        }
    }
}

/* One attempt: 1 connected and OK read, 0 refused or closed before OK. */
static int try_connect(const char *uds, const char *port, int *fd)
{
    struct sockaddr_un sa = addr(uds);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (s >= 0)
            close(s);
        return 0;
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "CONNECT %s\n", port);
    if (send(s, line, (size_t)n, MSG_NOSIGNAL) != n) {
        close(s);
        return 0;
    }
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        ssize_t r = recv(s, line + got, 1, 0);
        if (r <= 0) {
            close(s);
            return 0;
        }
        if (line[got++] == '\n')
            break;
    }
    line[got] = 0;
    if (strncmp(line, "OK ", 3)) {
        close(s);
        return 0;
    }
    *fd = s;
    return 1;
}

int main(int argc, char **argv)
{
    alarm(90); /* a test that lost its peer ends */
    if (argc == 6 && !strcmp(argv[1], "connect")) {
        int in = open(argv[4], O_RDONLY), out = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0)
            return fail("open IN/OUT");
        int s = -1;
        for (int i = 0; i < 300 && !try_connect(argv[2], argv[3], &s); i++)
            nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
        if (s < 0) {
            errno = 0;
            return fail("no OK from the VMM in 30 s");
        }
        printf("connected\n");
        fflush(stdout);
        return relay(s, in, out);
    }
    if (argc == 4 && !strcmp(argv[1], "listen")) {
        int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        struct sockaddr_un sa = addr(argv[2]);
        int l = socket(AF_UNIX, SOCK_STREAM, 0);
        if (out < 0 || l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(l, 1) < 0)
            return fail("listen");
        int s = accept(l, NULL, NULL);
        if (s < 0)
            return fail("accept");
        close(l);
        unlink(argv[2]);
        return relay(s, -1, out);
    }
    fprintf(stderr, "usage: vsock_host connect UDS PORT IN OUT | listen PATH OUT\n");
    return 2;
}
