/* Network backends: where a virtio-net device's frames go. Ethernet
 * frames without any virtio header. Three backends: user-mode networking
 * through libslirp (no privileges), a host TAP device (optionally put on
 * a Linux bridge), and a port of a VDE switch through libvdeplug (a
 * virtual switch for unprivileged users).
 * Threads: opened on the main thread before the I/O thread starts; send,
 * set_rx and the rx callback on the I/O thread only. */
#ifndef CORRAL_NET_NET_H
#define CORRAL_NET_NET_H

#include <sys/uio.h>

#include "core/iothread.h"
#include "core/types.h"

#define NET_MAX_FRAME 65550 /* ethernet header + 64 KiB */

struct net_backend;
struct state_out;
struct state_in;

/* A frame for the guest. Returns false when the device cannot take it now
 * (no receive buffers): a backend that can wait (TAP) stops reading until
 * set_rx(true); slirp drops and lets TCP retransmit. */
typedef bool net_rx_cb(void *opaque, const uint8_t *frame, size_t len);

struct net_backend_ops {
    /* A frame from the guest; 0 or -errno (dropped). */
    int (*send)(struct net_backend *nb, const struct iovec *iov, int n);
    /* The device can receive again (or not). */
    void (*set_rx)(struct net_backend *nb, bool enabled);
    void (*close)(struct net_backend *nb);
    /* Optional: the backend's own state (libslirp's NAT tables, leases,
     * connections), as a subsection of the NIC's saved state. I/O thread
     * stopped. */
    void (*save_state)(struct net_backend *nb, struct state_out *o);
    int (*load_state)(struct net_backend *nb, struct state_in *in);
};

struct net_backend {
    const struct net_backend_ops *ops;
    net_rx_cb *rx;
    void *rx_opaque;
};

/* --net user: hostfwd rules like "tcp::2222-:22" or
 * "udp:127.0.0.1:5353-10.0.2.15:53". Fails (one line in `err`) on a bad
 * rule or a host port that cannot be bound. */
int net_user_open(struct iothread *io, const char *const *hostfwd, unsigned nhostfwd,
                  struct net_backend **out, char *err, size_t errlen) WARN_UNUSED;
/* --net tap=NAME[,bridge=BR]: attach to (or create) the TAP interface
 * NAME; with a bridge, bring it up and make it a port of the existing
 * Linux bridge BR (needs CAP_NET_ADMIN). A TAP we create is not
 * persistent: the kernel removes it (and its bridge port) when the VMM's
 * descriptor closes, at exit or on a crash. */
int net_tap_open(struct iothread *io, const char *name, const char *bridge,
                 struct net_backend **out, char *err, size_t errlen) WARN_UNUSED;
/* Make interface `ifname` a port of bridge `bridge` and bring it up
 * (net/bridge.c). 0 or -errno with one line in `err`. */
int net_bridge_add_port(const char *bridge, const char *ifname, char *err,
                        size_t errlen) WARN_UNUSED;
/* --net vde=PATH: a new port on the VDE switch whose control socket
 * directory is PATH (vde_switch -s PATH), or any libvdeplug URL. */
int net_vde_open(struct iothread *io, const char *path, struct net_backend **out, char *err,
                 size_t errlen) WARN_UNUSED;
void net_close(struct net_backend *nb);
/* Answer MMDS (net/mmds.h) on this user-mode interface: the guest's TCP
 * to the MMDS address, port 80, reaches the store's HTTP responder. Main
 * thread, before the I/O thread runs the backend. -EINVAL with a message
 * for a TAP interface (net_mmds_wrap serves those). */
struct mmds;
int net_user_attach_mmds(struct net_backend *nb, struct mmds *m, char *err,
                         size_t errlen) WARN_UNUSED;
/* A user-mode stack that answers MMDS and nothing else: whatever else the
 * guest sends it is dropped (net/slirp.c). */
int net_user_open_mmds(struct iothread *io, struct mmds *m, struct net_backend **out, char *err,
                       size_t errlen) WARN_UNUSED;
/* MMDS on a TAP or VDE interface (net/mmds_link.c): `*out` sends the
 * guest's frames for the MMDS address to an MMDS-only stack and the rest
 * to `link`, which it now owns (closed with it). Main thread, before the
 * I/O thread runs the backends. */
int net_mmds_wrap(struct iothread *io, struct net_backend *link, struct mmds *m,
                  struct net_backend **out, char *err, size_t errlen) WARN_UNUSED;

#endif
