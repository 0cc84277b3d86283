/* corral cluster --etcd URL COMMAND: the pool of hosts as one. Every
 * command reads the cluster from etcd, changes VM records with
 * compare-and-swap (so two users, or a user and the leader's failover,
 * never overwrite each other) and waits for the agents to carry it out.
 * Exit status: 0 done, 1 refused or failed (the reason printed), 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cluster/cluster.h"
#include "cluster/etcd.h"
#include "cluster/placement.h"
#include "cluster/records.h"

static const char cluster_help[] =
    "usage: corral cluster [--etcd URL] COMMAND [options]\n"
    "\n"
    "A pool of hosts, each running 'corral agent', seen as one (state in etcd;\n"
    "the URL also from $CORRAL_ETCD).\n"
    "\n"
    "commands:\n"
    "  hosts                        hosts alive, their capacity and load\n"
    "  ps [--json]                  every VM: host, state, size, last event\n"
    "  create NAME --config FILE [--host HOST] [--shared-storage] [--no-wait]\n"
    "                               run a VM (FILE as 'corral run --config-file'\n"
    "                               takes it) on HOST or the host with the most\n"
    "                               free memory; --shared-storage: every host\n"
    "                               reaches its disks, so it is restarted on\n"
    "                               another host if its host is lost\n"
    "  stop NAME [--no-wait]        shut it down (it stays in the cluster)\n"
    "  start NAME [--no-wait]       run a stopped VM again\n"
    "  rm NAME                      forget a stopped VM\n"
    "  migrate NAME --to HOST [--mode precopy|postcopy|auto]\n"
    "                               live-migrate it, with the statistics\n"
    "  drain HOST                   live-migrate every VM off HOST; it takes no\n"
    "                               new VMs until 'undrain HOST'\n"
    "  undrain HOST\n"
    "  balance [--dry-run]          move VMs to even out memory load (the plan\n"
    "                               is shown first)\n"
    "  snapshot NAME --dir DIR [--no-wait]\n"
    "                               snapshot the running VM into DIR (on storage\n"
    "                               every host reaches): if its host is lost, it\n"
    "                               is restored from its latest snapshot there\n";

#define WAIT_START_MS 120000
#define WAIT_MIGRATE_MS 600000
#define WAIT_SNAPSHOT_MS 300000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corral: error: cluster: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int load(struct etcd *e, struct cluster_view *v)
{
    if (cluster_view_load(e, v))
        return fail("%s", etcd_error(e));
    if (v->skipped)
        fprintf(stderr, "corral: warning: cluster: %zu unreadable record(s), e.g. %s\n",
                v->skipped, v->skipped_why);
    return 0;
}

static int put_vm(struct etcd *e, const struct cluster_vm *v, int64_t rev)
{
    char key[256], *text = cluster_vm_encode(v);
    snprintf(key, sizeof(key), CLUSTER_VMS "%s", v->name);
    int r = text ? etcd_put_if(e, key, text, rev, 0) : -ENOMEM;
    free(text);
    return r;
}

static const char *vm_state(const struct cluster_view *cv, const struct cluster_vm_rec *vr)
{
    const struct cluster_vm *v = &vr->vm;
    if (*v->host && !cluster_view_host(cv, v->host))
        return v->running ? "lost" : "stopped";
    if (vr->has_status && !strcmp(vr->status.host, v->host))
        return vr->status.state;
    return v->running ? "pending" : "stopped";
}

/* ---- hosts, ps ---- */

static int cmd_hosts(struct etcd *e)
{
    struct cluster_view cv;
    if (load(e, &cv))
        return 1;
    printf("%-16s %-16s %5s %10s %10s %10s %4s  %s\n", "HOST", "ADDR", "CPUS", "MEMORY", "USED",
           "FREE", "VMS", "NOTES");
    for (size_t i = 0; i < cv.nhosts; i++) {
        const struct cluster_host *h = &cv.hosts[i];
        uint64_t used = cluster_host_used(h->name, cv.vm_list, cv.nvms);
        unsigned nvm = 0;
        for (size_t m = 0; m < cv.nvms; m++)
            nvm += cv.vms[m].vm.running && !strcmp(cv.vms[m].vm.host, h->name);
        printf("%-16s %-16s %5u %7llu MiB %6llu MiB %6lld MiB %4u  %s%s\n", h->name, h->addr,
               h->cpus, (unsigned long long)h->memory_mib, (unsigned long long)used,
               (long long)h->memory_mib - (long long)used, nvm,
               cv.leader_known && !strcmp(cv.leader, h->name) ? "leader " : "",
               h->draining ? "draining" : "");
    }
    cluster_view_free(&cv);
    return 0;
}

static int cmd_ps(struct etcd *e, bool as_json)
{
    struct cluster_view cv;
    if (load(e, &cv))
        return 1;
    json_t *arr = json_array();
    if (!as_json)
        printf("%-16s %-16s %-10s %4s %8s %5s  %s\n", "NAME", "HOST", "STATE", "CPUS", "MEMORY",
               "MOVES", "LAST EVENT");
    for (size_t i = 0; i < cv.nvms; i++) {
        const struct cluster_vm_rec *vr = &cv.vms[i];
        const struct cluster_vm *v = &vr->vm;
        const char *st = vm_state(&cv, vr);
        char host[2 * CLUSTER_NAME_MAX + 4];
        if (v->migrate_to[0])
            snprintf(host, sizeof(host), "%s->%s", v->host, v->migrate_to);
        else
            snprintf(host, sizeof(host), "%s", v->host);
        if (as_json)
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:s, s:i}", "name",
                               v->name, "host", v->host, "migrating_to", v->migrate_to, "state",
                               st, "cpus", (json_int_t)v->cpus, "memory_mib",
                               (json_int_t)v->memory_mib, "epoch", (json_int_t)v->epoch,
                               "failovers", (json_int_t)v->failovers, "shared_storage",
                               v->shared_storage, "message", v->message, "pid",
                               vr->has_status ? vr->status.pid : 0));
        if (as_json)
            json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "last_snapshot",
                                json_string(v->last_snapshot));
        else
            printf("%-16s %-16s %-10s %4u %4llu MiB %5llu  %s\n", v->name, host, st, v->cpus,
                   (unsigned long long)v->memory_mib, (unsigned long long)v->epoch, v->message);
    }
    if (as_json) {
        char *s = json_dumps(arr, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    }
    json_decref(arr);
    cluster_view_free(&cv);
    return 0;
}

/* ---- waiting on the agents ---- */

/* Until NAME's status on its host is `want` (or it failed); 0 when reached. */
static int wait_state(struct etcd *e, const char *name, const char *want, int64_t timeout_ms)
{
    int64_t t0 = mono_ms();
    char last[CLUSTER_MSG_MAX] = "";
    for (;;) {
        struct cluster_view cv;
        if (cluster_view_load(e, &cv))
            return fail("%s", etcd_error(e));
        const struct cluster_vm_rec *vr = cluster_view_vm(&cv, name);
        if (!vr) {
            cluster_view_free(&cv);
            return !strcmp(want, "gone") ? 0 : fail("%s: the record disappeared", name);
        }
        const char *st = vm_state(&cv, vr);
        bool wanted_running = !strcmp(want, "running");
        if (!strcmp(st, want) && (!wanted_running || vr->vm.running)) {
            printf("%s: %s on %s (%.1f s)%s%s\n", name, st, vr->vm.host,
                   (double)(mono_ms() - t0) / 1000.0, *vr->status.message ? ": " : "",
                   vr->status.message);
            cluster_view_free(&cv);
            return 0;
        }
        if (wanted_running && !vr->vm.running) {
            int r = fail("%s: %s", name, *vr->vm.message ? vr->vm.message : "it was stopped");
            cluster_view_free(&cv);
            return r;
        }
        if (strcmp(st, last))
            snprintf(last, sizeof(last), "%s", st);
        cluster_view_free(&cv);
        if (mono_ms() - t0 > timeout_ms)
            return fail("%s: still %s after %lld s", name, last, (long long)timeout_ms / 1000);
        usleep(200000);
    }
}

static void print_migration_stats(struct etcd *e, const char *name)
{
    char key[256], *text;
    snprintf(key, sizeof(key), CLUSTER_MIGRATIONS "%s", name);
    if (etcd_get_one(e, key, &text, NULL))
        return;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    json_t *ram = json_object_get(j, "ram");
#define N(o, k) json_number_value(json_object_get(o, k))
    if (j)
        printf("  mode %s: total %.0f ms, downtime %.1f ms, %.1f MiB sent (%.0f pages, %.0f zero, "
               "%.0f dedup, %.0f delta), %.0f rounds\n",
               json_string_value(json_object_get(j, "mode")) ?: "?", N(j, "total_time_ms"),
               N(j, "downtime_ms"), N(ram, "transferred_bytes") / 1048576.0, N(ram, "normal_pages"),
               N(ram, "zero_pages"), N(ram, "dedup_pages"), N(ram, "delta_pages"),
               N(ram, "iterations"));
#undef N
    json_decref(j);
}

/* Ask for NAME's migration to `to` and wait for the outcome. */
static int migrate_one(struct etcd *e, const char *name, const char *to, const char *mode)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct cluster_view cv;
        if (load(e, &cv))
            return 1;
        const struct cluster_vm_rec *vr = cluster_view_vm(&cv, name);
        const struct cluster_host *h = cluster_view_host(&cv, to);
        int r = 0;
        if (!vr)
            r = fail("migrate: no VM named '%s'", name);
        else if (!h)
            r = fail("migrate %s: no live host named '%s' (see 'corral cluster hosts')", name, to);
        else if (!vr->vm.running || strcmp(vm_state(&cv, vr), "running"))
            r = fail("migrate %s: it is %s, not running", name, vm_state(&cv, vr));
        else if (!strcmp(vr->vm.host, to))
            r = fail("migrate %s: it runs on %s already", name, to);
        else if (vr->vm.migrate_to[0])
            r = fail("migrate %s: a migration to %s is in progress", name, vr->vm.migrate_to);
        else if (h->draining)
            r = fail("migrate %s: %s is draining", name, to);
        else if (cluster_host_used(to, cv.vm_list, cv.nvms) + vr->vm.memory_mib > h->memory_mib)
            r = fail("migrate %s: %s has %lld MiB free, the VM needs %llu", name, to,
                     (long long)h->memory_mib - (long long)cluster_host_used(to, cv.vm_list, cv.nvms),
                     (unsigned long long)vr->vm.memory_mib);
        if (r) {
            cluster_view_free(&cv);
            return r;
        }
        struct cluster_vm nv = vr->vm;
        nv.config = vr->vm.config;
        char from[CLUSTER_NAME_MAX];
        snprintf(from, sizeof(from), "%s", nv.host);
        snprintf(nv.migrate_to, sizeof(nv.migrate_to), "%s", to);
        snprintf(nv.migrate_mode, sizeof(nv.migrate_mode), "%s", mode);
        nv.migrate_id = cluster_now_ms();
        snprintf(nv.message, sizeof(nv.message), "migrating to %s", to);
        uint64_t id = nv.migrate_id;
        int rc = put_vm(e, &nv, vr->mod_revision);
        cluster_view_free(&cv);
        if (rc == -EAGAIN)
            continue; /* changed under us: look again */
        if (rc)
            return fail("%s", etcd_error(e));
        printf("%s: migrating from %s to %s (%s)\n", name, from, to, mode);
        int64_t t0 = mono_ms();
        for (;;) {
            usleep(200000);
            if (load(e, &cv))
                return 1;
            vr = cluster_view_vm(&cv, name);
            if (!vr) {
                cluster_view_free(&cv);
                return fail("%s: the record disappeared", name);
            }
            if (!vr->vm.migrate_to[0] || vr->vm.migrate_id != id) {
                bool ok = !strcmp(vr->vm.host, to);
                if (ok)
                    printf("%s: %s\n", name, vr->vm.message);
                else
                    fail("%s: %s", name, vr->vm.message);
                cluster_view_free(&cv);
                if (ok)
                    print_migration_stats(e, name);
                return ok ? 0 : 1;
            }
            cluster_view_free(&cv);
            if (mono_ms() - t0 > WAIT_MIGRATE_MS)
                return fail("%s: migration to %s not done after %d s", name, to,
                            WAIT_MIGRATE_MS / 1000);
        }
    }
    return fail("migrate %s: the record keeps changing; try again", name);
}

/* ---- create, stop, start, rm ---- */

static char *read_file(const char *path, char *err, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf && (n += fread(buf + n, 1, cap - n, f)) == cap && cap < (1 << 24)) {
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) {
        snprintf(err, len, "%s: out of memory", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int cmd_create(struct etcd *e, const char *name, const char *config, const char *host,
                      bool shared, bool wait)
{
    if (!cluster_valid_name(name))
        return fail("create %s: use letters, digits, '.', '_' or '-' (at most 63)", name);
    char err[512];
    char *text = read_file(config, err, sizeof(err));
    if (!text)
        return fail("create %s: --config %s", name, err);
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    free(text);
    if (!doc)
        return fail("create %s: --config %s: not JSON: %s (line %d)", name, config, je.text, je.line);
    /* The record carries the configuration itself: other hosts may not
     * see this file. */
    char *cfg = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct cluster_vm v = { .running = true, .shared_storage = shared, .config = cfg };
    snprintf(v.name, sizeof(v.name), "%s", name);
    if (!cfg || cluster_config_size(cfg, &v.cpus, &v.memory_mib, err, sizeof(err))) {
        free(cfg);
        return fail("create %s: --config %s: %s", name, config, err);
    }
    struct cluster_view cv;
    if (load(e, &cv)) {
        free(cfg);
        return 1;
    }
    int r = 0;
    const struct cluster_vm_rec *dup = cluster_view_vm(&cv, name);
    if (dup) {
        r = fail("create %s: a VM of that name exists already (on %s, %s)", name, dup->vm.host,
                 vm_state(&cv, dup));
    } else if (host) {
        const struct cluster_host *h = cluster_view_host(&cv, host);
        uint64_t used = h ? cluster_host_used(host, cv.vm_list, cv.nvms) : 0;
        if (!h)
            r = fail("create %s: no live host named '%s' (see 'corral cluster hosts')", name, host);
        else if (h->draining)
            r = fail("create %s: %s is draining", name, host);
        else if (used + v.memory_mib > h->memory_mib)
            r = fail("create %s: %s has %lld MiB free, the VM needs %llu MiB", name, host,
                     (long long)h->memory_mib - (long long)used, (unsigned long long)v.memory_mib);
        else
            snprintf(v.host, sizeof(v.host), "%s", host);
    } else {
        int h = cluster_place(cv.hosts, cv.nhosts, cv.vm_list, cv.nvms, v.memory_mib, NULL);
        if (h < 0) {
            uint64_t best = 0;
            for (size_t i = 0; i < cv.nhosts; i++) {
                uint64_t used = cluster_host_used(cv.hosts[i].name, cv.vm_list, cv.nvms);
                if (!cv.hosts[i].draining && cv.hosts[i].memory_mib > used &&
                    cv.hosts[i].memory_mib - used > best)
                    best = cv.hosts[i].memory_mib - used;
            }
            r = cv.nhosts ? fail("create %s: no host has %llu MiB free (the most is %llu MiB)",
                                 name, (unsigned long long)v.memory_mib, (unsigned long long)best)
                          : fail("create %s: no live hosts (start 'corral agent' on each)", name);
        } else {
            snprintf(v.host, sizeof(v.host), "%s", cv.hosts[h].name);
        }
    }
    cluster_view_free(&cv);
    if (!r) {
        snprintf(v.message, sizeof(v.message), "created on %s", v.host);
        int rc = put_vm(e, &v, 0); /* only if no record of that name exists */
        if (rc == -EAGAIN)
            r = fail("create %s: a VM of that name was just created by someone else", name);
        else if (rc)
            r = fail("%s", etcd_error(e));
        else
            printf("%s: placed on %s (%u harts, %llu MiB)\n", name, v.host, v.cpus,
                   (unsigned long long)v.memory_mib);
    }
    free(cfg);
    if (r || !wait)
        return r;
    return wait_state(e, name, "running", WAIT_START_MS);
}

/* Set NAME's desired state; rm deletes a stopped record. */
static int cmd_set_running(struct etcd *e, const char *name, bool running, bool wait)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct cluster_view cv;
        if (load(e, &cv))
            return 1;
        const struct cluster_vm_rec *vr = cluster_view_vm(&cv, name);
        if (!vr) {
            cluster_view_free(&cv);
            return fail("%s: no VM named '%s'", running ? "start" : "stop", name);
        }
        struct cluster_vm nv = vr->vm;
        if (nv.running == running) {
            printf("%s: already %s\n", name, running ? "meant to run" : "stopped");
            cluster_view_free(&cv);
            return 0;
        }
        nv.running = running;
        nv.restore_pending = false; /* a start boots; only failover restores */
        nv.lost_ms = 0;             /* the next start is the user's, not a failover's */
        if (running && (!*nv.host || !cluster_view_host(&cv, nv.host))) {
            int h = cluster_place(cv.hosts, cv.nhosts, cv.vm_list, cv.nvms, nv.memory_mib, NULL);
            if (h < 0) {
                cluster_view_free(&cv);
                return fail("start %s: no host has %llu MiB free", name,
                            (unsigned long long)nv.memory_mib);
            }
            snprintf(nv.host, sizeof(nv.host), "%s", cv.hosts[h].name);
            nv.epoch++;
        }
        nv.migrate_to[0] = '\0';
        snprintf(nv.message, sizeof(nv.message), "%s by the user", running ? "started" : "stopped");
        int rc = put_vm(e, &nv, vr->mod_revision);
        cluster_view_free(&cv);
        if (rc == -EAGAIN)
            continue;
        if (rc)
            return fail("%s", etcd_error(e));
        if (!wait)
            return 0;
        return wait_state(e, name, running ? "running" : "stopped", WAIT_START_MS);
    }
    return fail("%s: the record keeps changing; try again", name);
}

static int cmd_rm(struct etcd *e, const char *name)
{
    struct cluster_view cv;
    if (load(e, &cv))
        return 1;
    const struct cluster_vm_rec *vr = cluster_view_vm(&cv, name);
    int r = 0;
    if (!vr)
        r = fail("rm: no VM named '%s'", name);
    else if (vr->vm.running || (vr->has_status && strcmp(vr->status.state, "stopped") &&
                                strcmp(vr->status.state, "failed") &&
                                cluster_view_host(&cv, vr->status.host)))
        r = fail("rm %s: it is %s; stop it first", name, vm_state(&cv, vr));
    else {
        char key[256];
        snprintf(key, sizeof(key), CLUSTER_VMS "%s", name);
        int rc = etcd_delete_if(e, key, vr->mod_revision);
        if (rc == -EAGAIN)
            r = fail("rm %s: it changed meanwhile; look again", name);
        else if (rc)
            r = fail("%s", etcd_error(e));
        snprintf(key, sizeof(key), CLUSTER_MIGRATIONS "%s", name);
        if (!r && etcd_delete(e, key, false)) {
            /* statistics only */
        }
    }
    cluster_view_free(&cv);
    return r;
}

/* ---- drain, balance ---- */

static int cmd_drain(struct etcd *e, const char *host, bool on)
{
    char key[256];
    snprintf(key, sizeof(key), CLUSTER_DRAIN "%s", host);
    struct cluster_view cv;
    if (load(e, &cv))
        return 1;
    bool known = cluster_view_host(&cv, host) != NULL;
    cluster_view_free(&cv);
    if (!on) {
        if (etcd_delete(e, key, false))
            return fail("%s", etcd_error(e));
        printf("%s: takes VMs again\n", host);
        return 0;
    }
    if (!known)
        return fail("drain: no live host named '%s'", host);
    if (etcd_put(e, key, "1", 0))
        return fail("%s", etcd_error(e));
    int failed = 0, moved = 0;
    int64_t t0 = mono_ms();
    for (;;) {
        if (load(e, &cv))
            return 1;
        const struct cluster_vm *pick = NULL;
        for (size_t i = 0; i < cv.nvms && !pick; i++)
            if (cv.vms[i].vm.running && !strcmp(cv.vms[i].vm.host, host) &&
                !strstr(cv.vms[i].vm.message, "drain: cannot"))
                pick = &cv.vms[i].vm;
        if (!pick) {
            cluster_view_free(&cv);
            break;
        }
        char name[CLUSTER_NAME_MAX], to[CLUSTER_NAME_MAX];
        snprintf(name, sizeof(name), "%s", pick->name);
        int h = cluster_place(cv.hosts, cv.nhosts, cv.vm_list, cv.nvms, pick->memory_mib, host);
        if (h >= 0)
            snprintf(to, sizeof(to), "%s", cv.hosts[h].name);
        cluster_view_free(&cv);
        if (h < 0) {
            fail("drain %s: %s fits on no other host; it stays", host, name);
            failed++;
            break;
        }
        if (migrate_one(e, name, to, "precopy")) {
            failed++;
            break;
        }
        moved++;
    }
    printf("drain %s: %d VM(s) moved in %.1f s%s\n", host, moved,
           (double)(mono_ms() - t0) / 1000.0, failed ? "; stopped at a failure" : "");
    return failed ? 1 : 0;
}

static int cmd_balance(struct etcd *e, bool dry_run)
{
    struct cluster_view cv;
    if (load(e, &cv))
        return 1;
    struct cluster_move plan[64];
    size_t n = cluster_balance_plan(cv.hosts, cv.nhosts, cv.vm_list, cv.nvms, plan, 64);
    if (!n) {
        printf("balanced: no move narrows the gap between hosts\n");
        cluster_view_free(&cv);
        return 0;
    }
    printf("plan (%zu move%s):\n", n, n == 1 ? "" : "s");
    char names[64][CLUSTER_NAME_MAX], tos[64][CLUSTER_NAME_MAX];
    for (size_t i = 0; i < n; i++) {
        const struct cluster_vm *v = &cv.vm_list[plan[i].vm];
        printf("  %s (%llu MiB): %s -> %s\n", v->name, (unsigned long long)v->memory_mib,
               v->host, cv.hosts[plan[i].host].name);
        snprintf(names[i], sizeof(names[i]), "%s", v->name);
        snprintf(tos[i], sizeof(tos[i]), "%s", cv.hosts[plan[i].host].name);
    }
    cluster_view_free(&cv);
    if (dry_run)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (migrate_one(e, names[i], tos[i], "precopy"))
            return 1;
    return 0;
}

/* ---- dispatch ---- */

/* ---- snapshot ---- */

/* Ask NAME's agent for a snapshot into DIR (made absolute here: the agent
 * runs elsewhere) and wait for its answer in the VM record. */
static int cmd_snapshot(struct etcd *e, const char *name, const char *dir_arg, bool wait)
{
    char dir[CLUSTER_PATH_MAX], cwd[CLUSTER_PATH_MAX];
    if (dir_arg[0] == '/')
        snprintf(dir, sizeof(dir), "%s", dir_arg);
    else if (!getcwd(cwd, sizeof(cwd)) ||
             snprintf(dir, sizeof(dir), "%s/%s", cwd, dir_arg) >= (int)sizeof(dir))
        return fail("snapshot %s: --dir %s: path too long", name, dir_arg);
    if (strlen(dir) >= sizeof(dir) - 16)
        return fail("snapshot %s: --dir %s: path too long", name, dir_arg);
    for (int attempt = 0; attempt < 5; attempt++) {
        struct cluster_view cv;
        if (load(e, &cv))
            return 1;
        const struct cluster_vm_rec *vr = cluster_view_vm(&cv, name);
        int r = 0;
        if (!vr)
            r = fail("snapshot: no VM named '%s'", name);
        else if (!vr->vm.running || strcmp(vm_state(&cv, vr), "running"))
            r = fail("snapshot %s: it is %s, not running", name, vm_state(&cv, vr));
        else if (vr->vm.migrate_to[0])
            r = fail("snapshot %s: a migration to %s is in progress", name, vr->vm.migrate_to);
        else if (vr->vm.snapshot_id > vr->vm.snapshot_done)
            r = fail("snapshot %s: a snapshot into %s is in progress", name, vr->vm.snapshot_dir);
        if (r) {
            cluster_view_free(&cv);
            return r;
        }
        struct cluster_vm nv = vr->vm;
        nv.snapshot_id = (nv.snapshot_done > nv.snapshot_id ? nv.snapshot_done : nv.snapshot_id) + 1;
        snprintf(nv.snapshot_dir, sizeof(nv.snapshot_dir), "%s", dir);
        uint64_t id = nv.snapshot_id;
        char host[CLUSTER_NAME_MAX];
        snprintf(host, sizeof(host), "%s", nv.host);
        int rc = put_vm(e, &nv, vr->mod_revision);
        cluster_view_free(&cv);
        if (rc == -EAGAIN)
            continue;
        if (rc)
            return fail("%s", etcd_error(e));
        printf("%s: snapshot into %s asked of %s\n", name, dir, host);
        if (!wait)
            return 0;
        int64_t t0 = mono_ms();
        for (;;) {
            usleep(200000);
            if (load(e, &cv))
                return 1;
            vr = cluster_view_vm(&cv, name);
            if (!vr) {
                cluster_view_free(&cv);
                return fail("%s: the record disappeared", name);
            }
            if (vr->vm.snapshot_done >= id) {
                bool ok = vr->vm.last_snapshot_id == id;
                if (ok)
                    printf("%s: %s\n", name, vr->vm.message);
                else
                    fail("%s: %s", name, vr->vm.message);
                cluster_view_free(&cv);
                return ok ? 0 : 1;
            }
            const char *st = vm_state(&cv, vr);
            if (!vr->vm.running || (strcmp(st, "running") && strcmp(st, "snapshotting"))) {
                fail("%s: it is %s now; no snapshot", name, st);
                cluster_view_free(&cv);
                return 1;
            }
            cluster_view_free(&cv);
            if (mono_ms() - t0 > WAIT_SNAPSHOT_MS)
                return fail("%s: snapshot not done after %d s", name, WAIT_SNAPSHOT_MS / 1000);
        }
    }
    return fail("snapshot %s: the record keeps changing; try again", name);
}

int cli_cluster(int argc, char **argv)
{
    const char *url = getenv("CORRAL_ETCD");
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--etcd") && i + 1 < argc)
            url = argv[++i];
        else if (!strncmp(argv[i], "--etcd=", 7))
            url = argv[i] + 7;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(cluster_help, stdout);
            return 0;
        } else
            return cli_usage_error("cluster: unknown option '%s'", argv[i]);
    }
    if (i == argc) {
        fputs(cluster_help, stderr);
        return 2;
    }
    const char *cmd = argv[i++];
    /* The command's own options. */
    const char *config = NULL, *host = NULL, *to = NULL, *mode = "precopy", *dir = NULL;
    bool shared = false, wait = true, as_json = false, dry_run = false;
    const char *args[2] = { NULL, NULL };
    int nargs = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char **val = !strcmp(a, "--config") ? &config
                         : !strcmp(a, "--host")   ? &host
                         : !strcmp(a, "--to")     ? &to
                         : !strcmp(a, "--mode")   ? &mode
                         : !strcmp(a, "--dir")    ? &dir
                                                  : NULL;
        if (val) {
            if (i + 1 >= argc)
                return cli_usage_error("cluster: %s needs a value", a);
            *val = argv[++i];
        } else if (!strcmp(a, "--shared-storage")) {
            shared = true;
        } else if (!strcmp(a, "--no-wait")) {
            wait = false;
        } else if (!strcmp(a, "--json")) {
            as_json = true;
        } else if (!strcmp(a, "--dry-run")) {
            dry_run = true;
        } else if (a[0] == '-') {
            return cli_usage_error("cluster: unknown option '%s'", a);
        } else if (nargs < 2) {
            args[nargs++] = a;
        } else {
            return cli_usage_error("cluster: unexpected argument '%s'", a);
        }
    }
    if (strcmp(mode, "precopy") && strcmp(mode, "postcopy") && strcmp(mode, "auto"))
        return cli_usage_error("cluster: --mode %s: precopy, postcopy or auto", mode);
    static const struct { const char *cmd; int nargs; } shapes[] = {
        { "hosts", 0 }, { "ps", 0 },    { "create", 1 }, { "stop", 1 },    { "start", 1 },
        { "rm", 1 },    { "migrate", 1 }, { "drain", 1 }, { "undrain", 1 }, { "balance", 0 },
        { "snapshot", 1 },
    };
    int want = -1;
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
        if (!strcmp(shapes[k].cmd, cmd))
            want = shapes[k].nargs;
    if (want < 0)
        return cli_usage_error("cluster: unknown command '%s'", cmd);
    if (nargs != want)
        return cli_usage_error("cluster %s: wrong arguments", cmd);
    if (!strcmp(cmd, "create") && !config)
        return cli_usage_error("cluster create: --config FILE is required%s", "");
    if (!strcmp(cmd, "migrate") && !to)
        return cli_usage_error("cluster migrate: --to HOST is required%s", "");
    if (!strcmp(cmd, "snapshot") && (!dir || !*dir))
        return cli_usage_error("cluster snapshot: --dir DIR is required%s", "");
    if (!url || !*url)
        return cli_usage_error("cluster: which etcd? --etcd URL or CORRAL_ETCD%s", "");
    char err[256];
    struct etcd *e = etcd_open(url, err, sizeof(err));
    if (!e)
        return fail("%s", err);
    int r;
    if (!strcmp(cmd, "hosts"))
        r = cmd_hosts(e);
    else if (!strcmp(cmd, "ps"))
        r = cmd_ps(e, as_json);
    else if (!strcmp(cmd, "create"))
        r = cmd_create(e, args[0], config, host, shared, wait);
    else if (!strcmp(cmd, "stop") || !strcmp(cmd, "start"))
        r = cmd_set_running(e, args[0], !strcmp(cmd, "start"), wait);
    else if (!strcmp(cmd, "rm"))
        r = cmd_rm(e, args[0]);
    else if (!strcmp(cmd, "migrate"))
        r = migrate_one(e, args[0], to, mode);
    else if (!strcmp(cmd, "drain") || !strcmp(cmd, "undrain"))
        r = cmd_drain(e, args[0], !strcmp(cmd, "drain"));
    else if (!strcmp(cmd, "snapshot"))
        r = cmd_snapshot(e, args[0], dir, wait);
    else
        r = cmd_balance(e, dry_run);
    etcd_close(e);
    return r;
}
