/* SiFive test finisher (sifive,test1, also a syscon for Linux's
 * syscon-poweroff/syscon-reboot): how the guest powers off, reboots or
 * reports a test result. Threads: the MMIO handler and so the callback run
 * on the hart thread that wrote the register; the callback should only
 * record the request (e.g. ask the VM loop to stop) and return. */
#ifndef CORRAL_DEVICES_SIFIVE_TEST_H
#define CORRAL_DEVICES_SIFIVE_TEST_H

#include "core/types.h"
#include "mem/bus.h"

#define SIFIVE_TEST_BASE 0x100000ULL
#define SIFIVE_TEST_SIZE 0x1000ULL

enum sifive_test_event {
    SIFIVE_TEST_PASS,  /* poweroff, exit status 0 */
    SIFIVE_TEST_FAIL,  /* exit with `code` */
    SIFIVE_TEST_RESET, /* reboot */
};

typedef void sifive_test_event_fn(void *opaque, enum sifive_test_event ev,
                                  unsigned code);

struct sifive_test {
    sifive_test_event_fn *on_event;
    void *opaque;
};

/* Stateless, but kept in the same shape as the other devices. */
struct sifive_test_state {
    uint32_t reserved;
};

/* NULL when on_event is NULL or on no memory. */
struct sifive_test *sifive_test_create(sifive_test_event_fn *on_event,
                                       void *opaque);
void sifive_test_destroy(struct sifive_test *t);
int sifive_test_attach(struct sifive_test *t, struct bus *b,
                       gpa_t base) WARN_UNUSED;
void sifive_test_save(const struct sifive_test *t,
                      struct sifive_test_state *out);
int sifive_test_load(struct sifive_test *t,
                     const struct sifive_test_state *in) WARN_UNUSED;

struct state_out;
struct state_in;
#define SIFIVE_TEST_STATE_VERSION 1
void sifive_test_save_state(const struct sifive_test *t, struct state_out *o);
int sifive_test_load_state(struct sifive_test *t, struct state_in *in,
                           uint32_t version) WARN_UNUSED;
#endif
