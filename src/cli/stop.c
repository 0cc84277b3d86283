/* corral stop NAME...: stop VMs found by name in the registry. A VM with
 * an API socket gets the API's Shutdown (the guest is asked to power off;
 * the VMM stops it hard after its own timeout); one without gets SIGTERM
 * (a hard stop). Then we wait for the process to be gone, SIGTERM it when
 * the wait runs out, and SIGKILL it with --force. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "vm/registry.h"

static const char stop_help[] =
    "usage: corral stop [--timeout SECONDS] [--force] NAME...\n"
    "\n"
    "Stop the running VMs registered as NAME (corral run --name NAME). With an\n"
    "API socket the guest is asked to shut down (as 'corral ctl shutdown');\n"
    "without one the VMM gets SIGTERM. If a VM is still there after the\n"
    "timeout it gets SIGTERM, and with --force then SIGKILL.\n"
    "\n"
    "options:\n"
    "  --timeout SECONDS  how long to wait for each VM (default 30)\n"
    "  --force            SIGKILL a VM that outlives SIGTERM by 5 seconds\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit status: 0 when every VM stopped, 1 otherwise, 2 for usage errors.\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* True once the VM's process is gone (or a zombie) within `secs`. */
static bool wait_gone(const struct vm_registry_entry *e, double secs)
{
    double end = now_s() + secs;
    while (vm_registry_alive(e)) {
        if (now_s() >= end)
            return false;
        usleep(20000);
    }
    return true;
}

static int stop_one(const char *name, double timeout, bool force)
{
    struct vm_registry_entry e;
    int r = vm_registry_find(name, &e);
    if (r) {
        fprintf(stderr, "corral: error: stop %s: %s\n", name,
                r == -ENOENT ? "no running VM has that name (see corral ps)" : strerror(-r));
        return 1;
    }
    bool asked = false;
    if (*e.socket) {
        unsigned status;
        char *resp, err[API_ERR_LEN];
        if (api_client_request(e.socket, "PUT", "/actions",
                               "{\"action_type\":\"Shutdown\"}", &status, &resp, err) == 0) {
            asked = status < 300;
            free(resp);
        }
    }
    if (!asked && kill(e.pid, SIGTERM) < 0 && errno != ESRCH) {
        fprintf(stderr, "corral: error: stop %s: pid %d: %s\n", name, (int)e.pid,
                strerror(errno));
        return 1;
    }
    if (wait_gone(&e, timeout))
        goto stopped;
    if (asked) {
        fprintf(stderr, "corral: %s did not stop within %g s; sending SIGTERM\n", name,
                timeout);
        kill(e.pid, SIGTERM);
        if (wait_gone(&e, 5))
            goto stopped;
    }
    if (force) {
        fprintf(stderr, "corral: %s still runs; sending SIGKILL\n", name);
        kill(e.pid, SIGKILL);
        if (wait_gone(&e, 5))
            goto stopped;
    }
    fprintf(stderr, "corral: error: stop %s: pid %d still runs%s\n", name, (int)e.pid,
            force ? "" : " (--force to kill it)");
    return 1;
stopped:
    printf("stopped %s\n", name);
    return 0;
}

int cli_stop(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "timeout", required_argument, NULL, 't' },
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    double timeout = 30;
    bool force = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 't':
            timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(timeout > 0 && timeout <= 3600))
                return cli_usage_error("stop --timeout %s: give a number of seconds, above 0 "
                                       "and at most 3600", optarg);
            break;
        case 'f': force = true; break;
        case 'h':
            fputs(stop_help, stdout);
            return 0;
        default:
            return cli_usage_error("stop: unknown option or missing value near '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("stop: which VM? corral stop NAME%s", "");
    int rc = 0;
    for (int i = optind; i < argc; i++)
        if (stop_one(argv[i], timeout, force))
            rc = 1;
    return rc;
}
