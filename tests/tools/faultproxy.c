/* faultproxy: a TCP forwarder that injects one fault into a migration
 * stream (tests and bench/migrate/faults.sh; not part of Corral).
 *
 *   faultproxy LISTEN_PORT TARGET_PORT drop|corrupt AFTER_BYTES
 *   faultproxy LISTEN_PORT TARGET_PORT drop-reply STRING
 *
 * Listens on 127.0.0.1:LISTEN_PORT, takes one connection, connects it to
 * 127.0.0.1:TARGET_PORT and forwards both ways. Once AFTER_BYTES bytes
 * have gone from the client to the target: "drop" resets both
 * connections and exits; "corrupt" flips the bits of that one byte and
 * forwards the rest untouched. "drop-reply" resets both when STRING
 * (a frame's name, say) comes from the target, before passing it on.
 * Prints "listening" once it accepts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tcp(int port, bool listen_side)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || (listen_side ? bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1)
                               : connect(fd, (struct sockaddr *)&a, sizeof(a)))) {
        fprintf(stderr, "faultproxy: port %d: %s\n", port, strerror(errno));
        exit(2);
    }
    return fd;
}

static void reset(int fd)
{
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[3], "drop") && strcmp(argv[3], "corrupt") &&
                      strcmp(argv[3], "drop-reply"))) {
        fprintf(stderr, "usage: faultproxy LISTEN_PORT TARGET_PORT drop|corrupt AFTER_BYTES\n"
                        "       faultproxy LISTEN_PORT TARGET_PORT drop-reply STRING\n");
        return 2;
    }
    bool drop = !strcmp(argv[3], "drop"), on_reply = !strcmp(argv[3], "drop-reply");
    const char *needle = argv[4];
    size_t nlen = strlen(needle);
    if (on_reply && (nlen == 0 || nlen > 64)) {
        fprintf(stderr, "faultproxy: drop-reply: STRING of 1..64 bytes\n");
        return 2;
    }
    char tail[64 + 65536]; /* the reply's last bytes + this read, for a split STRING */
    size_t tlen = 0;
    unsigned long long after = strtoull(argv[4], NULL, 10), sent = 0;
    int ls = tcp(atoi(argv[1]), true);
    printf("listening\n");
    fflush(stdout);
    int c = accept(ls, NULL, NULL);
    close(ls);
    if (c < 0)
        return 2;
    int t = tcp(atoi(argv[2]), false);
    static char buf[65536];
    struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = t, .events = POLLIN } };
    for (bool faulted = false;;) {
        if (poll(p, 2, -1) < 0)
            return 2;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(c);
                close(t);
                return 0;
            }
            if (i == 1 && on_reply) {
                memcpy(tail + tlen, buf, (size_t)n);
                if (memmem(tail, tlen + (size_t)n, needle, nlen)) {
                    reset(c);
                    reset(t);
                    fprintf(stderr, "faultproxy: dropped at a reply with '%s'\n", needle);
                    return 0;
                }
                size_t keep = nlen - 1 < tlen + (size_t)n ? nlen - 1 : tlen + (size_t)n;
                memmove(tail, tail + tlen + (size_t)n - keep, keep);
                tlen = keep;
            }
            if (i == 0 && !on_reply && !faulted && sent + (unsigned long long)n > after) {
                faulted = true;
                if (drop) {
                    reset(c);
                    reset(t);
                    fprintf(stderr, "faultproxy: dropped after %llu bytes\n", after);
                    return 0;
                }
                buf[after - sent] ^= 0xff;
                fprintf(stderr, "faultproxy: corrupted byte %llu\n", after);
            }
            if (i == 0)
                sent += (unsigned long long)n;
            for (ssize_t done = 0; done < n;) {
                ssize_t w = write(p[1 - i].fd, buf + done, (size_t)(n - done));
                if (w <= 0) {
                    close(c);
                    close(t);
                    return 0;
                }
                done += w;
            }
        }
    }
}
