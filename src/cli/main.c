/* corral: the command line. A thin client of the vm layer: parses flags
 * (over an optional --config-file), opens the API socket and the registry
 * entry, starts the VM (or waits for the API's InstanceStart) and hands
 * the main loop to vm_run(), whose result is the exit status.
 *
 *   corral run --kernel PATH [--initrd PATH] [--firmware PATH] ...
 *   corral run --api-sock PATH       configure and start through the API
 *   corral run --test ELF            bare-metal test program
 *   corral up [flags]                the default Debian guest (cache)
 *   corral up --debian [flags]       the full Debian system (up_debian.c)
 *   corral image debian OUT.qcow2    build that system (image.c)
 *   corral ctl --sock PATH CMD       talk to a running VM (ctl.c)
 *   corral ps                        list named VMs (ps.c)
 *   corral stop NAME                 stop a named VM (stop.c)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "cli/console.h"
#include "cli/up_debian.h"
#include "core/jail.h"
#include "core/log.h"
#include "core/seccomp.h"
#include "cpu/riscv/jit.h"
#include "machine/options.h"
#include "vm/registry.h"
#include "vm/vm.h"

#ifndef CORRAL_SOURCE_DIR
#define CORRAL_SOURCE_DIR "."
#endif

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

int cli_usage_error(const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg);
    fprintf(stderr, "corral: error: %s (see 'corral help')\n", msg);
    return 2;
}

static void print_help(void)
{
    printf("corral %s: a RISC-V virtual machine monitor\n\n"
           "usage:\n"
           "  corral run --kernel PATH [--firmware PATH] [--initrd PATH] [options]\n"
           "  corral run --api-sock PATH [options]   configure and start through the API\n"
           "  corral run --test ELF        run a bare-metal test program\n"
           "  corral up [options]          boot the default Debian guest\n"
           "  corral up --debian[=SUITE] [options]   boot the full Debian system (SSH too)\n"
           "  corral image debian [--size 8G] [--suite trixie] [--mirror URL] OUT.qcow2\n"
           "                               build that system (debootstrap, second stage in Corral)\n"
           "  corral ctl (--sock PATH | --name NAME) status|pause|resume|shutdown|reset|\n"
           "      metrics|config|balloon SIZE|balloon-stats [--json]\n"
           "  corral ps [--json]           list running VMs started with --name\n"
           "  corral stop [--timeout S] [--force] NAME...   shut named VMs down\n"
           "  corral snapshot create --sock PATH --dir DIR [--diff] [--no-resume]\n"
           "  corral snapshot merge --dir DIR --out DIR   fold a Diff chain into a Full one\n"
           "  corral migrate --sock PATH [--mode precopy|postcopy|auto] [--zstd N [--compress-threads N]]\n"
           "      [--delta-cache MIB] [--no-dedup] [--max-bandwidth MIBPS] [--downtime-ms N]\n"
           "      [--migrate-disks] URI\n"
           "                               live-migrate to 'corral run --incoming URI'\n"
           "  corral restore DIR [--paused] [--api-sock PATH] [--name NAME] ...\n"
           "                               run a snapshot in this new process\n"
           "  corral agent --etcd URL --name HOST --addr ADDR   join a cluster of hosts\n"
           "  corral cluster [--etcd URL] hosts|ps|create|stop|start|rm|migrate|drain|balance\n"
           "                               the cluster's VMs, from any host\n\n"
           "options:\n"
           "  --kernel PATH      RISC-V Linux Image\n"
           "  --firmware PATH    OpenSBI fw_dynamic.bin\n"
           "  --initrd PATH      initramfs\n"
           "  --cmdline STR      kernel command line (default: console=ttyS0)\n"
           "  --cpus N           harts, 1..8 (default 1)\n"
           "  --memory SIZE      guest RAM, e.g. 512M, 2G (default 512M)\n"
           "  --console stdio|pty|file:PATH  the guest console (default stdio)\n"
           "  --mmu sv39|sv48|sv57        paging mode advertised to the guest\n"
           "  --disk PATH[,readonly][,serial=S][,bw=BYTES/S][,iops=N]   virtio-blk disk (repeatable)\n"
           "  --net user[,hostfwd=tcp::H-:G][,mac=M] | tap=NAME[,bridge=BR] | vde=PATH\n"
           "                     virtio-net (repeatable): user-mode, a TAP (on bridge BR),\n"
           "                     or a port of the VDE switch at PATH (vde_switch -s PATH)\n"
           "        [,rx_bw=,tx_bw= bytes/s][,rx_pps=,tx_pps= packets/s]   rate limits\n"
           "  --rng              virtio-rng entropy device\n"
           "  --vsock cid=N,uds=PATH  virtio-vsock: host unix socket PATH (Firecracker's model)\n"
           "  --cpu-engine E     jit (default on x86-64 hosts) or interp; also CORRAL_CPU_ENGINE\n"
           "  --cpu-quota PCT    CPU bandwidth cap (100 = one core), via cgroups\n"
           "  --cpu-weight N     CPU weight 1..10000 (100 = default share)\n"
           "  --memory-limit SIZE  cap on the VMM's memory (cgroup)\n"
           "  --mem-merge on|off share identical guest pages with KSM (the host runs it)\n"
           "  --balloon SIZE[,deflate-on-oom][,reporting][,stats=SECONDS]\n"
           "                     virtio-balloon with an initial target (0 to start empty)\n"
           "  --config-file FILE VM configuration as JSON (the API's bodies); flags win\n"
           "                     (--disk/--net replace the file's drives/interfaces)\n"
           "  --api-sock PATH    serve the management API on this unix socket\n"
           "  --name NAME        register the VM for 'corral ps', 'stop' and 'ctl --name'\n"
           "                     (its API socket, unless --api-sock: in the registry's\n"
           "                     directory, $XDG_RUNTIME_DIR/corral/NAME.sock)\n"
           "  --timeout SECONDS  stop a guest that runs longer (exit 124)\n"
           "  --fence-file PATH [--fence-timeout S]  stop at once (exit 125) when PATH\n"
           "                     is not touched for S seconds (default 3; corral agent)\n"
           "  --restore DIR      start from the snapshot in DIR (see corral snapshot)\n"
           "  --incoming URI     wait for a live migration (tcp:HOST:PORT, unix:PATH, fd:N)\n"
           "  --paused           with --restore: load, but do not run until resumed\n"
           "  --net-override IFACE=TAP|PATH  with --restore or --incoming: interface IFACE\n"
           "                     (net0, net1...) uses this TAP (or VDE switch) instead\n"
           "  --disk-override DRIVE=PATH  with --restore or --incoming: disk DRIVE (disk0...)\n"
           "                     is this image (an incoming --migrate-disks creates it)\n"
           "  --ignore-disk-changes  with --restore: accept raw disks changed since\n"
           "  --dump-dtb FILE    write the device tree and exit\n"
           "  --no-seccomp       run without the system-call allow-lists (docs/security.md)\n"
           "  --jail DIR [--uid N --gid N]  run in mount and PID namespaces rooted at DIR\n"
           "                     with only the VM's files, then as user N (root needed)\n"
           "  -v, --verbose      more log output (-vv: debug)\n"
           "  --log-level L      error, warning (default), info, debug, trace or off\n"
           "  --log-file PATH    append the log to a file or named pipe (not stderr)\n\n"
           "console: Ctrl-A x quits, Ctrl-A b sends a break (SysRq), Ctrl-A c opens the\n"
           "monitor, Ctrl-A h lists the keys, Ctrl-A Ctrl-A sends Ctrl-A.\n"
           "'corral COMMAND --help' describes one command; 'man corral' all of them.\n",
           VM_VERSION);
}

/* "512M", "2G", "1024K", plain numbers are MiB (as QEMU's -m). */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    uint64_t mul = 1024 * 1024;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1024; break;
        case 'm': case 'M': mul = 1024 * 1024; break;
        case 'g': case 'G': mul = 1024ULL * 1024 * 1024; break;
        default: return -1;
        }
        end++;
        if (*end == 'i')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
        if (*end)
            return -1;
    }
    if (v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

/* The default guest: the pipeline's newest build in the cache. */
static int find_default_guest(char *dir, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char base[PATH_MAX];
    struct stat st;
    if (xdg && *xdg)
        snprintf(base, sizeof(base), "%s/corral", xdg);
    else
        snprintf(base, sizeof(base), "%s/.cache/corral", home ? home : ".");
    if (snprintf(dir, len, "%.*s/guest/current", (int)(len - 32), base) >= (int)len)
        return -1;
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof(probe), "%s/MANIFEST", dir);
    if (stat(probe, &st) == 0)
        return 0;
    /* Not built yet: run the pipeline (it prints its own progress). */
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "'%s/scripts/guest.sh' --progress", CORRAL_SOURCE_DIR);
    fprintf(stderr, "corral: building the default Debian guest (first run)\n");
    if (system(cmd) != 0 || stat(probe, &st) != 0) {
        fprintf(stderr, "corral: error: no default guest in %s; run 'make guest' "
                        "in the Corral source tree\n", dir);
        return -1;
    }
    return 0;
}

/* Flags as given; applied over the config file by apply_flags(). */
struct run_opts {
    const char *kernel, *initrd, *firmware, *cmdline, *test_elf, *mmu_type;
    unsigned ncpus;
    uint64_t mem_size;
    const char *dump_dtb, *console, *config_file, *api_sock, *name;
    bool api_sock_auto;  /* api_sock is --name's default, not the user's */
    char api_sock_buf[108];
    struct machine_disk disks[MACHINE_MAX_DISKS];
    unsigned ndisks;
    struct machine_net nets[MACHINE_MAX_NICS];
    unsigned nnets;
    bool rng;
    const char *vsock;   /* --vsock cid=N,uds=PATH */
    int cpu_engine;
    int mem_merge;       /* --mem-merge: -1 unset, 0 off, 1 on */
    unsigned cpu_quota, cpu_weight;
    uint64_t memory_limit;
    const char *balloon; /* --balloon SIZE[,deflate-on-oom][,reporting][,stats=N] */
    double timeout;      /* --timeout SECONDS; 0 = none */
    const char *fence_file; /* --fence-file PATH (vm/fence.h) */
    double fence_timeout;   /* --fence-timeout SECONDS */
    const char *restore; /* --restore DIR: a snapshot directory */
    const char *incoming; /* --incoming URI: a live migration arrives here */
    /* --net-override IFACE=TAP, --disk-override DRIVE=PATH, in order. */
    struct { bool disk; const char *spec; } overrides[MACHINE_MAX_NICS + MACHINE_MAX_DISKS];
    unsigned noverrides;
    bool paused;         /* --paused: restore without running */
    bool ignore_disk_changes;
    bool no_seccomp;     /* --no-seccomp */
    const char *jail;    /* --jail DIR */
    long uid, gid;       /* --uid/--gid with --jail; -1 unset */
    int seccomp_test;    /* hidden --seccomp-test-violation KIND; -1 none */
    const char *log_file; /* --log-file */
    bool log_level_set;  /* --log-level (into log_verbose) */
    const char *debian;  /* corral up --debian[=SUITE]: "" = trixie */
};

/* A migrated VM keeps its name: registered here once the source, which
 * holds it until it exits (a moment after the switch-over), is gone. */
static void register_migrated(const char *name, const char *sock, char *path, size_t len)
{
    char err[VM_ERR_LEN];
    int r = -EEXIST;
    for (int i = 0; i < 60 && r == -EEXIST; i++) {
        if ((r = vm_registry_add(name, sock, path, len, err)) == -EEXIST)
            usleep(50000);
    }
    if (r)
        fprintf(stderr, "corral: warning: the migrated VM is not listed by 'corral ps': %s\n",
                err);
}

static int parse_run_flags(int argc, char **argv, struct run_opts *o)
{
    enum { O_KERNEL = 256, O_INITRD, O_FIRMWARE, O_CMDLINE, O_CPUS, O_MEMORY,
           O_CONSOLE, O_TEST, O_DUMP_DTB, O_MMU, O_CONFIG, O_API_SOCK, O_NAME, O_DISK, O_NET, O_RNG, O_VSOCK, O_TIMEOUT,
           O_RESTORE, O_PAUSED, O_IGNORE_DISKS, O_INCOMING,
           O_CPU_ENGINE, O_BALLOON, O_MEM_MERGE, O_CPU_QUOTA, O_CPU_WEIGHT,
           O_MEM_LIMIT, O_NO_SECCOMP, O_SECCOMP_TEST, O_JAIL, O_UID, O_GID, O_NET_OVERRIDE,
           O_DISK_OVERRIDE, O_LOG_LEVEL, O_LOG_FILE, O_FENCE_FILE, O_FENCE_TIMEOUT, O_DEBIAN };
    static const struct option longopts[] = {
        { "kernel", required_argument, NULL, O_KERNEL },
        { "initrd", required_argument, NULL, O_INITRD },
        { "firmware", required_argument, NULL, O_FIRMWARE },
        { "cmdline", required_argument, NULL, O_CMDLINE },
        { "append", required_argument, NULL, O_CMDLINE },
        { "cpus", required_argument, NULL, O_CPUS },
        { "memory", required_argument, NULL, O_MEMORY },
        { "console", required_argument, NULL, O_CONSOLE },
        { "test", required_argument, NULL, O_TEST },
        { "dump-dtb", required_argument, NULL, O_DUMP_DTB },
        { "mmu", required_argument, NULL, O_MMU },
        { "config-file", required_argument, NULL, O_CONFIG },
        { "api-sock", required_argument, NULL, O_API_SOCK },
        { "name", required_argument, NULL, O_NAME },
        { "disk", required_argument, NULL, O_DISK },
        { "net", required_argument, NULL, O_NET },
        { "rng", no_argument, NULL, O_RNG },
        { "vsock", required_argument, NULL, O_VSOCK },
        { "no-seccomp", no_argument, NULL, O_NO_SECCOMP },
        { "jail", required_argument, NULL, O_JAIL },
        { "uid", required_argument, NULL, O_UID },
        { "gid", required_argument, NULL, O_GID },
        { "seccomp-test-violation", required_argument, NULL, O_SECCOMP_TEST },
        { "cpu-engine", required_argument, NULL, O_CPU_ENGINE },
        { "balloon", required_argument, NULL, O_BALLOON },
        { "mem-merge", required_argument, NULL, O_MEM_MERGE },
        { "cpu-quota", required_argument, NULL, O_CPU_QUOTA },
        { "cpu-weight", required_argument, NULL, O_CPU_WEIGHT },
        { "memory-limit", required_argument, NULL, O_MEM_LIMIT },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "fence-file", required_argument, NULL, O_FENCE_FILE },
        { "fence-timeout", required_argument, NULL, O_FENCE_TIMEOUT },
        { "restore", required_argument, NULL, O_RESTORE },
        { "incoming", required_argument, NULL, O_INCOMING },
        { "net-override", required_argument, NULL, O_NET_OVERRIDE },
        { "disk-override", required_argument, NULL, O_DISK_OVERRIDE },
        { "paused", no_argument, NULL, O_PAUSED },
        { "ignore-disk-changes", no_argument, NULL, O_IGNORE_DISKS },
        { "verbose", no_argument, NULL, 'v' },
        { "log-level", required_argument, NULL, O_LOG_LEVEL },
        { "log-file", required_argument, NULL, O_LOG_FILE },
        { "debian", optional_argument, NULL, O_DEBIAN },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_KERNEL: o->kernel = optarg; break;
        case O_INITRD: o->initrd = optarg; break;
        case O_FIRMWARE: o->firmware = optarg; break;
        case O_CMDLINE: o->cmdline = optarg; break;
        case O_TEST: o->test_elf = optarg; break;
        case O_DUMP_DTB: o->dump_dtb = optarg; break;
        case O_CONSOLE: o->console = optarg; break;
        case O_CONFIG: o->config_file = optarg; break;
        case O_API_SOCK: o->api_sock = optarg; break;
        case O_NAME:
            if (!vm_registry_valid_name(optarg))
                return cli_usage_error("--name %s: use letters, digits, '.', '_' or '-' "
                                       "(at most 63)", optarg);
            o->name = optarg;
            break;
        case O_DISK:
        case O_NET: {
            char err[VIRT_ERR_LEN];
            int r;
            if (c == O_DISK && o->ndisks == MACHINE_MAX_DISKS)
                return cli_usage_error("--disk %s: at most 6 disks", optarg);
            if (c == O_NET && o->nnets == MACHINE_MAX_NICS)
                return cli_usage_error("--net %s: at most 4 network interfaces", optarg);
            r = c == O_DISK ? machine_parse_disk(optarg, &o->disks[o->ndisks++], err)
                            : machine_parse_net(optarg, &o->nets[o->nnets++], err);
            if (r)
                return cli_usage_error("%s", err);
            break;
        }
        case O_RNG: o->rng = true; break;
        case O_VSOCK: o->vsock = optarg; break;
        case O_NO_SECCOMP: o->no_seccomp = true; break;
        case O_JAIL: o->jail = optarg; break;
        case O_UID:
        case O_GID: {
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || n < 0 || n > 0x7fffffffL)
                return cli_usage_error(c == O_UID ? "--uid %s: not a user id"
                                                  : "--gid %s: not a group id", optarg);
            *(c == O_UID ? &o->uid : &o->gid) = n;
            break;
        }
        case O_SECCOMP_TEST:
            if ((o->seccomp_test = sandbox_kind_parse(optarg)) < 0)
                return cli_usage_error("--seccomp-test-violation %s: hart, io, api or main",
                                       optarg);
            break;
        case O_RESTORE: o->restore = optarg; break;
        case O_INCOMING: o->incoming = optarg; break;
        case O_NET_OVERRIDE:
        case O_DISK_OVERRIDE:
            if (o->noverrides == sizeof(o->overrides) / sizeof(o->overrides[0]))
                return cli_usage_error("%s: too many overrides", optarg);
            o->overrides[o->noverrides].disk = c == O_DISK_OVERRIDE;
            o->overrides[o->noverrides++].spec = optarg;
            break;
        case O_PAUSED: o->paused = true; break;
        case O_IGNORE_DISKS: o->ignore_disk_changes = true; break;
        case O_CPU_ENGINE:
            o->cpu_engine = cpu_engine_parse(optarg);
            if (o->cpu_engine < 0)
                return cli_usage_error("--cpu-engine %s: must be interp or jit", optarg);
            break;
        case O_BALLOON: o->balloon = optarg; break;
        case O_CPU_QUOTA:
        case O_CPU_WEIGHT: {
            long n = strtol(optarg, &end, 10);
            long hi = c == O_CPU_QUOTA ? 100 * VIRT_MAX_HARTS : 10000;
            if (*optarg == '\0' || *end || n < 1 || n > hi)
                return cli_usage_error(c == O_CPU_QUOTA
                                           ? "--cpu-quota %s: must be a number from 1 to 800"
                                           : "--cpu-weight %s: must be a number from 1 to 10000",
                                       optarg);
            if (c == O_CPU_QUOTA)
                o->cpu_quota = (unsigned)n;
            else
                o->cpu_weight = (unsigned)n;
            break;
        }
        case O_MEM_LIMIT:
            if (parse_size(optarg, &o->memory_limit) || o->memory_limit < (16ULL << 20))
                return cli_usage_error("--memory-limit %s: not a size of at least 16M",
                                       optarg);
            break;
        case O_MEM_MERGE:
            if (!strcmp(optarg, "on"))
                o->mem_merge = 1;
            else if (!strcmp(optarg, "off"))
                o->mem_merge = 0;
            else
                return cli_usage_error("--mem-merge %s: must be on or off", optarg);
            break;
        case O_FENCE_FILE: o->fence_file = optarg; break;
        case O_FENCE_TIMEOUT:
            o->fence_timeout = strtod(optarg, &end);
            if (*optarg == '\0' || *end || !(o->fence_timeout >= 0.5) || o->fence_timeout > 3600)
                return cli_usage_error("--fence-timeout %s: must be 0.5 to 3600 seconds", optarg);
            break;
        case O_TIMEOUT:
            o->timeout = strtod(optarg, &end);
            if (*optarg == '\0' || *end || !(o->timeout > 0) || o->timeout > 1e7)
                return cli_usage_error("--timeout %s: must be a number of seconds > 0", optarg);
            break;
        case O_CPUS: {
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || n < 1 || n > VIRT_MAX_HARTS)
                return cli_usage_error("--cpus %s: must be a number from 1 to 8", optarg);
            o->ncpus = (unsigned)n;
            break;
        }
        case O_MEMORY:
            if (parse_size(optarg, &o->mem_size))
                return cli_usage_error("--memory %s: not a size (e.g. 512M, 2G)", optarg);
            /* 0 would otherwise mean "not given" (the 512 MiB default). */
            if (!o->mem_size)
                return cli_usage_error("--memory %s: must be at least 1M", optarg);
            break;
        case O_MMU:
            if (!strcmp(optarg, "sv39")) o->mmu_type = "riscv,sv39";
            else if (!strcmp(optarg, "sv48")) o->mmu_type = "riscv,sv48";
            else if (!strcmp(optarg, "sv57")) o->mmu_type = "riscv,sv57";
            else return cli_usage_error("--mmu %s: must be sv39, sv48 or sv57", optarg);
            break;
        case 'v': log_verbose++; break;
        case O_LOG_LEVEL: {
            int level;
            if (log_level_parse(optarg, &level))
                return cli_usage_error("--log-level %s: error, warning, info, debug, trace or "
                                       "off", optarg);
            log_verbose = level;
            o->log_level_set = true;
            break;
        }
        case O_LOG_FILE: o->log_file = optarg; break;
        case O_DEBIAN:
            o->debian = optarg ? optarg : "";
            if (optarg && (!*optarg || strspn(optarg, "abcdefghijklmnopqrstuvwxyz") != strlen(optarg)))
                return cli_usage_error("--debian=%s: a suite name (trixie, forky, sid)", optarg);
            break;
        case 'h': print_help(); exit(0);
        case '?':
        default: {
            /* getopt leaves optind past the bad word (or past a short
             * option's word, when it was the last in a cluster). */
            const char *word = argv[optind - 1];
            char name[64];
            if (optopt > 0 && optopt < 256) {
                snprintf(name, sizeof(name), "-%c", optopt);
                return cli_usage_error("unknown option '%s'", name);
            }
            if (optopt && !strncmp(word, "--", 2) && strchr(word, '=')) {
                snprintf(name, sizeof(name), "%.*s", (int)(strchr(word, '=') - word), word);
                return cli_usage_error("option %s does not take a value", name);
            }
            if (optopt)
                return cli_usage_error("option %s needs a value", word);
            return cli_usage_error("unknown option '%s'", word);
        }
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if ((o->uid >= 0 || o->gid >= 0) && !o->jail)
        return cli_usage_error("--uid/--gid drop privileges inside --jail DIR%s", "");
    return 0;
}

/* --balloon SIZE[,deflate-on-oom][,reporting][,stats=SECONDS] as a PUT
 * /balloon body, so the flag and the API check the same things. */
static int apply_balloon_flag(struct vm_config *c, const char *arg, char *err)
{
    char *copy = strdup(arg), *save = NULL;
    json_t *body = json_object();
    int r = -EINVAL;
    if (!copy || !body) {
        snprintf(err, VM_ERR_LEN, "out of memory");
        goto out;
    }
    json_object_set_new(body, "deflate_on_oom", json_false());
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t bytes;
        char *end;
        if (tok == copy) {
            if (parse_size(tok, &bytes) || (bytes & ((1ULL << 20) - 1))) {
                snprintf(err, VM_ERR_LEN, "--balloon %s: '%s' is not a whole number of MiB "
                         "(e.g. 128M)", arg, tok);
                goto out;
            }
            json_object_set_new(body, "amount_mib", json_integer((json_int_t)(bytes >> 20)));
        } else if (!strcmp(tok, "deflate-on-oom")) {
            json_object_set_new(body, "deflate_on_oom", json_true());
        } else if (!strcmp(tok, "reporting")) {
            json_object_set_new(body, "free_page_reporting", json_true());
        } else if (!strncmp(tok, "stats=", 6)) {
            long n = strtol(tok + 6, &end, 10);
            if (!tok[6] || *end || n < 0 || n > 3600) {
                snprintf(err, VM_ERR_LEN, "--balloon %s: stats= takes 0..3600 seconds", arg);
                goto out;
            }
            json_object_set_new(body, "stats_polling_interval_s", json_integer(n));
        } else {
            snprintf(err, VM_ERR_LEN, "--balloon %s: unknown option '%s' (deflate-on-oom, "
                     "reporting, stats=N)", arg, tok);
            goto out;
        }
    }
    r = vmcfg_put_balloon(c, body, err);
out:
    json_decref(body);
    free(copy);
    return r;
}

static int check_readable(const char *path, const char *what)
{
    struct stat st;
    if (!path)
        return 0;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "corral: error: %s %s: %s\n", what, path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "corral: error: %s %s: not a regular file\n", what, path);
        return -1;
    }
    if (access(path, R_OK) < 0) {
        fprintf(stderr, "corral: error: %s %s: %s\n", what, path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Flags over the config file. */
static int apply_flags(struct vm_config *c, const struct run_opts *o)
{
    if ((o->kernel && vmcfg_set_str(&c->kernel, o->kernel)) ||
        (o->initrd && vmcfg_set_str(&c->initrd, o->initrd)) ||
        (o->firmware && vmcfg_set_str(&c->firmware, o->firmware)) ||
        (o->cmdline && vmcfg_set_str(&c->cmdline, o->cmdline)) ||
        (o->test_elf && vmcfg_set_str(&c->test_elf, o->test_elf)) ||
        (o->mmu_type && vmcfg_set_str(&c->mmu_type, o->mmu_type)))
        return -ENOMEM;
    char err[VM_ERR_LEN];
    /* Device flags replace the file's list of that kind. */
    vmcfg_clear_devices(c, o->ndisks > 0, o->nnets > 0);
    for (unsigned i = 0; i < o->ndisks; i++)
        if (vmcfg_add_disk(c, &o->disks[i], err))
            goto bad;
    for (unsigned i = 0; i < o->nnets; i++)
        if (vmcfg_add_net(c, &o->nets[i], err))
            goto bad;
    if (o->rng)
        c->rng = true;
    if (o->vsock) {
        uint64_t cid;
        char *uds;
        if (machine_parse_vsock(o->vsock, &cid, &uds, err))
            goto bad;
        free(c->vsock_uds);
        c->vsock_uds = uds;
        c->vsock_cid = cid;
    }
    if (o->cpu_engine)
        c->cpu_engine = o->cpu_engine;
    if (o->ncpus)
        c->ncpus = o->ncpus;
    if (o->mem_size) {
        if (o->mem_size & ((1ULL << 20) - 1)) {
            fprintf(stderr, "corral: error: --memory: %llu bytes is not a whole number of "
                            "MiB\n", (unsigned long long)o->mem_size);
            return -EINVAL;
        }
        c->mem_mib = o->mem_size >> 20;
    }
    if (o->mem_merge >= 0)
        c->mem_merge = o->mem_merge == 1;
    if (o->cpu_quota)
        c->cpu_quota_pct = o->cpu_quota;
    if (o->cpu_weight)
        c->cpu_weight = o->cpu_weight;
    if (o->memory_limit)
        c->memory_limit_mib = (o->memory_limit + (1 << 20) - 1) >> 20;
    if (o->balloon && apply_balloon_flag(c, o->balloon, err))
        goto bad;
    return 0;
bad:
    fprintf(stderr, "corral: error: %s\n", err);
    return -EINVAL;
}

static const struct vm_console_ops console_ops = {
    .raw = console_raw,
    .restore = console_restore,
    .write = console_write,
    .in_fd = STDIN_FILENO,
};

static size_t filter_input(void *opaque, uint8_t *buf, size_t len, bool *quit)
{
    return console_filter_input(opaque, buf, len, quit);
}

/* --jail: collect what the VM will open (flags over the config file, the
 * default guest, sockets, consoles, snapshots, cgroups) and enter the
 * jail before any thread exists. The normal flow then runs inside, and
 * reports every input error itself. Returns 0 inside, or an exit status. */
static int enter_jail(struct run_opts *o, bool up)
{
    struct jail j;
    struct vm_config c;
    char err[VM_ERR_LEN] = "", dir[PATH_MAX];
    int r = 0;
    jail_init(&j, o->jail, o->uid, o->gid);
    vmcfg_init(&c);
    if (o->config_file && vmcfg_load_file(&c, o->config_file, err) == 0) {
        /* errors are reported inside, where the file is read again */
    }
    if (!o->restore && !o->incoming && apply_flags(&c, o)) {
        r = 2;
        goto out;
    }
    if (up && find_default_guest(dir, sizeof(dir)) == 0) {
        static const char *const names[] = { "Image", "fw_dynamic.bin", "initramfs.cpio" };
        char path[PATH_MAX + 32];
        for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            r |= jail_add(&j, path, false, false);
        }
    }
    const char *files[] = { o->config_file, c.kernel, c.initrd, c.firmware, c.test_elf };
    for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        r |= jail_add(&j, files[i], false, false);
    /* A disk's directory: qcow2 backing files are usually beside it. */
    for (unsigned i = 0; i < c.ndrives; i++)
        r |= jail_add(&j, c.drives[i].path, true, !c.drives[i].readonly);
    for (unsigned i = 0; i < c.nnets; i++)
        if (c.nets[i].kind == MACHINE_NET_USER)
            r |= jail_add(&j, "/etc/resolv.conf", false, false); /* libslirp's DNS */
        else if (c.nets[i].kind == MACHINE_NET_VDE)
            r |= jail_add(&j, c.nets[i].vde_path, false, true); /* the switch's sockets */
    r |= jail_add(&j, o->api_sock, true, true);
    /* The log, metrics and serial outputs (flags, config file): created
     * inside, so their directories. */
    const char *outputs[] = { o->log_file, c.logger.log_path, c.metrics_path, c.serial_out };
    for (unsigned i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++)
        r |= jail_add(&j, outputs[i], true, true);
    r |= jail_add(&j, o->dump_dtb, true, true);
    r |= jail_add(&j, o->restore, false, true);
    if (o->console && !strncmp(o->console, "file:", 5))
        r |= jail_add(&j, o->console + 5, true, true);
    if (o->incoming && !strncmp(o->incoming, "unix:", 5))
        r |= jail_add(&j, o->incoming + 5, true, true);
    if (o->name && vm_registry_dir(dir, sizeof(dir)) == 0)
        r |= jail_add(&j, dir, false, true);
    if (c.cpu_quota_pct || c.cpu_weight || c.memory_limit_mib)
        r |= jail_add(&j, "/sys/fs/cgroup", false, true);
    if (r) {
        fprintf(stderr, "corral: error: --jail: %s\n",
                r == -E2BIG ? "too many files to bind" : strerror(ENOMEM));
        r = 1;
        goto out;
    }
    if (jail_enter(&j, err, sizeof(err))) {
        fprintf(stderr, "corral: error: %s\n", err);
        r = 1;
    }
out:
    vmcfg_free(&c);
    jail_free(&j);
    return r;
}

static int cmd_run(struct run_opts *o, bool up)
{
    static struct console_filter filter;
    struct vm_console_ops con = console_ops;
    struct api_server *api = NULL;
    struct api_ctx host; /* what the API and the config file's outputs act on */
    char err[VM_ERR_LEN] = "", reg_path[PATH_MAX] = "";
    struct vm *vm;
    int status = 1;

    con.filter = filter_input;
    con.opaque = &filter;
    /* A named VM gets an API socket in the registry's directory unless one
     * is given, so that `corral ctl --name`, `stop` and `snapshot` reach it. */
    char regdir[PATH_MAX];
    if (o->name && !o->api_sock && vm_registry_dir(regdir, sizeof(regdir)) == 0) {
        int n = snprintf(o->api_sock_buf, sizeof(o->api_sock_buf), "%s/%s.sock", regdir, o->name);
        if (n > 0 && (size_t)n < sizeof(o->api_sock_buf)) {
            o->api_sock = o->api_sock_buf;
            o->api_sock_auto = true;
        }
    }
    if (o->jail && (status = enter_jail(o, up)))
        return status;
    status = 1;
    if (o->test_elf && (o->kernel || o->firmware || o->initrd || o->config_file || up)) {
        fprintf(stderr, "corral: error: --test runs a bare-metal program; it does not take "
                        "--kernel, --firmware, --initrd or --config-file\n");
        return 2;
    }
    const char *whole = o->restore ? "--restore" : "--incoming";
    if ((o->restore || o->incoming) && (o->kernel || o->firmware || o->initrd || o->config_file || o->test_elf ||
                       o->ndisks || o->nnets || o->rng || o->vsock || o->cmdline || o->mmu_type || up)) {
        fprintf(stderr, "corral: error: %s brings the whole machine; it does not take "
                        "--kernel, --firmware, --initrd, --cmdline, --disk, --net, --rng, "
                        "--mmu, --test or --config-file\n", whole);
        return 2;
    }
    if (vm_create(&vm, o->name, &con)) {
        fprintf(stderr, "corral: error: out of memory\n");
        return 1;
    }
    api_ctx_init(&host, vm);
    filter.vm = vm; /* Ctrl-A b and the Ctrl-A c monitor act on it */
    if (o->config_file && vmcfg_load_file(&vm->cfg, o->config_file, err)) {
        fprintf(stderr, "corral: error: --config-file %s\n", err);
        status = 2;
        goto out;
    }
    if (o->restore && o->incoming) {
        fprintf(stderr, "corral: error: --restore and --incoming: choose one\n");
        status = 2;
        goto out;
    }
    if (!o->restore && !o->incoming && apply_flags(&vm->cfg, o)) {
        status = 2;
        goto out;
    }
    if (o->noverrides && !o->restore && !o->incoming) {
        fprintf(stderr, "corral: error: --net-override and --disk-override are for --restore "
                        "and --incoming (a new VM takes --net and --disk)\n");
        status = 2;
        goto out;
    }
    for (unsigned i = 0; i < o->noverrides; i++)
        if ((o->overrides[i].disk ? vm_add_disk_override : vm_add_net_override)(
                vm, o->overrides[i].spec, err)) {
            fprintf(stderr, "corral: error: %s\n", err);
            status = 2;
            goto out;
        }
    struct vm_config *c = &vm->cfg;
    if (up && !(c->kernel && c->firmware && c->initrd)) {
        /* The default guest fills what neither the file nor flags gave. */
        static char dir[PATH_MAX], path[PATH_MAX + 32];
        if (find_default_guest(dir, sizeof(dir)))
            goto out;
        snprintf(path, sizeof(path), "%s/Image", dir);
        if (!c->kernel && vmcfg_set_str(&c->kernel, path))
            goto out;
        snprintf(path, sizeof(path), "%s/fw_dynamic.bin", dir);
        if (!c->firmware && vmcfg_set_str(&c->firmware, path))
            goto out;
        snprintf(path, sizeof(path), "%s/initramfs.cpio", dir);
        if (!c->initrd && vmcfg_set_str(&c->initrd, path))
            goto out;
    }
    /* Without an API, everything must be given now. */
    bool start_now = !o->restore && !o->incoming &&
                     (c->test_elf || c->kernel || !o->api_sock || o->api_sock_auto);
    if (start_now && !c->test_elf) {
        if (!c->kernel) {
            fprintf(stderr, "corral: error: no kernel given (--kernel PATH, --test ELF, "
                            "or --api-sock PATH to configure through the API)\n");
            status = 2;
            goto out;
        }
    }
    if (start_now) {
        if (check_readable(c->kernel, "kernel") || check_readable(c->firmware, "firmware") ||
            check_readable(c->initrd, "initrd") || check_readable(c->test_elf, "test program"))
            goto out;
        /* No --firmware: vmcfg_to_machine takes the default guest's
         * OpenSBI, or says where it looked. */
    }
    if (o->dump_dtb) {
        if (vm_dump_dtb(vm, o->dump_dtb, err)) {
            fprintf(stderr, "corral: error: %s\n", err);
            goto out;
        }
        status = 0;
        goto out;
    }

    /* Only once every input was checked: a file console is truncated
     * here, and a command that fails must not have emptied it. */
    if (o->console && strcmp(o->console, "stdio") != 0) {
        if (!strncmp(o->console, "file:", 5) && o->console[5]) {
            int r = console_open_file(o->console + 5);
            if (r) {
                fprintf(stderr, "corral: error: --console %s: %s\n", o->console,
                        strerror(-r));
                goto out;
            }
        } else if (!strcmp(o->console, "pty")) {
            char name[128];
            int fd = console_open_pty(name, sizeof(name));
            if (fd < 0) {
                fprintf(stderr, "corral: error: --console pty: %s\n", strerror(-fd));
                goto out;
            }
            /* The terminal is not the console: leave it alone. */
            vm->con.in_fd = fd;
            vm->con.raw = NULL;
            fprintf(stderr, "corral: console on %s\n", name);
        } else {
            fprintf(stderr, "corral: error: --console %s: must be stdio, pty or file:PATH\n",
                    o->console);
            status = 2;
            goto out;
        }
    }
    /* The config file's logger, metrics and serial, then the log flags
     * over them (flags win). */
    if (api_ctx_apply_config(&host, err)) {
        fprintf(stderr, "corral: error: --config-file %s: %s\n",
                o->config_file ? o->config_file : "", err);
        status = 2;
        goto out;
    }
    if (o->log_file || o->log_level_set) {
        int level = log_verbose > LOG_TRACE ? LOG_TRACE : log_verbose; /* -vvvv */
        struct log_options lo = { .level = level, .show_level = LOG_SHOW_LEVEL_CLI };
        if (log_configure(o->log_file, &lo, err, sizeof(err))) {
            fprintf(stderr, "corral: error: %s (--log-file)\n", err);
            status = 2;
            goto out;
        }
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Start-up is over: from here on every thread runs under its
     * seccomp allow-list (the API's and the machine's threads start below). */
    if (log_writer_start())
        fprintf(stderr, "corral: warning: no log writer thread: hart threads log directly\n");
    if (o->seccomp_test >= 0)
        sandbox_test_violation((enum sandbox_kind)o->seccomp_test);
    if (sandbox_setup(!o->no_seccomp, err, sizeof(err))) {
        fprintf(stderr, "corral: error: %s\n", err);
        goto out;
    }
    sandbox_enter(SANDBOX_MAIN);
    /* The socket and the name are checked before the guest boots. */
    if (o->api_sock && api_server_start(&api, o->api_sock, &host, err)) {
        fprintf(stderr, "corral: error: %s\n", err);
        goto out;
    }
    if (o->name && vm_registry_add(o->name, o->api_sock, reg_path, sizeof(reg_path), err)) {
        fprintf(stderr, "corral: error: %s\n", err);
        goto out;
    }
    if (start_now && vm_start(vm, err)) {
        console_restore();
        fprintf(stderr, "corral: error: %s\n", err);
        goto out;
    }
    if (o->incoming && vm_migrate_incoming(vm, o->incoming, &got_signal, err)) {
        console_restore();
        fprintf(stderr, "corral: error: %s\n", err);
        goto out;
    }
    if (o->incoming && !o->name && vm->migrated_name[0]) {
        /* It is that VM now: its next migration carries the name on. */
        pthread_mutex_lock(&vm->lock);
        if (!strcmp(vm->id, VM_ANONYMOUS_ID))
            snprintf(vm->id, sizeof(vm->id), "%s", vm->migrated_name);
        pthread_mutex_unlock(&vm->lock);
        register_migrated(vm->migrated_name, o->api_sock, reg_path, sizeof(reg_path));
    }
    if (o->restore) {
        char state[PATH_MAX + 16];
        snprintf(state, sizeof(state), "%s/state", o->restore);
        struct vm_snapshot_load_opts lo = {
            .state_path = state, .resume = !o->paused,
            .ignore_disk_changes = o->ignore_disk_changes,
            .expect_cpus = o->ncpus, .expect_mem = o->mem_size,
        };
        if (vm_snapshot_load(vm, &lo, err)) {
            console_restore();
            fprintf(stderr, "corral: error: --restore %s: %s\n", o->restore, err);
            goto out;
        }
    }
    if (o->timeout > 0)
        vm_set_timeout(vm, o->timeout);
    if (o->fence_file)
        vm_set_fence(vm, o->fence_file,
                     (int64_t)((o->fence_timeout > 0 ? o->fence_timeout : 3) * 1000));
    status = vm_run(vm, &got_signal);
out:
    console_restore();
    /* The API goes first: no request may reach a VM being torn down. */
    api_server_stop(api);
    api_ctx_destroy(&host); /* its metrics sink reads the VM */
    vm_registry_remove(reg_path);
    vm_destroy(vm);
    log_writer_stop();
    return status;
}

/* corral up --debian: the cached image under a fresh overlay as the first
 * disk (/dev/vda), SSH forwarded unless --net was given, and Debian's own
 * kernel and initrd; flags the user gave win. */
static int apply_debian(struct run_opts *o, struct up_debian *u)
{
    char err[VIRT_ERR_LEN];
    if (o->ndisks == MACHINE_MAX_DISKS)
        return cli_usage_error("--debian adds a disk: at most %s more --disk", "5");
    if (up_debian_prepare(u, *o->debian ? o->debian : "trixie", o->nnets == 0))
        return 1;
    memmove(&o->disks[1], &o->disks[0], o->ndisks * sizeof(o->disks[0]));
    if (machine_parse_disk(u->disk_spec, &o->disks[0], err)) {
        memmove(&o->disks[0], &o->disks[1], o->ndisks * sizeof(o->disks[0]));
        fprintf(stderr, "corral: error: --debian: %s\n", err);
        up_debian_finish(u);
        return 1;
    }
    o->ndisks++;
    if (u->net_spec[0]) {
        if (machine_parse_net(u->net_spec, &o->nets[0], err)) {
            fprintf(stderr, "corral: error: --debian: %s\n", err);
            up_debian_finish(u);
            return 1;
        }
        o->nnets = 1;
    }
    if (!o->kernel)
        o->kernel = u->kernel;
    if (!o->initrd)
        o->initrd = u->initrd;
    if (!o->cmdline)
        o->cmdline = "console=ttyS0 root=/dev/vda rw net.ifnames=0";
    if (!o->mem_size)
        o->mem_size = 1ULL << 30; /* systemd, sshd and apt want more than 512M */
    if (!o->ncpus)
        o->ncpus = 2;
    up_debian_banner(u);
    return 0;
}

int main(int argc, char **argv)
{
    struct run_opts o = { .mem_merge = -1, .seccomp_test = -1, .uid = -1, .gid = -1 };
    atexit(console_restore);
    if (argc < 2) {
        print_help();
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        print_help();
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("corral %s\n", VM_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "ctl"))
        return cli_ctl(argc - 1, argv + 1);
    if (!strcmp(cmd, "ps"))
        return cli_ps(argc - 1, argv + 1);
    if (!strcmp(cmd, "stop"))
        return cli_stop(argc - 1, argv + 1);
    if (cli_asks_help(argc - 1, argv + 1) && cli_print_command_help(cmd))
        return 0;
    if (!strcmp(cmd, "snapshot"))
        return cli_snapshot(argc - 1, argv + 1);
    if (!strcmp(cmd, "migrate"))
        return cli_migrate(argc - 1, argv + 1);
    if (!strcmp(cmd, "agent"))
        return cli_agent(argc - 1, argv + 1);
    if (!strcmp(cmd, "cluster"))
        return cli_cluster(argc - 1, argv + 1);
    if (!strcmp(cmd, "image"))
        return cli_image(argc - 1, argv + 1);
    bool restore = !strcmp(cmd, "restore");
    if (!strcmp(cmd, "run") || !strcmp(cmd, "up") || restore) {
        /* corral restore DIR [options] = corral run --restore DIR [options] */
        if (restore && (argc < 3 || argv[2][0] == '-'))
            return cli_usage_error("restore: which snapshot? corral restore DIR%s", "");
        int r = parse_run_flags(argc - (restore ? 2 : 1), argv + (restore ? 2 : 1), &o);
        if (r)
            return r;
        if (restore)
            o.restore = argv[2];
        struct up_debian deb = { .overlay = "" };
        if (o.debian && strcmp(cmd, "up"))
            return cli_usage_error("--debian is for 'corral up --debian'%s", "");
        if (o.debian && (r = apply_debian(&o, &deb)))
            return r;
        r = cmd_run(&o, !strcmp(cmd, "up"));
        up_debian_finish(&deb);
        for (unsigned i = 0; i < o.ndisks; i++)
            machine_disk_release(&o.disks[i]);
        for (unsigned i = 0; i < o.nnets; i++)
            machine_net_release(&o.nets[i]);
        return r;
    }
    return cli_usage_error("unknown command '%s'", cmd);
}
