/* The host agent's loop (cluster/agent.h). Every AGENT_TICK_MS it:
 *   1. keeps its lease alive, and touches the heartbeat its VMs fence on
 *      only while the lease is known to be alive;
 *   2. reads the whole cluster (hosts, VMs, incoming destinations);
 *   3. reconciles each VM record with the processes it runs: start what
 *      should run here, stop what should not, kill (fence) what belongs to
 *      another host, and drive migrations from either end;
 *   4. as leader, moves the VMs of lost hosts to surviving ones.
 * The lease is kept alive, and the heartbeat file touched, by a thread of
 * its own, so that a slow reconcile (etcd or a VM's API answering late on
 * a loaded host) never starves them.
 * Timing of the fence (TTL = lease seconds, default 10): the heartbeat is
 * touched only while the last successful keepalive is under TTL/2 old, so
 * the lease outlives every touch by at least TTL/2; VMs stop (their harts
 * halt) when the file is TTL/2 - 1 s old, checked every 200 ms. A dead or
 * cut-off agent's VMs are therefore gone before its lease expires, and
 * the leader restarts them elsewhere (from the VM's
 * latest snapshot when it has one: agent_snapshot.h). */
#include "cluster/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/agent_proc.h"
#include "cluster/agent_snapshot.h"
#include "cluster/cluster.h"
#include "cluster/etcd.h"
#include "cluster/placement.h"
#include "cluster/records.h"

#define AGENT_TICK_MS 250
#define KEEPALIVE_MS 500
#define HEARTBEAT_MS 250
#define STOP_GRACE_MS 20000
#define START_TIMEOUT_MS 60000

struct agent {
    const struct cluster_agent_opts *o;
    struct etcd *e;
    struct agent_procs procs;
    char heartbeat[4096];
    int64_t lease; /* main thread: the one joined with */
    int64_t last_try;
    bool registered;
    /* Shared with the lease thread. */
    pthread_t lease_thread;
    _Atomic int64_t live_lease;      /* 0: none to keep */
    _Atomic int64_t last_keepalive_ok; /* monotonic ms */
    _Atomic bool lease_lost;
    _Atomic bool quit;
    struct cluster_view view;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void say(const struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct agent *a, const char *fmt, ...)
{
    char t[32];
    time_t now = time(NULL);
    strftime(t, sizeof(t), "%H:%M:%S", localtime(&now));
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s corral agent %s: ", t, a->o->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- lease, host record, heartbeat ---- */

static int put_host(struct agent *a)
{
    struct cluster_host h = { .cpus = a->o->cpus, .memory_mib = a->o->memory_mib,
                              .started_ms = cluster_now_ms() };
    snprintf(h.name, sizeof(h.name), "%s", a->o->name);
    snprintf(h.addr, sizeof(h.addr), "%s", a->o->addr);
    char *text = cluster_host_encode(&h), key[256];
    if (!text)
        return -ENOMEM;
    snprintf(key, sizeof(key), CLUSTER_HOSTS "%s", a->o->name);
    int r = etcd_put(a->e, key, text, a->lease);
    free(text);
    return r;
}

/* A lease and the host record on it. */
static int join(struct agent *a)
{
    int r = etcd_lease_grant(a->e, a->o->ttl, &a->lease);
    if (!r)
        r = put_host(a);
    if (r)
        return r;
    a->registered = true;
    atomic_store(&a->last_keepalive_ok, mono_ms());
    atomic_store(&a->lease_lost, false);
    atomic_store(&a->live_lease, a->lease);
    /* Status records were on the old lease: rewrite them. */
    for (int i = 0; i < AGENT_MAX_PROCS; i++)
        a->procs.p[i].state[0] = '\0';
    return 0;
}

static void touch_heartbeat(struct agent *a)
{
    int fd = open(a->heartbeat, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        futimens(fd, NULL);
        close(fd);
    }
}

static void kill_all(struct agent *a, const char *why)
{
    for (int i = 0; i < AGENT_MAX_PROCS; i++) {
        struct agent_proc *p = &a->procs.p[i];
        if (p->used && !p->exited) {
            say(a, "%s: killing %s (pid %d)", why, p->name, (int)p->pid);
            agent_proc_kill(p);
        }
    }
}

/* The lease thread: keepalive every KEEPALIVE_MS on its own etcd handle,
 * and the heartbeat touched while the lease is surely alive. */
static void *lease_main(void *opaque)
{
    struct agent *a = opaque;
    char err[256];
    struct etcd *e = etcd_open(a->o->etcd, err, sizeof(err));
    int64_t last_try = 0;
    while (!atomic_load(&a->quit)) {
        int64_t now = mono_ms(), lease = atomic_load(&a->live_lease);
        if (e && lease && now - last_try >= KEEPALIVE_MS) {
            last_try = now;
            int r = etcd_lease_keepalive(e, lease, NULL);
            if (!r) {
                atomic_store(&a->last_keepalive_ok, mono_ms());
            } else if (r == -ENOENT && atomic_load(&a->live_lease) == lease) {
                atomic_store(&a->live_lease, 0);
                atomic_store(&a->lease_lost, true);
            }
        }
        now = mono_ms();
        if (atomic_load(&a->live_lease) &&
            now - atomic_load(&a->last_keepalive_ok) < a->o->ttl * 1000LL / 2)
            touch_heartbeat(a);
        usleep(HEARTBEAT_MS * 1000);
    }
    etcd_close(e);
    return NULL;
}

static void keep_lease(struct agent *a)
{
    int64_t now = mono_ms();
    if (a->registered && atomic_load(&a->lease_lost)) {
        /* The cluster has declared us dead: our VMs may be restarting
         * elsewhere already. Stop them, then join again. */
        say(a, "lease expired: the cluster counts this host as lost");
        kill_all(a, "fenced");
        a->registered = false;
    }
    if (!a->registered && now - a->last_try >= KEEPALIVE_MS) {
        a->last_try = now;
        if (!join(a))
            say(a, "joined the cluster again (lease %lld, %d s)", (long long)a->lease, a->o->ttl);
    }
    if (a->registered && now - atomic_load(&a->last_keepalive_ok) > (a->o->ttl - 1) * 1000LL)
        kill_all(a, "etcd unreachable"); /* they have fenced themselves already */
}

/* ---- status ---- */

static void put_status(struct agent *a, struct agent_proc *p, const char *state,
                       const char *migration_json)
{
    if (!strcmp(p->state, state) && !migration_json)
        return;
    struct cluster_status s = { .pid = p->pid, .epoch = p->epoch, .since_ms = cluster_now_ms(),
                                .migration = (char *)migration_json };
    snprintf(s.host, sizeof(s.host), "%s", a->o->name);
    snprintf(s.state, sizeof(s.state), "%s", state);
    snprintf(s.message, sizeof(s.message), "%s", p->message);
    char *text = cluster_status_encode(&s), key[256];
    snprintf(key, sizeof(key), CLUSTER_STATUS "%s", p->name);
    if (text && !etcd_put(a->e, key, text, a->lease)) {
        if (strcmp(p->state, state))
            say(a, "%s: %s%s%s", p->name, state, *p->message ? ": " : "", p->message);
        snprintf(p->state, sizeof(p->state), "%s", state);
    }
    free(text);
}

/* Compare-and-swap an edited VM record; false when someone else changed it
 * first (the next tick sees the new one). */
static bool update_vm(struct agent *a, const struct cluster_vm_rec *vr, const struct cluster_vm *nv)
{
    char key[256], *text = cluster_vm_encode(nv);
    snprintf(key, sizeof(key), CLUSTER_VMS "%s", nv->name);
    int r = text ? etcd_put_if(a->e, key, text, vr->mod_revision, 0) : -ENOMEM;
    free(text);
    return r == 0;
}

static void vm_message(struct cluster_vm *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vm_message(struct cluster_vm *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
}

/* ---- one VM ---- */

static void exit_reason(const struct agent_proc *p, char *out, size_t len)
{
    char last[CLUSTER_MSG_MAX - 64];
    agent_proc_last_log(p, last, sizeof(last));
    if (p->child && WIFSIGNALED(p->exit_status))
        snprintf(out, len, "killed by signal %d%s%s", WTERMSIG(p->exit_status), *last ? ": " : "",
                 last);
    else if (p->child)
        snprintf(out, len, "exited with status %d%s%s", WEXITSTATUS(p->exit_status),
                 *last ? ": " : "", last);
    else
        snprintf(out, len, "exited%s%s", *last ? ": " : "", last);
}

/* The source end of a migration: ask the VM to migrate once the
 * destination is ready, and record the outcome. */
static void drive_outgoing(struct agent *a, const struct cluster_vm_rec *vr, struct agent_proc *p)
{
    const struct cluster_vm *v = &vr->vm;
    const struct cluster_incoming *in = cluster_view_incoming(&a->view, v->name);
    if (!p->migrate_id) {
        if (!in || in->migrate_id != v->migrate_id || strcmp(in->host, v->migrate_to))
            return; /* the destination is not ready yet */
        json_t *body = json_pack("{s:s, s:s}", "uri", in->uri, "mode",
                                 *v->migrate_mode ? v->migrate_mode : "precopy");
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        unsigned st = 0;
        json_t *ans = text ? agent_proc_api(p, "PUT", "/migrate", text, &st) : NULL;
        free(text);
        if (!ans || st >= 300) {
            const char *m = json_string_value(json_object_get(ans, "fault_message"));
            struct cluster_vm nv = *v;
            nv.migrate_to[0] = '\0';
            vm_message(&nv, "migration to %s refused: %s", v->migrate_to, m ? m : ans ? "refused" : p->api_err[0] ? p->api_err : "no answer");
            update_vm(a, vr, &nv);
            json_decref(ans);
            return;
        }
        json_decref(ans);
        p->migrate_id = v->migrate_id;
        snprintf(p->message, sizeof(p->message), "to %s", v->migrate_to);
        put_status(a, p, "migrating", NULL);
        return;
    }
    if (p->migrate_id != v->migrate_id)
        return;
    json_t *j = p->exited ? NULL : agent_proc_api(p, "GET", "/migrate", NULL, NULL);
    const char *st = json_string_value(json_object_get(j, "status"));
    /* The source exits 0 once the destination runs the VM. */
    bool done = (st && !strcmp(st, "completed")) ||
                (p->exited && p->child && WIFEXITED(p->exit_status) && !WEXITSTATUS(p->exit_status));
    bool failed = !done && ((st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) || p->exited);
    if (j && (done || failed)) {
        /* The statistics outlive both processes: the CLI prints them. */
        char *stats = json_dumps(j, JSON_COMPACT), key[256];
        snprintf(key, sizeof(key), CLUSTER_MIGRATIONS "%s", v->name);
        if (stats && etcd_put(a->e, key, stats, 0))
            say(a, "%s: %s", v->name, etcd_error(a->e));
        free(stats);
        snprintf(p->message, sizeof(p->message), "to %s: %s", v->migrate_to, st ? st : "?");
        put_status(a, p, done ? "migrated" : "running", NULL);
    }
    if (done) {
        struct cluster_vm nv = *v;
        snprintf(nv.host, sizeof(nv.host), "%s", v->migrate_to);
        nv.migrate_to[0] = '\0';
        nv.epoch++;
        json_t *ram = json_object_get(j, "ram");
        vm_message(&nv, "migrated from %s to %s: total %.0f ms, downtime %.1f ms, %.1f MiB",
                   a->o->name, v->migrate_to,
                   json_number_value(json_object_get(j, "total_time_ms")),
                   json_number_value(json_object_get(j, "downtime_ms")),
                   json_number_value(json_object_get(ram, "transferred_bytes")) / 1048576.0);
        if (update_vm(a, vr, &nv))
            say(a, "%s", nv.message);
    } else if (failed) {
        const char *err = json_string_value(json_object_get(j, "error"));
        struct cluster_vm nv = *v;
        nv.migrate_to[0] = '\0';
        vm_message(&nv, "migration to %s %s: %s", v->migrate_to, st ? st : "failed",
                   err ? err : "the source process ended");
        p->migrate_id = 0;
        if (update_vm(a, vr, &nv))
            say(a, "%s: %s", v->name, nv.message);
    }
    json_decref(j);
}

/* Write what a restore or a snapshot changed into the VM record: the disk
 * paths the VM now writes, the snapshot's outcome, the restore done. Kept
 * in p until a compare-and-swap succeeds, so nothing is taken twice. */
static void record_snapshot_outcome(struct agent *a, const struct cluster_vm_rec *vr,
                                    struct agent_proc *p)
{
    const struct cluster_vm *v = &vr->vm;
    struct cluster_vm nv = *v;
    char *cfg = agent_config_follow_drives(p, v->config);
    if (cfg)
        nv.config = cfg;
    if (p->restoring && v->restore_pending) {
        nv.restore_pending = false;
        vm_message(&nv, "on %s: %s", a->o->name, p->message);
    }
    if (p->snapshot_answer) {
        nv.snapshot_done = p->snapshot_answer;
        if (p->snapshot_ok) {
            snprintf(nv.last_snapshot, sizeof(nv.last_snapshot), "%s", v->snapshot_dir);
            nv.last_snapshot_ms = cluster_now_ms();
            nv.last_snapshot_id = p->snapshot_answer;
        }
        vm_message(&nv, "%s", p->snapshot_message);
    }
    if (update_vm(a, vr, &nv)) {
        if (p->snapshot_answer)
            say(a, "%s: %s", v->name, p->snapshot_message);
        p->follow_drives = false;
        p->snapshot_answer = 0;
        put_status(a, p, "running", NULL);
    }
    free(cfg);
}

/* The CLI asked for a snapshot of a VM running here. */
static void take_snapshot(struct agent *a, const struct cluster_vm_rec *vr, struct agent_proc *p)
{
    const struct cluster_vm *v = &vr->vm;
    char err[CLUSTER_MSG_MAX - 64];
    double ms = 0;
    put_status(a, p, "snapshotting", NULL);
    p->snapshot_ok = !agent_snapshot_take(p, v->snapshot_dir, &ms, err, sizeof(err));
    if (p->snapshot_ok)
        snprintf(p->snapshot_message, sizeof(p->snapshot_message),
                 "snapshot on %s into %.120s: the guest stopped %.0f ms", a->o->name, v->snapshot_dir,
                 ms);
    else
        snprintf(p->snapshot_message, sizeof(p->snapshot_message), "snapshot on %s failed: %.150s",
                 a->o->name, err);
    p->snapshot_answer = v->snapshot_id;
    p->follow_drives = true; /* a qcow2 disk is under a new overlay now */
    record_snapshot_outcome(a, vr, p);
}

/* The VM should run here. */
static void reconcile_mine(struct agent *a, const struct cluster_vm_rec *vr)
{
    const struct cluster_vm *v = &vr->vm;
    struct agent_proc *p = agent_proc_find(&a->procs, v->name, AGENT_MAIN);
    struct agent_proc *in = agent_proc_find(&a->procs, v->name, AGENT_INCOMING);
    if (p && in && p->migrate_id && p->migrate_id != v->migrate_id) {
        /* The source of an earlier move away from here is still exiting
         * while the VM came back: the incoming process is the VM. */
        p->role = AGENT_LEAVING;
        p = NULL;
    }
    if (!p && in) {
        /* We were the destination: the VM record now says it lives here. */
        in->role = AGENT_MAIN;
        in->migrate_id = 0;
        in->epoch = v->epoch;
        in->running_seen = true;
        in->message[0] = '\0';
        p = in;
        say(a, "%s: arrived by migration", v->name);
    }
    int64_t now = mono_ms();
    if (p && p->exited) {
        if (p->migrate_id) {
            drive_outgoing(a, vr, p); /* records the outcome */
        } else if (v->running && p->restoring && v->restore_pending) {
            /* The snapshot did not load (a raw disk changed since, say):
             * boot the VM from its configuration instead. */
            char why[CLUSTER_MSG_MAX - 96];
            exit_reason(p, why, sizeof(why));
            struct cluster_vm nv = *v;
            nv.restore_pending = false;
            vm_message(&nv, "on %s: restoring %.100s failed (%s); cold boot", a->o->name,
                       v->last_snapshot, why);
            if (!update_vm(a, vr, &nv))
                return; /* try again next tick */
            say(a, "%s: %s", v->name, nv.message);
        } else if (v->running) {
            char why[CLUSTER_MSG_MAX];
            exit_reason(p, why, sizeof(why));
            struct cluster_vm nv = *v;
            nv.running = false; /* no restart loop: the user starts it again */
            vm_message(&nv, "on %s: the VM %s", a->o->name, why);
            snprintf(p->message, sizeof(p->message), "%s", why);
            put_status(a, p, p->child && WIFEXITED(p->exit_status) &&
                                     !WEXITSTATUS(p->exit_status) ? "stopped" : "failed", NULL);
            update_vm(a, vr, &nv);
        } else {
            p->message[0] = '\0';
            put_status(a, p, "stopped", NULL);
        }
        agent_proc_forget(&a->procs, p);
        return;
    }
    if (!v->running) {
        if (p) {
            agent_proc_stop(p, now, STOP_GRACE_MS);
            put_status(a, p, "stopping", NULL);
        }
        return;
    }
    if (!p) {
        char err[CLUSTER_MSG_MAX];
        bool restore = v->restore_pending && v->last_snapshot[0];
        p = agent_proc_start(&a->procs, v->name, AGENT_MAIN, restore ? NULL : v->config,
                             restore ? v->last_snapshot : NULL, NULL, err, sizeof(err));
        if (!p) {
            struct cluster_vm nv = *v;
            nv.running = false;
            vm_message(&nv, "on %s: cannot start: %s", a->o->name, err);
            update_vm(a, vr, &nv);
            return;
        }
        p->epoch = v->epoch;
        p->start_deadline_ms = now + START_TIMEOUT_MS;
        snprintf(p->message, sizeof(p->message), "%s",
                 restore ? "restoring its snapshot after host loss"
                 : v->failovers ? "restarted after host loss" : "");
        put_status(a, p, "starting", NULL);
        return;
    }
    p->epoch = v->epoch;
    if (!p->running_seen) {
        json_t *j = agent_proc_api(p, "GET", "/", NULL, NULL);
        const char *st = json_string_value(json_object_get(j, "state"));
        if (st && !strcmp(st, "Running"))
            p->running_seen = true;
        json_decref(j);
        if (!p->running_seen) {
            if (p->start_deadline_ms && now > p->start_deadline_ms) {
                snprintf(p->message, sizeof(p->message), "not running after %d s",
                         START_TIMEOUT_MS / 1000);
                agent_proc_kill(p);
            }
            return;
        }
        p->message[0] = '\0';
        if (v->failovers && v->lost_ms) {
            snprintf(p->message, sizeof(p->message), "%s %.1f s after its host was found lost",
                     p->restoring ? "restored from its snapshot" : "restarted",
                     (double)(cluster_now_ms() - v->lost_ms) / 1000.0);
        }
        p->follow_drives = p->restoring;
    }
    if (p->follow_drives || p->snapshot_answer) {
        record_snapshot_outcome(a, vr, p);
        return;
    }
    if (v->migrate_to[0]) {
        drive_outgoing(a, vr, p);
        return;
    }
    if (p->migrate_id) {
        p->migrate_id = 0; /* the migration was called off */
    }
    if (v->snapshot_id > v->snapshot_done) {
        take_snapshot(a, vr, p);
        return;
    }
    put_status(a, p, "running", NULL);
}

/* A migration to this host is asked for: start the destination. */
static void reconcile_incoming(struct agent *a, const struct cluster_vm_rec *vr)
{
    const struct cluster_vm *v = &vr->vm;
    struct agent_proc *in = agent_proc_find(&a->procs, v->name, AGENT_INCOMING);
    char key[256];
    snprintf(key, sizeof(key), CLUSTER_INCOMING "%s", v->name);
    if (in && in->migrate_id != v->migrate_id) {
        agent_proc_kill(in); /* a stale attempt */
        if (in->exited)
            agent_proc_forget(&a->procs, in);
        return;
    }
    if (in && in->exited) {
        char why[CLUSTER_MSG_MAX - 32];
        exit_reason(in, why, sizeof(why));
        struct cluster_vm nv = *v;
        nv.migrate_to[0] = '\0';
        vm_message(&nv, "destination %s: %s", a->o->name, why);
        if (update_vm(a, vr, &nv))
            say(a, "%s: %s", v->name, nv.message);
        agent_proc_forget(&a->procs, in);
        if (etcd_delete(a->e, key, false)) {
            /* it goes with our lease at the latest */
        }
        return;
    }
    if (in)
        return;
    int port = cluster_free_port(a->o->addr);
    if (port < 0) {
        say(a, "%s: no free port on %s", v->name, a->o->addr);
        return;
    }
    struct cluster_incoming rec = { .migrate_id = v->migrate_id };
    snprintf(rec.host, sizeof(rec.host), "%s", a->o->name);
    snprintf(rec.uri, sizeof(rec.uri), "tcp:%s:%d", a->o->addr, port);
    char err[CLUSTER_MSG_MAX];
    in = agent_proc_start(&a->procs, v->name, AGENT_INCOMING, NULL, NULL, rec.uri, err,
                          sizeof(err));
    if (!in) {
        struct cluster_vm nv = *v;
        nv.migrate_to[0] = '\0';
        vm_message(&nv, "destination %s: %s", a->o->name, err);
        update_vm(a, vr, &nv);
        return;
    }
    in->migrate_id = v->migrate_id;
    in->epoch = v->epoch;
    /* The destination listens once its API socket exists. */
    for (int i = 0; i < 100 && access(in->sock, F_OK); i++)
        usleep(20000);
    char *text = cluster_incoming_encode(&rec);
    if (text && !etcd_put(a->e, key, text, a->lease))
        say(a, "%s: waiting for its migration on %s", v->name, rec.uri);
    free(text);
}

/* ---- the leader: VMs of lost hosts ---- */

static void lead(struct agent *a)
{
    const struct cluster_view *cv = &a->view;
    if (!cv->leader_known) {
        int r = etcd_put_if(a->e, CLUSTER_LEADER, a->o->name, 0, a->lease);
        if (!r)
            say(a, "leader now");
        return;
    }
    if (strcmp(cv->leader, a->o->name))
        return;
    for (size_t i = 0; i < cv->nvms; i++) {
        const struct cluster_vm_rec *vr = &cv->vms[i];
        const struct cluster_vm *v = &vr->vm;
        if (v->migrate_to[0] && !cluster_view_host(cv, v->migrate_to)) {
            struct cluster_vm nv = *v;
            nv.migrate_to[0] = '\0';
            vm_message(&nv, "migration called off: destination %s is gone", v->migrate_to);
            update_vm(a, vr, &nv);
            continue;
        }
        if (!v->running || !*v->host || cluster_view_host(cv, v->host))
            continue;
        struct cluster_vm nv = *v;
        if (!v->shared_storage) {
            if (strstr(v->message, "lost"))
                continue;
            vm_message(&nv, "host %s lost; not restarted (its storage is not shared)", v->host);
            nv.running = false;
            if (update_vm(a, vr, &nv))
                say(a, "%s: %s", v->name, nv.message);
            continue;
        }
        int h = cluster_place(cv->hosts, cv->nhosts, cv->vm_list, cv->nvms, v->memory_mib, v->host);
        if (h < 0) {
            if (!strstr(v->message, "no surviving host")) {
                vm_message(&nv, "host %s lost; no surviving host has %llu MiB free", v->host,
                           (unsigned long long)v->memory_mib);
                update_vm(a, vr, &nv);
            }
            continue;
        }
        /* The compare-and-swap is the fence: one leader, one move per
         * record revision, and the lost host's VMs stopped themselves
         * before its lease could expire. */
        snprintf(nv.host, sizeof(nv.host), "%s", cv->hosts[h].name);
        nv.epoch++;
        nv.failovers++;
        nv.lost_ms = cluster_now_ms();
        nv.restore_pending = v->last_snapshot[0] != '\0';
        vm_message(&nv, "host %s lost; %s on %s", v->host,
                   nv.restore_pending ? "restoring its latest snapshot" : "restarting",
                   cv->hosts[h].name);
        if (update_vm(a, vr, &nv))
            say(a, "%s: %s", v->name, nv.message);
    }
}

/* ---- the loop ---- */

static void tick(struct agent *a)
{
    keep_lease(a);
    agent_proc_poll(&a->procs);
    if (!a->registered)
        return;
    cluster_view_free(&a->view);
    if (cluster_view_load(a->e, &a->view)) {
        say(a, "reading the cluster: %s", etcd_error(a->e));
        return;
    }
    const struct cluster_view *cv = &a->view;
    for (size_t i = 0; i < cv->nvms; i++) {
        const struct cluster_vm_rec *vr = &cv->vms[i];
        const struct cluster_vm *v = &vr->vm;
        if (!strcmp(v->host, a->o->name))
            reconcile_mine(a, vr);
        else if (v->running && !strcmp(v->migrate_to, a->o->name))
            reconcile_incoming(a, vr);
    }
    /* Processes that no record puts here. */
    int64_t now = mono_ms();
    for (int i = 0; i < AGENT_MAX_PROCS; i++) {
        struct agent_proc *p = &a->procs.p[i];
        if (!p->used)
            continue;
        const struct cluster_vm_rec *vr = cluster_view_vm(cv, p->name);
        bool here = vr && !strcmp(vr->vm.host, a->o->name);
        bool coming = vr && p->role == AGENT_INCOMING && vr->vm.running &&
                      !strcmp(vr->vm.migrate_to, a->o->name) && vr->vm.migrate_id == p->migrate_id;
        if ((here || coming) && p->role != AGENT_LEAVING)
            continue;
        if (p->exited) {
            if (p->role == AGENT_INCOMING) {
                char key[256];
                snprintf(key, sizeof(key), CLUSTER_INCOMING "%s", p->name);
                if (etcd_delete(a->e, key, false)) {
                    /* goes with the lease */
                }
            }
            agent_proc_forget(&a->procs, p);
        } else if (p->role == AGENT_LEAVING) {
            /* It ends by itself; make sure, by its pid only: its socket's
             * path is the VM's new process's now. */
            if (!p->stop_deadline_ms)
                p->stop_deadline_ms = now + 5000;
            else if (now >= p->stop_deadline_ms)
                agent_proc_kill(p);
        } else if (p->role == AGENT_MAIN && vr && p->migrate_id && p->migrate_id == vr->vm.migrate_id) {
            continue; /* unreachable: a migrating VM's record still says here */
        } else if (p->role == AGENT_MAIN && vr && p->migrate_id) {
            /* Migrated away: the source ends by itself; make sure. */
            agent_proc_stop(p, now, 5000);
        } else {
            say(a, "%s: %s; killing it", p->name,
                vr ? "the cluster runs it on another host" : "no longer in the cluster");
            agent_proc_kill(p);
        }
    }
    lead(a);
}

int cluster_agent_run(const struct cluster_agent_opts *o, volatile sig_atomic_t *stop)
{
    struct agent a = { .o = o };
    char err[256];
    if (!(a.e = etcd_open(o->etcd, err, sizeof(err)))) {
        fprintf(stderr, "corral: error: agent: %s\n", err);
        return 1;
    }
    a.procs.corral = o->corral;
    a.procs.state_dir = o->state_dir;
    a.procs.fence_timeout_ms = o->ttl * 1000 / 2 - 1000;
    snprintf(a.heartbeat, sizeof(a.heartbeat), "%s/heartbeat", o->state_dir);
    a.procs.fence_file = a.heartbeat;
    /* VMs that outlived a previous agent in this state directory. */
    agent_proc_adopt(&a.procs);
    for (int i = 0; i < AGENT_MAX_PROCS; i++)
        if (a.procs.p[i].used)
            say(&a, "found %s still running (pid %d)", a.procs.p[i].name, (int)a.procs.p[i].pid);
    if (join(&a)) {
        fprintf(stderr, "corral: error: agent: %s\n", etcd_error(a.e));
        etcd_close(a.e);
        return 1;
    }
    touch_heartbeat(&a);
    if (pthread_create(&a.lease_thread, NULL, lease_main, &a)) {
        fprintf(stderr, "corral: error: agent: cannot start its lease thread\n");
        etcd_close(a.e);
        return 1;
    }
    say(&a, "joined the cluster at %s as %s (%u harts, %llu MiB, lease %d s)", o->etcd, o->addr,
        o->cpus, (unsigned long long)o->memory_mib, o->ttl);
    while (!*stop) {
        int64_t t0 = mono_ms();
        tick(&a);
        int64_t left = AGENT_TICK_MS - (mono_ms() - t0);
        if (left > 0)
            usleep((useconds_t)left * 1000);
    }
    /* Leave the VMs and the lease: a restarted agent within the fence
     * timeout adopts them; otherwise they stop and the cluster moves them. */
    say(&a, "stopping; %s", "its VMs run on until they fence (a restarted agent adopts them)");
    atomic_store(&a.quit, true);
    pthread_join(a.lease_thread, NULL);
    cluster_view_free(&a.view);
    etcd_close(a.e);
    return 0;
}
