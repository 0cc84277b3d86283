/* Device flag parsers: comma-separated key[=value] lists, QEMU style. */
#include "machine/options.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio_vsock.h"

/* Split `arg` at single commas (",," stays a comma) into a NUL-separated
 * heap copy; returns the number of fields. */
static int split(const char *arg, char **buf, char **fields, int max)
{
    size_t len = strlen(arg);
    char *out = malloc(len + 1);
    if (!out)
        return -1;
    int n = 0;
    char *w = out;
    fields[n++] = w;
    for (size_t i = 0; i < len; i++) {
        if (arg[i] == ',' && arg[i + 1] == ',') {
            *w++ = ',';
            i++;
        } else if (arg[i] == ',') {
            *w++ = 0;
            if (n == max) {
                free(out);
                return -1;
            }
            fields[n++] = w;
        } else {
            *w++ = arg[i];
        }
    }
    *w = 0;
    *buf = out;
    return n;
}

/* "key=value" -> value if the key matches, else NULL. */
static const char *value_of(const char *field, const char *key)
{
    size_t k = strlen(key);
    return !strncmp(field, key, k) && field[k] == '=' ? field + k + 1 : NULL;
}

static int parse_bool(const char *v, bool *out)
{
    if (!v || !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
        *out = true;
    else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
        *out = false;
    else
        return -1;
    return 0;
}

/* bw=8M, iops=100...: a bucket refilled every second. */
static int parse_rate(const char *v, struct ratelimit_bucket_cfg *b)
{
    uint64_t n;
    if (ratelimit_parse_amount(v, &n))
        return -1;
    ratelimit_cfg_per_second(b, n);
    return 0;
}

int machine_parse_disk(const char *arg, struct machine_disk *out, char *err)
{
    char *buf, *f[16];
    int n = split(arg, &buf, f, 16);
    if (n < 0) {
        snprintf(err, VIRT_ERR_LEN, "--disk %s: too many options", arg);
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (!*f[0]) {
        snprintf(err, VIRT_ERR_LEN, "--disk %s: no file given (PATH[,format=raw|qcow2]"
                 "[,readonly][,cache=writeback|none|unsafe][,serial=S])", arg);
        goto fail;
    }
    out->path = f[0];
    out->format = NULL; /* probed (a writable qcow2 must say format=qcow2) */
    out->strings = buf;
    for (int i = 1; i < n; i++) {
        const char *v;
        if (!strcmp(f[i], "readonly") || !strcmp(f[i], "ro")) {
            out->readonly = true;
        } else if ((v = value_of(f[i], "readonly"))) {
            if (parse_bool(v, &out->readonly)) {
                snprintf(err, VIRT_ERR_LEN, "--disk %s: readonly=%s: expected on or off", arg, v);
                goto fail;
            }
        } else if ((v = value_of(f[i], "format"))) {
            if (strcmp(v, "raw") && strcmp(v, "qcow2")) {
                snprintf(err, VIRT_ERR_LEN, "--disk %s: format=%s: raw or qcow2", arg, v);
                goto fail;
            }
            out->format = v;
        } else if ((v = value_of(f[i], "cache"))) {
            if (strcmp(v, "writeback") && strcmp(v, "none") && strcmp(v, "unsafe")) {
                snprintf(err, VIRT_ERR_LEN, "--disk %s: cache=%s: writeback, none or unsafe",
                         arg, v);
                goto fail;
            }
            out->cache = v;
        } else if ((v = value_of(f[i], "serial"))) {
            if (strlen(v) > 20) {
                snprintf(err, VIRT_ERR_LEN, "--disk %s: serial is at most 20 characters", arg);
                goto fail;
            }
            out->serial = v;
        } else if ((v = value_of(f[i], "bw")) || (v = value_of(f[i], "iops"))) {
            bool bw = f[i][0] == 'b';
            if (parse_rate(v, bw ? &out->rate_limit.bw : &out->rate_limit.ops)) {
                snprintf(err, VIRT_ERR_LEN, "--disk %s: %s=%s: expected %s per second from 1 "
                         "to 2^40 (K, M, G suffixes)", arg, bw ? "bw" : "iops", v,
                         bw ? "bytes" : "requests");
                goto fail;
            }
        } else {
            snprintf(err, VIRT_ERR_LEN, "--disk %s: unknown option '%s' (readonly, "
                     "format=raw|qcow2, cache=writeback|none|unsafe, serial=S, bw=BYTES_PER_S, "
                     "iops=N)", arg, f[i]);
            goto fail;
        }
    }
    return 0;
fail:
    free(buf);
    memset(out, 0, sizeof(*out));
    return -EINVAL;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    if (mac[0] & 1)
        return -1; /* multicast: not a station address */
    return 0;
}

int machine_parse_net(const char *arg, struct machine_net *out, char *err)
{
    char *buf, *f[8 + MACHINE_MAX_HOSTFWD];
    int n = split(arg, &buf, f, 8 + MACHINE_MAX_HOSTFWD);
    if (n < 0) {
        snprintf(err, VIRT_ERR_LEN, "--net %s: too many options", arg);
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    const char *v;
    if (!strcmp(f[0], "user")) {
        out->kind = MACHINE_NET_USER;
    } else if ((v = value_of(f[0], "tap")) || !strcmp(f[0], "tap")) {
        out->kind = MACHINE_NET_TAP;
        out->tap_name = v;
    } else if ((v = value_of(f[0], "vde")) || !strcmp(f[0], "vde")) {
        out->kind = MACHINE_NET_VDE;
        out->vde_path = v;
    } else {
        snprintf(err, VIRT_ERR_LEN, "--net %s: unknown mode '%s' (user[,hostfwd=...], "
                 "tap=NAME[,bridge=BR] or vde=PATH)", arg, f[0]);
        goto fail;
    }
    for (int i = 1; i < n; i++) {
        if ((v = value_of(f[i], "hostfwd")) && out->kind == MACHINE_NET_USER) {
            if (out->nhostfwd == MACHINE_MAX_HOSTFWD) {
                snprintf(err, VIRT_ERR_LEN, "--net %s: at most %d hostfwd rules", arg,
                         MACHINE_MAX_HOSTFWD);
                goto fail;
            }
            out->hostfwd[out->nhostfwd++] = v;
        } else if ((v = value_of(f[i], "mac"))) {
            if (parse_mac(v, out->mac)) {
                snprintf(err, VIRT_ERR_LEN, "--net %s: mac=%s: expected a unicast address "
                         "like 52:54:00:12:34:56", arg, v);
                goto fail;
            }
            out->mac_set = true;
        } else if (((v = value_of(f[i], "ifname")) || (v = value_of(f[i], "name"))) &&
                   out->kind == MACHINE_NET_TAP) {
            out->tap_name = v;
        } else if ((v = value_of(f[i], "bridge")) && out->kind == MACHINE_NET_TAP) {
            if (!*v || strlen(v) >= IFNAMSIZ || strchr(v, '/')) {
                snprintf(err, VIRT_ERR_LEN, "--net %s: bridge=%s: an interface name of 1 to %d "
                         "characters", arg, v, IFNAMSIZ - 1);
                goto fail;
            }
            out->bridge = v;
        } else if ((v = value_of(f[i], "path")) && out->kind == MACHINE_NET_VDE) {
            out->vde_path = v;
        } else if (!strncmp(f[i], "rx_", 3) || !strncmp(f[i], "tx_", 3)) {
            struct ratelimit_cfg *l = f[i][0] == 'r' ? &out->rx_limit : &out->tx_limit;
            const char *k = f[i] + 3;
            struct ratelimit_bucket_cfg *b = (v = value_of(k, "bw")) ? &l->bw
                                             : (v = value_of(k, "pps")) ? &l->ops : NULL;
            if (!b) {
                snprintf(err, VIRT_ERR_LEN, "--net %s: unknown option '%s' (rx_bw=, tx_bw=, "
                         "rx_pps=, tx_pps=)", arg, f[i]);
                goto fail;
            }
            if (parse_rate(v, b)) {
                snprintf(err, VIRT_ERR_LEN, "--net %s: %.*s=%s: expected %s per second from 1 "
                         "to 2^40 (K, M, G suffixes)", arg, (int)(v - 1 - f[i]), f[i], v,
                         b == &l->bw ? "bytes" : "packets");
                goto fail;
            }
        } else {
            snprintf(err, VIRT_ERR_LEN, "--net %s: unknown option '%s'", arg, f[i]);
            goto fail;
        }
    }
    if (out->kind == MACHINE_NET_TAP && (!out->tap_name || !*out->tap_name)) {
        snprintf(err, VIRT_ERR_LEN, "--net %s: tap needs an interface name (tap=NAME)", arg);
        goto fail;
    }
    if (out->kind == MACHINE_NET_TAP && strlen(out->tap_name) >= IFNAMSIZ) {
        snprintf(err, VIRT_ERR_LEN, "--net %s: a TAP name has at most %d characters", arg,
                 IFNAMSIZ - 1);
        goto fail;
    }
    if (out->kind == MACHINE_NET_VDE &&
        (!out->vde_path || !*out->vde_path || strlen(out->vde_path) > MACHINE_VDE_PATH_MAX)) {
        snprintf(err, VIRT_ERR_LEN, "--net %s: vde needs the switch's socket directory "
                 "(vde=PATH, at most %d bytes)", arg, MACHINE_VDE_PATH_MAX);
        goto fail;
    }
    out->strings = buf;
    return 0;
fail:
    free(buf);
    memset(out, 0, sizeof(*out));
    return -EINVAL;
}

void machine_disk_release(struct machine_disk *d)
{
    free(d->strings);
    memset(d, 0, sizeof(*d));
}

void machine_net_release(struct machine_net *n)
{
    free(n->strings);
    memset(n, 0, sizeof(*n));
}

int machine_parse_vsock(const char *arg, uint64_t *cid, char **uds, char *err)
{
    char *buf, *f[4];
    int n = split(arg, &buf, f, 4);
    if (n < 0) {
        snprintf(err, VIRT_ERR_LEN, "--vsock %s: too many options (cid=N,uds=PATH)", arg);
        return -EINVAL;
    }
    const char *c = NULL, *u = NULL, *v;
    for (int i = 0; i < n; i++) {
        if ((v = value_of(f[i], "cid")))
            c = v;
        else if ((v = value_of(f[i], "uds")))
            u = v;
        else {
            snprintf(err, VIRT_ERR_LEN, "--vsock %s: unknown option '%s' (cid=N,uds=PATH)", arg,
                     f[i]);
            goto fail;
        }
    }
    char *end;
    errno = 0;
    unsigned long long x = c ? strtoull(c, &end, 10) : 0;
    if (!c || !*c || *end || errno || *c == '-' || x < VSOCK_MIN_GUEST_CID ||
        x > VSOCK_MAX_GUEST_CID) {
        snprintf(err, VIRT_ERR_LEN, "--vsock %s: cid=N with N from %d to %llu", arg,
                 VSOCK_MIN_GUEST_CID, VSOCK_MAX_GUEST_CID);
        goto fail;
    }
    if (!u || !*u || strlen(u) > VSOCK_UDS_MAX) {
        snprintf(err, VIRT_ERR_LEN, "--vsock %s: uds=PATH of 1 to %d bytes", arg, VSOCK_UDS_MAX);
        goto fail;
    }
    if (!(*uds = strdup(u))) {
        snprintf(err, VIRT_ERR_LEN, "out of memory");
        goto fail;
    }
    *cid = x;
    free(buf);
    return 0;
fail:
    free(buf);
    return -EINVAL;
}
