/*
 * Guest-side helper of bench/io, a static riscv64 Linux binary (run.sh
 * builds it with riscv64-linux-gnu-gcc when that exists):
 *   iotool now                          monotonic clock in nanoseconds
 *                                       (busybox date has no sub-second)
 *   iotool randread DEV BLOCKS SECONDS  4 KiB reads at random block numbers
 *       below BLOCKS from DEV, opened O_DIRECT so each read reaches the
 *       virtio-blk device, for SECONDS; prints "io-randc READS NANOSECONDS".
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
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int randread(int argc, char **argv)
{
    uint64_t blocks, limit, t0, t, n = 0, x = 0x9e3779b97f4a7c15u;
    void *buf;
    int fd;

    if (argc != 4 || (blocks = strtoull(argv[2], NULL, 0)) == 0) {
        fprintf(stderr, "usage: iotool randread DEV BLOCKS SECONDS\n");
        return 2;
    }
    fd = open(argv[1], O_RDONLY | O_DIRECT);
    if (fd < 0 || posix_memalign(&buf, 4096, 4096)) {
        perror(argv[1]);
        return 1;
    }
    limit = strtoull(argv[3], NULL, 0) * 1000000000u;
    t0 = t = now_ns();
    while (t - t0 < limit) {
        x ^= x << 13; /* xorshift64: any spread of offsets will do */
        x ^= x >> 7;
        x ^= x << 17;
        if (pread(fd, buf, 4096, (off_t)(x % blocks) * 4096) != 4096) {
            perror("pread");
            return 1;
        }
        n++;
        t = now_ns();
    }
    printf("io-randc %llu %llu\n", (unsigned long long)n, (unsigned long long)(t - t0));
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
        return randread(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "send") == 0)
        return send_zeros(argc - 1, argv + 1);
    fprintf(stderr, "usage: iotool now | randread DEV BLOCKS SECONDS | send IP PORT MIB\n");
    return 2;
}
