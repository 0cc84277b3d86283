#!/usr/bin/env bash
# A long libFuzzer run of fuzz targets (issue 14: >= 1 h each, by hand;
# make test runs each for 5 s). Usage: bench/fuzz/long.sh [SECONDS] [TARGET...]
# (default 3600 s, every target in tests/fuzz/, one after another; set
# FUZZ_NICE=19 to yield to other work). Each run starts from the committed
# seed corpus in a scratch copy (the corpus in git is not changed) and
# prints one line: target, wall seconds, executions, coverage edges,
# features, corpus size, crashes; a crash leaves its input in
# bench/fuzz/crashes/ and fails the script.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-3600}
shift $(($# > 0 ? 1 : 0))
case $secs in '' | *[!0-9]*) echo "long.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;; esac
make -C "$ROOT" -s fuzz-build >/dev/null || { echo "long.sh: make fuzz-build failed" >&2; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || for f in "$ROOT"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
mkdir -p "$ROOT/bench/fuzz/crashes"
rc=0
for t in "${targets[@]}"; do
    bin=$ROOT/build-fuzz/fuzz/$t
    [ -x "$bin" ] || { echo "long.sh: no $bin" >&2; exit 2; }
    work=$(mktemp -d)
    [ -d "$ROOT/tests/fuzz/corpus/$t" ] && cp -r "$ROOT/tests/fuzz/corpus/$t/." "$work/"
    log=$(mktemp)
    t0=$SECONDS
    nice -n "${FUZZ_NICE:-0}" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$ROOT/bench/fuzz/crashes/$t-" "$work" >"$log" 2>&1
    st=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*')
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
    corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*')
    crashes=$(ls "$ROOT/bench/fuzz/crashes/$t-"* 2>/dev/null | wc -l)
    echo "$t seconds=$((SECONDS - t0)) execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} crashes=$crashes exit=$st"
    if [ "$st" != 0 ] || [ "$crashes" != 0 ]; then
        rc=1
        tail -n 30 "$log"
    fi
    rm -rf "$work" "$log"
done
exit $rc
