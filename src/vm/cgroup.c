/* cgroup quotas (see cgroup.h). */
#include "vm/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CPU_PERIOD_US 100000

struct cg_dir {
    char orig[512];   /* the cgroup we came from */
    char mine[600];   /* the one we made; "" when none */
};

struct vm_cgroup {
    bool v2;
    struct cg_dir cpu, mem; /* v2: only `cpu` is used */
};

static int write_file(const char *dir, const char *file, const char *val)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(val);
    ssize_t w = write(fd, val, n);
    int r = w == (ssize_t)n ? 0 : (w < 0 ? -errno : -EIO);
    close(fd);
    return r;
}

/* Our path in hierarchy `ctrl` ("cpu", "memory", or "" for v2) from
 * /proc/self/cgroup. */
static int self_path(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[1024];
    int r = -ENOENT;
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        line[strcspn(c2 + 1, "\n") + (size_t)(c2 + 1 - line)] = 0;
        const char *list = c1 + 1;
        bool match = false;
        if (!*ctrl) {
            match = !*list;
        } else {
            char copy[256], *save = NULL;
            snprintf(copy, sizeof(copy), "%s", list);
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (!strcmp(t, ctrl))
                    match = true;
        }
        if (match) {
            snprintf(out, len, "%s", c2 + 1);
            r = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

/* Make a child of our cgroup under mount `mnt` for hierarchy `ctrl`. */
/* A VMM killed with SIGKILL leaves its (empty) corral-PID cgroup behind:
 * the next one to make a cgroup beside it removes those whose process is
 * gone. An empty cgroup is removed with rmdir; one still in use refuses. */
static void sweep_stale(const char *parent)
{
    DIR *dir = opendir(parent);
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char *end;
        if (strncmp(e->d_name, "corral-", 7))
            continue;
        long pid = strtol(e->d_name + 7, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
            errno != ESRCH)
            continue;
        char path[800];
        snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
        if (rmdir(path) == 0)
            log_info("cgroup: removed %s, left by a VMM that is gone", path);
    }
    closedir(dir);
}

static int make_dir(struct cg_dir *d, const char *mnt, const char *ctrl, char *err,
                    size_t errlen)
{
    char rel[400];
    int r = self_path(ctrl, rel, sizeof(rel));
    if (r) {
        snprintf(err, errlen, "cgroup: this process is in no %s cgroup", *ctrl ? ctrl : "v2");
        return r;
    }
    if (!strcmp(rel, "/"))
        rel[0] = 0;
    snprintf(d->orig, sizeof(d->orig), "%s%s", mnt, rel);
    sweep_stale(d->orig);
    snprintf(d->mine, sizeof(d->mine), "%s/corral-%ld", d->orig, (long)getpid());
    if (mkdir(d->mine, 0755) && errno != EEXIST) {
        r = -errno;
        snprintf(err, errlen, "cgroup: cannot create %s: %s (cgroups not writable; run as "
                 "root or delegate the cgroup)", d->mine, strerror(errno));
        d->mine[0] = 0;
        return r;
    }
    return 0;
}

static void drop_dir(struct cg_dir *d, const char *procs)
{
    if (!d->mine[0])
        return;
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if (write_file(d->orig, procs, pid))
        log_warn("cgroup: cannot move back to %s", d->orig);
    if (rmdir(d->mine) && errno != ENOENT)
        log_warn("cgroup: cannot remove %s: %s", d->mine, strerror(errno));
    d->mine[0] = 0;
}

static int set(const char *dir, const char *file, const char *val, char *err, size_t errlen)
{
    int r = write_file(dir, file, val);
    if (r)
        snprintf(err, errlen, "cgroup: cannot write '%s' to %s/%s: %s", val, dir, file,
                 strerror(-r));
    return r;
}

static int enter_v2(struct vm_cgroup *cg, const struct vm_cgroup_limits *l, char *err,
                    size_t errlen)
{
    char v[64];
    int r;
    if ((r = make_dir(&cg->cpu, CG_ROOT, "", err, errlen)))
        return r;
    /* The controllers must be enabled for our parent's children. */
    const char *need = (l->cpu_quota_pct || l->cpu_weight) && l->memory_limit ? "+cpu +memory"
                       : l->memory_limit ? "+memory" : "+cpu";
    if ((r = set(cg->cpu.orig, "cgroup.subtree_control", need, err, errlen)))
        return r;
    if (l->cpu_quota_pct) {
        snprintf(v, sizeof(v), "%llu %d",
                 (unsigned long long)l->cpu_quota_pct * CPU_PERIOD_US / 100, CPU_PERIOD_US);
        if ((r = set(cg->cpu.mine, "cpu.max", v, err, errlen)))
            return r;
    }
    if (l->cpu_weight) {
        snprintf(v, sizeof(v), "%u", l->cpu_weight);
        if ((r = set(cg->cpu.mine, "cpu.weight", v, err, errlen)))
            return r;
    }
    if (l->memory_limit) {
        snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory_limit);
        if ((r = set(cg->cpu.mine, "memory.max", v, err, errlen)))
            return r;
    }
    snprintf(v, sizeof(v), "%ld", (long)getpid());
    return set(cg->cpu.mine, "cgroup.procs", v, err, errlen);
}

static int enter_v1(struct vm_cgroup *cg, const struct vm_cgroup_limits *l, char *err,
                    size_t errlen)
{
    char v[64], pid[32];
    int r;
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if (l->cpu_quota_pct || l->cpu_weight) {
        if ((r = make_dir(&cg->cpu, CG_ROOT "/cpu", "cpu", err, errlen)))
            return r;
        if (l->cpu_quota_pct) {
            snprintf(v, sizeof(v), "%d", CPU_PERIOD_US);
            if ((r = set(cg->cpu.mine, "cpu.cfs_period_us", v, err, errlen)))
                return r;
            snprintf(v, sizeof(v), "%llu",
                     (unsigned long long)l->cpu_quota_pct * CPU_PERIOD_US / 100);
            if ((r = set(cg->cpu.mine, "cpu.cfs_quota_us", v, err, errlen)))
                return r;
        }
        if (l->cpu_weight) {
            /* v2 weight 100 is v1's 1024 shares. */
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->cpu_weight * 1024 / 100 + 1);
            if ((r = set(cg->cpu.mine, "cpu.shares", v, err, errlen)))
                return r;
        }
        if ((r = set(cg->cpu.mine, "cgroup.procs", pid, err, errlen)))
            return r;
    }
    if (l->memory_limit) {
        if ((r = make_dir(&cg->mem, CG_ROOT "/memory", "memory", err, errlen)))
            return r;
        snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory_limit);
        if ((r = set(cg->mem.mine, "memory.limit_in_bytes", v, err, errlen)))
            return r;
        if ((r = set(cg->mem.mine, "cgroup.procs", pid, err, errlen)))
            return r;
    }
    return 0;
}

int vm_cgroup_enter(const struct vm_cgroup_limits *l, struct vm_cgroup **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (!vm_cgroup_wanted(l))
        return 0;
    struct vm_cgroup *cg = calloc(1, sizeof(*cg));
    if (!cg) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cg->v2 = access(CG_ROOT "/cgroup.controllers", F_OK) == 0;
    int r = cg->v2 ? enter_v2(cg, l, err, errlen) : enter_v1(cg, l, err, errlen);
    if (r) {
        vm_cgroup_leave(cg);
        return r;
    }
    *out = cg;
    return 0;
}

void vm_cgroup_leave(struct vm_cgroup *cg)
{
    if (!cg)
        return;
    drop_dir(&cg->cpu, "cgroup.procs");
    drop_dir(&cg->mem, "cgroup.procs");
    free(cg);
}
