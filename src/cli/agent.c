/* corral agent --etcd URL --name HOST --addr ADDR [options]: the host
 * agent of a Corral cluster (cluster/agent.h). This file only reads the
 * flags and the host's size. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cluster/agent.h"
#include "cluster/cluster.h"

static const char agent_help[] =
    "usage: corral agent --etcd URL --name HOST --addr ADDR [options]\n"
    "\n"
    "Join this host to a Corral cluster kept in etcd and run the VMs the\n"
    "cluster places on it, each as its own 'corral run' process. Stopping the\n"
    "agent leaves its VMs running for the fence timeout (lease/2 - 1 s): an\n"
    "agent restarted by then adopts them; otherwise they stop and the cluster\n"
    "restarts the ones with shared storage on other hosts.\n"
    "\n"
    "options:\n"
    "  --etcd URL[,URL]   etcd's client URL(s) (default: $CORRAL_ETCD)\n"
    "  --name HOST        this host's name in the cluster\n"
    "  --addr ADDR        IPv4 address other hosts reach this one on (migrations)\n"
    "  --memory MIB       memory offered to VMs (default: 80% of MemTotal)\n"
    "  --cpus N           harts offered (default: the host's CPUs)\n"
    "  --state-dir DIR    VM sockets, consoles and logs\n"
    "                     (default: $XDG_RUNTIME_DIR or /tmp, then corral-agent-HOST)\n"
    "  --lease SECONDS    the host's etcd lease, 5..60 (default 10): a host is\n"
    "                     declared lost this long after its agent stops answering\n"
    "  -h, --help         this help\n";

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint64_t default_memory_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kib = 0;
    char line[128];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib / 1024 * 8 / 10;
}

static long num(const char *s, long lo, long hi)
{
    char *end;
    long n = strtol(s, &end, 10);
    return *s && !*end && n >= lo && n <= hi ? n : -1;
}

int cli_agent(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "etcd", required_argument, NULL, 'e' },   { "name", required_argument, NULL, 'n' },
        { "addr", required_argument, NULL, 'a' },   { "memory", required_argument, NULL, 'm' },
        { "cpus", required_argument, NULL, 'c' },   { "state-dir", required_argument, NULL, 's' },
        { "lease", required_argument, NULL, 'l' },  { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    struct cluster_agent_opts o = { .etcd = getenv("CORRAL_ETCD"), .ttl = 10,
                                    .cpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
                                    .memory_mib = default_memory_mib() };
    long n;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e': o.etcd = optarg; break;
        case 'n':
            if (!cluster_valid_name(optarg))
                return cli_usage_error("agent: --name %s: use letters, digits, '.', '_' or '-' "
                                       "(at most 63)", optarg);
            o.name = optarg;
            break;
        case 'a': o.addr = optarg; break;
        case 's': o.state_dir = optarg; break;
        case 'm':
            if ((n = num(optarg, 64, 1 << 30)) < 0)
                return cli_usage_error("agent: --memory %s: MiB, at least 64", optarg);
            o.memory_mib = (uint64_t)n;
            break;
        case 'c':
            if ((n = num(optarg, 1, 1024)) < 0)
                return cli_usage_error("agent: --cpus %s: 1..1024", optarg);
            o.cpus = (unsigned)n;
            break;
        case 'l':
            if ((n = num(optarg, 5, 60)) < 0)
                return cli_usage_error("agent: --lease %s: 5..60 seconds", optarg);
            o.ttl = (int)n;
            break;
        case 'h': fputs(agent_help, stdout); return 0;
        default:
            return cli_usage_error("agent: unknown option or missing value near '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("agent: unexpected argument '%s'", argv[optind]);
    if (!o.etcd || !*o.etcd)
        return cli_usage_error("agent: which etcd? --etcd URL or CORRAL_ETCD%s", "");
    if (!o.name)
        return cli_usage_error("agent: --name HOST is required%s", "");
    if (!o.addr)
        return cli_usage_error("agent: --addr ADDR is required (where migrations reach this "
                               "host)%s", "");
    if (cluster_free_port(o.addr) < 0)
        return cli_usage_error("agent: --addr %s: not an IPv4 address of this host", o.addr);

    static char state_dir[PATH_MAX], run_dir[PATH_MAX + 8], self[PATH_MAX];
    if (!o.state_dir) {
        const char *base = getenv("XDG_RUNTIME_DIR");
        snprintf(state_dir, sizeof(state_dir), "%s/corral-agent-%s", base && *base ? base : "/tmp",
                 o.name);
        o.state_dir = state_dir;
    }
    if (mkdir(o.state_dir, 0700) && access(o.state_dir, W_OK)) {
        fprintf(stderr, "corral: error: agent: --state-dir %s: cannot create or write it\n",
                o.state_dir);
        return 1;
    }
    /* The VMs' registry lives in the state directory: each agent (each
     * host) sees only its own VMs, and a migration's two ends on one
     * machine do not collide on the name. */
    snprintf(run_dir, sizeof(run_dir), "%s/run", o.state_dir);
    if (mkdir(run_dir, 0700) && access(run_dir, W_OK)) {
        fprintf(stderr, "corral: error: agent: %s: cannot create it\n", run_dir);
        return 1;
    }
    setenv("XDG_RUNTIME_DIR", run_dir, 1);
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0) {
        fprintf(stderr, "corral: error: agent: cannot find its own binary\n");
        return 1;
    }
    self[len] = '\0';
    o.corral = self;

    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return cluster_agent_run(&o, &stop_flag);
}
