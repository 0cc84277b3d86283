/* corral up --debian (up_debian.c): the cached full Debian system. Main
 * thread, before the VM is created and after it is gone. */
#ifndef CORRAL_CLI_UP_DEBIAN_H
#define CORRAL_CLI_UP_DEBIAN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct up_debian {
    char dir[PATH_MAX];               /* ${XDG_CACHE_HOME:-~/.cache}/corral/debian/SUITE */
    char base[PATH_MAX + 16];         /* dir/base.qcow2 (scripts/debian-image.sh) */
    char kernel[PATH_MAX + 16];       /* dir/Image: Debian's kernel from the image */
    char initrd[PATH_MAX + 16];       /* dir/initrd.img: its initramfs-tools initrd */
    char overlay[PATH_MAX + 64];      /* dir/run/overlay-PID.qcow2; "" when none */
    char disk_spec[PATH_MAX + 96];    /* --disk value for the overlay */
    char net_spec[64];                /* --net value with the SSH forward; "" without */
    int ssh_port;                     /* host port forwarded to the guest's 22; 0: none */
};

/* The cache directory of SUITE's build; 0 or -ENAMETOOLONG. */
int up_debian_dir(const char *suite, char *dir, size_t len);
/* Check the build is there, create the overlay and, with want_net, pick
 * a host port for SSH. 0, or 1 with the reason printed (how to build it
 * when it is missing). */
int up_debian_prepare(struct up_debian *u, const char *suite, bool want_net);
/* The login and SSH lines for the user (stderr). */
void up_debian_banner(const struct up_debian *u);
/* Remove the overlay (idempotent). */
void up_debian_finish(struct up_debian *u);

#endif
