/* The power button (virtio-input) through its virtio-mmio registers, with
 * no CPU and no I/O thread: the test is the driver and serves queue
 * notifications itself. Covers the config space (select/subsel answers),
 * a press before any driver (refused), a press held until the driver
 * posts buffers, delivery in order, a too-small buffer, the FIFO limit,
 * the status queue, reset, the saved state (round trip and hostile
 * values refused), and the board: the button is in the slot after the
 * configured devices, and a machine state saved before the board had it
 * (no section for it) still loads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/input-event-codes.h>
#include <linux/virtio_input.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio_input.h"
#include "machine/virt.h"
#include "mem/bus.h"
#include "state/state.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1024 * 1024)
#define MMIO 0x10008000ULL
#define QN 8
#define QRING(q) (RAM_BASE + 0x8000 * (uint64_t)(q)) /* desc; avail +0x1000; used +0x2000 */
#define EVBUF(i) (RAM_BASE + 0x40000 + 0x10 * (uint64_t)(i))

static struct bus bus;
#define VDRV_MMIO MMIO
#define VDRV_QN QN
#define VDRV_QRING QRING
#include "virtio_driver.h"

static struct virtio_input *dev;
static int irq_raised;

static void count_irq(void *opaque, unsigned line, bool level)
{
    (void)opaque, (void)line;
    irq_raised += level;
}

/* What the I/O thread would do on the notify eventfd. */
static void serve(void)
{
    virtio_driver_serve(virtio_input_dev(dev));
}

/* Reset, negotiate VERSION_1 only, both queues, DRIVER_OK. */
static void bring_up(void)
{
    features_ok();
    queue_up(0);
    queue_up(1);
    wr(0x070, 4, 0xf);
    assert_int_equal(rd(0x070, 4), 0xf);
}

static uint32_t used_len(unsigned q, unsigned i)
{
    uint32_t len;
    memcpy(&len, ram(QRING(q) + 0x2000 + 4 + 8 * (i % QN) + 4), 4);
    return len;
}

static void post_event_buffers(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        post(0, i, EVBUF(i), sizeof(struct virtio_input_event), VIRTQ_DESC_F_WRITE);
    wr(0x050, 4, 0);
    serve();
}

static void assert_event(unsigned i, uint16_t type, uint16_t code, uint32_t value)
{
    struct virtio_input_event e;
    memcpy(&e, ram(EVBUF(i)), sizeof(e));
    assert_int_equal(e.type, type);
    assert_int_equal(e.code, code);
    assert_int_equal(e.value, value);
}

static void assert_press_delivered(unsigned first)
{
    assert_event(first, EV_KEY, KEY_POWER, 1);
    assert_event(first + 1, EV_SYN, SYN_REPORT, 0);
    assert_event(first + 2, EV_KEY, KEY_POWER, 0);
    assert_event(first + 3, EV_SYN, SYN_REPORT, 0);
}

static uint32_t pending(void)
{
    struct virtio_input_stats st;
    virtio_input_get_stats(dev, &st);
    return st.pending;
}

static int setup(void **state)
{
    (void)state;
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(gmem_init(&bus.ram, RAM_BASE, RAM_SIZE), 0);
    struct irq_line irq = { .set = count_irq, .line = 8 };
    dev = virtio_input_create(&bus.ram, NULL, irq);
    assert_non_null(dev);
    assert_int_equal(virtio_mmio_attach(virtio_input_dev(dev), &bus, MMIO), 0);
    irq_raised = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    virtio_input_destroy(dev);
    dev = NULL;
    gmem_destroy(&bus.ram);
    return 0;
}

/* select/subsel -> size; the answer's bytes from `u` (offset 8). */
static unsigned ask(uint8_t select, uint8_t subsel)
{
    wr(0x100, 1, select);
    wr(0x101, 1, subsel);
    return (unsigned)rd(0x102, 1);
}

static void read_u(void *out, unsigned n)
{
    uint8_t *p = out;
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)rd(0x108 + i, 1);
}

static void test_config_space(void **state)
{
    (void)state;
    assert_int_equal(rd(0x000, 4), 0x74726976);
    assert_int_equal(rd(0x008, 4), 18); /* VIRTIO_ID_INPUT */
    wr(0x014, 4, 0);
    assert_int_equal(rd(0x010, 4) & 0xffffff, 0); /* no device-specific feature bits */

    char s[129] = { 0 };
    unsigned n = ask(VIRTIO_INPUT_CFG_ID_NAME, 0);
    assert_int_equal(n, strlen("Corral power button"));
    read_u(s, n);
    assert_string_equal(s, "Corral power button");
    memset(s, 0, sizeof(s));
    n = ask(VIRTIO_INPUT_CFG_ID_SERIAL, 0);
    assert_true(n > 0);
    read_u(s, n);
    assert_string_equal(s, "corral-power0");

    struct virtio_input_devids ids;
    assert_int_equal(ask(VIRTIO_INPUT_CFG_ID_DEVIDS, 0), sizeof(ids));
    read_u(&ids, sizeof(ids));
    assert_int_equal(ids.bustype, 0x06); /* BUS_VIRTUAL */
    assert_int_equal(ids.product, 1);

    /* EV_KEY: KEY_POWER and nothing else. */
    uint8_t bm[128];
    n = ask(VIRTIO_INPUT_CFG_EV_BITS, EV_KEY);
    assert_int_equal(n, KEY_POWER / 8 + 1);
    read_u(bm, n);
    for (unsigned bit = 0; bit < n * 8; bit++)
        assert_int_equal((bm[bit / 8] >> (bit % 8)) & 1, bit == KEY_POWER);
    n = ask(VIRTIO_INPUT_CFG_EV_BITS, EV_SYN);
    assert_int_equal(n, 1);
    read_u(bm, 1);
    assert_int_equal(bm[0], 1u << SYN_REPORT);

    /* Nothing else: no properties, axes, relative events, LEDs, repeat. */
    assert_int_equal(ask(VIRTIO_INPUT_CFG_PROP_BITS, 0), 0);
    assert_int_equal(ask(VIRTIO_INPUT_CFG_EV_BITS, EV_REL), 0);
    assert_int_equal(ask(VIRTIO_INPUT_CFG_EV_BITS, EV_ABS), 0);
    assert_int_equal(ask(VIRTIO_INPUT_CFG_EV_BITS, EV_LED), 0);
    assert_int_equal(ask(VIRTIO_INPUT_CFG_EV_BITS, EV_REP), 0);
    assert_int_equal(ask(VIRTIO_INPUT_CFG_ABS_INFO, 0), 0);
    assert_int_equal(ask(VIRTIO_INPUT_CFG_UNSET, 0), 0);
    assert_int_equal(ask(VIRTIO_INPUT_CFG_ID_NAME, 1), 0); /* subsel must be 0 */
    assert_int_equal(ask(0x7f, 0), 0);
    read_u(bm, 8);
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(bm[i], 0); /* no stale answer left in u */

    /* A 16-bit write sets select and subsel together; size and u are the
     * device's (driver writes ignored). */
    wr(0x100, 2, VIRTIO_INPUT_CFG_EV_BITS | EV_KEY << 8);
    assert_int_equal(rd(0x102, 1), KEY_POWER / 8 + 1);
    wr(0x102, 1, 99);
    wr(0x108, 4, 0xffffffff);
    assert_int_equal(rd(0x102, 1), KEY_POWER / 8 + 1);
    assert_int_equal(rd(0x108, 4), 0);
    /* Past the config space: ignored, reads 0. */
    wr(0x100 + sizeof(struct virtio_input_config), 1, 1);
    assert_int_equal(rd(0x100 + sizeof(struct virtio_input_config), 1), 0);
}

static void test_press_without_driver(void **state)
{
    (void)state;
    assert_int_equal(virtio_input_press_power(dev), -ENODEV);
    struct virtio_input_stats st;
    virtio_input_get_stats(dev, &st);
    assert_int_equal(st.presses, 0);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.pending, 0);
}

static void test_press_held_until_buffers(void **state)
{
    (void)state;
    bring_up();
    assert_int_equal(virtio_input_press_power(dev), 0);
    assert_int_equal(pending(), 4);
    assert_int_equal(used_idx(0), 0);
    /* Two buffers: the first half of the press; the rest waits. */
    post_event_buffers(2);
    assert_int_equal(used_idx(0), 2);
    assert_int_equal(pending(), 2);
    assert_event(0, EV_KEY, KEY_POWER, 1);
    assert_event(1, EV_SYN, SYN_REPORT, 0);
    for (unsigned i = 2; i < 4; i++)
        post(0, i, EVBUF(i), sizeof(struct virtio_input_event), VIRTQ_DESC_F_WRITE);
    wr(0x050, 4, 0);
    serve();
    assert_int_equal(used_idx(0), 4);
    assert_int_equal(pending(), 0);
    assert_press_delivered(0);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(used_len(0, i), sizeof(struct virtio_input_event));
    assert_true(irq_raised > 0);
    assert_true(rd(0x060, 4) & VIRTIO_INT_USED);
}

static void test_press_into_posted_buffers(void **state)
{
    (void)state;
    bring_up();
    post_event_buffers(6);
    assert_int_equal(used_idx(0), 0); /* nothing to say yet */
    assert_int_equal(virtio_input_press_power(dev), 0);
    assert_int_equal(used_idx(0), 4); /* at once, no notification needed */
    assert_press_delivered(0);
    assert_int_equal(pending(), 0);
}

static void test_short_buffer(void **state)
{
    (void)state;
    bring_up();
    post(0, 0, EVBUF(0), 4, VIRTQ_DESC_F_WRITE);                      /* too small */
    post(0, 1, EVBUF(1), sizeof(struct virtio_input_event), 0);       /* not writable */
    wr(0x050, 4, 0);
    serve();
    assert_int_equal(virtio_input_press_power(dev), 0);
    assert_int_equal(used_idx(0), 2);
    assert_int_equal(used_len(0, 0), 0);
    assert_int_equal(used_len(0, 1), 0);
    assert_int_equal(pending(), 4); /* every event still waits */
}

static void test_fifo_limit(void **state)
{
    (void)state;
    bring_up();
    unsigned ok = 0;
    for (unsigned i = 0; i < VIRTIO_INPUT_PENDING_MAX; i++)
        ok += virtio_input_press_power(dev) == 0;
    assert_int_equal(ok, VIRTIO_INPUT_PENDING_MAX / 4);
    assert_int_equal(virtio_input_press_power(dev), -ENOSPC);
    assert_int_equal(pending(), VIRTIO_INPUT_PENDING_MAX);
}

static void test_status_queue(void **state)
{
    (void)state;
    bring_up();
    post(1, 0, EVBUF(0), sizeof(struct virtio_input_event), 0); /* an LED event */
    post(1, 1, EVBUF(1), sizeof(struct virtio_input_event), 0);
    wr(0x050, 4, 1);
    serve();
    assert_int_equal(used_idx(1), 2);
    assert_int_equal(used_len(1, 0), 0);
}

static void test_malformed_chain(void **state)
{
    (void)state;
    bring_up();
    post(0, 0, RAM_BASE + RAM_SIZE - 4, 64, VIRTQ_DESC_F_WRITE); /* runs past RAM */
    wr(0x050, 4, 0);
    serve();
    assert_int_equal(virtio_input_press_power(dev), 0);
    assert_true(rd(0x070, 4) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(used_idx(0), 0);
    /* A broken device has no driver to hear the button. */
    assert_int_equal(virtio_input_press_power(dev), -ENODEV);
}

static void test_reset_drops_pending(void **state)
{
    (void)state;
    bring_up();
    assert_int_equal(virtio_input_press_power(dev), 0);
    assert_int_equal(pending(), 4);
    wr(0x070, 4, 0);
    assert_int_equal(pending(), 0);
    bring_up();
    post_event_buffers(4);
    assert_int_equal(used_idx(0), 0);
}

/* The device's section as the machine writes it. With `crafted`, the
 * waiting events saved are replaced by a count and n events of the test's
 * choosing (the device must have none waiting: its u32 count is then the
 * section's last field). */
static void save_as(struct state_out *o, const struct virtio_input_event *crafted,
                    uint32_t count, uint32_t n)
{
    state_out_init(o);
    state_out_header(o);
    state_begin(o, "virtio.7", VIRTIO_STATE_VERSION, 0);
    virtio_mmio_save_state(virtio_input_dev(dev), o);
    if (crafted) {
        assert_int_equal(pending(), 0);
        o->len -= 4;
        state_put_u32(o, count);
        for (uint32_t i = 0; i < n; i++) {
            state_put_u16(o, crafted[i].type);
            state_put_u16(o, crafted[i].code);
            state_put_u32(o, crafted[i].value);
        }
    }
    state_end(o);
    assert_int_equal(state_out_status(o), 0);
}

static void save(struct state_out *o, const struct virtio_input_event *crafted, uint32_t n)
{
    save_as(o, crafted, n, n);
}

static int load(const struct state_out *o, char *err, size_t errlen)
{
    struct state_in in;
    struct state_section s;
    if (state_in_open(&in, o->buf, o->len, "t", err, errlen) ||
        state_in_expect(&in, "virtio.7", VIRTIO_STATE_VERSION, &s))
        return -EINVAL;
    int r = virtio_mmio_load_state(virtio_input_dev(dev), &s.body, s.version);
    return r ? r : state_in_finish(&s.body);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    bring_up();
    assert_int_equal(virtio_input_press_power(dev), 0);
    (void)ask(VIRTIO_INPUT_CFG_EV_BITS, EV_KEY);
    struct state_out o;
    save(&o, NULL, 0);
    /* Into a fresh device: the same waiting events and config answer. */
    teardown(NULL);
    setup(NULL);
    char err[256] = "";
    assert_int_equal(load(&o, err, sizeof(err)), 0);
    state_out_free(&o);
    assert_int_equal(pending(), 4);
    assert_int_equal(rd(0x102, 1), KEY_POWER / 8 + 1);
    struct virtio_input_stats st;
    virtio_input_get_stats(dev, &st);
    assert_int_equal(st.presses, 1);
    post_event_buffers(4);
    assert_press_delivered(0);
}

static void test_state_hostile(void **state)
{
    (void)state;
    bring_up();
    char err[256];
    struct state_out o;
    struct virtio_input_event ev[VIRTIO_INPUT_PENDING_MAX + 1];
    for (unsigned i = 0; i <= VIRTIO_INPUT_PENDING_MAX; i++)
        ev[i] = (struct virtio_input_event){ .type = EV_SYN, .code = SYN_REPORT };

    /* A key this button does not have. */
    ev[1] = (struct virtio_input_event){ .type = EV_KEY, .code = KEY_A, .value = 1 };
    save(&o, ev, 2);
    assert_int_equal(load(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not the power button's"));
    state_out_free(&o);
    /* A key value other than press/release (autorepeat is not offered). */
    ev[1] = (struct virtio_input_event){ .type = EV_KEY, .code = KEY_POWER, .value = 2 };
    save(&o, ev, 2);
    assert_int_equal(load(&o, err, sizeof(err)), -EINVAL);
    state_out_free(&o);
    /* More waiting events than the FIFO holds. */
    ev[1] = ev[0];
    save(&o, ev, VIRTIO_INPUT_PENDING_MAX + 1);
    assert_int_equal(load(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "waiting input events"));
    state_out_free(&o);
    /* A count that runs past the section. */
    save_as(&o, ev, 4, 2);
    assert_int_equal(load(&o, err, sizeof(err)), -EINVAL);
    state_out_free(&o);
    assert_int_equal(pending(), 0); /* nothing of the refused states stuck */

    /* The largest honest state loads. */
    ev[0] = (struct virtio_input_event){ .type = EV_KEY, .code = KEY_POWER, .value = 1 };
    save(&o, ev, VIRTIO_INPUT_PENDING_MAX);
    assert_int_equal(load(&o, err, sizeof(err)), 0);
    state_out_free(&o);
    assert_int_equal(pending(), VIRTIO_INPUT_PENDING_MAX);
    assert_int_equal(virtio_input_press_power(dev), -ENOSPC);
}

/* ---- the button on the board ---- */
static struct machine *board(void)
{
    struct machine_config cfg = { .ncpus = 1, .mem_size = 64ULL << 20, .rng = true };
    struct machine *m;
    char err[VIRT_ERR_LEN];
    assert_int_equal(machine_create(&m, &cfg, err), 0);
    return m;
}

/* A copy of stream `o` without its top-level section `id` (sections are
 * self-framed, so the others are copied as they are). Returns how many
 * were left out. */
static unsigned without_section(const struct state_out *o, const char *id,
                                struct state_out *out)
{
    char err[256];
    struct state_in in;
    struct state_section sec;
    unsigned n = 0;
    state_out_init(out);
    state_out_header(out);
    assert_int_equal(state_in_open(&in, o->buf, o->len, "t", err, sizeof(err)), 0);
    for (size_t at = in.off; state_in_next(&in, &sec) > 0; at = in.off) {
        if (strcmp(sec.id, id))
            state_put_bytes(out, o->buf + at, in.off - at);
        else
            n++;
    }
    return n;
}

static void test_board_slot_and_old_state(void **state)
{
    (void)state;
    struct machine *a = board(), *b = board();
    /* rng in slot 0, the button right after it, last. */
    assert_int_equal(a->nvirtio, 2);
    assert_ptr_equal(a->virtio[1], virtio_input_dev(a->power_button));
    assert_int_equal(a->virtio[1]->ops->device_id, 18);
    assert_int_equal(machine_press_power_button(a), -ENODEV); /* no guest driver */

    struct state_out o;
    state_out_init(&o);
    state_out_header(&o);
    machine_save_state(a, &o);
    assert_int_equal(state_out_status(&o), 0);
    char err[256] = "";
    struct state_in in;
    assert_int_equal(state_in_open(&in, o.buf, o.len, "t", err, sizeof(err)), 0);
    assert_int_equal(machine_load_state(b, &in), 0);

    /* The same stream without the button's section, as an older Corral
     * wrote it, loads; without the rng's it is refused: only the button
     * may lack one. */
    struct state_out old;
    assert_int_equal(without_section(&o, "virtio.1", &old), 1);
    assert_int_equal(state_in_open(&in, old.buf, old.len, "old", err, sizeof(err)), 0);
    assert_int_equal(machine_load_state(b, &in), 0);
    assert_int_equal(state_in_left(&in), 0);
    state_out_free(&old);
    assert_int_equal(without_section(&o, "virtio.0", &old), 1);
    assert_int_equal(state_in_open(&in, old.buf, old.len, "old", err, sizeof(err)), 0);
    assert_int_equal(machine_load_state(b, &in), -EINVAL);
    assert_non_null(strstr(err, "virtio.0"));

    state_out_free(&old);
    state_out_free(&o);
    machine_destroy(a);
    machine_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_press_without_driver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_press_held_until_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_press_into_posted_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_drops_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_hostile, setup, teardown),
        cmocka_unit_test(test_board_slot_and_old_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
