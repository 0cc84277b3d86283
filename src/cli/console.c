#include "cli/console.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static volatile sig_atomic_t raw_active;
static int out_fd = STDOUT_FILENO;
static bool out_drops; /* pty: drop output nobody reads, never stall a hart */

void console_restore(void)
{
    if (raw_active) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        raw_active = 0;
    }
}

/* A crash must not leave the user's terminal in raw mode. */
static void fatal_signal(int sig)
{
    console_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

void console_raw(void)
{
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
        return;
    t = saved;
    /* Raw input; keep output post-processing so host-side messages print
     * normally. Ctrl-C goes to the guest (ISIG off). */
    t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(unsigned)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
        raw_active = 1;
        signal(SIGSEGV, fatal_signal);
        signal(SIGBUS, fatal_signal);
        signal(SIGABRT, fatal_signal);
        signal(SIGFPE, fatal_signal);
        signal(SIGILL, fatal_signal);
    }
}

size_t console_filter_input(struct console_filter *f, uint8_t *buf, size_t len, bool *quit)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (f->escape) {
            f->escape = false;
            if (c == 'x' || c == 'X') {
                *quit = true;
                return o;
            }
            if (c == 'h' || c == 'H' || c == '?') {
                static const char help[] =
                    "\r\nC-a x    exit corral\r\nC-a C-a  send C-a to the guest\r\nC-a h    this help\r\n";
                console_write(NULL, (const uint8_t *)help, sizeof(help) - 1);
                continue;
            }
            if (c != 0x01)
                buf[o++] = 0x01; /* not an escape: pass both through */
            buf[o++] = c;
            continue;
        }
        if (c == 0x01) {
            f->escape = true;
            continue;
        }
        buf[o++] = c;
    }
    return o;
}

void console_write(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    while (len) {
        ssize_t n = write(out_fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (out_drops)
                    return;
                usleep(1000);
                continue;
            }
            return; /* output gone (closed pipe): drop it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

int console_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    out_fd = fd;
    return 0;
}

int console_open_pty(char *name, size_t len)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, name, len) != 0)
        goto fail;
    /* Hold the other end open ourselves: with no client attached the
     * master would otherwise report hang-up and lose its input side. */
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        goto fail;
    struct termios t;
    if (tcgetattr(slave, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(slave, TCSANOW, &t);
    }
    /* `slave` stays open for the life of the process (intentionally). */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        goto fail;
    out_fd = fd;
    out_drops = true;
    return fd;
fail:;
    int e = errno ? errno : EIO;
    close(fd);
    return -e;
}
