/* The CPU engine choice and the translator RV64 -> x86-64 (see jit.h for
 * how translated code fits into the block cache; jit_x86.h is the
 * emitter, jit_fp.c the floating point).
 *
 * Translated code follows the interpreter's handler ABI: it is entered as
 * a block's first handler with rdi = the hart, rsi = the block's first
 * insn, and it leaves the way a handler does, so hart_run, chain_core and
 * chain_indirect run it without knowing.
 *
 * The unit is a superblock: the head block and the blocks after it in the
 * same page along the side the interpreter has gone (fall-through of a
 * branch, or its target when only that has run; forward jal; the
 * fall-through terminator), up to SB_SEGS blocks. Leaving a block for the
 * next inside the superblock costs a decrement of the chain budget (so a
 * budgeted hart_run, whose budget is 0, still stops at the head block's
 * end); any other exit is a side exit that first makes the state that of
 * its own block running alone (struct sb, materialize). Two shapes stay
 * inside instead of leaving: a forward branch whose target is an insn of
 * a later segment jumps there (a join: an if without else), and the
 * out-of-line taken block of a branch that loops back to the head is
 * added as a side segment; both take the insns they skip off the counts
 * at the jump, so every exit still materializes the straight path's.
 *
 * Registers: up to 11 of the guest registers the superblock uses most live
 * in host registers (rbx, rbp, r12-r15, pushed at entry and popped on
 * every way out, then r8-r11, rsi), loaded at entry and stored back when
 * written before every helper call and exit (e.dirty); rax, rcx, rdx are
 * scratch. A jump back to the head is a native loop. The result of a
 * 32-bit op keeps no movsxd while only 32-bit ops, and/or/xor of such
 * values and narrow stores read it (jit_x86.h `lazy`); any other reader,
 * a write-back, a join or a loop jump extends it first.
 *
 * Per instruction:
 *  - native: integer ALU (RV64I, M incl. division), loads and stores with
 *    the TLB fast path inline (tag compare, alignment test, host add), the
 *    common D ops (jit_fp.c);
 *  - through the interpreter: every other non-ending insn, and the slow
 *    path of a load/store or FP op, is a call of its handler on a private
 *    copy of the insn followed by a "resume" insn whose handler returns
 *    non-NULL; a NULL return means the insn ended the block (trap, code
 *    written, illegal FP op...) with pc and xb_done already set, and the
 *    translated code returns NULL too (after the segment's fix-up);
 *  - the superblock's ends (branch, jal, jalr, fall-through): chaining
 *    inline (chain_core's and chain_indirect's checks in host code), the
 *    interpreter's handler as the fallback; other ending insns (system,
 *    CSRs) a tail jump into their handler. Chaining into a block not yet
 *    translated counts a hit on it and, past the threshold, returns to
 *    hart_run, which translates it. */
#include "cpu/riscv/jit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/riscv/block.h"
#include "cpu/riscv/exec_impl.h"
#include "cpu/riscv/jit_x86.h"

int cpu_engine_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "interp"))
        return CPU_ENGINE_INTERP;
    if (!strcmp(s, "jit"))
        return CPU_ENGINE_JIT;
    return -1;
}

const char *cpu_engine_name(int engine)
{
    return engine == CPU_ENGINE_JIT ? "jit" : "interp";
}

bool jit_available(void)
{
#if defined(__x86_64__)
    return true;
#else
    return false;
#endif
}

static unsigned long env_ulong(const char *name, unsigned long dflt,
                               unsigned long max)
{
    const char *s = getenv(name);
    char *end;
    if (!s || !*s)
        return dflt;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > max)
        return dflt;
    return v;
}

int cpu_engine_resolve(int requested, struct jit_options *opt)
{
    int e = requested;
    if (e == CPU_ENGINE_DEFAULT) {
        e = cpu_engine_parse(getenv("CORRAL_CPU_ENGINE"));
        if (e < 0) /* the JIT where there is one */
            e = jit_available() ? CPU_ENGINE_JIT : CPU_ENGINE_INTERP;
    }
    opt->threshold =
        (uint32_t)env_ulong("CORRAL_JIT_THRESHOLD", JIT_THRESHOLD_DEFAULT,
                            UINT32_MAX - 1);
    opt->cache_bytes = (size_t)env_ulong("CORRAL_JIT_CACHE_MB",
                                         JIT_CACHE_DEFAULT >> 20,
                                         JIT_CACHE_MAX >> 20)
                       << 20;
    if (opt->cache_bytes < JIT_CACHE_MIN)
        opt->cache_bytes = JIT_CACHE_MIN;
    opt->perf_map = (uint8_t)env_ulong("CORRAL_JIT_PERF_MAP", 0, 2);
    if (e == CPU_ENGINE_JIT && !jit_available())
        e = CPU_ENGINE_INTERP;
    return e;
}

/* ---- perf map ---- */

static pthread_mutex_t perf_lock = PTHREAD_MUTEX_INITIALIZER;
static int perf_fd = -1, dump_fd = -1;

/* Opened when the engine is chosen: the hart thread's system-call
 * allow-list forbids opening files (and stdio's fstat), not write.
 * Level 2 also dumps each translation's code to /tmp/jit-PID.dump as
 * records of (8-byte host address, 4-byte length, the bytes), little
 * endian, for bench/cpu/jit-disasm.sh to disassemble what perf names. */
static void perf_open(unsigned level)
{
    pthread_mutex_lock(&perf_lock);
    char path[64];
    if (perf_fd < 0) {
        snprintf(path, sizeof(path), "/tmp/perf-%ld.map", (long)getpid());
        perf_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
    if (level >= 2 && dump_fd < 0) {
        snprintf(path, sizeof(path), "/tmp/jit-%ld.dump", (long)getpid());
        dump_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
    pthread_mutex_unlock(&perf_lock);
}

__attribute__((unused)) static void perf_note(const void *code, size_t len,
                                             uint64_t pa)
{
    char line[96];
    int n = snprintf(line, sizeof(line), "%lx %zx guest_pa_%llx\n",
                     (unsigned long)code, len, (unsigned long long)pa);
    pthread_mutex_lock(&perf_lock);
    if (perf_fd >= 0 && n > 0 && write(perf_fd, line, (size_t)n) < 0)
        perf_fd = -1; /* stop trying; the map is a debugging aid */
    if (dump_fd >= 0) {
        uint8_t head[12];
        uint64_t a = (uint64_t)(uintptr_t)code;
        for (int k = 0; k < 8; k++)
            head[k] = (uint8_t)(a >> (8 * k));
        for (int k = 0; k < 4; k++)
            head[8 + k] = (uint8_t)((uint32_t)len >> (8 * k));
        /* (two writes under the lock: the hart's allow-list has write,
         * not writev) */
        if (write(dump_fd, head, sizeof(head)) != (ssize_t)sizeof(head) ||
            write(dump_fd, code, len) != (ssize_t)len)
            dump_fd = -1;
    }
    pthread_mutex_unlock(&perf_lock);
}

/* the translator's working memory (jit_translate) */
struct jit_scratch;
static struct jit_scratch *scratch_new(void);

struct jit_cache {
    uint8_t *base;
    size_t size, used;
    uint64_t gen;   /* block cache generation the contents belong to */
    uint8_t perf_map;
    uint64_t blocks; /* translated since the start (statistics) */
    struct jit_scratch *scratch;
};

void jit_destroy(struct hart *h)
{
    struct jit_cache *jc = h->jit;
    if (!jc)
        return;
    munmap(jc->base, jc->size);
    free(jc->scratch);
    free(jc);
    h->jit = NULL;
}

uint64_t jit_blocks_translated(const struct hart *h)
{
    return h->jit ? h->jit->blocks : 0;
}

int hart_set_engine(struct hart *h, int engine, const struct jit_options *opt)
{
    jit_destroy(h);
    if (engine != CPU_ENGINE_JIT)
        return 0;
    if (!jit_available())
        return -ENOTSUP;
    struct jit_cache *jc = calloc(1, sizeof(*jc));
    if (!jc)
        return -ENOMEM;
    jc->scratch = scratch_new();
    if (!jc->scratch) {
        free(jc);
        return -ENOMEM;
    }
    void *m = mmap(NULL, opt->cache_bytes, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        int err = -errno;
        free(jc->scratch);
        free(jc);
        return err;
    }
    jc->base = m;
    jc->size = opt->cache_bytes;
    jc->gen = h->bcache->gen;
    jc->perf_map = opt->perf_map;
    if (jc->perf_map)
        perf_open(jc->perf_map);
    h->jit = jc;
    h->jit_threshold = opt->threshold;
    return 0;
}

#if defined(__x86_64__)

/* ---- translation ---- */

/* Superblocks: a block continues into the block after a not-taken
 * conditional branch, a forward jal or a fall-through, within the head's
 * page, up to SB_SEGS blocks and SB_INSNS insns (insn.idx is 8 bits). */
#define SB_SEGS 16
#define SB_INSNS 240
/* worst case of one superblock's code and thunks, with room */
#define JIT_BLOCK_BYTES (160u << 10)

static HANDLER(jit_resume) { return i; }


/* The superblock being translated: its blocks ("segments") in execution
 * order. While it runs, xb_pc and xb_block stay those of the head and the
 * bookkeeping of the segments already passed (instret, xb_mem)
 * is left undone: code that leaves from segment j first "materializes"
 * segment j (adds what segments 0..j-1 retired, moves xb_pc/xb_block to
 * block j), so the interpreter's handlers and hart_run see exactly the
 * state of block j running alone. Helpers run on private insn copies whose
 * idx/off count from the head; a NULL return from one in segment j goes
 * through that segment's fix-up stub, which turns xb_done back into a
 * count within block j and materializes it. */
struct sb {
    const struct block *seg[SB_SEGS];
    unsigned base[SB_SEGS]; /* virtual index of the segment's first insn */
    unsigned voff[SB_SEGS]; /* byte offset of its pc from the head's */
    unsigned nmem[SB_SEGS]; /* loads/stores of the segments before it */
    unsigned end[SB_SEGS];  /* index of its ending insn (n: terminator) */
    bool taken[SB_SEGS];    /* it ends in a branch the superblock follows */
    unsigned nseg;
    /* Side segments (add_sides), after the nmain of the straight path:
     * the taken side of main segment j's branch, sideof[j], when it is a
     * block of the page that loops back to the head (an if whose body the
     * compiler put out of line). Entered by a jump from j's branch with
     * the state there (sdirty, slazy), counted as if run right after it. */
    unsigned nmain;
    bool side[SB_SEGS];
    uint8_t sideof[SB_SEGS];
    uint8_t *sjump[SB_SEGS];
    uint32_t sdirty[SB_SEGS], slazy[SB_SEGS];
    /* Joins: the branch ending segment j whose target (the side not
     * followed) is insn jq[j] of a later segment jseg[j] (0: none) jumps
     * there instead of leaving (find_joins, emit_join_jump); join_at marks
     * the virtual indexes such jumps arrive at, with the dirty registers
     * they bring. */
    uint8_t jseg[SB_SEGS], jq[SB_SEGS];
    uint8_t *jpatch[SB_SEGS];
    bool join_at[SB_INSNS];
    uint32_t join_dirty[SB_INSNS];
    uint8_t *fix[2 * SB_INSNS]; /* rel32 of jumps to a fix-up stub */
    uint8_t fixseg[2 * SB_INSNS];
    unsigned nfix;
};

static void add_mem64(struct emit *e, size_t off, uint32_t v)
{
    if (!v)
        return;
    e8(e, 0x48); e8(e, 0x81);                   /* add qword [rdi+off], v */
    m_rdi(e, G_ADD, (int32_t)off);
    e32(e, v);
}

static void sub_mem64(struct emit *e, size_t off, uint32_t v)
{
    if (!v)
        return;
    e8(e, 0x48); e8(e, 0x81);                   /* sub qword [rdi+off], v */
    m_rdi(e, G_SUB, (int32_t)off);
    e32(e, v);
}

/* Leaving from segment j: the state of block j running alone. */
static void materialize(struct emit *e, const struct sb *sb, unsigned j)
{
    if (!j)
        return;
    add_mem64(e, offsetof(struct hart, instret), sb->base[j]);
    add_mem64(e, offsetof(struct hart, xb_mem), sb->nmem[j]);
    add_mem64(e, offsetof(struct hart, xb_pc), sb->voff[j]);
    mov_imm64(e, RAX, (uint64_t)(uintptr_t)sb->seg[j]);
    st_rdi(e, RAX, (int32_t)offsetof(struct hart, xb_block));
}

/* call fn(h, thunk) with the registers written back, then reload them;
 * return NULL from the translated code when it does (segment 0), or go
 * through the segment's fix-up stub. */
static void emit_helper(struct emit *e, struct sb *sb, unsigned seg,
                        const struct insn *thunk, insn_fn fn)
{
    writeback(e);
    e8(e, 0x57); /* push rdi: keeps h, and aligns the stack for the call */
    mov_imm64(e, RSI, (uint64_t)(uintptr_t)thunk);
    mov_imm64(e, RAX, (uint64_t)(uintptr_t)fn);
    e8(e, 0xff);
    e8(e, 0xd0); /* call rax */
    e8(e, 0x5f); /* pop rdi */
    e8(e, 0x48);
    e8(e, 0x85);
    e8(e, 0xc0); /* test rax, rax */
    if (seg == 0) {
        e8(e, 0x75);
        unsigned skip = 1; /* the ret */
        for (unsigned k = 0; k < e->nsaved; k++)
            skip += 1u + (e->saved[k] >= 8);
        e8(e, skip);
        pop_saved(e);  /* (jnz over the pops and the ret) */
        e8(e, 0xc3);
    } else if (sb->nfix < 2 * SB_INSNS) {
        sb->fixseg[sb->nfix] = (uint8_t)seg;
        sb->fix[sb->nfix++] = jcc_rel32(e, 0x84); /* jz fix-up */
    } else {
        e->full = true; /* cannot happen: at most 2 per insn */
    }
    e->dirty = 0;
    e->lazy = 0; /* the write-back extended them */
    reload(e, false);
    /* the insn's destination, when it is an x register the helper wrote
     * in memory (those without one have rd 0 or an f register number,
     * whose reload is harmless) */
    unsigned rd = thunk->rd;
    if (rd && e->host[rd] && callee_saved(e->host[rd]))
        ld_rdi(e, e->host[rd], XOFF(rd));
}

/* A helper of segment j returned NULL: xb_done counts from the head. */
static void emit_fixup(struct emit *e, const struct sb *sb, unsigned j)
{
    e8(e, 0x81);                                /* sub dword [xb_done], b */
    m_rdi(e, 5, (int32_t)offsetof(struct hart, xb_done));
    e32(e, sb->base[j]);
    materialize(e, sb, j);
    pop_saved(e);
    e8(e, 0x31); e8(e, 0xc0);                   /* xor eax, eax */
    e8(e, 0xc3);
}
/* tail jump into the interpreter: fn(h, at) */
static void emit_tail(struct emit *e, const struct insn *at, insn_fn fn)
{
    mov_imm64(e, RSI, (uint64_t)(uintptr_t)at);
    mov_imm64(e, RAX, (uint64_t)(uintptr_t)fn);
    e8(e, 0xff);
    e8(e, 0xe0); /* jmp rax */
}

static int mem_size(unsigned op)
{
    switch (op) {
    case OP_LB: case OP_LBU: case OP_SB: return 1;
    case OP_LH: case OP_LHU: case OP_SH: return 2;
    case OP_LW: case OP_LWU: case OP_SW: return 4;
    case OP_LD: case OP_SD: return 8;
    }
    return 0;
}

/* Memory groups: loads (or stores) through the same base register, not
 * written in between, with no helper call, join (onto a body insn or a
 * segment's ending one) or side entry between them, whose addresses all
 * lie within 2 KiB (find_groups). The first access (the leader) looks
 * the page up in the TLB as any access does, and also checks that every
 * access of the group falls in that page, aligned; it then keeps the TLB
 * addend in h->jit_addend[slot] for the others (followers), which need
 * only that load and a test for 0 (the leader took its slow path: they
 * take theirs). Nothing that runs between a leader and its followers can
 * change a mapping without ending the superblock (TLB flushes and code
 * writes end it), so the page, found in the load or store TLB as the
 * group's kind, still maps there. */
#define JIT_GROUPS 4
/* (0: every access looks the TLB up itself, for comparisons) */
#define JIT_GROUPS_ENABLED 1
#define JIT_GROUP_SPAN 2048
_Static_assert(JIT_GROUPS == sizeof(((struct hart *)0)->jit_addend) /
                                 sizeof(uintptr_t),
               "one addend per group slot");
enum { MG_NONE, MG_LEAD, MG_FOLLOW };
struct mrole {
    uint8_t kind, slot;
    uint8_t amask;  /* leader: the group's widest access - 1 */
    int32_t lo, hi; /* leader: the group's bytes, from its own address */
};

#define ADDEND_OFF(g) \
    ((int32_t)(offsetof(struct hart, jit_addend) + sizeof(uintptr_t) * (g)))

static bool is_helper(const struct insn *in);

/* The roles of the superblock's accesses, indexed as the translation
 * loop visits its insns (segments in order, ending insns left out). */
static void find_groups(const struct emit *e, const struct sb *sb,
                        struct mrole *role)
{
    struct { bool on, store; uint8_t base; unsigned lead; int32_t imm0; }
        g[JIT_GROUPS];
    unsigned pos = 0, next = 0;
    for (unsigned j = 0; j < sb->nseg; j++) {
        const struct block *c = sb->seg[j];
        if (j == 0 || sb->side[j])
            memset(g, 0, sizeof(g));
        for (unsigned k = 0; k < sb->end[j]; k++, pos++) {
            const struct insn *in = &c->insns[k];
            memset(&role[pos], 0, sizeof(role[pos]));
            if (!sb->side[j] && sb->join_at[sb->base[j] + k])
                memset(g, 0, sizeof(g));
            if (in->op >= OP_LB && in->op <= OP_SD && in->rs1 &&
                !(in->op <= OP_LWU && in->rd == 0)) {
                bool st = in->op >= OP_SB;
                int32_t size = mem_size(in->op);
                unsigned f = JIT_GROUPS;
                for (unsigned q = 0; q < JIT_GROUPS; q++)
                    if (g[q].on && g[q].store == st && g[q].base == in->rs1)
                        f = q;
                if (f < JIT_GROUPS) {
                    struct mrole *L = &role[g[f].lead];
                    int32_t d = (int32_t)in->imm - g[f].imm0;
                    int32_t lo = d < L->lo ? d : L->lo;
                    int32_t hi = d + size > L->hi ? d + size : L->hi;
                    if (JIT_GROUPS_ENABLED && d % size == 0 && hi - lo <= JIT_GROUP_SPAN) {
                        L->kind = MG_LEAD;
                        L->lo = lo;
                        L->hi = hi;
                        L->amask |= (uint8_t)(size - 1);
                        role[pos].kind = MG_FOLLOW;
                        role[pos].slot = (uint8_t)f;
                    }
                } else {
                    f = next++ % JIT_GROUPS;
                    g[f].on = true;
                    g[f].store = st;
                    g[f].base = (uint8_t)in->rs1;
                    g[f].lead = pos;
                    g[f].imm0 = (int32_t)in->imm;
                    role[pos].slot = (uint8_t)f;
                    role[pos].hi = size;
                    role[pos].amask = (uint8_t)(size - 1);
                }
            } else if (is_helper(in)) {
                memset(g, 0, sizeof(g));
            }
            for (unsigned q = 0; q < JIT_GROUPS; q++)
                if (in->rd && g[q].base == in->rd)
                    g[q].on = false;
        }
        const struct insn *x = &c->insns[sb->end[j]];
        /* A join may land on the ending insn itself (find_joins): the
         * jump skips every leader of this segment, so the followers in
         * the segments after it must not trust their slots (they would
         * use an addend left by an earlier run, of another page). */
        if (sb->end[j] < c->n && !sb->side[j] &&
            sb->join_at[sb->base[j] + sb->end[j]])
            memset(g, 0, sizeof(g));
        if (sb->end[j] < c->n)
            for (unsigned q = 0; q < JIT_GROUPS; q++)
                if (x->rd && g[q].base == x->rd)
                    g[q].on = false;
    }
    (void)e;
}

/* modrm + sib for [base + rcx + disp] with `reg` */
static void m_base_rcx(struct emit *e, unsigned reg, unsigned base,
                       int32_t disp)
{
    bool d8 = fits8(disp);
    e8(e, (d8 ? 0x40 : 0x80) | (reg & 7) << 3 | 4);
    e8(e, RCX << 3 | (base & 7));
    if (d8)
        e8(e, (uint8_t)disp);
    else
        e32(e, (uint32_t)disp);
}

static const struct { uint8_t w, op0, op1; } ld_ops[] = {
    [OP_LB - OP_LB] = {1, 0x0f, 0xbe}, [OP_LBU - OP_LB] = {0, 0x0f, 0xb6},
    [OP_LH - OP_LB] = {1, 0x0f, 0xbf}, [OP_LHU - OP_LB] = {0, 0x0f, 0xb7},
    [OP_LW - OP_LB] = {1, 0, 0x63},    [OP_LWU - OP_LB] = {0, 0, 0x8b},
    [OP_LD - OP_LB] = {1, 0, 0x8b},
};

/* A follower: the leader's addend, or the slow path when it is 0. */
static void emit_follower(struct emit *e, const struct insn *in,
                          const struct mrole *r, struct jit_slow *s)
{
    bool store = in->op >= OP_SB && in->op <= OP_SD;
    int size = mem_size(in->op);
    ld_rdi(e, RCX, ADDEND_OFF(r->slot));
    e8(e, 0x48); e8(e, 0x85); e8(e, 0xc9);             /* test rcx, rcx */
    s->jmp[0] = jcc_rel32(e, 0x84);                    /* jz slow */
    unsigned base = hreg(e, in->rs1);
    if (!base) {
        ld_rdi(e, RAX, XOFF(in->rs1));
        base = RAX;
    }
    if (store) {
        unsigned v = !in->rs2 ? 0 : size < 8 ? hreg_lo(e, in->rs2)
                                             : hreg(e, in->rs2);
        if (!v) {
            ldx(e, RDX, in->rs2);
            v = RDX;
        }
        if (size == 2)
            e8(e, 0x66);
        unsigned x = (size == 8 ? 8 : 0) | (v >= 8 ? 4 : 0) |
                     (base >= 8 ? 1 : 0);
        if (x || (size == 1 && v >= 4 && v < 8))
            e8(e, 0x40 | x); /* (sil/bpl, not dh/bh) */
        e8(e, size == 1 ? 0x88 : 0x89);        /* mov [base+rcx+d], v */
        m_base_rcx(e, v, base, (int32_t)in->imm);
    } else {
        unsigned d = hdst(e, in->rd) ? hdst(e, in->rd) : RAX;
        unsigned k = in->op - OP_LB;
        rex(e, ld_ops[k].w, d, base);
        if (ld_ops[k].op0)
            e8(e, ld_ops[k].op0);
        e8(e, ld_ops[k].op1);
        m_base_rcx(e, d, base, (int32_t)in->imm);
        if (d == RAX)
            stx(e, RAX, in->rd);
    }
    s->resume = e->p;
}

/* The TLB probe of an access at va (in `va`; `idx` is rax or rdx, and
 * neither is rcx): rcx = (va & mask) | tlb_key, idx = the entry's index
 * * 16, then cmp rcx with the entry's tag at [rdi + idx + tlb]; the
 * caller's jne takes the miss. */
_Static_assert(sizeof(struct tlb_entry) == 16, "index * 16");
static void tlb_probe(struct emit *e, unsigned va, unsigned idx, uint32_t mask,
                      int32_t tlb)
{
    rex(e, true, va, RCX);
    e8(e, 0x89); e8(e, 0xc0 | (va & 7) << 3 | RCX);     /* mov rcx, va */
    ri(e, G_AND, RCX, (int32_t)mask, true);            /* (sign-extended) */
    e8(e, 0x48); e8(e, 0x0b);                          /* or rcx, tlb_key */
    m_rdi(e, RCX, (int32_t)offsetof(struct hart, tlb_key));
    rex(e, false, va, idx);
    e8(e, 0x89); e8(e, 0xc0 | (va & 7) << 3 | idx);     /* mov idx32, va32 */
    sh_i(e, S_SHR, idx, 12 - 4, false);
    e8(e, 0x81); e8(e, 0xe0 | idx); e32(e, (TLB_SIZE - 1) << 4); /* and */
    e8(e, 0x48); e8(e, 0x3b); e8(e, 0x8c);              /* cmp rcx,[rdi+idx+] */
    e8(e, idx << 3 | RDI);
    e32(e, (uint32_t)tlb);
}

/* Inline load/store; the miss branches are recorded in `s`. `r` is the
 * access's part in a memory group (NULL: none). */
static void emit_mem(struct emit *e, const struct insn *in,
                     const struct mrole *r, struct jit_slow *s)
{
    s->grp = -1;
    if (r && r->kind == MG_FOLLOW) {
        emit_follower(e, in, r, s);
        return;
    }
    bool lead = r && r->kind == MG_LEAD;
    bool fp = in->op == OP_FLD || in->op == OP_FSD;
    bool store = (in->op >= OP_SB && in->op <= OP_SD) || in->op == OP_FSD;
    int size = fp ? 8 : mem_size(in->op);
    int32_t tlb = (int32_t)(offsetof(struct hart, tlb) +
                            (store ? ACCESS_STORE : ACCESS_LOAD) * TLB_SIZE *
                                sizeof(struct tlb_entry));

    if (fp)
        fs_check(e, &s->jmp[2]);
    unsigned base = in->rs1 ? hreg(e, in->rs1) : 0;
    if (base && in->imm) { /* lea rax, [base + imm] */
        rex(e, true, 0, base);
        e8(e, 0x8d);
        e8(e, (fits8(in->imm) ? 0x40 : 0x80) | (base & 7));
        if ((base & 7) == 4)
            e8(e, 0x24); /* r12 as a base needs its SIB byte */
        if (fits8(in->imm))
            e8(e, (uint8_t)in->imm);
        else
            e32(e, (uint32_t)in->imm);
    } else {
        ldx(e, RAX, in->rs1);
        if (in->imm)
            ri(e, G_ADD, RAX, in->imm, true);
    }
    /* rcx = tlb_tag(va) when va is aligned to the group's widest access
     * (else it has low bits no tag has: a miss); rdx = index * 16 */
    unsigned amask = lead ? r->amask : (unsigned)size - 1;
    tlb_probe(e, RAX, RDX, ~(uint32_t)0xfff | amask, tlb);
    s->jmp[0] = jcc_rel32(e, 0x85);                    /* jne slow */
    if (lead) {
        /* the group's bytes [va+lo, va+hi) in this page: with ecx the
         * page offset of va + lo, 0 <= ecx <= 4096 - (hi - lo) */
        e8(e, 0x89); e8(e, 0xc1);                      /* mov ecx, eax */
        ri(e, G_AND, RCX, 0xfff, false);
        if (r->lo)
            ri(e, G_ADD, RCX, r->lo, false);
        ri(e, G_CMP, RCX, (int64_t)GMEM_PAGE_SIZE - (r->hi - r->lo), false);
        s->jmp[2] = jcc_rel32(e, 0x87);                /* ja slow */
        e8(e, 0x48); e8(e, 0x8b); e8(e, 0x8c); e8(e, 0x17); /* mov rcx,[..] */
        e32(e, (uint32_t)(tlb + 8));
        st_rdi(e, RCX, ADDEND_OFF(r->slot));
        rr(e, G_ADD, RAX, RCX, true);
        s->grp = r->slot;
    } else {
        e8(e, 0x48); e8(e, 0x03); e8(e, 0x84); e8(e, 0x17); /* add rax,[..] */
        e32(e, (uint32_t)(tlb + 8));
    }
    if (in->op == OP_FSD) {
        ld_rdi(e, RCX, FOFF(in->rs2));
        e8(e, 0x48); e8(e, 0x89); e8(e, 0x08);          /* mov [rax], rcx */
    } else if (in->op == OP_FLD) {
        e8(e, 0x48); e8(e, 0x8b); e8(e, 0x00);          /* mov rax, [rax] */
        st_rdi(e, RAX, FOFF(in->rd));
        fs_dirty(e);
    } else if (store) {
        /* sb/sh/sw store the low half: a lazy value as it is */
        unsigned v = !in->rs2 ? 0 : size < 8 ? hreg_lo(e, in->rs2)
                                             : hreg(e, in->rs2);
        if (!v) {
            ldx(e, RCX, in->rs2);
            v = RCX;
        }
        if (size == 2)
            e8(e, 0x66);
        if (size == 1 && v >= 4 && v < 8)
            e8(e, 0x40); /* sil/bpl, not dh/bh */
        else
            rex(e, size == 8, v, 0);
        e8(e, size == 1 ? 0x88 : 0x89);                 /* mov [rax], v */
        e8(e, (v & 7) << 3);
    } else {
        unsigned d = hdst(e, in->rd) ? hdst(e, in->rd) : RAX;
        unsigned k = in->op - OP_LB;
        rex(e, ld_ops[k].w, d, 0);
        if (ld_ops[k].op0)
            e8(e, ld_ops[k].op0);
        e8(e, ld_ops[k].op1);
        e8(e, (d & 7) << 3);                            /* [rax] */
        if (d == RAX)
            stx(e, RAX, in->rd);
    }
    s->resume = e->p;
}

/* Jumps to the fallback of the exit being emitted (patched at its end). */
struct fallbacks {
    uint8_t *at[12];
    int n;
};

static void fb_jcc(struct emit *e, struct fallbacks *f, unsigned cc)
{
    f->at[f->n++] = jcc_rel32(e, cc);
}

/* cmp dword [rdi + off], 0; jcc fallback */
static void fb_cmp0(struct emit *e, struct fallbacks *f, size_t off,
                    unsigned cc)
{
    e8(e, 0x83);
    m_rdi(e, 7, (int32_t)off);
    e8(e, 0);
    fb_jcc(e, f, cc);
}

/* Enter block rsi at pc rdx, as chain_core does: the block must be live
 * and its page still mapped by the fetch TLB to the host address it was
 * decoded from; then the bookkeeping (`done` insns and `nmem` loads/stores
 * of the finished block retired), the link register of a jump (`link` not
 * NULL: x[rd] = its pc + len, written only now that nothing can fail), and
 * a jump into the block's first handler. */
static void emit_enter(struct emit *e, struct fallbacks *f, unsigned done,
                       unsigned nmem, const struct insn *link, bool same_page)
{
    int32_t tlbf = (int32_t)(offsetof(struct hart, tlb) +
                             ACCESS_FETCH * TLB_SIZE *
                                 sizeof(struct tlb_entry));
    if (same_page)
        goto checked;
    e8(e, 0x83); e8(e, 0x7e);                             /* cmp [rsi+d8],0 */
    e8(e, (uint8_t)offsetof(struct block, dead)); e8(e, 0);
    fb_jcc(e, f, 0x85);
    tlb_probe(e, RDX, RAX, ~(uint32_t)0xfff, tlbf);
    fb_jcc(e, f, 0x85);
    e8(e, 0x48); e8(e, 0x8b); e8(e, 0x8c); e8(e, 0x07);   /* mov rcx,[rdi+rax+] */
    e32(e, (uint32_t)(tlbf + 8));
    rr(e, G_ADD, RCX, RDX, true);                         /* rcx = host */
    e8(e, 0x48); e8(e, 0x3b); e8(e, 0x4e);                /* cmp rcx,[rsi+d8] */
    e8(e, (uint8_t)offsetof(struct block, host));
    fb_jcc(e, f, 0x85);
checked:
    if (link && link->rd) {
        e8(e, 0x48); e8(e, 0x8b);
        m_rdi(e, RAX, (int32_t)offsetof(struct hart, xb_pc));
        ri(e, G_ADD, RAX, link->off + link->len, true);
        stx(e, RAX, link->rd);
    }
    /* An untranslated target counts this entry as hart_run counts its
     * own; past the threshold the block ends here (as chain_core's exit
     * to hart_run does: pc, xb_done) so that hart_run translates it. Hot
     * code reached only by chaining is translated after `threshold` runs,
     * not after as many timer countdowns. */
    _Static_assert(offsetof(struct block, jit_state) < 128 &&
                       offsetof(struct block, hits) < 128,
                   "disp8 offsets");
    e8(e, 0x83); e8(e, 0x7e);                         /* cmp [rsi+d8],NONE */
    e8(e, (uint8_t)offsetof(struct block, jit_state)); e8(e, JIT_NONE);
    uint8_t *go = jcc_rel32(e, 0x85);                 /* jne go */
    e8(e, 0xff); e8(e, 0x46);                         /* inc dword [rsi+d8] */
    e8(e, (uint8_t)offsetof(struct block, hits));
    e8(e, 0x81); e8(e, 0x7e);                         /* cmp [rsi+d8], thr */
    e8(e, (uint8_t)offsetof(struct block, hits)); e32(e, e->threshold);
    uint8_t *stay = jcc_rel32(e, 0x86);               /* jbe go */
    e8(e, 0x48); e8(e, 0x89);
    m_rdi(e, RDX, (int32_t)offsetof(struct hart, pc)); /* pc = target */
    e8(e, 0xc7);
    m_rdi(e, 0, (int32_t)offsetof(struct hart, xb_done));
    e32(e, done);                                     /* xb_done = done */
    e8(e, 0x31); e8(e, 0xc0);                         /* xor eax, eax */
    e8(e, 0xc3);                                      /* ret */
    if (!e->full) {
        patch_rel32(go, e->p);
        patch_rel32(stay, e->p);
    }
    e8(e, 0xff);
    m_rdi(e, 1, (int32_t)offsetof(struct hart, xb_chain)); /* dec */
    add_mem64(e, offsetof(struct hart, instret), done);
    add_mem64(e, offsetof(struct hart, xb_mem), nmem);
    e8(e, 0x48); e8(e, 0x89);
    m_rdi(e, RDX, (int32_t)offsetof(struct hart, xb_pc));
    e8(e, 0x48); e8(e, 0x89);
    m_rdi(e, RSI, (int32_t)offsetof(struct hart, xb_block));
    ri(e, G_ADD, RSI, (int64_t)offsetof(struct block, insns), true);
    e8(e, 0xff); e8(e, 0x26);                             /* jmp [rsi] */
}

/* The fallback: the interpreter's handler `fn` of `at` redoes the exit
 * from the unchanged state (nothing was written yet) and asks hart_run to
 * fill a missing link. */
static void emit_fallback(struct emit *e, struct fallbacks *f,
                          const struct insn *at, insn_fn fn)
{
    for (int k = 0; k < f->n; k++)
        if (!e->full)
            patch_rel32(f->at[k], e->p);
    emit_tail(e, at, fn);
}

/* A direct exit of block `b` to xb_pc + disp through link[slot]:
 * chain_core inline, when chaining is allowed (chain budget left, no
 * interrupt recheck). */
static void emit_exit(struct emit *e, const struct block *b, unsigned slot,
                      int64_t disp, unsigned done, unsigned nmem,
                      const struct insn *at, insn_fn fn,
                      const struct insn *link)
{
    struct fallbacks f = {.n = 0};
    /* A link into the block's own page needs neither check of
     * emit_enter: the target's physical address is the source's plus
     * disp under any mapping the source runs through (checked when it was
     * entered; nothing in a block changes the fetch TLB), and the page's
     * blocks die together, the running one included (a store that kills
     * them ends it). */
    int64_t in_page = (int64_t)(b->pa & (GMEM_PAGE_SIZE - 1)) + disp;
    bool same_page = in_page >= 0 && in_page < (int64_t)GMEM_PAGE_SIZE;
    e8(e, 0x48); e8(e, 0x8b);
    m_rdi(e, RDX, (int32_t)offsetof(struct hart, xb_pc)); /* rdx = xb_pc */
    ri(e, G_ADD, RDX, disp, true);                        /* the target */
    fb_cmp0(e, &f, offsetof(struct hart, xb_chain), 0x8e);     /* jle */
    fb_cmp0(e, &f, offsetof(struct hart, irq_recheck), 0x85);  /* jne */
    mov_imm64(e, RAX, (uint64_t)(uintptr_t)&b->link[slot]);
    e8(e, 0x48); e8(e, 0x8b); e8(e, 0x30);                /* mov rsi,[rax] */
    e8(e, 0x48); e8(e, 0x85); e8(e, 0xf6);                /* test rsi,rsi */
    fb_jcc(e, &f, 0x84);
    emit_enter(e, &f, done, nmem, link, same_page);
    emit_fallback(e, &f, at, fn);
}

/* jalr: chain_indirect inline, through the jump cache entry of the target
 * (its pc and generation checked, then the block as for direct exits). */
static void emit_jalr(struct emit *e, const struct block_cache *bc,
                      const struct insn *in, insn_fn fn)
{
    struct fallbacks f = {.n = 0};
    ldx(e, RDX, in->rs1);
    if (in->imm)
        ri(e, G_ADD, RDX, in->imm, true);
    ri(e, G_AND, RDX, -2, true);                          /* the target */
    fb_cmp0(e, &f, offsetof(struct hart, xb_chain), 0x8e);
    fb_cmp0(e, &f, offsetof(struct hart, irq_recheck), 0x85);
    e8(e, 0x48); e8(e, 0x89); e8(e, 0xd0);                /* mov rax, rdx */
    sh_i(e, S_SHR, RAX, 1, true);
    e8(e, 0x25); e32(e, (1u << BLOCK_JC_BITS) - 1);       /* and eax, mask */
    e8(e, 0x48); e8(e, 0x8d); e8(e, 0x04); e8(e, 0x40);   /* lea rax,[rax+rax*2] */
    mov_imm64(e, RCX, (uint64_t)(uintptr_t)&bc->jc[0]);
    e8(e, 0x48); e8(e, 0x8d); e8(e, 0x0c); e8(e, 0xc1);   /* lea rcx,[rcx+rax*8] */
    e8(e, 0x48); e8(e, 0x3b); e8(e, 0x11);                /* cmp rdx,[rcx] */
    fb_jcc(e, &f, 0x85);
    mov_imm64(e, RAX, (uint64_t)(uintptr_t)&bc->gen);
    e8(e, 0x48); e8(e, 0x8b); e8(e, 0x00);                /* mov rax,[rax] */
    e8(e, 0x48); e8(e, 0x3b); e8(e, 0x41);                /* cmp rax,[rcx+d8] */
    e8(e, (uint8_t)offsetof(struct block_jc, gen));
    fb_jcc(e, &f, 0x85);
    e8(e, 0x48); e8(e, 0x8b); e8(e, 0x71);                /* mov rsi,[rcx+d8] */
    e8(e, (uint8_t)offsetof(struct block_jc, b));
    emit_enter(e, &f, in->idx + 1u, in->nmem, in, false);
    emit_fallback(e, &f, in, fn);
}


/* Exit code runs with every guest register in the hart. */
static void exit_begin(struct emit *e, const struct sb *sb, unsigned j)
{
    writeback(e);
    pop_saved(e);
    e->ra_on = false;
    materialize(e, sb, j);
}

static void exit_end(struct emit *e)
{
    e->ra_on = true;
    e->rax_reg = e->rax_hint = -1;
}

/* A jump back to the superblock's head (a loop): when chaining is allowed,
 * do chain_core's bookkeeping for a block linked to itself (`vdone` insns,
 * `vnmem` loads/stores retired) and continue at `top` with the registers
 * still in host registers. Otherwise the interpreter's handler of `in`
 * redoes the jump from the unchanged state (the link of a jal, `link`, is
 * written only on the loop path). */
static void emit_sb_loop(struct emit *e, const struct sb *sb, unsigned j,
                         const struct insn *in, insn_fn fn, uint8_t *top,
                         unsigned vdone, unsigned vnmem, bool link)
{
    struct fallbacks f = {.n = 0};
    /* No irq_recheck test here: an interrupt or exit request waits at
     * most for the countdown (TIMER_COUNTDOWN iterations, microseconds),
     * which the ISA allows for asynchronous interrupts; what must be seen
     * at once (CSR writes, wfi, traps) ends the superblock anyway. The
     * budget test and its decrement in one: at -1 the handler's
     * chain_core does not chain either */
    e8(e, 0xff);
    m_rdi(e, 1, (int32_t)offsetof(struct hart, xb_chain)); /* dec */
    fb_jcc(e, &f, 0x88);                                   /* js */
    uint32_t lazy = e->lazy; /* (the path that does not loop keeps it) */
    if (link && in->rd) {
        ld_rdi(e, RAX, (int32_t)offsetof(struct hart, xb_pc));
        ri(e, G_ADD, RAX, sb->voff[j] + in->off + in->len, true);
        stx(e, RAX, in->rd);
    }
    extend_lazy(e); /* the head expects every value whole */
    e->lazy = lazy;
    add_mem64(e, offsetof(struct hart, instret), vdone);
    add_mem64(e, offsetof(struct hart, xb_mem), vnmem);
    e8(e, 0xe9);
    uint8_t *at = e->p;
    e32(e, 0);
    if (!e->full)
        patch_rel32(at, top);
    for (int k = 0; k < f.n; k++)
        if (!e->full)
            patch_rel32(f.at[k], e->p);
    exit_begin(e, sb, j);
    emit_tail(e, in, fn);
    exit_end(e);
}

/* The taken side of the branch ending segment j goes to insn q of the
 * later segment m (a join: an if without else whose body the superblock
 * follows): a chain step as emit_continue's, then a jump there. The
 * insns of the path not run (from after the branch to q) are taken off
 * instret and xb_mem now, since later exits, helpers and loop
 * jumps add the counts of the straight path (base, idx). In a budgeted
 * hart_run, or with the countdown spent, it leaves as before (the code
 * that follows, the side exit). */
static void emit_join_jump(struct emit *e, struct sb *sb, unsigned j)
{
    unsigned m = sb->jseg[j], q = sb->jq[j];
    const struct insn *in = &sb->seg[j]->insns[sb->end[j]];
    const struct insn *at = &sb->seg[m]->insns[q];
    unsigned from = sb->base[j] + sb->end[j] + 1, to = sb->base[m] + q;
    unsigned mfrom = sb->nmem[j] + in->nmem, mto = sb->nmem[m] + at->nmem;
    e8(e, 0x83);
    m_rdi(e, 7, (int32_t)offsetof(struct hart, xb_chain));
    e8(e, 0);                                   /* cmp dword [xb_chain], 0 */
    uint8_t *no = jcc_rel32(e, 0x8e);           /* jle: the side exit */
    e8(e, 0xff);
    m_rdi(e, 1, (int32_t)offsetof(struct hart, xb_chain)); /* dec */
    extend_lazy(e); /* the join expects every value whole */
    sub_mem64(e, offsetof(struct hart, instret), to - from);
    sub_mem64(e, offsetof(struct hart, xb_mem), mto - mfrom);
    e8(e, 0xe9);
    sb->jpatch[j] = e->p;
    e32(e, 0);
    sb->join_dirty[to] |= e->dirty;
    if (!e->full)
        patch_rel32(no, e->p);
}

/* The taken side of main segment j's branch runs its side segment: a
 * chain step (with emit_join_jump's test), then a jump to its code,
 * emitted after the straight path, with the state here. */
static void emit_side_jump(struct emit *e, struct sb *sb, unsigned j)
{
    unsigned s = sb->sideof[j];
    e8(e, 0x83);
    m_rdi(e, 7, (int32_t)offsetof(struct hart, xb_chain));
    e8(e, 0);                                   /* cmp dword [xb_chain], 0 */
    uint8_t *no = jcc_rel32(e, 0x8e);           /* jle: the side exit */
    e8(e, 0xff);
    m_rdi(e, 1, (int32_t)offsetof(struct hart, xb_chain)); /* dec */
    e8(e, 0xe9);
    sb->sjump[s] = e->p;
    e32(e, 0);
    sb->sdirty[s] = e->dirty;
    sb->slazy[s] = e->lazy;
    if (!e->full)
        patch_rel32(no, e->p);
}

/* Virtual insn v is next: where joins arrive, both paths come with
 * every value whole (none lazy), the registers either may have written
 * dirty, and nothing known of rax. */
static void emit_join(struct emit *e, struct sb *sb, unsigned v)
{
    if (!sb->join_at[v])
        return;
    extend_lazy(e);
    e->lazy = 0;
    e->fs_state = FS_UNKNOWN; /* (the jumps' paths may not have tested it) */
    e->dirty |= sb->join_dirty[v];
    e->rax_reg = e->rax_hint = -1;
    for (unsigned j = 0; j < sb->nseg; j++)
        if (sb->jpatch[j] && sb->base[sb->jseg[j]] + sb->jq[j] == v &&
            !e->full)
            patch_rel32(sb->jpatch[j], e->p);
}

/* Continuing into segment j + 1 counts as a chain step (the timer
 * countdown); in a budgeted hart_run (xb_chain 0) or when the countdown is
 * spent, leave through the interpreter's handler of `in`, which ends the
 * block there as chain_core does when it may not chain. */
static void emit_continue(struct emit *e, const struct sb *sb, unsigned j,
                          const struct insn *in, insn_fn fn)
{
    e8(e, 0xff);
    m_rdi(e, 1, (int32_t)offsetof(struct hart, xb_chain)); /* dec */
    uint8_t *cont = jcc_rel32(e, 0x89);                     /* jns */
    exit_begin(e, sb, j);
    emit_tail(e, in, fn);
    exit_end(e);
    if (!e->full)
        patch_rel32(cont, e->p);
}

/* The end of segment j: its ending insn or fall-through terminator. */
static void emit_seg_end(struct emit *e, const struct block_cache *bc,
                         struct sb *sb, unsigned j, uint8_t *top)
{
    static const uint8_t inv[] = {
        [OP_BEQ - OP_BEQ] = 0x85, [OP_BNE - OP_BEQ] = 0x84,
        [OP_BLT - OP_BEQ] = 0x8d, [OP_BGE - OP_BEQ] = 0x8c,
        [OP_BLTU - OP_BEQ] = 0x83, [OP_BGEU - OP_BEQ] = 0x82,
    };
    const struct block *b = sb->seg[j];
    unsigned k = sb->end[j];
    const struct insn *in = &b->insns[k];
    bool last = sb->side[j] || j + 1 == sb->nmain;
    unsigned vdone = sb->base[j] + k + (k < b->n);
    unsigned vnmem = sb->nmem[j] + in->nmem;

    if (k == b->n) { /* fall through: exec_block_end */
        if (!last) {
            emit_continue(e, sb, j, in, in->fn);
            return;
        }
        exit_begin(e, sb, j);
        emit_exit(e, b, 1, in->off, k, in->nmem, in, in->fn, NULL);
        exit_end(e);
        return;
    }
    insn_fn fn = exec_insn_fn(in);
    int64_t taken = in->imm + (int64_t)in->off;
    bool to_head = (int64_t)sb->voff[j] + taken == 0;
    if (in->op >= OP_BEQ && in->op <= OP_BGEU) {
        if (in->rs1 && hreg(e, in->rs1)) {
            op_rx(e, G_CMP, hreg(e, in->rs1), in->rs2, true);
        } else {
            ldx(e, RAX, in->rs1);
            op_rx(e, G_CMP, RAX, in->rs2, true);
        }
        if (!last && sb->taken[j]) {
            /* the superblock goes on at the target: the side exit is
             * the fall-through */
            uint8_t *t = jcc_rel32(e, inv[in->op - OP_BEQ] ^ 1);
            exit_begin(e, sb, j);
            emit_exit(e, b, 1, in->off + in->len, k + 1, in->nmem, in, fn,
                      NULL);
            exit_end(e);
            if (!e->full)
                patch_rel32(t, e->p);
            emit_continue(e, sb, j, in, fn);
            return;
        }
        uint8_t *nt = jcc_rel32(e, inv[in->op - OP_BEQ]);
        if (to_head) {
            emit_sb_loop(e, sb, j, in, fn, top, vdone, vnmem, false);
        } else {
            if (sb->jseg[j])
                emit_join_jump(e, sb, j);
            else if (sb->sideof[j])
                emit_side_jump(e, sb, j);
            exit_begin(e, sb, j);
            emit_exit(e, b, 0, taken, k + 1, in->nmem, in, fn, NULL);
            exit_end(e);
        }
        if (!e->full)
            patch_rel32(nt, e->p);
        if (!last) {
            emit_continue(e, sb, j, in, fn);
            return;
        }
        exit_begin(e, sb, j);
        emit_exit(e, b, 1, in->off + in->len, k + 1, in->nmem, in, fn, NULL);
        exit_end(e);
        return;
    }
    if (in->op == OP_JAL) {
        if (!last) {
            emit_continue(e, sb, j, in, fn);
            if (in->rd) {
                ld_rdi(e, RAX, (int32_t)offsetof(struct hart, xb_pc));
                ri(e, G_ADD, RAX, sb->voff[j] + in->off + in->len, true);
                stx(e, RAX, in->rd);
                e->dirty |= 1u << in->rd;
            }
            return;
        }
        if (to_head) {
            emit_sb_loop(e, sb, j, in, fn, top, vdone, vnmem, true);
            return;
        }
        exit_begin(e, sb, j);
        emit_exit(e, b, 0, taken, k + 1, in->nmem, in, fn, in);
        exit_end(e);
        return;
    }
    exit_begin(e, sb, j);
    if (in->op == OP_JALR)
        emit_jalr(e, bc, in, fn);
    else
        emit_tail(e, in, fn);
    exit_end(e);
}

static bool is_native_mem(const struct insn *in)
{
    return (in->op >= OP_LB && in->op <= OP_SD &&
            !(in->op <= OP_LWU && in->rd == 0)) ||
           in->op == OP_FLD || in->op == OP_FSD;
}

/* native code with a slow path: memory accesses, the common D insns */
static bool has_slow_path(const struct insn *in)
{
    return is_native_mem(in) || jit_fp_native(in);
}

/* an insn the translation runs through a call of its handler */
static bool is_helper(const struct insn *in)
{
    return !has_slow_path(in) && !jit_emit_alu(&(struct emit){0}, in);
}

static unsigned end_index(const struct block *b)
{
    unsigned k = 0;
    while (k < b->n && !rv_op_ends_block(b->insns[k].op))
        k++;
    return k;
}

/* Grow the superblock from its head `b` (running at h->pc): follow the
 * not-taken side of conditional branches, forward jal and fall-through
 * while the next block starts in the same page. False when looking up a
 * block flushed the block cache (b is gone). */
static bool form_superblock(struct hart *h, struct block *b, struct sb *sb)
{
    struct block_cache *bc = h->bcache;
    uint64_t pc0 = h->pc;
    unsigned pgoff = (unsigned)(b->pa & (GMEM_PAGE_SIZE - 1));

    memset(sb, 0, offsetof(struct sb, fix));
    sb->nfix = 0;
    sb->seg[0] = b;
    sb->end[0] = end_index(b);
    sb->nseg = 1;
    sb->nmain = 1;
    for (;;) {
        unsigned j = sb->nseg - 1;
        const struct block *c = sb->seg[j];
        unsigned k = sb->end[j];
        const struct insn *in = &c->insns[k];
        uint64_t next;
        if (k == c->n)
            next = sb->voff[j] + in->off;
        else if (in->op >= OP_BEQ && in->op <= OP_BGEU) {
            /* the side the interpreter has gone (its links say which
             * exits have run): the target when only that one has, if it
             * lies ahead; else the fall-through */
            sb->taken[j] = c->link[0] && !c->link[1] && in->imm > 0;
            next = sb->voff[j] + in->off +
                   (sb->taken[j] ? (uint64_t)in->imm : in->len);
        }
        else if (in->op == OP_JAL && in->imm > 0)
            next = sb->voff[j] + in->off + (uint64_t)in->imm;
        else
            break;
        unsigned used = sb->base[j] + k + (k < c->n);
        /* (room for a whole first insn: one straddling the page end
         * would be fetched through the slow path, which may fault) */
        if (sb->nseg == SB_SEGS || used + BLOCK_MAX + 1 > SB_INSNS ||
            pgoff + next + 4 > GMEM_PAGE_SIZE)
            break;
        /* the same virtual page, so the fetch TLB entry the head was
         * found through maps it */
        const struct tlb_entry *t = tlb_lookup(h, ACCESS_FETCH, pc0 + next);
        if (!t || pc0 + next + t->addend != b->host + next)
            break;
        uint64_t gen = bc->gen;
        const struct block *nb = block_fetch_slow(h, pc0 + next);
        if (bc->gen != gen)
            return false;
        if (!nb || nb == bc->one || nb == bc->trunc || nb->dead ||
            nb->pa != b->pa + next || nb->host != b->host + next)
            break;
        sb->seg[j + 1] = nb;
        sb->base[j + 1] = used;
        sb->voff[j + 1] = (unsigned)next;
        sb->nmem[j + 1] = sb->nmem[j] + in->nmem;
        sb->end[j + 1] = end_index(nb);
        sb->nseg++;
        sb->nmain++;
    }
    h->pc = pc0;
    return true;
}

/* The side segments (struct sb): for a main branch whose taken side is
 * neither followed nor a join, the block the interpreter linked there
 * when it is ahead in the same page and ends in a branch or jal back to
 * the head. No decoding: only blocks that have run are taken. */
static void add_sides(struct sb *sb)
{
    const struct block *head = sb->seg[0];
    unsigned pgoff = (unsigned)(head->pa & (GMEM_PAGE_SIZE - 1));
    unsigned total = 0;
    for (unsigned j = 0; j < sb->nseg; j++)
        total += sb->end[j] + 1;
    for (unsigned j = 0; j + 1 < sb->nmain && sb->nseg < SB_SEGS; j++) {
        const struct block *c = sb->seg[j];
        unsigned k = sb->end[j];
        const struct insn *in = &c->insns[k];
        if (k == c->n || in->op < OP_BEQ || in->op > OP_BGEU ||
            sb->taken[j] || sb->jseg[j] || in->imm <= 0)
            continue;
        uint64_t t = sb->voff[j] + in->off + (uint64_t)in->imm;
        const struct block *nb = c->link[0];
        if (!nb || nb->dead || pgoff + t + 4 > GMEM_PAGE_SIZE ||
            nb->pa != head->pa + t || nb->host != head->host + t)
            continue;
        unsigned ne = end_index(nb);
        unsigned base = sb->base[j] + k + 1;
        if (ne == nb->n || total + ne + 1 > SB_INSNS ||
            base + nb->n + 1 > 255)
            continue;
        const struct insn *x = &nb->insns[ne];
        bool back = (x->op == OP_JAL ||
                     (x->op >= OP_BEQ && x->op <= OP_BGEU)) &&
                    (int64_t)t + x->off + x->imm == 0;
        if (!back)
            continue;
        unsigned s = sb->nseg++;
        sb->seg[s] = nb;
        sb->base[s] = base;
        sb->voff[s] = (unsigned)t;
        sb->nmem[s] = sb->nmem[j] + in->nmem;
        sb->end[s] = ne;
        sb->taken[s] = false;
        sb->side[s] = true;
        sb->sideof[j] = (uint8_t)s;
        total += ne + 1;
    }
}

/* The joins of a superblock (struct sb): a forward branch whose taken
 * side is not followed but lands on an insn of a later segment. */
static void find_joins(struct sb *sb)
{
    memset(sb->jseg, 0, sizeof(sb->jseg));
    memset(sb->side, 0, sizeof(sb->side));
    memset(sb->sideof, 0, sizeof(sb->sideof));
    memset(sb->sjump, 0, sizeof(sb->sjump));
    memset(sb->jpatch, 0, sizeof(sb->jpatch));
    memset(sb->join_at, 0, sizeof(sb->join_at));
    memset(sb->join_dirty, 0, sizeof(sb->join_dirty));
    for (unsigned j = 0; j + 1 < sb->nmain; j++) {
        const struct block *c = sb->seg[j];
        const struct insn *in = &c->insns[sb->end[j]];
        if (sb->end[j] == c->n || in->op < OP_BEQ || in->op > OP_BGEU ||
            sb->taken[j] || in->imm <= 0)
            continue;
        uint64_t to = sb->voff[j] + in->off + (uint64_t)in->imm;
        for (unsigned m = j + 1; m < sb->nmain && !sb->jseg[j]; m++) {
            const struct block *d = sb->seg[m];
            /* an insn of the segment, its ending one included (not the
             * terminator: that pc is the next segment's start) */
            unsigned lim = sb->end[m] < d->n ? sb->end[m] : d->n - 1;
            for (unsigned q = 0; q <= lim; q++)
                if (sb->voff[m] + d->insns[q].off == to) {
                    sb->jseg[j] = (uint8_t)m;
                    sb->jq[j] = (uint8_t)q;
                    sb->join_at[sb->base[m] + q] = true;
                    break;
                }
        }
    }
}

/* Segment j ends in a branch or jal back to the superblock's head. */
static bool sb_ends_at_head(const struct sb *sb, unsigned j)
{
    if (sb->end[j] >= sb->seg[j]->n)
        return false;
    const struct insn *in = &sb->seg[j]->insns[sb->end[j]];
    return ((in->op >= OP_BEQ && in->op <= OP_BGEU) || in->op == OP_JAL) &&
           (int64_t)sb->voff[j] + in->off + in->imm == 0;
}

/* How much a use in each segment counts: in a loop's body (the main
 * segments up to the last one that jumps, or branches to a side segment
 * that jumps, back to the head; the side segments) it runs once per
 * iteration, the code after the loop once. */
#define SB_LOOP_WEIGHT 8u
static void segment_weights(const struct sb *sb, bool loops, unsigned *w)
{
    unsigned last = 0;
    bool any = false;
    for (unsigned j = 0; j < sb->nmain; j++)
        if (sb_ends_at_head(sb, j) || sb->sideof[j]) {
            last = j;
            any = true;
        }
    for (unsigned j = 0; j < sb->nseg; j++)
        w[j] = loops && any && (sb->side[j] || j <= last) ? SB_LOOP_WEIGHT : 1u;
}

/* The guest registers used most in the superblock go to host registers
 * (caller-saved ones the code never needs otherwise); a use in a loop's
 * body counts SB_LOOP_WEIGHT times. */
static void choose_regs(struct emit *e, const struct sb *sb, bool helpers,
                        bool loops)
{
    unsigned weight[SB_SEGS];
    segment_weights(sb, loops, weight);
    static const uint8_t pool[] = {RBX, RBP, R12, R13, R14, R15,
                                   R8, R9, R10, R11, RSI};
    /* with helper calls on the hot path, only callee-saved registers
     * (nothing to reload after each call) */
    unsigned npool = helpers ? 6 : sizeof(pool);
    unsigned use[32] = {0};
    for (unsigned j = 0; j < sb->nseg; j++) {
        const struct block *c = sb->seg[j];
        for (unsigned k = 0; k <= sb->end[j] && k < c->n; k++) {
            const struct insn *in = &c->insns[k];
            if (in->op >= OP_FLW && in->op <= OP_FCLASS_D &&
                in->op != OP_FLD && in->op != OP_FSD && in->op != OP_FLW &&
                in->op != OP_FSW)
                continue; /* f registers or helpers: no gain */
            use[in->rd] += weight[j];
            use[in->rs1] += weight[j];
            use[in->rs2] += weight[j];
        }
    }
    use[0] = 0; /* x0 is no register */
    memset(e->host, 0, sizeof(e->host));
    for (unsigned p = 0; p < npool; p++) {
        unsigned best = 0;
        for (unsigned r = 1; r < 32; r++)
            if (!e->host[r] && use[r] > use[best])
                best = r;
        /* a register costs a load at entry, a store per exit and maybe a
         * push/pop: worth it for two uses in a loop, three otherwise */
        if (!best || use[best] < (loops ? 2u : 3u))
            break;
        e->host[best] = pool[p];
        use[best] = 0;
        if (callee_saved(pool[p]))
            e->saved[e->nsaved++] = pool[p];
    }
    if (e->nsaved & 1) /* keep the stack 16-byte aligned for calls */
        e->saved[e->nsaved++] = RCX; /* (rcx: scratch, not the result) */
    e->ra_on = true;
}

struct jit_scratch {
    struct sb sb;
    struct jit_slow slows[SB_INSNS];
    struct mrole roles[SB_INSNS];
};

static struct jit_scratch *scratch_new(void)
{
    return calloc(1, sizeof(struct jit_scratch));
}

bool jit_translate(struct hart *h, struct block *b)
{
    struct jit_cache *jc = h->jit;
    struct block_cache *bc = h->bcache;

    if (jc->gen != bc->gen) { /* the blocks of the old code are gone */
        jc->gen = bc->gen;
        jc->used = 0;
    }
    if (jc->size - jc->used < JIT_BLOCK_BYTES) {
        block_cache_flush(h);
        jc->gen = bc->gen;
        jc->used = 0;
        return true;
    }

    unsigned n = b->n, native = 0, helpers = 0, k = 0;
    for (; k < n; k++) {
        const struct insn *in = &b->insns[k];
        if (rv_op_ends_block(in->op))
            break;
        struct emit probe = {0};
        if (has_slow_path(in) || jit_emit_alu(&probe, in))
            native++;
        else
            helpers++;
    }
    /* A block that is only a branch or jump (a switch's chain of beq, a
     * loop's closing bnez that an if jumps to, a ret) is worth it too:
     * its superblock takes in the blocks after it, and translated code
     * around it no longer leaves for the interpreter there. */
    unsigned end_op = k < n ? b->insns[k].op : OP_COUNT;
    bool jump_only = !native && !helpers &&
                     ((end_op >= OP_BEQ && end_op <= OP_BGEU) ||
                      end_op == OP_JAL || end_op == OP_JALR);
    /* Calling a handler from translated code costs more than the
     * interpreter's dispatch: blocks made mostly of helper calls (FP
     * arithmetic, atomics) stay interpreted. */
    if ((!native && !jump_only) || helpers > native) {
        b->jit_state = JIT_NEVER;
        return false;
    }

    struct sb *sbp = &jc->scratch->sb;
    if (!form_superblock(h, b, sbp))
        return true; /* a lookup flushed the block cache */
    if (jc->gen != bc->gen)
        return true;
    find_joins(sbp);
    add_sides(sbp);

    unsigned nthunk = 0;
    bool any_helper = false, loops = false;
    uint32_t written = 0;
    for (unsigned j = 0; j < sbp->nseg; j++) {
        for (unsigned k = 0; k < sbp->end[j]; k++) {
            const struct insn *in = &sbp->seg[j]->insns[k];
            bool mem = has_slow_path(in);
            bool helper = !mem && !jit_emit_alu(&(struct emit){0}, in);
            nthunk += mem || helper;
            any_helper |= helper;
            written |= 1u << in->rd;
        }
        const struct insn *in = &sbp->seg[j]->insns[sbp->end[j]];
        if (sbp->end[j] < sbp->seg[j]->n) {
            written |= 1u << in->rd;
            loops |= sb_ends_at_head(sbp, j);
        }
    }

    /* thunks first (two insns each, aligned), then the code */
    uint8_t *start = jc->base + jc->used;
    struct insn *thunks = (struct insn *)(void *)start;
    struct jit_slow *slows = jc->scratch->slows;
    unsigned nslow = 0, t = 0;
    struct emit e = {.p = start + (size_t)nthunk * 2 * sizeof(struct insn),
                     .end = jc->base + jc->size,
                     .rax_reg = -1,
                     .rax_hint = -1,
                     .threshold = h->jit_threshold};
    uint8_t *code = e.p;
    choose_regs(&e, sbp, any_helper, loops);
    struct mrole *roles = jc->scratch->roles;
    find_groups(&e, sbp, roles);
    unsigned pos = 0;
    push_saved(&e);
    reload(&e, true);
    uint8_t *top = e.p;
    if (loops) /* a jump back to top may come with any of them dirty */
        e.dirty = written & ~1u;

    for (unsigned j = 0; j < sbp->nseg; j++) {
        const struct block *c = sbp->seg[j];
        if (sbp->side[j]) { /* entered from its branch, with its state */
            if (sbp->sjump[j] && !e.full)
                patch_rel32(sbp->sjump[j], e.p);
            e.dirty = sbp->sdirty[j];
            e.lazy = sbp->slazy[j];
            e.fs_state = FS_UNKNOWN;
            e.ra_on = true;
            e.rax_reg = e.rax_hint = -1;
        }
        for (unsigned k = 0; k < sbp->end[j]; k++, pos++) {
            struct insn v = c->insns[k]; /* idx/off from the head */
            v.idx = (uint8_t)(sbp->base[j] + k);
            v.off = (uint16_t)(sbp->voff[j] + v.off);
            struct insn *th = NULL;
            if (!sbp->side[j]) /* (its indexes repeat the main path's) */
                emit_join(&e, sbp, v.idx);
            bool mem = has_slow_path(&v);
            if (mem || !jit_emit_alu(&(struct emit){0}, &v)) {
                th = &thunks[2 * t++];
                th[0] = v;
                th[0].fn = exec_insn_fn(&v);
                memset(&th[1], 0, sizeof(th[1]));
                th[1].fn = jit_resume;
                th[1].idx = v.idx;
                th[1].off = v.off;
            }
            e.rax_hint = e.rax_reg;
            e.rax_reg = -1;
            if (mem) {
                struct jit_slow *s = &slows[nslow++];
                memset(s, 0, sizeof(*s));
                s->grp = -1;
                s->dirty = e.dirty;
                s->lazy = e.lazy;
                if (is_native_mem(&v))
                    emit_mem(&e, &v, &roles[pos], s);
                else
                    jit_emit_fp(&e, &v, s);
                s->thunk = th;
                s->fn = th[0].fn;
                s->seg = j;
                e.rax_reg = -1; /* the slow path resumes with rax clobbered */
            } else if (th) {
                emit_helper(&e, sbp, j, th, th[0].fn);
                e.rax_reg = -1;
            } else {
                jit_emit_alu(&e, &v);
                if (v.op >= OP_DIV && v.op <= OP_REMUW)
                    e.rax_reg = -1; /* several paths join after the store */
            }
            if (!th || (mem && v.op < OP_SB) || v.op == OP_FMV_X_D ||
                v.op == OP_FCVT_W_D || v.op == OP_FCVT_L_D)
                e.dirty |= 1u << v.rd; /* (x0 and stores: never used) */
            e.rax_hint = -1;
        }
        if (sbp->end[j] < c->n && !sbp->side[j])
            emit_join(&e, sbp, sbp->base[j] + sbp->end[j]);
        e.rax_hint = e.rax_reg;
        e.rax_reg = -1;
        emit_seg_end(&e, bc, sbp, j, top);
        e.rax_hint = e.rax_reg = -1;
    }

    for (unsigned s = 0; s < nslow; s++) {
        uint8_t *stub = e.p;
        if (e.full)
            break;
        for (unsigned k = 0; k < JIT_SLOW_JUMPS; k++)
            if (slows[s].jmp[k])
                patch_rel32(slows[s].jmp[k], stub);
        e.dirty = slows[s].dirty;
        e.lazy = slows[s].lazy;
        if (slows[s].grp >= 0) { /* the group's others take theirs too */
            e8(&e, 0x48); e8(&e, 0xc7);         /* mov qword [slot], 0 */
            m_rdi(&e, 0, ADDEND_OFF(slows[s].grp));
            e32(&e, 0);
        }
        emit_helper(&e, sbp, slows[s].seg, slows[s].thunk, slows[s].fn);
        e8(&e, 0xe9);
        uint8_t *at = e.p;
        e32(&e, 0);
        if (!e.full)
            patch_rel32(at, slows[s].resume);
    }
    /* one fix-up stub per segment that has helpers (segment 0 needs none) */
    uint8_t *fixstub[SB_SEGS] = {0};
    for (unsigned f = 0; f < sbp->nfix && !e.full; f++) {
        unsigned j = sbp->fixseg[f];
        if (!fixstub[j]) {
            fixstub[j] = e.p;
            emit_fixup(&e, sbp, j);
        }
        if (!e.full)
            patch_rel32(sbp->fix[f], fixstub[j]);
    }
    if (e.full) { /* cannot happen below JIT_BLOCK_BYTES; be safe anyway */
        b->jit_state = JIT_NEVER;
        return false;
    }
    size_t used = (size_t)(e.p - start);
    jc->used += (used + 31) & ~(size_t)31;
    jc->blocks++;
    if (jc->perf_map)
        perf_note(code, (size_t)(e.p - code), b->pa);
    b->interp0 = b->insns[0].fn;
    b->insns[0].fn = (insn_fn)(uintptr_t)code;
    b->jit_state = JIT_DONE;
    return false;
}

#else /* not x86-64: the interpreter only */

struct jit_scratch {
    int unused;
};

static struct jit_scratch *scratch_new(void)
{
    return calloc(1, sizeof(struct jit_scratch));
}

bool jit_translate(struct hart *h, struct block *b)
{
    (void)h;
    b->jit_state = JIT_NEVER;
    return false;
}

#endif
