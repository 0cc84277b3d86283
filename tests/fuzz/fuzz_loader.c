/* The ELF and RISC-V Image loaders on hostile files: the input becomes a
 * memfd, loaded as an ELF test program into a 1 MiB RAM, and parsed as a
 * Linux Image header. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "machine/loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gmem mem;
    static bool init;
    if (!init) {
        if (gmem_init(&mem, 0x80000000ULL, 1 << 20))
            return 0;
        init = true;
    }
    char err[LOADER_ERR_LEN];
    struct riscv_image_info info;
    (void)loader_parse_riscv_image(data, size, "fuzz", &info, err);

    int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64];
        uint64_t entry;
        gpa_t tohost;
        size_t len;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        (void)loader_load_elf(&mem, path, &entry, &tohost, err);
        (void)loader_load_blob(&mem, 0x80000000ULL + 0x1000, path, "blob", &len, err);
    }
    close(fd);
    return 0;
}
