/* Zba, Zbb, Zbs: every instruction, with the .uw zero-extension, W-form
 * sign extension, shift/bit-index masking and the 0 / all-ones edges. */
#include "common.h"

TEST_BEGIN
    /* ---- Zba ---- */
    TEST_RR add.uw, 0x100000000, 0xffffffffffffffff, 1
    TEST_RR add.uw, 0x0000000080000005, 0x1234567880000000, 5
    TEST_RR add.uw, 0x0000000080000000, 0xffffffff80000000, 0   /* zext.w */
    TEST_RR sh1add, 7, 3, 1
    TEST_RR sh1add, 3, 0xffffffffffffffff, 5
    TEST_RR sh1add, 0, 0x8000000000000000, 0                     /* shifted-out bit lost */
    TEST_RR sh2add, 13, 3, 1
    TEST_RR sh2add, 0x0, 0x4000000000000000, 0
    TEST_RR sh3add, 25, 3, 1
    TEST_RR sh3add, 0xfffffffffffffff8, 0xffffffffffffffff, 0
    TEST_RR sh1add.uw, 0x1ffffffff, 0xffffffffffffffff, 1
    TEST_RR sh1add.uw, 0x0000000100000000, 0x1234567880000000, 0
    TEST_RR sh2add.uw, 0x00000003fffffffc, 0xffffffffffffffff, 0
    TEST_RR sh3add.uw, 0x800000000, 0xabcdef00ffffffff, 8
    TEST_RI slli.uw, 0x00000000ffffffff, 0xffffffffffffffff, 0
    TEST_RI slli.uw, 0x00000001fffffffe, 0xffffffffffffffff, 1
    TEST_RI slli.uw, 0x8000000000000000, 0xffffffff80000000, 32
    TEST_RI slli.uw, 0x8000000000000000, 0x1234567800000001, 63

    /* ---- Zbb: logic with negation ---- */
    TEST_RR andn, 0xf000f000, 0xff00ff00, 0xffffffff0f000f00
    TEST_RR orn,  0xffffffffff0fff0f, 0x0f0f, 0x00f000f0
    TEST_RR xnor, 0xffffffffffffffff, 0x1234, 0x1234
    TEST_RR xnor, 0x0f0f0f0f0f0f0f0f, 0xf0f0f0f0f0f0f0f0, 0
    /* ---- counts ---- */
    TEST_R clz, 64, 0
    TEST_R clz, 0, 0x8000000000000000
    TEST_R clz, 63, 1
    TEST_R clz, 31, 0x100000000
    TEST_R clzw, 32, 0xffffffff00000000
    TEST_R clzw, 0, 0x80000000
    TEST_R clzw, 31, 1
    TEST_R ctz, 64, 0
    TEST_R ctz, 63, 0x8000000000000000
    TEST_R ctz, 0, 0xffffffffffffffff
    TEST_R ctz, 32, 0x100000000
    TEST_R ctzw, 32, 0xffffffff00000000
    TEST_R ctzw, 31, 0x80000000
    TEST_R ctzw, 4, 0x10
    TEST_R cpop, 0, 0
    TEST_R cpop, 64, 0xffffffffffffffff
    TEST_R cpop, 32, 0x5555555555555555
    TEST_R cpopw, 32, 0xffffffffffffffff
    TEST_R cpopw, 0, 0xffffffff00000000
    TEST_R cpopw, 1, 0x0000000180000000
    /* ---- min / max ---- */
    TEST_RR max, 1, -1, 1
    TEST_RR max, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR maxu, -1, -1, 1
    TEST_RR maxu, 0x8000000000000000, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR min, -1, -1, 1
    TEST_RR min, 0x8000000000000000, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR minu, 1, -1, 1
    TEST_RR minu, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR min, 5, 5, 5
    /* ---- extensions ---- */
    TEST_R sext.b, 0xffffffffffffff80, 0x1234567880
    TEST_R sext.b, 0x7f, 0xffffffffffffff7f
    TEST_R sext.h, 0xffffffffffff8000, 0x12348000
    TEST_R sext.h, 0x7fff, 0xffffffffffff7fff
    TEST_R zext.h, 0x8000, 0xffffffffffff8000
    TEST_R zext.h, 0x1234, 0x1234
    /* ---- rotates: amounts masked to 6 (5 for W) bits ---- */
    TEST_RR rol, 0x0000000000000003, 0x8000000000000001, 1
    TEST_RR rol, 0x8000000000000001, 0x8000000000000001, 64
    TEST_RR rol, 0x2345678901234501, 0x0123456789012345, 8
    TEST_RR ror, 0xc000000000000000, 0x8000000000000001, 1
    TEST_RR ror, 0x8000000000000001, 0x8000000000000001, 128
    TEST_RR rolw, 0x0000000000000003, 0x80000001, 1
    TEST_RR rolw, 0xffffffff80000000, 0x40000000, 33
    TEST_RR rolw, 0x0000000000000001, 0xffffffff80000000, 1
    TEST_RR rorw, 0xffffffffc0000000, 0x80000001, 1
    TEST_RR rorw, 0xffffffff80000000, 0x1234567800000001, 1
    TEST_RR rorw, 0x0000000000000001, 0x00000001, 32
    TEST_RI rori, 0xc000000000000000, 0x8000000000000001, 1
    TEST_RI rori, 0x0000000000000003, 0x8000000000000001, 63
    TEST_RI rori, 0x1234567812345678, 0x1234567812345678, 0
    TEST_RI roriw, 0xffffffffc0000000, 0x80000001, 1
    TEST_RI roriw, 0x0000000000000003, 0x80000001, 31
    TEST_RI roriw, 0xffffffff80000000, 0xffffffff80000000, 0
    /* ---- byte ops ---- */
    TEST_R orc.b, 0xff00ffff00ff0000, 0x0100801200010000
    TEST_R orc.b, 0, 0
    TEST_R orc.b, 0xffffffffffffffff, 0x0101010101010101
    TEST_R rev8, 0xefcdab8967452301, 0x0123456789abcdef
    TEST_R rev8, 0x00000000000000ff, 0xff00000000000000

    /* ---- Zbs: index masked to 6 bits ---- */
    TEST_RR bset, 0x8000000000000000, 0, 63
    TEST_RR bset, 0x0000000000000002, 0, 65
    TEST_RR bset, 0xffffffffffffffff, 0xffffffffffffffff, 5
    TEST_RR bclr, 0x7fffffffffffffff, 0xffffffffffffffff, 63
    TEST_RR bclr, 0xfffffffffffffffe, 0xffffffffffffffff, 64
    TEST_RR binv, 0x8000000000000001, 1, 63
    TEST_RR binv, 0x0, 1, 0
    TEST_RR bext, 1, 0x8000000000000000, 63
    TEST_RR bext, 0, 0x8000000000000000, 62
    TEST_RR bext, 1, 0x2, 65
    TEST_RI bseti, 0x8000000000000000, 0, 63
    TEST_RI bseti, 0x100000000, 0, 32
    TEST_RI bclri, 0xfffffffeffffffff, 0xffffffffffffffff, 32
    TEST_RI bclri, 0, 1, 0
    TEST_RI binvi, 0x7fffffffffffffff, 0xffffffffffffffff, 63
    TEST_RI binvi, 0x80000000, 0, 31
    TEST_RI bexti, 1, 0x100000000, 32
    TEST_RI bexti, 0, 0xfffffffeffffffff, 32

    TEST_PASS
