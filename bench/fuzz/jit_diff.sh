#!/usr/bin/env bash
# The JIT's differential fuzzer run long, by hand (issue 12; make test
# runs its fixed seeds): tests/unit/test_jit_diff in batches of CASES
# programs per test, each batch on new seeds (CORRAL_JIT_DIFF_SEED
# shifted by 1,000,000), until SECONDS have passed or a batch fails.
# Usage: bench/fuzz/jit_diff.sh [SECONDS] [CASES] (default 3600 s, 3000
# cases); FUZZ_NICE=19 yields to other work; JIT_DIFF_FIRST=N starts at
# batch N (to continue an earlier run on new seeds). The last line gives
# the hours, batches and programs compared; a failing batch's output
# (the seed and the first difference) is in build/bench/jit_diff-fail.log.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-3600}
cases=${2:-3000}
first=${JIT_DIFF_FIRST:-1}
for v in "$secs" "$cases" "$first"; do
    case $v in '' | *[!0-9]*) echo "jit_diff.sh: SECONDS, CASES and JIT_DIFF_FIRST must be numbers, not '$v'" >&2; exit 2 ;; esac
done
cd "$ROOT" && make -s build/tests/unit/test_jit_diff >/dev/null ||
    { echo "jit_diff.sh: cannot build build/tests/unit/test_jit_diff" >&2; exit 1; }
mkdir -p build/bench
bin=build/tests/unit/test_jit_diff out=build/bench/jit_diff-batch.log
t0=$SECONDS batch=$first done=0
# Programs per batch: seven tests run CASES each and test_diff_grp 4 x
# CASES (tests/unit/test_jit_diff.c, the loops over ncases()).
per_batch=$((11 * cases))
while ((SECONDS - t0 < secs)); do
    seed=$((batch * 1000000))
    if ! CORRAL_JIT_DIFF_SEED=$seed CORRAL_JIT_DIFF_CASES=$cases nice -n "${FUZZ_NICE:-0}" "$bin" >"$out" 2>&1; then
        cp "$out" build/bench/jit_diff-fail.log
        echo "jit_diff.sh: batch $batch (CORRAL_JIT_DIFF_SEED=$seed CORRAL_JIT_DIFF_CASES=$cases) FAILED:" >&2
        grep -E "seed|FAILED|ERROR" "$out" | head -5 >&2
        exit 1
    fi
    grep -q '^\[  PASSED  \]' "$out" && ! grep -q SKIPPED "$out" ||
        { echo "jit_diff.sh: batch $batch did not run every test (no JIT on this host?)" >&2; exit 1; }
    done=$((done + per_batch))
    echo "batch $batch: seed $seed, $per_batch programs: clean ($((SECONDS - t0)) s)"
    batch=$((batch + 1))
done
awk -v s=$((SECONDS - t0)) -v b=$((batch - first)) -v n=$done \
    'BEGIN { printf "jit_diff.sh: %.2f h, %d batches, %d programs compared with the interpreter, none differed\n", s / 3600, b, n }'
