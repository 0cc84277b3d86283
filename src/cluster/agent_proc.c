/* The agent's `corral run` processes (cluster/agent_proc.h). Each VM runs
 * with its API on <state_dir>/<name>.sock, its console in
 * <state_dir>/<name>.console, its log in <state_dir>/<name>.log, and the
 * agent's heartbeat file as its fence. The agent's registry directory
 * (XDG_RUNTIME_DIR, set by the agent) is inherited, so `corral ps` inside
 * that environment and agent_proc_adopt see the same VMs. */
#include "cluster/agent_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "vm/registry.h"

extern char **environ;

struct agent_proc *agent_proc_find(struct agent_procs *t, const char *name, enum agent_role role)
{
    for (int i = 0; i < AGENT_MAX_PROCS; i++)
        if (t->p[i].used && t->p[i].role == role && !strcmp(t->p[i].name, name))
            return &t->p[i];
    return NULL;
}

static struct agent_proc *slot(struct agent_procs *t)
{
    for (int i = 0; i < AGENT_MAX_PROCS; i++)
        if (!t->p[i].used)
            return &t->p[i];
    return NULL;
}

/* Write `text` to path through a temporary file and rename. */
static int write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0) {
            int e = -errno;
            close(fd);
            unlink(tmp);
            return e;
        }
        off += (size_t)n;
    }
    if (close(fd) || rename(tmp, path)) {
        int e = -errno;
        unlink(tmp);
        return e;
    }
    return 0;
}

struct agent_proc *agent_proc_start(struct agent_procs *t, const char *name, enum agent_role role,
                                    const char *config_json, const char *restore_dir,
                                    const char *incoming_uri, char *err, size_t errlen)
{
    struct agent_proc *p = slot(t);
    if (!p) {
        snprintf(err, errlen, "this agent runs %d processes already", AGENT_MAX_PROCS);
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->role = role;
    snprintf(p->sock, sizeof(p->sock), "%s/%s.sock", t->state_dir, name);
    snprintf(p->console, sizeof(p->console), "%s/%s.console", t->state_dir, name);
    char cfg[PATH_MAX], logf[PATH_MAX], console_arg[PATH_MAX + 8], fence_to[16];
    snprintf(cfg, sizeof(cfg), "%s/%s.json", t->state_dir, name);
    snprintf(logf, sizeof(logf), "%s/%s.log", t->state_dir, name);
    snprintf(console_arg, sizeof(console_arg), "file:%s", p->console);
    snprintf(fence_to, sizeof(fence_to), "%.1f", t->fence_timeout_ms / 1000.0);
    /* The socket's path is the VM's name: an older process of it still on
     * its way out (the source of a move away, say) must get no request
     * meant for it from here on, or the new process would take it. */
    for (int i = 0; i < AGENT_MAX_PROCS; i++)
        if (&t->p[i] != p && t->p[i].used && !strcmp(t->p[i].sock, p->sock))
            t->p[i].sock_taken = true;
    unlink(p->sock);
    int r;
    if (role == AGENT_MAIN && !restore_dir && (r = write_file(cfg, config_json))) {
        snprintf(err, errlen, "%s: %s", cfg, strerror(-r));
        return NULL;
    }
    const char *argv[24];
    int n = 0;
    argv[n++] = t->corral;
    argv[n++] = "run";
    if (role == AGENT_MAIN && restore_dir) {
        /* The snapshot brings the whole machine, its name included. */
        argv[n++] = "--restore";
        argv[n++] = restore_dir;
        argv[n++] = "--name";
        argv[n++] = name;
        p->restoring = true;
    } else if (role == AGENT_MAIN) {
        argv[n++] = "--config-file";
        argv[n++] = cfg;
        argv[n++] = "--name";
        argv[n++] = name;
    } else {
        /* The destination learns the VM's name from the stream and
         * registers it itself. */
        argv[n++] = "--incoming";
        argv[n++] = incoming_uri;
    }
    argv[n++] = "--api-sock";
    argv[n++] = p->sock;
    argv[n++] = "--console";
    argv[n++] = console_arg;
    argv[n++] = "--fence-file";
    argv[n++] = t->fence_file;
    argv[n++] = "--fence-timeout";
    argv[n++] = fence_to;
    argv[n] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    /* Its own process group: a Ctrl-C at the agent's terminal must not
     * reach the VMs. */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    r = posix_spawn(&p->pid, t->corral, &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r) {
        snprintf(err, errlen, "%s: %s", t->corral, strerror(r));
        return NULL;
    }
    p->used = true;
    p->child = true;
    return p;
}

static bool adopted_alive(const struct agent_proc *p)
{
    struct vm_registry_entry e = { .pid = p->pid, .start_time = p->start_time };
    return vm_registry_alive(&e);
}

void agent_proc_poll(struct agent_procs *t)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < AGENT_MAX_PROCS; i++) {
            struct agent_proc *p = &t->p[i];
            if (p->used && p->child && p->pid == pid && !p->exited) {
                p->exited = true;
                p->exit_status = status;
            }
        }
    }
    for (int i = 0; i < AGENT_MAX_PROCS; i++) {
        struct agent_proc *p = &t->p[i];
        if (p->used && !p->child && !p->exited && !adopted_alive(p)) {
            p->exited = true;
            p->exit_status = 0; /* not ours to reap: the status is unknown */
        }
    }
}

json_t *agent_proc_api(struct agent_proc *p, const char *method, const char *path,
                       const char *body, unsigned *status)
{
    char *resp = NULL, err[API_ERR_LEN];
    unsigned st = 0;
    if (p->sock_taken) {
        snprintf(p->api_err, sizeof(p->api_err), "its socket is a newer process's now");
        return NULL;
    }
    if (api_client_request(p->sock, method, path, body, &st, &resp, err)) {
        snprintf(p->api_err, sizeof(p->api_err), "no answer (%.170s)", err);
        return NULL;
    }
    p->api_err[0] = '\0';
    if (status)
        *status = st;
    json_error_t je;
    json_t *j = resp && *resp ? json_loads(resp, 0, &je) : json_object();
    free(resp);
    return j;
}

void agent_proc_kill(struct agent_proc *p)
{
    if (!p->exited && p->pid > 0 && (p->child || adopted_alive(p)))
        kill(p->pid, SIGKILL);
}

void agent_proc_stop(struct agent_proc *p, int64_t now_ms, int64_t grace_ms)
{
    if (p->exited)
        return;
    if (!p->stop_deadline_ms) {
        p->stop_deadline_ms = now_ms + grace_ms;
        if (!p->sock_taken)
            json_decref(agent_proc_api(p, "PUT", "/actions", "{\"action_type\":\"Shutdown\"}",
                                       NULL));
        else if (p->pid > 0 && (p->child || adopted_alive(p)))
            kill(p->pid, SIGTERM); /* by its pid: the socket is not its own now */
        return;
    }
    if (now_ms >= p->stop_deadline_ms)
        agent_proc_kill(p);
}

void agent_proc_forget(struct agent_procs *t, struct agent_proc *p)
{
    /* The socket's path is the VM's name: it may be a newer process's by
     * now (the VM came back while this one was on its way out). */
    bool shared = false;
    for (int i = 0; i < AGENT_MAX_PROCS; i++)
        shared |= &t->p[i] != p && t->p[i].used && !strcmp(t->p[i].sock, p->sock);
    if ((p->role == AGENT_MAIN || p->exited) && !shared)
        unlink(p->sock);
    p->used = false;
}

void agent_proc_adopt(struct agent_procs *t)
{
    struct vm_registry_entry *e;
    size_t n;
    if (vm_registry_list(&e, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (agent_proc_find(t, e[i].name, AGENT_MAIN))
            continue;
        struct agent_proc *p = slot(t);
        if (!p)
            break;
        memset(p, 0, sizeof(*p));
        p->used = true;
        snprintf(p->name, sizeof(p->name), "%s", e[i].name);
        p->role = AGENT_MAIN;
        p->pid = e[i].pid;
        p->start_time = e[i].start_time;
        snprintf(p->sock, sizeof(p->sock), "%s", e[i].socket);
        snprintf(p->console, sizeof(p->console), "%s/%s.console", t->state_dir, e[i].name);
        p->running_seen = true;
    }
    free(e);
}

void agent_proc_last_log(const struct agent_proc *p, char *out, size_t len)
{
    char logf[PATH_MAX];
    snprintf(logf, sizeof(logf), "%s", p->sock);
    size_t l = strlen(logf);
    if (l > 5 && !strcmp(logf + l - 5, ".sock"))
        memcpy(logf + l - 5, ".log", 5);
    out[0] = '\0';
    FILE *f = fopen(logf, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (*line)
            snprintf(out, len, "%s", line);
    }
    fclose(f);
}
