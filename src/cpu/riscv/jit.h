/* The CPU engine choice and the dynamic binary translator (RV64 -> x86-64).
 *
 * The interpreter (exec*.c) is the reference and always present. With the
 * JIT engine a cached block that hart_run (or translated code chaining into
 * it) has entered `threshold` times is translated to host code, which
 * replaces the block's first handler: the rest of the machine, the block
 * cache, chaining and invalidation do not change. The translation covers a superblock (the block and those after
 * it in the same page, see jit.c) with guest registers in host registers;
 * it executes natively what it can (integer ALU, loads/stores with an
 * inline TLB fast path, the common D ops), runs the others through their
 * interpreter handler (a call, or at an end a tail jump into the
 * interpreter), and leaves the way the interpreter does, so pc, instret
 * and the instruction budget of hart_run(h, n) stay exact.
 *
 * Code lives in a per-hart executable arena (bounded, default
 * JIT_CACHE_DEFAULT), reset together with the block cache: when either
 * fills up, both are flushed at a block boundary, where no translated code
 * is running. Hosts other than x86-64 build the stubs only: jit_available()
 * is false and the interpreter runs. Hart thread only, except
 * cpu_engine_parse (any thread). */
#ifndef CORRAL_CPU_RISCV_JIT_H
#define CORRAL_CPU_RISCV_JIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

struct hart;
struct block;

enum cpu_engine {
    CPU_ENGINE_DEFAULT = 0, /* CORRAL_CPU_ENGINE, else jit on x86-64 hosts */
    CPU_ENGINE_INTERP = 1,
    CPU_ENGINE_JIT = 2,
};

#define JIT_THRESHOLD_DEFAULT 16
#define JIT_CACHE_DEFAULT (32u << 20)
#define JIT_CACHE_MIN (1u << 20)
#define JIT_CACHE_MAX (1024u << 20)

struct jit_options {
    uint32_t threshold;  /* hart_run entries before translation; 0 = at once */
    size_t cache_bytes;  /* code arena per hart */
    uint8_t perf_map;    /* 1: append translated blocks to /tmp/perf-PID.map;
                            2: also their code to /tmp/jit-PID.dump */
};

/* "interp" / "jit" -> enum; -1 for anything else. */
int cpu_engine_parse(const char *s);
const char *cpu_engine_name(int engine);
bool jit_available(void);
/* The engine to use for `requested` (DEFAULT resolves through the
 * CORRAL_CPU_ENGINE environment variable, else jit where available) and
 * the options
 * from CORRAL_JIT_THRESHOLD, CORRAL_JIT_CACHE_MB and CORRAL_JIT_PERF_MAP (1
 * or 2, see perf_map).
 * Returns CPU_ENGINE_INTERP when the JIT is not available. */
int cpu_engine_resolve(int requested, struct jit_options *opt);

/* Switch hart `h` to `engine` (before it runs). 0 or -errno (no
 * executable memory: the hart keeps the interpreter). */
int hart_set_engine(struct hart *h, int engine,
                    const struct jit_options *opt) WARN_UNUSED;
void jit_destroy(struct hart *h);
/* Blocks translated by this hart so far (statistics). */
uint64_t jit_blocks_translated(const struct hart *h);

/* Called by hart_run for a cached block that has reached the threshold:
 * translate it (or mark it untranslatable). May flush the block cache
 * when the code arena is full: it then returns true and the caller must
 * look the block up again (b belongs to the flushed generation). */
bool jit_translate(struct hart *h, struct block *b);

#endif
