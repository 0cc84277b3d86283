/*
 * Guest-side helper of bench/io, a static riscv64 Linux binary (run.sh
 * builds it with riscv64-linux-gnu-gcc when that exists):
 *   iotool now                          monotonic clock in nanoseconds
 *                                       (busybox date has no sub-second)
 *   iotool randread|randwrite DEV BLOCKS SECONDS [JOBS]  4 KiB reads or
 *       writes at random block numbers below BLOCKS on DEV, opened O_DIRECT
 *       so each reaches the virtio-blk device, for SECONDS, in JOBS
 *       processes at once (default 1); prints "io-randr<JOBS> OPS NS" or
 *       "io-randw<JOBS> OPS NS".
 *       A busybox dd loop spawns a process per read, which on an emulated
 *       CPU costs far more than the read itself.
 *   iotool send IP PORT MIB             MIB MiB of zeros to IP:PORT over TCP
 *       in 64 KiB writes, then half-close and wait for the peer to close
 *       (busybox nc moves 1 KiB per system call, which would measure nc).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One job: 4 KiB O_DIRECT reads or writes at random blocks for `limit`
 * ns; the count and the time taken. */
static int rand_job(const char *dev, int writes, uint64_t blocks, uint64_t limit, uint64_t seed,
                    uint64_t *count, uint64_t *ns)
{
    uint64_t t0, t, n = 0, x = 0x9e3779b97f4a7c15u ^ (seed * 0xbf58476d1ce4e5b9u);
    void *buf;
    int fd = open(dev, (writes ? O_WRONLY : O_RDONLY) | O_DIRECT);

    if (fd < 0 || posix_memalign(&buf, 4096, 4096)) {
        perror(dev);
        return 1;
    }
    memset(buf, 0x5a, 4096);
    t0 = t = now_ns();
    while (t - t0 < limit) {
        x ^= x << 13; /* xorshift64: any spread of offsets will do */
        x ^= x >> 7;
        x ^= x << 17;
        off_t off = (off_t)(x % blocks) * 4096;
        if ((writes ? pwrite(fd, buf, 4096, off) : pread(fd, buf, 4096, off)) != 4096) {
            perror(writes ? "pwrite" : "pread");
            return 1;
        }
        n++;
        t = now_ns();
    }
    close(fd);
    *count = n;
    *ns = t - t0;
    return 0;
}

/* JOBS processes at once (the device sees up to JOBS requests in flight);
 * prints "io-randr<JOBS> OPS NS" or "io-randw<JOBS> OPS NS", NS the
 * longest job's time. */
static int randio(int argc, char **argv, int writes)
{
    uint64_t blocks, limit, total = 0, longest = 0;
    int jobs = argc == 5 ? atoi(argv[4]) : 1, fds[2], bad = 0;

    if ((argc != 4 && argc != 5) || (blocks = strtoull(argv[2], NULL, 0)) == 0 || jobs < 1 ||
        jobs > 64) {
        fprintf(stderr, "usage: iotool randread|randwrite DEV BLOCKS SECONDS [JOBS]\n");
        return 2;
    }
    limit = strtoull(argv[3], NULL, 0) * 1000000000u;
    if (pipe(fds) < 0) {
        perror("pipe");
        return 1;
    }
    for (int j = 0; j < jobs; j++) {
        pid_t p = fork();
        if (p < 0) {
            perror("fork");
            return 1;
        }
        if (p == 0) {
            uint64_t r[2] = { 0, 0 };
            int e = rand_job(argv[1], writes, blocks, limit, (uint64_t)j + 1, &r[0], &r[1]);
            if (e || write(fds[1], r, sizeof(r)) != sizeof(r))
                _exit(1);
            _exit(0);
        }
    }
    close(fds[1]);
    for (int j = 0; j < jobs; j++) {
        uint64_t r[2];
        if (read(fds[0], r, sizeof(r)) != sizeof(r)) {
            bad = 1;
            break;
        }
        total += r[0];
        longest = r[1] > longest ? r[1] : longest;
    }
    while (wait(NULL) > 0)
        ;
    if (bad) {
        fprintf(stderr, "iotool: a job failed\n");
        return 1;
    }
    printf("io-rand%c%d %llu %llu\n", writes ? 'w' : 'r', jobs, (unsigned long long)total,
           (unsigned long long)longest);
    return 0;
}

static int send_zeros(int argc, char **argv)
{
    static char buf[65536];
    struct sockaddr_in sa = { .sin_family = AF_INET };
    uint64_t left;
    int fd;

    if (argc != 4 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "usage: iotool send IP PORT MIB\n");
        return 2;
    }
    sa.sin_port = htons((uint16_t)atoi(argv[2]));
    left = strtoull(argv[3], NULL, 0) << 20;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        return 1;
    }
    while (left) {
        ssize_t n = write(fd, buf, left < sizeof(buf) ? left : sizeof(buf));

        if (n <= 0) {
            perror("write");
            return 1;
        }
        left -= (uint64_t)n;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "now") == 0) {
        printf("%llu\n", (unsigned long long)now_ns());
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "randread") == 0)
        return randio(argc - 1, argv + 1, 0);
    if (argc >= 2 && strcmp(argv[1], "randwrite") == 0)
        return randio(argc - 1, argv + 1, 1);
    if (argc >= 2 && strcmp(argv[1], "send") == 0)
        return send_zeros(argc - 1, argv + 1);
    fprintf(stderr, "usage: iotool now | randread|randwrite DEV BLOCKS SECONDS [JOBS] | "
                    "send IP PORT MIB\n");
    return 2;
}
