/* The named-VM registry (see registry.h). An entry records the pid and the
 * process start time (from /proc/PID/stat), so a pid reused by an
 * unrelated process is not mistaken for the VM. */
#include "vm/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/config.h"

bool vm_registry_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= VM_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int vm_registry_dir(char *out, size_t len)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (xdg && *xdg == '/')
        n = snprintf(out, len, "%s/corral", xdg);
    else
        n = snprintf(out, len, "/tmp/corral-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    if (mkdir(out, 0700) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (lstat(out, &st) < 0)
        return -errno;
    /* /tmp is shared: refuse a directory someone else planted. */
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
        return -EPERM;
    return 0;
}

/* Fields of /proc/PID/stat: the state (3) and the start time in clock
 * ticks since boot (22). False when the process is gone. */
static bool proc_stat(pid_t pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces and ')' */
    if (!p || p[1] != ' ' || !p[2])
        return false;
    *state = p[2];
    p++;
    /* After ')': field 3 (state) onwards; start time is field 22. */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    *start = p ? strtoull(p + 1, NULL, 10) : 0;
    return true;
}

static unsigned long long proc_start_time(pid_t pid)
{
    char state;
    unsigned long long start = 0;
    return proc_stat(pid, &state, &start) ? start : 0;
}

static bool entry_alive(pid_t pid, unsigned long long start)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    char state;
    unsigned long long now;
    if (!proc_stat(pid, &state, &now))
        return true; /* no /proc: trust kill() */
    /* A VM killed but not yet reaped by its parent is as dead as one gone. */
    if (state == 'Z' || state == 'X' || state == 'x')
        return false;
    return now == 0 || start == 0 || now == start;
}

bool vm_registry_alive(const struct vm_registry_entry *e)
{
    return entry_alive(e->pid, e->start_time);
}

static int read_entry(const char *path, struct vm_registry_entry *e, unsigned long long *start)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc)
        return -EINVAL;
    const char *name = NULL, *sock = NULL;
    json_int_t pid = 0, st = 0;
    int r = json_unpack(doc, "{s:s, s:I, s?I, s?s}", "name", &name, "pid", &pid,
                        "start_time", &st, "socket", &sock);
    if (!r) {
        memset(e, 0, sizeof(*e));
        snprintf(e->name, sizeof(e->name), "%s", name);
        snprintf(e->socket, sizeof(e->socket), "%s", sock ? sock : "");
        e->pid = (pid_t)pid;
        e->start_time = (unsigned long long)st;
        *start = e->start_time;
    }
    json_decref(doc);
    return r ? -EINVAL : 0;
}

int vm_registry_add(const char *name, const char *socket, char *path_out, size_t len,
                    char *err)
{
    char dir[PATH_MAX];
    int r;
    if (!vm_registry_valid_name(name)) {
        snprintf(err, VM_ERR_LEN, "--name %s: use 1 to %d letters, digits, '.', '_' or '-'",
                 name, VM_NAME_MAX - 1);
        return -EINVAL;
    }
    if ((r = vm_registry_dir(dir, sizeof(dir)))) {
        snprintf(err, VM_ERR_LEN, "cannot use the VM registry directory: %s", strerror(-r));
        return r;
    }
    if (snprintf(path_out, len, "%s/%s.json", dir, name) >= (int)len) {
        snprintf(err, VM_ERR_LEN, "registry path too long");
        return -ENAMETOOLONG;
    }
    struct vm_registry_entry old;
    unsigned long long start;
    if (read_entry(path_out, &old, &start) == 0 && old.pid != getpid() &&
        entry_alive(old.pid, start)) {
        snprintf(err, VM_ERR_LEN, "--name %s: already used by a running VM (pid %d)", name,
                 (int)old.pid);
        return -EEXIST;
    }
    json_t *doc = json_pack("{s:s, s:I, s:I, s:s}", "name", name, "pid",
                            (json_int_t)getpid(), "start_time",
                            (json_int_t)proc_start_time(getpid()), "socket",
                            socket ? socket : "");
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path_out);
    /* Written aside (a fresh O_EXCL name: no planted symlink is followed)
     * and renamed: a reader never sees half an entry. */
    errno = 0;
    int fd = doc ? mkostemp(tmp, O_CLOEXEC) : -1;
    r = fd >= 0 ? json_dumpfd(doc, fd, JSON_COMPACT) : -1;
    json_decref(doc);
    if (fd >= 0 && (close(fd) < 0 || r))
        r = -1;
    if (r || rename(tmp, path_out) < 0) {
        int e = errno ? errno : EIO;
        if (fd >= 0)
            unlink(tmp);
        snprintf(err, VM_ERR_LEN, "cannot write %s: %s", path_out, strerror(e));
        return -e;
    }
    return 0;
}

void vm_registry_remove(const char *path)
{
    struct vm_registry_entry e;
    unsigned long long start;
    if (path && *path && read_entry(path, &e, &start) == 0 && e.pid == getpid())
        unlink(path);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct vm_registry_entry *)a)->name,
                  ((const struct vm_registry_entry *)b)->name);
}

int vm_registry_list(struct vm_registry_entry **out, size_t *n)
{
    char dir[PATH_MAX];
    int r = vm_registry_dir(dir, sizeof(dir));
    *out = NULL;
    *n = 0;
    if (r)
        return r;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct vm_registry_entry *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") || de->d_name[0] == '.')
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct vm_registry_entry e;
        unsigned long long start;
        if (read_entry(path, &e, &start) || !entry_alive(e.pid, start)) {
            unlink(path); /* stale or garbage */
            continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            struct vm_registry_entry *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
        }
        v[cnt++] = e;
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof(*v), cmp_entry);
    *out = v;
    *n = cnt;
    return 0;
}

int vm_registry_find(const char *name, struct vm_registry_entry *out)
{
    char dir[PATH_MAX], path[PATH_MAX + 80];
    unsigned long long start;
    if (!vm_registry_valid_name(name))
        return -ENOENT;
    int r = vm_registry_dir(dir, sizeof(dir));
    if (r)
        return r;
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    if (read_entry(path, out, &start))
        return -ENOENT;
    if (!entry_alive(out->pid, start)) {
        unlink(path);
        return -ENOENT;
    }
    return 0;
}
