/* Split virtqueue device side: rings built by hand in a small guest RAM,
 * popped and pushed with no transport. Malformed chains of every kind
 * must be refused with -EINVAL, never crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define BASE 0x80000000ULL
#define RAM (1024 * 1024)
#define QN 8
#define DESC (BASE + 0x1000)
#define AVAIL (BASE + 0x2000)
#define USED (BASE + 0x3000)
#define BUF (BASE + 0x10000)
#define ITABLE (BASE + 0x8000)

static struct gmem mem;
static struct virtq q;
static struct virtq_chain *chain;
static char err[256];

static void *gp(gpa_t a)
{
    return gmem_ptr(&mem, a, 1);
}

static void set_desc(gpa_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
    memcpy(gp(table + 16ULL * i), &d, sizeof(d));
}

static void put16(gpa_t a, uint16_t v)
{
    memcpy(gp(a), &v, 2);
}

static uint16_t get16(gpa_t a)
{
    uint16_t v;
    memcpy(&v, gp(a), 2);
    return v;
}

static uint32_t get32(gpa_t a)
{
    uint32_t v;
    memcpy(&v, gp(a), 4);
    return v;
}

/* Publish head `h` as the next available entry. */
static void offer(uint16_t h)
{
    uint16_t idx = get16(AVAIL + 2);
    put16(AVAIL + 4 + 2 * (idx % QN), h);
    put16(AVAIL + 2, (uint16_t)(idx + 1));
}

static int setup(void **state)
{
    assert_int_equal(gmem_init(&mem, BASE, RAM), 0);
    chain = calloc(1, sizeof(*chain));
    virtq_init(&q, &mem);
    virtq_reset(&q, QN);
    q.desc_gpa = DESC;
    q.avail_gpa = AVAIL;
    q.used_gpa = USED;
    q.indirect = true;
    assert_int_equal(virtq_enable(&q, err, sizeof(err)), 0);
    return 0;
}

static int teardown(void **state)
{
    free(chain);
    gmem_destroy(&mem);
    return 0;
}

static void test_empty(void **state)
{
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 0);
    assert_false(virtq_has_avail(&q));
}

static void test_simple_chain_and_push(void **state)
{
    set_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 3);
    set_desc(DESC, 3, BUF + 0x100, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 5);
    set_desc(DESC, 5, BUF + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
    memcpy(gp(BUF), "0123456789abcdef", 16);
    offer(0);
    assert_true(virtq_has_avail(&q));
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
    assert_int_equal(chain->head, 0);
    assert_int_equal(chain->nout, 1);
    assert_int_equal(chain->nin, 2);
    assert_int_equal(chain->out_len, 16);
    assert_int_equal(chain->in_len, 101);
    char b[8];
    assert_int_equal(virtq_chain_read(chain, 10, b, 8), 6);
    assert_memory_equal(b, "abcdef", 6);
    /* A write spanning the two writable buffers. */
    uint8_t w[101];
    memset(w, 0x5a, sizeof(w));
    assert_int_equal(virtq_chain_write(&mem, chain, 0, w, sizeof(w)), 101);
    assert_int_equal(*(uint8_t *)gp(BUF + 0x200), 0x5a);
    virtq_push(&q, chain, 101);
    assert_int_equal(get16(USED + 2), 1);
    assert_int_equal(get32(USED + 4), 0);
    assert_int_equal(get32(USED + 8), 101);
    assert_true(virtq_need_notify(&q)); /* no flags: always */
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 0);
}

static void test_no_interrupt_flag(void **state)
{
    set_desc(DESC, 0, BUF, 16, 0, 0);
    put16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
    offer(0);
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
    virtq_push(&q, chain, 0);
    assert_false(virtq_need_notify(&q));
}

static void expect_bad(const char *what)
{
    int r = virtq_pop(&q, chain, err, sizeof(err));
    if (r != -EINVAL)
        fail_msg("%s: pop returned %d, expected -EINVAL", what, r);
    assert_true(strlen(err) > 0);
}

static void test_addr_outside_ram(void **state)
{
    set_desc(DESC, 0, BASE + RAM - 8, 16, 0, 0); /* straddles the end */
    offer(0);
    expect_bad("straddling buffer");
    set_desc(DESC, 1, 0x1000, 16, 0, 0); /* below RAM */
    offer(1);
    expect_bad("buffer below RAM");
    set_desc(DESC, 2, UINT64_MAX - 4, 16, 0, 0); /* wraps */
    offer(2);
    expect_bad("wrapping address");
}

static void test_len_4g(void **state)
{
    set_desc(DESC, 0, BUF, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    expect_bad("4 GiB length");
}

static void test_loop(void **state)
{
    set_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(DESC, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    offer(0);
    expect_bad("two-descriptor loop");
    set_desc(DESC, 2, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    offer(2);
    expect_bad("self loop");
}

static void test_next_out_of_range(void **state)
{
    set_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, QN);
    offer(0);
    expect_bad("next beyond the table");
}

static void test_head_out_of_range(void **state)
{
    offer(QN + 3);
    expect_bad("head beyond the table");
}

static void test_avail_jump(void **state)
{
    put16(AVAIL + 2, QN + 1);
    expect_bad("available index too far ahead");
}

static void test_readable_after_writable(void **state)
{
    set_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(DESC, 1, BUF, 16, 0, 0);
    offer(0);
    expect_bad("readable after writable");
}

static void test_indirect(void **state)
{
    set_desc(ITABLE, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc(ITABLE, 2, BUF + 0x100, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(ITABLE, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    set_desc(DESC, 4, ITABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
    assert_int_equal(chain->head, 4);
    assert_int_equal(chain->nout, 1);
    assert_int_equal(chain->nin, 2);
    assert_int_equal(chain->in_len, 513);
    assert_ptr_equal(chain->seg[1].host, gp(BUF + 0x100));
}

static void test_indirect_without_feature(void **state)
{
    q.indirect = false;
    set_desc(ITABLE, 0, BUF, 16, 0, 0);
    set_desc(DESC, 0, ITABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_bad("indirect not negotiated");
}

static void test_indirect_malformed(void **state)
{
    set_desc(ITABLE, 0, BUF, 16, 0, 0);
    set_desc(DESC, 0, ITABLE, 24, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_bad("table length not a multiple of 16");

    set_desc(DESC, 1, ITABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 2);
    offer(1);
    expect_bad("INDIRECT with NEXT");

    set_desc(ITABLE, 0, ITABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(DESC, 2, ITABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(2);
    expect_bad("nested indirect");

    set_desc(ITABLE, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(ITABLE, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    set_desc(DESC, 3, ITABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(3);
    expect_bad("loop inside an indirect table");

    set_desc(DESC, 4, BASE + RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
    expect_bad("indirect table outside RAM");

    set_desc(DESC, 5, ITABLE, 0, VIRTQ_DESC_F_INDIRECT, 0);
    offer(5);
    expect_bad("empty indirect table");
}

static void test_event_idx(void **state)
{
    q.event_idx = true;
    set_desc(DESC, 0, BUF, 16, 0, 0);
    /* Empty: the device publishes avail_event = last_avail. */
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 0);
    assert_int_equal(get16(USED + 4 + 8 * QN), 0);

    put16(AVAIL + 4 + 2 * QN, 0); /* used_event: interrupt after entry 0 */
    offer(0);
    offer(0);
    offer(0);
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
    virtq_push(&q, chain, 0); /* used idx 0 -> 1 crosses used_event 0 */
    assert_true(virtq_need_notify(&q));
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
    virtq_push(&q, chain, 0); /* 1 -> 2: the driver asked for nothing more */
    assert_false(virtq_need_notify(&q));
    put16(AVAIL + 4 + 2 * QN, 2); /* interrupt once entry 2 is used */
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
    virtq_push(&q, chain, 0);
    assert_true(virtq_need_notify(&q));
    /* Drained: avail_event now asks for a kick at entry 3. */
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 0);
    assert_int_equal(get16(USED + 4 + 8 * QN), 3);
}

static void test_event_idx_wrap(void **state)
{
    q.event_idx = true;
    q.used_idx = q.signalled = 0xfffe;
    q.last_avail = 0xfffe;
    put16(AVAIL + 2, 0xfffe);
    set_desc(DESC, 0, BUF, 16, 0, 0);
    put16(AVAIL + 4 + 2 * QN, 0xffff);
    offer(0);
    offer(0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
        virtq_push(&q, chain, 0);
    }
    /* used went 0xfffe -> 0x0000, crossing used_event 0xffff. */
    assert_int_equal(get16(USED + 2), 0);
    assert_true(virtq_need_notify(&q));
}

static void test_enable_checks(void **state)
{
    struct virtq v;
    virtq_init(&v, &mem);
    virtq_reset(&v, QN);
    v.desc_gpa = DESC + 8; /* not 16-aligned */
    v.avail_gpa = AVAIL;
    v.used_gpa = USED;
    assert_int_equal(virtq_enable(&v, err, sizeof(err)), -EINVAL);
    v.desc_gpa = BASE + RAM - 64; /* 8 x 16 bytes do not fit */
    assert_int_equal(virtq_enable(&v, err, sizeof(err)), -EINVAL);
    v.desc_gpa = DESC;
    v.num = 6; /* not a power of 2 */
    assert_int_equal(virtq_enable(&v, err, sizeof(err)), -EINVAL);
    v.num = VIRTQ_MAX_SIZE * 2;
    assert_int_equal(virtq_enable(&v, err, sizeof(err)), -EINVAL);
    v.num = QN;
    assert_int_equal(virtq_enable(&v, err, sizeof(err)), 0);
    assert_true(v.ready);
}

static void test_save_load(void **state)
{
    set_desc(DESC, 0, BUF, 16, 0, 0);
    offer(0);
    assert_int_equal(virtq_pop(&q, chain, err, sizeof(err)), 1);
    virtq_push(&q, chain, 0);
    struct virtq_state st;
    virtq_save(&q, &st);
    struct virtq v;
    virtq_init(&v, &mem);
    assert_int_equal(virtq_load(&v, &st), 0);
    assert_true(v.ready);
    assert_int_equal(v.last_avail, 1);
    assert_int_equal(v.used_idx, 1);
    st.desc = BASE + RAM; /* a saved ring outside RAM is refused */
    assert_int_equal(virtq_load(&v, &st), -EINVAL);
}

static void test_dma_invalidates_code(void **state)
{
    uint64_t gen = atomic_load(&mem.code_gen);
    atomic_store(&mem.code_map[0x11], 3);
    gmem_dma_written(&mem, BUF + 0x1000, 8); /* page 0x11 */
    assert_int_equal(atomic_load(&mem.code_map[0x11]), 0);
    assert_true(atomic_load(&mem.code_gen) != gen);
    gen = atomic_load(&mem.code_gen);
    gmem_dma_written(&mem, BUF, 8); /* not a code page: nothing to do */
    assert_int_equal(atomic_load(&mem.code_gen), gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_empty),
        T(test_simple_chain_and_push),
        T(test_no_interrupt_flag),
        T(test_addr_outside_ram),
        T(test_len_4g),
        T(test_loop),
        T(test_next_out_of_range),
        T(test_head_out_of_range),
        T(test_avail_jump),
        T(test_readable_after_writable),
        T(test_indirect),
        T(test_indirect_without_feature),
        T(test_indirect_malformed),
        T(test_event_idx),
        T(test_event_idx_wrap),
        T(test_enable_checks),
        T(test_save_load),
        T(test_dma_invalidates_code),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
