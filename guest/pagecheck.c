/*
 * pagecheck: a guest workload that proves memory survives snapshot/restore
 * and live migration page for page.
 *
 * It fills a region with 4 KiB pages whose contents are a xorshift64 stream
 * keyed by (seed, page index, generation), then loops forever: random pages
 * are verified, their generation bumped and rewritten (throttled to --rate
 * MB/s), and every page is verified in full sweeps ("rounds"). A page that a
 * VMM lost (stale: an old generation), moved (another index) or corrupted no
 * longer matches its key. The generation array, the only other state, is
 * guarded by a checksum kept up to date on every bump and recomputed after
 * each sweep.
 *
 * It also watches the guest clock: CLOCK_MONOTONIC must never go backwards,
 * and a short nanosleep is taken regularly, so a guest whose timer is frozen
 * stalls here and the status file's age grows.
 *
 * Status: about once a second one line is written atomically (temp file +
 * rename) to --status, default /run/pagecheck.status (PATH.K per worker with
 * --procs). `pagecheck --print [PATH]` prints it (aggregating workers) with
 * the file's age appended, so a test can read it through the console.
 *
 * Portable C (POSIX): the host unit test tests/unit/test_pagecheck.c builds
 * this file with PAGECHECK_NO_MAIN to test the pattern and verify logic.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PC_PAGE 4096u
#define PC_WORDS (PC_PAGE / 8u)
#define PC_MAX_PROCS 64
#define PC_REPORT_MAX 8 /* mismatches printed in detail per process */

/* ---- the pattern: pure functions, unit-tested on the host ---- */

/* splitmix64's finaliser: a bijection on 64-bit values. */
static uint64_t pc_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* The key of one page version; never 0 (xorshift's fixed point). */
static uint64_t pc_key(uint64_t seed, uint64_t page, uint32_t gen)
{
    uint64_t k = pc_mix(seed ^ pc_mix(page * 2 + 1) ^ pc_mix(((uint64_t)gen << 1) | 0x8000000000000000ull));
    return k ? k : 0x9e3779b97f4a7c15ull;
}

static inline uint64_t pc_next(uint64_t x)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static void pc_fill(uint64_t *w, uint64_t key)
{
    uint64_t x = key;
    for (unsigned i = 0; i < PC_WORDS; i++) {
        x = pc_next(x);
        w[i] = x;
    }
}

/* First word of a page with this key (for mismatch reports). */
static uint64_t pc_word(uint64_t key, unsigned idx)
{
    uint64_t x = key;
    for (unsigned i = 0; i <= idx; i++)
        x = pc_next(x);
    return x;
}

/* 0 when the page matches key; else the number of differing words, with
 * the first one's index in *bad. */
static unsigned pc_check(const uint64_t *w, uint64_t key, unsigned *bad)
{
    uint64_t x = key, acc = 0;
    for (unsigned i = 0; i < PC_WORDS; i++) {
        x = pc_next(x);
        acc |= w[i] ^ x;
    }
    if (!acc)
        return 0;
    unsigned n = 0;
    x = key;
    for (unsigned i = 0; i < PC_WORDS; i++) {
        x = pc_next(x);
        if (w[i] != x) {
            if (!n)
                *bad = i;
            n++;
        }
    }
    return n;
}

/* ---- a region: pages, generations and counters ---- */

struct pc_region {
    uint64_t *mem;        /* npages * PC_PAGE bytes */
    uint32_t *gen;        /* generation of each page */
    size_t npages;
    uint64_t seed;
    uint64_t gen_sum;     /* checksum of gen[], kept up to date */
    uint64_t verified, written, mismatches, gen_errors;
    uint64_t stale;       /* mismatched pages that held an older generation */
    unsigned reported;
    const char *tag;      /* for messages */
};

static uint64_t pc_gen_term(size_t page, uint32_t gen)
{
    return pc_mix(((uint64_t)page << 32) ^ gen ^ 0x5bd1e9955bd1e995ull);
}

static uint64_t pc_gen_sum(const struct pc_region *r)
{
    uint64_t s = 0;
    for (size_t p = 0; p < r->npages; p++)
        s += pc_gen_term(p, r->gen[p]);
    return s;
}

static void pc_region_init(struct pc_region *r, uint64_t *mem, uint32_t *gen, size_t npages, uint64_t seed)
{
    memset(r, 0, sizeof(*r));
    r->mem = mem;
    r->gen = gen;
    r->npages = npages;
    r->seed = seed;
    r->tag = "pagecheck";
    for (size_t p = 0; p < npages; p++) {
        gen[p] = 0;
        pc_fill(mem + p * PC_WORDS, pc_key(seed, p, 0));
    }
    r->gen_sum = pc_gen_sum(r);
}

/* What a bad page holds: an older generation of itself (a lost write: the
 * VMM kept or sent a stale copy) -> that generation; anything else -> -1.
 * Looks back PC_STALE_MAX generations, comparing the whole page. */
#define PC_STALE_MAX 64
static int64_t pc_stale_gen(const struct pc_region *r, size_t p, const uint64_t *w)
{
    uint32_t g = r->gen[p];
    unsigned bad;
    for (uint32_t back = 1; back <= PC_STALE_MAX && back <= g; back++) {
        uint64_t key = pc_key(r->seed, p, g - back);
        if (w[0] == pc_word(key, 0) && pc_check(w, key, &bad) == 0)
            return (int64_t)(g - back);
    }
    return -1;
}

static void pc_report(struct pc_region *r, size_t p, const uint64_t *w, uint64_t key, unsigned bad, unsigned nbad)
{
    r->mismatches++;
    int64_t stale = pc_stale_gen(r, p, w);
    if (stale >= 0)
        r->stale++;
    if (r->reported >= PC_REPORT_MAX)
        return;
    r->reported++;
    char what[64];
    if (stale >= 0)
        snprintf(what, sizeof(what), "stale: holds generation %" PRId64, stale);
    else
        snprintf(what, sizeof(what), "corrupt: no recent generation");
    fprintf(stderr, "%s: mismatch page=%zu gen=%" PRIu32 " %s, words_differing=%u first_bad_word=%u "
            "expected=%016" PRIx64 " found=%016" PRIx64 " (word 0: expected=%016" PRIx64 " found=%016" PRIx64 ")\n",
            r->tag, p, r->gen[p], what, nbad, bad, pc_word(key, bad), w[bad], pc_word(key, 0), w[0]);
}

/* Verify page p; a bad page is counted, reported and repaired (rewritten
 * with its expected contents) so it is counted once. Returns 1 if bad. */
static int pc_verify_page(struct pc_region *r, size_t p)
{
    uint64_t *w = r->mem + p * PC_WORDS;
    uint64_t key = pc_key(r->seed, p, r->gen[p]);
    unsigned bad = 0, n = pc_check(w, key, &bad);
    r->verified++;
    if (!n)
        return 0;
    pc_report(r, p, w, key, bad, n);
    pc_fill(w, key);
    return 1;
}

/* Verify page p, bump its generation and rewrite it. Returns 1 if the old
 * contents were bad. */
static int pc_rewrite_page(struct pc_region *r, size_t p)
{
    uint64_t *w = r->mem + p * PC_WORDS;
    uint32_t g = r->gen[p];
    uint64_t key = pc_key(r->seed, p, g);
    unsigned bad = 0, n = pc_check(w, key, &bad);
    r->verified++;
    if (n)
        pc_report(r, p, w, key, bad, n);
    pc_fill(w, pc_key(r->seed, p, g + 1));
    r->gen[p] = g + 1;
    r->gen_sum += pc_gen_term(p, g + 1) - pc_gen_term(p, g);
    r->written++;
    return n != 0;
}

/* Recompute the generation checksum; a difference means gen[] changed
 * under us. Resynchronises so one corruption is counted once. */
static int pc_check_gens(struct pc_region *r)
{
    uint64_t s = pc_gen_sum(r);
    if (s == r->gen_sum)
        return 0;
    r->gen_errors++;
    r->mismatches++;
    if (r->reported < PC_REPORT_MAX) {
        r->reported++;
        fprintf(stderr, "%s: mismatch in the generation array checksum: expected=%016" PRIx64 " found=%016" PRIx64 "\n",
                r->tag, r->gen_sum, s);
    }
    r->gen_sum = s;
    return 1;
}

/* ---- status lines ---- */

struct pc_status {
    uint64_t seed, mib, rounds, verified, written, mismatches, clock_backwards, uptime_ms, ts;
};

static int pc_format_status(char *buf, size_t len, const struct pc_status *s)
{
    return snprintf(buf, len,
                    "pagecheck seed=%" PRIu64 " mib=%" PRIu64 " rounds=%" PRIu64 " verified=%" PRIu64
                    " written=%" PRIu64 " mismatches=%" PRIu64 " clock_backwards=%" PRIu64
                    " uptime_ms=%" PRIu64 " ts=%" PRIu64,
                    s->seed, s->mib, s->rounds, s->verified, s->written, s->mismatches,
                    s->clock_backwards, s->uptime_ms, s->ts);
}

/* Parse a status line; 0 on success, -EINVAL if a field is missing. */
static int pc_parse_status(const char *line, struct pc_status *s)
{
    static const char *const names[] = {"seed", "mib", "rounds", "verified", "written",
                                        "mismatches", "clock_backwards", "uptime_ms", "ts"};
    uint64_t *fields[] = {&s->seed, &s->mib, &s->rounds, &s->verified, &s->written,
                          &s->mismatches, &s->clock_backwards, &s->uptime_ms, &s->ts};
    if (strncmp(line, "pagecheck ", 10) != 0)
        return -EINVAL;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char pat[32];
        snprintf(pat, sizeof(pat), " %s=", names[i]);
        const char *p = strstr(line, pat);
        if (!p)
            return -EINVAL;
        p += strlen(pat);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno || (*end && *end != ' ' && *end != '\n'))
            return -EINVAL;
        *fields[i] = v;
    }
    return 0;
}

/* Aggregate of workers: counters add up, rounds is the smallest (every
 * worker finished that many sweeps), uptime the largest, ts the oldest. */
static void pc_status_add(struct pc_status *acc, const struct pc_status *s, int first)
{
    if (first) {
        *acc = *s;
        return;
    }
    acc->mib += s->mib;
    acc->rounds = s->rounds < acc->rounds ? s->rounds : acc->rounds;
    acc->verified += s->verified;
    acc->written += s->written;
    acc->mismatches += s->mismatches;
    acc->clock_backwards += s->clock_backwards;
    acc->uptime_ms = s->uptime_ms > acc->uptime_ms ? s->uptime_ms : acc->uptime_ms;
    acc->ts = s->ts < acc->ts ? s->ts : acc->ts;
}

#ifndef PAGECHECK_NO_MAIN

/* ---- the program ---- */

struct pc_opts {
    uint64_t mib, seed;
    double rate;          /* MB/s of rewrites, 0 = unthrottled */
    const char *status;
    unsigned procs;
    int exit_on_error;
};

static uint64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct pc_clock {
    uint64_t start, last, backwards;
};

static uint64_t pc_clock_now(struct pc_clock *c)
{
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    if (t < c->last) {
        c->backwards++;
        fprintf(stderr, "pagecheck: CLOCK_MONOTONIC went back by %" PRIu64 " ns\n", c->last - t);
        return c->last;
    }
    c->last = t;
    return t;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void write_status(const char *path, const struct pc_status *s)
{
    char line[512], tmp[4096];
    int n = pc_format_status(line, sizeof(line) - 1, s);
    if (n < 0 || (size_t)n >= sizeof(line) - 1)
        return;
    line[n++] = '\n';
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    if (w == n)
        rename(tmp, path);
    else
        unlink(tmp);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
    rng_state = pc_next(rng_state);
    return rng_state;
}

static int worker(const struct pc_opts *o, uint64_t mib, double rate, uint64_t seed, const char *status,
                  const char *tag)
{
    size_t npages = (size_t)(mib * 1024 * 1024 / PC_PAGE);
    uint64_t *mem = mmap(NULL, npages * PC_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t *gen = calloc(npages, sizeof(*gen));
    if (mem == MAP_FAILED || !gen) {
        fprintf(stderr, "%s: FAIL cannot allocate %" PRIu64 " MiB: %s\n", tag, mib, strerror(errno));
        return 2;
    }
    struct pc_region r;
    struct pc_clock clk = {0};
    clk.start = clk.last = now_ns(CLOCK_MONOTONIC);
    pc_region_init(&r, mem, gen, npages, seed);
    r.tag = tag;
    rng_state = pc_mix(seed ^ 0x1234567ull) | 1;

    /* Rewrites owed: pages_per_s * elapsed - done since the last reset. */
    double pages_per_ns = rate > 0 ? rate * 1e6 / PC_PAGE / 1e9 : 0;
    uint64_t t_rate = clk.start, owed_base = 0;
    uint64_t t_status = 0, t_nap = clk.start, rounds = 0;
    const size_t chunk = 32;
    int failed = 0;

    for (;;) {
        for (size_t p = 0; p < npages; p += chunk) {
            size_t end = p + chunk < npages ? p + chunk : npages;
            for (size_t q = p; q < end; q++)
                failed |= pc_verify_page(&r, q);
            uint64_t t = pc_clock_now(&clk);
            /* Rewrites: unthrottled = as many as pages verified. */
            if (pages_per_ns > 0) {
                double due = (double)(t - t_rate) * pages_per_ns;
                /* After a long stall (a pause), do not catch up in a burst. */
                if (due - (double)owed_base > 0.25e9 * pages_per_ns + chunk) {
                    t_rate = t;
                    owed_base = 0;
                    due = 0;
                }
                while ((double)owed_base < due) {
                    failed |= pc_rewrite_page(&r, (size_t)(rng() % npages));
                    owed_base++;
                }
            } else {
                for (size_t q = p; q < end; q++)
                    failed |= pc_rewrite_page(&r, (size_t)(rng() % npages));
            }
            /* A short sleep every 100 ms: stalls if the guest timer froze. */
            if (t - t_nap >= 100000000ull) {
                sleep_ns(10000000ull);
                t = pc_clock_now(&clk);
                t_nap = t;
            }
            if (t - t_status >= 1000000000ull || t_status == 0) {
                struct pc_status s = {.seed = o->seed, .mib = mib, .rounds = rounds, .verified = r.verified,
                                      .written = r.written, .mismatches = r.mismatches,
                                      .clock_backwards = clk.backwards, .uptime_ms = (t - clk.start) / 1000000,
                                      .ts = now_ns(CLOCK_REALTIME) / 1000000000ull};
                write_status(status, &s);
                t_status = t;
            }
            if (failed && o->exit_on_error) {
                fprintf(stderr, "%s: FAIL mismatches=%" PRIu64 " after %" PRIu64 " rounds\n", tag, r.mismatches, rounds);
                return 1;
            }
        }
        failed |= pc_check_gens(&r);
        rounds++;
    }
}

static int print_status(const char *path)
{
    char buf[4096], fname[4200];
    struct pc_status acc = {0}, s = {0};
    struct stat st;
    unsigned n = 0;
    double newest = 0;
    int bad = 0;
    for (int k = -1; k < PC_MAX_PROCS; k++) {
        if (k < 0)
            snprintf(fname, sizeof(fname), "%s", path);
        else
            snprintf(fname, sizeof(fname), "%s.%d", path, k);
        FILE *f = fopen(fname, "r");
        if (!f) {
            if (k >= 0)
                break;
            continue;
        }
        int ok = fgets(buf, sizeof(buf), f) != NULL && fstat(fileno(f), &st) == 0;
        fclose(f);
        if (!ok || pc_parse_status(buf, &s) != 0) {
            fprintf(stderr, "pagecheck: %s: not a pagecheck status line\n", fname);
            bad = 1;
            continue;
        }
        double mt = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
        /* age of the oldest file: a stalled worker shows */
        if (n == 0 || mt < newest)
            newest = mt;
        pc_status_add(&acc, &s, n == 0);
        n++;
        if (k < 0)
            break; /* a single-process status file */
    }
    if (n == 0) {
        fprintf(stderr, "pagecheck: no status at %s (is pagecheck running?)\n", path);
        return 1;
    }
    pc_format_status(buf, sizeof(buf), &acc);
    double age = (double)now_ns(CLOCK_REALTIME) / 1e9 - newest;
    printf("%s procs=%u age_ms=%lld\n", buf, n, (long long)(age * 1000));
    return bad;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: pagecheck [--mib N] [--seed S] [--rate MBPS] [--status PATH] [--procs P] [--exit-on-error]\n"
               "       pagecheck --print [PATH]\n"
               "--mib and --rate (MB/s of rewrites, 0 = unthrottled) are totals over the --procs workers\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (!*s || *end || errno || *s == '-')
        return -1;
    *v = x;
    return 0;
}

static pid_t children[PC_MAX_PROCS];
static unsigned nchildren;

static void forward_signal(int sig)
{
    for (unsigned i = 0; i < nchildren; i++)
        if (children[i] > 0)
            kill(children[i], sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    struct pc_opts o = {.mib = 64, .seed = 1, .rate = 0, .status = "/run/pagecheck.status", .procs = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (!strcmp(a, "--print"))
            return print_status(i + 1 < argc ? argv[i + 1] : o.status);
        if (!strcmp(a, "--exit-on-error")) {
            o.exit_on_error = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "pagecheck: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "--status")) {
            o.status = val;
            continue;
        }
        if (!strcmp(a, "--rate")) {
            char *end;
            o.rate = strtod(val, &end);
            if (*end || end == val || o.rate < 0) {
                fprintf(stderr, "pagecheck: bad --rate %s\n", val);
                return 2;
            }
            continue;
        }
        if (parse_u64(val, &v) != 0) {
            fprintf(stderr, "pagecheck: bad number for %s: %s\n", a, val);
            return 2;
        }
        if (!strcmp(a, "--mib"))
            o.mib = v;
        else if (!strcmp(a, "--seed"))
            o.seed = v;
        else if (!strcmp(a, "--procs"))
            o.procs = (unsigned)v;
        else {
            fprintf(stderr, "pagecheck: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.procs < 1 || o.procs > PC_MAX_PROCS || o.mib < o.procs || o.mib > (1u << 20)) {
        fprintf(stderr, "pagecheck: need 1 <= --procs <= %d and --procs <= --mib <= 1048576\n", PC_MAX_PROCS);
        return 2;
    }
    if (o.procs == 1)
        return worker(&o, o.mib, o.rate, o.seed, o.status, "pagecheck");

    /* Workers: each its own region, seed and status file PATH.K. */
    char path[4200], tag[32];
    unlink(o.status);
    for (unsigned k = 0; k < o.procs; k++) {
        snprintf(path, sizeof(path), "%s.%u", o.status, k);
        unlink(path);
    }
    signal(SIGTERM, forward_signal);
    signal(SIGINT, forward_signal);
    for (unsigned k = 0; k < o.procs; k++) {
        uint64_t share = o.mib / o.procs + (k < o.mib % o.procs);
        snprintf(path, sizeof(path), "%s.%u", o.status, k);
        snprintf(tag, sizeof(tag), "pagecheck[%u]", k);
        pid_t pid = fork();
        if (pid == 0)
            _exit(worker(&o, share, o.rate / o.procs, pc_mix(o.seed + k), path, tag));
        if (pid < 0) {
            fprintf(stderr, "pagecheck: FAIL fork: %s\n", strerror(errno));
            forward_signal(SIGTERM);
            return 2;
        }
        children[nchildren++] = pid;
    }
    int rc = 0, st;
    for (unsigned done = 0; done < nchildren;) {
        pid_t pid = wait(&st);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        done++;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "pagecheck: FAIL worker %d ended (status 0x%x)\n", (int)pid, st);
            rc = 1;
        }
    }
    return rc;
}

#endif /* PAGECHECK_NO_MAIN */
