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
#include <unistd.h>

#include "core/log.h"
#include "core/vclock.h"
#include "devices/virtio_balloon.h"
#include "vm/cgroup.h"

#define NS_PER_MS 1000000LL
#define SHUTDOWN_STEP_MS 200 /* between the SysRq keys */

static void kick(struct vm *vm)
{
    uint64_t one = 1;
    if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
        /* counter saturated: the loop is awake anyway */
    }
}

static void console_sink(void *opaque, const uint8_t *buf, size_t len)
{
    struct vm *vm = opaque;
    atomic_fetch_add_explicit(&vm->con_tx_bytes, len, memory_order_relaxed);
    if (vm->con.write)
        vm->con.write(vm->con.opaque, buf, len);
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
    vmcfg_init(&vm->cfg);
    snprintf(vm->id, sizeof(vm->id), "%s", id ? id : "anonymous-instance");
    if (con)
        vm->con = *con;
    else
        vm->con.in_fd = -1;
    vm->state = VM_NOT_STARTED;
    *out = vm;
    return 0;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    machine_destroy(vm->m);
    vm_cgroup_leave(vm->cgroup);
    vmcfg_free(&vm->cfg);
    close(vm->wake_fd);
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

int vm_start(struct vm *vm, char *err)
{
    struct machine_config mc;
    enum vm_state next;
    int r;
    pthread_mutex_lock(&vm->lock);
    if ((r = check_locked(vm, VM_EV_START, &next, err)) ||
        (r = vmcfg_to_machine(&vm->cfg, &mc, err)))
        goto out;
    mc.console_write = console_sink;
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
                vm->shutdown_step = 1;
                vm->shutdown_next_ns = now;
                vm->shutdown_deadline_ns = now + VM_SHUTDOWN_TIMEOUT_MS * NS_PER_MS;
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
    if (!r) {
        /* Stop first, then lift the pause: parked harts leave without
         * running another instruction; the main loop reboots the board. */
        machine_request_stop(vm->m, MACHINE_RESET, 0);
        machine_resume(vm->m);
        vm->shutdown_step = 0;
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
    enum vm_state s = vm_get_state(vm);
    return json_pack("{s:s, s:s, s:s, s:s}", "id", vm->id, "state", vm_state_name(s),
                     "vmm_version", VM_VERSION, "app_name", "corral");
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
    if (fdt) {
        char tmp[PATH_MAX];
        size_t len = fdt_totalsize(fdt);
        FILE *f = NULL;
        r = -ENAMETOOLONG;
        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) < (int)sizeof(tmp)) {
            f = fopen(tmp, "wb");
            r = f ? 0 : -errno;
        }
        if (f) {
            if (fwrite(fdt, 1, len, f) != len || fflush(f) || fsync(fileno(f)))
                r = -(errno ? errno : EIO);
            fclose(f);
            if (!r && rename(tmp, path) < 0)
                r = -errno;
            if (r)
                unlink(tmp);
        }
    }
    machine_destroy(m);
    if (r)
        snprintf(err, VM_ERR_LEN, "--dump-dtb %s: %s", path, strerror(-r));
    return r;
}

/* ---- the main loop ---- */

/* Shutdown progress: one SysRq key per step, then the hard deadline.
 * Lock held. Returns ms until it needs to run again (or INT_MAX). */
static int shutdown_tick_locked(struct vm *vm)
{
    static const char keys[] = { 's', 'u', 'o' };
    if (!vm->shutdown_step)
        return INT_MAX;
    int64_t now = vclock_host_now_ns();
    if (now >= vm->shutdown_deadline_ns) {
        log_warn("the guest did not power off within %d ms; stopping it",
                 VM_SHUTDOWN_TIMEOUT_MS);
        vm->shutdown_step = 0;
        machine_request_stop(vm->m, MACHINE_QUIT, 0);
        return 0;
    }
    if (vm->shutdown_step <= (int)sizeof(keys) && now >= vm->shutdown_next_ns) {
        int r = vm_guest_sysrq(vm->m, keys[vm->shutdown_step - 1]);
        if (r == 0) {
            vm->shutdown_step++;
            vm->shutdown_next_ns = now + SHUTDOWN_STEP_MS * NS_PER_MS;
        } else {
            vm->shutdown_next_ns = now + 10 * NS_PER_MS; /* FIFO busy: retry */
        }
    }
    int64_t next = vm->shutdown_step <= (int)sizeof(keys) ? vm->shutdown_next_ns
                                                          : vm->shutdown_deadline_ns;
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
