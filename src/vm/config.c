/* The VM configuration and its JSON parsers (see config.h). Every body is
 * checked whole before anything is changed, so a refused request leaves
 * the configuration as it was. */
#include "vm/config.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VCPUS VIRT_MAX_HARTS
#define MIN_MEM_MIB 16
#define MAX_MEM_MIB (64 * 1024)

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, VM_ERR_LEN, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void vmcfg_init(struct vm_config *c)
{
    memset(c, 0, sizeof(*c));
    c->ncpus = 1;
    c->mem_mib = 512;
}

static void drive_free(struct vm_drive *d)
{
    free(d->path);
    free(d->format);
    free(d->cache);
    free(d->serial);
    memset(d, 0, sizeof(*d));
}

static void net_free(struct vm_net *n)
{
    free(n->tap_name);
    for (unsigned i = 0; i < n->nhostfwd; i++)
        free(n->hostfwd[i]);
    memset(n, 0, sizeof(*n));
}

void vmcfg_free(struct vm_config *c)
{
    free(c->kernel);
    free(c->initrd);
    free(c->firmware);
    free(c->cmdline);
    free(c->test_elf);
    free(c->mmu_type);
    free(c->full_cmdline);
    for (unsigned i = 0; i < c->ndrives; i++)
        drive_free(&c->drives[i]);
    for (unsigned i = 0; i < c->nnets; i++)
        net_free(&c->nets[i]);
    memset(c, 0, sizeof(*c));
}

int vmcfg_set_str(char **dst, const char *s)
{
    char *copy = NULL;
    if (s && !(copy = strdup(s)))
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

bool vmcfg_valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= VM_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_'))
            return false;
    }
    return true;
}

int vmcfg_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (!s || strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        /* sscanf accepts " f" and "+f": insist on two hex digits. */
        const char *p = s + 3 * i;
        for (int k = 0; k < 2; k++) {
            char ch = p[k];
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                  (ch >= 'A' && ch <= 'F')))
                return -EINVAL;
        }
        mac[i] = (uint8_t)v[i];
    }
    if (mac[0] & 1)
        return -EINVAL; /* multicast: not a station address */
    return 0;
}

/* ---- body checking helpers ---- */

static int check_object(const json_t *body, const char *what, char *err)
{
    if (!json_is_object(body))
        return fail(err, "%s: the body must be a JSON object", what);
    return 0;
}

static int check_keys(const json_t *obj, const char *const *allowed, const char *what,
                      char *err)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(key, *a))
                ok = true;
        if (!ok)
            return fail(err, "%s: unknown key '%s'", what, key);
    }
    return 0;
}

/* Optional string: absent or null gives NULL. */
static int get_str(const json_t *obj, const char *key, bool required, const char **out,
                   const char *what, char *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(err, "%s: missing '%s'", what, key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(err, "%s: '%s' must be a string", what, key);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return fail(err, "%s: '%s' contains a NUL byte", what, key);
    if (required && !*s)
        return fail(err, "%s: '%s' must not be empty", what, key);
    *out = s;
    return 0;
}

static int get_bool(const json_t *obj, const char *key, bool required, bool *out,
                    const char *what, char *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return fail(err, "%s: missing '%s'", what, key);
        return 0;
    }
    if (!json_is_boolean(v))
        return fail(err, "%s: '%s' must be true or false", what, key);
    *out = json_is_true(v);
    return 0;
}

static int get_uint(const json_t *obj, const char *key, long long lo, long long hi,
                    long long *out, const char *what, char *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return fail(err, "%s: missing '%s'", what, key);
    if (!json_is_integer(v))
        return fail(err, "%s: '%s' must be an integer", what, key);
    long long n = json_integer_value(v);
    if (n < lo || n > hi)
        return fail(err, "%s: '%s' is %lld; it must be from %lld to %lld", what, key, n,
                    lo, hi);
    *out = n;
    return 0;
}

/* A rate limiter member (core/ratelimit.h). PUT (patch false): absent or
 * null is no limit. PATCH: absent leaves *out as it is, and buckets the
 * member does not name stay. *out changes only on success. */
static int get_limit(const json_t *obj, const char *key, bool patch, struct ratelimit_cfg *out,
                     const char *what, char *err)
{
    char sub[VM_ERR_LEN - 64];
    json_t *v = json_object_get(obj, key);
    struct ratelimit_cfg n = *out;
    if (!v && patch)
        return 0;
    int r = patch ? ratelimit_cfg_patch(&n, v, key, sub, sizeof(sub))
                  : ratelimit_cfg_parse(&n, v, key, sub, sizeof(sub));
    if (r)
        return fail(err, "%s: %s", what, sub);
    *out = n;
    return 0;
}

/* ---- resources ---- */

int vmcfg_put_boot_source(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "kernel_image_path", "initrd_path", "boot_args",
                                        "firmware_path", NULL };
    const char *w = "boot-source", *kernel, *initrd, *args, *fw;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_str(body, "kernel_image_path", true, &kernel, w, err)) ||
        (r = get_str(body, "initrd_path", false, &initrd, w, err)) ||
        (r = get_str(body, "boot_args", false, &args, w, err)) ||
        (r = get_str(body, "firmware_path", false, &fw, w, err)))
        return r;
    /* A PUT replaces the whole resource, as in Firecracker. */
    struct vm_config n = { 0 };
    if (vmcfg_set_str(&n.kernel, kernel) || vmcfg_set_str(&n.initrd, initrd) ||
        vmcfg_set_str(&n.cmdline, args) || vmcfg_set_str(&n.firmware, fw)) {
        free(n.kernel);
        free(n.initrd);
        free(n.cmdline);
        free(n.firmware);
        return fail(err, "out of memory");
    }
    free(c->kernel);
    free(c->initrd);
    free(c->cmdline);
    free(c->firmware);
    c->kernel = n.kernel;
    c->initrd = n.initrd;
    c->cmdline = n.cmdline;
    c->firmware = n.firmware;
    return 0;
}

int vmcfg_put_machine_config(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "vcpu_count", "mem_size_mib", "smt", "mem_merge",
                                        "cpu_quota_pct", "cpu_weight", "memory_limit_mib",
                                        NULL };
    const char *w = "machine-config";
    long long cpus, mem, quota = 0, weight = 0, limit = 0;
    bool smt = false, merge = false;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_uint(body, "vcpu_count", 1, MAX_VCPUS, &cpus, w, err)) ||
        (r = get_uint(body, "mem_size_mib", MIN_MEM_MIB, MAX_MEM_MIB, &mem, w, err)) ||
        (r = get_bool(body, "smt", false, &smt, w, err)) ||
        (r = get_bool(body, "mem_merge", false, &merge, w, err)))
        return r;
    /* Corral's quotas: absent means none. */
    if ((json_object_get(body, "cpu_quota_pct") &&
         (r = get_uint(body, "cpu_quota_pct", 1, 100 * MAX_VCPUS, &quota, w, err))) ||
        (json_object_get(body, "cpu_weight") &&
         (r = get_uint(body, "cpu_weight", 1, 10000, &weight, w, err))) ||
        (json_object_get(body, "memory_limit_mib") &&
         (r = get_uint(body, "memory_limit_mib", MIN_MEM_MIB, 16 * MAX_MEM_MIB, &limit, w,
                       err))))
        return r;
    if (smt)
        return fail(err, "%s: 'smt' is not supported on RISC-V harts", w);
    c->ncpus = (unsigned)cpus;
    c->mem_mib = (uint64_t)mem;
    c->mem_merge = merge;
    c->cpu_quota_pct = (unsigned)quota;
    c->cpu_weight = (unsigned)weight;
    c->memory_limit_mib = (uint64_t)limit;
    return 0;
}

/* The body's id must match the URL's (Firecracker's rule); in a config
 * file the body's id is the id. */
static int body_id(const json_t *body, const char *key, const char *url_id, char *out,
                   const char *w, char *err)
{
    const char *id;
    int r = get_str(body, key, url_id == NULL, &id, w, err);
    if (r)
        return r;
    if (url_id && id && strcmp(id, url_id))
        return fail(err, "%s: '%s' is '%s' in the body but '%s' in the path", w, key, id,
                    url_id);
    if (!id)
        id = url_id;
    if (!vmcfg_valid_id(id))
        return fail(err, "%s: '%s' must be 1 to %d letters, digits or '_'", w, key,
                     VM_ID_LEN - 1);
    snprintf(out, VM_ID_LEN, "%s", id);
    return 0;
}

int vmcfg_put_drive(struct vm_config *c, const char *url_id, const json_t *body, char *err)
{
    static const char *const keys[] = { "drive_id", "path_on_host", "is_root_device",
                                        "is_read_only", "format", "cache", "rate_limiter",
                                        NULL };
    const char *w = "drive", *path, *format, *cache;
    bool root = false, ro = false;
    char id[VM_ID_LEN];
    struct ratelimit_cfg rl;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = body_id(body, "drive_id", url_id, id, w, err)) ||
        (r = get_str(body, "path_on_host", true, &path, w, err)) ||
        (r = get_bool(body, "is_root_device", true, &root, w, err)) ||
        (r = get_bool(body, "is_read_only", false, &ro, w, err)) ||
        (r = get_str(body, "format", false, &format, w, err)) ||
        (r = get_str(body, "cache", false, &cache, w, err)) ||
        (r = get_limit(body, "rate_limiter", false, &rl, w, err)))
        return r;
    if (cache && strcmp(cache, "writeback") && strcmp(cache, "none") && strcmp(cache, "unsafe"))
        return fail(err, "%s: 'cache' is '%s'; it must be writeback, none or unsafe", w, cache);
    if (format && strcmp(format, "raw") && strcmp(format, "qcow2"))
        return fail(err, "%s: 'format' is '%s'; it must be raw or qcow2", w, format);
    unsigned slot = c->ndrives;
    for (unsigned i = 0; i < c->ndrives; i++) {
        if (!strcmp(c->drives[i].id, id))
            slot = i;
        else if (root && c->drives[i].root)
            return fail(err, "%s: drive '%s' is already the root device", w,
                        c->drives[i].id);
    }
    if (slot == VM_MAX_DRIVES)
        return fail(err, "%s: at most %d drives", w, VM_MAX_DRIVES);
    struct vm_drive d = { .root = root, .readonly = ro, .rate_limit = rl };
    snprintf(d.id, sizeof(d.id), "%s", id);
    if (vmcfg_set_str(&d.path, path) || vmcfg_set_str(&d.format, format) ||
        vmcfg_set_str(&d.cache, cache)) {
        drive_free(&d);
        return fail(err, "out of memory");
    }
    if (slot < c->ndrives)
        drive_free(&c->drives[slot]);
    else
        c->ndrives++;
    c->drives[slot] = d;
    return 0;
}

int vmcfg_put_net(struct vm_config *c, const char *url_id, const json_t *body, char *err)
{
    static const char *const keys[] = { "iface_id", "host_dev_name", "guest_mac", "type",
                                        "hostfwd", "rx_rate_limiter", "tx_rate_limiter",
                                        NULL };
    const char *w = "network-interface", *tap, *mac, *type;
    char id[VM_ID_LEN];
    struct vm_net n = { 0 };
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = body_id(body, "iface_id", url_id, id, w, err)) ||
        (r = get_str(body, "host_dev_name", false, &tap, w, err)) ||
        (r = get_str(body, "guest_mac", false, &mac, w, err)) ||
        (r = get_str(body, "type", false, &type, w, err)) ||
        (r = get_limit(body, "rx_rate_limiter", false, &n.rx_limit, w, err)) ||
        (r = get_limit(body, "tx_rate_limiter", false, &n.tx_limit, w, err)))
        return r;
    snprintf(n.id, sizeof(n.id), "%s", id);
    /* Corral extension: "type": "user" is libslirp user-mode networking;
     * the default (Firecracker's only kind) is a TAP device. */
    if (!type)
        type = tap ? "tap" : "user";
    if (!strcmp(type, "tap")) {
        n.kind = MACHINE_NET_TAP;
        if (!tap || !*tap)
            return fail(err, "%s: a tap interface needs 'host_dev_name'", w);
    } else if (!strcmp(type, "user")) {
        n.kind = MACHINE_NET_USER;
        if (tap)
            return fail(err, "%s: 'host_dev_name' is for type tap, not user", w);
    } else {
        return fail(err, "%s: 'type' is '%s'; it must be tap or user", w, type);
    }
    if (mac && vmcfg_parse_mac(mac, n.mac))
        return fail(err, "%s: 'guest_mac' %s is not a unicast MAC like 06:00:00:00:00:01",
                    w, mac);
    n.mac_set = mac != NULL;
    json_t *fwd = json_object_get(body, "hostfwd");
    if (fwd && !json_is_null(fwd)) {
        if (n.kind != MACHINE_NET_USER)
            return fail(err, "%s: 'hostfwd' needs type user", w);
        if (!json_is_array(fwd))
            return fail(err, "%s: 'hostfwd' must be an array of strings", w);
        if (json_array_size(fwd) > MACHINE_MAX_HOSTFWD)
            return fail(err, "%s: at most %d hostfwd rules", w, MACHINE_MAX_HOSTFWD);
        size_t i;
        json_t *v;
        json_array_foreach(fwd, i, v) {
            if (!json_is_string(v) || !*json_string_value(v))
                return fail(err, "%s: 'hostfwd' must be an array of strings", w);
        }
    }
    unsigned slot = c->nnets;
    for (unsigned i = 0; i < c->nnets; i++)
        if (!strcmp(c->nets[i].id, id))
            slot = i;
    if (slot == VM_MAX_NETS)
        return fail(err, "%s: at most %d network interfaces", w, VM_MAX_NETS);
    if (vmcfg_set_str(&n.tap_name, n.kind == MACHINE_NET_TAP ? tap : NULL))
        goto oom;
    if (fwd && json_is_array(fwd)) {
        size_t i;
        json_t *v;
        json_array_foreach(fwd, i, v) {
            if (vmcfg_set_str(&n.hostfwd[n.nhostfwd], json_string_value(v)))
                goto oom;
            n.nhostfwd++;
        }
    }
    if (slot < c->nnets)
        net_free(&c->nets[slot]);
    else
        c->nnets++;
    c->nets[slot] = n;
    return 0;
oom:
    net_free(&n);
    return fail(err, "out of memory");
}

/* The machine's disk index of drive i: root drives first, each group in
 * configuration order (as vmcfg_to_machine lays them out). */
static unsigned drive_index(const struct vm_config *c, unsigned i)
{
    unsigned n = 0;
    for (unsigned k = 0; k < c->ndrives; k++)
        if (c->drives[k].root)
            n += k < i || !c->drives[i].root;
        else
            n += k < i && !c->drives[i].root;
    return n;
}

int vmcfg_patch_drive(struct vm_config *c, const char *url_id, const json_t *body,
                      const struct vm_drive **drive, unsigned *index, char *err)
{
    static const char *const keys[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
    const char *w = "drive", *path;
    char id[VM_ID_LEN];
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = body_id(body, "drive_id", url_id, id, w, err)) ||
        (r = get_str(body, "path_on_host", false, &path, w, err)))
        return r;
    for (unsigned i = 0; i < c->ndrives; i++) {
        struct vm_drive *d = &c->drives[i];
        if (strcmp(d->id, id))
            continue;
        if (path && strcmp(path, d->path))
            return fail(err, "%s: '%s' cannot move to another file (its path_on_host is "
                        "'%s')", w, id, d->path);
        *index = drive_index(c, i);
        *drive = d;
        return get_limit(body, "rate_limiter", true, &d->rate_limit, w, err);
    }
    return fail(err, "%s: no drive '%s' (PUT /drives/%s first)", w, id, id);
}

int vmcfg_patch_net(struct vm_config *c, const char *url_id, const json_t *body,
                    unsigned *index, char *err)
{
    static const char *const keys[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter",
                                        NULL };
    const char *w = "network-interface";
    char id[VM_ID_LEN];
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = body_id(body, "iface_id", url_id, id, w, err)))
        return r;
    for (unsigned i = 0; i < c->nnets; i++) {
        struct vm_net *n = &c->nets[i];
        if (strcmp(n->id, id))
            continue;
        struct vm_net t = *n; /* both members, or neither */
        if ((r = get_limit(body, "rx_rate_limiter", true, &t.rx_limit, w, err)) ||
            (r = get_limit(body, "tx_rate_limiter", true, &t.tx_limit, w, err)))
            return r;
        n->rx_limit = t.rx_limit;
        n->tx_limit = t.tx_limit;
        *index = i;
        return 0;
    }
    return fail(err, "%s: no interface '%s' (PUT /network-interfaces/%s first)", w, id, id);
}

#define MAX_STATS_INTERVAL_S 3600

int vmcfg_put_balloon(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "amount_mib", "deflate_on_oom",
                                        "stats_polling_interval_s", "free_page_reporting",
                                        NULL };
    const char *w = "balloon";
    long long amount, interval = 0;
    bool oom = false, report = false;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_uint(body, "amount_mib", 0, MAX_MEM_MIB, &amount, w, err)) ||
        (r = get_bool(body, "deflate_on_oom", true, &oom, w, err)) ||
        (r = get_bool(body, "free_page_reporting", false, &report, w, err)))
        return r;
    if (json_object_get(body, "stats_polling_interval_s") &&
        (r = get_uint(body, "stats_polling_interval_s", 0, MAX_STATS_INTERVAL_S, &interval,
                      w, err)))
        return r;
    if ((uint64_t)amount > c->mem_mib)
        return fail(err, "%s: 'amount_mib' is %lld but the guest has only %llu MiB", w,
                    amount, (unsigned long long)c->mem_mib);
    c->balloon = (struct vm_balloon){
        .present = true, .amount_mib = (uint64_t)amount, .deflate_on_oom = oom,
        .free_page_reporting = report, .stats_polling_interval_s = (unsigned)interval,
    };
    return 0;
}

int vmcfg_parse_balloon_patch(const json_t *body, uint64_t *amount_mib, char *err)
{
    static const char *const keys[] = { "amount_mib", NULL };
    long long amount;
    int r;
    if ((r = check_object(body, "balloon", err)) ||
        (r = check_keys(body, keys, "balloon", err)) ||
        (r = get_uint(body, "amount_mib", 0, MAX_MEM_MIB, &amount, "balloon", err)))
        return r;
    *amount_mib = (uint64_t)amount;
    return 0;
}

int vmcfg_parse_balloon_stats_patch(const json_t *body, unsigned *interval_s, char *err)
{
    static const char *const keys[] = { "stats_polling_interval_s", NULL };
    const char *w = "balloon/statistics";
    long long n;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_uint(body, "stats_polling_interval_s", 0, MAX_STATS_INTERVAL_S, &n, w,
                      err)))
        return r;
    *interval_s = (unsigned)n;
    return 0;
}

json_t *vmcfg_balloon_json(const struct vm_config *c)
{
    const struct vm_balloon *b = &c->balloon;
    return json_pack("{s:I, s:b, s:I, s:b}", "amount_mib", (json_int_t)b->amount_mib,
                     "deflate_on_oom", b->deflate_on_oom, "stats_polling_interval_s",
                     (json_int_t)b->stats_polling_interval_s, "free_page_reporting",
                     b->free_page_reporting);
}

void vmcfg_clear_devices(struct vm_config *c, bool drives, bool nets)
{
    for (unsigned i = 0; drives && i < c->ndrives; i++)
        drive_free(&c->drives[i]);
    for (unsigned i = 0; nets && i < c->nnets; i++)
        net_free(&c->nets[i]);
    if (drives)
        c->ndrives = 0;
    if (nets)
        c->nnets = 0;
}

int vmcfg_add_disk(struct vm_config *c, const struct machine_disk *md, char *err)
{
    if (c->ndrives == VM_MAX_DRIVES)
        return fail(err, "--disk: at most %d drives", VM_MAX_DRIVES);
    struct vm_drive d = { .readonly = md->readonly, .rate_limit = md->rate_limit };
    snprintf(d.id, sizeof(d.id), "disk%u", c->ndrives);
    if (vmcfg_set_str(&d.path, md->path) || vmcfg_set_str(&d.format, md->format) ||
        vmcfg_set_str(&d.serial, md->serial) || vmcfg_set_str(&d.cache, md->cache)) {
        drive_free(&d);
        return fail(err, "out of memory");
    }
    c->drives[c->ndrives++] = d;
    return 0;
}

int vmcfg_add_net(struct vm_config *c, const struct machine_net *mn, char *err)
{
    if (c->nnets == VM_MAX_NETS)
        return fail(err, "--net: at most %d network interfaces", VM_MAX_NETS);
    struct vm_net n = { .kind = mn->kind, .mac_set = mn->mac_set, .rx_limit = mn->rx_limit,
                        .tx_limit = mn->tx_limit };
    snprintf(n.id, sizeof(n.id), "net%u", c->nnets);
    memcpy(n.mac, mn->mac, sizeof(n.mac));
    if (vmcfg_set_str(&n.tap_name, mn->tap_name))
        goto oom;
    for (unsigned i = 0; i < mn->nhostfwd && i < MACHINE_MAX_HOSTFWD; i++) {
        if (vmcfg_set_str(&n.hostfwd[i], mn->hostfwd[i]))
            goto oom;
        n.nhostfwd++;
    }
    c->nets[c->nnets++] = n;
    return 0;
oom:
    net_free(&n);
    return fail(err, "out of memory");
}

int vmcfg_apply_document(struct vm_config *c, const json_t *doc, char *err)
{
    static const char *const keys[] = { "boot-source", "machine-config", "drives",
                                        "network-interfaces", "balloon", NULL };
    int r;
    if (!json_is_object(doc))
        return fail(err, "the configuration must be a JSON object");
    if ((r = check_keys(doc, keys, "configuration", err)))
        return r;
    json_t *v;
    if ((v = json_object_get(doc, "boot-source")) && (r = vmcfg_put_boot_source(c, v, err)))
        return r;
    if ((v = json_object_get(doc, "machine-config")) &&
        (r = vmcfg_put_machine_config(c, v, err)))
        return r;
    if ((v = json_object_get(doc, "balloon")) && (r = vmcfg_put_balloon(c, v, err)))
        return r;
    static const char *const lists[] = { "drives", "network-interfaces" };
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(doc, lists[k]);
        if (!arr)
            continue;
        if (!json_is_array(arr))
            return fail(err, "'%s' must be an array", lists[k]);
        size_t i;
        json_array_foreach(arr, i, v) {
            r = k == 0 ? vmcfg_put_drive(c, NULL, v, err) : vmcfg_put_net(c, NULL, v, err);
            if (r)
                return r;
        }
    }
    return 0;
}

int vmcfg_load_file(struct vm_config *c, const char *path, char *err)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return fail(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    char sub[VM_ERR_LEN];
    int r = vmcfg_apply_document(c, doc, sub);
    json_decref(doc);
    if (r)
        fail(err, "%s: %s", path, sub);
    return r;
}

/* ---- JSON views ---- */

static void set_str(json_t *o, const char *key, const char *s)
{
    if (s)
        json_object_set_new(o, key, json_string(s));
}

static void set_limit(json_t *o, const char *key, const struct ratelimit_cfg *l)
{
    if (o && ratelimit_cfg_active(l))
        json_object_set_new(o, key, ratelimit_cfg_json(l));
}

json_t *vmcfg_machine_config_json(const struct vm_config *c)
{
    json_t *j = json_pack("{s:I, s:I, s:b, s:b}", "vcpu_count", (json_int_t)c->ncpus,
                          "mem_size_mib", (json_int_t)c->mem_mib, "smt", 0, "mem_merge",
                          c->mem_merge);
    if (j && c->cpu_quota_pct)
        json_object_set_new(j, "cpu_quota_pct", json_integer(c->cpu_quota_pct));
    if (j && c->cpu_weight)
        json_object_set_new(j, "cpu_weight", json_integer(c->cpu_weight));
    if (j && c->memory_limit_mib)
        json_object_set_new(j, "memory_limit_mib",
                            json_integer((json_int_t)c->memory_limit_mib));
    return j;
}

json_t *vmcfg_to_json(const struct vm_config *c)
{
    json_t *doc = json_object(), *bs = json_object(), *drives = json_array(),
           *nets = json_array();
    if (!doc || !bs || !drives || !nets)
        goto err;
    set_str(bs, "kernel_image_path", c->kernel);
    set_str(bs, "initrd_path", c->initrd);
    set_str(bs, "boot_args", c->cmdline);
    set_str(bs, "firmware_path", c->firmware);
    for (unsigned i = 0; i < c->ndrives; i++) {
        const struct vm_drive *d = &c->drives[i];
        json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "drive_id", d->id, "path_on_host",
                              d->path, "is_root_device", d->root, "is_read_only",
                              d->readonly);
        if (o && d->format)
            set_str(o, "format", d->format);
        if (o && d->cache)
            set_str(o, "cache", d->cache);
        set_limit(o, "rate_limiter", &d->rate_limit);
        json_array_append_new(drives, o);
    }
    for (unsigned i = 0; i < c->nnets; i++) {
        const struct vm_net *n = &c->nets[i];
        json_t *o = json_pack("{s:s, s:s}", "iface_id", n->id, "type",
                              n->kind == MACHINE_NET_TAP ? "tap" : "user");
        if (!o)
            continue;
        set_str(o, "host_dev_name", n->tap_name);
        if (n->mac_set) {
            char mac[18];
            snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0],
                     n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
            set_str(o, "guest_mac", mac);
        }
        if (n->nhostfwd) {
            json_t *fwd = json_array();
            for (unsigned k = 0; k < n->nhostfwd; k++)
                json_array_append_new(fwd, json_string(n->hostfwd[k]));
            json_object_set_new(o, "hostfwd", fwd);
        }
        set_limit(o, "rx_rate_limiter", &n->rx_limit);
        set_limit(o, "tx_rate_limiter", &n->tx_limit);
        json_array_append_new(nets, o);
    }
    json_object_set_new(doc, "boot-source", bs);
    json_object_set_new(doc, "machine-config", vmcfg_machine_config_json(c));
    json_object_set_new(doc, "drives", drives);
    json_object_set_new(doc, "network-interfaces", nets);
    if (c->balloon.present)
        json_object_set_new(doc, "balloon", vmcfg_balloon_json(c));
    return doc;
err:
    json_decref(doc);
    json_decref(bs);
    json_decref(drives);
    json_decref(nets);
    return NULL;
}

/* ---- to the board ---- */

int vmcfg_to_machine(struct vm_config *c, struct machine_config *mc, char *err)
{
    memset(mc, 0, sizeof(*mc));
    mc->ncpus = c->ncpus;
    mc->mem_size = c->mem_mib << 20;
    mc->mmu_type = c->mmu_type;
    mc->rng = c->rng;
    mc->cpu_engine = c->cpu_engine;
    mc->mem_merge = c->mem_merge;
    mc->balloon = c->balloon.present;
    mc->balloon_mib = c->balloon.amount_mib;
    mc->balloon_deflate_on_oom = c->balloon.deflate_on_oom;
    mc->balloon_reporting = c->balloon.free_page_reporting;
    mc->balloon_stats_s = c->balloon.stats_polling_interval_s;
    /* A test program gets the same devices, but no boot images. */
    if (c->test_elf)
        mc->test_elf = c->test_elf;
    else if (!c->kernel)
        return fail(err, "no kernel given (boot-source kernel_image_path, or --kernel)");
    if (!c->test_elf && !c->firmware)
        return fail(err, "no firmware given (boot-source firmware_path, or --firmware)");
    mc->kernel = c->kernel;
    mc->initrd = c->initrd;
    mc->firmware = c->firmware;

    /* The root device goes first, so the guest sees it as /dev/vda, and
     * boot_args gain root= unless they name one (Firecracker's rule). */
    const char *args = c->cmdline ? c->cmdline : VM_DEFAULT_CMDLINE;
    const struct vm_drive *root = NULL;
    for (unsigned i = 0; i < c->ndrives; i++)
        if (c->drives[i].root)
            root = &c->drives[i];
    free(c->full_cmdline);
    c->full_cmdline = NULL;
    bool has_root = !strncmp(args, "root=", 5) || strstr(args, " root=");
    if (root && !has_root) {
        if (asprintf(&c->full_cmdline, "%s root=/dev/vda %s", args,
                     root->readonly ? "ro" : "rw") < 0) {
            c->full_cmdline = NULL;
            return fail(err, "out of memory");
        }
        mc->cmdline = c->full_cmdline;
    } else {
        mc->cmdline = args;
    }
    unsigned n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < c->ndrives; i++) {
            const struct vm_drive *d = &c->drives[i];
            if (d->root != (pass == 0))
                continue;
            mc->disks[n++] = (struct machine_disk){
                .path = d->path, .format = d->format, .cache = d->cache, .serial = d->serial,
                .readonly = d->readonly, .rate_limit = d->rate_limit,
            };
        }
    }
    mc->ndisks = n;
    for (unsigned i = 0; i < c->nnets; i++) {
        const struct vm_net *v = &c->nets[i];
        struct machine_net *m = &mc->nets[i];
        m->kind = v->kind;
        m->tap_name = v->tap_name;
        for (unsigned k = 0; k < v->nhostfwd; k++)
            m->hostfwd[k] = v->hostfwd[k];
        m->nhostfwd = v->nhostfwd;
        memcpy(m->mac, v->mac, 6);
        m->mac_set = v->mac_set;
        m->rx_limit = v->rx_limit;
        m->tx_limit = v->tx_limit;
    }
    mc->nnets = c->nnets;
    return 0;
}

/* ---- PUT /migrate's body (docs/api.yaml; vm/migrate.c runs it) ---- */

#define MIG_MAX_BANDWIDTH_MIBPS 1000000
#define MIG_MAX_DELTA_CACHE_MIB 4096
#define MIG_MAX_ZSTD_LEVEL 19
#define MIG_MAX_THREADS 64

/* An optional integer in lo..hi: *v keeps its default when absent. */
static int opt_uint(const json_t *o, const char *key, long long lo, long long hi, long long *v,
                    const char *what, char *err)
{
    return json_object_get(o, key) ? get_uint(o, key, lo, hi, v, what, err) : 0;
}

int vm_mig_params_from_json(struct vm_mig_params *p, const json_t *body, char *err)
{
    static const char *const keys[] = { "uri", "mode", "downtime_limit_ms",
                                        "max_bandwidth_mibps", "compression",
                                        "delta_cache_mib", "dedup", "migrate_disks", NULL };
    static const char *const ckeys[] = { "zero_pages", "zstd_level", "threads", NULL };
    static const struct { const char *name; enum vm_mig_mode mode; } modes[] = {
        { "precopy", VM_MIG_PRECOPY }, { "postcopy", VM_MIG_POSTCOPY }, { "auto", VM_MIG_AUTO },
    };
    const char *w = "migrate", *mode;
    long long dl = 0, bw = 0, delta = 0, level = 0, threads = 1;
    vm_mig_params_default(p);
    if (check_object(body, w, err) || check_keys(body, keys, w, err) ||
        get_str(body, "uri", true, &p->uri, w, err) ||
        get_str(body, "mode", false, &mode, w, err) ||
        opt_uint(body, "downtime_limit_ms", 1, 60000, &dl, w, err) ||
        opt_uint(body, "max_bandwidth_mibps", 0, MIG_MAX_BANDWIDTH_MIBPS, &bw, w, err) ||
        opt_uint(body, "delta_cache_mib", 0, MIG_MAX_DELTA_CACHE_MIB, &delta, w, err) ||
        get_bool(body, "dedup", false, &p->dedup, w, err) ||
        get_bool(body, "migrate_disks", false, &p->migrate_disks, w, err))
        return -1;
    if (mode) {
        size_t i = 0;
        while (i < sizeof(modes) / sizeof(modes[0]) && strcmp(mode, modes[i].name))
            i++;
        if (i == sizeof(modes) / sizeof(modes[0]))
            return fail(err, "%s: mode '%.32s': expected precopy, postcopy or auto", w, mode);
        p->mode = modes[i].mode;
    }
    json_t *c = json_object_get(body, "compression");
    const char *cw = "migrate: compression";
    if (c && (check_object(c, cw, err) || check_keys(c, ckeys, cw, err) ||
              get_bool(c, "zero_pages", false, &p->zero_pages, cw, err) ||
              opt_uint(c, "zstd_level", 0, MIG_MAX_ZSTD_LEVEL, &level, cw, err) ||
              opt_uint(c, "threads", 1, MIG_MAX_THREADS, &threads, cw, err)))
        return -1;
    p->downtime_limit_ms = (uint32_t)dl;
    p->max_bandwidth_mibps = (uint32_t)bw;
    p->delta_cache_mib = (uint32_t)delta;
    p->zstd_level = (int)level;
    return 0;
}
