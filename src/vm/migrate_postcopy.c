/* Post-copy on the destination (migrate_postcopy.h). */
#include "vm/migrate_postcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "state/state.h"
#include "vm/migrate_stream.h"

/* The receiver's recovery state, under ctl_lock. */
enum pc_state { PC_ACTIVE, PC_PAUSED, PC_LISTENING };

struct mig_pc_dest {
    struct gmem *ram;
    /* The link: written under send_lock (frames, and a recovery's swap),
     * read by the receiver. */
    _Atomic int fd;
    int uffd, stop_fd;
    pthread_mutex_t send_lock;
    pthread_t fault_thread, recv_thread, confirm_thread;
    bool fault_live, recv_live, confirm_live;
    _Atomic bool done, failed, stopping, ran;
    _Atomic uint64_t faults;
    size_t words;
    uint64_t *missing;   /* the receiver's: pages not placed yet */
    uint64_t *requested; /* under send_lock: pages someone faulted on */
    bool recoverable;
    uint8_t id[MIG_ID_LEN];
    uint32_t window_ms;
    pthread_mutex_t ctl_lock;
    enum pc_state state;
    int listen_fd, cand_fd; /* a recovery's listener, the peer being checked */
    bool listen_connected;  /* fd:N: listen_fd is the connection itself */
    char listen_uri[256];
    bool cancel;
    int wake_fd; /* eventfd: the paused receiver looks at the state again */
    mig_pc_fail_fn fail;
    void *opaque;
    mig_pc_status_fn status;
    void *status_opaque;
};

static void set_status(struct mig_pc_dest *d, const char *status, const char *why)
{
    if (d->status)
        d->status(d->status_opaque, status, why);
}

static void wake(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) < 0) {
        /* an eventfd write cannot fail here */
    }
}

/* The page is remembered first: if the link is down, a recovery asks
 * for it again (pc-resume-ack). */
static int send_req(struct mig_pc_dest *d, uint64_t page, char *err)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "pc-req", 1, 0);
    state_put_u64(&o, page);
    state_end(&o);
    pthread_mutex_lock(&d->send_lock);
    d->requested[page >> 6] |= 1ULL << (page & 63);
    int r = mig_send(atomic_load(&d->fd), &o, err);
    pthread_mutex_unlock(&d->send_lock);
    state_out_free(&o);
    return r;
}

int mig_pc_dest_send_simple(struct mig_pc_dest *d, const char *id, const char *reason,
                            char *err)
{
    pthread_mutex_lock(&d->send_lock);
    int r = mig_send_simple(atomic_load(&d->fd), id, reason, err);
    /* From "done" on the guest runs here: a break pauses, not fails. */
    if (!r && !strcmp(id, "done"))
        atomic_store(&d->ran, true);
    pthread_mutex_unlock(&d->send_lock);
    return r;
}

/* Each missing-page fault becomes a request; the page's arrival wakes
 * the faulting thread (UFFDIO_COPY wakes by default). */
static void *fault_main(void *arg)
{
    struct mig_pc_dest *d = arg;
    char err[MIG_ERR_LEN];
    int warned_fd = -1;
    for (;;) {
        struct pollfd p[2] = { { .fd = d->uffd, .events = POLLIN },
                               { .fd = d->stop_fd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        struct uffd_msg msg[16];
        ssize_t n = read(d->uffd, msg, sizeof(msg));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            break;
        }
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
            if (msg[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            uint64_t off = msg[i].arg.pagefault.address - (uint64_t)(uintptr_t)d->ram->host;
            if (off >= d->ram->size)
                continue;
            atomic_fetch_add(&d->faults, 1);
            /* A broken link: the receiver sees it too (and pauses or
             * fails); the page is remembered for a recovery. */
            int fd = atomic_load(&d->fd);
            if (send_req(d, off >> GMEM_PAGE_SHIFT, err) && fd != warned_fd) {
                log_warn("post-copy: cannot ask the source for a page: %s", err);
                warned_fd = fd;
            }
        }
    }
    return NULL;
}

/* Place one page; a page already there (EEXIST: it arrived twice, asked
 * for and pushed) is fine. */
static int place(struct mig_pc_dest *d, uint64_t p, const uint8_t *bytes)
{
    uint64_t dst = (uint64_t)(uintptr_t)(d->ram->host + (p << GMEM_PAGE_SHIFT));
    for (;;) {
        int r;
        if (bytes) {
            struct uffdio_copy c = { .dst = dst, .src = (uint64_t)(uintptr_t)bytes,
                                     .len = GMEM_PAGE_SIZE };
            r = ioctl(d->uffd, UFFDIO_COPY, &c);
        } else {
            struct uffdio_zeropage z = { .range = { .start = dst, .len = GMEM_PAGE_SIZE } };
            r = ioctl(d->uffd, UFFDIO_ZEROPAGE, &z);
        }
        if (r == 0 || errno == EEXIST)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
    }
}

/* "pc-pages": u32 n, n x {u64 page, u8 kind (0 zero, 1 raw), [4096]}. */
static int receive_pages(struct mig_pc_dest *d, struct state_in *in)
{
    static uint8_t page[GMEM_PAGE_SIZE] __attribute__((aligned(4096)));
    uint32_t n = state_get_u32(in);
    if (n > 4096)
        return state_in_fail(in, "%u pages in one frame", n);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t p = state_get_u64(in);
        uint8_t kind = state_get_u8(in);
        if (state_in_status(in))
            return -EINVAL;
        if (p >= gmem_npages(d->ram) || kind > 1)
            return state_in_fail(in, "page %llu kind %u", (unsigned long long)p, kind);
        if (kind)
            state_get_bytes(in, page, sizeof(page));
        if (state_in_status(in))
            return -EINVAL;
        int r = place(d, p, kind ? page : NULL);
        if (r)
            return state_in_fail(in, "page %llu: cannot place it: %s", (unsigned long long)p,
                                 strerror(-r));
        d->missing[p >> 6] &= ~(1ULL << (p & 63));
    }
    return state_in_finish(in);
}

/* Frames until post-copy is complete (0), a frame is bad (-EPROTO) or
 * the link breaks (mig_is_break). */
static int receive(struct mig_pc_dest *d, uint8_t **buf, size_t *cap, char *err)
{
    struct state_section s;
    for (;;) {
        int r = mig_recv(atomic_load(&d->fd), buf, cap, &s, err);
        if (r)
            return r;
        if (!strcmp(s.id, "pc-pages")) {
            if (receive_pages(d, &s.body))
                return -EPROTO;
        } else if (!strcmp(s.id, "pc-end")) {
            /* Every page is here: RAM is ordinary memory again. */
            struct uffdio_range ur = { .start = (uint64_t)(uintptr_t)d->ram->host,
                                       .len = d->ram->size };
            if (ioctl(d->uffd, UFFDIO_UNREGISTER, &ur)) {
                snprintf(err, MIG_ERR_LEN, "cannot unregister RAM: %s", strerror(errno));
                return -EPROTO;
            }
            atomic_store(&d->done, true);
            set_status(d, "completed", NULL);
            if (mig_pc_dest_send_simple(d, "pc-complete", NULL, err))
                log_warn("post-copy: complete, but the source did not hear it: %s", err);
            return 0;
        } else {
            snprintf(err, MIG_ERR_LEN, "unexpected frame '%.31s' in post-copy", s.id);
            return -EPROTO;
        }
    }
}

/* A peer on the recovery URI: our source (0, the link is c now) or not
 * (refused; err says why). */
static int handshake(struct mig_pc_dest *d, int c, char *err)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct state_section s;
    char why[MIG_ERR_LEN];
    pthread_mutex_lock(&d->ctl_lock);
    d->cand_fd = c; /* a cancel or a stop shuts it: no wait on a silent peer */
    pthread_mutex_unlock(&d->ctl_lock);
    int r = mig_recv(c, &buf, &cap, &s, err);
    if (!r && mig_resume_check(&s, d->id, why, sizeof(why))) {
        if (mig_send_simple(c, "refuse", why, err)) {
            /* it learns from the closed connection */
        }
        snprintf(err, MIG_ERR_LEN, "%s", why);
        r = -EINVAL;
    }
    if (!r) {
        /* What is still missing, and what someone waits for: those first. */
        struct state_out o;
        state_out_init(&o);
        pthread_mutex_lock(&d->send_lock);
        mig_resume_ack_put(&o, d->id, d->missing, d->requested, d->words);
        r = mig_send(c, &o, err);
        if (!r) {
            int old = atomic_exchange(&d->fd, c);
            close(old);
        }
        pthread_mutex_unlock(&d->send_lock);
        state_out_free(&o);
    }
    pthread_mutex_lock(&d->ctl_lock);
    d->cand_fd = -1;
    pthread_mutex_unlock(&d->ctl_lock);
    free(buf);
    return r;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A peer on the recovery listener ls, waiting at most a second (and not
 * past `left` ms): its connection, or -1 (none yet, or a wake-up: the
 * caller looks at its state again). */
static int accept_peer(struct mig_pc_dest *d, int ls, int64_t left)
{
    struct pollfd p[2] = { { .fd = d->wake_fd, .events = POLLIN }, { .fd = ls, .events = POLLIN } };
    if (poll(p, 2, left < 1000 ? (int)left : 1000) <= 0)
        return -1;
    if (p[0].revents) {
        uint64_t v;
        if (read(d->wake_fd, &v, sizeof(v)) < 0) {
            /* nothing to drain */
        }
    }
    int c;
    if (ls < 0 || !(p[1].revents & POLLIN) || (c = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) < 0)
        return -1;
    mig_tune(c);
    return c;
}

/* The link broke (err: how): wait for a recovery (0: the new link is
 * in place), or give up at the window's end, a cancel or a stop (err:
 * why). Whoever faults meanwhile waits in the fault. */
static int pause_for_recovery(struct mig_pc_dest *d, char *err)
{
    char why[MIG_ERR_LEN];
    snprintf(why, sizeof(why), "%s", err);
    /* The fault thread's requests on the old link fail at once now; the
     * socket itself is closed when a new one replaces it. */
    shutdown(atomic_load(&d->fd), SHUT_RDWR);
    pthread_mutex_lock(&d->ctl_lock);
    d->state = PC_PAUSED;
    set_status(d, "postcopy-paused", why);
    pthread_mutex_unlock(&d->ctl_lock);
    log_warn("post-copy paused: %s; the guest waits for its missing pages (PUT /migrate/recover "
             "within %g s)", why, d->window_ms / 1000.0);
    int64_t deadline = now_ms() + d->window_ms;
    for (;;) {
        pthread_mutex_lock(&d->ctl_lock);
        bool cancel = d->cancel, connected = d->listen_connected;
        int ls = d->listen_fd;
        char uri[256];
        snprintf(uri, sizeof(uri), "%s", d->listen_uri);
        if (ls >= 0 && connected)
            d->listen_fd = -1; /* fd:N is the one connection: ours now */
        pthread_mutex_unlock(&d->ctl_lock);
        int64_t left = deadline - now_ms();
        if ((atomic_load(&d->stopping) || cancel || left <= 0) && ls >= 0 && connected)
            close(ls);
        if (atomic_load(&d->stopping) || cancel) {
            snprintf(err, MIG_ERR_LEN, "%s while post-copy was paused (%.400s)",
                     cancel ? "cancelled" : "stopped", why);
            return -ECANCELED;
        }
        if (left <= 0) {
            snprintf(err, MIG_ERR_LEN, "no recovery within %g s of the break (%.400s)",
                     d->window_ms / 1000.0, why);
            return -ETIMEDOUT;
        }
        int c = ls >= 0 && connected ? ls : accept_peer(d, ls, left);
        if (c < 0)
            continue;
        char e2[MIG_ERR_LEN];
        if (!handshake(d, c, e2)) {
            pthread_mutex_lock(&d->ctl_lock);
            if (d->listen_fd >= 0)
                close(d->listen_fd);
            d->listen_fd = -1;
            d->state = PC_ACTIVE;
            set_status(d, "postcopy-active", NULL);
            pthread_mutex_unlock(&d->ctl_lock);
            log_info("post-copy recovered on %s: the source sends the missing pages again", uri);
            return 0;
        }
        close(c);
        log_warn("post-copy recovery on %s: %s", uri, e2);
        char msg[MIG_ERR_LEN];
        snprintf(msg, sizeof(msg), "recovery on %.200s: %.280s", uri, e2);
        pthread_mutex_lock(&d->ctl_lock);
        if (connected)
            d->state = PC_PAUSED; /* fd:N is spent: another PUT /migrate/recover may follow */
        set_status(d, connected ? "postcopy-paused" : "postcopy-recover", msg);
        pthread_mutex_unlock(&d->ctl_lock);
    }
}

static void *recv_main(void *arg)
{
    struct mig_pc_dest *d = arg;
    char err[MIG_ERR_LEN] = "";
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (;;) {
        int r = receive(d, &buf, &cap, err);
        if (!r) {
            free(buf);
            return NULL;
        }
        /* A link that breaks while the guest runs here pauses (with a
         * recovery id); garbage, a refusal or a stop end it. */
        if (!d->recoverable || !atomic_load(&d->ran) || atomic_load(&d->stopping) ||
            !mig_is_break(r) || pause_for_recovery(d, err))
            break;
    }
    free(buf);
    atomic_store(&d->failed, true);
    /* Harts waiting for pages that will never come are let go (their
     * pages read as zeros) so the VM can be stopped; it does not go on. */
    struct uffdio_range r = { .start = (uint64_t)(uintptr_t)d->ram->host, .len = d->ram->size };
    (void)ioctl(d->uffd, UFFDIO_UNREGISTER, &r);
    set_status(d, "failed", err);
    d->fail(d->opaque, err);
    return NULL;
}

/* Only pc-complete was lost: the guest runs here whole, the source
 * (paused) cannot know. A recovery after completion tells it: the ack
 * names no missing page, and its pc-end gets the pc-complete it missed.
 * Listens until then, the window's end, a cancel or a stop. */
static void *confirm_main(void *arg)
{
    struct mig_pc_dest *d = arg;
    char err[MIG_ERR_LEN] = "";
    uint8_t *buf = NULL;
    size_t cap = 0;
    int64_t deadline = now_ms() + d->window_ms;
    bool confirmed = false;
    for (;;) {
        pthread_mutex_lock(&d->ctl_lock);
        bool cancel = d->cancel, connected = d->listen_connected;
        int ls = d->listen_fd;
        pthread_mutex_unlock(&d->ctl_lock);
        int64_t left = deadline - now_ms();
        if (atomic_load(&d->stopping) || cancel || left <= 0 || ls < 0) {
            snprintf(err, sizeof(err), "%s", cancel ? "cancelled" : left <= 0
                     ? "the window ended" : "stopped");
            break;
        }
        int c = connected ? ls : accept_peer(d, ls, left);
        if (connected) {
            pthread_mutex_lock(&d->ctl_lock);
            d->listen_fd = -1; /* fd:N is the one connection: ours now */
            pthread_mutex_unlock(&d->ctl_lock);
        }
        if (c < 0)
            continue;
        struct state_section s;
        struct pollfd pf = { .fd = c, .events = POLLIN };
        int r = handshake(d, c, err);
        if (r) {
            close(c);
        } else if (poll(&pf, 1, MIG_TIMEOUT_MS) <= 0 ||
                   mig_recv(atomic_load(&d->fd), &buf, &cap, &s, err)) {
            snprintf(err, sizeof(err), "the source sent no pc-end");
        } else if (strcmp(s.id, "pc-end")) {
            snprintf(err, sizeof(err), "unexpected frame '%.31s' after completion", s.id);
        } else if (!mig_pc_dest_send_simple(d, "pc-complete", NULL, err)) {
            confirmed = true;
        }
        if (confirmed || connected)
            break;
        log_warn("post-copy: confirming completion on %s: %s", d->listen_uri, err);
    }
    free(buf);
    pthread_mutex_lock(&d->ctl_lock);
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    d->listen_fd = -1;
    d->state = PC_PAUSED; /* done: another recover may follow if this one failed */
    pthread_mutex_unlock(&d->ctl_lock);
    if (confirmed)
        log_info("post-copy: told the source over %s that it completed here", d->listen_uri);
    else
        log_warn("post-copy: the source was not told of the completion on %s: %s",
                 d->listen_uri, err);
    set_status(d, "completed", confirmed ? NULL : err);
    return NULL;
}

int mig_pc_dest_recover(struct mig_pc_dest *d, const char *uri, char *err)
{
    int r = -EINVAL;
    pthread_mutex_lock(&d->ctl_lock);
    /* Completed here: a recovery only tells the source so (its
     * pc-complete may be what the break lost). */
    bool done = atomic_load(&d->done) && d->recoverable;
    if (done && d->confirm_live && d->state != PC_LISTENING) {
        pthread_join(d->confirm_thread, NULL); /* it ended: the state says so */
        d->confirm_live = false;
    }
    if (!done && (d->state == PC_ACTIVE || atomic_load(&d->failed) || atomic_load(&d->done))) {
        snprintf(err, MIG_ERR_LEN, "migrate recover refused: post-copy is not paused here "
                 "(%s)", atomic_load(&d->done) ? "it completed" : atomic_load(&d->failed)
                 ? "it failed" : "it runs");
        goto out;
    }
    if (d->state == PC_LISTENING) {
        snprintf(err, MIG_ERR_LEN, "migrate recover refused: a recovery already listens on %s",
                 d->listen_uri);
        goto out;
    }
    if (!uri || strlen(uri) >= sizeof(d->listen_uri)) {
        snprintf(err, MIG_ERR_LEN, "migrate recover: 'uri' is required (tcp:HOST:PORT, "
                 "unix:PATH, fd:N)");
        goto out;
    }
    int fd;
    bool connected;
    char e2[MIG_ERR_LEN];
    if (mig_listen(uri, &fd, &connected, e2)) {
        /* mig_listen speaks the CLI's --incoming; this is the API. */
        const char *m = strncmp(e2, "--incoming ", 11) ? e2 : e2 + 11;
        snprintf(err, MIG_ERR_LEN, "migrate recover: %.400s", m);
        goto out;
    }
    d->listen_fd = fd;
    d->listen_connected = connected;
    snprintf(d->listen_uri, sizeof(d->listen_uri), "%s", uri);
    d->state = PC_LISTENING;
    if (done) {
        if (pthread_create(&d->confirm_thread, NULL, confirm_main, d)) {
            close(d->listen_fd);
            d->listen_fd = -1;
            d->state = PC_PAUSED;
            snprintf(err, MIG_ERR_LEN, "migrate recover: cannot start a thread");
            goto out;
        }
        d->confirm_live = true;
        log_info("post-copy completed here; listening on %s to tell the source", uri);
        r = 0;
        goto out;
    }
    set_status(d, "postcopy-recover", NULL);
    wake(d->wake_fd);
    r = 0;
out:
    pthread_mutex_unlock(&d->ctl_lock);
    return r;
}

int mig_pc_dest_cancel(struct mig_pc_dest *d, char *err)
{
    int r = -EINVAL;
    pthread_mutex_lock(&d->ctl_lock);
    if (d->state == PC_ACTIVE || atomic_load(&d->failed) || atomic_load(&d->done)) {
        snprintf(err, MIG_ERR_LEN, "migrate cancel refused: post-copy is not paused here (a "
                 "running post-copy finishes, or pauses if its link breaks)");
    } else {
        d->cancel = true;
        if (d->cand_fd >= 0)
            shutdown(d->cand_fd, SHUT_RDWR);
        wake(d->wake_fd);
        r = 0;
    }
    pthread_mutex_unlock(&d->ctl_lock);
    return r;
}

int mig_pc_dest_start(struct mig_pc_dest **out, const struct mig_pc_dest_cfg *cfg, char *err,
                      size_t errlen)
{
    struct gmem *ram = cfg->ram;
    const uint64_t *missing = cfg->missing;
    struct mig_pc_dest *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->ram = ram;
    atomic_store(&d->fd, -1); /* the caller's until this succeeds */
    d->uffd = d->listen_fd = d->cand_fd = -1;
    d->fail = cfg->fail;
    d->opaque = cfg->opaque;
    d->status = cfg->status;
    d->status_opaque = cfg->status_opaque;
    d->recoverable = cfg->id && cfg->window_ms;
    if (cfg->id)
        memcpy(d->id, cfg->id, MIG_ID_LEN);
    d->window_ms = cfg->window_ms;
    d->words = gmem_dirty_words(ram);
    d->missing = malloc(d->words * sizeof(uint64_t));
    d->requested = calloc(d->words, sizeof(uint64_t));
    d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&d->send_lock, NULL);
    pthread_mutex_init(&d->ctl_lock, NULL);
    if (!d->missing || !d->requested) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(d->missing, missing, d->words * sizeof(uint64_t));
    /* Not UFFD_USER_MODE_ONLY: the kernel too reads guest RAM (a disk
     * read lands in it), and must wait for the page like a hart. */
    d->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = { .api = UFFD_API };
    if (d->uffd < 0 || d->stop_fd < 0 || d->wake_fd < 0 || ioctl(d->uffd, UFFDIO_API, &api)) {
        snprintf(err, errlen, "post-copy needs userfaultfd: %s", strerror(errno));
        goto fail;
    }
    /* Pages the source still owns go; 4 KiB faults, not huge pages. */
    (void)madvise(ram->host, ram->size, MADV_NOHUGEPAGE);
    uint64_t npages = gmem_npages(ram);
    for (uint64_t p = 0; p < npages;) {
        if (!((missing[p >> 6] >> (p & 63)) & 1)) {
            p++;
            continue;
        }
        uint64_t q = p;
        while (q < npages && ((missing[q >> 6] >> (q & 63)) & 1))
            q++;
        if (madvise(ram->host + (p << GMEM_PAGE_SHIFT), (q - p) << GMEM_PAGE_SHIFT,
                    MADV_DONTNEED)) {
            snprintf(err, errlen, "cannot drop stale pages: %s", strerror(errno));
            goto fail;
        }
        p = q;
    }
    struct uffdio_register reg = {
        .range = { .start = (uint64_t)(uintptr_t)ram->host, .len = ram->size },
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    if (ioctl(d->uffd, UFFDIO_REGISTER, &reg)) {
        snprintf(err, errlen, "cannot register guest RAM with userfaultfd: %s",
                 strerror(errno));
        goto fail;
    }
    if (pthread_create(&d->fault_thread, NULL, fault_main, d)) {
        snprintf(err, errlen, "cannot start the fault thread");
        goto fail;
    }
    d->fault_live = true;
    atomic_store(&d->fd, cfg->fd);
    *out = d;
    return 0;
fail:
    mig_pc_dest_finish(d, true, NULL);
    return -EINVAL;
}

int mig_pc_dest_run(struct mig_pc_dest *d, char *err, size_t errlen)
{
    if (pthread_create(&d->recv_thread, NULL, recv_main, d)) {
        snprintf(err, errlen, "cannot start the post-copy receiver");
        return -EAGAIN;
    }
    d->recv_live = true;
    return 0;
}

bool mig_pc_dest_done(struct mig_pc_dest *d)
{
    return atomic_load(&d->done);
}

void mig_pc_dest_finish(struct mig_pc_dest *d, bool stop, uint64_t *faults)
{
    if (!d)
        return;
    if (stop) {
        atomic_store(&d->stopping, true);
        pthread_mutex_lock(&d->ctl_lock);
        if (d->cand_fd >= 0)
            shutdown(d->cand_fd, SHUT_RDWR);
        pthread_mutex_unlock(&d->ctl_lock);
        if (d->recv_live)
            shutdown(atomic_load(&d->fd), SHUT_RDWR); /* the receiver's read ends */
        if (d->wake_fd >= 0)
            wake(d->wake_fd); /* and a paused one looks again */
    }
    if (d->recv_live)
        pthread_join(d->recv_thread, NULL);
    if (d->confirm_live)
        pthread_join(d->confirm_thread, NULL);
    if (d->fault_live) {
        wake(d->stop_fd);
        pthread_join(d->fault_thread, NULL);
    }
    if (faults)
        *faults = atomic_load(&d->faults);
    /* The link is ours from a successful start on. */
    if (atomic_load(&d->fd) >= 0)
        close(atomic_load(&d->fd));
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    if (d->uffd >= 0)
        close(d->uffd);
    if (d->stop_fd >= 0)
        close(d->stop_fd);
    if (d->wake_fd >= 0)
        close(d->wake_fd);
    pthread_mutex_destroy(&d->send_lock);
    pthread_mutex_destroy(&d->ctl_lock);
    free(d->missing);
    free(d->requested);
    free(d);
}
