/* The console monitor (Ctrl-A c): a few commands for the VM this process
 * runs, answered on the console. It goes through the same vm_* calls the
 * API's handlers use, so it obeys the same state machine and refusals.
 * Main thread (called from the console input filter inside vm_run). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/console.h"
#include "vm/vm.h"

static const char monitor_help[] =
    "status          the VM's state\n"
    "pause           stop the guest's CPUs (resume goes on)\n"
    "resume          run a paused guest again\n"
    "snapshot DIR [diff]  write DIR/state and DIR/memory (corral restore DIR)\n"
    "metrics [KEY]   the VM's metrics (those starting with KEY)\n"
    "quit            stop the guest and exit corral\n"
    "help            this list (C-a h: the console keys)\n";

struct say_filter {
    const char *prefix;
    unsigned shown;
};

static void say_line(const char *key, const char *value, void *opaque)
{
    struct say_filter *sf = opaque;
    if (sf->prefix && strncmp(key, sf->prefix, strlen(sf->prefix)))
        return;
    char line[512];
    snprintf(line, sizeof(line), "%s: %s\n", key, value);
    console_say(line);
    sf->shown++;
}

static void say_result(int r, const char *done, const char *err)
{
    char line[VM_ERR_LEN + 32];
    if (r)
        snprintf(line, sizeof(line), "error: %s\n", *err ? err : strerror(-r));
    else
        snprintf(line, sizeof(line), "%s\n", done);
    console_say(line);
}

/* Pause if running, write a snapshot, resume what was running. */
static void monitor_snapshot(struct vm *vm, const char *dir, bool diff)
{
    char err[VM_ERR_LEN] = "", state[PATH_MAX], memory[PATH_MAX], line[PATH_MAX + 64];
    struct stat st;
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || stat(dir, &st) < 0 ||
        !S_ISDIR(st.st_mode)) {
        snprintf(line, sizeof(line), "error: %s: %s\n", dir,
                 errno && errno != EEXIST ? strerror(errno) : "not a directory");
        console_say(line);
        return;
    }
    if (snprintf(state, sizeof(state), "%s/state", dir) >= (int)sizeof(state) ||
        snprintf(memory, sizeof(memory), "%s/memory", dir) >= (int)sizeof(memory)) {
        console_say("error: the directory name is too long\n");
        return;
    }
    bool was_running = vm_get_state(vm) == VM_RUNNING;
    if (was_running && vm_pause(vm, err)) {
        say_result(-EINVAL, "", err);
        return;
    }
    int r = vm_snapshot_create(vm, state, memory, diff, err);
    char resume_err[VM_ERR_LEN] = "";
    if (was_running && vm_resume(vm, resume_err))
        say_result(-EINVAL, "", resume_err);
    snprintf(line, sizeof(line), "snapshot %s written (%s)", dir, diff ? "Diff" : "Full");
    say_result(r, line, err);
}

void monitor_command(struct vm *vm, const char *text, bool *quit)
{
    char buf[CONSOLE_LINE_MAX], *save = NULL, err[VM_ERR_LEN] = "";
    snprintf(buf, sizeof(buf), "%s", text);
    const char *cmd = strtok_r(buf, " \t", &save);
    const char *arg = strtok_r(NULL, " \t", &save);
    const char *arg2 = strtok_r(NULL, " \t", &save);
    if (!cmd)
        return;
    if (!strcmp(cmd, "help") || !strcmp(cmd, "?")) {
        console_say(monitor_help);
    } else if (!strcmp(cmd, "status") || !strcmp(cmd, "info")) {
        json_t *j = vm_info_json(vm);
        char line[256];
        snprintf(line, sizeof(line), "VM %s: %s\n",
                 json_string_value(json_object_get(j, "id")) ?: "?",
                 json_string_value(json_object_get(j, "state")) ?: "?");
        console_say(line);
        json_decref(j);
    } else if (!strcmp(cmd, "pause") || !strcmp(cmd, "stop")) {
        say_result(vm_pause(vm, err), "paused", err);
    } else if (!strcmp(cmd, "resume") || !strcmp(cmd, "cont")) {
        say_result(vm_resume(vm, err), "resumed", err);
    } else if (!strcmp(cmd, "snapshot")) {
        if (!arg || (arg2 && strcmp(arg2, "diff")))
            console_say("usage: snapshot DIR [diff]\n");
        else
            monitor_snapshot(vm, arg, arg2 != NULL);
    } else if (!strcmp(cmd, "metrics")) {
        json_t *j = vm_metrics_json(vm);
        struct say_filter sf = { .prefix = arg };
        cli_json_flat("", j, say_line, &sf);
        if (!sf.shown)
            console_say(arg ? "no metric starts with that\n" : "no metrics\n");
        json_decref(j);
    } else if (!strcmp(cmd, "quit") || !strcmp(cmd, "q")) {
        *quit = true;
    } else {
        char line[CONSOLE_LINE_MAX + 64];
        snprintf(line, sizeof(line), "unknown command '%s' (try help)\n", cmd);
        console_say(line);
    }
}
