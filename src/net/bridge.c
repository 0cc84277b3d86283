/* Putting a TAP on an existing Linux bridge (--net tap=NAME,bridge=BR), so
 * VMs on one host share an L2 segment, and with a VXLAN port on the same
 * bridge, VMs on other hosts too. The bridge itself is the host's to make
 * (ip link add BR type bridge): a VMM that created bridges would also have
 * to own their addresses, firewalling and removal. Uses the old bridge
 * ioctls (SIOCBRADDIF) on an AF_UNIX socket rather than netlink, since the
 * seccomp lists already allow AF_UNIX sockets and no netlink ones. */
#include "net/net.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int ifreq_for(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    if (!name || !*name || strlen(name) >= IFNAMSIZ)
        return -EINVAL;
    memcpy(ifr->ifr_name, name, strlen(name));
    return 0;
}

/* Is `ifname` already a port of `bridge`? (then adding it again is
 * EBUSY, and no error for us). */
static bool already_port_of(const char *ifname, const char *bridge)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/sys/class/net/%s/brport/bridge", ifname);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return false;
    target[n] = 0;
    return !strcmp(basename(target), bridge);
}

int net_bridge_add_port(const char *bridge, const char *ifname, char *err, size_t errlen)
{
    struct ifreq br, port;
    int r;
    if (ifreq_for(&br, bridge) || ifreq_for(&port, ifname)) {
        snprintf(err, errlen, "bridge=%s: interface names are 1..%d characters",
                 bridge ? bridge : "", IFNAMSIZ - 1);
        return -EINVAL;
    }
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        r = -errno;
        snprintf(err, errlen, "bridge=%s: cannot make a socket: %s", bridge, strerror(errno));
        return r;
    }
    if (ioctl(s, SIOCGIFINDEX, &br) < 0) {
        r = -errno;
        snprintf(err, errlen, "bridge=%s: %s", bridge,
                 errno == ENODEV ? "no such bridge (create it first: ip link add NAME type "
                                   "bridge)"
                                 : strerror(errno));
        goto out;
    }
    char sys[64];
    snprintf(sys, sizeof(sys), "/sys/class/net/%s/bridge", bridge);
    if (access(sys, F_OK) < 0) {
        r = -EINVAL;
        snprintf(err, errlen, "bridge=%s: the interface exists but is not a bridge", bridge);
        goto out;
    }
    if (ioctl(s, SIOCGIFINDEX, &port) < 0) {
        r = -errno;
        snprintf(err, errlen, "bridge=%s: interface %s: %s", bridge, ifname, strerror(errno));
        goto out;
    }
    br.ifr_ifindex = port.ifr_ifindex;
    if (ioctl(s, SIOCBRADDIF, &br) < 0 && !(errno == EBUSY && already_port_of(ifname, bridge))) {
        r = -errno;
        snprintf(err, errlen, "bridge=%s: cannot add %s: %s%s", bridge, ifname, strerror(errno),
                 errno == EPERM || errno == EACCES ? " (needs CAP_NET_ADMIN: run as root)"
                 : errno == EBUSY ? " (it is a port of another bridge)" : "");
        goto out;
    }
    if (ioctl(s, SIOCGIFFLAGS, &port) < 0) {
        r = -errno;
        snprintf(err, errlen, "bridge=%s: interface %s: %s", bridge, ifname, strerror(errno));
        goto out;
    }
    if (!(port.ifr_flags & IFF_UP)) {
        port.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &port) < 0) {
            r = -errno;
            snprintf(err, errlen, "bridge=%s: cannot bring %s up: %s", bridge, ifname,
                     strerror(errno));
            goto out;
        }
    }
    r = 0;
out:
    close(s);
    return r;
}
