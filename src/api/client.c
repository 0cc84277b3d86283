/* A minimal HTTP/1.1 client over a unix socket, enough for `corral ctl`
 * and `corral ps` to talk to a VM's API (the server sends Content-Length
 * bodies; the connection is closed after one request). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"

#define CLIENT_TIMEOUT_MS 30000
#define CLIENT_MAX_RESPONSE (4 * 1024 * 1024)

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int api_client_request(const char *sock, const char *method, const char *path,
                       const char *body, unsigned *status, char **resp, char *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char *buf = NULL, *req = NULL;
    int fd = -1, r;
    *resp = NULL;
    if (strlen(sock) >= sizeof(sa.sun_path)) {
        snprintf(err, API_ERR_LEN, "%s: socket path too long", sock);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = -errno;
        snprintf(err, API_ERR_LEN, "%s: %s", sock, strerror(errno));
        goto out;
    }
    size_t blen = body ? strlen(body) : 0;
    int n = asprintf(&req,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     "Accept: application/json\r\n%s%s%s%zu\r\n\r\n",
                     method, path, body ? "Content-Type: application/json\r\n" : "",
                     "Content-Length: ", "", blen);
    if (n < 0) {
        req = NULL;
        r = -ENOMEM;
        snprintf(err, API_ERR_LEN, "out of memory");
        goto out;
    }
    if ((r = write_all(fd, req, (size_t)n)) || (body && (r = write_all(fd, body, blen)))) {
        snprintf(err, API_ERR_LEN, "%s: %s", sock, strerror(-r));
        goto out;
    }
    size_t len = 0, cap = 4096;
    buf = malloc(cap + 1);
    if (!buf) {
        r = -ENOMEM;
        snprintf(err, API_ERR_LEN, "out of memory");
        goto out;
    }
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int pr = poll(&p, 1, CLIENT_TIMEOUT_MS);
        if (pr == 0) {
            r = -ETIMEDOUT;
            snprintf(err, API_ERR_LEN, "%s: no answer within %d s", sock,
                     CLIENT_TIMEOUT_MS / 1000);
            goto out;
        }
        if (pr < 0 && errno == EINTR)
            continue;
        if (len == cap) {
            if (cap >= CLIENT_MAX_RESPONSE) {
                r = -EFBIG;
                snprintf(err, API_ERR_LEN, "%s: response too large", sock);
                goto out;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                r = -ENOMEM;
                snprintf(err, API_ERR_LEN, "out of memory");
                goto out;
            }
            buf = nb;
        }
        ssize_t got = recv(fd, buf + len, cap - len, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            /* A reset after a complete answer (the server refused the
             * rest of a body) still leaves that answer readable. */
            if (len)
                break;
            r = -errno;
            snprintf(err, API_ERR_LEN, "%s: %s", sock, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    buf[len] = 0;
    unsigned code;
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*u %u", &code) != 1 || !hdr_end) {
        r = -EPROTO;
        snprintf(err, API_ERR_LEN, "%s: not an HTTP answer", sock);
        goto out;
    }
    *status = code;
    size_t blen2 = len - (size_t)(hdr_end + 4 - buf);
    memmove(buf, hdr_end + 4, blen2);
    buf[blen2] = 0;
    *resp = buf;
    buf = NULL;
    r = 0;
out:
    free(req);
    free(buf);
    if (fd >= 0)
        close(fd);
    return r;
}
