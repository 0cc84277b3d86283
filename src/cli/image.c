/* corral image debian ... OUT.qcow2: the build is a pipeline of host tools
 * (debootstrap, mkfs.ext4, debugfs, qemu-img) around one Corral run, so it
 * lives in scripts/debian-image.sh; this execs it with this binary as its
 * runner (CORRAL_BIN). The script checks the arguments and prints its own
 * one-line errors. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef CORRAL_SOURCE_DIR
#define CORRAL_SOURCE_DIR "."
#endif

#define IMAGE_SCRIPT "debian-image.sh"

/* The script beside this binary's tree (build/corral -> scripts/), else in
 * the source tree it was built from. */
static int find_script(const char *exe, char *out, size_t len)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", exe);
    const char *bindir = dirname(copy);
    const char *const fmts[] = { "%s/../scripts/" IMAGE_SCRIPT, "%s/scripts/" IMAGE_SCRIPT };
    const char *const bases[] = { bindir, CORRAL_SOURCE_DIR };
    for (unsigned i = 0; i < 2; i++) {
        int n = snprintf(out, len, fmts[i], bases[i]);
        if (n > 0 && (size_t)n < len && access(out, X_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

int cli_image(int argc, char **argv)
{
    char exe[PATH_MAX], script[PATH_MAX];
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage_error("image: which system? corral image debian [options] OUT.qcow2%s",
                               "");
    if (strcmp(argv[1], "debian"))
        return cli_usage_error("image %s: unknown kind (only 'debian')", argv[1]);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "corral: error: image: cannot find this binary: %s\n", strerror(errno));
        return 1;
    }
    exe[n] = '\0';
    if (find_script(exe, script, sizeof(script))) {
        fprintf(stderr, "corral: error: image: %s not found beside %s or in %s/scripts\n",
                IMAGE_SCRIPT, exe, CORRAL_SOURCE_DIR);
        return 1;
    }
    if (setenv("CORRAL_BIN", exe, 1)) {
        fprintf(stderr, "corral: error: image: %s\n", strerror(errno));
        return 1;
    }
    /* argv[0] is "image": the script sees "debian" and the options. */
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (!args) {
        fprintf(stderr, "corral: error: out of memory\n");
        return 1;
    }
    args[0] = script;
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    execv(script, args);
    fprintf(stderr, "corral: error: image: %s: %s\n", script, strerror(errno));
    free(args);
    return 1;
}
