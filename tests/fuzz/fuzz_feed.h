/* Shared by the stream fuzz targets: a socketpair whose far end holds the
 * input (sections resealed, so frame contents reach the decoders) and is
 * shut for writing, so the reader sees the input and then the end. */
#ifndef CORRAL_FUZZ_FEED_H
#define CORRAL_FUZZ_FEED_H

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_reseal.h"

/* 0 with sv[1] to read from and sv[0] to close after; -1 when skipped. */
static int fuzz_feed(const uint8_t *data, size_t size, int bufsize, int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return -1;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    (void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    memcpy(copy, data, size);
    fuzz_reseal(copy, size, 0);
    for (size_t done = 0; done < size;) {
        ssize_t n = write(sv[0], copy + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    free(copy);
    shutdown(sv[0], SHUT_WR);
    return 0;
}

#endif
