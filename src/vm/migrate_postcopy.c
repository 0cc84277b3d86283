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
#include <unistd.h>

#include "core/log.h"
#include "state/state.h"
#include "vm/migrate_stream.h"

struct mig_pc_dest {
    struct gmem *ram;
    int fd, uffd, stop_fd;
    pthread_mutex_t send_lock;
    pthread_t fault_thread, recv_thread;
    bool fault_live, recv_live;
    _Atomic bool done, failed;
    _Atomic uint64_t faults;
    mig_pc_fail_fn fail;
    void *opaque;
};

static int send_req(struct mig_pc_dest *d, uint64_t page, char *err)
{
    struct state_out o;
    state_out_init(&o);
    state_begin(&o, "pc-req", 1, 0);
    state_put_u64(&o, page);
    state_end(&o);
    pthread_mutex_lock(&d->send_lock);
    int r = mig_send(d->fd, &o, err);
    pthread_mutex_unlock(&d->send_lock);
    state_out_free(&o);
    return r;
}

int mig_pc_dest_send_simple(struct mig_pc_dest *d, const char *id, const char *reason,
                            char *err)
{
    pthread_mutex_lock(&d->send_lock);
    int r = mig_send_simple(d->fd, id, reason, err);
    pthread_mutex_unlock(&d->send_lock);
    return r;
}

/* Each missing-page fault becomes a request; the page's arrival wakes
 * the faulting thread (UFFDIO_COPY wakes by default). */
static void *fault_main(void *arg)
{
    struct mig_pc_dest *d = arg;
    char err[MIG_ERR_LEN];
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
            if (send_req(d, off >> GMEM_PAGE_SHIFT, err)) {
                log_warn("post-copy: cannot ask the source for a page: %s", err);
                return NULL; /* the receiver sees the broken stream too */
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
    }
    return state_in_finish(in);
}

static void *recv_main(void *arg)
{
    struct mig_pc_dest *d = arg;
    char err[MIG_ERR_LEN] = "";
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct state_section s;
    for (;;) {
        if (mig_recv(d->fd, &buf, &cap, &s, err))
            break;
        if (!strcmp(s.id, "pc-pages")) {
            if (receive_pages(d, &s.body))
                break;
        } else if (!strcmp(s.id, "pc-end")) {
            /* Every page is here: RAM is ordinary memory again. */
            struct uffdio_range r = { .start = (uint64_t)(uintptr_t)d->ram->host,
                                      .len = d->ram->size };
            if (ioctl(d->uffd, UFFDIO_UNREGISTER, &r)) {
                snprintf(err, sizeof(err), "cannot unregister RAM: %s", strerror(errno));
                break;
            }
            atomic_store(&d->done, true);
            if (mig_pc_dest_send_simple(d, "pc-complete", NULL, err))
                log_warn("post-copy: complete, but the source did not hear it: %s", err);
            free(buf);
            return NULL;
        } else {
            snprintf(err, sizeof(err), "unexpected frame '%s' in post-copy", s.id);
            break;
        }
    }
    free(buf);
    atomic_store(&d->failed, true);
    /* Harts waiting for pages that will never come are let go (their
     * pages read as zeros) so the VM can be stopped; it does not go on. */
    struct uffdio_range r = { .start = (uint64_t)(uintptr_t)d->ram->host, .len = d->ram->size };
    (void)ioctl(d->uffd, UFFDIO_UNREGISTER, &r);
    d->fail(d->opaque, err);
    return NULL;
}

int mig_pc_dest_start(struct mig_pc_dest **out, struct gmem *ram, int fd,
                      const uint64_t *missing, mig_pc_fail_fn fail, void *opaque,
                      char *err, size_t errlen)
{
    struct mig_pc_dest *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->ram = ram;
    d->fd = fd;
    d->fail = fail;
    d->opaque = opaque;
    d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&d->send_lock, NULL);
    /* Not UFFD_USER_MODE_ONLY: the kernel too reads guest RAM (a disk
     * read lands in it), and must wait for the page like a hart. */
    d->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = { .api = UFFD_API };
    if (d->uffd < 0 || d->stop_fd < 0 || ioctl(d->uffd, UFFDIO_API, &api)) {
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
    if (stop && d->recv_live)
        shutdown(d->fd, SHUT_RDWR); /* the receiver's read ends */
    if (d->recv_live)
        pthread_join(d->recv_thread, NULL);
    if (d->fault_live) {
        uint64_t one = 1;
        if (write(d->stop_fd, &one, sizeof(one)) < 0) {
            /* an eventfd write cannot fail here */
        }
        pthread_join(d->fault_thread, NULL);
    }
    if (faults)
        *faults = atomic_load(&d->faults);
    if (d->uffd >= 0)
        close(d->uffd);
    if (d->stop_fd >= 0)
        close(d->stop_fd);
    pthread_mutex_destroy(&d->send_lock);
    free(d);
}
