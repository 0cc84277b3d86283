#!/usr/bin/env bash
# Long libFuzzer runs (issue 14: >= 1 h per target, by hand; make test
# runs each for 5 s): the fuzz suite of tests/run-all.sh with a longer
# FUZZ_SECONDS, two targets at a time, from a scratch copy of the seeds.
# Usage: bench/fuzz/long.sh [SECONDS] [TARGET...] (default 3600 s, every
# target); FUZZ_NICE=19 yields to other work. Each target's line gives its
# executions and coverage; a crash fails it, its input in build/test-logs.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-3600}
shift $(($# > 0 ? 1 : 0))
case $secs in '' | *[!0-9]*) echo "long.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;; esac
for t in "$@"; do
    [ -f "$ROOT/tests/fuzz/$t.c" ] || { echo "long.sh: no fuzz target '$t' (tests/fuzz/$t.c)" >&2; exit 2; }
done
cd "$ROOT" && make -s fuzz-build >/dev/null || { echo "long.sh: make fuzz-build failed" >&2; exit 1; }
FUZZ_BUILD=build-fuzz FUZZ_SECONDS=$secs CORRAL_SUITES=fuzz CORRAL_FUZZ_ONLY="$*" exec tests/run-all.sh
