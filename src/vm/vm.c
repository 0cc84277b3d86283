/* The VM lifecycle (see vm.h): actions under one lock, each checked
 * against the state machine, and the main loop that turns how the guest
 * stopped into an exit status. */
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vclock.h"
#include "virtio/virtio_mmio.h"
#include "devices/uart16550.h"
#include "devices/virtio_balloon.h"
#include "vm/cgroup.h"

#define NS_PER_MS 1000000LL
#define SHUTDOWN_STEP_MS 200    /* at least this between the SysRq keys */
#define SHUTDOWN_SETTLE_MS 700  /* and this long with no virtio request done */
#define SHUTDOWN_KEY_MAX_MS 4000 /* but no longer than this per key */
#define SHUTDOWN_BUTTON 1       /* vm->shutdown_step: press the power button next */
#define SHUTDOWN_SYSRQ 2        /* ... SysRq s next (u, o: 3, 4) */

static void kick(struct vm *vm)
{
    uint64_t one = 1;
    if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
        /* counter saturated: the loop is awake anyway */
    }
}

#define CON_RING_BYTES (1u << 20)
#define CON_FLUSH_STALL_MS 1000

/* Hart thread: never writes to the host, only into the ring. */
void vm_console_sink(void *opaque, const uint8_t *buf, size_t len)
{
    struct vm *vm = opaque;
    atomic_fetch_add_explicit(&vm->con_tx_bytes, len, memory_order_relaxed);
    if (vm->con_thread_started)
        ring_put(&vm->con_out, buf, len);
}

/* The console writer: the one thread that may block on the reader. */
static void *console_thread(void *opaque)
{
    struct vm *vm = opaque;
    uint8_t chunk[4096];
    for (;;) {
        size_t n = ring_get(&vm->con_out, chunk, sizeof(chunk), -1);
        if (!n)
            return NULL; /* closed and empty */
        vm->con.write(vm->con.opaque, chunk, n);
        ring_done(&vm->con_out, n);
    }
}

static int console_start(struct vm *vm)
{
    if (!vm->con.write)
        return 0;
    int r = ring_init(&vm->con_out, CON_RING_BYTES);
    if (r)
        return r;
    r = -pthread_create(&vm->con_thread, NULL, console_thread, vm);
    if (r) {
        ring_destroy(&vm->con_out);
        return r;
    }
    pthread_setname_np(vm->con_thread, "console");
    vm->con_thread_started = true;
    return 0;
}

/* Returns false when the writer is stuck in a write that never returns:
 * it then keeps the ring (and the vm) for the rest of the process. */
static bool console_stop(struct vm *vm)
{
    if (!vm->con_thread_started)
        return true;
    bool drained = ring_flush(&vm->con_out, CON_FLUSH_STALL_MS) == 0;
    ring_close(&vm->con_out);
    if (!drained) {
        pthread_detach(vm->con_thread);
        return false;
    }
    pthread_join(vm->con_thread, NULL);
    ring_destroy(&vm->con_out);
    vm->con_thread_started = false;
    return true;
}

uint64_t vm_console_dropped(struct vm *vm)
{
    return vm->con_thread_started ? ring_dropped(&vm->con_out) : 0;
}

int vm_create(struct vm **out, const char *id, const struct vm_console_ops *con)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->wake_fd < 0) {
        int e = errno;
        free(vm);
        return -e;
    }
    pthread_mutex_init(&vm->lock, NULL);
    pthread_mutex_init(&vm->mig_lock, NULL);
    snprintf(vm->mig.status, sizeof(vm->mig.status), "none");
    vmcfg_init(&vm->cfg);
    snprintf(vm->id, sizeof(vm->id), "%s", id ? id : VM_ANONYMOUS_ID);
    if (con)
        vm->con = *con;
    else
        vm->con.in_fd = -1;
    int r = console_start(vm);
    if (r) {
        close(vm->wake_fd);
        pthread_mutex_destroy(&vm->lock);
        vmcfg_free(&vm->cfg);
        free(vm);
        return r;
    }
    vm->state = VM_NOT_STARTED;
    *out = vm;
    return 0;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    if (vm->mig_thread_live) {
        atomic_store(&vm->mig_cancel, 1);
        pthread_join(vm->mig_thread, NULL);
    }
    vm_migrate_incoming_end(vm);
    machine_destroy(vm->m);
    vm_snap_chain_free(&vm->snap_chain);
    vm->m = NULL;
    vm_cgroup_leave(vm->cgroup);
    vmcfg_free(&vm->cfg);
    for (unsigned i = 0; i < vm->nnet_overrides; i++)
        free(vm->net_overrides[i].value);
    for (unsigned i = 0; i < vm->ndisk_overrides; i++)
        free(vm->disk_overrides[i].value);
    for (unsigned i = 0; i < vm->ncreated_disks; i++)
        free(vm->created_disks[i]);
    vm->nnet_overrides = vm->ndisk_overrides = vm->ncreated_disks = 0;
    close(vm->wake_fd);
    vm->wake_fd = -1;
    if (!console_stop(vm))
        return; /* the writer still uses vm->con and the ring */
    pthread_mutex_destroy(&vm->lock);
    free(vm);
}

/* Check an event against the state machine; on success *to is the next
 * state. Lock held. */
static int check_locked(struct vm *vm, enum vm_event ev, enum vm_state *to, char *err)
{
    const char *why;
    enum vm_state next;
    if (vm_state_next(vm->state, ev, &next, &why)) {
        snprintf(err, VM_ERR_LEN, "%s refused: %s (state: %s)", vm_event_name(ev), why,
                 vm_state_name(vm->state));
        return -EINVAL;
    }
    if (vm->migrating && ev != VM_EV_STOPPED) {
        snprintf(err, VM_ERR_LEN, "%s refused: a migration is in progress (PUT /migrate/cancel "
                 "first)", vm_event_name(ev));
        return -EINVAL;
    }
    if (vm->snapshotting && ev != VM_EV_STOPPED) {
        snprintf(err, VM_ERR_LEN, "%s refused: a snapshot is being written", vm_event_name(ev));
        return -EINVAL;
    }
    /* A stop already under way (guest poweroff, reboot, quit): the board
     * is between states; only the main loop may act now. */
    if (vm->m && atomic_load(&vm->m->stop) != MACHINE_RUNNING && ev != VM_EV_STOPPED) {
        snprintf(err, VM_ERR_LEN, "%s refused: the VM is stopping or rebooting",
                 vm_event_name(ev));
        return -EINVAL;
    }
    if (to)
        *to = next;
    return 0;
}

int vm_configure(struct vm *vm, enum vm_resource res, const char *id, const json_t *body,
                 char *err)
{
    int r;
    pthread_mutex_lock(&vm->lock);
    r = check_locked(vm, VM_EV_CONFIGURE, NULL, err);
    if (!r) {
        switch (res) {
        case VM_RES_BOOT_SOURCE: r = vmcfg_put_boot_source(&vm->cfg, body, err); break;
        case VM_RES_MACHINE_CONFIG: r = vmcfg_put_machine_config(&vm->cfg, body, err); break;
        case VM_RES_DRIVE: r = vmcfg_put_drive(&vm->cfg, id, body, err); break;
        case VM_RES_NET: r = vmcfg_put_net(&vm->cfg, id, body, err); break;
        default:
            snprintf(err, VM_ERR_LEN, "unknown resource");
            r = -EINVAL;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

/* The VMM's own memory beyond guest RAM (translation cache, device
 * buffers, libslirp), as measured on a booted guest (about 40 MiB), with
 * room to spare. */
#define VMM_OVERHEAD_MIB 64

/* A memory limit below guest RAM plus the VMM's own share would let the
 * kernel OOM-kill the VM in the middle of its run: refuse it at start. A
 * balloon does not change that: the guest touches memory while it boots,
 * before its driver inflates anything, and a guest may touch ballooned
 * pages again whenever it likes. */
static int check_memory_limit(const struct vm_config *c, char *err)
{
    uint64_t need = c->mem_mib + VMM_OVERHEAD_MIB;
    if (!c->memory_limit_mib || c->memory_limit_mib >= need)
        return 0;
    snprintf(err, VM_ERR_LEN, "memory limit %llu MiB is below the %llu MiB this VM needs "
             "(%llu MiB of guest RAM plus %d MiB for the VMM): the kernel would OOM-kill it "
             "when the guest uses its memory", (unsigned long long)c->memory_limit_mib,
             (unsigned long long)need, (unsigned long long)c->mem_mib, VMM_OVERHEAD_MIB);
    return -EINVAL;
}

int vm_start(struct vm *vm, char *err)
{
    struct machine_config mc;
    enum vm_state next;
    int r;
    pthread_mutex_lock(&vm->lock);
    if ((r = check_locked(vm, VM_EV_START, &next, err)) ||
        (r = check_memory_limit(&vm->cfg, err)) || (r = vmcfg_to_machine(&vm->cfg, &mc, err)))
        goto out;
    mc.console_write = vm_console_sink;
    mc.console_opaque = vm;
    struct vm_cgroup_limits lim = {
        .cpu_quota_pct = vm->cfg.cpu_quota_pct, .cpu_weight = vm->cfg.cpu_weight,
        .memory_limit = vm->cfg.memory_limit_mib << 20,
    };
    /* Quotas before the guest RAM and the hart threads exist. */
    if (!vm->cgroup && (r = vm_cgroup_enter(&lim, &vm->cgroup, err, VM_ERR_LEN)))
        goto out;
    struct machine *m;
    /* A missing image or disk is the caller's to fix (400), memory is not. */
    if ((r = machine_create(&m, &mc, err))) {
        if (r != -ENOMEM)
            r = -EINVAL;
        goto out;
    }
    if ((r = machine_load(m, err))) {
        machine_destroy(m);
        r = -EINVAL; /* a bad image or one that does not fit: the caller's */
        goto out;
    }
    /* Always on: it costs a bit set per store-TLB fill, and makes every
     * snapshot after the first one able to be a Diff. */
    gmem_dirty_log_start(&m->bus.ram);
    if (!vm->cfg.test_elf && vm->con.raw)
        vm->con.raw();
    if ((r = machine_start(m))) {
        if (vm->con.restore)
            vm->con.restore();
        snprintf(err, VM_ERR_LEN, "cannot start hart threads: %s", strerror(-r));
        machine_destroy(m);
        goto out;
    }
    vm->m = m;
    vm->state = next;
    vm->started_ns = vclock_host_now_ns();
    kick(vm);
out:
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_pause(struct vm *vm, char *err)
{
    enum vm_state next;
    pthread_mutex_lock(&vm->lock);
    int r = check_locked(vm, VM_EV_PAUSE, &next, err);
    if (!r && vm->shutdown_step) {
        snprintf(err, VM_ERR_LEN, "pause refused: a Shutdown is in progress");
        r = -EINVAL;
    }
    if (!r) {
        machine_pause(vm->m);
        vm->state = next;
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_resume(struct vm *vm, char *err)
{
    enum vm_state next;
    pthread_mutex_lock(&vm->lock);
    int r = check_locked(vm, VM_EV_RESUME, &next, err);
    if (!r) {
        machine_resume(vm->m);
        vm->state = next;
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_shutdown(struct vm *vm, char *err)
{
    enum vm_state next;
    pthread_mutex_lock(&vm->lock);
    int r = check_locked(vm, VM_EV_SHUTDOWN, &next, err);
    if (!r) {
        if (!vm->m) {
            vm->quit_requested = true;
            vm->exit_status = 0;
        } else {
            if (vm->state == VM_PAUSED)
                machine_resume(vm->m);
            if (!vm->shutdown_step) {
                int64_t now = vclock_host_now_ns();
                vm->shutdown_step = SHUTDOWN_BUTTON; /* shutdown_tick_locked */
                vm->shutdown_next_ns = now;
                vm->shutdown_deadline_ns = now + 2 * VM_SHUTDOWN_TIMEOUT_MS * NS_PER_MS;
            }
        }
        vm->state = next;
        kick(vm);
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_reset(struct vm *vm, char *err)
{
    enum vm_state next;
    pthread_mutex_lock(&vm->lock);
    int r = check_locked(vm, VM_EV_RESET, &next, err);
    if (!r && vm->shutdown_step) {
        /* A reset would cancel it without a word: the user asked for the
         * guest to power off, and that goes on. */
        snprintf(err, VM_ERR_LEN, "reset refused: a Shutdown is in progress (the guest is "
                 "powering off)");
        r = -EINVAL;
    }
    if (!r) {
        /* Stop first, then lift the pause: parked harts leave without
         * running another instruction; the main loop reboots the board. */
        machine_request_stop(vm->m, MACHINE_RESET, 0);
        machine_resume(vm->m);
        vm->state = next;
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

enum vm_state vm_get_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

json_t *vm_info_json(struct vm *vm)
{
    /* Under the lock: a migrated VM takes its name (id) from the stream. */
    pthread_mutex_lock(&vm->lock);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "id", vm->id, "state",
                          vm_state_name(vm->state), "vmm_version", VM_VERSION, "app_name",
                          "corral");
    pthread_mutex_unlock(&vm->lock);
    return j;
}

json_t *vm_config_json(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    json_t *j = vmcfg_to_json(&vm->cfg);
    pthread_mutex_unlock(&vm->lock);
    return j;
}

json_t *vm_machine_config_json(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    json_t *j = vmcfg_machine_config_json(&vm->cfg);
    pthread_mutex_unlock(&vm->lock);
    return j;
}

/* Write via a fresh temporary next to `path` (mkstemp: O_EXCL, so a
 * symlink planted under a predictable name is never followed), fsync,
 * rename over `path`. */
static int write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = 0;
    const uint8_t *p = data;
    size_t done = 0;
    while (!r && done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else
            done += (size_t)n;
    }
    /* mkstemp makes it 0600; a device tree is not secret. */
    if (!r && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
        r = -errno;
    if (close(fd) < 0 && !r)
        r = -errno;
    if (!r && rename(tmp, path) < 0)
        r = -errno;
    if (r)
        unlink(tmp);
    return r;
}

int vm_dump_dtb(struct vm *vm, const char *path, char *err)
{
    struct machine_config mc;
    struct machine *m;
    int r;
    if ((r = vmcfg_to_machine(&vm->cfg, &mc, err)) || (r = machine_create(&m, &mc, err)))
        return r;
    if ((r = machine_load(m, err))) {
        machine_destroy(m);
        return r;
    }
    const void *fdt = gmem_ptr(&m->bus.ram, m->fdt_addr, 64);
    r = -EFAULT;
    if (fdt)
        r = write_file_atomic(path, fdt, fdt_totalsize(fdt));
    machine_destroy(m);
    if (r)
        snprintf(err, VM_ERR_LEN, "--dump-dtb %s: %s", path, strerror(-r));
    return r;
}

/* ---- the main loop ---- */

/* Requests completed by every virtio device so far (relaxed reads). */
static uint64_t virtio_requests(struct machine *m)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < m->nvirtio; i++)
        for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
            n += atomic_load_explicit(&m->virtio[i]->vq[q].stats.requests,
                                      memory_order_relaxed);
    return n;
}

/* Shutdown progress, as on a real machine: first the power button
 * (virtio-input KEY_POWER; the guest's acpid or systemd-logind shuts it
 * down cleanly). A guest that has no driver for the button, or is still
 * running VM_SHUTDOWN_TIMEOUT_MS after the press, gets the emergency
 * path: SysRq s (sync), u (remount read-only), o (power off). SysRq s and
 * u only queue work in the guest, so the next key waits until the disks
 * have been quiet for SHUTDOWN_SETTLE_MS: sending 'o' while the sync
 * still writes loses the data a guest poweroff keeps. If the guest is
 * still running VM_SHUTDOWN_TIMEOUT_MS after SysRq began, it is stopped.
 * vm->shutdown_step: 0 none, 1 press the button next, 2..4 SysRq s, u, o
 * sent next (from shutdown_next_ns), 5 all sent.
 * Lock held. Returns ms until it needs to run again (or INT_MAX). */
static int shutdown_tick_locked(struct vm *vm)
{
    static const char keys[] = { 's', 'u', 'o' };
    const int nkeys = (int)sizeof(keys);
    if (!vm->shutdown_step)
        return INT_MAX;
    int64_t now = vclock_host_now_ns();
    if (vm->shutdown_step == SHUTDOWN_BUTTON) {
        int r = machine_press_power_button(vm->m);
        vm->shutdown_step = SHUTDOWN_SYSRQ;
        vm->shutdown_next_ns = now;
        if (r == -ENODEV) {
            log_info("Shutdown: no driver for the power button in the guest; "
                     "emergency sync and power off (SysRq)");
        } else {
            log_info("Shutdown: power button pressed; SysRq in %d ms if the guest is "
                     "still running", VM_SHUTDOWN_TIMEOUT_MS);
            vm->shutdown_next_ns = now + VM_SHUTDOWN_TIMEOUT_MS * NS_PER_MS;
        }
        vm->shutdown_key_ns = vm->shutdown_next_ns;
        vm->shutdown_deadline_ns = vm->shutdown_next_ns + VM_SHUTDOWN_TIMEOUT_MS * NS_PER_MS;
    }
    if (now >= vm->shutdown_deadline_ns) {
        log_warn("the guest did not power off (power button, then SysRq); stopping it");
        vm->shutdown_step = 0;
        machine_request_stop(vm->m, MACHINE_QUIT, 0);
        return 0;
    }
    int key = vm->shutdown_step - SHUTDOWN_SYSRQ; /* index into keys[] */
    int64_t due = vm->shutdown_next_ns;
    bool watching = false;
    if (key > 0 && key < nkeys) {
        uint64_t io = virtio_requests(vm->m);
        if (io != vm->shutdown_io_seen) {
            vm->shutdown_io_seen = io;
            vm->shutdown_io_since_ns = now;
        }
        /* A guest starved of host CPU may not even have read the last key:
         * its work has not begun, so the quiet wait counts from when it has
         * (still within SHUTDOWN_KEY_MAX_MS of sending it). */
        if (uart_rx_space(vm->m->uart) < UART_FIFO_SIZE)
            vm->shutdown_io_since_ns = now;
        int64_t quiet = vm->shutdown_io_since_ns + SHUTDOWN_SETTLE_MS * NS_PER_MS;
        int64_t cap = vm->shutdown_key_ns + SHUTDOWN_KEY_MAX_MS * NS_PER_MS;
        int64_t ready = quiet < cap ? quiet : cap;
        if (ready > due)
            due = ready;
        watching = true;
    }
    if (key < nkeys && now >= due) {
        int r = vm_guest_sysrq(vm->m, keys[key]);
        if (r == 0) {
            if (key == 0)
                log_info("Shutdown: SysRq s sent; u and o follow");
            vm->shutdown_step++;
            key++;
            vm->shutdown_key_ns = now;
            vm->shutdown_io_seen = virtio_requests(vm->m);
            vm->shutdown_io_since_ns = now;
            vm->shutdown_next_ns = now + SHUTDOWN_STEP_MS * NS_PER_MS;
            due = vm->shutdown_next_ns;
        } else {
            vm->shutdown_next_ns = now + 10 * NS_PER_MS; /* FIFO busy: retry */
            due = vm->shutdown_next_ns;
        }
    }
    int64_t next = key < nkeys ? due : vm->shutdown_deadline_ns;
    /* While waiting for the disks to go quiet, look again every 50 ms. */
    if (watching && next > now + 50 * NS_PER_MS)
        next = now + 50 * NS_PER_MS;
    int64_t ms = (next - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The board stopped (stop != RUNNING). Lock held. Returns -1 to go on
 * (the guest rebooted) or the exit status. */
static int handle_stop_locked(struct vm *vm, int stop, int sig)
{
    struct machine *m = vm->m;
    char err[VM_ERR_LEN];
    machine_join(m);
    if (stop == MACHINE_RESET) {
        log_info("guest reboot");
        machine_resume(m); /* a pause must not outlive the reboot */
        vm->resets++;
        if (machine_reset(m, err) || machine_start(m)) {
            if (vm->con.restore)
                vm->con.restore();
            fprintf(stderr, "corral: error: reboot failed: %s\n", err);
            vm->state = VM_STOPPED;
            return 1;
        }
        vm->state = VM_RUNNING;
        return -1;
    }
    vm->state = VM_STOPPED;
    int code = atomic_load(&m->stop_code);
    switch (stop) {
    case MACHINE_POWEROFF:
        return 0;
    case MACHINE_FAIL:
        if (vm->con.restore)
            vm->con.restore();
        if (vm->cfg.test_elf)
            fprintf(stderr, "corral: test failed: case %d\n", code);
        else
            fprintf(stderr, "corral: guest reported failure (code %d)\n", code);
        return code > 0 && code < 256 ? code : 1;
    default:
        if (vm->fenced) {
            if (vm->con.restore)
                vm->con.restore();
            fprintf(stderr, "corral: error: fenced: %s went stale (the cluster agent is "
                            "gone); the VM stopped\n", vm->fence.path);
            return 125;
        }
        if (vm->timed_out) {
            if (vm->con.restore)
                vm->con.restore();
            fprintf(stderr, "corral: error: stopped after --timeout %.3g s: the guest "
                            "did not finish\n", (double)vm->timeout_ns / 1e9);
            return 124;
        }
        return sig ? 128 + sig : 0;
    }
}

void vm_set_fence(struct vm *vm, const char *path, int64_t timeout_ms)
{
    vm->fence.path = (char *)path;
    vm->fence.timeout_ms = timeout_ms;
    vm->fence.next_check_ns = 0;
}

void vm_set_timeout(struct vm *vm, double seconds)
{
    pthread_mutex_lock(&vm->lock);
    vm->timeout_ns = seconds > 0 ? (int64_t)(seconds * 1e9) : 0;
    pthread_mutex_unlock(&vm->lock);
}

int vm_run(struct vm *vm, volatile sig_atomic_t *sig)
{
    uint8_t pending[4096];
    size_t npending = 0, pending_off = 0;
    bool stdin_open = vm->con.in_fd >= 0;
    bool signalled = false;

    for (;;) {
        int timeout = 100;
        pthread_mutex_lock(&vm->lock);
        int s = sig ? *sig : 0;
        if (s && !signalled) {
            signalled = true;
            if (vm->m) {
                machine_request_stop(vm->m, MACHINE_QUIT, 0);
            } else {
                vm->quit_requested = true;
                vm->exit_status = 128 + s;
            }
        }
        if (!vm->fenced && vm_fence_expired(&vm->fence, vclock_host_now_ns(), &timeout)) {
            /* Our agent is gone or lost the cluster: the VM may already be
             * restarting elsewhere. Stop now, without a shutdown. */
            vm->fenced = true;
            log_error("fenced: %s not touched for %lld ms (the cluster agent is gone); "
                      "stopping", vm->fence.path, (long long)vm->fence.timeout_ms);
            if (vm->m) {
                machine_request_stop(vm->m, MACHINE_QUIT, 0);
            } else {
                vm->quit_requested = true;
                vm->exit_status = 125;
            }
        }
        if (!vm->m && vm->quit_requested) {
            vm->state = VM_STOPPED;
            int status = vm->exit_status;
            pthread_mutex_unlock(&vm->lock);
            return status;
        }
        struct machine *m = vm->m;
        if (m) {
            int stop = atomic_load(&m->stop);
            if (stop != MACHINE_RUNNING) {
                int status = handle_stop_locked(vm, stop, s);
                pthread_mutex_unlock(&vm->lock);
                if (status >= 0)
                    return status;
                continue;
            }
            int t = shutdown_tick_locked(vm);
            if (t < timeout)
                timeout = t;
            if (vm->timeout_ns && !vm->timed_out) {
                int64_t left = vm->started_ns + vm->timeout_ns - vclock_host_now_ns();
                if (left <= 0) {
                    vm->timed_out = true;
                    machine_request_stop(m, MACHINE_QUIT, 0);
                } else if (left / 1000000 < timeout) {
                    timeout = (int)(left / 1000000) + 1;
                }
            }
        }
        pthread_mutex_unlock(&vm->lock);

        bool test_mode = m && vm->cfg.test_elf;
        /* Feed leftover input first; read more only when it is gone. */
        if (m && npending > pending_off)
            pending_off += machine_console_input(m, pending + pending_off,
                                                 npending - pending_off);
        bool want_in = m && stdin_open && pending_off >= npending;
        struct pollfd fds[3] = {
            { .fd = vm->wake_fd, .events = POLLIN },
            { .fd = m ? m->wake_fd : -1, .events = POLLIN },
            { .fd = want_in ? vm->con.in_fd : -1, .events = POLLIN },
        };
        if (m) {
            int t = machine_poll_devices(m);
            if (t < timeout)
                timeout = t;
        }
        if (test_mode)
            timeout = 1;
        else if (npending > pending_off && timeout > 10)
            timeout = 10;
        int r = poll(fds, 3, timeout);
        if (test_mode)
            machine_poll_tohost(m);
        if (r <= 0)
            continue; /* timeout, or EINTR: the signal flag is checked above */
        uint64_t v;
        for (int i = 0; i < 2; i++)
            if ((fds[i].revents & POLLIN) && read(fds[i].fd, &v, sizeof(v)) < 0) {
                /* spurious wake-up */
            }
        if (want_in && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(vm->con.in_fd, pending, sizeof(pending));
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue; /* a non-blocking console (pty) with nothing yet */
            if (n <= 0) {
                stdin_open = false; /* EOF: the guest keeps running */
                continue;
            }
            bool quit = false;
            npending = vm->con.filter ? vm->con.filter(vm->con.opaque, pending, (size_t)n, &quit)
                                      : (size_t)n;
            pending_off = 0;
            atomic_fetch_add_explicit(&vm->con_rx_bytes, npending, memory_order_relaxed);
            if (quit) {
                if (vm->con.restore)
                    vm->con.restore();
                machine_request_stop(m, MACHINE_QUIT, 0);
            }
        }
    }
}

/* ---- balloon ---- */

int vm_balloon_put(struct vm *vm, const json_t *body, char *err)
{
    pthread_mutex_lock(&vm->lock);
    int r = check_locked(vm, VM_EV_CONFIGURE, NULL, err);
    if (r)
        snprintf(err, VM_ERR_LEN, "PUT /balloon is for before the VM starts; use PATCH "
                 "/balloon to change the target");
    else
        r = vmcfg_put_balloon(&vm->cfg, body, err);
    pthread_mutex_unlock(&vm->lock);
    return r;
}

/* The running balloon, or NULL with a message (lock held). */
static struct virtio_balloon *balloon_locked(struct vm *vm, char *err)
{
    if (!vm->cfg.balloon.present) {
        snprintf(err, VM_ERR_LEN, "this VM has no balloon device (PUT /balloon before "
                 "starting it)");
        return NULL;
    }
    if (!vm->m || !vm->m->balloon) {
        snprintf(err, VM_ERR_LEN, "the VM is not running");
        return NULL;
    }
    return vm->m->balloon;
}

int vm_balloon_patch(struct vm *vm, const json_t *body, char *err)
{
    uint64_t mib;
    int r = vmcfg_parse_balloon_patch(body, &mib, err);
    if (r)
        return r;
    pthread_mutex_lock(&vm->lock);
    struct virtio_balloon *b = balloon_locked(vm, err);
    if (!b) {
        r = -EINVAL;
    } else if (mib > vm->cfg.mem_mib) {
        snprintf(err, VM_ERR_LEN, "balloon: 'amount_mib' is %llu but the guest has only "
                 "%llu MiB", (unsigned long long)mib, (unsigned long long)vm->cfg.mem_mib);
        r = -EINVAL;
    } else if ((r = virtio_balloon_set_target(b, (uint32_t)(mib << 8)))) {
        snprintf(err, VM_ERR_LEN, "balloon: target out of range");
    } else {
        vm->cfg.balloon.amount_mib = mib;
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_balloon_patch_stats(struct vm *vm, const json_t *body, char *err)
{
    unsigned s;
    int r = vmcfg_parse_balloon_stats_patch(body, &s, err);
    if (r)
        return r;
    pthread_mutex_lock(&vm->lock);
    if (!vm->cfg.balloon.present) {
        snprintf(err, VM_ERR_LEN, "this VM has no balloon device");
        r = -EINVAL;
    } else {
        vm->cfg.balloon.stats_polling_interval_s = s;
        if (vm->m && vm->m->balloon)
            virtio_balloon_set_stats_interval(vm->m->balloon, s);
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

json_t *vm_balloon_json(struct vm *vm, char *err)
{
    json_t *j = NULL;
    pthread_mutex_lock(&vm->lock);
    if (!vm->cfg.balloon.present) {
        snprintf(err, VM_ERR_LEN, "this VM has no balloon device");
    } else if ((j = vmcfg_balloon_json(&vm->cfg)) && vm->m && vm->m->balloon) {
        /* Corral: what the guest has actually given back so far. */
        struct virtio_balloon_stats st;
        virtio_balloon_get_stats(vm->m->balloon, &st);
        json_object_set_new(j, "actual_mib", json_integer(st.actual_pages >> 8));
        json_object_set_new(j, "actual_pages", json_integer(st.actual_pages));
    }
    pthread_mutex_unlock(&vm->lock);
    return j;
}

json_t *vm_balloon_stats_json(struct vm *vm, char *err)
{
    struct virtio_balloon_stats st;
    pthread_mutex_lock(&vm->lock);
    struct virtio_balloon *b = balloon_locked(vm, err);
    if (b)
        virtio_balloon_get_stats(b, &st);
    pthread_mutex_unlock(&vm->lock);
    if (!b)
        return NULL;
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                          "target_pages", (json_int_t)st.target_pages,
                          "actual_pages", (json_int_t)st.actual_pages,
                          "target_mib", (json_int_t)(st.target_pages >> 8),
                          "actual_mib", (json_int_t)(st.actual_pages >> 8),
                          "inflated_pages", (json_int_t)st.inflated_pages,
                          "deflated_pages", (json_int_t)st.deflated_pages,
                          "reported_bytes", (json_int_t)st.reported_bytes);
    if (!j) {
        snprintf(err, VM_ERR_LEN, "out of memory");
        return NULL;
    }
    for (unsigned t = 0; t < VIRTIO_BALLOON_S_NR; t++)
        if (st.valid[t])
            json_object_set_new(j, virtio_balloon_stat_name(t),
                                json_integer((json_int_t)st.val[t]));
    return j;
}
