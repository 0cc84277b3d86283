#include "cli/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devices/uart16550.h"
#include "machine/virt.h"
#include "vm/vm.h"

static struct termios saved;
static volatile sig_atomic_t raw_active;
static int out_fd = STDOUT_FILENO;
static bool out_drops; /* pty: drop output nobody reads, never stall a hart */
/* Where escape help and the monitor answer: the user's terminal, which is
 * not out_fd when guest output goes to a file (-1: out_fd). */
static int say_fd = -1;
static void write_out(int fd, const uint8_t *buf, size_t len);
/* The last byte written to stdout, to end the session on a fresh line. */
static _Atomic unsigned char last_out = '\n';

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Terminal queries and their replies. A guest's shell asks the terminal
 * things (ESC[6n: where is the cursor; ESC[c: what are you) and the
 * terminal answers on our input (ESC[row;colR, ESC[?...c, ESC[0n). The
 * times of the last query seen in the guest's output and of the last
 * reply seen in the input tell whether an answer is still on its way. */
static _Atomic int64_t last_query_ms = -1, last_reply_ms = -1;

/* One byte through a CSI recognizer (*st: 0 outside, 1 after ESC, 2 in
 * the parameters); true when a sequence ends with one of `finals`. */
static bool csi_ends(int *st, uint8_t c, const char *finals)
{
    if (c == 0x1b) {
        *st = 1;
        return false;
    }
    if (*st == 1) {
        *st = c == '[' ? 2 : 0;
        return false;
    }
    if (*st != 2)
        return false;
    if ((c >= '0' && c <= '9') || c == ';' || c == '?' || c == '>')
        return false;
    *st = 0;
    return c && strchr(finals, c);
}

/* Guest output (console thread only). */
static int out_csi;
static void note_queries(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (csi_ends(&out_csi, buf[i], "nc"))
            atomic_store(&last_query_ms, mono_ms());
}

/* Replies that are still on their way when the guest stops would land in
 * the shell that started us: read and drop input, still in raw mode,
 * until it has been quiet for 100 ms (at most 500 ms); when the guest's
 * last query has no reply yet, wait up to a second for that reply first. */
static void drain_input(void)
{
    uint8_t junk[256];
    int st = 0;
    bool awaiting = atomic_load(&last_query_ms) > atomic_load(&last_reply_ms);
    int64_t end = mono_ms() + (awaiting ? 1000 : 500);
    for (;;) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
        int r = poll(&p, 1, awaiting || left < 100 ? (int)left : 100);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || !(p.revents & POLLIN))
            break;
        ssize_t n = read(STDIN_FILENO, junk, sizeof(junk));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (csi_ends(&st, junk[i], "Rcn"))
                awaiting = false;
    }
}

void console_restore(void)
{
    if (raw_active) {
        if (atomic_load(&last_out) != '\n' && write(STDOUT_FILENO, "\r\n", 2) == 2)
            atomic_store(&last_out, '\n');
        drain_input();
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
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

void console_say(const char *text)
{
    int fd = say_fd >= 0 ? say_fd : out_fd;
    while (*text) {
        size_t n = strcspn(text, "\n");
        write_out(fd, (const uint8_t *)text, n);
        text += n;
        if (*text == '\n') {
            write_out(fd, (const uint8_t *)"\r\n", 2);
            text++;
        }
    }
}

static const char escape_help[] =
    "\nC-a h    print this help\n"
    "C-a x    exit corral (the guest stops)\n"
    "C-a b    send a break; the next key is Linux's SysRq (h: its help)\n"
    "C-a c    switch between the console and the monitor ('help' there)\n"
    "C-a C-a  send C-a to the guest\n";

/* Ctrl-A b. The bytes typed before it in this read go to the guest first:
 * Linux takes the byte after a break as the SysRq key. */
static void send_break(struct console_filter *f, const uint8_t *before, size_t n)
{
    struct machine *m = NULL;
    if (f->vm) {
        pthread_mutex_lock(&f->vm->lock);
        m = f->vm->m;
        pthread_mutex_unlock(&f->vm->lock);
    }
    if (!m) {
        console_say("\n[corral: no guest running: no break sent]\n");
        return;
    }
    int64_t end = mono_ms() + 500;
    size_t done = 0;
    /* The guest empties its receive FIFO within milliseconds. */
    for (;;) {
        done += machine_console_input(m, before + done, n - done);
        if (done == n && uart_send_break(m->uart) == 0)
            return;
        if (mono_ms() >= end)
            break;
        usleep(2000);
    }
    console_say("\n[corral: the guest is not reading its console: no break sent]\n");
}

static void monitor_prompt(void)
{
    console_say("(corral) ");
}

/* One byte of a monitor command line: edit, echo, run on Enter. */
static void monitor_byte(struct console_filter *f, uint8_t c, bool *quit)
{
    if (f->csi) { /* skip terminal escape sequences (arrow keys ...) */
        if (f->csi == 1 && (c == '[' || c == 'O'))
            f->csi = 2;
        else if (f->csi == 1 || (c >= 0x40 && c <= 0x7e))
            f->csi = 0;
        return;
    }
    if (c == 0x1b) {
        f->csi = 1;
    } else if (c == '\r' || c == '\n') {
        console_say("\n");
        f->line[f->line_len] = 0;
        if (f->line_len)
            monitor_command(f->vm, f->line, quit);
        f->line_len = 0;
        if (!*quit)
            monitor_prompt();
    } else if (c == 0x7f || c == 0x08) {
        if (f->line_len) {
            f->line_len--;
            console_say("\b \b");
        }
    } else if (c == 0x03 || c == 0x15) { /* Ctrl-C, Ctrl-U: drop the line */
        f->line_len = 0;
        console_say("^C\n");
        monitor_prompt();
    } else if (c >= 0x20 && c < 0x7f && f->line_len + 1 < sizeof(f->line)) {
        f->line[f->line_len++] = (char)c;
        const char echo[2] = { (char)c, 0 };
        console_say(echo);
    }
}

size_t console_filter_input(struct console_filter *f, uint8_t *buf, size_t len, bool *quit)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (csi_ends(&f->reply_csi, c, "Rcn"))
            atomic_store(&last_reply_ms, mono_ms());
        if (f->escape) {
            f->escape = false;
            switch (c) {
            case 'x': case 'X':
                *quit = true;
                return o;
            case 'h': case 'H': case '?':
                console_say(escape_help);
                if (f->monitor)
                    monitor_prompt();
                continue;
            case 'b': case 'B':
                send_break(f, buf, o);
                o = 0;
                continue;
            case 'c': case 'C':
                if (!f->vm)
                    break;
                f->monitor = !f->monitor;
                f->line_len = 0;
                f->csi = 0;
                if (f->monitor) {
                    console_say("\n[corral monitor: 'help' lists its commands; C-a c "
                                "returns to the guest]\n");
                    monitor_prompt();
                } else {
                    console_say("\n[back to the guest console]\n");
                }
                continue;
            default:
                break;
            }
            if (f->monitor)
                continue; /* an unknown escape means nothing to the monitor */
            if (c != 0x01)
                buf[o++] = 0x01; /* not an escape: pass both through */
            buf[o++] = c;
            continue;
        }
        if (c == 0x01) {
            f->escape = true;
            continue;
        }
        if (f->monitor) {
            monitor_byte(f, c, quit);
            if (*quit)
                return o;
            continue;
        }
        buf[o++] = c;
    }
    return o;
}

static void write_out(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
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
        if (n == 0)
            return;
        if (fd == STDOUT_FILENO)
            atomic_store(&last_out, buf[n - 1]);
        buf += n;
        len -= (size_t)n;
    }
}

void console_write(void *opaque, const uint8_t *buf, size_t len)
{
    if (opaque) /* the guest's output (console_say passes NULL) */
        note_queries(buf, len);
    write_out(out_fd, buf, len);
}

int console_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    out_fd = fd;
    say_fd = STDOUT_FILENO;
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
