/* Snapshot create, load and merge (snapshot.h). */
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "core/log.h"
#include "core/vclock.h"
#include "devices/virtio_blk.h"
#include "state/state.h"
#include "virtio/virtio_mmio.h"
#include "vm/migrate_disks.h"
#include "vm/snapshot_files.h"

#define DISKS_VERSION 1
#define MEMORY_VERSION 1
#define STATE_FILE_MAX (64ULL << 20)

static int fail(char *err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, VM_ERR_LEN, fmt, ap);
    va_end(ap);
    return r;
}

void vm_snap_chain_free(struct vm_snap_chain *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        free(c->layer[i].path);
        free(c->layer[i].pages);
    }
    memset(c, 0, sizeof(*c));
}

/* "IMAGE-YYYYmmdd-HHMMSS-NNN.qcow2" beside IMAGE (minus a .qcow2 end). */
static int overlay_name(const char *image, const char *tag, char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    size_t n = strlen(image);
    if (n > 6 && !strcmp(image + n - 6, ".qcow2"))
        n -= 6;
    int w = snprintf(out, cap, "%.*s-%s-%04d%02d%02d-%02d%02d%02d-%03ld.qcow2", (int)n, image, tag,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000);
    return w < 0 || (size_t)w >= cap ? -ENAMETOOLONG : 0;
}

/* ---- "disks": u32 n, per disk {str path, str format, u64 size,
 * u8 has_fingerprint, u64 fingerprint} ----
 * A writable qcow2 disk is frozen here: a new overlay goes over the
 * running image, which becomes read-only and is what the snapshot records
 * (QEMU's external snapshot). A raw disk cannot be frozen: its content
 * fingerprint lets a restore refuse it once it changed. */
static int save_disks(struct vm *vm, struct machine *m, struct state_out *o, char *err)
{
    state_begin(o, "disks", DISKS_VERSION, 0);
    state_put_u32(o, m->cfg.ndisks);
    for (unsigned i = 0; i < m->cfg.ndisks; i++) {
        struct blk_backend **slot = virtio_blk_backend_slot(m->blk[i]);
        struct blk_backend *be = *slot;
        /* What the guest wrote is on the image before the state says so. */
        if (!be->readonly && be->ops->flush(be))
            return fail(err, -EIO, "disk %s: flush failed", be->path);
        bool raw = !be->format || !strcmp(be->format, "raw");
        char frozen[sizeof(be->path)];
        snprintf(frozen, sizeof(frozen), "%s", be->path);
        uint64_t size = be->size, fp = 0;
        if (raw) {
            char e[VM_ERR_LEN];
            if (blk_fingerprint(frozen, &size, &fp, e, sizeof(e)))
                return fail(err, -EIO, "%s", e);
        } else if (!be->readonly) {
            char ov[SNAP_PATH_MAX], e[VM_ERR_LEN];
            if (overlay_name(frozen, "run", ov, sizeof(ov)) ||
                blk_reopen_overlay(slot, ov, e, sizeof(e)))
                return fail(err, -EIO, "disk %s: cannot put an overlay over it: %s", frozen,
                            e);
            /* The running VM's disk is the overlay from now on (its
             * configuration too: the next snapshot or migration). The
             * files are written without the VM lock; its configuration
             * changes under it. */
            pthread_mutex_lock(&vm->lock);
            for (unsigned k = 0; k < vm->cfg.ndrives; k++)
                if (vm->cfg.drives[k].path && !strcmp(vm->cfg.drives[k].path, m->cfg.disks[i].path) &&
                    !vmcfg_set_str(&vm->cfg.drives[k].path, ov))
                    m->cfg.disks[i].path = vm->cfg.drives[k].path;
            pthread_mutex_unlock(&vm->lock);
            log_info("disk %s frozen for the snapshot; the VM now writes %s", frozen, ov);
        }
        state_put_str(o, frozen);
        state_put_str(o, be->format ? be->format : "raw");
        state_put_u64(o, size);
        state_put_u8(o, raw);
        state_put_u64(o, fp);
    }
    state_end(o);
    return 0;
}

/* Check the recorded disks; a writable qcow2 one gets a fresh overlay over
 * its frozen image (so the snapshot can be restored again and again), and
 * the configuration `sc` is pointed at it. sc NULL: parse only. */
static int check_disks(struct state_in *in, bool ignore_changes, struct machine_saved_config *sc,
                       char *err)
{
    struct state_section s;
    if (state_in_expect(in, "disks", DISKS_VERSION, &s))
        return -EINVAL;
    uint32_t n = state_get_u32(&s.body);
    if (n > MACHINE_MAX_DISKS)
        return state_in_fail(&s.body, "%u disks", n);
    for (uint32_t i = 0; i < n; i++) {
        char path[SNAP_PATH_MAX], format[16];
        state_get_str(&s.body, path, sizeof(path), NULL);
        state_get_str(&s.body, format, sizeof(format), NULL);
        uint64_t size = state_get_u64(&s.body);
        uint8_t has_fp = state_get_u8(&s.body);
        uint64_t fp = state_get_u64(&s.body);
        if (state_in_status(&s.body))
            return -EINVAL;
        if (sc && i < sc->cfg.ndisks && !has_fp && !strcmp(format, "qcow2") &&
            !sc->cfg.disks[i].readonly) {
            char ov[SNAP_PATH_MAX], e[VM_ERR_LEN];
            if (sc->nstrs >= MACHINE_SAVED_STRS)
                return fail(err, -EINVAL, "too many disks");
            if (overlay_name(path, "restore", ov, sizeof(ov)) ||
                blk_qcow2_create_overlay(ov, path, "qcow2", 0, e, sizeof(e)))
                return fail(err, -EINVAL, "snapshot disk %s: cannot create an overlay: %s",
                            path, e);
            char *keep = strdup(ov);
            if (!keep)
                return fail(err, -ENOMEM, "out of memory");
            sc->strs[sc->nstrs++] = keep;
            sc->cfg.disks[i].path = keep;
            sc->cfg.disks[i].format = "qcow2";
            continue;
        }
        if (!has_fp || ignore_changes || !err)
            continue;
        uint64_t now_size, now_fp;
        char e[VM_ERR_LEN];
        if (blk_fingerprint(path, &now_size, &now_fp, e, sizeof(e)))
            return fail(err, -EINVAL, "snapshot disk %s", e);
        if (now_size != size || now_fp != fp)
            return fail(err, -EINVAL,
                        "disk %s changed since the snapshot was taken (a raw image has no "
                        "overlay to keep its state); restore it, or load with "
                        "ignore_disk_changes / --ignore-disk-changes", path);
    }
    return state_in_finish(&s.body);
}

/* ---- "memory": u64 ram_size, u32 page_size, u32 nlayers, per layer
 * {str path, u8 diff, u64 fingerprint, u64 nwords, words[nwords]} ---- */
static void save_memory(const struct vm_snap_chain *c, uint64_t ram_size, struct state_out *o)
{
    state_begin(o, "memory", MEMORY_VERSION, 0);
    state_put_u64(o, ram_size);
    state_put_u32(o, GMEM_PAGE_SIZE);
    state_put_u32(o, c->n);
    for (unsigned i = 0; i < c->n; i++) {
        const struct vm_snap_layer *l = &c->layer[i];
        state_put_str(o, l->path);
        state_put_u8(o, l->diff);
        state_put_u64(o, l->fingerprint);
        state_put_u64(o, l->diff ? l->nwords : 0);
        for (size_t w = 0; l->diff && w < l->nwords; w++)
            state_put_u64(o, l->pages[w]);
    }
    state_end(o);
}

static int load_memory(struct state_in *in, uint64_t ram_size, struct vm_snap_chain *c)
{
    struct state_section s;
    memset(c, 0, sizeof(*c));
    if (state_in_expect(in, "memory", MEMORY_VERSION, &s))
        return -EINVAL;
    struct state_in *b = &s.body;
    uint64_t size = state_get_u64(b);
    uint32_t page = state_get_u32(b);
    uint32_t n = state_get_u32(b);
    if (state_in_status(b))
        return -EINVAL;
    if (size != ram_size || page != GMEM_PAGE_SIZE)
        return state_in_fail(b, "memory of %llu bytes in %u-byte pages does not match the "
                             "machine's %llu", (unsigned long long)size, page,
                             (unsigned long long)ram_size);
    if (n == 0 || n > VM_SNAP_MAX_LAYERS)
        return state_in_fail(b, "%u memory layers", n);
    size_t words = (size_t)(((size >> GMEM_PAGE_SHIFT) + 63) / 64);
    for (uint32_t i = 0; i < n; i++) {
        struct vm_snap_layer *l = &c->layer[c->n];
        char path[SNAP_PATH_MAX];
        state_get_str(b, path, sizeof(path), NULL);
        uint8_t diff = state_get_u8(b);
        l->fingerprint = state_get_u64(b);
        uint64_t nw = state_get_u64(b);
        if (state_in_status(b))
            goto bad;
        if (diff > 1 || (i == 0) != !diff || (diff ? nw != words : nw != 0)) {
            state_in_fail(b, "memory layer %u: bad kind or page map", i);
            goto bad;
        }
        l->diff = diff;
        l->path = strdup(path);
        c->n++;
        if (!l->path)
            goto bad;
        if (diff) {
            l->nwords = words;
            l->pages = calloc(words, sizeof(uint64_t));
            if (!l->pages)
                goto bad;
            for (size_t w = 0; w < words; w++)
                l->pages[w] = state_get_u64(b);
        }
    }
    if (state_in_finish(b))
        goto bad;
    return 0;
bad:
    vm_snap_chain_free(c);
    return state_in_fail(b, "cannot read the memory layers");
}

/* A memory file recorded by absolute path may have moved with its state
 * file: then the file of the same name beside the state is the one. */
static void relocate(struct vm_snap_layer *l, const char *state_path)
{
    if (access(l->path, F_OK) == 0)
        return;
    char a[SNAP_PATH_MAX], b[SNAP_PATH_MAX], cand[SNAP_PATH_MAX];
    snprintf(a, sizeof(a), "%s", state_path);
    snprintf(b, sizeof(b), "%s", l->path);
    if (snprintf(cand, sizeof(cand), "%s/%s", dirname(a), basename(b)) >= (int)sizeof(cand))
        return;
    if (access(cand, F_OK) == 0) {
        char *p = strdup(cand);
        if (p) {
            free(l->path);
            l->path = p;
        }
    }
}

/* ---- create ---- */

/* Tests hold a create in its unlocked phase to see the API answer and
 * refuse state changes meanwhile: CORRAL_TEST_SNAPSHOT_STALL_MS (at most
 * 10 s); unset in normal use. */
static void test_stall(void)
{
    const char *v = getenv("CORRAL_TEST_SNAPSHOT_STALL_MS");
    long ms = v ? strtol(v, NULL, 10) : 0;
    if (ms > 0 && ms <= 10000)
        usleep((useconds_t)ms * 1000);
}

static void unharvest(struct gmem *ram, const uint64_t *bits)
{
    for (size_t i = 0; i < gmem_dirty_words(ram); i++)
        if (bits[i])
            atomic_fetch_or(&ram->dirty[i], bits[i]);
}

int vm_snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
                       char *err)
{
    int r = -EINVAL, mfd = -1, sfd = -1;
    char mtmp[SNAP_PATH_MAX] = "", stmp[SNAP_PATH_MAX] = "", mabs[SNAP_PATH_MAX];
    uint64_t *bits = NULL;
    struct state_out o;
    state_out_init(&o);
    pthread_mutex_lock(&vm->lock);
    struct machine *m = vm->m;
    if (vm->state != VM_PAUSED || !m) {
        r = fail(err, -EINVAL, "snapshot create refused: the VM must be Paused (state: %s)",
                 vm_state_name(vm->state));
        goto out;
    }
    if (!state_path || !*state_path || !mem_path || !*mem_path) {
        r = fail(err, -EINVAL, "snapshot create: snapshot_path and mem_file_path are required");
        goto out;
    }
    if (!strcmp(state_path, mem_path)) {
        r = fail(err, -EINVAL, "snapshot create: the state and memory files must differ");
        goto out;
    }
    if (snap_abs_path(mem_path, mabs)) {
        r = fail(err, -EINVAL, "snapshot create: %s: directory does not exist", mem_path);
        goto out;
    }
    if (diff && vm->snap_chain.n == 0) {
        r = fail(err, -EINVAL, "snapshot create: a Diff snapshot needs an earlier snapshot of "
                 "this VM to build on (create a Full one first)");
        goto out;
    }
    if (diff && vm->snap_chain.n >= VM_SNAP_MAX_LAYERS) {
        r = fail(err, -EINVAL, "snapshot create: %d Diff snapshots in a chain; merge them "
                 "(corral snapshot merge) or take a Full one", VM_SNAP_MAX_LAYERS - 1);
        goto out;
    }
    for (unsigned i = 0; i < vm->snap_chain.n; i++)
        if (!strcmp(vm->snap_chain.layer[i].path, mabs)) {
            r = fail(err, -EINVAL, "snapshot create: %s is a layer this VM's memory is built "
                     "on; choose another mem_file_path", mem_path);
            goto out;
        }
    if (vm->snapshotting) {
        r = fail(err, -EINVAL, "snapshot create refused: another snapshot is being written");
        goto out;
    }
    machine_quiesce(m);
    struct gmem *ram = &m->bus.ram;
    bits = calloc(gmem_dirty_words(ram), sizeof(uint64_t));
    if (!bits) {
        r = fail(err, -ENOMEM, "snapshot create: out of memory");
        goto out;
    }
    gmem_dirty_harvest(ram, bits);
    /* The files are written without the VM lock (GET / and the metrics
     * answer meanwhile): `snapshotting` refuses every state change, and
     * the quiesced machine and the chain stay as they are until the end. */
    vm->snapshotting = true;
    pthread_mutex_unlock(&vm->lock);
    test_stall();

    mfd = snap_tmp_create(mem_path, mtmp);
    if (mfd < 0) {
        r = fail(err, -EINVAL, "snapshot create: %s: %s", mem_path, strerror(-mfd));
        goto out_unharvest;
    }
    int64_t t_start = vclock_host_now_ns();
    r = diff ? snap_write_diff(ram->host, ram->size, bits, mfd)
             : snap_write_full(ram, mfd);
    int64_t t_written = vclock_host_now_ns();
    uint64_t fp = 0;
    if (r || (r = snap_fingerprint_ram(ram->host, ram->size, diff ? bits : NULL, &fp))) {
        r = fail(err, -EIO, "snapshot create: writing %s: %s", mem_path, strerror(-r));
        goto out_unharvest;
    }
    snap_seal(mfd, fp);

    /* The chain this snapshot's memory is: the previous one plus this
     * diff, or this file alone. */
    struct vm_snap_chain chain = { .n = 0 };
    if (diff) {
        for (unsigned i = 0; i < vm->snap_chain.n; i++)
            chain.layer[chain.n++] = vm->snap_chain.layer[i];
    }
    struct vm_snap_layer self = {
        .path = mabs, .diff = diff, .fingerprint = fp, .pages = bits,
        .nwords = gmem_dirty_words(ram),
    };
    chain.layer[chain.n++] = self;

    state_out_header(&o);
    machine_config_save(m, VM_VERSION, &o);
    if ((r = save_disks(vm, m, &o, err)))
        goto out_unharvest;
    save_memory(&chain, ram->size, &o);
    machine_save_state(m, &o);
    if ((r = state_out_status(&o))) {
        r = fail(err, r, "snapshot create: cannot encode the state: %s", strerror(-r));
        goto out_unharvest;
    }
    sfd = snap_tmp_create(state_path, stmp);
    if (sfd < 0) {
        r = fail(err, -EINVAL, "snapshot create: %s: %s", state_path, strerror(-sfd));
        goto out_unharvest;
    }
    if ((r = snap_write_at(sfd, o.buf, o.len, 0))) {
        r = fail(err, -EIO, "snapshot create: writing %s: %s", state_path, strerror(-r));
        goto out_unharvest;
    }
    int64_t t_state = vclock_host_now_ns();
    /* Memory first: until the state lands, nothing looks complete. */
    r = snap_tmp_commit_pair(mfd, mtmp, mem_path, sfd, stmp, state_path);
    mfd = sfd = -1;
    mtmp[0] = stmp[0] = 0;
    if (r) {
        r = fail(err, -EIO, "snapshot create: %s: %s", state_path, strerror(-r));
        goto out_unharvest;
    }

    /* Done: this snapshot is what the next Diff builds on. */
    pthread_mutex_lock(&vm->lock);
    char *p = strdup(mabs);
    uint64_t *own = diff ? bits : NULL;
    if (!diff) {
        vm_snap_chain_free(&vm->snap_chain);
        free(bits);
    }
    bits = NULL;
    struct vm_snap_layer *l = &vm->snap_chain.layer[vm->snap_chain.n++];
    *l = (struct vm_snap_layer){ .path = p, .diff = diff, .fingerprint = fp, .pages = own,
                                 .nwords = own ? gmem_dirty_words(ram) : 0 };
    int64_t t_end = vclock_host_now_ns();
    log_info("snapshot %s (%s, memory %s) created: memory written %.1f ms, state %.1f ms, "
             "fsync+rename %.1f ms", state_path, diff ? "Diff" : "Full", mem_path,
             (t_written - t_start) / 1e6, (t_state - t_written) / 1e6, (t_end - t_state) / 1e6);
    r = 0;
    goto out_done;

out_unharvest:
    unharvest(&m->bus.ram, bits);
    pthread_mutex_lock(&vm->lock);
out_done:
    vm->snapshotting = false;
out:
    if (mfd >= 0)
        close(mfd);
    if (sfd >= 0)
        close(sfd);
    if (mtmp[0])
        unlink(mtmp);
    if (stmp[0])
        unlink(stmp);
    free(bits);
    state_out_free(&o);
    pthread_mutex_unlock(&vm->lock);
    return r;
}

/* ---- load ---- */

/* The VM's configuration as the API shows it, from the saved one. */
static int config_from_saved(struct vm_config *c, const struct machine_saved_config *sc,
                             char *err)
{
    const struct machine_config *mc = &sc->cfg;
    vmcfg_free(c);
    vmcfg_init(c);
    c->ncpus = mc->ncpus;
    c->mem_mib = mc->mem_size >> 20;
    c->rng = mc->rng;
    c->vsock_cid = mc->vsock_cid;
    if (mc->vsock_cid && vmcfg_set_str(&c->vsock_uds, mc->vsock_uds))
        return fail(err, -ENOMEM, "out of memory");
    if (mc->balloon)
        c->balloon = (struct vm_balloon){
            .present = true, .amount_mib = mc->balloon_mib,
            .deflate_on_oom = mc->balloon_deflate_on_oom,
            .free_page_reporting = mc->balloon_reporting,
            .stats_polling_interval_s = mc->balloon_stats_s,
        };
    if (vmcfg_set_str(&c->kernel, mc->kernel) || vmcfg_set_str(&c->initrd, mc->initrd) ||
        vmcfg_set_str(&c->firmware, mc->firmware) || vmcfg_set_str(&c->cmdline, mc->cmdline) ||
        vmcfg_set_str(&c->test_elf, mc->test_elf) || vmcfg_set_str(&c->mmu_type, mc->mmu_type))
        return fail(err, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < mc->ndisks; i++)
        if (vmcfg_add_disk(c, &mc->disks[i], err))
            return -EINVAL;
    for (unsigned i = 0; i < mc->nnets; i++)
        if (vmcfg_add_net(c, &mc->nets[i], err))
            return -EINVAL;
    if (sc->mmds.present) {
        /* MMDS answers again on the same interfaces; its store starts
         * empty (PUT /mmds on the restored VM), as in Firecracker. */
        struct vm_mmds_config m = { .present = true, .version = (int)sc->mmds.version,
                                    .ipv4 = sc->mmds.ipv4, .imds_compat = sc->mmds.imds_compat };
        for (unsigned i = 0; i < c->nnets; i++)
            if (sc->mmds.on_nic[i])
                snprintf(m.ifaces[m.nifaces++], VM_ID_LEN, "%s", c->nets[i].id);
        if (vmcfg_set_mmds(c, &m))
            return fail(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* "ID=VALUE" into one of the override lists. */
static int add_override(struct vm *vm, struct vm_override *list, unsigned *n, unsigned max,
                        const char *flag, const char *example, size_t max_value,
                        const char *spec, char *err)
{
    const char *eq = strchr(spec, '=');
    size_t idlen = eq ? (size_t)(eq - spec) : 0;
    if (!eq || !idlen || idlen >= VM_ID_LEN || !eq[1] || strlen(eq + 1) > max_value)
        return fail(err, -EINVAL, "%s %s: expected ID=VALUE (e.g. %s)", flag, spec, example);
    pthread_mutex_lock(&vm->lock);
    int r = 0;
    unsigned i;
    for (i = 0; i < *n; i++)
        if (strlen(list[i].id) == idlen && !memcmp(list[i].id, spec, idlen))
            break;
    if (i == max)
        r = fail(err, -EINVAL, "%s %s: at most %u", flag, spec, max);
    else if (vmcfg_set_str(&list[i].value, eq + 1))
        r = fail(err, -ENOMEM, "out of memory");
    else {
        memcpy(list[i].id, spec, idlen);
        list[i].id[idlen] = '\0';
        if (i == *n)
            (*n)++;
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_add_net_override(struct vm *vm, const char *spec, char *err)
{
    return add_override(vm, vm->net_overrides, &vm->nnet_overrides, VM_MAX_NETS,
                        "--net-override", "net0=tap1 or net0=/run/vde.ctl; a TAP name has at "
                        "most 15 characters", MACHINE_VDE_PATH_MAX, spec, err);
}

int vm_add_disk_override(struct vm *vm, const char *spec, char *err)
{
    return add_override(vm, vm->disk_overrides, &vm->ndisk_overrides, VM_MAX_DRIVES,
                        "--disk-override", "disk0=/images/copy.qcow2", PATH_MAX - 1, spec, err);
}

/* "net2" names the third NIC whatever its id (what a VM started with
 * --net calls it): the slot, or -1. */
static int slot_alias(const char *name, const char *prefix, unsigned count)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) || !name[n] || name[n] < '0' || name[n] > '9' ||
        (name[n] == '0' && name[n + 1]))
        return -1;
    char *end;
    unsigned long v = strtoul(name + n, &end, 10);
    return *end || v >= count ? -1 : (int)v;
}

/* The device an override names: by id, else by slot (netN, diskN); -1
 * with the VM's ids listed in `names` ("none" when it has none). */
static int device_index(const char *want, const char *prefix, const char *const *ids,
                        unsigned count, char *names, size_t len)
{
    for (unsigned k = 0; k < count; k++)
        if (!strcmp(ids[k], want))
            return (int)k;
    int slot = slot_alias(want, prefix, count);
    if (slot >= 0)
        return slot;
    snprintf(names, len, "%s", count ? "" : "none");
    for (unsigned k = 0; k < count; k++)
        snprintf(names + strlen(names), len - strlen(names), "%s%s", k ? ", " : "", ids[k]);
    return -1;
}

/* The overrides onto the saved devices (by id, or by slot as netN and
 * diskN): a NIC override names the TAP
 * interface (kept on the saved bridge, if any) or the VDE switch the
 * destination plugs into; a disk override names the image to open instead
 * (or, in an incoming storage migration, to create). */
static int apply_overrides(struct vm *vm, char *err)
{
    for (unsigned i = 0; i < vm->nnet_overrides; i++) {
        const struct vm_override *o = &vm->net_overrides[i];
        const char *ids[VM_MAX_NETS];
        char names[VM_MAX_NETS * VM_ID_LEN + 8];
        for (unsigned k = 0; k < vm->cfg.nnets; k++)
            ids[k] = vm->cfg.nets[k].id;
        int at = device_index(o->id, "net", ids, vm->cfg.nnets, names, sizeof(names));
        if (at < 0)
            return fail(err, -EINVAL, "--net-override %s: the VM has no interface '%s' "
                        "(it has %s)", o->id, o->id, names);
        struct vm_net *n = &vm->cfg.nets[at];
        if (n->kind == MACHINE_NET_USER)
            return fail(err, -EINVAL, "--net-override %s: '%s' is user-mode networking, "
                        "not a TAP or VDE interface", o->id, o->id);
        if (n->kind == MACHINE_NET_TAP && strlen(o->value) > 15)
            return fail(err, -EINVAL, "--net-override %s=%s: a TAP name has at most 15 "
                        "characters", o->id, o->value);
        if (vmcfg_set_str(n->kind == MACHINE_NET_VDE ? &n->vde_path : &n->tap_name, o->value))
            return fail(err, -ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < vm->ndisk_overrides; i++) {
        const struct vm_override *o = &vm->disk_overrides[i];
        const char *ids[VM_MAX_DRIVES];
        char names[VM_MAX_DRIVES * VM_ID_LEN + 8];
        for (unsigned k = 0; k < vm->cfg.ndrives; k++)
            ids[k] = vm->cfg.drives[k].id;
        int at = device_index(o->id, "disk", ids, vm->cfg.ndrives, names, sizeof(names));
        if (at < 0)
            return fail(err, -EINVAL, "--disk-override %s: the VM has no disk '%s' "
                        "(it has %s)", o->id, o->id, names);
        struct vm_drive *d = &vm->cfg.drives[at];
        if (vmcfg_set_str(&d->path, o->value))
            return fail(err, -ENOMEM, "out of memory");
    }
    return 0;
}

int vm_restore_build_locked(struct vm *vm, const struct machine_saved_config *sc,
                            struct machine **out, char *err)
{
    int r;
    if ((r = config_from_saved(&vm->cfg, sc, err)) || (r = apply_overrides(vm, err)) ||
        (vm->create_disks && (r = vm_create_migrated_disks(vm, sc, err))))
        return r;
    struct machine_config build;
    if ((r = vmcfg_to_machine(&vm->cfg, &build, err)))
        return r;
    for (unsigned i = 0; i < build.ndisks; i++)
        build.disks[i].inactive = vm->disks_inactive;
    build.console_write = vm_console_sink;
    build.console_opaque = vm;
    if ((r = machine_create(out, &build, err)))
        return r == -ENOMEM ? r : -EINVAL;
    (*out)->tohost = sc->tohost;
    return 0;
}

int vm_restore_finish_locked(struct vm *vm, struct machine *m, bool resume, char *err)
{
    /* Writes from here on are what the next Diff snapshot holds. */
    gmem_dirty_log_start(&m->bus.ram);
    /* Chains the guest had made available before it was saved. */
    for (unsigned i = 0; i < m->nvirtio; i++)
        virtio_mmio_kick_queues(m->virtio[i]);
    int r = machine_start_paused(m);
    if (r)
        return fail(err, r, "cannot start hart threads: %s", strerror(-r));
    vm->m = m;
    vm->restored = true;
    vm->state = VM_PAUSED;
    vm->started_ns = vclock_host_now_ns();
    if (resume) {
        if (!vm->cfg.test_elf && vm->con.raw)
            vm->con.raw();
        machine_resume(m);
        vm->state = VM_RUNNING;
    }
    uint64_t one = 1;
    if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
        /* already awake */
    }
    return 0;
}

static bool configured(const struct vm_config *c)
{
    return c->kernel || c->test_elf || c->ndrives || c->nnets;
}

int vm_snapshot_load(struct vm *vm, const struct vm_snapshot_load_opts *opts, char *err)
{
    int r = -EINVAL;
    uint8_t *buf = NULL;
    size_t len = 0;
    struct machine_saved_config sc = { .nstrs = 0 };
    struct vm_snap_chain chain = { .n = 0 };
    struct machine *m = NULL;
    int fds[VM_SNAP_MAX_LAYERS];
    for (unsigned i = 0; i < VM_SNAP_MAX_LAYERS; i++)
        fds[i] = -1;
    int64_t t0 = vclock_host_now_ns();

    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_NOT_STARTED || vm->m) {
        r = fail(err, -EINVAL, "snapshot load refused: only a fresh VM can load a snapshot "
                 "(state: %s)", vm_state_name(vm->state));
        goto out;
    }
    if (configured(&vm->cfg)) {
        r = fail(err, -EINVAL, "snapshot load refused: it must come before any configuration "
                 "(boot source, drives, network interfaces)");
        goto out;
    }
    if (!opts->state_path || !*opts->state_path) {
        r = fail(err, -EINVAL, "snapshot load: snapshot_path is required");
        goto out;
    }
    if (snap_read_file(opts->state_path, STATE_FILE_MAX, &buf, &len, err, VM_ERR_LEN))
        goto out;
    struct state_in in;
    if (state_in_open(&in, buf, len, opts->state_path, err, VM_ERR_LEN))
        goto out;
    /* Every section's framing and checksum first: a torn or corrupted
     * file is refused before anything (disks, ports) is opened. */
    struct state_in scan = in;
    struct state_section any;
    int got;
    while ((got = state_in_next(&scan, &any)) > 0)
        ;
    if (got < 0 || machine_config_load(&in, &sc))
        goto out;
    const struct machine_config *mc = &sc.cfg;
    if (opts->expect_cpus && opts->expect_cpus != mc->ncpus) {
        r = fail(err, -EINVAL, "%s: the snapshot has %u harts, not %u", opts->state_path,
                 mc->ncpus, opts->expect_cpus);
        goto out;
    }
    if (opts->expect_mem && opts->expect_mem != mc->mem_size) {
        r = fail(err, -EINVAL, "%s: the snapshot has %llu MiB of RAM, not %llu MiB",
                 opts->state_path, (unsigned long long)(mc->mem_size >> 20),
                 (unsigned long long)(opts->expect_mem >> 20));
        goto out;
    }
    if (check_disks(&in, opts->ignore_disk_changes, &sc, err) ||
        load_memory(&in, mc->mem_size, &chain))
        goto out;
    struct vm_snap_layer *top = &chain.layer[chain.n - 1];
    if (opts->mem_path && *opts->mem_path) {
        char abs[SNAP_PATH_MAX];
        char *p = snap_abs_path(opts->mem_path, abs) ? strdup(opts->mem_path) : strdup(abs);
        if (!p) {
            r = fail(err, -ENOMEM, "out of memory");
            goto out;
        }
        free(top->path);
        top->path = p;
    }
    for (unsigned i = 0; i < chain.n; i++) {
        if (!(opts->mem_path && i == chain.n - 1))
            relocate(&chain.layer[i], opts->state_path);
        fds[i] = snap_open_layer(&chain.layer[i], mc->mem_size, err, VM_ERR_LEN);
        if (fds[i] < 0)
            goto out;
    }

    /* The same board as the one saved, then its RAM, then its state. */
    if ((r = vm_restore_build_locked(vm, &sc, &m, err)))
        goto out_unconfigure;
    struct gmem *ram = &m->bus.ram;
    if ((r = gmem_map_file(ram, fds[0]))) {
        r = fail(err, -EIO, "memory file %s: cannot map: %s", chain.layer[0].path,
                 strerror(-r));
        goto out_destroy;
    }
    for (unsigned i = 1; i < chain.n; i++)
        if ((r = snap_apply_diff(ram, &chain.layer[i], fds[i]))) {
            r = fail(err, -EIO, "memory file %s: %s", chain.layer[i].path, strerror(-r));
            goto out_destroy;
        }
    if (machine_load_state(m, &in)) {
        r = -EINVAL;
        goto out_destroy;
    }
    struct state_section extra;
    int more;
    while ((more = state_in_next(&in, &extra)) > 0)
        if (!(extra.flags & STATE_F_OPTIONAL)) {
            r = state_in_fail(&extra.body, "unknown section after the devices");
            goto out_destroy;
        }
    if (more < 0) {
        r = -EINVAL;
        goto out_destroy;
    }
    if ((r = vm_restore_finish_locked(vm, m, opts->resume, err)))
        goto out_destroy;
    vm_snap_chain_free(&vm->snap_chain);
    vm->snap_chain = chain;
    chain.n = 0;
    log_info("snapshot %s loaded in %.2f ms (%s)", opts->state_path,
             (vclock_host_now_ns() - t0) / 1e6, opts->resume ? "running" : "paused");
    r = 0;
    goto out;

out_destroy:
    machine_destroy(m);
out_unconfigure:
    vmcfg_free(&vm->cfg);
    vmcfg_init(&vm->cfg);
out:
    for (unsigned i = 0; i < VM_SNAP_MAX_LAYERS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    vm_snap_chain_free(&chain);
    machine_saved_config_free(&sc);
    free(buf);
    pthread_mutex_unlock(&vm->lock);
    return r == -EIO ? -EINVAL : r;
}

/* ---- merge ---- */

int vm_snapshot_merge(const char *state_path, const char *out_state, const char *out_mem,
                      char *err)
{
    int r = -EINVAL, mfd = -1, sfd = -1;
    uint8_t *buf = NULL, *ram = MAP_FAILED;
    size_t len = 0;
    char mtmp[SNAP_PATH_MAX] = "", stmp[SNAP_PATH_MAX] = "", mabs[SNAP_PATH_MAX];
    struct machine_saved_config sc = { .nstrs = 0 };
    struct vm_snap_chain chain = { .n = 0 };
    struct state_out o;
    state_out_init(&o);
    if (snap_read_file(state_path, STATE_FILE_MAX, &buf, &len, err, VM_ERR_LEN))
        goto out;
    if (snap_abs_path(out_mem, mabs)) {
        r = fail(err, -EINVAL, "%s: directory does not exist", out_mem);
        goto out;
    }
    struct state_in in;
    if (state_in_open(&in, buf, len, state_path, err, VM_ERR_LEN))
        goto out;
    /* Sections are copied as they are, but for the memory chain. */
    size_t mach_at = in.off;
    if (machine_config_load(&in, &sc))
        goto out;
    size_t disks_at = in.off;
    struct state_section s;
    if (state_in_next(&in, &s) <= 0 || strcmp(s.id, "disks")) {
        r = state_in_fail(&in, "section 'disks' missing");
        goto out;
    }
    size_t mem_at = in.off;
    if (load_memory(&in, sc.cfg.mem_size, &chain))
        goto out;
    size_t rest_at = in.off;
    uint64_t size = sc.cfg.mem_size;
    ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
               -1, 0);
    if (ram == MAP_FAILED) {
        r = fail(err, -ENOMEM, "cannot allocate %llu MiB", (unsigned long long)(size >> 20));
        goto out;
    }
    struct gmem view = { .host = ram, .base = VIRT_RAM_BASE, .size = size };
    for (unsigned i = 0; i < chain.n; i++) {
        relocate(&chain.layer[i], state_path);
        int fd = snap_open_layer(&chain.layer[i], size, err, VM_ERR_LEN);
        if (fd < 0)
            goto out;
        if (i == 0) {
            r = gmem_map_file(&view, fd);
        } else {
            r = snap_apply_diff(&view, &chain.layer[i], fd);
        }
        close(fd);
        if (r) {
            r = fail(err, -EINVAL, "memory file %s: %s", chain.layer[i].path, strerror(-r));
            goto out;
        }
    }
    mfd = snap_tmp_create(out_mem, mtmp);
    uint64_t fp = 0;
    if (mfd < 0 || (r = snap_write_full(&view, mfd)) ||
        (r = snap_fingerprint_ram(ram, size, NULL, &fp))) {
        r = fail(err, -EINVAL, "%s: cannot write: %s", out_mem,
                 strerror(mfd < 0 ? -mfd : -r));
        goto out;
    }
    snap_seal(mfd, fp);
    struct vm_snap_chain full = { .n = 1 };
    full.layer[0] = (struct vm_snap_layer){ .path = mabs, .fingerprint = fp };
    state_out_header(&o);
    state_put_bytes(&o, buf + mach_at, disks_at - mach_at);
    state_put_bytes(&o, buf + disks_at, mem_at - disks_at);
    save_memory(&full, size, &o);
    state_put_bytes(&o, buf + rest_at, len - rest_at);
    sfd = snap_tmp_create(out_state, stmp);
    if ((r = state_out_status(&o)) || sfd < 0 || (r = snap_write_at(sfd, o.buf, o.len, 0))) {
        r = fail(err, -EINVAL, "%s: cannot write", out_state);
        goto out;
    }
    r = snap_tmp_commit(mfd, mtmp, out_mem);
    mfd = -1;
    mtmp[0] = 0;
    if (!r)
        r = snap_tmp_commit(sfd, stmp, out_state);
    sfd = -1;
    stmp[0] = 0;
    if (r)
        r = fail(err, -EINVAL, "cannot write the merged snapshot: %s", strerror(-r));
out:
    if (mfd >= 0)
        close(mfd);
    if (sfd >= 0)
        close(sfd);
    if (mtmp[0])
        unlink(mtmp);
    if (stmp[0])
        unlink(stmp);
    if (ram != MAP_FAILED)
        munmap(ram, sc.cfg.mem_size);
    vm_snap_chain_free(&chain);
    machine_saved_config_free(&sc);
    state_out_free(&o);
    free(buf);
    return r;
}

int vm_snapshot_parse(const uint8_t *buf, size_t len, char *err)
{
    struct state_in in;
    struct machine_saved_config sc;
    struct vm_snap_chain chain = { .n = 0 };
    int r = -EINVAL;
    memset(&sc, 0, sizeof(sc));
    if (state_in_open(&in, buf, len, "state", err, VM_ERR_LEN) || machine_config_load(&in, &sc) ||
        check_disks(&in, true, NULL, NULL) || load_memory(&in, sc.cfg.mem_size, &chain))
        goto out;
    r = 0;
out:
    vm_snap_chain_free(&chain);
    machine_saved_config_free(&sc);
    return r;
}
