/* VDE backend: the NIC is a port of a VDE switch (vde_switch -s DIR, from
 * vde2), reached through libvdeplug, so unprivileged VMs on one host share
 * an L2 segment (and, with vde_plug over ssh or a vxvde:// URL, across
 * hosts). libvdeplug gives a data descriptor carrying one Ethernet frame
 * per datagram and a control descriptor whose end means the switch went
 * away. Frames are not queued here: when the guest has no receive buffers
 * we stop reading and the switch drops, as a full port would. */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <libvdeplug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"

#define VDE_MIN_FRAME 14 /* an Ethernet header */

struct net_vde {
    struct net_backend nb;
    struct iothread *io;
    VDECONN *conn;
    int data_fd, ctl_fd;   /* ctl_fd -1 once the switch hung up */
    bool reading;
    size_t held;           /* a frame the device could not take yet */
    uint8_t rbuf[NET_MAX_FRAME];
    uint8_t tbuf[NET_MAX_FRAME]; /* a guest frame made contiguous (vde_send) */
};

static void vde_set_reading(struct net_vde *v, bool on)
{
    if (v->reading == on)
        return;
    if (iothread_mod_fd(v->io, v->data_fd, on ? EPOLLIN : 0) == 0)
        v->reading = on;
}

static void vde_readable(void *opaque, uint32_t events)
{
    struct net_vde *v = opaque;
    (void)events;
    for (int i = 0; i < 64; i++) {
        if (!v->held) {
            ssize_t n = vde_recv(v->conn, v->rbuf, sizeof(v->rbuf), 0);
            if (n < 0)
                return; /* EAGAIN: drained */
            if (n < VDE_MIN_FRAME)
                continue; /* libvdeplug's keep-alives, runts */
            v->held = (size_t)n;
        }
        if (!v->nb.rx || !v->nb.rx(v->nb.rx_opaque, v->rbuf, v->held)) {
            vde_set_reading(v, false);
            return;
        }
        v->held = 0;
    }
}

/* The switch closed our control connection: the port is gone. Frames sent
 * from now on fail, as on an unplugged cable; the VM keeps running. */
static void vde_ctl_readable(void *opaque, uint32_t events)
{
    struct net_vde *v = opaque;
    uint8_t b[64];
    ssize_t n = read(v->ctl_fd, b, sizeof(b));
    if (n > 0 || (n < 0 && errno == EAGAIN && !(events & (EPOLLHUP | EPOLLERR))))
        return;
    log_warn("net: the VDE switch closed this port's connection");
    iothread_del_fd(v->io, v->ctl_fd);
    v->ctl_fd = -1;
}

static int vde_send_frame(struct net_backend *nb, const struct iovec *iov, int n)
{
    struct net_vde *v = (struct net_vde *)nb;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len > sizeof(v->tbuf) - len)
            return -EMSGSIZE;
        memcpy(v->tbuf + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    /* A full socket buffer drops the frame, as a busy wire would. */
    return vde_send(v->conn, v->tbuf, len, 0) < 0 ? -errno : 0;
}

static void vde_set_rx(struct net_backend *nb, bool enabled)
{
    struct net_vde *v = (struct net_vde *)nb;
    if (enabled && !v->reading) {
        vde_set_reading(v, true);
        vde_readable(v, EPOLLIN);
    }
}

static void vde_close_backend(struct net_backend *nb)
{
    struct net_vde *v = (struct net_vde *)nb;
    iothread_del_fd(v->io, v->data_fd);
    if (v->ctl_fd >= 0)
        iothread_del_fd(v->io, v->ctl_fd);
    vde_close(v->conn);
    free(v);
}

static const struct net_backend_ops vde_ops = {
    .send = vde_send_frame,
    .set_rx = vde_set_rx,
    .close = vde_close_backend,
};

static int nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int net_vde_open(struct iothread *io, const char *path, struct net_backend **out, char *err,
                 size_t errlen)
{
    int r = 0;
    if (!path || !*path) {
        snprintf(err, errlen, "--net vde=: no switch given (vde=PATH of vde_switch -s PATH)");
        return -EINVAL;
    }
    struct net_vde *v = calloc(1, sizeof(*v));
    char *url = strdup(path), descr[] = "corral";
    if (!v || !url) {
        free(v);
        free(url);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    errno = 0;
    v->conn = vde_open(url, descr, NULL);
    free(url);
    if (!v->conn) {
        r = errno ? -errno : -EIO;
        snprintf(err, errlen, "--net vde=%s: cannot connect to the VDE switch: %s%s", path,
                 strerror(-r),
                 r == -ENOENT || r == -ECONNREFUSED ? " (is vde_switch -s PATH running?)" : "");
        free(v);
        return r;
    }
    v->nb.ops = &vde_ops;
    v->io = io;
    v->data_fd = vde_datafd(v->conn);
    v->ctl_fd = vde_ctlfd(v->conn);
    if (v->data_fd < 0 || (r = nonblocking(v->data_fd)) ||
        (v->ctl_fd >= 0 && (r = nonblocking(v->ctl_fd)))) {
        r = v->data_fd < 0 ? -EIO : r;
        snprintf(err, errlen, "--net vde=%s: %s", path, strerror(-r));
        goto err_close;
    }
    if ((r = iothread_add_fd(io, v->data_fd, EPOLLIN, vde_readable, v))) {
        snprintf(err, errlen, "--net vde=%s: %s", path, strerror(-r));
        goto err_close;
    }
    if (v->ctl_fd >= 0 && (r = iothread_add_fd(io, v->ctl_fd, EPOLLIN, vde_ctl_readable, v))) {
        snprintf(err, errlen, "--net vde=%s: %s", path, strerror(-r));
        iothread_del_fd(io, v->data_fd);
        goto err_close;
    }
    v->reading = true;
    *out = &v->nb;
    return 0;
err_close:
    vde_close(v->conn);
    free(v);
    return r;
}
