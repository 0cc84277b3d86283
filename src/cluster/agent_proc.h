/* The agent's VM processes: `corral run` children it starts, watches and
 * stops, and their API sockets. Kept apart from the agent's cluster logic
 * (agent.c) so that what runs on this host is one small table. */
#ifndef CORRAL_CLUSTER_AGENT_PROC_H
#define CORRAL_CLUSTER_AGENT_PROC_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "cluster/records.h"

enum agent_role {
    AGENT_MAIN,     /* the VM, running here */
    AGENT_INCOMING, /* a destination waiting for (or receiving) a migration */
    AGENT_LEAVING,  /* the source of a move away, still on its way out when
                     * the VM came back here (its name and paths are the
                     * new process's now) */
};

struct agent_proc {
    bool used;
    char name[CLUSTER_NAME_MAX];
    enum agent_role role;
    pid_t pid;
    bool child;            /* ours to waitpid (false: adopted after a restart) */
    unsigned long long start_time; /* /proc start time: a reused pid is not ours */
    bool exited;
    int exit_status;       /* as from waitpid, once exited */
    char sock[PATH_MAX];
    bool sock_taken;       /* a newer process of the VM listens on `sock` now */
    char console[PATH_MAX];
    uint64_t epoch;        /* of the VM record it was started for */
    uint64_t migrate_id;   /* AGENT_INCOMING: the migration it waits for;
                            * AGENT_MAIN: the outgoing one it runs (0: none) */
    bool running_seen;     /* its API answered "Running" once */
    int64_t start_deadline_ms; /* not Running by then: killed */
    int64_t stop_deadline_ms;  /* asked to shut down: SIGKILL after this */
    bool restoring;        /* started from the record's last_snapshot */
    bool follow_drives;    /* the record's disk paths may be stale (cluster/agent_snapshot.h) */
    uint64_t snapshot_answer; /* a snapshot taken whose outcome is not yet in the record */
    bool snapshot_ok;
    char snapshot_message[CLUSTER_MSG_MAX];
    char state[16];        /* the status last written to etcd */
    char message[CLUSTER_MSG_MAX];
    char api_err[192];     /* why the last API request got no answer */
};

#define AGENT_MAX_PROCS 64

struct agent_procs {
    struct agent_proc p[AGENT_MAX_PROCS];
    const char *corral, *state_dir, *fence_file;
    int fence_timeout_ms;
};

/* The process of `name` in `role` (NULL: none). */
struct agent_proc *agent_proc_find(struct agent_procs *t, const char *name, enum agent_role role);
/* Start `corral run` for a VM: with its configuration (AGENT_MAIN), from
 * the snapshot in restore_dir (AGENT_MAIN, config_json NULL), or waiting
 * on `incoming_uri` (AGENT_INCOMING). NULL with err on failure. */
struct agent_proc *agent_proc_start(struct agent_procs *t, const char *name, enum agent_role role,
                                    const char *config_json, const char *restore_dir,
                                    const char *incoming_uri, char *err, size_t errlen);
/* Reap children and notice adopted processes that are gone. */
void agent_proc_poll(struct agent_procs *t);
/* Orderly shutdown through the API; SIGKILL after grace_ms (call again
 * each loop: it kills once the deadline passed). */
void agent_proc_stop(struct agent_proc *p, int64_t now_ms, int64_t grace_ms);
/* SIGKILL now (fencing: the VM belongs elsewhere). */
void agent_proc_kill(struct agent_proc *p);
/* Forget an exited process (its socket file too, unless another process
 * of the table has that path now). */
void agent_proc_forget(struct agent_procs *t, struct agent_proc *p);
/* The VMs of a previous agent still running under this state directory
 * (from the registry): entered as adopted AGENT_MAIN processes. */
void agent_proc_adopt(struct agent_procs *t);
/* One API request to the VM; the answer parsed as JSON (NULL: no answer
 * or not JSON). *status is the HTTP status. */
json_t *agent_proc_api(struct agent_proc *p, const char *method, const char *path,
                              const char *body, unsigned *status);
/* The last non-empty line of the process's log (its stderr), for messages. */
void agent_proc_last_log(const struct agent_proc *p, char *out, size_t len);

#endif
