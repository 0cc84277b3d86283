/* The host terminal as the guest's console: raw mode while the guest runs
 * (restored on every exit path, signals included) and QEMU's Ctrl-A
 * escapes: x quits, b sends a break (Linux's SysRq: type the key next),
 * c switches to the monitor (cli/monitor.c) and back, h lists them,
 * Ctrl-A Ctrl-A sends one Ctrl-A.
 * Main thread, except console_write (any thread). */
#ifndef CORRAL_CLI_CONSOLE_H
#define CORRAL_CLI_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* Put stdin in raw mode if it is a terminal. */
void console_raw(void);
/* Restore the terminal (idempotent, async-signal-safe): a newline if the
 * cursor is not at the start of a line, then whatever the terminal still
 * sends (replies to the guest's queries, such as a cursor position) is
 * read and dropped so it never reaches the host shell. */
void console_restore(void);

#define CONSOLE_LINE_MAX 256
struct console_filter {
    struct vm *vm;   /* for Ctrl-A b and the monitor; NULL: neither */
    bool escape;     /* saw Ctrl-A */
    bool monitor;    /* Ctrl-A c: input is a monitor command line */
    int csi;         /* monitor: inside a terminal escape sequence */
    int reply_csi;   /* a terminal's reply being recognized */
    char line[CONSOLE_LINE_MAX];
    size_t line_len;
};
/* Filter host input in place; returns the bytes left for the guest.
 * Sets *quit when the user typed Ctrl-A x (or quit in the monitor). */
size_t console_filter_input(struct console_filter *f, uint8_t *buf, size_t len,
                            bool *quit);
/* Text for the user on the console (the terminal when guest output goes
 * to a file), with "\n" written as "\r\n". */
void console_say(const char *text);

/* Output sink for the UART: writes everything to stdout or a file.
 * `opaque` non-NULL marks the guest's output (console thread only). */
void console_write(void *opaque, const uint8_t *buf, size_t len);
/* Redirect guest output to a file (--console file:PATH). */
int console_open_file(const char *path);
/* --console pty: a new pseudo-terminal for the guest's console; its name
 * goes into `name`. Returns the fd to read guest input from, or -errno.
 * Output nobody reads is dropped rather than stalling the guest. */
int console_open_pty(char *name, size_t len);

/* The monitor (monitor.c): run one command line typed after Ctrl-A c.
 * Prints its answer with console_say; sets *quit for "quit". */
void monitor_command(struct vm *vm, const char *line, bool *quit);

#endif
