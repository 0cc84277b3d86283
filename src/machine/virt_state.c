/* Saving and loading the virt board (virt.h, DESIGN.md "State"): the
 * configuration that rebuilds an identical machine in a fresh process,
 * then the clock, every hart and every device of the table, each as its
 * own section. Guest RAM is not here: it travels as pages (a memory file
 * for snapshots, a page stream for migration). */
#include "machine/virt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "cpu/riscv/hart.h"
#include "cpu/riscv/hart_state.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_input.h"
#include "net/mmds.h"
#include "devices/virtio_vsock.h"
#include "state/state.h"
#include "virtio/virtio_mmio.h"

#define MACHINE_CONFIG_VERSION 1
#define CLOCK_STATE_VERSION 1

/* ---- configuration: section "machine" ----
 * str vmm_version, u32 nharts, u64 ram_base, u64 ram_size, str mmu_type,
 * str firmware, kernel, initrd, cmdline, test_elf, u64 tohost,
 * u32 ndisks, per disk {u32 slot, str path, str format, u8 readonly,
 * str serial, u64 size_bytes}, u32 nnets, per NIC {u32 slot, u32 kind,
 * str tap_name (kind 2, VDE: the switch path), u32 nhostfwd, str hostfwd[], mac[6]}, u8 rng,
 * u32 ndevices, per device {str name, str kind}, then subsections. */
static void put_limit(struct state_out *o, const struct ratelimit_cfg *l)
{
    const struct ratelimit_bucket_cfg *b[2] = { &l->bw, &l->ops };
    for (int i = 0; i < 2; i++) {
        state_put_u64(o, b[i]->size);
        state_put_u64(o, b[i]->one_time_burst);
        state_put_u64(o, b[i]->refill_ms);
    }
}

static int get_limit(struct state_in *in, struct ratelimit_cfg *l)
{
    struct ratelimit_bucket_cfg *b[2] = { &l->bw, &l->ops };
    for (int i = 0; i < 2; i++) {
        b[i]->size = state_get_u64(in);
        b[i]->one_time_burst = state_get_u64(in);
        b[i]->refill_ms = state_get_u64(in);
        if (state_in_status(in))
            return -EINVAL;
        if (b[i]->size > RATELIMIT_MAX || b[i]->one_time_burst > RATELIMIT_MAX ||
            b[i]->refill_ms > RATELIMIT_MAX || (b[i]->size && !b[i]->refill_ms))
            return state_in_fail(in, "rate limiter out of range");
    }
    return 0;
}

static int limits_load(struct state_section *sub, struct machine_config *c)
{
    struct state_in *b = &sub->body;
    if (sub->version != 1)
        return state_in_fail(b, "version %u; this Corral reads 1", sub->version);
    uint32_t nd = state_get_u32(b);
    if (state_in_status(b))
        return -EINVAL;
    if (nd != c->ndisks)
        return state_in_fail(b, "limits for %u disks, the machine has %u", nd, c->ndisks);
    for (unsigned i = 0; i < nd; i++)
        if (get_limit(b, &c->disks[i].rate_limit))
            return -EINVAL;
    uint32_t nn = state_get_u32(b);
    if (state_in_status(b))
        return -EINVAL;
    if (nn != c->nnets)
        return state_in_fail(b, "limits for %u NICs, the machine has %u", nn, c->nnets);
    for (unsigned i = 0; i < nn; i++)
        if (get_limit(b, &c->nets[i].rx_limit) || get_limit(b, &c->nets[i].tx_limit))
            return -EINVAL;
    return state_in_finish(b);
}

void machine_config_save(const struct machine *m, const char *vmm_version,
                         struct state_out *o)
{
    const struct machine_config *c = &m->cfg;
    state_begin(o, "machine", MACHINE_CONFIG_VERSION, 0);
    state_put_str(o, vmm_version);
    state_put_u32(o, m->nharts);
    state_put_u64(o, m->bus.ram.base);
    state_put_u64(o, m->bus.ram.size);
    state_put_str(o, c->mmu_type);
    state_put_str(o, c->firmware);
    state_put_str(o, c->kernel);
    state_put_str(o, c->initrd);
    state_put_str(o, c->cmdline);
    state_put_str(o, c->test_elf);
    state_put_u64(o, m->tohost);
    state_put_u32(o, c->ndisks);
    for (unsigned i = 0; i < c->ndisks; i++) {
        state_put_u32(o, i);
        state_put_str(o, c->disks[i].path);
        state_put_str(o, c->disks[i].format);
        state_put_u8(o, c->disks[i].readonly);
        state_put_str(o, m->disk_serial[i]);
        state_put_u64(o, machine_disk_size(m, i));
    }
    state_put_u32(o, c->nnets);
    for (unsigned i = 0; i < c->nnets; i++) {
        const struct machine_net *n = &c->nets[i];
        state_put_u32(o, c->ndisks + i);
        state_put_u32(o, n->kind);
        state_put_str(o, n->kind == MACHINE_NET_VDE ? n->vde_path : n->tap_name);
        state_put_u32(o, n->nhostfwd);
        for (unsigned k = 0; k < n->nhostfwd; k++)
            state_put_str(o, n->hostfwd[k]);
        uint8_t mac[6];
        machine_nic_mac(m, i, mac);
        state_put_bytes(o, mac, 6);
    }
    state_put_u8(o, c->rng);
    state_put_u32(o, m->ndevices);
    for (unsigned i = 0; i < m->ndevices; i++) {
        state_put_str(o, m->devices[i].name);
        state_put_str(o, m->devices[i].ops->kind);
    }
    /* Subsection "limits" (mandatory), when a rate limiter is set: u32
     * ndisks, per disk one limiter; u32 nnets, per NIC rx then tx; a
     * limiter is bw then ops, each {u64 size, one_time_burst, refill_ms}. */
    bool limited = false;
    for (unsigned i = 0; i < c->ndisks; i++)
        limited |= ratelimit_cfg_active(&c->disks[i].rate_limit);
    for (unsigned i = 0; i < c->nnets; i++)
        limited |= ratelimit_cfg_active(&c->nets[i].rx_limit) ||
                   ratelimit_cfg_active(&c->nets[i].tx_limit);
    if (limited) {
        state_begin(o, "limits", 1, 0);
        state_put_u32(o, c->ndisks);
        for (unsigned i = 0; i < c->ndisks; i++)
            put_limit(o, &c->disks[i].rate_limit);
        state_put_u32(o, c->nnets);
        for (unsigned i = 0; i < c->nnets; i++) {
            put_limit(o, &c->nets[i].rx_limit);
            put_limit(o, &c->nets[i].tx_limit);
        }
        state_end(o);
    }
    /* Subsection "balloon" (mandatory: an older reader cannot build this
     * board): u8 deflate_on_oom, u8 free_page_reporting, u64 target_mib
     * (the current one), u32 stats_interval_s. */
    if (c->balloon && m->balloon) {
        struct virtio_balloon_stats st;
        virtio_balloon_get_stats(m->balloon, &st);
        state_begin(o, "balloon", 1, 0);
        state_put_u8(o, c->balloon_deflate_on_oom);
        state_put_u8(o, c->balloon_reporting);
        state_put_u64(o, (uint64_t)st.target_pages >> (20 - VIRTIO_BALLOON_PFN_SHIFT));
        state_put_u32(o, virtio_balloon_stats_interval(m->balloon));
        state_end(o);
    }
    /* Subsection "nic-bridges" (optional: an older reader builds the same
     * board and leaves its TAPs off any bridge): u32 nnets, per NIC str
     * bridge (null: none), the bridge a destination puts its TAP on. */
    bool bridged = false;
    for (unsigned i = 0; i < c->nnets; i++)
        bridged |= c->nets[i].kind == MACHINE_NET_TAP && c->nets[i].bridge;
    if (bridged) {
        state_begin(o, "nic-bridges", 1, STATE_F_OPTIONAL);
        state_put_u32(o, c->nnets);
        for (unsigned i = 0; i < c->nnets; i++)
            state_put_str(o, c->nets[i].kind == MACHINE_NET_TAP ? c->nets[i].bridge : NULL);
        state_end(o);
    }
    /* Subsection "mmds" (optional: an older reader builds the same board
     * and answers no MMDS): u32 version, u32 ipv4, u8 imds_compat, u32
     * nnets, per NIC u8 answers MMDS. The store itself is not kept. */
    struct mmds *store = NULL;
    for (unsigned i = 0; i < c->nnets && !store; i++)
        store = c->nets[i].mmds;
    if (store) {
        state_begin(o, "mmds", 1, STATE_F_OPTIONAL);
        state_put_u32(o, (uint32_t)mmds_version(store));
        state_put_u32(o, mmds_ipv4(store));
        state_put_u8(o, mmds_imds_compat(store));
        state_put_u32(o, c->nnets);
        for (unsigned i = 0; i < c->nnets; i++)
            state_put_u8(o, c->nets[i].mmds != NULL);
        state_end(o);
    }
    /* Subsection "device-ids" (optional: an older reader names them by
     * slot): u32 ndisks, per disk str id; u32 nnets, per NIC str id (null:
     * none). The names the API and the overrides of a restore use. */
    bool named = false;
    for (unsigned i = 0; i < c->ndisks; i++)
        named |= c->disks[i].id != NULL;
    for (unsigned i = 0; i < c->nnets; i++)
        named |= c->nets[i].id != NULL;
    if (named) {
        state_begin(o, "device-ids", 1, STATE_F_OPTIONAL);
        state_put_u32(o, c->ndisks);
        for (unsigned i = 0; i < c->ndisks; i++)
            state_put_str(o, c->disks[i].id);
        state_put_u32(o, c->nnets);
        for (unsigned i = 0; i < c->nnets; i++)
            state_put_str(o, c->nets[i].id);
        state_end(o);
    }
    /* Subsection "vsock" (mandatory): u64 guest_cid, str uds_path. */
    if (c->vsock_cid) {
        state_begin(o, "vsock", 1, 0);
        state_put_u64(o, c->vsock_cid);
        state_put_str(o, c->vsock_uds);
        state_end(o);
    }
    state_end(o);
}

static int balloon_config_load(struct state_section *sub, struct machine_config *c)
{
    struct state_in *b = &sub->body;
    if (sub->version != 1)
        return state_in_fail(b, "version %u; this Corral reads 1", sub->version);
    c->balloon = true;
    c->balloon_deflate_on_oom = state_get_u8(b) != 0;
    c->balloon_reporting = state_get_u8(b) != 0;
    c->balloon_mib = state_get_u64(b);
    c->balloon_stats_s = state_get_u32(b);
    if (state_in_status(b))
        return -EINVAL;
    if (c->balloon_mib > c->mem_size >> 20)
        return state_in_fail(b, "target %llu MiB is more than the RAM",
                             (unsigned long long)c->balloon_mib);
    return state_in_finish(b);
}

static const char *keep(struct machine_saved_config *sc, struct state_in *in, bool nullable);

static int vsock_config_load(struct state_section *sub, struct machine_saved_config *sc)
{
    struct state_in *b = &sub->body;
    if (sub->version != 1)
        return state_in_fail(b, "version %u; this Corral reads 1", sub->version);
    sc->cfg.vsock_cid = state_get_u64(b);
    sc->cfg.vsock_uds = keep(sc, b, false);
    if (state_in_status(b))
        return -EINVAL;
    if (sc->cfg.vsock_cid < VSOCK_MIN_GUEST_CID || sc->cfg.vsock_cid > VSOCK_MAX_GUEST_CID)
        return state_in_fail(b, "guest_cid %llu out of range",
                             (unsigned long long)sc->cfg.vsock_cid);
    if (!sc->cfg.vsock_uds[0] || strlen(sc->cfg.vsock_uds) > VSOCK_UDS_MAX)
        return state_in_fail(b, "uds_path of %zu bytes", strlen(sc->cfg.vsock_uds));
    return state_in_finish(b);
}

static int mmds_config_load(struct state_section *sub, struct machine_saved_config *sc)
{
    struct state_in *b = &sub->body;
    struct machine_saved_mmds *m = &sc->mmds;
    if (sub->version != 1)
        return state_in_fail(b, "version %u; this Corral reads 1", sub->version);
    m->version = state_get_u32(b);
    m->ipv4 = state_get_u32(b);
    uint8_t compat = state_get_u8(b);
    uint32_t nn = state_get_u32(b);
    if (state_in_status(b))
        return -EINVAL;
    if (m->version != MMDS_V1 && m->version != MMDS_V2)
        return state_in_fail(b, "MMDS version %u", m->version);
    if ((m->ipv4 >> 16) != 0xa9fe || compat > 1)
        return state_in_fail(b, "MMDS address %08x or imds_compat %u", m->ipv4, compat);
    if (nn != sc->cfg.nnets)
        return state_in_fail(b, "MMDS for %u NICs, the machine has %u", nn, sc->cfg.nnets);
    m->imds_compat = compat;
    for (unsigned i = 0; i < nn; i++) {
        uint8_t on = state_get_u8(b);
        if (on > 1)
            return state_in_fail(b, "NIC %u: MMDS flag %u", i, on);
        m->on_nic[i] = on;
        m->present |= on;
    }
    return state_in_status(b) ? -EINVAL : state_in_finish(b);
}

/* The devices' names; their characters are the VMM's to check (an id it
 * would not accept is refused when the restore builds its config). */
static int device_ids_load(struct state_section *sub, struct machine_saved_config *sc)
{
    struct state_in *b = &sub->body;
    struct machine_config *c = &sc->cfg;
    if (sub->version != 1)
        return state_in_fail(b, "version %u; this Corral reads 1", sub->version);
    uint32_t nd = state_get_u32(b);
    if (!state_in_status(b) && nd != c->ndisks)
        return state_in_fail(b, "ids for %u disks, the machine has %u", nd, c->ndisks);
    for (unsigned i = 0; i < c->ndisks && !state_in_status(b); i++)
        c->disks[i].id = keep(sc, b, true);
    uint32_t nn = state_get_u32(b);
    if (!state_in_status(b) && nn != c->nnets)
        return state_in_fail(b, "ids for %u NICs, the machine has %u", nn, c->nnets);
    for (unsigned i = 0; i < c->nnets && !state_in_status(b); i++)
        c->nets[i].id = keep(sc, b, true);
    return state_in_status(b) ? -EINVAL : state_in_finish(b);
}

/* Which bridge each saved TAP was on (written only when one was). */
static int bridges_load(struct state_section *sub, struct machine_saved_config *sc)
{
    struct state_in *b = &sub->body;
    struct machine_config *c = &sc->cfg;
    if (sub->version != 1)
        return state_in_fail(b, "version %u; this Corral reads 1", sub->version);
    uint32_t nn = state_get_u32(b);
    if (state_in_status(b))
        return -EINVAL;
    if (nn != c->nnets)
        return state_in_fail(b, "bridges for %u NICs, the machine has %u", nn, c->nnets);
    for (unsigned i = 0; i < nn; i++) {
        const char *br = keep(sc, b, true);
        if (state_in_status(b))
            return -EINVAL;
        if (br && (c->nets[i].kind != MACHINE_NET_TAP || !*br || strlen(br) >= 16))
            return state_in_fail(b, "NIC %u: bridge '%.20s' (not a TAP, or a bad name)", i, br);
        c->nets[i].bridge = br;
    }
    return state_in_finish(b);
}

/* A decoded string kept alive in the saved config's arena. */
static const char *keep(struct machine_saved_config *sc, struct state_in *in, bool nullable)
{
    char buf[4096];
    bool was_null;
    state_get_str(in, buf, sizeof(buf), &was_null);
    if (state_in_status(in) || (was_null && nullable))
        return NULL;
    if (sc->nstrs >= MACHINE_SAVED_STRS) {
        state_in_fail(in, "too many strings");
        return NULL;
    }
    char *s = strdup(buf);
    if (!s) {
        state_in_fail(in, "out of memory");
        return NULL;
    }
    sc->strs[sc->nstrs++] = s;
    return s;
}

void machine_saved_config_free(struct machine_saved_config *sc)
{
    for (unsigned i = 0; i < sc->nstrs; i++)
        free(sc->strs[i]);
    memset(sc, 0, sizeof(*sc));
}

int machine_config_load(struct state_in *in, struct machine_saved_config *sc)
{
    struct state_section s;
    memset(sc, 0, sizeof(*sc));
    if (state_in_expect(in, "machine", MACHINE_CONFIG_VERSION, &s))
        return -EINVAL;
    struct state_in *b = &s.body;
    struct machine_config *c = &sc->cfg;
    sc->vmm_version = keep(sc, b, true);
    c->ncpus = state_get_u32(b);
    uint64_t ram_base = state_get_u64(b);
    c->mem_size = state_get_u64(b);
    c->mmu_type = keep(sc, b, true);
    c->firmware = keep(sc, b, true);
    c->kernel = keep(sc, b, true);
    c->initrd = keep(sc, b, true);
    c->cmdline = keep(sc, b, true);
    c->test_elf = keep(sc, b, true);
    sc->tohost = state_get_u64(b);
    if (state_in_status(b))
        return -EINVAL;
    if (ram_base != VIRT_RAM_BASE)
        return state_in_fail(b, "RAM at 0x%llx; this board has it at 0x%llx",
                             (unsigned long long)ram_base, (unsigned long long)VIRT_RAM_BASE);
    if (c->ncpus < 1 || c->ncpus > VIRT_MAX_HARTS)
        return state_in_fail(b, "%u harts; this board has 1..%d", c->ncpus, VIRT_MAX_HARTS);
    c->ndisks = state_get_u32(b);
    if (c->ndisks > MACHINE_MAX_DISKS)
        return state_in_fail(b, "%u disks; at most %d", c->ndisks, MACHINE_MAX_DISKS);
    for (unsigned i = 0; i < c->ndisks; i++) {
        struct machine_disk *d = &c->disks[i];
        if (state_get_u32(b) != i)
            return state_in_fail(b, "disk %u: bad slot", i);
        d->path = keep(sc, b, false);
        d->format = keep(sc, b, true);
        d->readonly = state_get_u8(b) != 0;
        d->serial = keep(sc, b, true);
        sc->disk_size[i] = state_get_u64(b);
    }
    c->nnets = state_get_u32(b);
    if (c->nnets > MACHINE_MAX_NICS)
        return state_in_fail(b, "%u NICs; at most %d", c->nnets, MACHINE_MAX_NICS);
    for (unsigned i = 0; i < c->nnets; i++) {
        struct machine_net *n = &c->nets[i];
        if (state_get_u32(b) != c->ndisks + i)
            return state_in_fail(b, "NIC %u: bad slot", i);
        uint32_t kind = state_get_u32(b);
        if (kind != MACHINE_NET_USER && kind != MACHINE_NET_TAP && kind != MACHINE_NET_VDE)
            return state_in_fail(b, "NIC %u: unknown kind %u", i, kind);
        n->kind = kind;
        /* The host end: a TAP's name or a VDE switch's path. */
        if (kind == MACHINE_NET_VDE) {
            n->vde_path = keep(sc, b, true);
            if (!n->vde_path && !state_in_status(b))
                return state_in_fail(b, "NIC %u: a VDE port with no switch path", i);
            if (n->vde_path && strlen(n->vde_path) > MACHINE_VDE_PATH_MAX)
                return state_in_fail(b, "NIC %u: a VDE switch path of %zu bytes", i,
                                     strlen(n->vde_path));
        } else {
            n->tap_name = keep(sc, b, true);
        }
        n->nhostfwd = state_get_u32(b);
        if (n->nhostfwd > MACHINE_MAX_HOSTFWD)
            return state_in_fail(b, "NIC %u: %u port forwards", i, n->nhostfwd);
        for (unsigned k = 0; k < n->nhostfwd; k++)
            n->hostfwd[k] = keep(sc, b, false);
        state_get_bytes(b, n->mac, 6);
        n->mac_set = true;
    }
    c->rng = state_get_u8(b) != 0;
    sc->ndevices = state_get_u32(b);
    if (sc->ndevices > MACHINE_MAX_DEVICES)
        return state_in_fail(b, "%u devices", sc->ndevices);
    for (unsigned i = 0; i < sc->ndevices; i++) {
        char name[24], kind[24];
        state_get_str(b, name, sizeof(name), NULL);
        state_get_str(b, kind, sizeof(kind), NULL);
        memcpy(sc->device_names[i], name, sizeof(name));
    }
    if (state_in_status(b))
        return -EINVAL;
    if (c->kernel && !c->kernel[0])
        return state_in_fail(b, "empty kernel path");
    struct state_section sub;
    int got;
    while ((got = state_in_next(b, &sub)) > 0) {
        if (!strcmp(sub.id, "balloon")) {
            if (balloon_config_load(&sub, c))
                return -EINVAL;
        } else if (!strcmp(sub.id, "vsock")) {
            if (vsock_config_load(&sub, sc))
                return -EINVAL;
        } else if (!strcmp(sub.id, "limits")) {
            if (limits_load(&sub, c))
                return -EINVAL;
        } else if (!strcmp(sub.id, "nic-bridges")) {
            if (bridges_load(&sub, sc))
                return -EINVAL;
        } else if (!strcmp(sub.id, "device-ids")) {
            if (device_ids_load(&sub, sc))
                return -EINVAL;
        } else if (!strcmp(sub.id, "mmds")) {
            if (mmds_config_load(&sub, sc))
                return -EINVAL;
        } else if (!(sub.flags & STATE_F_OPTIONAL)) {
            return state_in_fail(&sub.body, "unknown mandatory subsection");
        }
    }
    return got < 0 ? got : state_in_status(b);
}

/* ---- clock, harts, devices ---- */
void machine_save_state(struct machine *m, struct state_out *o)
{
    state_begin(o, "clock", CLOCK_STATE_VERSION, 0);
    state_put_u64(o, vclock_ticks(&m->clock));
    state_end(o);
    for (unsigned i = 0; i < m->nharts; i++) {
        char id[16];
        snprintf(id, sizeof(id), "hart.%u", i);
        state_begin(o, id, HART_STATE_VERSION, 0);
        hart_save_state(m->harts[i], o);
        state_end(o);
    }
    for (unsigned i = 0; i < m->ndevices; i++) {
        const struct machine_device *d = &m->devices[i];
        state_begin(o, d->name, d->ops->state_version, 0);
        d->ops->save(d->dev, o);
        state_end(o);
    }
}

/* A state saved before the board had a power button has no section for
 * it (the next one is the CLINT's): the button then stays as reset, and
 * the restored guest, which never probed it, is shut down by SysRq. */
static bool power_button_absent(struct machine *m, const struct machine_device *d,
                                struct state_in *in)
{
    if (!m->power_button || d->dev != virtio_input_dev(m->power_button))
        return false;
    size_t at = in->off;
    struct state_section s;
    int r = state_in_next(in, &s);
    in->off = at;
    return r > 0 && strcmp(s.id, d->name) != 0;
}

int machine_load_state(struct machine *m, struct state_in *in)
{
    struct state_section s;
    if (state_in_expect(in, "clock", CLOCK_STATE_VERSION, &s))
        return -EINVAL;
    uint64_t ticks = state_get_u64(&s.body);
    if (state_in_finish(&s.body))
        return -EINVAL;
    if (ticks > VCLOCK_MAX_TICKS)
        return state_in_fail(&s.body, "time %llu ticks is out of range",
                             (unsigned long long)ticks);
    /* The guest's clock continues from where it was saved: no jump
     * forward (a storm of expired timers) and never backwards. */
    vclock_pause(&m->clock);
    vclock_set(&m->clock, ticks);
    for (unsigned i = 0; i < m->nharts; i++) {
        char id[16];
        snprintf(id, sizeof(id), "hart.%u", i);
        if (state_in_expect(in, id, HART_STATE_VERSION, &s) ||
            hart_load_state(m->harts[i], &s.body, s.version) || state_in_finish(&s.body))
            return -EINVAL;
    }
    for (unsigned i = 0; i < m->ndevices; i++) {
        const struct machine_device *d = &m->devices[i];
        if (power_button_absent(m, d, in))
            continue;
        if (state_in_expect(in, d->name, d->ops->state_version, &s) ||
            d->ops->load(d->dev, &s.body, s.version) || state_in_finish(&s.body))
            return -EINVAL;
    }
    return state_in_status(in);
}
