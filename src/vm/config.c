/* The VM configuration and its JSON parsers (see config.h). Every body is
 * checked whole before anything is changed, so a refused request leaves
 * the configuration as it was. */
#include "vm/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "devices/virtio_vsock.h"
#include "net/mmds.h"
#include "vm/migrate_pages.h"
#include "vm/migrate_recover.h"
#include "vm/vm.h"

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
    free(d->partuuid);
    free(d->io_engine);
    memset(d, 0, sizeof(*d));
}

static void net_free(struct vm_net *n)
{
    free(n->tap_name);
    free(n->bridge);
    free(n->vde_path);
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
    free(c->huge_pages);
    free(c->serial_out);
    free(c->vsock_uds);
    free(c->vsock_id);
    free(c->metrics_path);
    json_decref(c->metrics_properties);
    vmcfg_logger_free(&c->logger);
    mmds_free(c->mmds_store);
    c->mmds_store = NULL;
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

int vmcfg_check_file(const char *path, const char *what, bool writable, char *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return fail(err, "%s '%s': %s", what, path, strerror(errno));
    /* What else a path may be (a FIFO, a device) is the loader's and the
     * disk layer's to refuse, at start, with their own reasons. */
    if (S_ISDIR(st.st_mode))
        return fail(err, "%s '%s': is a directory", what, path);
    if (access(path, writable ? R_OK | W_OK : R_OK) < 0)
        return fail(err, "%s '%s': %s", what, path, strerror(errno));
    return 0;
}

static const char *str_member(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key)); /* NULL unless a string */
}

int vmcfg_check_boot_files(const json_t *body, char *err)
{
    static const char *const keys[] = { "kernel_image_path", "initrd_path", "firmware_path" };
    char what[64];
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *p = str_member(body, keys[i]);
        snprintf(what, sizeof(what), "boot-source: %s", keys[i]);
        if (p && *p && vmcfg_check_file(p, what, false, err))
            return -EINVAL;
    }
    return 0;
}

int vmcfg_check_drive_file(const char *url_id, const json_t *body, char *err)
{
    const char *id = url_id ? url_id : str_member(body, "drive_id");
    const char *p = str_member(body, "path_on_host");
    json_t *ro = json_object_get(body, "is_read_only");
    char what[VM_ID_LEN + 64];
    if (!vmcfg_valid_id(id))
        return 0; /* the parser names what is wrong with the id */
    snprintf(what, sizeof(what), "drive '%s': path_on_host", id);
    if (p && *p && vmcfg_check_file(p, what, !json_is_true(ro), err))
        return -EINVAL;
    return 0;
}

/* The files a loaded configuration names (as the PUTs check them). */
static int check_config_files(const struct vm_config *c, char *err)
{
    const char *const boot[][2] = { { c->kernel, "kernel_image_path" },
                                    { c->initrd, "initrd_path" },
                                    { c->firmware, "firmware_path" } };
    char what[VM_ID_LEN + 64];
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof(what), "boot-source: %s", boot[i][1]);
        if (boot[i][0] && vmcfg_check_file(boot[i][0], what, false, err))
            return -EINVAL;
    }
    for (unsigned i = 0; i < c->ndrives; i++) {
        const struct vm_drive *d = &c->drives[i];
        snprintf(what, sizeof(what), "drive '%s': path_on_host", d->id);
        if (vmcfg_check_file(d->path, what, !d->readonly, err))
            return -EINVAL;
    }
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

/* One of `allowed` (NULL-terminated), or absent. */
static int get_enum(const json_t *obj, const char *key, const char *const *allowed,
                    const char **out, const char *what, char *err)
{
    int r = get_str(obj, key, false, out, what, err);
    if (r || !*out)
        return r;
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(*out, *a))
            return 0;
    char list[128] = "";
    for (const char *const *a = allowed; *a; a++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                 a == allowed ? "" : ", ", *a);
    return fail(err, "%s: '%s' is '%.64s'; it must be one of %s", what, key, *out, list);
}

int vmcfg_put_machine_config(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "vcpu_count", "mem_size_mib", "smt", "mem_merge",
                                        "cpu_quota_pct", "cpu_weight", "memory_limit_mib",
                                        "track_dirty_pages", "huge_pages", "cpu_template",
                                        NULL };
    static const char *const huge[] = { "None", "Transparent", "2M", NULL };
    static const char *const templates[] = { "None", "C3", "T2", "T2S", "T2CL", "T2A",
                                             "V1N1", NULL };
    const char *w = "machine-config", *hp, *tmpl;
    long long cpus, mem, quota = 0, weight = 0, limit = 0;
    bool smt = false, merge = false, dirty = false;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_uint(body, "vcpu_count", 1, MAX_VCPUS, &cpus, w, err)) ||
        (r = get_uint(body, "mem_size_mib", MIN_MEM_MIB, MAX_MEM_MIB, &mem, w, err)) ||
        (r = get_bool(body, "smt", false, &smt, w, err)) ||
        (r = get_bool(body, "mem_merge", false, &merge, w, err)) ||
        (r = get_bool(body, "track_dirty_pages", false, &dirty, w, err)) ||
        (r = get_enum(body, "huge_pages", huge, &hp, w, err)) ||
        (r = get_enum(body, "cpu_template", templates, &tmpl, w, err)))
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
        return fail(err, "%s: 'smt' is not supported on RISC-V harts (they have no "
                    "hardware threads to pair)", w);
    if (tmpl && strcmp(tmpl, "None"))
        return fail(err, "%s: 'cpu_template' %s is an x86/Arm CPU model; RISC-V harts "
                    "here have one ISA (only None)", w, tmpl);
    if (hp && !strcmp(hp, "2M"))
        return fail(err, "%s: 'huge_pages' 2M (hugetlbfs) is not supported: guest RAM is "
                    "an anonymous mapping, backed by transparent huge pages when it can "
                    "be (None or Transparent)", w);
    char *hp_copy = NULL;
    if (vmcfg_set_str(&hp_copy, hp))
        return fail(err, "out of memory");
    free(c->huge_pages);
    c->huge_pages = hp_copy;
    c->ncpus = (unsigned)cpus;
    c->mem_mib = (uint64_t)mem;
    c->mem_merge = merge;
    c->track_dirty_pages = dirty;
    c->cpu_quota_pct = (unsigned)quota;
    c->cpu_weight = (unsigned)weight;
    c->memory_limit_mib = (uint64_t)limit;
    return 0;
}

int vmcfg_patch_machine_config(struct vm_config *c, const json_t *body, char *err)
{
    int r;
    if ((r = check_object(body, "machine-config", err)))
        return r;
    if (json_object_size(body) == 0)
        return fail(err, "Empty PATCH request.");
    json_t *merged = vmcfg_machine_config_json(c);
    if (!merged || json_object_update(merged, (json_t *)body)) {
        json_decref(merged);
        return fail(err, "out of memory");
    }
    r = vmcfg_put_machine_config(c, merged, err);
    json_decref(merged);
    return r;
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

/* A partition UUID as the kernel's root=PARTUUID= takes it: hex digits
 * and '-' (a GPT UUID, or an MBR's 8 digits with "-NN"). */
static bool valid_partuuid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 36)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F') || s[i] == '-'))
            return false;
    return true;
}

int vmcfg_put_drive(struct vm_config *c, const char *url_id, const json_t *body, char *err)
{
    static const char *const keys[] = { "drive_id", "path_on_host", "is_root_device",
                                        "is_read_only", "format", "cache", "rate_limiter",
                                        "partuuid", "cache_type", "io_engine", "socket",
                                        NULL };
    static const char *const cache_types[] = { "Unsafe", "Writeback", NULL };
    static const char *const engines[] = { "Sync", "Async", NULL };
    const char *w = "drive", *path, *format, *cache, *partuuid, *cache_type, *engine, *sock;
    bool root = false, ro = false;
    char id[VM_ID_LEN], what[VM_ID_LEN + 32];
    struct ratelimit_cfg rl;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = body_id(body, "drive_id", url_id, id, w, err)) ||
        (r = get_str(body, "socket", false, &sock, w, err)))
        return r;
    if (sock)
        return fail(err, "drive '%s': 'socket' (vhost-user-block) is not supported: "
                    "Corral's disks are virtio-blk served by the VMM itself", id);
    snprintf(what, sizeof(what), "drive '%s'", id);
    w = what;
    if ((r = get_str(body, "path_on_host", true, &path, w, err)) ||
        (r = get_bool(body, "is_root_device", true, &root, w, err)) ||
        (r = get_bool(body, "is_read_only", false, &ro, w, err)) ||
        (r = get_str(body, "format", false, &format, w, err)) ||
        (r = get_str(body, "cache", false, &cache, w, err)) ||
        (r = get_str(body, "partuuid", false, &partuuid, w, err)) ||
        (r = get_enum(body, "cache_type", cache_types, &cache_type, w, err)) ||
        (r = get_enum(body, "io_engine", engines, &engine, w, err)) ||
        (r = get_limit(body, "rate_limiter", false, &rl, w, err)))
        return r;
    if (cache && strcmp(cache, "writeback") && strcmp(cache, "none") && strcmp(cache, "unsafe"))
        return fail(err, "%s: 'cache' is '%s'; it must be writeback, none or unsafe", w, cache);
    if (cache && cache_type)
        return fail(err, "%s: give 'cache_type' (Firecracker's) or 'cache', not both", w);
    /* Firecracker's Unsafe ignores flushes, as cache=unsafe does. */
    if (cache_type)
        cache = !strcmp(cache_type, "Unsafe") ? "unsafe" : "writeback";
    if (format && strcmp(format, "raw") && strcmp(format, "qcow2"))
        return fail(err, "%s: 'format' is '%s'; it must be raw or qcow2", w, format);
    if (partuuid && !valid_partuuid(partuuid))
        return fail(err, "%s: 'partuuid' '%.64s' is not a partition UUID (hex digits and "
                    "'-')", w, partuuid);
    if (partuuid && !root)
        partuuid = NULL; /* Firecracker's rule: it only names a root device */
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
        vmcfg_set_str(&d.cache, cache) || vmcfg_set_str(&d.partuuid, partuuid) ||
        vmcfg_set_str(&d.io_engine, engine)) {
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
                                        "mtu", "bridge", "vde_path", NULL };
    const char *w = "network-interface", *tap, *mac, *type, *bridge, *vde;
    char id[VM_ID_LEN];
    struct vm_net n = { 0 };
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = body_id(body, "iface_id", url_id, id, w, err)) ||
        (r = get_str(body, "host_dev_name", false, &tap, w, err)) ||
        (r = get_str(body, "guest_mac", false, &mac, w, err)) ||
        (r = get_str(body, "type", false, &type, w, err)) ||
        (r = get_str(body, "bridge", false, &bridge, w, err)) ||
        (r = get_str(body, "vde_path", false, &vde, w, err)) ||
        (r = get_limit(body, "rx_rate_limiter", false, &n.rx_limit, w, err)) ||
        (r = get_limit(body, "tx_rate_limiter", false, &n.tx_limit, w, err)))
        return r;
    json_t *mtu = json_object_get(body, "mtu");
    if (mtu && !json_is_null(mtu)) {
        long long v;
        if ((r = get_uint(body, "mtu", 68, 65535, &v, w, err)))
            return r;
        /* The device advertises VIRTIO_NET_F_MTU with a fixed 1500. */
        if (v != VM_NET_MTU)
            return fail(err, "%s: 'mtu' %lld is not supported: the virtio-net device has a "
                        "fixed MTU of %d", w, v, VM_NET_MTU);
        n.mtu = (unsigned)v;
    }
    snprintf(n.id, sizeof(n.id), "%s", id);
    /* Corral extension: "type": "user" is libslirp user-mode networking,
     * "vde" a port of the VDE switch at "vde_path"; the default
     * (Firecracker's only kind) is a TAP device, which "bridge" puts on a
     * Linux bridge. */
    if (!type)
        type = tap ? "tap" : vde ? "vde" : "user";
    if (!strcmp(type, "tap")) {
        n.kind = MACHINE_NET_TAP;
        if (!tap || !*tap)
            return fail(err, "%s: a tap interface needs 'host_dev_name'", w);
        if (strlen(tap) > 15)
            return fail(err, "%s: 'host_dev_name' has at most 15 characters", w);
    } else if (!strcmp(type, "user")) {
        n.kind = MACHINE_NET_USER;
        if (tap)
            return fail(err, "%s: 'host_dev_name' is for type tap, not user", w);
    } else if (!strcmp(type, "vde")) {
        n.kind = MACHINE_NET_VDE;
        if (!vde || !*vde || strlen(vde) > MACHINE_VDE_PATH_MAX)
            return fail(err, "%s: a vde interface needs 'vde_path' (1 to %d bytes)", w,
                        MACHINE_VDE_PATH_MAX);
        if (tap)
            return fail(err, "%s: 'host_dev_name' is for type tap, not vde", w);
    } else {
        return fail(err, "%s: 'type' is '%s'; it must be tap, user or vde", w, type);
    }
    if (vde && n.kind != MACHINE_NET_VDE)
        return fail(err, "%s: 'vde_path' needs type vde", w);
    if (bridge && n.kind != MACHINE_NET_TAP)
        return fail(err, "%s: 'bridge' needs type tap", w);
    if (bridge && (!*bridge || strlen(bridge) > 15 || strchr(bridge, '/')))
        return fail(err, "%s: 'bridge' '%s' is not an interface name of 1 to 15 characters",
                    w, bridge);
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
    if (vmcfg_set_str(&n.tap_name, n.kind == MACHINE_NET_TAP ? tap : NULL) ||
        vmcfg_set_str(&n.bridge, bridge) || vmcfg_set_str(&n.vde_path, vde))
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
                                        "free_page_hinting", NULL };
    const char *w = "balloon";
    long long amount, interval = 0;
    bool oom = false, report = false, hint = false;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_uint(body, "amount_mib", 0, MAX_MEM_MIB, &amount, w, err)) ||
        (r = get_bool(body, "deflate_on_oom", true, &oom, w, err)) ||
        (r = get_bool(body, "free_page_reporting", false, &report, w, err)) ||
        (r = get_bool(body, "free_page_hinting", false, &hint, w, err)))
        return r;
    if (hint)
        return fail(err, "%s: 'free_page_hinting' is not supported (free_page_reporting "
                    "gives freed guest pages back instead)", w);
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

int vmcfg_put_entropy(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "rate_limiter", NULL };
    struct ratelimit_cfg rl;
    int r;
    if ((r = check_object(body, "entropy", err)) || (r = check_keys(body, keys, "entropy", err)) ||
        (r = get_limit(body, "rate_limiter", false, &rl, "entropy", err)))
        return r;
    c->rng = true;
    c->rng_limit = rl;
    return 0;
}

int vmcfg_put_vsock(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "vsock_id", "guest_cid", "uds_path", NULL };
    const char *w = "vsock", *id, *uds;
    long long cid;
    char *nid = NULL, *nuds = NULL;
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_str(body, "vsock_id", false, &id, w, err)) ||
        (r = get_uint(body, "guest_cid", VSOCK_MIN_GUEST_CID, (long long)VSOCK_MAX_GUEST_CID,
                      &cid, w, err)) ||
        (r = get_str(body, "uds_path", true, &uds, w, err)))
        return r;
    if (strlen(uds) > VSOCK_UDS_MAX)
        return fail(err, "vsock: 'uds_path' is %zu bytes; at most %d (a guest port is "
                    "appended for guest connections)", strlen(uds), VSOCK_UDS_MAX);
    if ((id && vmcfg_set_str(&nid, id)) || vmcfg_set_str(&nuds, uds)) {
        free(nid);
        return fail(err, "out of memory");
    }
    free(c->vsock_id);
    free(c->vsock_uds);
    c->vsock_id = nid;
    c->vsock_uds = nuds;
    c->vsock_cid = (uint64_t)cid;
    return 0;
}

int vmcfg_put_serial(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "serial_out_path", "rate_limiter", NULL };
    const char *w = "serial", *path;
    struct ratelimit_cfg rl = { 0 };
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_str(body, "serial_out_path", false, &path, w, err)))
        return r;
    /* Its rate_limiter is one token bucket (bytes), not a RateLimiter. */
    json_t *b = json_object_get(body, "rate_limiter");
    if (b && !json_is_null(b)) {
        json_t *wrap = json_pack("{s:O}", "bandwidth", b);
        char sub[VM_ERR_LEN - 64];
        if (!wrap)
            return fail(err, "out of memory");
        r = ratelimit_cfg_parse(&rl, wrap, "rate_limiter", sub, sizeof(sub));
        json_decref(wrap);
        if (r)
            return fail(err, "%s: %s", w, sub);
    }
    if (path && !*path)
        return fail(err, "%s: 'serial_out_path' must not be empty", w);
    if ((r = vmcfg_set_str(&c->serial_out, path)))
        return fail(err, "out of memory");
    c->serial_limit = rl;
    c->serial_limit_set = b && !json_is_null(b);
    return 0;
}

void vmcfg_logger_free(struct vm_logger *l)
{
    free(l->log_path);
    free(l->module);
    memset(l, 0, sizeof(*l));
}

int vmcfg_parse_logger(struct vm_logger *out, const json_t *body, char *err)
{
    static const char *const keys[] = { "log_path", "level", "show_level", "show_log_origin",
                                        "module", NULL };
    const char *w = "logger", *path, *level, *module;
    struct vm_logger l = { .present = true, .level = LOG_INFO }; /* Firecracker's default */
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_str(body, "log_path", false, &path, w, err)) ||
        (r = get_str(body, "level", false, &level, w, err)) ||
        (r = get_bool(body, "show_level", false, &l.show_level, w, err)) ||
        (r = get_bool(body, "show_log_origin", false, &l.show_log_origin, w, err)) ||
        (r = get_str(body, "module", false, &module, w, err)))
        return r;
    if (level && log_level_parse(level, &l.level))
        return fail(err, "%s: 'level' is '%.32s'; it must be Error, Warning, Info, Debug, "
                    "Trace or Off", w, level);
    if (path && !*path)
        return fail(err, "%s: 'log_path' must not be empty", w);
    if (module && strlen(module) > 63)
        return fail(err, "%s: 'module' is over 63 characters", w);
    if (vmcfg_set_str(&l.log_path, path) || vmcfg_set_str(&l.module, module)) {
        vmcfg_logger_free(&l);
        return fail(err, "out of memory");
    }
    vmcfg_logger_free(out);
    *out = l;
    return 0;
}

int vmcfg_put_metrics(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "metrics_path", "emit_id", "properties", NULL };
    const char *path;
    bool emit_id = false;
    int r;
    if ((r = check_object(body, "metrics", err)) || (r = check_keys(body, keys, "metrics", err)) ||
        (r = get_str(body, "metrics_path", true, &path, "metrics", err)) ||
        (r = get_bool(body, "emit_id", false, &emit_id, "metrics", err)))
        return r;
    json_t *props = json_object_get(body, "properties");
    if (props && !json_is_null(props)) {
        const char *k;
        json_t *v;
        if (!json_is_object(props))
            return fail(err, "metrics: 'properties' must be an object of strings");
        json_object_foreach(props, k, v) {
            if (!json_is_string(v))
                return fail(err, "metrics: properties.%.64s must be a string", k);
        }
        if (json_object_size(props) > 64)
            return fail(err, "metrics: at most 64 properties");
    } else {
        props = NULL;
    }
    if (c->metrics_path)
        return fail(err, "metrics: the metrics system is already initialized (to '%.200s')",
                    c->metrics_path);
    if (vmcfg_set_str(&c->metrics_path, path))
        return fail(err, "out of memory");
    c->metrics_emit_id = emit_id;
    json_decref(c->metrics_properties);
    c->metrics_properties = props ? json_deep_copy(props) : NULL;
    return 0;
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

/* A device's name from a saved config (checked as the API checks one), or
 * PREFIX and its slot when it has none (the CLI's --disk and --net). */
static int set_saved_id(char out[VM_ID_LEN], const char *saved, const char *prefix,
                        unsigned slot, char *err)
{
    if (!saved) {
        snprintf(out, VM_ID_LEN, "%s%u", prefix, slot);
        return 0;
    }
    if (!vmcfg_valid_id(saved))
        return fail(err, "a %s is named '%.64s': not 1 to %d letters, digits or '_'",
                    !strcmp(prefix, "disk") ? "drive" : "network interface", saved,
                    VM_ID_LEN - 1);
    snprintf(out, VM_ID_LEN, "%s", saved);
    return 0;
}

int vmcfg_add_disk(struct vm_config *c, const struct machine_disk *md, char *err)
{
    if (c->ndrives == VM_MAX_DRIVES)
        return fail(err, "--disk: at most %d drives", VM_MAX_DRIVES);
    struct vm_drive d = { .readonly = md->readonly, .rate_limit = md->rate_limit };
    if (set_saved_id(d.id, md->id, "disk", c->ndrives, err))
        return -EINVAL;
    for (unsigned i = 0; i < c->ndrives; i++)
        if (!strcmp(c->drives[i].id, d.id))
            return fail(err, "two drives are named '%s'", d.id);
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
    if (set_saved_id(n.id, mn->id, "net", c->nnets, err))
        return -EINVAL;
    for (unsigned i = 0; i < c->nnets; i++)
        if (!strcmp(c->nets[i].id, n.id))
            return fail(err, "two network interfaces are named '%s'", n.id);
    memcpy(n.mac, mn->mac, sizeof(n.mac));
    if (vmcfg_set_str(&n.tap_name, mn->tap_name) || vmcfg_set_str(&n.bridge, mn->bridge) ||
        vmcfg_set_str(&n.vde_path, mn->vde_path))
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

/* Firecracker's resources that Corral does not have: null (or an empty
 * list) is what its own vm_config.json holds and is accepted; anything
 * else is refused with the reason docs/api.yaml gives. */
static const struct {
    const char *key, *why;
} absent_resources[] = {
    { "cpu-config", "CPU templates and KVM capability modifiers are x86/Arm features" },
    { "pmem", "there is no virtio-pmem device" },
    { "memory-hotplug", "there is no virtio-mem device" },
};

int vmcfg_apply_document(struct vm_config *c, const json_t *doc, char *err)
{
    static const char *const keys[] = { "boot-source", "machine-config", "drives",
                                        "network-interfaces", "balloon", "entropy",
                                        "serial", "logger", "metrics", "cpu-config", "vsock",
                                        "mmds-config", "pmem", "memory-hotplug", NULL };
    int r;
    if (!json_is_object(doc))
        return fail(err, "the configuration must be a JSON object");
    if ((r = check_keys(doc, keys, "configuration", err)))
        return r;
    for (size_t i = 0; i < sizeof(absent_resources) / sizeof(absent_resources[0]); i++) {
        json_t *v = json_object_get(doc, absent_resources[i].key);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
            return fail(err, "'%s' is not supported: %s", absent_resources[i].key,
                        absent_resources[i].why);
    }
    /* Present and not null: Firecracker writes "balloon": null and the like. */
#define MEMBER(name) ((v = json_object_get(doc, name)) && !json_is_null(v))
    json_t *v;
    if (MEMBER("boot-source") && (r = vmcfg_put_boot_source(c, v, err)))
        return r;
    if (MEMBER("machine-config") && (r = vmcfg_put_machine_config(c, v, err)))
        return r;
    if (MEMBER("balloon") && (r = vmcfg_put_balloon(c, v, err)))
        return r;
    if (MEMBER("entropy") && (r = vmcfg_put_entropy(c, v, err)))
        return r;
    if (MEMBER("serial") && (r = vmcfg_put_serial(c, v, err)))
        return r;
    if (MEMBER("vsock") && (r = vmcfg_put_vsock(c, v, err)))
        return r;
    if (MEMBER("logger") && (r = vmcfg_parse_logger(&c->logger, v, err)))
        return r;
    if (MEMBER("metrics") && (r = vmcfg_put_metrics(c, v, err)))
        return r;
#undef MEMBER
    static const char *const lists[] = { "drives", "network-interfaces" };
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(doc, lists[k]);
        if (!arr || json_is_null(arr))
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
    /* After the interfaces it names. */
    v = json_object_get(doc, "mmds-config");
    if (v && !json_is_null(v) && (r = vmcfg_put_mmds_config(c, v, err)))
        return r;
    return 0;
}

/* ---- MMDS ---- */

struct mmds *vmcfg_mmds_store(struct vm_config *c)
{
    if (!c->mmds_store)
        c->mmds_store = mmds_new();
    return c->mmds_store;
}

static const struct vm_net *find_net(const struct vm_config *c, const char *id)
{
    for (unsigned i = 0; i < c->nnets; i++)
        if (!strcmp(c->nets[i].id, id))
            return &c->nets[i];
    return NULL;
}

int vmcfg_put_mmds_config(struct vm_config *c, const json_t *body, char *err)
{
    static const char *const keys[] = { "version", "network_interfaces", "ipv4_address",
                                        "imds_compat", NULL };
    const char *w = "mmds-config", *ver, *addr;
    struct vm_mmds_config n = { .present = true, .version = MMDS_V1,
                                .ipv4 = MMDS_DEFAULT_IPV4 };
    int r;
    if ((r = check_object(body, w, err)) || (r = check_keys(body, keys, w, err)) ||
        (r = get_str(body, "version", false, &ver, w, err)) ||
        (r = get_str(body, "ipv4_address", false, &addr, w, err)) ||
        (r = get_bool(body, "imds_compat", false, &n.imds_compat, w, err)))
        return r;
    if (ver && !strcmp(ver, "V2"))
        n.version = MMDS_V2;
    else if (ver && strcmp(ver, "V1"))
        return fail(err, "%s: 'version' must be \"V1\" or \"V2\", not '%.16s'", w, ver);
    if (addr) {
        struct in_addr a;
        if (inet_pton(AF_INET, addr, &a) != 1)
            return fail(err, "%s: 'ipv4_address' '%.64s' is not an IPv4 address", w, addr);
        n.ipv4 = ntohl(a.s_addr);
        /* Firecracker's rule: a link-local address (169.254.0.0/16). */
        if ((n.ipv4 >> 16) != 0xa9fe)
            return fail(err, "%s: 'ipv4_address' %s is not link-local (169.254.0.0/16)", w,
                        addr);
    }
    json_t *list = json_object_get(body, "network_interfaces");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail(err, "%s: 'network_interfaces' must be a non-empty array of interface "
                    "ids", w);
    if (json_array_size(list) > VM_MAX_NETS)
        return fail(err, "%s: 'network_interfaces' names more than %d interfaces", w,
                    VM_MAX_NETS);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *id = json_string_value(e);
        if (!id)
            return fail(err, "%s: 'network_interfaces' must hold interface ids (strings)", w);
        const struct vm_net *net = find_net(c, id);
        if (!net)
            return fail(err, "%s: no network interface '%.64s' (PUT /network-interfaces "
                        "first)", w, id);
        for (unsigned k = 0; k < n.nifaces; k++)
            if (!strcmp(n.ifaces[k], id))
                return fail(err, "%s: interface '%.64s' is named twice", w, id);
        snprintf(n.ifaces[n.nifaces++], VM_ID_LEN, "%s", id);
    }
    return vmcfg_set_mmds(c, &n) ? fail(err, "out of memory") : 0;
}

int vmcfg_set_mmds(struct vm_config *c, const struct vm_mmds_config *m)
{
    struct mmds *store = vmcfg_mmds_store(c);
    if (!store)
        return -ENOMEM;
    mmds_configure(store, (enum mmds_version)m->version, m->ipv4, m->imds_compat);
    c->mmds = *m;
    return 0;
}

json_t *vmcfg_mmds_config_json(const struct vm_config *c)
{
    const struct vm_mmds_config *m = &c->mmds;
    struct in_addr a = { .s_addr = htonl(m->ipv4) };
    char addr[INET_ADDRSTRLEN];
    json_t *ifs = json_array();
    if (!ifs || !inet_ntop(AF_INET, &a, addr, sizeof(addr))) {
        json_decref(ifs);
        return NULL;
    }
    for (unsigned i = 0; i < m->nifaces; i++)
        json_array_append_new(ifs, json_string(m->ifaces[i]));
    return json_pack("{s:s, s:o, s:s, s:b}", "version", m->version == MMDS_V2 ? "V2" : "V1",
                     "network_interfaces", ifs, "ipv4_address", addr, "imds_compat",
                     m->imds_compat);
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
    if (!r)
        r = check_config_files(c, sub);
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
    json_t *j = json_pack("{s:I, s:I, s:b, s:b, s:b, s:s}", "vcpu_count", (json_int_t)c->ncpus,
                          "mem_size_mib", (json_int_t)c->mem_mib, "smt", 0, "mem_merge",
                          c->mem_merge, "track_dirty_pages", c->track_dirty_pages,
                          "huge_pages", c->huge_pages ? c->huge_pages : "None");
    if (j && c->cpu_quota_pct)
        json_object_set_new(j, "cpu_quota_pct", json_integer(c->cpu_quota_pct));
    if (j && c->cpu_weight)
        json_object_set_new(j, "cpu_weight", json_integer(c->cpu_weight));
    if (j && c->memory_limit_mib)
        json_object_set_new(j, "memory_limit_mib",
                            json_integer((json_int_t)c->memory_limit_mib));
    return j;
}

/* entropy, serial, vsock, logger, metrics: present when configured. */
static int vmcfg_extras_json(const struct vm_config *c, json_t *doc)
{
    if (c->vsock_cid) {
        json_t *vs = json_pack("{s:I, s:s}", "guest_cid", (json_int_t)c->vsock_cid, "uds_path",
                               c->vsock_uds);
        if (!vs)
            return -1;
        set_str(vs, "vsock_id", c->vsock_id);
        json_object_set_new(doc, "vsock", vs);
    }
    if (c->rng) {
        json_t *e = json_object();
        if (!e)
            return -1;
        set_limit(e, "rate_limiter", &c->rng_limit);
        json_object_set_new(doc, "entropy", e);
    }
    if (c->serial_out || c->serial_limit_set) {
        json_t *s = json_object();
        if (!s)
            return -1;
        set_str(s, "serial_out_path", c->serial_out);
        if (c->serial_limit_set) {
            json_t *rl = ratelimit_cfg_json(&c->serial_limit);
            json_t *bw = json_object_get(rl, "bandwidth");
            json_object_set(s, "rate_limiter", bw ? bw : json_null());
            json_decref(rl);
        }
        json_object_set_new(doc, "serial", s);
    }
    if (c->logger.present) {
        const struct vm_logger *l = &c->logger;
        json_t *o = json_pack("{s:s, s:b, s:b}", "level", log_level_name(l->level),
                              "show_level", l->show_level, "show_log_origin",
                              l->show_log_origin);
        if (!o)
            return -1;
        set_str(o, "log_path", l->log_path);
        set_str(o, "module", l->module);
        json_object_set_new(doc, "logger", o);
    }
    if (c->metrics_path) {
        json_t *m = json_pack("{s:s, s:b}", "metrics_path", c->metrics_path, "emit_id",
                              c->metrics_emit_id);
        if (m && c->metrics_properties)
            json_object_set(m, "properties", c->metrics_properties);
        json_object_set_new(doc, "metrics", m);
    }
    if (c->mmds.present)
        json_object_set_new(doc, "mmds-config", vmcfg_mmds_config_json(c));
    return 0;
}

json_t *vmcfg_to_json(const struct vm_config *c)
{
    json_t *doc = json_object(), *bs = json_object(), *drives = json_array(),
           *nets = json_array();
    if (!doc || !bs || !drives || !nets)
        goto err;
    set_str(bs, "kernel_image_path", c->kernel);
    set_str(bs, "initrd_path", c->initrd);
    /* What the kernel gets when none were given (root= is added at start). */
    if (c->kernel || c->cmdline)
        set_str(bs, "boot_args", c->cmdline ? c->cmdline : VM_DEFAULT_CMDLINE);
    set_str(bs, "firmware_path", c->firmware);
    for (unsigned i = 0; i < c->ndrives; i++) {
        const struct vm_drive *d = &c->drives[i];
        json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "drive_id", d->id, "path_on_host",
                              d->path, "is_root_device", d->root, "is_read_only",
                              d->readonly);
        if (!o)
            continue;
        set_str(o, "format", d->format);
        /* Firecracker's spelling where it has one; "cache": "none" is ours. */
        if (d->cache && !strcmp(d->cache, "none"))
            set_str(o, "cache", d->cache);
        else
            set_str(o, "cache_type", d->cache && !strcmp(d->cache, "unsafe") ? "Unsafe"
                                                                             : "Writeback");
        set_str(o, "partuuid", d->partuuid);
        set_str(o, "io_engine", d->io_engine);
        set_limit(o, "rate_limiter", &d->rate_limit);
        json_array_append_new(drives, o);
    }
    for (unsigned i = 0; i < c->nnets; i++) {
        const struct vm_net *n = &c->nets[i];
        json_t *o = json_pack("{s:s, s:s}", "iface_id", n->id, "type",
                              n->kind == MACHINE_NET_TAP   ? "tap"
                              : n->kind == MACHINE_NET_VDE ? "vde"
                                                           : "user");
        if (!o)
            continue;
        set_str(o, "host_dev_name", n->tap_name);
        set_str(o, "bridge", n->bridge);
        set_str(o, "vde_path", n->vde_path);
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
        if (n->mtu)
            json_object_set_new(o, "mtu", json_integer(n->mtu));
        json_array_append_new(nets, o);
    }
    if (vmcfg_extras_json(c, doc))
        goto err_doc;
    json_object_set_new(doc, "boot-source", bs);
    json_object_set_new(doc, "machine-config", vmcfg_machine_config_json(c));
    json_object_set_new(doc, "drives", drives);
    json_object_set_new(doc, "network-interfaces", nets);
    if (c->balloon.present)
        json_object_set_new(doc, "balloon", vmcfg_balloon_json(c));
    return doc;
err_doc:
    json_decref(doc);
    return NULL;
err:
    json_decref(doc);
    json_decref(bs);
    json_decref(drives);
    json_decref(nets);
    return NULL;
}

/* ---- to the board ---- */

int vmcfg_default_guest_dir(char *dir, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char link[PATH_MAX];
    int n;
    if (xdg && *xdg)
        n = snprintf(link, sizeof(link), "%s/corral/guest/current", xdg);
    else
        n = snprintf(link, sizeof(link), "%s/.cache/corral/guest/current", home ? home : ".");
    if (n < 0 || (size_t)n >= sizeof(link) || (size_t)n >= len)
        return -ENAMETOOLONG;
    /* The link as it is now: a rebuild moving it later does not change
     * what this VM was started with. */
    char real[PATH_MAX];
    if (!realpath(link, real)) {
        snprintf(dir, len, "%s", link);
        return -ENOENT;
    }
    if (strlen(real) >= len)
        return -ENAMETOOLONG;
    snprintf(dir, len, "%s", real);
    return 0;
}

/* A file of the default guest for a field left out: *dst set, or -EINVAL
 * with a message that says what to do. */
static int default_guest_file(char **dst, const char *file, const char *field, char *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    struct stat st;
    int r = vmcfg_default_guest_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (r || stat(path, &st) || !S_ISREG(st.st_mode))
        return fail(err, "no %s given and the default guest's %s is not built (%.200s): run "
                    "'make guest' (scripts/guest.sh) in the Corral source tree, or give %s",
                    field, file, path, field);
    if (vmcfg_set_str(dst, path))
        return fail(err, "out of memory");
    return 0;
}

/* Firecracker's getting-started boot gives neither firmware nor initrd:
 * OpenSBI comes from the default guest build, and so does the initramfs
 * when the kernel must mount a root disk (Debian's kernel has virtio_blk
 * and ext4 as modules; guest/init loads them and switches to root=,
 * honouring ro/rw). An initrd or firmware that was given always wins. */
static int apply_boot_defaults(struct vm_config *c, bool has_root, char *err)
{
    int r;
    if (c->test_elf || !c->kernel)
        return 0;
    if (!c->firmware) {
        if ((r = default_guest_file(&c->firmware, "fw_dynamic.bin",
                                    "firmware (boot-source firmware_path, --firmware)", err)))
            return r;
        c->firmware_default = true;
    }
    if (!c->initrd && has_root) {
        if ((r = default_guest_file(&c->initrd, "initramfs.cpio",
                                    "initrd (boot-source initrd_path, --initrd) for the root "
                                    "disk", err)))
            return r;
        c->initrd_default = true;
    }
    return 0;
}

int vmcfg_to_machine(struct vm_config *c, struct machine_config *mc, char *err)
{
    int r;
    memset(mc, 0, sizeof(*mc));
    mc->ncpus = c->ncpus;
    mc->mem_size = c->mem_mib << 20;
    mc->mmu_type = c->mmu_type;
    mc->rng = c->rng;
    mc->vsock_cid = c->vsock_cid;
    mc->vsock_uds = c->vsock_uds;
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
    /* The root device goes first, so the guest sees it as /dev/vda, and
     * boot_args gain root= unless they name one (Firecracker's rule). */
    const char *args = c->cmdline ? c->cmdline : VM_DEFAULT_CMDLINE;
    const struct vm_drive *root = NULL;
    for (unsigned i = 0; i < c->ndrives; i++)
        if (c->drives[i].root)
            root = &c->drives[i];
    bool has_root = !strncmp(args, "root=", 5) || strstr(args, " root=");
    if ((r = apply_boot_defaults(c, root || has_root, err)))
        return r;
    if (!c->test_elf && !c->firmware)
        return fail(err, "no firmware given (boot-source firmware_path, or --firmware)");
    mc->kernel = c->kernel;
    mc->initrd = c->initrd;
    mc->firmware = c->firmware;
    free(c->full_cmdline);
    c->full_cmdline = NULL;
    if (root && !has_root) {
        /* Firecracker's rule: a partuuid names the root partition. */
        if (asprintf(&c->full_cmdline, "%s root=%s%s %s", args,
                     root->partuuid ? "PARTUUID=" : "/dev/vda",
                     root->partuuid ? root->partuuid : "", root->readonly ? "ro" : "rw") < 0) {
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
                .readonly = d->readonly, .rate_limit = d->rate_limit, .id = d->id,
            };
        }
    }
    mc->ndisks = n;
    for (unsigned i = 0; i < c->nnets; i++) {
        const struct vm_net *v = &c->nets[i];
        struct machine_net *m = &mc->nets[i];
        m->kind = v->kind;
        m->tap_name = v->tap_name;
        m->bridge = v->bridge;
        m->vde_path = v->vde_path;
        for (unsigned k = 0; k < v->nhostfwd; k++)
            m->hostfwd[k] = v->hostfwd[k];
        m->nhostfwd = v->nhostfwd;
        memcpy(m->mac, v->mac, 6);
        m->mac_set = v->mac_set;
        m->rx_limit = v->rx_limit;
        m->tx_limit = v->tx_limit;
        m->id = v->id;
        m->mmds = NULL;
        for (unsigned k = 0; c->mmds.present && k < c->mmds.nifaces; k++) {
            if (strcmp(c->mmds.ifaces[k], v->id))
                continue;
            if (!(m->mmds = vmcfg_mmds_store(c)))
                return fail(err, "out of memory");
        }
    }
    mc->nnets = c->nnets;
    return 0;
}

/* ---- PUT /migrate's body (docs/api.yaml; vm/migrate.c runs it) ---- */

#define MIG_MAX_BANDWIDTH_MIBPS 1000000
#define MIG_MAX_DELTA_CACHE_MIB 4096
#define MIG_MAX_ZSTD_LEVEL 19

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
                                        "delta_cache_mib", "dedup", "migrate_disks",
                                        "postcopy_recover_window_s", NULL };
    static const char *const ckeys[] = { "zero_pages", "zstd_level", "threads", NULL };
    static const struct { const char *name; enum vm_mig_mode mode; } modes[] = {
        { "precopy", VM_MIG_PRECOPY }, { "postcopy", VM_MIG_POSTCOPY }, { "auto", VM_MIG_AUTO },
    };
    const char *w = "migrate", *mode;
    long long dl = 0, bw = 0, delta = 0, level = 0, threads = 1, window = 0;
    vm_mig_params_default(p);
    if (check_object(body, w, err) || check_keys(body, keys, w, err) ||
        get_str(body, "uri", true, &p->uri, w, err) ||
        get_str(body, "mode", false, &mode, w, err) ||
        opt_uint(body, "downtime_limit_ms", 1, 60000, &dl, w, err) ||
        opt_uint(body, "max_bandwidth_mibps", 0, MIG_MAX_BANDWIDTH_MIBPS, &bw, w, err) ||
        opt_uint(body, "delta_cache_mib", 0, MIG_MAX_DELTA_CACHE_MIB, &delta, w, err) ||
        opt_uint(body, "postcopy_recover_window_s", 1, MIG_RECOVER_WINDOW_MAX_MS / 1000, &window,
                 w, err) ||
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
    p->recover_window_s = (uint32_t)window;
    p->zstd_level = (int)level;
    p->compression_threads = (unsigned)threads;
    return 0;
}
