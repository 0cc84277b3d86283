/* TAP backend: frames go to and from a host TAP interface (for bridges
 * and networks of VMs). No virtio-net header on the TAP (no offloads are
 * offered to the guest). When the guest has no receive buffers we stop
 * reading the TAP, so the host queues (and eventually drops) instead of us. */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"

struct net_tap {
    struct net_backend nb;
    struct iothread *io;
    int fd;
    bool reading;
    size_t held;           /* a frame the device could not take yet */
    uint8_t buf[NET_MAX_FRAME];
};

static void tap_set_reading(struct net_tap *t, bool on)
{
    if (t->reading == on)
        return;
    if (iothread_mod_fd(t->io, t->fd, on ? EPOLLIN : 0) == 0)
        t->reading = on;
}

static void tap_readable(void *opaque, uint32_t events)
{
    struct net_tap *t = opaque;
    for (int i = 0; i < 64; i++) {
        if (!t->held) {
            ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
            if (n <= 0)
                return;
            t->held = (size_t)n;
        }
        if (!t->nb.rx || !t->nb.rx(t->nb.rx_opaque, t->buf, t->held)) {
            tap_set_reading(t, false);
            return;
        }
        t->held = 0;
    }
}

static int tap_send(struct net_backend *nb, const struct iovec *iov, int n)
{
    struct net_tap *t = (struct net_tap *)nb;
    /* A full TAP queue drops the frame, as a busy wire would. */
    return writev(t->fd, iov, n) < 0 ? -errno : 0;
}

static void tap_set_rx(struct net_backend *nb, bool enabled)
{
    struct net_tap *t = (struct net_tap *)nb;
    if (enabled && !t->reading) {
        tap_set_reading(t, true);
        tap_readable(t, EPOLLIN);
    }
}

static void tap_close(struct net_backend *nb)
{
    struct net_tap *t = (struct net_tap *)nb;
    iothread_del_fd(t->io, t->fd);
    close(t->fd);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .send = tap_send,
    .set_rx = tap_set_rx,
    .close = tap_close,
};

static const char *tap_hint(int e)
{
    switch (e) {
    case EPERM: case EACCES:
        return " (needs CAP_NET_ADMIN, or a TAP made for this user: "
               "ip tuntap add NAME mode tap user $USER)";
    case ENOENT: case ENODEV:
        return " (no /dev/net/tun: is the tun module loaded?)";
    case EBUSY:
        return " (the interface is in use by another process)";
    case EINVAL:
        return " (an interface of that name exists and is not a TAP)";
    default:
        return "";
    }
}

int net_tap_open(struct iothread *io, const char *name, const char *bridge,
                 struct net_backend **out, char *err, size_t errlen)
{
    int r;
    if (!name || !*name || strlen(name) >= IFNAMSIZ) {
        snprintf(err, errlen, "--net tap=%s: interface names are 1..%d characters",
                 name ? name : "", IFNAMSIZ - 1);
        return -EINVAL;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        snprintf(err, errlen, "--net tap=%s: cannot open /dev/net/tun: %s%s", name,
                 strerror(errno), tap_hint(errno));
        return r;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        r = -errno;
        snprintf(err, errlen, "--net tap=%s: %s%s", name, strerror(errno), tap_hint(errno));
        close(fd);
        return r;
    }
    char why[160];
    if (bridge && (r = net_bridge_add_port(bridge, name, why, sizeof(why)))) {
        snprintf(err, errlen, "--net tap=%s: %s", name, why);
        close(fd); /* a TAP we created goes with it */
        return r;
    }
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    t->nb.ops = &tap_ops;
    t->io = io;
    t->fd = fd;
    r = iothread_add_fd(io, fd, EPOLLIN, tap_readable, t);
    if (r) {
        snprintf(err, errlen, "--net tap=%s: %s", name, strerror(-r));
        close(fd);
        free(t);
        return r;
    }
    t->reading = true;
    *out = &t->nb;
    return 0;
}
