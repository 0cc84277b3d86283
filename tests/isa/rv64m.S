/* RV64M: multiply high parts with every signedness, division by zero and
 * signed overflow results, W forms' sign extension. */
#include "common.h"

#define MIN64 0x8000000000000000
#define MIN32 0xffffffff80000000

TEST_BEGIN
    /* ---- mul ---- */
    TEST_RR mul, 0, 0, 12345
    TEST_RR mul, 6, 2, 3
    TEST_RR mul, -6, -2, 3
    TEST_RR mul, 6, -2, -3
    TEST_RR mul, 0xfffffffffffffffe, 0x7fffffffffffffff, 2
    TEST_RR mul, MIN64, MIN64, 0xffffffffffffffff
    TEST_RR mul, 0x2c744933bc6bca57, 0x0123456789abcdef, 0xfedcba9876543219
    /* ---- mulh (signed x signed) ---- */
    TEST_RR mulh, 0, 2, 3
    TEST_RR mulh, 0xffffffffffffffff, -2, 3
    TEST_RR mulh, 0, -2, -3
    TEST_RR mulh, 0x4000000000000000, MIN64, MIN64
    TEST_RR mulh, 0x3fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff
    TEST_RR mulh, 0xc000000000000000, MIN64, 0x7fffffffffffffff
    TEST_RR mulh, 0, MIN64, 0
    TEST_RR mulh, 0xffffffffffffffff, -1, 1
    TEST_RR mulh, 0, -1, -1
    /* ---- mulhsu (signed x unsigned) ---- */
    TEST_RR mulhsu, 0xffffffffffffffff, -1, 1
    TEST_RR mulhsu, 0xffffffffffffffff, -1, 0xffffffffffffffff
    TEST_RR mulhsu, 0xc000000000000000, MIN64, MIN64
    TEST_RR mulhsu, 0x7ffffffffffffffe, 0x7fffffffffffffff, 0xffffffffffffffff
    TEST_RR mulhsu, 0x8000000000000000, MIN64, 0xffffffffffffffff
    TEST_RR mulhsu, 0, 5, 0
    /* ---- mulhu ---- */
    TEST_RR mulhu, 0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff
    TEST_RR mulhu, 0, 0xffffffffffffffff, 1
    TEST_RR mulhu, 0x4000000000000000, MIN64, MIN64
    TEST_RR mulhu, 0x0000000000000001, 0x100000000, 0x100000000
    /* ---- mulw: low 32 bits, sign-extended ---- */
    TEST_RR mulw, 6, 2, 3
    TEST_RR mulw, -6, -2, 3
    TEST_RR mulw, MIN32, 0x40000000, 2
    TEST_RR mulw, 0, 0x100000000, 0x100000000
    TEST_RR mulw, 0x00000001, 0xffffffff, 0xffffffff
    TEST_RR mulw, 1, 0x7fffffff, 0x7fffffff

    /* ---- div / divu ---- */
    TEST_RR div, 3, 20, 6
    TEST_RR div, -3, -20, 6      /* truncates toward zero */
    TEST_RR div, -3, 20, -6
    TEST_RR div, 3, -20, -6
    TEST_RR div, 0xffffffffffffffff, 1, 0      /* /0 -> -1 */
    TEST_RR div, 0xffffffffffffffff, MIN64, 0
    TEST_RR div, 0xffffffffffffffff, 0, 0
    TEST_RR div, MIN64, MIN64, -1             /* overflow -> dividend */
    TEST_RR div, MIN64, MIN64, 1
    TEST_RR divu, 3, 20, 6
    TEST_RR divu, 0x2aaaaaaaaaaaaaa7, -20, 6
    TEST_RR divu, 0, 20, -6
    TEST_RR divu, 0xffffffffffffffff, 1, 0    /* /0 -> all ones */
    TEST_RR divu, 0xffffffffffffffff, 0, 0
    TEST_RR divu, 0, MIN64, -1
    TEST_RR divu, 1, -1, -1
    /* ---- rem / remu ---- */
    TEST_RR rem, 2, 20, 6
    TEST_RR rem, -2, -20, 6      /* sign of dividend */
    TEST_RR rem, 2, 20, -6
    TEST_RR rem, -2, -20, -6
    TEST_RR rem, 123, 123, 0     /* %0 -> dividend */
    TEST_RR rem, MIN64, MIN64, 0
    TEST_RR rem, 0, MIN64, -1    /* overflow -> 0 */
    TEST_RR remu, 2, 20, 6
    TEST_RR remu, 2, -20, 6
    TEST_RR remu, 20, 20, -6
    TEST_RR remu, 123, 123, 0
    TEST_RR remu, 0xffffffffffffffff, -1, 0
    TEST_RR remu, MIN64, MIN64, -1

    /* ---- W forms: operate on the low 32 bits, sign-extend the result ---- */
    TEST_RR divw, 3, 20, 6
    TEST_RR divw, -3, -20, 6
    TEST_RR divw, 3, 0xffffffff00000014, 0x1234567800000006   /* upper bits ignored */
    TEST_RR divw, 0xffffffffffffffff, 1, 0
    TEST_RR divw, 0xffffffffffffffff, 0x100000000, 0x100000000 /* 0/0 */
    TEST_RR divw, MIN32, 0x80000000, -1    /* overflow -> dividend, sign-extended */
    TEST_RR divw, MIN32, 0x80000000, 0xffffffff
    TEST_RR divuw, 3, 20, 6
    TEST_RR divuw, 0x2aaaaaa7, 0xffffffec, 6
    TEST_RR divuw, 0xffffffffffffffff, 1, 0  /* all ones, sign-extended */
    TEST_RR divuw, MIN32, 0x80000000, 1      /* result bit 31 sign-extends */
    TEST_RR divuw, 0, 0x80000000, 0xffffffff
    TEST_RR divuw, 1, 0xffffffff, 0xffffffff
    TEST_RR remw, 2, 20, 6
    TEST_RR remw, -2, -20, 6
    TEST_RR remw, -2, 0x12345678ffffffec, 6
    TEST_RR remw, MIN32, 0x80000000, 0        /* %0 -> dividend, sign-extended */
    TEST_RR remw, 0x12345678, 0xabcdef0012345678, 0
    TEST_RR remw, 0, 0x80000000, -1           /* overflow -> 0 */
    TEST_RR remuw, 2, 20, 6
    TEST_RR remuw, 2, 0xffffffec, 6
    TEST_RR remuw, 0xffffffffffffffec, 0xffffffec, 0  /* %0 -> dividend, sign-extended */
    TEST_RR remuw, MIN32, 0x80000000, 0xffffffff
    TEST_RR remuw, 0, 0xffffffff, 0xffffffff

    /* ---- rd aliasing a source ---- */
    CASE
    li a0, 7
    li a1, 6
    mul a0, a0, a1
    CHECK a0, 42
    div a1, a0, a1
    CHECK a1, 7
    CASE                        /* x0 destination */
    li a0, 7
    mul x0, a0, a0
    div x0, a0, x0
    CHECK x0, 0

    TEST_PASS
