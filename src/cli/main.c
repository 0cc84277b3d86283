/* corral: the command line. A thin client of the machine layer: parses
 * flags, builds the machine, runs the main (I/O) loop, and turns how the
 * guest stopped into an exit status.
 *
 *   corral run --kernel PATH [--initrd PATH] [--firmware PATH] ...
 *   corral run --test ELF            bare-metal test program
 *   corral up [flags]                the default Debian guest (cache)
 */
#include <errno.h>
#include <getopt.h>
#include <libfdt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/console.h"
#include "core/log.h"
#include "machine/virt.h"

#ifndef CORRAL_SOURCE_DIR
#define CORRAL_SOURCE_DIR "."
#endif
#define CORRAL_VERSION "0.1"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static int usage_error(const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, arg);
    fprintf(stderr, "corral: error: %s (see 'corral help')\n", msg);
    return 2;
}

static void print_help(void)
{
    printf("corral %s: a RISC-V virtual machine monitor\n\n"
           "usage:\n"
           "  corral run --kernel PATH [--firmware PATH] [--initrd PATH] [options]\n"
           "  corral run --test ELF        run a bare-metal test program\n"
           "  corral up [options]          boot the default Debian guest\n\n"
           "options:\n"
           "  --kernel PATH      RISC-V Linux Image\n"
           "  --firmware PATH    OpenSBI fw_dynamic.bin\n"
           "  --initrd PATH      initramfs\n"
           "  --cmdline STR      kernel command line (default: console=ttyS0)\n"
           "  --cpus N           harts, 1..8 (default 1)\n"
           "  --memory SIZE      guest RAM, e.g. 512M, 2G (default 512M)\n"
           "  --console stdio|file:PATH   where guest output goes (default stdio)\n"
           "  --mmu sv39|sv48|sv57        paging mode advertised to the guest\n"
           "  --dump-dtb FILE    write the device tree and exit\n"
           "  -v, --verbose      more log output\n\n"
           "console: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n",
           CORRAL_VERSION);
}

/* "512M", "2G", "1024K", plain numbers are MiB (as QEMU's -m). */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
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

static int write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -errno;
    if (fwrite(data, 1, len, f) != len || fflush(f) || fsync(fileno(f))) {
        int e = errno ? errno : EIO;
        fclose(f);
        unlink(tmp);
        return -e;
    }
    fclose(f);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
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
    snprintf(cmd, sizeof(cmd), "'%s/scripts/guest.sh' --quiet", CORRAL_SOURCE_DIR);
    fprintf(stderr, "corral: building the default Debian guest (first run)\n");
    if (system(cmd) != 0 || stat(probe, &st) != 0) {
        fprintf(stderr, "corral: error: no default guest in %s; run 'make guest' "
                        "in the Corral source tree\n", dir);
        return -1;
    }
    return 0;
}

struct run_opts {
    struct machine_config cfg;
    const char *dump_dtb;
    const char *console;
};

static int parse_run_flags(int argc, char **argv, struct run_opts *o)
{
    enum { O_KERNEL = 256, O_INITRD, O_FIRMWARE, O_CMDLINE, O_CPUS, O_MEMORY,
           O_CONSOLE, O_TEST, O_DUMP_DTB, O_MMU };
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
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_KERNEL: o->cfg.kernel = optarg; break;
        case O_INITRD: o->cfg.initrd = optarg; break;
        case O_FIRMWARE: o->cfg.firmware = optarg; break;
        case O_CMDLINE: o->cfg.cmdline = optarg; break;
        case O_TEST: o->cfg.test_elf = optarg; break;
        case O_DUMP_DTB: o->dump_dtb = optarg; break;
        case O_CONSOLE: o->console = optarg; break;
        case O_CPUS: {
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || n < 1 || n > VIRT_MAX_HARTS)
                return usage_error("--cpus %s: must be a number from 1 to 8", optarg);
            o->cfg.ncpus = (unsigned)n;
            break;
        }
        case O_MEMORY:
            if (parse_size(optarg, &o->cfg.mem_size))
                return usage_error("--memory %s: not a size (e.g. 512M, 2G)", optarg);
            break;
        case O_MMU:
            if (!strcmp(optarg, "sv39")) o->cfg.mmu_type = "riscv,sv39";
            else if (!strcmp(optarg, "sv48")) o->cfg.mmu_type = "riscv,sv48";
            else if (!strcmp(optarg, "sv57")) o->cfg.mmu_type = "riscv,sv57";
            else return usage_error("--mmu %s: must be sv39, sv48 or sv57", optarg);
            break;
        case 'v': log_verbose++; break;
        case 'h': print_help(); exit(0);
        case '?':
        default:
            if (optopt)
                return usage_error("option --%s needs a value", argv[optind - 1] + 2);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    return 0;
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

/* The main loop: console input, wake-ups from harts and devices, test
 * completion, signals. Returns the process exit status. */
static int run_loop(struct machine *m, bool test_mode)
{
    struct console_filter filter = { 0 };
    uint8_t pending[4096];
    size_t npending = 0, pending_off = 0;
    bool stdin_open = true;
    char err[VIRT_ERR_LEN];

    for (;;) {
        int stop = atomic_load(&m->stop);
        if (stop != MACHINE_RUNNING) {
            machine_join(m);
            if (stop == MACHINE_RESET) {
                log_info("guest reboot");
                if (machine_reset(m, err) || machine_start(m)) {
                    fprintf(stderr, "corral: error: reboot failed: %s\n", err);
                    return 1;
                }
                continue;
            }
            int code = atomic_load(&m->stop_code);
            switch (stop) {
            case MACHINE_POWEROFF:
                return 0;
            case MACHINE_FAIL:
                console_restore();
                if (test_mode)
                    fprintf(stderr, "corral: test failed: case %d\n", code);
                else
                    fprintf(stderr, "corral: guest reported failure (code %d)\n", code);
                return code > 0 && code < 256 ? code : 1;
            default:
                if (got_signal)
                    return 128 + got_signal;
                return 0;
            }
        }
        if (got_signal) {
            machine_request_stop(m, MACHINE_QUIT, 0);
            continue;
        }

        /* Feed leftover input first; read more only when it is gone. */
        if (npending > pending_off) {
            size_t n = machine_console_input(m, pending + pending_off, npending - pending_off);
            pending_off += n;
        }
        bool want_stdin = stdin_open && pending_off >= npending;

        struct pollfd fds[2] = {
            { .fd = m->wake_fd, .events = POLLIN },
            { .fd = STDIN_FILENO, .events = POLLIN },
        };
        int timeout = machine_poll_devices(m);
        if (test_mode)
            timeout = 1;
        else if (npending > pending_off && timeout > 10)
            timeout = 10;
        int r = poll(fds, want_stdin ? 2 : 1, timeout);
        if (test_mode)
            machine_poll_tohost(m);
        if (r < 0)
            continue; /* EINTR: the signal flag is checked above */
        if (fds[0].revents & POLLIN) {
            uint64_t v;
            if (read(m->wake_fd, &v, sizeof(v)) < 0) {
                /* spurious */
            }
        }
        if (want_stdin && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(STDIN_FILENO, pending, sizeof(pending));
            if (n <= 0) {
                stdin_open = false; /* EOF: the guest keeps running */
                continue;
            }
            bool quit = false;
            npending = console_filter_input(&filter, pending, (size_t)n, &quit);
            pending_off = 0;
            if (quit) {
                console_restore();
                machine_request_stop(m, MACHINE_QUIT, 0);
            }
        }
    }
}

static int cmd_run(struct run_opts *o)
{
    struct machine *m;
    char err[VIRT_ERR_LEN] = "";
    int status;

    if (o->cfg.test_elf) {
        if (o->cfg.kernel || o->cfg.firmware || o->cfg.initrd) {
            fprintf(stderr, "corral: error: --test runs a bare-metal program; "
                            "it does not take --kernel, --firmware or --initrd\n");
            return 2;
        }
    } else if (!o->cfg.kernel) {
        fprintf(stderr, "corral: error: no kernel given (--kernel PATH, or --test ELF)\n");
        return 2;
    }
    if (o->console && strcmp(o->console, "stdio") != 0) {
        if (!strncmp(o->console, "file:", 5) && o->console[5]) {
            int r = console_open_file(o->console + 5);
            if (r) {
                fprintf(stderr, "corral: error: --console %s: %s\n", o->console, strerror(-r));
                return 1;
            }
        } else {
            fprintf(stderr, "corral: error: --console %s: must be stdio or file:PATH\n",
                    o->console);
            return 2;
        }
    }
    if (check_readable(o->cfg.kernel, "kernel") || check_readable(o->cfg.firmware, "firmware") ||
        check_readable(o->cfg.initrd, "initrd") || check_readable(o->cfg.test_elf, "test program"))
        return 1;
    if (!o->cfg.test_elf && !o->cfg.firmware) {
        fprintf(stderr, "corral: error: no firmware given (--firmware fw_dynamic.bin)\n");
        return 2;
    }
    if (!o->cfg.cmdline)
        o->cfg.cmdline = "console=ttyS0";
    o->cfg.console_write = console_write;

    if (machine_create(&m, &o->cfg, err)) {
        fprintf(stderr, "corral: error: %s\n", err);
        return 1;
    }
    if (machine_load(m, err)) {
        fprintf(stderr, "corral: error: %s\n", err);
        machine_destroy(m);
        return 1;
    }
    if (o->dump_dtb) {
        const void *fdt = gmem_ptr(&m->bus.ram, m->fdt_addr, 64);
        int r = fdt ? write_file_atomic(o->dump_dtb, fdt, fdt_totalsize(fdt)) : -EFAULT;
        machine_destroy(m);
        if (r) {
            fprintf(stderr, "corral: error: --dump-dtb %s: %s\n", o->dump_dtb, strerror(-r));
            return 1;
        }
        return 0;
    }

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!o->cfg.test_elf)
        console_raw();
    if (machine_start(m)) {
        console_restore();
        fprintf(stderr, "corral: error: cannot start hart threads\n");
        machine_destroy(m);
        return 1;
    }
    status = run_loop(m, o->cfg.test_elf != NULL);
    console_restore();
    machine_destroy(m);
    return status;
}

int main(int argc, char **argv)
{
    struct run_opts o = { .cfg = { .ncpus = 1, .mem_size = 512ULL << 20 } };
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
        printf("corral %s\n", CORRAL_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run") || !strcmp(cmd, "up")) {
        int r = parse_run_flags(argc - 1, argv + 1, &o);
        if (r)
            return r;
        if (!strcmp(cmd, "up")) {
            static char dir[PATH_MAX], kernel[PATH_MAX + 16], fw[PATH_MAX + 16],
                initrd[PATH_MAX + 32];
            if (find_default_guest(dir, sizeof(dir)))
                return 1;
            snprintf(kernel, sizeof(kernel), "%s/Image", dir);
            snprintf(fw, sizeof(fw), "%s/fw_dynamic.bin", dir);
            snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio", dir);
            if (!o.cfg.kernel)
                o.cfg.kernel = kernel;
            if (!o.cfg.firmware)
                o.cfg.firmware = fw;
            if (!o.cfg.initrd)
                o.cfg.initrd = initrd;
        }
        return cmd_run(&o);
    }
    return usage_error("unknown command '%s'", cmd);
}
