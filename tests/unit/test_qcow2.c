/* qcow2 against qemu-img both ways: images qemu-img made (cluster sizes
 * 4K..2M, v2 and v3, zlib/zstd compressed clusters, extended L2 with
 * partly allocated subclusters, backing chains raw/qcow2 with relative
 * names) read back byte-exact; images Corral wrote pass `qemu-img check`
 * and equal a model of the writes; overlays, reopen and commit; corrupt
 * images are refused with a message naming the file and left unchanged;
 * probing, locks, FIFOs, crash (no close) and dirty-bit repair. Skips
 * (as a pass with a note) when qemu-img is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"

static char dir[64];
static bool have_qemu;

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *P(const char *name)
{
    static char bufs[8][256];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A raw file of `size` bytes: random data in some 32K chunks, zeros and
 * holes elsewhere (compressible, sparse, mixed). */
static uint8_t *make_raw(const char *path, uint64_t size, uint64_t seed)
{
    uint8_t *m = calloc(1, size);
    assert_non_null(m);
    rng_state = seed;
    for (uint64_t o = 0; o < size; o += 32768) {
        uint64_t k = rnd() % 4;
        uint64_t l = size - o < 32768 ? size - o : 32768;
        for (uint64_t i = 0; i < l && k; i++)
            m[o + i] = k == 1 ? (uint8_t)rnd() : (uint8_t)(i * k);
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(m, 1, size, f), size);
    fclose(f);
    return m;
}

static uint8_t *read_file(const char *path, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (uint64_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *m = malloc(*size + 1);
    assert_non_null(m);
    assert_int_equal(fread(m, 1, *size, f), *size);
    fclose(f);
    return m;
}

/* Reads through the backend equal `want`, in odd-sized pieces. */
static void expect_content(struct blk_backend *b, const uint8_t *want, uint64_t size)
{
    assert_int_equal(b->size, size);
    uint8_t *got = malloc(size);
    assert_non_null(got);
    uint64_t o = 0, piece = 512;
    while (o < size) {
        uint64_t l = piece < size - o ? piece : size - o;
        struct iovec v[2] = { { got + o, (size_t)(l / 2) },
                              { got + o + l / 2, (size_t)(l - l / 2) } };
        assert_int_equal(b->ops->preadv(b, v, 2, o), 0);
        o += l;
        piece = piece * 3 % 300000 + 512;
    }
    for (uint64_t i = 0; i < size; i++)
        if (got[i] != want[i])
            fail_msg("%s: byte %llu is %02x, want %02x", b->path, (unsigned long long)i,
                     got[i], want[i]);
    free(got);
}

static struct blk_backend *open_ok(const char *path, const char *fmt, bool ro)
{
    struct blk_backend *b;
    char err[512];
    int r = blk_open(path, fmt, ro, &b, err, sizeof(err));
    if (r)
        fail_msg("open %s: %s", path, err);
    return b;
}

/* Corral's reads of an image equal qemu-img's own conversion to raw. */
static void expect_as_qemu(const char *img)
{
    assert_int_equal(sh("qemu-img convert -O raw '%s' '%s'", img, P("ref.raw")), 0);
    uint64_t size;
    uint8_t *ref = read_file(P("ref.raw"), &size);
    struct blk_backend *b = open_ok(img, "qcow2", true);
    expect_content(b, ref, size);
    blk_close(b);
    free(ref);
}

#define SKIP_NO_QEMU() do { if (!have_qemu) { print_message("no qemu-img: skipped\n"); return; } } while (0)

static void test_read_cluster_sizes(void **st)
{
    SKIP_NO_QEMU();
    static const char *const opts[] = {
        "cluster_size=4096", "cluster_size=65536", "cluster_size=2M", "compat=0.10",
        "cluster_size=512", "refcount_bits=1", "refcount_bits=64",
        "extended_l2=on,cluster_size=65536", "extended_l2=on,cluster_size=2M",
    };
    uint8_t *m = make_raw(P("src.raw"), 6 * 1024 * 1024 + 4096, 11);
    for (unsigned i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        assert_int_equal(sh("qemu-img convert -f raw -O qcow2 -o %s '%s' '%s'", opts[i],
                            P("src.raw"), P("img.qcow2")), 0);
        struct blk_backend *b = open_ok(P("img.qcow2"), "qcow2", true);
        expect_content(b, m, 6 * 1024 * 1024 + 4096);
        blk_close(b);
    }
    free(m);
}

static void test_read_compressed(void **st)
{
    SKIP_NO_QEMU();
    uint8_t *m = make_raw(P("src.raw"), 3 * 1024 * 1024, 12);
    static const char *const opts[] = { "compression_type=zlib", "compression_type=zstd",
                                        "compression_type=zlib,cluster_size=4096",
                                        "compression_type=zstd,cluster_size=2M", "compat=0.10" };
    for (unsigned i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        assert_int_equal(sh("qemu-img convert -c -f raw -O qcow2 -o %s '%s' '%s'", opts[i],
                            P("src.raw"), P("img.qcow2")), 0);
        struct blk_backend *b = open_ok(P("img.qcow2"), "qcow2", true);
        expect_content(b, m, 3 * 1024 * 1024);
        blk_close(b);
    }
    free(m);
}

/* Chains with qemu-io writes at odd places in each layer (and extended L2
 * subclusters partly allocated, zeroed, discarded). */
static void test_read_chains(void **st)
{
    SKIP_NO_QEMU();
    free(make_raw(P("base.raw"), 4 * 1024 * 1024, 13));
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
                        "qemu-io -c 'write -P 0x11 4096 8192' -c 'write -z 65536 65536' "
                        "-c 'write -P 0x22 1000448 300000' mid.qcow2 >/dev/null && "
                        "qemu-img create -q -f qcow2 -o extended_l2=on -b mid.qcow2 -F qcow2 "
                        "top.qcow2 && qemu-io -c 'write -P 0x33 2048 2048' "
                        "-c 'write -z 70000 2048' -c 'write -P 0x44 3145728 6000' "
                        "-c 'discard 0 65536' top.qcow2 >/dev/null", dir), 0);
    expect_as_qemu(P("mid.qcow2"));
    expect_as_qemu(P("top.qcow2"));
    /* Opened from another directory: the relative names still resolve. */
    expect_as_qemu(P("top.qcow2"));
    /* v2 overlay over a qcow2 base, with a smaller backing file. */
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -o compat=0.10 -b top.qcow2 "
                        "-F qcow2 v2.qcow2 6M && qemu-io -c 'write -P 0x55 5000000 4096' "
                        "v2.qcow2 >/dev/null", dir), 0);
    expect_as_qemu(P("v2.qcow2"));
}

/* Random writes, discards and zeroes through Corral, mirrored in memory. */
static void random_io(struct blk_backend *b, uint8_t *m, uint64_t size, unsigned ops,
                      uint64_t seed)
{
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    rng_state = seed;
    for (unsigned i = 0; i < ops; i++) {
        uint64_t kind = rnd() % 10;
        uint64_t len = (rnd() % 4 == 0 ? rnd() % (1 << 20) : rnd() % 70000) / 512 * 512 + 512;
        uint64_t off = rnd() % (size / 512) * 512;
        if (off + len > size)
            len = size - off;
        if (kind < 7) {
            uint8_t pat = (uint8_t)rnd();
            for (uint64_t k = 0; k < len; k++)
                buf[k] = (uint8_t)(pat + k * 7);
            struct iovec v[3] = { { buf, (size_t)(len / 3) }, { buf + len / 3, 0 },
                                  { buf + len / 3, (size_t)(len - len / 3) } };
            assert_int_equal(b->ops->pwritev(b, v, 3, off), 0);
            memcpy(m + off, buf, len);
        } else if (kind < 9) {
            assert_int_equal(b->ops->write_zeroes(b, off, len), 0);
            memset(m + off, 0, len);
        } else {
            /* Discard: unspecified content; keep the model by reading it. */
            assert_int_equal(b->ops->discard(b, off, len), 0);
            struct iovec v = { m + off, (size_t)len };
            assert_int_equal(b->ops->preadv(b, &v, 1, off), 0);
        }
        if (i % 50 == 49)
            assert_int_equal(b->ops->flush(b), 0);
    }
    free(buf);
}

static void check_clean(const char *img)
{
    if (sh("qemu-img check -q '%s'", img) != 0) {
        sh("qemu-img check '%s' | head -20", img);
        fail_msg("qemu-img check %s not clean", img);
    }
}

/* Corral's image equals the model, by Corral and by qemu-img. */
static void expect_written(const char *img, const uint8_t *m, uint64_t size)
{
    check_clean(img);
    assert_int_equal(sh("qemu-img convert -O raw '%s' '%s'", img, P("out.raw")), 0);
    uint64_t n;
    uint8_t *got = read_file(P("out.raw"), &n);
    assert_int_equal(n, size);
    assert_memory_equal(got, m, size);
    free(got);
    struct blk_backend *b = open_ok(img, "qcow2", true);
    expect_content(b, m, size);
    blk_close(b);
}

static void test_write_interop(void **st)
{
    SKIP_NO_QEMU();
    const uint64_t size = 8 * 1024 * 1024;
    static const char *const opts[] = {
        "cluster_size=65536", "cluster_size=4096", "cluster_size=2M", "compat=0.10",
        "lazy_refcounts=on", "refcount_bits=1", "refcount_bits=64", "cluster_size=512",
        "extended_l2=on",
    };
    for (unsigned i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        for (int with_base = 0; with_base < 2; with_base++) {
            uint8_t *m;
            if (with_base) {
                m = make_raw(P("wbase.raw"), size, 20 + i);
                assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -o %s -b wbase.raw "
                                    "-F raw w.qcow2", dir, opts[i]), 0);
            } else {
                m = calloc(1, size);
                assert_int_equal(sh("qemu-img create -q -f qcow2 -o %s '%s' 8M", opts[i],
                                    P("w.qcow2")), 0);
            }
            struct blk_backend *b = open_ok(P("w.qcow2"), "qcow2", false);
            random_io(b, m, size, 200, 100 + i);
            expect_content(b, m, size);
            blk_close(b);
            expect_written(P("w.qcow2"), m, size);
            /* Reopen and write again over what is there. */
            b = open_ok(P("w.qcow2"), "qcow2", false);
            random_io(b, m, size, 100, 200 + i);
            blk_close(b);
            expect_written(P("w.qcow2"), m, size);
            free(m);
            unlink(P("w.qcow2"));
        }
    }
}

/* Writes over compressed clusters and a qemu-written overlay. */
static void test_write_over_compressed(void **st)
{
    SKIP_NO_QEMU();
    const uint64_t size = 4 * 1024 * 1024;
    uint8_t *m = make_raw(P("src.raw"), size, 30);
    assert_int_equal(sh("qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd '%s' '%s'",
                        P("src.raw"), P("c.qcow2")), 0);
    struct blk_backend *b = open_ok(P("c.qcow2"), "qcow2", false);
    random_io(b, m, size, 150, 31);
    blk_close(b);
    expect_written(P("c.qcow2"), m, size);
    free(m);
}

static void test_overlay_reopen_commit(void **st)
{
    SKIP_NO_QEMU();
    const uint64_t size = 4 * 1024 * 1024;
    uint8_t *m = make_raw(P("obase.raw"), size, 40);
    char err[512];
    /* A created overlay reads as its base and passes qemu-img check. */
    assert_int_equal(blk_qcow2_create_overlay(P("o1.qcow2"), "obase.raw", "raw", 0, err,
                                              sizeof(err)), 0);
    assert_int_not_equal(blk_qcow2_create_overlay(P("o1.qcow2"), "obase.raw", "raw", 0, err,
                                                  sizeof(err)), 0);
    assert_non_null(strstr(err, "exists"));
    check_clean(P("o1.qcow2"));
    assert_int_equal(sh("qemu-img compare -q '%s' '%s'", P("o1.qcow2"), P("obase.raw")), 0);
    unlink(P("o1.qcow2"));

    /* Running disk: raw, then an overlay, writes, a second overlay. */
    struct blk_backend *b = open_ok(P("obase.raw"), "raw", false);
    random_io(b, m, size, 40, 41);
    assert_int_equal(blk_reopen_overlay(&b, P("o1.qcow2"), err, sizeof(err)), 0);
    assert_string_equal(b->format, "qcow2");
    random_io(b, m, size, 60, 42);
    expect_content(b, m, size);
    assert_int_equal(blk_reopen_overlay(&b, P("o2.qcow2"), err, sizeof(err)), 0);
    random_io(b, m, size, 60, 43);
    expect_content(b, m, size);
    /* The backing files are read-only now: another writer is refused. */
    struct blk_backend *x;
    assert_int_not_equal(blk_open(P("obase.raw"), "raw", false, &x, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "obase.raw"));
    /* Running commit of the top into o1. */
    assert_int_equal(blk_commit_backend(b, err, sizeof(err)), 0);
    expect_content(b, m, size);
    blk_close(b);
    check_clean(P("o1.qcow2"));
    check_clean(P("o2.qcow2"));
    assert_int_equal(sh("qemu-img compare -q '%s' '%s'", P("o2.qcow2"), P("o1.qcow2")), 0);
    /* Stopped commit of o1 into the raw base. */
    assert_int_equal(blk_commit(P("o1.qcow2"), err, sizeof(err)), 0);
    uint64_t n;
    uint8_t *got = read_file(P("obase.raw"), &n);
    assert_int_equal(n, size);
    assert_memory_equal(got, m, size);
    free(got);
    free(m);
}

static uint64_t file_sum(const char *path)
{
    uint64_t n, h = 1469598103934665603ULL;
    uint8_t *d = read_file(path, &n);
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ULL;
    free(d);
    return h ^ n;
}

static void poke(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Open must fail with `want` in the message, the file untouched. */
static void expect_refused(const char *img, bool ro, const char *want)
{
    uint64_t before = file_sum(img);
    struct blk_backend *b;
    char err[512] = "";
    int r = blk_open(img, "qcow2", ro, &b, err, sizeof(err));
    if (r == 0) {
        blk_close(b);
        fail_msg("%s opened (want '%s')", img, want);
    }
    if (!strstr(err, want) || !strstr(err, img))
        fail_msg("error '%s' lacks '%s' or the file name", err, want);
    assert_int_equal(file_sum(img), before);
}

static void test_corrupt(void **st)
{
    SKIP_NO_QEMU();
    free(make_raw(P("src.raw"), 1024 * 1024, 50));
    char img[256];
    snprintf(img, sizeof(img), "%s", P("bad.qcow2"));
    uint8_t v[8];
#define FRESH() assert_int_equal(sh("qemu-img convert -f raw -O qcow2 '%s' '%s'", P("src.raw"), img), 0)
    /* Bad L1 offset: unaligned, then past the end. */
    FRESH();
    be64(v, 0x30200);
    poke(img, 40, v, 8);
    expect_refused(img, true, "L1 table offset");
    be64(v, 1ULL << 40);
    poke(img, 40, v, 8);
    expect_refused(img, false, "L1 table offset");
    /* Refcount table entry past the end of the file. */
    FRESH();
    be64(v, 1ULL << 40);
    poke(img, 0x10000, v, 8); /* refcount table at cluster 1 */
    expect_refused(img, false, "refcount table entry");
    /* Cluster loop: the first L1 entry points at the L1 table itself. */
    FRESH();
    uint8_t h[64];
    int fd = open(img, O_RDONLY);
    assert_int_equal(pread(fd, h, 64, 0), 64);
    uint64_t l1 = 0;
    for (int i = 0; i < 8; i++)
        l1 = l1 << 8 | h[40 + i];
    close(fd);
    be64(v, l1 | (1ULL << 63));
    poke(img, l1, v, 8);
    expect_refused(img, false, "used twice");
    /* Refcount too low: the header's own refcount zeroed. */
    FRESH();
    uint8_t z[2] = { 0, 0 };
    poke(img, 0x20000, z, 2); /* refcount block at cluster 2 */
    expect_refused(img, false, "refcount below");
    /* Unknown incompatible feature, named. */
    FRESH();
    be64(v, 1ULL << 40);
    poke(img, 72, v, 8);
    expect_refused(img, true, "unsupported incompatible features");
    /* Truncated file. */
    FRESH();
    assert_int_equal(truncate(img, 0x20000 + 100), 0);
    expect_refused(img, false, "corrupt");
    assert_int_equal(truncate(img, 50), 0);
    expect_refused(img, true, "corrupt");
    /* Backing file loop a -> b -> a. */
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -u -b lb.qcow2 -F qcow2 "
                        "la.qcow2 1M && qemu-img create -q -f qcow2 -u -b la.qcow2 -F qcow2 "
                        "lb.qcow2 1M", dir), 0);
    expect_refused(P("la.qcow2"), true, "backing file loop");
    expect_refused(P("la.qcow2"), false, "backing file loop");
    /* Readers of a corrupt image never crash: garbage L2 entries read. */
    FRESH();
    uint8_t junk[4096];
    rng_state = 99;
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)rnd();
    poke(img, 0x40000, junk, sizeof(junk)); /* the L2 table follows the L1 */
    struct blk_backend *b;
    char err[512];
    if (blk_open(img, "qcow2", true, &b, err, sizeof(err)) == 0) {
        uint8_t *buf = malloc(1 << 20);
        struct iovec iv = { buf, 1 << 20 };
        (void)b->ops->preadv(b, &iv, 1, 0);
        free(buf);
        blk_close(b);
    }
    expect_refused(img, false, "corrupt");
}

static void test_probe_lock_fifo(void **st)
{
    SKIP_NO_QEMU();
    char err[512];
    struct blk_backend *b, *b2;
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 1M", P("p.qcow2")), 0);
    /* A writable image that looks like qcow2 needs format=. */
    assert_int_equal(blk_open(P("p.qcow2"), NULL, false, &b, err, sizeof(err)), -EPERM);
    assert_non_null(strstr(err, "format=qcow2"));
    b = open_ok(P("p.qcow2"), NULL, true);
    assert_string_equal(b->format, "qcow2");
    assert_int_equal(b->size, 1024 * 1024);
    /* Two readers share; a writer is refused while a reader holds it. */
    b2 = open_ok(P("p.qcow2"), "qcow2", true);
    struct blk_backend *x;
    assert_int_equal(blk_open(P("p.qcow2"), "qcow2", false, &x, err, sizeof(err)), -EBUSY);
    assert_non_null(strstr(err, "in use"));
    blk_close(b);
    blk_close(b2);
    b = open_ok(P("p.qcow2"), "qcow2", false);
    assert_int_equal(blk_open(P("p.qcow2"), "qcow2", true, &b2, err, sizeof(err)), -EBUSY);
    /* QEMU sees our lock too. */
    assert_int_not_equal(sh("qemu-img info '%s' >/dev/null 2>&1", P("p.qcow2")), 0);
    blk_close(b);
    assert_int_equal(sh("qemu-img info '%s' >/dev/null 2>&1", P("p.qcow2")), 0);
    /* A FIFO fails at once. */
    assert_int_equal(mkfifo(P("fifo"), 0600), 0);
    assert_int_not_equal(blk_open(P("fifo"), NULL, false, &b, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_not_equal(blk_open(P("fifo"), "raw", true, &b, err, sizeof(err)), 0);
    unlink(P("fifo"));
}

/* A writer that dies without closing leaves at most leaks; with lazy
 * refcounts it leaves the dirty bit, which the next open repairs. */
static void test_crash_and_dirty(void **st)
{
    SKIP_NO_QEMU();
    const uint64_t size = 4 * 1024 * 1024;
    for (int lazy = 0; lazy < 2; lazy++) {
        assert_int_equal(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=%s '%s' 4M",
                            lazy ? "on" : "off", P("k.qcow2")), 0);
        uint8_t *m = calloc(1, size);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct blk_backend *b;
            char err[512];
            if (blk_open(P("k.qcow2"), "qcow2", false, &b, err, sizeof(err)))
                _exit(2);
            random_io(b, m, size, 100, 60);
            if (b->ops->flush(b))
                _exit(3);
            FILE *f = fopen(P("k.model"), "wb");
            if (!f || fwrite(m, 1, size, f) != size || fclose(f))
                _exit(4);
            _exit(0); /* no close: as kill -9 after a flush */
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        uint64_t n;
        free(m);
        m = read_file(P("k.model"), &n);
        struct blk_backend *b = open_ok(P("k.qcow2"), "qcow2", true);
        expect_content(b, m, size); /* everything flushed is there */
        int rc = sh("qemu-img check -q '%s' >/dev/null 2>&1", P("k.qcow2"));
        /* 0 clean, 3 leaks only: never 2 (corruption). */
        assert_true(rc == 0 || rc == 3);
        blk_close(b);
        b = open_ok(P("k.qcow2"), "qcow2", false); /* repairs the dirty bit */
        expect_content(b, m, size);
        blk_close(b);
        if (lazy)
            check_clean(P("k.qcow2"));
        else
            assert_true(sh("qemu-img check -q '%s' >/dev/null 2>&1", P("k.qcow2")) != 2);
        free(m);
    }
}

/* Filling a 512-byte-cluster image outgrows the refcount table qemu-img
 * made (it covers 8 MiB of file): the table is grown, twice. */
static void test_refcount_growth(void **st)
{
    SKIP_NO_QEMU();
    const uint64_t size = 24 * 1024 * 1024;
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=512 '%s' 24M",
                        P("g.qcow2")), 0);
    uint8_t *m = malloc(size);
    rng_state = 5;
    for (uint64_t i = 0; i < size; i += 8)
        *(uint64_t *)(m + i) = rnd();
    struct blk_backend *b = open_ok(P("g.qcow2"), "qcow2", false);
    for (uint64_t o = 0; o < size; o += 1 << 20) {
        struct iovec v = { m + o, 1 << 20 };
        assert_int_equal(b->ops->pwritev(b, &v, 1, o), 0);
    }
    blk_close(b);
    expect_written(P("g.qcow2"), m, size);
    free(m);
}

/* try_rw (what a hart answers a cached read with): a written cluster
 * reads back, an unallocated one reads as zeros, a read across clusters
 * (contiguous in the file or not) reads back, and everything it may not
 * do at once (a write, an L2 table not in the cache, a cluster of the
 * backing file, too many buffers) is -EAGAIN. */
static void test_try_rw(void **st)
{
    (void)st;
    SKIP_NO_QEMU();
    const char *img = P("try.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=65536 '%s' 64M", img), 0);
    struct blk_backend *b = open_ok(img, "qcow2", false);
    assert_non_null(b->ops->try_rw);
    static uint8_t buf[8192], got[8192];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    struct iovec w = { buf, sizeof(buf) };
    assert_int_equal(b->ops->pwritev(b, &w, 1, 65536 * 5), 0);
    struct iovec r = { got, 4096 };
    assert_int_equal(b->ops->try_rw(b, true, &r, 1, 65536 * 5), -EAGAIN);
    memset(got, 0xaa, sizeof(got));
    struct iovec r2[2] = { { got, 1000 }, { got + 1000, 3096 } };
    assert_int_equal(b->ops->try_rw(b, false, r2, 2, 65536 * 5 + 4096), 0);
    assert_memory_equal(got, buf + 4096, 4096);
    memset(got, 0xaa, sizeof(got));
    assert_int_equal(b->ops->try_rw(b, false, &r, 1, 65536 * 6), 0); /* same L2 table */
    for (unsigned i = 0; i < 4096; i++)
        assert_int_equal(got[i], 0);
    /* Across clusters: data then unallocated; two written in reverse
     * order (not contiguous in the file); contiguous ones. */
    static uint8_t big[65536 + 8192];
    memset(big, 0xaa, sizeof(big));
    struct iovec across = { big, 65536 };
    assert_int_equal(b->ops->try_rw(b, false, &across, 1, 65536 * 5 + 4096), 0);
    assert_memory_equal(big, buf + 4096, 4096);
    for (unsigned i = 4096; i < 65536; i++)
        assert_int_equal(big[i], 0);
    w = (struct iovec){ buf, 4096 };
    assert_int_equal(b->ops->pwritev(b, &w, 1, 65536 * 10), 0);
    w = (struct iovec){ buf + 4096, 4096 };
    assert_int_equal(b->ops->pwritev(b, &w, 1, 65536 * 10 - 4096), 0);
    w = (struct iovec){ buf, sizeof(buf) };
    assert_int_equal(b->ops->pwritev(b, &w, 1, 65536 * 12 - 4096), 0);
    struct iovec pair[2] = { { big, 5000 }, { big + 5000, 3192 } };
    memset(big, 0xaa, sizeof(big));
    assert_int_equal(b->ops->try_rw(b, false, pair, 2, 65536 * 10 - 4096), 0);
    assert_memory_equal(big, buf + 4096, 4096);
    assert_memory_equal(big + 4096, buf, 4096);
    memset(big, 0xaa, sizeof(big));
    assert_int_equal(b->ops->try_rw(b, false, pair, 2, 65536 * 12 - 4096), 0);
    assert_memory_equal(big, buf, 8192);
    /* More buffers than it takes at once. */
    static struct iovec many[300];
    for (unsigned i = 0; i < 300; i++)
        many[i] = (struct iovec){ big + i * 16, 16 };
    assert_int_equal(b->ops->try_rw(b, false, many, 300, 65536 * 5), -EAGAIN);
    /* Past the end of the disk. */
    assert_int_equal(b->ops->try_rw(b, false, &r, 1, 64ULL << 20), -EAGAIN);
    blk_close(b);
    /* Reopened: the L2 cache is empty, so nothing can be read at once. */
    b = open_ok(img, "qcow2", true);
    assert_int_equal(b->ops->try_rw(b, false, &r, 1, 65536 * 5), -EAGAIN);
    assert_int_equal(b->ops->preadv(b, &r, 1, 65536 * 5), 0);
    r = (struct iovec){ got, 4096 };
    assert_int_equal(b->ops->try_rw(b, false, &r, 1, 65536 * 5), 0);
    assert_memory_equal(got, buf, 4096);
    blk_close(b);
    /* An overlay's unallocated cluster is the backing file's. */
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b try.qcow2 -F qcow2 tryo.qcow2",
                        P("")), 0);
    b = open_ok(P("tryo.qcow2"), "qcow2", true);
    assert_int_equal(b->ops->try_rw(b, false, &r, 1, 65536 * 5), -EAGAIN);
    blk_close(b);
}

/* cache=none: O_DIRECT with bounce buffers for unaligned metadata and
 * guest buffers (the random I/O uses odd vector splits). */
static void test_cache_none(void **st)
{
    SKIP_NO_QEMU();
    const uint64_t size = 8 * 1024 * 1024;
    for (int fmt = 0; fmt < 2; fmt++) {
        uint8_t *m = calloc(1, size);
        if (fmt)
            assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=4096 '%s' 8M",
                                P("d.img")), 0);
        else
            assert_int_equal(sh("truncate -s 8M '%s'", P("d.img")), 0);
        struct blk_open_opts o = { .format = fmt ? "qcow2" : "raw", .cache = BLK_CACHE_NONE };
        struct blk_backend *b;
        char err[512];
        int r = blk_open_ex(P("d.img"), &o, &b, err, sizeof(err));
        if (r && strstr(err, "O_DIRECT")) {
            print_message("%s: skipped\n", err);
            free(m);
            return;
        }
        assert_int_equal(r, 0);
        random_io(b, m, size, 150, 70 + fmt);
        expect_content(b, m, size);
        blk_close(b);
        if (fmt) {
            expect_written(P("d.img"), m, size);
        } else {
            uint64_t n;
            uint8_t *got = read_file(P("d.img"), &n);
            assert_memory_equal(got, m, size);
            free(got);
        }
        free(m);
        unlink(P("d.img"));
    }
}

static int setup(void **st)
{
    snprintf(dir, sizeof(dir), "/tmp/corral-qcow2-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    have_qemu = sh("qemu-img --version >/dev/null 2>&1") == 0;
    return 0;
}

static int teardown(void **st)
{
    sh("rm -rf '%s'", dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_cluster_sizes),
        cmocka_unit_test(test_read_compressed),
        cmocka_unit_test(test_read_chains),
        cmocka_unit_test(test_write_interop),
        cmocka_unit_test(test_write_over_compressed),
        cmocka_unit_test(test_overlay_reopen_commit),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_probe_lock_fifo),
        cmocka_unit_test(test_crash_and_dirty),
        cmocka_unit_test(test_cache_none),
        cmocka_unit_test(test_try_rw),
        cmocka_unit_test(test_refcount_growth),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
