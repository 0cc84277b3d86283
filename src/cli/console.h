/* The host terminal as the guest's console: raw mode while the guest runs
 * (restored on every exit path, signals included) and the Ctrl-A escape
 * (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h prints help).
 * Main thread, except console_write (any thread). */
#ifndef CORRAL_CLI_CONSOLE_H
#define CORRAL_CLI_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Put stdin in raw mode if it is a terminal. */
void console_raw(void);
/* Restore the terminal (idempotent, async-signal-safe). */
void console_restore(void);

struct console_filter {
    bool escape; /* saw Ctrl-A */
};
/* Filter host input in place; returns the bytes left for the guest.
 * Sets *quit when the user typed Ctrl-A x. */
size_t console_filter_input(struct console_filter *f, uint8_t *buf, size_t len,
                            bool *quit);

/* Output sink for the UART: writes everything to stdout or a file. */
void console_write(void *opaque, const uint8_t *buf, size_t len);
/* Redirect guest output to a file (--console file:PATH). */
int console_open_file(const char *path);
/* --console pty: a new pseudo-terminal for the guest's console; its name
 * goes into `name`. Returns the fd to read guest input from, or -errno.
 * Output nobody reads is dropped rather than stalling the guest. */
int console_open_pty(char *name, size_t len);

#endif
