/* The x86-64 emitter of the translator (jit.c, jit_fp.c): bytes into the
 * code arena, the handful of instruction forms the translation uses, and
 * the register allocation state of the superblock being translated
 * (guest x registers in host registers, see jit.c). Hart thread only. */
#ifndef CORRAL_CPU_RISCV_JIT_X86_H
#define CORRAL_CPU_RISCV_JIT_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu/riscv/decode.h"
#include "cpu/riscv/hart.h"


enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RBP = 5, RSI = 6, RDI = 7,
       R8 = 8, R9, R10, R11, R12, R13, R14, R15 };
/* group-1 /ext and the r/m,reg opcodes of the same operations */
enum { G_ADD = 0, G_OR = 1, G_AND = 4, G_SUB = 5, G_XOR = 6, G_CMP = 7 };
enum { S_SHL = 4, S_SHR = 5, S_SAR = 7 };

struct emit {
    uint8_t *p, *end;
    bool full;
    /* rax may still hold the value the previous insn stored to
     * x[rax_reg] (-1: nothing known), which the next insn's first read of
     * that register into rax reuses (rax_hint). Set only by stx(RAX, rd)
     * as an insn's last step. */
    int rax_reg, rax_hint;
    /* Register allocation (one superblock): host[r] is the host register
     * holding guest x[r] (0: none, x[r] lives in the hart). `ra_on` is off
     * while exit code runs with everything written back. */
    uint8_t host[32];
    bool ra_on;
    /* allocated registers whose host copy may be newer than the hart's:
     * those written since the last helper call (at the head of a
     * superblock that loops back to it, all it ever writes) */
    uint32_t dirty;
    /* allocated registers holding only the low half of x[r] right (x[r]
     * is its sign extension; the upper half is garbage): the result of a
     * 32-bit op whose movsxd is left out until a 64-bit use needs it
     * (hreg), or a write-back stores it. Always a subset of `dirty`. While
     * `read32` is set, reads take the low half as it is (a 32-bit op). */
    uint32_t lazy;
    bool read32;
    /* callee-saved host registers pushed at entry (an even number, so
     * calls stay aligned), popped on every way out */
    uint8_t saved[8];
    unsigned nsaved;
    uint32_t threshold; /* the hart's jit_threshold (emit_enter) */
    /* What the code emitted so far has established of mstatus.FS on every
     * path to here (FS_UNKNOWN at the head, joins and side segments): an
     * F/D insn has passed its FS test (FS_ON), or one has made FS Dirty
     * (FS_DIRTY). Nothing inside a superblock turns FS off or clean (CSR
     * writes and traps end it), so the tests and stores that would only
     * repeat that are left out. */
    uint8_t fs_state;
};
enum { FS_UNKNOWN, FS_ON, FS_DIRTY };

static inline void e8(struct emit *e, unsigned v)
{
    if (e->p < e->end)
        *e->p++ = (uint8_t)v;
    else
        e->full = true;
}

static inline void e32(struct emit *e, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        e8(e, (v >> (8 * k)) & 0xff);
}

static inline void e64(struct emit *e, uint64_t v)
{
    e32(e, (uint32_t)v);
    e32(e, (uint32_t)(v >> 32));
}

static inline bool fits8(int64_t v) { return v >= -128 && v <= 127; }
static inline bool fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

/* modrm for [rdi + disp] with `reg` */
static inline void m_rdi(struct emit *e, unsigned reg, int32_t disp)
{
    if (fits8(disp)) {
        e8(e, 0x40 | (reg & 7) << 3 | RDI);
        e8(e, (uint8_t)disp);
    } else {
        e8(e, 0x80 | (reg & 7) << 3 | RDI);
        e32(e, (uint32_t)disp);
    }
}

#define XOFF(r) ((int32_t)(offsetof(struct hart, x) + 8 * (r)))

/* mov dst, src (64-bit, any of the 16 registers) */
static inline void mov_rr(struct emit *e, unsigned dst, unsigned src)
{
    e8(e, 0x48 | (src >= 8 ? 4 : 0) | (dst >= 8 ? 1 : 0));
    e8(e, 0x89);
    e8(e, 0xc0 | (src & 7) << 3 | (dst & 7));
}

/* mov reg, [rdi + disp] / mov [rdi + disp], reg (64-bit) */
static inline void ld_rdi(struct emit *e, unsigned reg, int32_t disp)
{
    e8(e, 0x48 | (reg >= 8 ? 4 : 0));
    e8(e, 0x8b);
    m_rdi(e, reg & 7, disp);
}

static inline void st_rdi(struct emit *e, unsigned reg, int32_t disp)
{
    e8(e, 0x48 | (reg >= 8 ? 4 : 0));
    e8(e, 0x89);
    m_rdi(e, reg & 7, disp);
}

static inline void movsxd(struct emit *e, unsigned reg);

/* the host register of x[r] when it is in one now, else 0; a lazily
 * sign-extended value is extended first (in place), unless the reader
 * needs the low half only (read32) */
static inline unsigned hreg(struct emit *e, unsigned r)
{
    if (!e->ra_on)
        return 0;
    if ((e->lazy >> r & 1) && !e->read32) {
        movsxd(e, e->host[r]);
        e->lazy &= ~(1u << r);
    }
    return e->host[r];
}

/* the host register x[r] is about to be written in (its inputs already
 * read), else 0: what it held no longer matters */
static inline unsigned hdst(struct emit *e, unsigned r)
{
    if (!e->ra_on)
        return 0;
    e->lazy &= ~(1u << r);
    return e->host[r];
}

/* the host register of x[r] for a reader of its low 32 bits only */
static inline unsigned hreg_lo(const struct emit *e, unsigned r)
{
    return e->ra_on ? e->host[r] : 0;
}

/* reg = x[r] */
static inline void ldx(struct emit *e, unsigned reg, unsigned r)
{
    if (reg == RAX) {
        int hint = e->rax_hint;
        e->rax_hint = -1;
        if (r != 0 && hint == (int)r)
            return; /* rax already holds x[r] */
    }
    if (r == 0) {
        e8(e, 0x31);
        e8(e, 0xc0 | reg << 3 | reg); /* xor reg32, reg32 */
        return;
    }
    if (hreg(e, r)) {
        mov_rr(e, reg, hreg(e, r));
        return;
    }
    ld_rdi(e, reg, XOFF(r));
}

/* x[r] = reg (x0 stays 0) */
static inline void stx(struct emit *e, unsigned reg, unsigned r)
{
    if (r == 0)
        return;
    if (hdst(e, r))
        mov_rr(e, hdst(e, r), reg);
    else
        st_rdi(e, reg, XOFF(r));
    if (reg == RAX)
        e->rax_reg = (int)r;
}

/* Store every allocated register back to the hart (before anything that
 * reads or writes guest registers in memory: helpers, exits). */
static inline void writeback(struct emit *e)
{
    for (unsigned r = 1; r < 32; r++)
        if (e->host[r] && (e->dirty >> r & 1)) {
            /* extended in place: on a side exit's path that changes no
             * value the main path sees (lazy stays as it is) */
            if (e->lazy >> r & 1)
                movsxd(e, e->host[r]);
            st_rdi(e, e->host[r], XOFF(r));
        }
}

/* Extend every lazy register in place (before a jump to code that
 * expects none, the superblock's head) without forgetting they were:
 * the path that does not jump has not run these. */
static inline void extend_lazy(struct emit *e)
{
    for (unsigned r = 1; r < 32; r++)
        if (e->host[r] && (e->lazy >> r & 1))
            movsxd(e, e->host[r]);
}

static inline bool callee_saved(unsigned reg)
{
    return reg == RBX || reg == RBP || reg >= R12;
}

/* Load the allocated registers: all at entry, the caller-saved ones after
 * a helper call (which may clobber them). */
static inline void reload(struct emit *e, bool all)
{
    for (unsigned r = 1; r < 32; r++)
        if (e->host[r] && (all || !callee_saved(e->host[r])))
            ld_rdi(e, e->host[r], XOFF(r));
}

static inline void push_saved(struct emit *e)
{
    for (unsigned k = 0; k < e->nsaved; k++) {
        if (e->saved[k] >= 8)
            e8(e, 0x41);
        e8(e, 0x50 | (e->saved[k] & 7));
    }
}

static inline void pop_saved(struct emit *e)
{
    for (unsigned k = e->nsaved; k-- > 0;) {
        if (e->saved[k] >= 8)
            e8(e, 0x41);
        e8(e, 0x58 | (e->saved[k] & 7));
    }
}

/* op dst, src (register forms; w: 64-bit) */
/* a REX prefix when needed: w 64-bit, r the modrm reg, b the rm/base */
static inline void rex(struct emit *e, bool w, unsigned r, unsigned b)
{
    unsigned v = (w ? 8 : 0) | (r >= 8 ? 4 : 0) | (b >= 8 ? 1 : 0);
    if (v)
        e8(e, 0x40 | v);
}

/* op dst, src (register forms; w: 64-bit) */
static inline void rr(struct emit *e, unsigned grp, unsigned dst, unsigned src,
               bool w)
{
    rex(e, w, src, dst);
    e8(e, grp << 3 | 1); /* add 01, or 09, and 21, sub 29, xor 31, cmp 39 */
    e8(e, 0xc0 | (src & 7) << 3 | (dst & 7));
}

static inline void ri(struct emit *e, unsigned grp, unsigned dst, int64_t imm, bool w)
{
    rex(e, w, 0, dst);
    if (fits8(imm)) {
        e8(e, 0x83);
        e8(e, 0xc0 | grp << 3 | (dst & 7));
        e8(e, (uint8_t)imm);
    } else {
        e8(e, 0x81);
        e8(e, 0xc0 | grp << 3 | (dst & 7));
        e32(e, (uint32_t)imm);
    }
}

static inline void sh_i(struct emit *e, unsigned ext, unsigned dst, unsigned n,
                 bool w)
{
    rex(e, w, 0, dst);
    e8(e, 0xc1);
    e8(e, 0xc0 | ext << 3 | (dst & 7));
    e8(e, n);
}

static inline void sh_cl(struct emit *e, unsigned ext, unsigned dst, bool w)
{
    rex(e, w, 0, dst);
    e8(e, 0xd3);
    e8(e, 0xc0 | ext << 3 | (dst & 7));
}

/* movsxd reg, reg32 */
static inline void movsxd(struct emit *e, unsigned reg)
{
    rex(e, true, reg, reg);
    e8(e, 0x63);
    e8(e, 0xc0 | (reg & 7) << 3 | (reg & 7));
}

static inline void movsxd_rax(struct emit *e) { movsxd(e, RAX); }

/* dst = x[r], wherever x[r] is */
static inline void mov_rx(struct emit *e, unsigned dst, unsigned r)
{
    if (r == 0) {
        rex(e, false, dst, dst);
        e8(e, 0x31);
        e8(e, 0xc0 | (dst & 7) << 3 | (dst & 7)); /* xor dst32, dst32 */
    } else if (hreg(e, r)) {
        if (hreg(e, r) != dst)
            mov_rr(e, dst, hreg(e, r));
    } else {
        ld_rdi(e, dst, XOFF(r));
    }
}

/* op dst, x[r] (a register or memory operand) */
static inline void op_rx(struct emit *e, unsigned grp, unsigned dst, unsigned r,
                  bool w)
{
    if (r == 0) {
        ri(e, grp, dst, 0, w);
    } else if (hreg(e, r)) {
        rr(e, grp, dst, hreg(e, r), w);
    } else {
        rex(e, w, dst, 0);
        e8(e, grp << 3 | 3); /* op r, r/m */
        m_rdi(e, dst & 7, XOFF(r));
    }
}

/* imul dst, x[r] (a register or memory operand) */
static inline void imul_rx(struct emit *e, unsigned dst, unsigned r, bool w)
{
    if (r == 0) {
        ri(e, G_AND, dst, 0, w); /* x * 0 */
    } else if (hreg(e, r)) {
        unsigned src = hreg(e, r);
        rex(e, w, dst, src);
        e8(e, 0x0f); e8(e, 0xaf);
        e8(e, 0xc0 | (dst & 7) << 3 | (src & 7));
    } else {
        rex(e, w, dst, 0);
        e8(e, 0x0f); e8(e, 0xaf);
        m_rdi(e, dst & 7, XOFF(r));
    }
}

static inline void mov_imm64(struct emit *e, unsigned reg, uint64_t v)
{
    e8(e, 0x48);
    e8(e, 0xb8 | reg);
    e64(e, v);
}

/* x[rd] = (x[rs1] CMP src) as 0/1: rdx = result; `cc` the setcc code */
static inline void set_cc(struct emit *e, unsigned cc)
{
    e8(e, 0x0f);
    e8(e, cc);
    e8(e, 0xc2); /* setcc dl */
}

static inline uint8_t *jcc_rel32(struct emit *e, unsigned cc)
{
    e8(e, 0x0f);
    e8(e, cc);
    uint8_t *at = e->p;
    e32(e, 0);
    return at;
}

static inline void patch_rel32(uint8_t *at, const uint8_t *target)
{
    int32_t rel = (int32_t)(target - (at + 4));
    memcpy(at, &rel, 4);
}

#define JIT_SLOW_JUMPS 8

/* A native sequence's out-of-line slow path: the insn's interpreter
 * handler, called on a private copy (thunk), then back to `resume`. */
struct jit_slow {
    uint8_t *jmp[JIT_SLOW_JUMPS]; /* rel32 fields to the stub (NULL: unused) */
    uint8_t *resume;   /* where the fast path continues */
    const struct insn *thunk;
    insn_fn fn;
    unsigned seg;
    uint32_t dirty, lazy; /* at the access */
    int grp; /* >= 0: a memory group's first access (jit.c), whose slow
              * path clears the group's addend */
};

/* mstatus.FS Off makes every F/D insn illegal: test it at run time
 * (kernels switch FS off to save FP state lazily); `*jmp` gets the jump
 * to the slow path, whose handler raises the exception. */
static inline void fs_check(struct emit *e, uint8_t **jmp)
{
    if (e->fs_state != FS_UNKNOWN) {
        *jmp = NULL;
        return;
    }
    e8(e, 0xf7);                                  /* test dword [mstatus] */
    m_rdi(e, 0, (int32_t)offsetof(struct hart, mstatus));
    e32(e, (uint32_t)MSTATUS_FS);
    *jmp = jcc_rel32(e, 0x84);                    /* jz slow */
    e->fs_state = FS_ON;
}

/* mstatus.FS = Dirty (and SD), as every insn that writes an f register
 * (on its slow path too: the handler does it) */
static inline void fs_dirty(struct emit *e)
{
    if (e->fs_state == FS_DIRTY)
        return;
    e->fs_state = FS_DIRTY;
    mov_imm64(e, RCX, MSTATUS_FS | MSTATUS_SD);
    e8(e, 0x48); e8(e, 0x09);                     /* or [mstatus], rcx */
    m_rdi(e, RCX, (int32_t)offsetof(struct hart, mstatus));
}

#define FOFF(r) ((int32_t)(offsetof(struct hart, f) + 8 * (r)))

/* Native code for an integer ALU insn (jit_alu.c); false when it has
 * none (a probe with a zeroed emit only answers). */
bool jit_emit_alu(struct emit *e, const struct insn *in);

/* Native code for the common D insns (jit_fp.c): whether `in` has any on
 * this host, and the code, its slow path's jumps recorded in `s`. */
bool jit_fp_native(const struct insn *in);
void jit_emit_fp(struct emit *e, const struct insn *in, struct jit_slow *s);

#endif
