/* Loading host files into guest RAM: raw blobs (firmware, initramfs), the
 * RISC-V Linux Image format, and bare-metal ELF test programs. Errors come
 * back as -errno plus a one-line message naming the file. Main thread. */
#ifndef CORRAL_MACHINE_LOADER_H
#define CORRAL_MACHINE_LOADER_H

#include "core/types.h"
#include "mem/gmem.h"

#define LOADER_ERR_LEN 512

/* Every loader opens without blocking (a FIFO fails at once) and takes
 * regular files only, checking the size with fstat before reading. */

/* Whole file into a malloc'd buffer; -ENOSPC if larger than `max`. */
int loader_read_file_max(const char *path, size_t max, uint8_t **buf, size_t *len,
                         char *err) WARN_UNUSED;
int loader_read_file(const char *path, uint8_t **buf, size_t *len,
                     char *err) WARN_UNUSED;
/* The whole file straight into guest RAM at `addr` (no host copy);
 * -ENOSPC before reading anything if it does not fit. *len: its size. */
int loader_load_blob(struct gmem *m, gpa_t addr, const char *path, const char *what,
                     size_t *len, char *err) WARN_UNUSED;

/* RISC-V Image header (Documentation/arch/riscv/boot-image-header.rst). */
struct riscv_image_info {
    uint64_t text_offset; /* load offset from the start of RAM */
    uint64_t image_size;  /* bytes the kernel occupies, bss included */
};
int loader_parse_riscv_image(const uint8_t *buf, size_t len, const char *path,
                             struct riscv_image_info *info, char *err) WARN_UNUSED;

/* Copy `len` bytes to guest RAM at `addr`; error if it does not fit. */
int loader_place(struct gmem *m, gpa_t addr, const uint8_t *buf, size_t len,
                 const char *path, const char *what, char *err) WARN_UNUSED;

/* ELF64 RISC-V executable: PT_LOAD segments at their physical addresses.
 * `tohost` is the address of the symbol of that name, or 0. */
int loader_load_elf(struct gmem *m, const char *path, uint64_t *entry,
                    gpa_t *tohost, char *err) WARN_UNUSED;

#endif
