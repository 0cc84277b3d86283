/* virtio-vsock (virtio 1.2 section 5.10) with Firecracker's host side:
 * guest stream sockets reach host processes over unix sockets.
 *  - host-initiated: a host process connects to `uds_path` and writes
 *    "CONNECT <port>\n"; the device connects to the guest's port and
 *    answers "OK <host_port>\n", then bytes flow both ways;
 *  - guest-initiated: a guest connection to CID 2 port P is forwarded to
 *    the unix socket "<uds_path>_<P>" when something listens there.
 * Threads: as virtio_mmio.h. Every host socket is non-blocking and served
 * on the I/O thread (its fd callbacks take the device lock). create and
 * destroy on the main thread with the I/O thread stopped. */
#ifndef CORRAL_DEVICES_VIRTIO_VSOCK_H
#define CORRAL_DEVICES_VIRTIO_VSOCK_H

#include "virtio/virtio_mmio.h"

#define VSOCK_HOST_CID 2
#define VSOCK_MIN_GUEST_CID 3
/* Guest CIDs are u32 on the wire of Linux's AF_VSOCK (VMADDR_CID_ANY is
 * 0xffffffff): keep below it. */
#define VSOCK_MAX_GUEST_CID 0xfffffffeULL
#define VSOCK_MAX_CONNS 64        /* open connections at once */
#define VSOCK_BUF_ALLOC (128 * 1024) /* per connection, guest -> host */
#define VSOCK_UDS_MAX 100         /* sun_path (108) minus "_<port>" */

struct virtio_vsock;

/* Binds `uds_path` (a stale socket file there is replaced; any other file
 * is refused) and listens on it. NULL with a reason in `err`. */
struct virtio_vsock *virtio_vsock_create(uint64_t guest_cid, const char *uds_path,
                                         struct gmem *mem, struct iothread *io,
                                         struct irq_line irq, char *err, size_t errlen);
/* Closes every connection and the listener, and removes uds_path. */
void virtio_vsock_destroy(struct virtio_vsock *v);
struct virtio_dev *virtio_vsock_dev(struct virtio_vsock *v);

/* Without an I/O thread (unit tests, the fuzzer): serve the listener and
 * every host socket once, as if each were ready. Any thread. */
void virtio_vsock_poll(struct virtio_vsock *v);
/* Open connections (any state). Any thread. */
unsigned virtio_vsock_nconns(struct virtio_vsock *v);

#endif
