/* vsockcat: AF_VSOCK stream sockets for the guest tests.
 *
 *   vsockcat -l PORT [-e]   accept one connection on PORT; copy it to
 *                           stdout and stdin to it (-e: echo it back)
 *   vsockcat CID PORT       connect to CID:PORT (2 is the host); the same
 *
 * stdin's end shuts the socket's sending side; the program ends when the
 * peer has shut its side and everything read was written. Exit status 0,
 * 1 on an error (one line on stderr). Built static by scripts/guest.sh. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

static int die(const char *what)
{
    fprintf(stderr, "vsockcat: %s: %s\n", what, strerror(errno));
    return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static unsigned parse_u32(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > 0xffffffffUL) {
        fprintf(stderr, "vsockcat: %s '%s' is not a number\n", what, s);
        exit(2);
    }
    return (unsigned)v;
}

/* Socket <-> in/out until the peer's end (and, unless echoing, stdin's). */
static int pump(int s, int in, int out)
{
    static char buf[65536];
    bool in_open = in >= 0, sock_open = true;
    while (sock_open) {
        struct pollfd p[2] = { { .fd = s, .events = POLLIN }, { .fd = in, .events = POLLIN } };
        int n = poll(p, in_open ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return die("poll");
        if (p[0].revents) {
            ssize_t r = read(s, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return die("read from the socket");
            if (r == 0)
                sock_open = false;
            else if (write_all(out, buf, (size_t)r))
                return die("write");
        }
        if (in_open && p[1].revents) {
            ssize_t r = read(in, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return die("read from stdin");
            if (r == 0) {
                in_open = false;
                shutdown(s, SHUT_WR);
            } else if (write_all(s, buf, (size_t)r)) {
                return die("write to the socket");
            }
        }
    }
    if (out == s)
        shutdown(s, SHUT_WR);
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK };
    bool listen_mode = argc >= 3 && !strcmp(argv[1], "-l");
    bool echo = listen_mode && argc == 4 && !strcmp(argv[3], "-e");
    if (!(listen_mode && (argc == 3 || echo)) && !(!listen_mode && argc == 3)) {
        fprintf(stderr, "usage: vsockcat -l PORT [-e] | vsockcat CID PORT\n");
        return 2;
    }
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (s < 0)
        return die("socket(AF_VSOCK)");
    if (listen_mode) {
        sa.svm_cid = VMADDR_CID_ANY;
        sa.svm_port = parse_u32(argv[2], "port");
        if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0)
            return die("bind/listen");
        int c = accept(s, NULL, NULL);
        if (c < 0)
            return die("accept");
        close(s);
        return echo ? pump(c, -1, c) : pump(c, 0, 1);
    }
    sa.svm_cid = parse_u32(argv[1], "CID");
    sa.svm_port = parse_u32(argv[2], "port");
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return die("connect");
    return pump(s, 0, 1);
}
