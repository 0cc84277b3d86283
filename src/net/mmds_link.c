/* MMDS on a TAP or VDE interface (net.h, net_mmds_wrap). Firecracker
 * answers its metadata service inside the VMM on the guest's TAP device;
 * here a second backend, a user-mode stack in MMDS-only mode
 * (net_user_open_mmds: the same responder as on user-mode interfaces),
 * takes the guest's frames for the MMDS address, and everything else goes
 * to the link as before. The guest's ARP requests for the MMDS address go
 * only to the MMDS side, so nothing on the host's network can answer for
 * it. Both sides' frames for the guest reach the device through this
 * backend's rx callback. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/mmds.h"
#include "net/net.h"

struct net_mmds_link {
    struct net_backend nb;
    struct net_backend *link; /* the TAP or VDE port */
    struct net_backend *svc;  /* MMDS only */
    struct mmds *mmds;
};

/* The first `n` bytes of the frame (fewer if it is shorter). */
static size_t peek(const struct iovec *iov, int niov, uint8_t *out, size_t n)
{
    size_t got = 0;
    for (int i = 0; i < niov && got < n; i++) {
        size_t take = iov[i].iov_len < n - got ? iov[i].iov_len : n - got;
        memcpy(out + got, iov[i].iov_base, take);
        got += take;
    }
    return got;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* A frame for the MMDS side: an ARP request for the MMDS address, or
 * IPv4 to it. */
static bool for_mmds(struct net_mmds_link *w, const struct iovec *iov, int n)
{
    uint8_t h[14 + 28];
    size_t len = peek(iov, n, h, sizeof(h));
    uint32_t a = mmds_ipv4(w->mmds);
    uint8_t mip[4] = { (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a };
    if (len < 14 + 20)
        return false;
    if (be16(h + 12) == 0x0806)
        return len >= 14 + 28 && be16(h + 14 + 6) == 1 && !memcmp(h + 14 + 24, mip, 4);
    return be16(h + 12) == 0x0800 && !memcmp(h + 14 + 16, mip, 4);
}

static int mmds_link_send(struct net_backend *nb, const struct iovec *iov, int n)
{
    struct net_mmds_link *w = (struct net_mmds_link *)nb;
    struct net_backend *to = for_mmds(w, iov, n) ? w->svc : w->link;
    return to->ops->send(to, iov, n);
}

static bool to_guest(void *opaque, const uint8_t *frame, size_t len)
{
    struct net_mmds_link *w = opaque;
    return w->nb.rx ? w->nb.rx(w->nb.rx_opaque, frame, len) : false;
}

static void mmds_link_set_rx(struct net_backend *nb, bool enabled)
{
    struct net_mmds_link *w = (struct net_mmds_link *)nb;
    w->link->ops->set_rx(w->link, enabled);
    w->svc->ops->set_rx(w->svc, enabled);
}

static void mmds_link_close(struct net_backend *nb)
{
    struct net_mmds_link *w = (struct net_mmds_link *)nb;
    net_close(w->svc);
    net_close(w->link);
    free(w);
}

/* The link's own state, when it has any (a TAP and a VDE port have
 * none, and then neither has this backend: the NIC's saved state says
 * whether a backend section follows). The MMDS side keeps none across a
 * snapshot: a guest's MMDS connection is reset, as on user-mode MMDS. */
static void mmds_link_save(struct net_backend *nb, struct state_out *o)
{
    struct net_mmds_link *w = (struct net_mmds_link *)nb;
    w->link->ops->save_state(w->link, o);
}

static int mmds_link_load(struct net_backend *nb, struct state_in *in)
{
    struct net_mmds_link *w = (struct net_mmds_link *)nb;
    return w->link->ops->load_state(w->link, in);
}

static const struct net_backend_ops mmds_link_ops = {
    .send = mmds_link_send,
    .set_rx = mmds_link_set_rx,
    .close = mmds_link_close,
};

static const struct net_backend_ops mmds_link_state_ops = {
    .send = mmds_link_send,
    .set_rx = mmds_link_set_rx,
    .close = mmds_link_close,
    .save_state = mmds_link_save,
    .load_state = mmds_link_load,
};

int net_mmds_wrap(struct iothread *io, struct net_backend *link, struct mmds *m,
                  struct net_backend **out, char *err, size_t errlen)
{
    struct net_mmds_link *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int r = net_user_open_mmds(io, m, &w->svc, err, errlen);
    if (r) {
        free(w);
        return r;
    }
    w->nb.ops = link->ops->save_state && link->ops->load_state ? &mmds_link_state_ops
                                                               : &mmds_link_ops;
    w->link = link;
    w->mmds = m;
    link->rx = to_guest;
    link->rx_opaque = w;
    w->svc->rx = to_guest;
    w->svc->rx_opaque = w;
    *out = &w->nb;
    return 0;
}
