/* Live migration, pre-copy (docs/migration.md): the source's migration
 * thread and the destination's incoming side. Both speak the same frames
 * (vm/migrate_stream.h); the machine is moved with the snapshot's
 * machinery: its saved configuration, the dirty log, and the device
 * sections. */
#include "vm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vclock.h"
#include "state/state.h"
#include "vm/migrate_pages.h"
#include "vm/migrate_disks.h"
#include "vm/migrate_postcopy.h"
#include "vm/migrate_recover.h"
#include "vm/registry.h"
#include "vm/migrate_stream.h"

#define PAGES_PER_FRAME 256
#define MAX_ROUNDS 30
#define DEFAULT_DOWNTIME_MS 50
/* auto mode: rounds of pre-copy before it switches to post-copy. */
#define AUTO_ROUNDS 3
/* Auto-converge (pre-copy): a round whose dirty pages exceed half the
 * pages the round before it sent is "too fast"; after two such rounds
 * the harts are throttled to THROTTLE_START percent, then THROTTLE_STEP
 * more each further one (QEMU starts at 20 too, but steps by 10: that
 * takes twice the rounds to slow a fast writer enough). */
#define THROTTLE_START 20
#define THROTTLE_STEP 20
/* Storage migration in post-copy: disk-only rounds while the guest runs,
 * while the changed set at least halves. */
#define DISK_ROUNDS 10

static void set_status(struct vm *vm, const char *status, const char *error)
{
    pthread_mutex_lock(&vm->mig_lock);
    snprintf(vm->mig.status, sizeof(vm->mig.status), "%s", status);
    if (error)
        snprintf(vm->mig.error, sizeof(vm->mig.error), "%s", error);
    pthread_mutex_unlock(&vm->mig_lock);
}

static double ms_since(int64_t t)
{
    return (vclock_host_now_ns() - t) / 1e6;
}

/* At most max_bandwidth_mibps on the wire: sleep (this thread only) until
 * the bytes sent since `since_ns` are within the cap. */
static void throttle(uint32_t mibps, int64_t since_ns, uint64_t bytes)
{
    if (!mibps)
        return;
    int64_t due = since_ns + (int64_t)((double)bytes / ((double)mibps * 1048576.0) * 1e9);
    int64_t now = vclock_host_now_ns();
    if (due > now)
        usleep((useconds_t)((due - now) / 1000));
}

struct mig_args {
    struct vm *vm;
    char uri[256];
    enum vm_mig_mode mode;
    uint32_t downtime_ms, max_bandwidth_mibps;
    uint32_t recover_window_ms; /* post-copy: a broken link's time to recover */
    bool migrate_disks;
    struct mig_page_opts pages;
    struct mig_encoder *enc;
    int64_t cap_start_ns; /* the bandwidth cap counts from here */
    int64_t down_ns;      /* the guest stopped here */
    uint8_t id[MIG_ID_LEN]; /* post-copy recovery: proves the source is this one */
};

/* Send the pages set in bits[] (all pages when bits is NULL), each in its
 * smallest encoding; counts into the statistics. 0 or -errno (err set). */
static int send_pages(struct mig_args *a, int fd, struct gmem *ram, const uint64_t *bits,
                      uint64_t *sent, char *err)
{
    struct vm *vm = a->vm;
    struct state_out o;
    uint64_t npages = gmem_npages(ram), p = 0, count = 0;
    int r = 0;
    state_out_init(&o);
    *sent = 0;
    while (p < npages && !r) {
        state_out_free(&o);
        state_out_init(&o);
        state_begin(&o, "pages", 1, 0);
        size_t count_at = o.len;
        state_put_u32(&o, 0);
        uint32_t n = 0;
        uint64_t batch[PAGES_PER_FRAME];
        struct mig_page_counts c = { 0 };
        for (; p < npages && n < PAGES_PER_FRAME; p++)
            if (!bits || ((bits[p >> 6] >> (p & 63)) & 1))
                batch[n++] = p;
        if (!n)
            break;
        mig_encode_pages(a->enc, ram, batch, n, &o, &c);
        for (unsigned i = 0; i < 4 && !o.err; i++)
            o.buf[count_at + i] = (uint8_t)(n >> (8 * i));
        state_end(&o);
        r = mig_send(fd, &o, err);
        count += n;
        pthread_mutex_lock(&vm->mig_lock);
        vm->mig.bytes += o.len;
        uint64_t total = vm->mig.bytes;
        vm->mig.pages_normal += c.normal;
        vm->mig.pages_zero += c.zero;
        vm->mig.pages_compressed += c.compressed;
        vm->mig.pages_dedup += c.dedup;
        vm->mig.pages_delta += c.delta;
        vm->mig.page_bytes += c.raw_bytes;
        vm->mig.page_wire_bytes += c.wire_bytes;
        pthread_mutex_unlock(&vm->mig_lock);
        throttle(a->max_bandwidth_mibps, a->cap_start_ns, total);
        if (atomic_load(&vm->mig_cancel) && !r)
            r = -ECANCELED, snprintf(err, MIG_ERR_LEN, "cancelled");
    }
    state_out_free(&o);
    *sent = count;
    return r;
}

static int send_round_end(int fd, uint32_t round, uint64_t pages, char *err)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "round-end", 1, 0);
    state_put_u32(&o, round);
    state_put_u64(&o, pages);
    state_end(&o);
    int r = mig_send(fd, &o, err);
    state_out_free(&o);
    return r;
}

/* The peer's answer: `want` (0) or refuse (its reason in err). */
static int expect(int fd, const char *want, uint8_t **buf, size_t *cap,
                  struct state_section *s, char *err)
{
    int r = mig_recv(fd, buf, cap, s, err);
    if (r)
        return r;
    if (!strcmp(s->id, "refuse")) {
        char why[400];
        state_get_str(&s->body, why, sizeof(why), NULL);
        snprintf(err, MIG_ERR_LEN, "the destination refused: %s", why);
        return -ECONNREFUSED;
    }
    if (strcmp(s->id, want)) {
        snprintf(err, MIG_ERR_LEN, "protocol error: expected '%s', got '%s'", want, s->id);
        return -EPROTO;
    }
    return 0;
}


/* Post-copy pages: "pc-pages" {u32 n, n x {u64 page, u8 kind 0|1, [4096]}}
 * (the destination places them whole with UFFDIO_COPY). */
static int send_pc_pages(struct mig_args *a, int fd, struct gmem *ram, uint64_t *stale,
                         const uint64_t *pages, unsigned n, char *err)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "pc-pages", 1, 0);
    state_put_u32(&o, n);
    uint64_t zero = 0, normal = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t p = pages[i];
        const uint8_t *src = ram->host + (p << GMEM_PAGE_SHIFT);
        bool z = gmem_page_is_zero(src);
        state_put_u64(&o, p);
        state_put_u8(&o, !z);
        if (!z)
            state_put_bytes(&o, src, GMEM_PAGE_SIZE);
        zero += z;
        normal += !z;
        stale[p >> 6] &= ~(1ULL << (p & 63));
    }
    state_end(&o);
    int r = mig_send(fd, &o, err);
    pthread_mutex_lock(&a->vm->mig_lock);
    a->vm->mig.bytes += o.len;
    a->vm->mig.pages_zero += zero;
    a->vm->mig.pages_normal += normal;
    a->vm->mig.page_bytes += (uint64_t)n * GMEM_PAGE_SIZE;
    a->vm->mig.page_wire_bytes += o.len;
    uint64_t total = a->vm->mig.bytes;
    pthread_mutex_unlock(&a->vm->mig_lock);
    state_out_free(&o);
    throttle(a->max_bandwidth_mibps, a->cap_start_ns, total);
    return r;
}

/* The source's half of post-copy, the guest paused here and running
 * there: answer the destination's page requests first, push the other
 * missing pages in between, then "pc-end" and wait for "pc-complete".
 * *running: the destination said "done" (it runs the guest). A refusal
 * before that is -ECONNREFUSED (the destination never ran: safe to
 * resume here). */
static int serve_postcopy(struct mig_args *a, int fd, struct gmem *ram, uint64_t *stale,
                          uint8_t **buf, size_t *cap, bool *running, char *err)
{
    uint64_t npages = gmem_npages(ram), next = 0, batch[32];
    struct state_section s;
    int r;
    for (bool ended = false;;) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        /* After pc-end nothing is left to push: wait for the verdict. */
        while (poll(&pf, 1, ended ? MIG_TIMEOUT_MS : 0) > 0) {
            if ((r = mig_recv(fd, buf, cap, &s, err)))
                return r;
            if (!strcmp(s.id, "pc-req")) {
                uint64_t p = state_get_u64(&s.body);
                if (state_in_status(&s.body) || p >= npages)
                    return snprintf(err, MIG_ERR_LEN, "bad page request"), -EPROTO;
                pthread_mutex_lock(&a->vm->mig_lock);
                a->vm->mig.postcopy_requests++;
                pthread_mutex_unlock(&a->vm->mig_lock);
                if (((stale[p >> 6] >> (p & 63)) & 1) &&
                    (r = send_pc_pages(a, fd, ram, stale, &p, 1, err)))
                    return r;
            } else if (!strcmp(s.id, "done")) {
                /* The downtime: paused here until it runs there. */
                *running = true;
                pthread_mutex_lock(&a->vm->mig_lock);
                a->vm->mig.downtime_ms = ms_since(a->down_ns);
                pthread_mutex_unlock(&a->vm->mig_lock);
                set_status(a->vm, "postcopy-active", NULL);
            } else if (!strcmp(s.id, "pc-complete")) {
                return 0;
            } else if (!strcmp(s.id, "refuse")) {
                char why[400];
                state_get_str(&s.body, why, sizeof(why), NULL);
                snprintf(err, MIG_ERR_LEN, "the destination refused: %s", why);
                return *running ? -EPROTO : -ECONNREFUSED;
            } else {
                snprintf(err, MIG_ERR_LEN, "protocol error: '%s' in post-copy", s.id);
                return -EPROTO;
            }
            pf.revents = 0;
        }
        if (ended) {
            snprintf(err, MIG_ERR_LEN, "the destination did not confirm the end of post-copy");
            return -ETIMEDOUT;
        }
        unsigned n = 0;
        for (; next < npages && n < 32; next++)
            if ((stale[next >> 6] >> (next & 63)) & 1)
                batch[n++] = next;
        if (n) {
            if ((r = send_pc_pages(a, fd, ram, stale, batch, n, err)))
                return r;
            pthread_mutex_lock(&a->vm->mig_lock);
            a->vm->mig.remaining_pages = a->vm->mig.remaining_pages > n
                                             ? a->vm->mig.remaining_pages - n : 0;
            pthread_mutex_unlock(&a->vm->mig_lock);
            continue;
        }
        if ((r = mig_send_simple(fd, "pc-end", NULL, err)))
            return r;
        ended = true;
    }
}

/* Post-copy recovery on the source: the link broke (err: how) while
 * the destination may run the guest. The guest stays paused here and
 * every page as it was; wait for PUT /migrate/recover's URI, connect,
 * prove the migration id and take the destination's word for what it
 * still lacks (checked against `map`, the postcopy frame's), sending
 * the pages its harts wait for first. 0 with *fd the new link, or the
 * error that ends it (window over, cancelled; err says so). */
static int pause_for_recovery(struct mig_args *a, int *fd, struct gmem *ram, uint64_t *stale,
                              const uint64_t *map, char *err)
{
    struct vm *vm = a->vm;
    size_t words = gmem_dirty_words(ram);
    char why[MIG_ERR_LEN];
    bool all_sent = true; /* then maybe only pc-complete was lost */
    for (size_t w = 0; w < words && all_sent; w++)
        all_sent = !stale[w];
    snprintf(why, sizeof(why), "%.380s%s", err, all_sent ? "; every page had been sent: the "
             "destination may run the guest whole (PUT /migrate/recover there, then here, "
             "confirms it)" : "");
    close(*fd);
    *fd = -1;
    /* Its harts have been parked since the switch; say so (resume stays
     * refused while the migration lives). */
    pthread_mutex_lock(&vm->lock);
    vm->state = VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    pthread_mutex_lock(&vm->mig_lock);
    snprintf(vm->mig.status, sizeof(vm->mig.status), "postcopy-paused");
    snprintf(vm->mig.error, sizeof(vm->mig.error), "%s", why);
    vm->mig.recover_asked = false;
    pthread_mutex_unlock(&vm->mig_lock);
    log_warn("post-copy to %s paused: %s; the guest stays paused here with its memory "
             "(PUT /migrate/recover within %u s)", a->uri, why, a->recover_window_ms / 1000);
    int64_t deadline = vclock_host_now_ns() + (int64_t)a->recover_window_ms * 1000000;
    uint64_t *missing = calloc(words, sizeof(uint64_t));
    uint64_t *urgent = calloc(MIG_RECOVER_URGENT_MAX, sizeof(uint64_t));
    int r;
    if (!missing || !urgent) {
        snprintf(err, MIG_ERR_LEN, "out of memory (%.400s)", why);
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (atomic_load(&vm->mig_cancel)) {
            snprintf(err, MIG_ERR_LEN, "cancelled while post-copy was paused (%.400s)", why);
            r = -ECANCELED;
            goto out;
        }
        if (vclock_host_now_ns() > deadline) {
            snprintf(err, MIG_ERR_LEN, "no recovery within %u s of the break (%.400s)",
                     a->recover_window_ms / 1000, why);
            r = -ETIMEDOUT;
            goto out;
        }
        char uri[256];
        pthread_mutex_lock(&vm->mig_lock);
        bool asked = vm->mig.recover_asked;
        vm->mig.recover_asked = false;
        snprintf(uri, sizeof(uri), "%s", vm->mig.recover_uri);
        pthread_mutex_unlock(&vm->mig_lock);
        if (!asked) {
            usleep(50000);
            continue;
        }
        char e2[MIG_ERR_LEN], why2[MIG_ERR_LEN] = "";
        uint8_t *buf = NULL;
        size_t cap = 0;
        struct state_section s;
        struct state_out o;
        uint32_t n = 0;
        state_out_init(&o);
        mig_resume_put(&o, a->id);
        r = mig_connect(uri, fd, e2);
        if (!r && !(r = mig_send(*fd, &o, e2)) && !(r = expect(*fd, "pc-resume-ack", &buf, &cap,
                                                               &s, e2)) &&
            mig_resume_ack_parse(&s.body, a->id, map, words, missing, urgent, &n, why2,
                                 sizeof(why2))) {
            snprintf(e2, sizeof(e2), "%s", why2);
            r = -EPROTO;
        }
        state_out_free(&o);
        free(buf);
        if (!r) {
            /* The destination's map is the truth: pages in flight at the
             * break are in it again. */
            uint64_t left = 0;
            for (size_t w = 0; w < words; w++)
                left += (uint64_t)__builtin_popcountll(stale[w] = missing[w]);
            for (uint32_t i = 0; i < n && !r; i += 32)
                r = send_pc_pages(a, *fd, ram, stale, urgent + i, n - i < 32 ? n - i : 32, e2);
            if (!r) {
                pthread_mutex_lock(&vm->mig_lock);
                snprintf(vm->mig.status, sizeof(vm->mig.status), "postcopy-active");
                vm->mig.error[0] = 0;
                vm->mig.recoveries++;
                vm->mig.remaining_pages = left;
                pthread_mutex_unlock(&vm->mig_lock);
                log_info("post-copy to %s recovered via %s: %llu pages still to send, %u "
                         "waited for", a->uri, uri, (unsigned long long)left, n);
                goto out;
            }
        }
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        log_warn("post-copy recovery via %s failed: %s", uri, e2);
        pthread_mutex_lock(&vm->mig_lock);
        snprintf(vm->mig.status, sizeof(vm->mig.status), "postcopy-paused");
        snprintf(vm->mig.error, sizeof(vm->mig.error), "recovery via %.200s: %.280s", uri, e2);
        pthread_mutex_unlock(&vm->mig_lock);
    }
out:
    free(missing);
    free(urgent);
    return r;
}

/* Storage migration: the chunks written since they were last sent. */
static int send_disks(struct mig_args *a, int fd, bool paused, char *err)
{
    if (!a->migrate_disks)
        return 0;
    uint64_t bytes = 0, chunks = 0;
    int r = mig_disks_send(a->vm->m, fd, paused, &bytes, &chunks, err);
    pthread_mutex_lock(&a->vm->mig_lock);
    a->vm->mig.bytes += bytes;
    a->vm->mig.disk_bytes += bytes;
    a->vm->mig.disk_chunks += chunks;
    uint64_t total = a->vm->mig.bytes;
    pthread_mutex_unlock(&a->vm->mig_lock);
    throttle(a->max_bandwidth_mibps, a->cap_start_ns, total);
    return r;
}

static int send_disk_rounds(struct mig_args *a, int fd, char *err)
{
    uint64_t before = mig_disks_pending(a->vm->m);
    for (unsigned round = 0; round < DISK_ROUNDS; round++) {
        int r = send_disks(a, fd, false, err);
        if (r)
            return r;
        if (atomic_load(&a->vm->mig_cancel))
            return snprintf(err, MIG_ERR_LEN, "cancelled"), -ECANCELED;
        uint64_t now = mig_disks_pending(a->vm->m);
        if (now <= MIG_DISK_BATCH || now * 2 > before)
            break;
        before = now;
    }
    return 0;
}

static void *source_thread(void *arg)
{
    struct mig_args *a = arg;
    struct vm *vm = a->vm;
    struct machine *m = vm->m;
    struct gmem *ram = &m->bus.ram;
    char err[MIG_ERR_LEN] = "";
    int fd = -1, r;
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct state_section s;
    struct state_out o;
    bool paused = false, split = false, disks_handed = false;
    uint64_t *pc_map = NULL;
    int64_t t_pause = 0;
    uint64_t *bits = calloc(gmem_dirty_words(ram), sizeof(uint64_t));
    int64_t t0 = vclock_host_now_ns();
    state_out_init(&o);
    if (!bits) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail;
    }
    if (!(a->enc = mig_encoder_new(&a->pages, ram))) {
        snprintf(err, sizeof(err), "out of memory (page encoder)");
        goto fail;
    }
    if (a->migrate_disks && (r = mig_disks_start(m, err)))
        goto fail;
    if (getrandom(a->id, sizeof(a->id), 0) != (ssize_t)sizeof(a->id)) {
        snprintf(err, sizeof(err), "cannot draw a migration id: %s", strerror(errno));
        goto fail;
    }
    if ((r = mig_connect(a->uri, &fd, err)))
        goto fail;
    a->cap_start_ns = vclock_host_now_ns();
    state_begin(&o, "hello", 1, 0);
    state_put_u64(&o, MIG_MAGIC);
    state_put_u32(&o, MIG_VERSION);
    state_put_u64(&o, mig_encoder_features(a->enc) | (a->migrate_disks ? MIG_F_DISKS : 0) |
                          (a->mode != VM_MIG_PRECOPY ? MIG_F_RECOVER : 0));
    state_end(&o);
    machine_config_save(m, VM_VERSION, &o);
    if (a->migrate_disks)
        mig_disks_put_formats(m, &o);
    if (strcmp(vm->id, VM_ANONYMOUS_ID)) {
        /* Its name goes with it: `corral ps` finds it there. */
        state_begin(&o, "vm-name", 1, 0);
        state_put_str(&o, vm->id);
        state_end(&o);
    }
    if ((r = mig_send(fd, &o, err)) || (r = expect(fd, "hello-ack", &buf, &cap, &s, err)) ||
        (r = expect(fd, "config-ok", &buf, &cap, &s, err)))
        goto fail;
    pthread_mutex_lock(&vm->mig_lock);
    vm->mig.setup_ms = ms_since(t0);
    pthread_mutex_unlock(&vm->mig_lock);
    set_status(vm, "active", NULL);

    /* Round 0: everything; the dirty log from here on says what changed. */
    (void)machine_dirty_sync(m, bits);
    memset(bits, 0, gmem_dirty_words(ram) * sizeof(uint64_t));
    uint64_t sent = 0;
    int64_t tr = vclock_host_now_ns();
    uint64_t bytes0 = 0, full0 = 0;
    bool postcopy = a->mode == VM_MIG_POSTCOPY;
    if (!postcopy &&
        ((r = send_disks(a, fd, false, err)) ||
         (r = send_pages(a, fd, ram, NULL, &sent, err)) || (r = send_round_end(fd, 0, sent, err)) ||
         (r = expect(fd, "round-ack", &buf, &cap, &s, err))))
        goto fail;
    /* Post-copy with the disks: they must be whole there before the
     * guest runs there, so they go first, in rounds while it runs here. */
    if (postcopy && a->migrate_disks && (r = send_disk_rounds(a, fd, err)))
        goto fail;
    uint64_t last_sent = sent;
    unsigned too_fast = 0;
    for (uint32_t round = 1; !postcopy; round++) {
        double secs = (vclock_host_now_ns() - tr) / 1e9;
        pthread_mutex_lock(&vm->mig_lock);
        uint64_t bytes = vm->mig.bytes;
        pthread_mutex_unlock(&vm->mig_lock);
        double bw = secs > 0 ? (bytes - bytes0) / secs : 0; /* bytes/s */
        memset(bits, 0, gmem_dirty_words(ram) * sizeof(uint64_t));
        uint64_t dirty = machine_dirty_sync(m, bits);
        /* The expected downtime: the dirty pages at the time the last
         * round took per page that was not a zero page (zero pages cost
         * almost nothing; the guest's dirty pages seldom are). */
        pthread_mutex_lock(&vm->mig_lock);
        uint64_t full = vm->mig.pages_normal + vm->mig.pages_compressed +
                        vm->mig.pages_dedup + vm->mig.pages_delta;
        pthread_mutex_unlock(&vm->mig_lock);
        uint64_t round_full = full - full0;
        full0 = full;
        double expected_ms = round_full ? dirty * secs / round_full * 1e3 : 1e9;
        pthread_mutex_lock(&vm->mig_lock);
        vm->mig.rounds = round;
        vm->mig.remaining_pages = dirty;
        vm->mig.bandwidth_mibps = bw / 1048576.0;
        vm->mig.dirty_pages_rate = secs > 0 ? dirty / secs : 0;
        vm->mig.expected_downtime_ms = expected_ms;
        pthread_mutex_unlock(&vm->mig_lock);
        /* auto: pre-copy while it converges; post-copy when it does not
         * within AUTO_ROUNDS rounds. */
        if (a->mode == VM_MIG_AUTO && expected_ms > a->downtime_ms && round >= AUTO_ROUNDS) {
            mig_encoder_round(a->enc, bits);
            postcopy = true;
            break;
        }
        if (expected_ms <= a->downtime_ms || round >= MAX_ROUNDS) {
            /* Stop the guest; what it wrote since the harvest joins. */
            t_pause = vclock_host_now_ns();
            machine_quiesce(m);
            paused = true;
            (void)gmem_dirty_harvest(ram, bits);
            mig_encoder_round(a->enc, bits);
            break;
        }
        if (a->mode == VM_MIG_PRECOPY && dirty * 2 > last_sent && ++too_fast >= 2) {
            unsigned t = machine_throttle(m);
            t = t ? t + THROTTLE_STEP : THROTTLE_START;
            machine_set_throttle(m, t);
            pthread_mutex_lock(&vm->mig_lock);
            vm->mig.throttle_pct = machine_throttle(m);
            pthread_mutex_unlock(&vm->mig_lock);
            log_info("migration: round %u dirtied %llu pages of %llu sent; harts throttled "
                     "to %u%%", round, (unsigned long long)dirty,
                     (unsigned long long)last_sent, machine_throttle(m));
        }
        mig_encoder_round(a->enc, bits);
        tr = vclock_host_now_ns();
        bytes0 = bytes;
        if ((r = send_disks(a, fd, false, err)) ||
            (r = send_pages(a, fd, ram, bits, &sent, err)) ||
            (r = send_round_end(fd, round, sent, err)) ||
            (r = expect(fd, "round-ack", &buf, &cap, &s, err)))
            goto fail;
        last_sent = sent;
    }
    int64_t tdown = vclock_host_now_ns(), t_last = 0, t_dev = 0;
    if (!t_pause)
        t_pause = tdown;
    if (postcopy) {
        /* The guest stops here and starts there at once; the pages the
         * destination lacks follow on demand. From the postcopy frame on,
         * the guest's memory is split: no resuming here. */
        machine_quiesce(m);
        paused = true;
        a->down_ns = vclock_host_now_ns();
        memset(bits, 0, gmem_dirty_words(ram) * sizeof(uint64_t));
        (void)gmem_dirty_harvest(ram, bits);
        mig_encoder_round(a->enc, bits);
        /* The disks are whole there before the guest runs there. */
        if ((r = send_disks(a, fd, true, err)))
            goto fail;
        if ((r = machine_disks_inactivate(m, err)))
            goto fail;
        disks_handed = true;
        uint64_t *stale = mig_encoder_stale(a->enc);
        uint64_t missing = 0;
        for (size_t w = 0; w < gmem_dirty_words(ram); w++)
            missing += (uint64_t)__builtin_popcountll(stale[w]);
        state_out_free(&o);
        state_out_init(&o);
        state_begin(&o, "postcopy", 1, 0);
        state_put_u32(&o, (uint32_t)gmem_dirty_words(ram));
        for (size_t w = 0; w < gmem_dirty_words(ram); w++)
            state_put_u64(&o, stale[w]);
        /* Feature bit 4: what a recovery proves, and how long it may take. */
        state_put_bytes(&o, a->id, MIG_ID_LEN);
        state_put_u32(&o, a->recover_window_ms);
        state_end(&o);
        /* A recovery's map is checked against this one. */
        if (!(pc_map = malloc(gmem_dirty_words(ram) * sizeof(uint64_t)))) {
            snprintf(err, sizeof(err), "out of memory");
            goto fail;
        }
        memcpy(pc_map, stale, gmem_dirty_words(ram) * sizeof(uint64_t));
        state_begin(&o, "devices", 1, 0);
        machine_save_state(m, &o);
        state_end(&o);
        pthread_mutex_lock(&vm->mig_lock);
        vm->mig.remaining_pages = missing;
        pthread_mutex_unlock(&vm->mig_lock);
        bool running = false;
        split = true;
        r = mig_send(fd, &o, err);
        if (!r)
            r = serve_postcopy(a, fd, ram, stale, &buf, &cap, &running, err);
        /* A broken link (not a refusal, not garbage): both sides pause
         * and a recovery picks it up. */
        while (r && mig_is_break(r)) {
            if ((r = pause_for_recovery(a, &fd, ram, stale, pc_map, err)))
                break;
            running = true; /* only a destination that ran it pauses */
            r = serve_postcopy(a, fd, ram, stale, &buf, &cap, &running, err);
        }
        if (r == -ECONNREFUSED)
            split = false; /* the destination never ran the guest */
        if (r)
            goto fail;
        goto completed;
    }
    if ((r = send_disks(a, fd, true, err)) || (r = send_pages(a, fd, ram, bits, &sent, err)) ||
        (r = send_round_end(fd, UINT32_MAX, sent, err)))
        goto fail;
    t_last = vclock_host_now_ns();
    /* Disks on shared storage: the destination takes their locks once it
     * has the devices; from here the guest must not run here unless the
     * migration fails (then they are taken back). */
    if ((r = machine_disks_inactivate(m, err)))
        goto fail;
    disks_handed = true;
    state_out_free(&o);
    state_out_init(&o);
    state_begin(&o, "devices", 1, 0);
    machine_save_state(m, &o);
    state_end(&o);
    if ((r = mig_send(fd, &o, err)))
        goto fail;
    t_dev = vclock_host_now_ns();
    if ((r = expect(fd, "done", &buf, &cap, &s, err)))
        goto fail;
    pthread_mutex_lock(&vm->mig_lock);
    vm->mig.downtime_ms = ms_since(t_pause);
    pthread_mutex_unlock(&vm->mig_lock);
    log_info("migration downtime %.1f ms: pause %.1f, last %llu pages %.1f, devices %.1f, "
             "destination's start %.1f", ms_since(t_pause), (tdown - t_pause) / 1e6,
             (unsigned long long)sent, (t_last - tdown) / 1e6, (t_dev - t_last) / 1e6,
             ms_since(t_dev));
completed:
    pthread_mutex_lock(&vm->mig_lock);
    vm->mig.total_ms = ms_since(t0);
    vm->mig.remaining_pages = 0;
    snprintf(vm->mig.status, sizeof(vm->mig.status), "completed");
    pthread_mutex_unlock(&vm->mig_lock);
    log_info("migration to %s completed: %.1f ms, downtime %.1f ms", a->uri, vm->mig.total_ms,
             vm->mig.downtime_ms);
    /* The guest runs on the destination now: this process ends (status 0),
     * after a moment in which GET /migrate can still tell the client so. */
    usleep(400000);
    machine_request_stop(m, MACHINE_QUIT, 0);
    goto out;

fail:
    if (split) {
        /* The destination may have run the guest (and written its disks):
         * resuming here could run it twice. It stays paused; the user
         * decides (PATCH /vm Resumed is allowed). */
        pthread_mutex_lock(&vm->lock);
        vm->state = VM_PAUSED;
        pthread_mutex_unlock(&vm->lock);
        set_status(vm, "failed", err);
        log_error("post-copy migration to %s failed: %s; the VM stays paused here (its "
                  "memory was split between the two processes)", a->uri, err);
        goto out;
    }
    if (disks_handed) {
        char e2[VIRT_ERR_LEN];
        if (machine_disks_activate(m, 3000, e2)) {
            /* The destination holds them: it may be running the guest. */
            pthread_mutex_lock(&vm->lock);
            vm->state = VM_PAUSED;
            pthread_mutex_unlock(&vm->lock);
            set_status(vm, "failed", err);
            log_error("migration to %s failed after the disk hand-over (%s); taking the disks "
                      "back failed: %s; the VM stays paused here", a->uri, err, e2);
            goto out;
        }
    }
    if (paused)
        machine_resume(m);
    set_status(vm, atomic_load(&vm->mig_cancel) ? "cancelled" : "failed", err);
    log_warn("migration to %s failed: %s; the VM goes on here", a->uri, err);
out:
    machine_set_throttle(m, 0); /* whether the guest goes on here or not */
    if (a->migrate_disks)
        mig_disks_stop(m);
    if (fd >= 0)
        close(fd);
    state_out_free(&o);
    free(buf);
    free(bits);
    free(pc_map);
    pthread_mutex_lock(&vm->lock);
    vm->migrating = false;
    pthread_mutex_unlock(&vm->lock);
    mig_encoder_free(a->enc);
    free(a);
    return NULL;
}

void vm_mig_params_default(struct vm_mig_params *p)
{
    *p = (struct vm_mig_params){ .zero_pages = true, .dedup = true };
}

int vm_migrate_start(struct vm *vm, const struct vm_mig_params *p, char *err)
{
    int r = -EINVAL;
    const char *uri = p->uri;
    pthread_mutex_lock(&vm->lock);
    if (vm->migrating) {
        snprintf(err, VM_ERR_LEN, "migrate refused: a migration is already in progress");
        goto out;
    }
    if (vm->state != VM_RUNNING || !vm->m || atomic_load(&vm->m->stop) != MACHINE_RUNNING) {
        snprintf(err, VM_ERR_LEN, "migrate refused: only a Running VM migrates (state: %s)",
                 vm_state_name(vm->state));
        goto out;
    }
    if (!uri || !*uri || strlen(uri) >= 256) {
        snprintf(err, VM_ERR_LEN, "migrate: a destination uri is required (tcp:HOST:PORT, "
                 "unix:PATH)");
        goto out;
    }
    if (vm->mig_thread_live) {
        pthread_join(vm->mig_thread, NULL);
        vm->mig_thread_live = false;
    }
    struct mig_args *a = calloc(1, sizeof(*a));
    if (!a) {
        r = -ENOMEM;
        snprintf(err, VM_ERR_LEN, "out of memory");
        goto out;
    }
    a->vm = vm;
    snprintf(a->uri, sizeof(a->uri), "%s", uri);
    a->downtime_ms = p->downtime_limit_ms ? p->downtime_limit_ms : DEFAULT_DOWNTIME_MS;
    a->max_bandwidth_mibps = p->max_bandwidth_mibps;
    a->recover_window_ms = p->recover_window_s ? p->recover_window_s * 1000u
                                               : MIG_RECOVER_WINDOW_MS;
    a->mode = p->mode;
    a->migrate_disks = p->migrate_disks;
    a->pages = (struct mig_page_opts){
        .zero_pages = p->zero_pages, .zstd_level = p->zstd_level, .dedup = p->dedup,
        .delta_cache_mib = p->delta_cache_mib,
        .threads = p->compression_threads ? p->compression_threads : 1,
    };
    pthread_mutex_lock(&vm->mig_lock);
    memset(&vm->mig, 0, sizeof(vm->mig));
    snprintf(vm->mig.status, sizeof(vm->mig.status), "setup");
    snprintf(vm->mig.uri, sizeof(vm->mig.uri), "%s", uri);
    vm->mig.downtime_limit_ms = a->downtime_ms;
    vm->mig.max_bandwidth_mibps = p->max_bandwidth_mibps;
    vm->mig.recover_window_ms = a->recover_window_ms;
    vm->mig.migrate_disks = p->migrate_disks;
    snprintf(vm->mig.mode, sizeof(vm->mig.mode), "%s",
             p->mode == VM_MIG_POSTCOPY ? "postcopy" : p->mode == VM_MIG_AUTO ? "auto" : "precopy");
    vm->mig.zstd_level = p->zstd_level;
    vm->mig.compression_threads = a->pages.threads;
    vm->mig.dedup = p->dedup;
    vm->mig.delta_cache_mib = p->delta_cache_mib;
    vm->mig.start_ns = vclock_host_now_ns();
    pthread_mutex_unlock(&vm->mig_lock);
    atomic_store(&vm->mig_cancel, 0);
    vm->migrating = true;
    if ((r = pthread_create(&vm->mig_thread, NULL, source_thread, a))) {
        vm->migrating = false;
        free(a);
        snprintf(err, VM_ERR_LEN, "cannot start the migration thread");
        r = -r;
        goto out;
    }
    vm->mig_thread_live = true;
    r = 0;
out:
    pthread_mutex_unlock(&vm->lock);
    return r;
}

int vm_migrate_cancel(struct vm *vm, char *err)
{
    pthread_mutex_lock(&vm->lock);
    bool on = vm->migrating;
    struct mig_pc_dest *pc = vm->mig_pc;
    pthread_mutex_unlock(&vm->lock);
    /* A paused post-copy destination: it gives up (the VM stops). */
    if (!on && pc)
        return mig_pc_dest_cancel(pc, err);
    if (!on) {
        snprintf(err, VM_ERR_LEN, "no migration in progress");
        return -EINVAL;
    }
    pthread_mutex_lock(&vm->mig_lock);
    bool running_there = !strcmp(vm->mig.status, "postcopy-active");
    pthread_mutex_unlock(&vm->mig_lock);
    if (running_there) {
        snprintf(err, VM_ERR_LEN, "migrate cancel refused: in post-copy the guest runs on the "
                 "destination; it finishes, or pauses if its link breaks (then cancel)");
        return -EINVAL;
    }
    atomic_store(&vm->mig_cancel, 1);
    return 0;
}

int vm_migrate_recover(struct vm *vm, const char *uri, char *err)
{
    char e2[MIG_ERR_LEN];
    pthread_mutex_lock(&vm->lock);
    struct mig_pc_dest *pc = vm->mig_pc;
    bool on = vm->migrating;
    pthread_mutex_unlock(&vm->lock);
    if (uri && mig_uri_check(uri, e2)) {
        snprintf(err, VM_ERR_LEN, "migrate recover: %.400s", e2);
        return -EINVAL;
    }
    if (!uri || strlen(uri) >= sizeof(vm->mig.recover_uri)) {
        snprintf(err, VM_ERR_LEN, "migrate recover: 'uri' is required (tcp:HOST:PORT, "
                 "unix:PATH, fd:N)");
        return -EINVAL;
    }
    if (pc)
        return mig_pc_dest_recover(pc, uri, err); /* the destination: listens now */
    int r = -EINVAL;
    pthread_mutex_lock(&vm->mig_lock);
    if (!on || strcmp(vm->mig.status, "postcopy-paused")) {
        if (!strcmp(vm->mig.status, "postcopy-recover"))
            snprintf(err, VM_ERR_LEN, "migrate recover refused: a recovery via %s is already "
                     "under way", vm->mig.recover_uri);
        else
            snprintf(err, VM_ERR_LEN, "migrate recover refused: no post-copy migration is "
                     "paused here (status: %s)", vm->mig.status[0] ? vm->mig.status : "none");
    } else {
        /* The migration thread connects (no API thread waits on the network). */
        snprintf(vm->mig.recover_uri, sizeof(vm->mig.recover_uri), "%s", uri);
        vm->mig.recover_asked = true;
        snprintf(vm->mig.status, sizeof(vm->mig.status), "postcopy-recover");
        r = 0;
    }
    pthread_mutex_unlock(&vm->mig_lock);
    return r;
}

json_t *vm_migrate_json(struct vm *vm)
{
    pthread_mutex_lock(&vm->mig_lock);
    const struct vm_mig_stats *s = &vm->mig;
    double elapsed = s->start_ns ? ms_since(s->start_ns) : 0;
    double ratio = s->page_wire_bytes ? (double)s->page_bytes / s->page_wire_bytes : 1.0;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f,"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f},"
        " s:{s:I, s:I, s:b, s:I}}",
        "status", s->status, "error", s->error, "uri", s->uri, "mode", s->mode,
        "incoming", s->incoming,
        "postcopy_requests", (json_int_t)s->postcopy_requests,
        "postcopy_recoveries", (json_int_t)s->recoveries,
        "cpu_throttle_percentage", (json_int_t)s->throttle_pct,
        "migrate_disks", s->migrate_disks,
        "downtime_limit_ms", (json_int_t)s->downtime_limit_ms,
        "max_bandwidth_mibps", (json_int_t)s->max_bandwidth_mibps,
        "postcopy_recover_window_s", (json_int_t)(s->recover_window_ms / 1000),
        "setup_time_ms", s->setup_ms,
        "total_time_ms", s->total_ms ? s->total_ms : elapsed,
        "expected_downtime_ms", s->expected_downtime_ms, "downtime_ms", s->downtime_ms,
        "bandwidth_mibps", s->bandwidth_mibps,
        "ram",
        "transferred_bytes", (json_int_t)s->bytes,
        "remaining_pages", (json_int_t)s->remaining_pages,
        "normal_pages", (json_int_t)s->pages_normal,
        "zero_pages", (json_int_t)s->pages_zero,
        "compressed_pages", (json_int_t)s->pages_compressed,
        "dedup_pages", (json_int_t)s->pages_dedup,
        "delta_pages", (json_int_t)s->pages_delta,
        "iterations", (json_int_t)s->rounds,
        "dirty_pages_rate", s->dirty_pages_rate,
        "compression_ratio", ratio,
        "settings",
        "zstd_level", (json_int_t)s->zstd_level,
        "compression_threads", (json_int_t)s->compression_threads, "dedup", s->dedup,
        "delta_cache_mib", (json_int_t)s->delta_cache_mib);
    if (j && s->migrate_disks)
        json_object_set_new(j, "disk", json_pack("{s:I, s:I}", "transferred_bytes",
                                                 (json_int_t)s->disk_bytes, "chunks",
                                                 (json_int_t)s->disk_chunks));
    pthread_mutex_unlock(&vm->mig_lock);
    return j;
}

/* ---- destination ---- */

static int load_pages(struct gmem *ram, uint64_t features, struct state_in *in)
{
    uint32_t n = state_get_u32(in);
    if (n > PAGES_PER_FRAME * 4)
        return state_in_fail(in, "%u pages in one frame", n);
    for (uint32_t i = 0; i < n; i++)
        if (mig_decode_page(ram, features, in))
            return -EINVAL;
    return state_in_finish(in);
}

/* Post-copy broke (the source is gone): the guest's memory is split and
 * it cannot go on here. */
static void postcopy_failed(void *opaque, const char *why)
{
    struct machine *m = opaque;
    log_error("post-copy failed: %s; the guest cannot continue here", why);
    machine_request_stop(m, MACHINE_FAIL, 1);
}

/* The post-copy receiver's state for GET /migrate on this side. */
static void postcopy_status(void *opaque, const char *status, const char *why)
{
    set_status(opaque, status, why ? why : "");
}

/* One incoming migration on a connected fd (closed here). */
static int incoming_stream(struct vm *vm, int fd, const char *uri, char *err)
{
    int r;
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct state_section s;
    struct machine_saved_config sc;
    struct machine *m = NULL;
    char why[MIG_ERR_LEN] = "";
    struct mig_pc_dest *pc = NULL;
    memset(&sc, 0, sizeof(sc));
    if ((r = mig_recv(fd, &buf, &cap, &s, err)))
        goto out;
    if (strcmp(s.id, "hello") || state_get_u64(&s.body) != MIG_MAGIC) {
        snprintf(err, VM_ERR_LEN, "--incoming %s: not a Corral migration stream", uri);
        r = -EPROTO;
        goto out;
    }
    uint32_t version = state_get_u32(&s.body);
    uint64_t features = state_get_u64(&s.body);
    pthread_mutex_lock(&vm->mig_lock);
    vm->mig.incoming = true;
    snprintf(vm->mig.status, sizeof(vm->mig.status), "active");
    snprintf(vm->mig.uri, sizeof(vm->mig.uri), "%s", uri);
    pthread_mutex_unlock(&vm->mig_lock);
    if (version != MIG_VERSION || (features & ~MIG_F_KNOWN)) {
        snprintf(why, sizeof(why), "protocol version %u (features 0x%llx); this Corral speaks "
                 "version %u with features 0x%llx", version, (unsigned long long)features,
                 MIG_VERSION, (unsigned long long)MIG_F_KNOWN);
        goto refuse;
    }
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "hello-ack", 1, 0);
    state_put_u32(&o, MIG_VERSION);
    state_put_u64(&o, features);
    state_end(&o);
    r = mig_send(fd, &o, err);
    state_out_free(&o);
    if (r || (r = mig_recv(fd, &buf, &cap, &s, err)))
        goto out;
    /* The config frame is the "machine" section itself. */
    struct state_in cin;
    char cerr[VM_ERR_LEN];
    state_in_init(&cin, buf, (size_t)(s.body.p - buf) + s.body.len + 8, "migration stream",
                  cerr, sizeof(cerr));
    if (strcmp(s.id, "machine") || machine_config_load(&cin, &sc)) {
        snprintf(why, sizeof(why), "bad configuration: %.400s", cerr);
        goto refuse;
    }
    if (features & MIG_F_DISKS) {
        /* Storage migration: the disks are created here, in the source's
         * formats, before the machine opens them. */
        if ((r = mig_recv(fd, &buf, &cap, &s, err)))
            goto out;
        if (strcmp(s.id, "disk-formats") ||
            mig_disks_get_formats(&s.body, vm->create_formats, &vm->ncreate_formats)) {
            snprintf(why, sizeof(why), "bad disk formats: %.400s", err);
            goto refuse;
        }
        vm->create_disks = true;
    } else {
        /* The source may be using the same files (shared storage): take
         * their locks only when it has let go of them. */
        vm->disks_inactive = true;
    }
    pthread_mutex_lock(&vm->lock);
    r = vm->state == VM_NOT_STARTED && !vm->m ? vm_restore_build_locked(vm, &sc, &m, why)
                                              : -EINVAL;
    pthread_mutex_unlock(&vm->lock);
    if (r) {
        if (!why[0])
            snprintf(why, sizeof(why), "this VM is already configured");
        goto refuse;
    }
    if ((r = mig_send_simple(fd, "config-ok", NULL, err)))
        goto out;
    struct gmem *ram = &m->bus.ram;
    for (;;) {
        if ((r = mig_recv(fd, &buf, &cap, &s, err)))
            goto out;
        if (!strcmp(s.id, "postcopy") && !pc) {
            /* The pages still on the source; the devices frame follows,
             * then pages on demand (the receiver thread from then on). */
            uint32_t words = state_get_u32(&s.body);
            if (state_in_status(&s.body) || words != gmem_dirty_words(ram)) {
                snprintf(why, sizeof(why), "post-copy: a page map of %u words for %zu", words,
                         gmem_dirty_words(ram));
                goto refuse;
            }
            uint64_t *missing = calloc(words, sizeof(uint64_t));
            if (!missing) {
                snprintf(why, sizeof(why), "out of memory");
                goto refuse;
            }
            for (uint32_t w = 0; w < words; w++)
                missing[w] = state_get_u64(&s.body);
            /* Feature bit 4: a broken link pauses, a recovery proves this id. */
            uint8_t id[MIG_ID_LEN];
            uint32_t window = 0;
            if (features & MIG_F_RECOVER) {
                state_get_bytes(&s.body, id, sizeof(id));
                window = state_get_u32(&s.body);
                if (!state_in_status(&s.body) && window > MIG_RECOVER_WINDOW_MAX_MS)
                    (void)state_in_fail(&s.body, "a recovery window of %u ms", window);
                pthread_mutex_lock(&vm->mig_lock);
                vm->mig.recover_window_ms = window;
                pthread_mutex_unlock(&vm->mig_lock);
            }
            struct mig_pc_dest_cfg pcc = {
                .ram = ram, .fd = fd, .missing = missing,
                .id = (features & MIG_F_RECOVER) ? id : NULL, .window_ms = window,
                .fail = postcopy_failed, .opaque = m,
                .status = postcopy_status, .status_opaque = vm,
            };
            if (state_in_finish(&s.body) || mig_pc_dest_start(&pc, &pcc, why, sizeof(why))) {
                free(missing);
                if (!why[0])
                    snprintf(why, sizeof(why), "%.400s", err);
                goto refuse;
            }
            free(missing);
            continue;
        }
        if (!strcmp(s.id, "vm-name")) {
            char name[VM_ID_LEN];
            state_get_str(&s.body, name, sizeof(name), NULL);
            if (state_in_finish(&s.body) || !vm_registry_valid_name(name)) {
                snprintf(why, sizeof(why), "a bad VM name in the stream");
                goto refuse;
            }
            snprintf(vm->migrated_name, sizeof(vm->migrated_name), "%s", name);
            continue;
        }
        if (!strcmp(s.id, "disk-chunks") && (features & MIG_F_DISKS) && !pc) {
            if (mig_disks_receive(m, &s.body)) {
                snprintf(why, sizeof(why), "%.400s", err);
                goto refuse;
            }
            continue;
        }
        if (!strcmp(s.id, "pages") && !pc) {
            if (load_pages(ram, features, &s.body)) {
                snprintf(why, sizeof(why), "%.400s", err);
                goto refuse;
            }
        } else if (!strcmp(s.id, "round-end")) {
            /* Acknowledged once its pages are in: the source measures the
             * rate end to end (a backlog in the socket buffers would
             * otherwise land in the downtime). Not the last one. */
            uint32_t round = state_get_u32(&s.body);
            if (round != UINT32_MAX && !pc && (r = mig_send_simple(fd, "round-ack", NULL, err)))
                goto out;
            continue;
        } else if (!strcmp(s.id, "devices")) {
            break;
        } else {
            snprintf(why, sizeof(why), "unexpected frame '%s'", s.id);
            goto refuse;
        }
    }
    if (machine_disks_activate(m, 3000, why)) {
        snprintf(err, VM_ERR_LEN, "%.400s", why);
        snprintf(why, sizeof(why), "disk hand-over: %.400s", err);
        goto refuse;
    }
    /* Post-copy: pages arrive on their own thread from here on, so the
     * loads below (and the guest) may touch RAM that is still missing. */
    if (pc && mig_pc_dest_run(pc, why, sizeof(why)))
        goto refuse;
    if (machine_load_state(m, &s.body)) {
        snprintf(why, sizeof(why), "device state: %.400s", err);
        goto refuse;
    }
    pthread_mutex_lock(&vm->lock);
    r = vm_restore_finish_locked(vm, m, false, why);
    pthread_mutex_unlock(&vm->lock);
    if (r)
        goto refuse; /* not attached to the VM: destroyed below */
    m = NULL; /* vm->m now */
    /* Done before running: the source stops only once we hold the guest,
     * and we run only once it knows. */
    if ((r = pc ? mig_pc_dest_send_simple(pc, "done", NULL, err)
                : mig_send_simple(fd, "done", NULL, err))) {
        snprintf(err, VM_ERR_LEN, "--incoming %s: the source went away at the switch-over",
                 uri);
        goto out;
    }
    if (pc) {
        /* The receiver owns the socket until post-copy ends. */
        set_status(vm, "postcopy-active", NULL);
        vm->mig_pc = pc;
        pc = NULL;
        fd = -1;
        log_info("post-copy: the guest runs here; its missing pages follow from the source");
    } else {
        set_status(vm, "completed", NULL);
    }
    pthread_mutex_lock(&vm->lock);
    if (!vm->cfg.test_elf && vm->con.raw)
        vm->con.raw();
    machine_resume(vm->m);
    vm->state = VM_RUNNING;
    /* The guest's MAC is behind this host's port now: tell the switches
     * (RARP from the NIC, and the guest's own gratuitous ARP). */
    machine_announce(vm->m);
    pthread_mutex_unlock(&vm->lock);
    r = 0;
    goto out;

refuse:
    if (!why[0])
        snprintf(why, sizeof(why), "%s", err);
    if (pc ? mig_pc_dest_send_simple(pc, "refuse", why, err)
           : mig_send_simple(fd, "refuse", why, err)) {
        /* the source is gone already: nothing to tell */
    }
    snprintf(err, VM_ERR_LEN, "--incoming %.160s: %.320s", uri, why);
    r = -EINVAL;
out:
    if (pc)
        fd = -1; /* post-copy's link from its start on: closed with it */
    mig_pc_dest_finish(pc, true, NULL);
    if (m)
        machine_destroy(m);
    if (r && !vm->m)
        vm_remove_created_disks(vm); /* the guest never ran on them here */
    if (fd >= 0)
        close(fd);
    free(buf);
    machine_saved_config_free(&sc);
    return r;
}

int vm_migrate_incoming(struct vm *vm, const char *uri, volatile sig_atomic_t *stop, char *err)
{
    int fd;
    if (mig_accept(uri, &fd, stop, err))
        return -EINVAL;
    return incoming_stream(vm, fd, uri, err);
}

/* ---- PUT /migrate/incoming: the same on a thread of an API-only
 * process (its main loop already runs and takes up the VM when it
 * appears) ---- */

struct incoming_args {
    struct vm *vm;
    int ls;
    bool connected;
    char uri[256];
};

static void *incoming_thread(void *arg)
{
    struct incoming_args *a = arg;
    struct vm *vm = a->vm;
    char err[VM_ERR_LEN] = "";
    int fd = a->ls, r = 0;
    if (!a->connected)
        r = mig_accept_on(a->ls, a->uri, &fd, &vm->incoming_stop, err);
    if (!r) {
        set_status(vm, "active", NULL);
        r = incoming_stream(vm, fd, a->uri, err);
    }
    if (r) {
        set_status(vm, "failed", err);
        log_warn("incoming migration on %s: %s", a->uri, err);
    } else {
        /* incoming_stream said completed, or postcopy-active. */
        uint64_t one = 1;
        if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
            /* the main loop looks again within 100 ms anyway */
        }
    }
    free(a);
    return NULL;
}

int vm_migrate_incoming_start(struct vm *vm, const char *uri, char *err)
{
    int r = -EINVAL;
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_NOT_STARTED || vm->m || vm->incoming_live) {
        snprintf(err, VM_ERR_LEN, "migrate incoming refused: only a fresh VM can receive one "
                 "(state: %s%s)", vm_state_name(vm->state),
                 vm->incoming_live ? ", already waiting" : "");
        goto out;
    }
    if (vm->cfg.kernel || vm->cfg.test_elf || vm->cfg.ndrives || vm->cfg.nnets) {
        snprintf(err, VM_ERR_LEN, "migrate incoming refused: it must come before any "
                 "configuration (the source's configuration is what runs here)");
        goto out;
    }
    if (!uri || !*uri || strlen(uri) >= 256) {
        snprintf(err, VM_ERR_LEN, "migrate incoming: 'uri' is required (tcp:HOST:PORT, "
                 "unix:PATH, fd:N)");
        goto out;
    }
    struct incoming_args *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, VM_ERR_LEN, "out of memory");
        goto out;
    }
    a->vm = vm;
    snprintf(a->uri, sizeof(a->uri), "%s", uri);
    /* Listening here, so a busy port or a bad URI is this request's error. */
    if (mig_listen(uri, &a->ls, &a->connected, err)) {
        free(a);
        goto out;
    }
    pthread_mutex_lock(&vm->mig_lock);
    memset(&vm->mig, 0, sizeof(vm->mig));
    snprintf(vm->mig.status, sizeof(vm->mig.status), "listening");
    snprintf(vm->mig.uri, sizeof(vm->mig.uri), "%s", uri);
    vm->mig.start_ns = vclock_host_now_ns();
    pthread_mutex_unlock(&vm->mig_lock);
    vm->incoming_stop = 0;
    if (pthread_create(&vm->incoming_thread, NULL, incoming_thread, a)) {
        close(a->ls);
        free(a);
        snprintf(err, VM_ERR_LEN, "cannot start the incoming migration thread");
        goto out;
    }
    vm->incoming_live = true;
    r = 0;
out:
    pthread_mutex_unlock(&vm->lock);
    return r;
}

void vm_migrate_incoming_end(struct vm *vm)
{
    if (vm->incoming_live) {
        vm->incoming_stop = 1;
        pthread_join(vm->incoming_thread, NULL);
        vm->incoming_live = false;
    }
    struct mig_pc_dest *pc = vm->mig_pc;
    vm->mig_pc = NULL;
    if (!pc)
        return;
    uint64_t faults = 0;
    bool done = mig_pc_dest_done(pc);
    mig_pc_dest_finish(pc, true, &faults);
    log_info("post-copy %s; %llu page faults were served from the source",
             done ? "completed" : "ended early", (unsigned long long)faults);
}
