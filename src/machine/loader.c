#include "machine/loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RISCV_IMAGE_MAGIC2 0x05435352U /* "RSC\x05" at offset 56 */

/* Open a file to load: never blocks (a FIFO or device node named as an
 * image must fail at once, not hang the caller), regular files only, and
 * its size known before a byte is read. */
static int open_image(const char *path, off_t *size, char *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(err, LOADER_ERR_LEN, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, LOADER_ERR_LEN, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if (st.st_size == 0) {
        snprintf(err, LOADER_ERR_LEN, "%s: file is empty", path);
        close(fd);
        return -EINVAL;
    }
    *size = st.st_size;
    return fd;
}

/* Exactly len bytes from the start of fd (a file that shrinks under us
 * is an error, not a short image). */
static int read_all(int fd, uint8_t *dst, size_t len, const char *path, char *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, dst + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            snprintf(err, LOADER_ERR_LEN, "%s: read failed: %s", path,
                     n < 0 ? strerror(e) : "the file shrank while being read");
            return -e;
        }
        done += (size_t)n;
    }
    return 0;
}

int loader_read_file_max(const char *path, size_t max, uint8_t **buf, size_t *len, char *err)
{
    off_t size;
    int fd = open_image(path, &size, err);
    if (fd < 0)
        return fd;
    if ((uint64_t)size > max) {
        snprintf(err, LOADER_ERR_LEN, "%s: %llu bytes is larger than guest RAM (%zu MiB); "
                 "give more --memory", path, (unsigned long long)size, max >> 20);
        close(fd);
        return -ENOSPC;
    }
    uint8_t *p = malloc((size_t)size);
    if (!p) {
        snprintf(err, LOADER_ERR_LEN, "%s: out of memory", path);
        close(fd);
        return -ENOMEM;
    }
    int r = read_all(fd, p, (size_t)size, path, err);
    close(fd);
    if (r) {
        free(p);
        return r;
    }
    *buf = p;
    *len = (size_t)size;
    return 0;
}

int loader_read_file(const char *path, uint8_t **buf, size_t *len, char *err)
{
    return loader_read_file_max(path, SIZE_MAX, buf, len, err);
}

int loader_load_blob(struct gmem *m, gpa_t addr, const char *path, const char *what,
                     size_t *len, char *err)
{
    off_t size;
    int fd = open_image(path, &size, err);
    if (fd < 0)
        return fd;
    void *dst = (uint64_t)size <= SIZE_MAX ? gmem_ptr(m, addr, (size_t)size) : NULL;
    if (!dst) {
        snprintf(err, LOADER_ERR_LEN,
                 "%s: %s of %llu bytes does not fit in guest RAM at 0x%llx "
                 "(RAM is 0x%llx..0x%llx; give more --memory)",
                 path, what, (unsigned long long)size, (unsigned long long)addr,
                 (unsigned long long)m->base, (unsigned long long)(m->base + m->size));
        close(fd);
        return -ENOSPC;
    }
    int r = read_all(fd, dst, (size_t)size, path, err);
    close(fd);
    if (!r)
        *len = (size_t)size;
    return r;
}

int loader_parse_riscv_image(const uint8_t *buf, size_t len, const char *path,
                             struct riscv_image_info *info, char *err)
{
    uint32_t magic2;
    if (len < 64) {
        snprintf(err, LOADER_ERR_LEN, "%s: not a RISC-V Linux Image (too short)", path);
        return -EINVAL;
    }
    memcpy(&magic2, buf + 56, 4);
    if (magic2 != RISCV_IMAGE_MAGIC2 || memcmp(buf + 48, "RISCV\0\0\0", 8) != 0) {
        snprintf(err, LOADER_ERR_LEN,
                 "%s: not a RISC-V Linux Image (no RISCV/RSC header magic)", path);
        return -EINVAL;
    }
    memcpy(&info->text_offset, buf + 8, 8);
    memcpy(&info->image_size, buf + 16, 8);
    if (info->image_size < len)
        info->image_size = len;
    if (info->text_offset & 0xfff) {
        snprintf(err, LOADER_ERR_LEN, "%s: Image text_offset 0x%llx is not page aligned",
                 path, (unsigned long long)info->text_offset);
        return -EINVAL;
    }
    return 0;
}

int loader_place(struct gmem *m, gpa_t addr, const uint8_t *buf, size_t len,
                 const char *path, const char *what, char *err)
{
    void *dst = gmem_ptr(m, addr, len);
    if (!dst) {
        snprintf(err, LOADER_ERR_LEN,
                 "%s: %s of %zu bytes does not fit in guest RAM at 0x%llx "
                 "(RAM is 0x%llx..0x%llx; give more --memory)",
                 path, what, len, (unsigned long long)addr,
                 (unsigned long long)m->base, (unsigned long long)(m->base + m->size));
        return -ENOSPC;
    }
    memcpy(dst, buf, len);
    gmem_host_wrote(m, addr, len);
    return 0;
}

static int elf_fail(char *err, const char *path, const char *why)
{
    snprintf(err, LOADER_ERR_LEN, "%s: %s", path, why);
    return -EINVAL;
}

/* Bounds helper: [off, off+size) inside a buffer of len bytes. */
static bool in_file(size_t len, uint64_t off, uint64_t size)
{
    return off <= len && size <= len - off;
}

int loader_load_elf(struct gmem *m, const char *path, uint64_t *entry,
                    gpa_t *tohost, char *err)
{
    uint8_t *buf;
    size_t len;
    /* No segment can be larger than RAM, so neither can a sane file. */
    int r = loader_read_file_max(path, m->size, &buf, &len, err);
    if (r)
        return r;
    r = -EINVAL;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
        r = elf_fail(err, path, "not an ELF file");
        goto out;
    }
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
        eh->e_machine != EM_RISCV) {
        r = elf_fail(err, path, "not a 64-bit little-endian RISC-V ELF");
        goto out;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !in_file(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
        r = elf_fail(err, path, "truncated or corrupt ELF program headers");
        goto out;
    }
    int loaded = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, buf + eh->e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || !in_file(len, ph.p_offset, ph.p_filesz)) {
            r = elf_fail(err, path, "truncated or corrupt ELF segment");
            goto out;
        }
        uint8_t *dst = gmem_ptr(m, ph.p_paddr, ph.p_memsz);
        if (!dst) {
            snprintf(err, LOADER_ERR_LEN,
                     "%s: segment at 0x%llx (+0x%llx) is outside guest RAM", path,
                     (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
            goto out;
        }
        memcpy(dst, buf + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        gmem_host_wrote(m, ph.p_paddr, ph.p_memsz);
        loaded++;
    }
    if (!loaded) {
        r = elf_fail(err, path, "ELF has no loadable segments");
        goto out;
    }
    *entry = eh->e_entry;
    *tohost = 0;
    /* Find `tohost` in the symbol table (optional). */
    if (eh->e_shentsize == sizeof(Elf64_Shdr) &&
        in_file(len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr))) {
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            Elf64_Shdr sh, strh;
            memcpy(&sh, buf + eh->e_shoff + i * sizeof(sh), sizeof(sh));
            if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh->e_shnum)
                continue;
            memcpy(&strh, buf + eh->e_shoff + sh.sh_link * sizeof(strh), sizeof(strh));
            if (!in_file(len, sh.sh_offset, sh.sh_size) ||
                !in_file(len, strh.sh_offset, strh.sh_size))
                continue;
            for (uint64_t o = 0; o + sizeof(Elf64_Sym) <= sh.sh_size; o += sizeof(Elf64_Sym)) {
                Elf64_Sym sym;
                memcpy(&sym, buf + sh.sh_offset + o, sizeof(sym));
                if (sym.st_name >= strh.sh_size)
                    continue;
                const char *name = (const char *)buf + strh.sh_offset + sym.st_name;
                size_t maxn = strh.sh_size - sym.st_name;
                if (strnlen(name, maxn) == 6 && memcmp(name, "tohost", 6) == 0)
                    *tohost = sym.st_value;
            }
        }
    }
    r = 0;
out:
    free(buf);
    return r;
}
