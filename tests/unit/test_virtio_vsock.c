/* virtio-vsock through its virtio-mmio registers with a fake guest and
 * real host unix sockets, no CPU and no I/O thread: the test is the
 * driver, serves queue notifications itself and calls virtio_vsock_poll
 * where the I/O thread would wake. Covers the config space, a host-
 * initiated connection (CONNECT / REQUEST / RESPONSE / OK), a guest-
 * initiated one to "<uds>_<port>" and one with no listener (RST), data
 * both ways, the guest's credit honoured and our credit updates, host EOF
 * (SHUTDOWN), guest shutdown (host EOF, RST), hostile packets (short
 * chain, bad type, foreign CID, lying length, unknown op, small rx
 * buffer), a bad CONNECT line, the saved state (TRANSPORT_RESET after a
 * load, another CID refused) and the board's saved configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio_vsock.h"
#include "machine/virt.h"
#include "mem/bus.h"
#include "state/state.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (4 * 1024 * 1024)
#define MMIO 0x10008000ULL
#define QN 16
#define QRING(q) (RAM_BASE + 0x8000 * (uint64_t)(q)) /* desc; avail +0x1000; used +0x2000 */
#define RXBUF(i) (RAM_BASE + 0x100000 + 0x11000 * (uint64_t)(i))
#define RXLEN (44 + 4096)
#define TXBUF (RAM_BASE + 0x80000)
#define EVBUF (RAM_BASE + 0x40000)
#define CID 42

static struct bus bus;
#define VDRV_MMIO MMIO
#define VDRV_QN QN
#define VDRV_QRING QRING
#include "virtio_driver.h"

static struct virtio_vsock *dev;
static char dir[64], uds[96];
static uint16_t seen[3]; /* used entries consumed per queue */
static unsigned tx_slot;

static void no_irq(void *opaque, unsigned line, bool level)
{
    (void)opaque, (void)line, (void)level;
}

static void serve(void)
{
    virtio_driver_serve(virtio_vsock_dev(dev));
}

/* Driver bring-up with `nrx` rx buffers posted and one event buffer. */
static void bring_up(unsigned nrx, uint32_t rxlen)
{
    wr(0x070, 4, 0);
    memset(ram(QRING(0)), 0, 0x18000);
    memset(seen, 0, sizeof(seen));
    tx_slot = 0;
    features_ok();
    for (unsigned q = 0; q < 3; q++)
        queue_up(q);
    wr(0x070, 4, 0xf);
    assert_int_equal(rd(0x070, 4), 0xf);
    for (unsigned i = 0; i < nrx; i++)
        post(0, i, RXBUF(i), rxlen, VIRTQ_DESC_F_WRITE);
    post(2, 0, EVBUF, 4, VIRTQ_DESC_F_WRITE);
    wr(0x050, 4, 0);
    serve();
}

/* The next packet the device put in rx (false: none). Its buffer is
 * posted again. */
static bool next_rx(struct virtio_vsock_hdr *h, void *payload, size_t max)
{
    if (used_idx(0) == seen[0])
        return false;
    uint32_t id, len;
    memcpy(&id, ram(QRING(0) + 0x2000 + 4 + 8 * (seen[0] % QN)), 4);
    memcpy(&len, ram(QRING(0) + 0x2000 + 4 + 8 * (seen[0] % QN) + 4), 4);
    seen[0]++;
    assert_true(len >= sizeof(*h));
    memcpy(h, ram(RXBUF(id)), sizeof(*h));
    assert_int_equal(len, sizeof(*h) + h->len);
    if (payload) {
        assert_true(h->len <= max);
        memcpy(payload, ram(RXBUF(id) + sizeof(*h)), h->len);
    }
    post(0, id, RXBUF(id), RXLEN, VIRTQ_DESC_F_WRITE);
    return true;
}

static void expect_rx(struct virtio_vsock_hdr *h, uint16_t op)
{
    assert_true(next_rx(h, NULL, 0));
    assert_int_equal(h->op, op);
    assert_int_equal(h->src_cid, VSOCK_HOST_CID);
    assert_int_equal(h->dst_cid, CID);
    assert_int_equal(h->type, VIRTIO_VSOCK_TYPE_STREAM);
}

/* Send one packet as the guest; `chain_len` 0 means header + payload. */
static void send_raw(const struct virtio_vsock_hdr *h, const void *payload, uint32_t plen,
                     uint32_t chain_len)
{
    gpa_t at = TXBUF + 0x11000 * (uint64_t)(tx_slot % 4);
    memcpy(ram(at), h, sizeof(*h));
    if (plen)
        memcpy(ram(at + sizeof(*h)), payload, plen);
    post(1, tx_slot % QN, at, chain_len ? chain_len : (uint32_t)sizeof(*h) + plen, 0);
    tx_slot++;
    wr(0x050, 4, 1);
    serve();
}

static struct virtio_vsock_hdr pkt(uint32_t src_port, uint32_t dst_port, uint16_t op)
{
    return (struct virtio_vsock_hdr){ .src_cid = CID, .dst_cid = VSOCK_HOST_CID,
                                      .src_port = src_port, .dst_port = dst_port,
                                      .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op,
                                      .buf_alloc = 65536 };
}

static void send_pkt(uint32_t src_port, uint32_t dst_port, uint16_t op, const void *payload,
                     uint32_t plen)
{
    struct virtio_vsock_hdr h = pkt(src_port, dst_port, op);
    h.len = plen;
    send_raw(&h, payload, plen, 0);
}

static int host_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(s >= 0);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return s;
}

static int host_listen(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s, 4), 0);
    return s;
}

/* Read exactly n bytes (1 s at most) from a host socket. */
static void host_read(int s, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = { .fd = s, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 1000), 1);
        ssize_t r = read(s, (char *)buf + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* The VMM closed its end (a close with our bytes unread is a reset). */
static bool host_eof(int s)
{
    char c;
    struct pollfd p = { .fd = s, .events = POLLIN };
    return poll(&p, 1, 1000) == 1 && read(s, &c, 1) <= 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_vsock.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(uds, sizeof(uds), "%s/v.sock", dir);
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(gmem_init(&bus.ram, RAM_BASE, RAM_SIZE), 0);
    char err[200];
    dev = virtio_vsock_create(CID, uds, &bus.ram, NULL, (struct irq_line){ .set = no_irq }, err,
                              sizeof(err));
    assert_non_null(dev);
    assert_int_equal(virtio_mmio_attach(virtio_vsock_dev(dev), &bus, MMIO), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    virtio_vsock_destroy(dev);
    dev = NULL;
    gmem_destroy(&bus.ram);
    char p[128];
    for (int port = 7000; port < 7003; port++) {
        snprintf(p, sizeof(p), "%s_%d", uds, port);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static void test_config_and_create(void **state)
{
    (void)state;
    assert_int_equal(rd(0x000, 4), 0x74726976);
    assert_int_equal(rd(0x008, 4), 19);
    assert_int_equal(rd(0x100, 4), CID);
    assert_int_equal(rd(0x104, 4), 0);
    char err[200];
    assert_null(virtio_vsock_create(2, "/tmp/x", &bus.ram, NULL, (struct irq_line){ 0 }, err,
                                    sizeof(err)));
    assert_non_null(strstr(err, "guest_cid"));
    /* uds_path taken by a file that is not a socket */
    char f[128];
    snprintf(f, sizeof(f), "%s/plain", dir);
    int fd = open(f, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_null(virtio_vsock_create(CID, f, &bus.ram, NULL, (struct irq_line){ 0 }, err,
                                    sizeof(err)));
    assert_non_null(strstr(err, "not a socket"));
    unlink(f);
}

/* Host CONNECT 5000 -> REQUEST, RESPONSE -> "OK <port>\n"; returns the
 * host socket and the host port. */
static int host_initiated(uint32_t *host_port)
{
    int s = host_connect(uds);
    assert_int_equal(write(s, "CONNECT 5000\n", 13), 13);
    virtio_vsock_poll(dev);
    virtio_vsock_poll(dev);
    struct virtio_vsock_hdr h;
    expect_rx(&h, VIRTIO_VSOCK_OP_REQUEST);
    assert_int_equal(h.dst_port, 5000);
    assert_true(h.src_port >= 1024);
    assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
    *host_port = h.src_port;
    send_pkt(5000, h.src_port, VIRTIO_VSOCK_OP_RESPONSE, NULL, 0);
    char ok[32];
    int n = snprintf(ok, sizeof(ok), "OK %u\n", h.src_port);
    char got[32] = { 0 };
    host_read(s, got, (size_t)n);
    assert_string_equal(got, ok);
    return s;
}

static void test_host_initiated(void **state)
{
    (void)state;
    bring_up(8, RXLEN);
    uint32_t hp;
    int s = host_initiated(&hp);
    assert_int_equal(virtio_vsock_nconns(dev), 1);
    /* host -> guest */
    assert_int_equal(write(s, "hello", 5), 5);
    virtio_vsock_poll(dev);
    struct virtio_vsock_hdr h;
    char buf[64];
    assert_true(next_rx(&h, buf, sizeof(buf)));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
    assert_int_equal(h.len, 5);
    assert_int_equal(h.src_port, hp);
    assert_int_equal(h.dst_port, 5000);
    assert_memory_equal(buf, "hello", 5);
    /* guest -> host */
    send_pkt(5000, hp, VIRTIO_VSOCK_OP_RW, "world", 5);
    host_read(s, buf, 5);
    assert_memory_equal(buf, "world", 5);
    /* credit request: an update with what we forwarded */
    send_pkt(5000, hp, VIRTIO_VSOCK_OP_CREDIT_REQUEST, NULL, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    assert_int_equal(h.fwd_cnt, 5);
    assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
    /* host EOF: SHUTDOWN(SEND); the guest shuts down both: RST, host EOF */
    shutdown(s, SHUT_WR);
    virtio_vsock_poll(dev);
    expect_rx(&h, VIRTIO_VSOCK_OP_SHUTDOWN);
    assert_int_equal(h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
    struct virtio_vsock_hdr sh = pkt(5000, hp, VIRTIO_VSOCK_OP_SHUTDOWN);
    sh.flags = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
    send_raw(&sh, NULL, 0, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    assert_true(host_eof(s));
    assert_int_equal(virtio_vsock_nconns(dev), 0);
    close(s);
}

static void test_guest_credit(void **state)
{
    (void)state;
    bring_up(8, RXLEN);
    uint32_t hp;
    int s = host_initiated(&hp);
    /* The guest has room for 10 bytes only. */
    struct virtio_vsock_hdr c = pkt(5000, hp, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    c.buf_alloc = 10;
    send_raw(&c, NULL, 0, 0);
    char data[100];
    memset(data, 'x', sizeof(data));
    assert_int_equal(write(s, data, sizeof(data)), (ssize_t)sizeof(data));
    virtio_vsock_poll(dev);
    virtio_vsock_poll(dev);
    struct virtio_vsock_hdr h;
    assert_true(next_rx(&h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
    assert_int_equal(h.len, 10);
    assert_false(next_rx(&h, NULL, 0));
    /* It consumed them: 10 more. */
    c.fwd_cnt = 10;
    send_raw(&c, NULL, 0, 0);
    virtio_vsock_poll(dev);
    assert_true(next_rx(&h, NULL, 0));
    assert_int_equal(h.len, 10);
    assert_false(next_rx(&h, NULL, 0));
    /* A hostile fwd_cnt beyond what was sent gives no credit. */
    c.fwd_cnt = 1000;
    send_raw(&c, NULL, 0, 0);
    virtio_vsock_poll(dev);
    assert_false(next_rx(&h, NULL, 0));
    close(s);
}

static void test_guest_initiated(void **state)
{
    (void)state;
    bring_up(8, RXLEN);
    char path[128];
    snprintf(path, sizeof(path), "%s_7000", uds);
    int l = host_listen(path);
    send_pkt(1234, 7000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
    struct virtio_vsock_hdr h;
    expect_rx(&h, VIRTIO_VSOCK_OP_RESPONSE);
    assert_int_equal(h.src_port, 7000);
    assert_int_equal(h.dst_port, 1234);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    send_pkt(1234, 7000, VIRTIO_VSOCK_OP_RW, "ping", 4);
    char buf[8];
    host_read(s, buf, 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(write(s, "pong", 4), 4);
    virtio_vsock_poll(dev);
    assert_true(next_rx(&h, buf, sizeof(buf)));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
    assert_memory_equal(buf, "pong", 4);
    /* The guest stops sending: the host reads EOF, can still write. */
    struct virtio_vsock_hdr sh = pkt(1234, 7000, VIRTIO_VSOCK_OP_SHUTDOWN);
    sh.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
    send_raw(&sh, NULL, 0, 0);
    assert_true(host_eof(s));
    /* The host closes: SHUTDOWN(SEND) to the guest, which closes too. */
    close(s);
    virtio_vsock_poll(dev);
    expect_rx(&h, VIRTIO_VSOCK_OP_SHUTDOWN);
    assert_int_equal(h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
    sh.flags = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
    send_raw(&sh, NULL, 0, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    /* Nobody listens on 7001: RST. A second REQUEST on an open
     * connection: RST too. */
    send_pkt(1235, 7001, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    assert_int_equal(h.dst_port, 1235);
    send_pkt(1236, 7000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RESPONSE);
    send_pkt(1236, 7000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    assert_int_equal(virtio_vsock_nconns(dev), 0);
    close(l);
}

static void test_hostile_packets(void **state)
{
    (void)state;
    bring_up(8, RXLEN);
    struct virtio_vsock_hdr h;
    /* Foreign source CID: dropped, no reply. */
    struct virtio_vsock_hdr b = pkt(1, 7000, VIRTIO_VSOCK_OP_REQUEST);
    b.src_cid = 99;
    send_raw(&b, NULL, 0, 0);
    assert_false(next_rx(&h, NULL, 0));
    /* Datagram type, unknown op, RW for no connection, a length longer
     * than the chain: RST each. */
    b = pkt(2, 7000, VIRTIO_VSOCK_OP_REQUEST);
    b.type = 3;
    send_raw(&b, NULL, 0, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    send_pkt(3, 7000, 99, NULL, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    send_pkt(4, 7000, VIRTIO_VSOCK_OP_RW, "abc", 3);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    b = pkt(5, 7000, VIRTIO_VSOCK_OP_REQUEST);
    b.len = 0xffffffff;
    send_raw(&b, NULL, 0, 0);
    expect_rx(&h, VIRTIO_VSOCK_OP_RST);
    /* An RST for nothing: no reply. */
    send_pkt(6, 7000, VIRTIO_VSOCK_OP_RST, NULL, 0);
    assert_false(next_rx(&h, NULL, 0));
    assert_int_equal(rd(0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
    /* A chain shorter than a header: the device needs a reset. */
    send_raw(&b, NULL, 0, 20);
    assert_int_equal(rd(0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, VIRTIO_STATUS_NEEDS_RESET);
    /* rx buffers too small for a header: needs reset as well. */
    bring_up(2, 16);
    assert_int_equal(rd(0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
    send_pkt(7, 7002, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
    assert_int_equal(rd(0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, VIRTIO_STATUS_NEEDS_RESET);
}

static void test_bad_connect_line(void **state)
{
    (void)state;
    bring_up(8, RXLEN);
    int s = host_connect(uds);
    assert_int_equal(write(s, "HELLO 5000\n", 11), 11);
    virtio_vsock_poll(dev);
    virtio_vsock_poll(dev);
    assert_true(host_eof(s));
    close(s);
    s = host_connect(uds);
    char junk[64];
    memset(junk, 'A', sizeof(junk));
    assert_int_equal(write(s, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    virtio_vsock_poll(dev);
    virtio_vsock_poll(dev);
    assert_true(host_eof(s));
    close(s);
    struct virtio_vsock_hdr h;
    assert_false(next_rx(&h, NULL, 0));
    assert_int_equal(virtio_vsock_nconns(dev), 0);
}

static void save(struct state_out *o)
{
    state_out_init(o);
    state_out_header(o);
    state_begin(o, "virtio.0", VIRTIO_STATE_VERSION, 0);
    virtio_mmio_save_state(virtio_vsock_dev(dev), o);
    state_end(o);
    assert_int_equal(state_out_status(o), 0);
}

static int load(const struct state_out *o)
{
    struct state_in in;
    struct state_section s;
    char err[200];
    if (state_in_open(&in, o->buf, o->len, "t", err, sizeof(err)) ||
        state_in_expect(&in, "virtio.0", VIRTIO_STATE_VERSION, &s))
        return -EINVAL;
    int r = virtio_mmio_load_state(virtio_vsock_dev(dev), &s.body, s.version);
    return r ? r : state_in_finish(&s.body);
}

static void test_state_transport_reset(void **state)
{
    (void)state;
    bring_up(8, RXLEN);
    uint32_t hp;
    int s = host_initiated(&hp);
    struct state_out o;
    save(&o);
    assert_int_equal(load(&o), 0);
    /* Connections are gone (the host sees EOF), the guest is told. */
    assert_true(host_eof(s));
    assert_int_equal(virtio_vsock_nconns(dev), 0);
    virtio_mmio_kick_queues(virtio_vsock_dev(dev));
    serve();
    assert_int_equal(used_idx(2), 1);
    uint32_t id;
    memcpy(&id, ram(EVBUF), 4);
    assert_int_equal(id, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
    /* A state of another CID is refused. */
    state_out_free(&o);
    state_out_init(&o);
    state_out_header(&o);
    state_begin(&o, "virtio.0", VIRTIO_STATE_VERSION, 0);
    virtio_mmio_save_state(virtio_vsock_dev(dev), &o);
    o.len -= 8;
    state_put_u64(&o, 7);
    state_end(&o);
    assert_int_not_equal(load(&o), 0);
    state_out_free(&o);
    close(s);
}

/* The board's saved configuration carries the vsock subsection. */
static void test_machine_config(void **state)
{
    (void)state;
    struct machine *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->nharts = 1;
    m->bus.ram.base = VIRT_RAM_BASE;
    m->bus.ram.size = 64 << 20;
    m->cfg.vsock_cid = 9;
    m->cfg.vsock_uds = "/tmp/some.sock";
    struct state_out o;
    state_out_init(&o);
    state_out_header(&o);
    machine_config_save(m, "test", &o);
    assert_int_equal(state_out_status(&o), 0);
    struct state_in in;
    struct machine_saved_config sc;
    char err[200];
    assert_int_equal(state_in_open(&in, o.buf, o.len, "t", err, sizeof(err)), 0);
    assert_int_equal(machine_config_load(&in, &sc), 0);
    assert_int_equal(sc.cfg.vsock_cid, 9);
    assert_string_equal(sc.cfg.vsock_uds, "/tmp/some.sock");
    machine_saved_config_free(&sc);
    state_out_free(&o);
    /* No vsock: no subsection, none after a load. */
    m->cfg.vsock_cid = 0;
    state_out_init(&o);
    state_out_header(&o);
    machine_config_save(m, "test", &o);
    assert_int_equal(state_in_open(&in, o.buf, o.len, "t", err, sizeof(err)), 0);
    assert_int_equal(machine_config_load(&in, &sc), 0);
    assert_int_equal(sc.cfg.vsock_cid, 0);
    machine_saved_config_free(&sc);
    state_out_free(&o);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_and_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_initiated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_credit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_initiated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_connect_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_transport_reset, setup, teardown),
        cmocka_unit_test(test_machine_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
