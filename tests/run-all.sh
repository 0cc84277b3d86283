#!/usr/bin/env bash
# Runs every test suite and ends with "N passed, N failed[, N skipped]".
# Suites: unit (cmocka binaries), isa (bare-metal programs on Corral),
# guest (scripts in tests/guest: exit 0 pass, 77 skip with a reason on the
# last line of output, anything else fail). CORRAL_SUITES limits the run,
# e.g. CORRAL_SUITES="unit isa". CORRAL_CPU_ENGINE=interp|jit picks the
# CPU engine of every corral started (read by corral itself; also
# CORRAL_JIT_THRESHOLD=0 to translate every block at once).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITES=${CORRAL_SUITES:-unit isa fuzz guest}
FUZZ_SECONDS=${CORRAL_FUZZ_SECONDS:-10}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
echo "cpu engine: ${CORRAL_CPU_ENGINE:-default (jit on x86-64)}${CORRAL_JIT_THRESHOLD:+, jit threshold $CORRAL_JIT_THRESHOLD}"
passed=0 failed=0 skipped=0
failures=()

pass() { passed=$((passed + 1)); printf '  PASS  %s\n' "$1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); printf '  FAIL  %s%s\n' "$1" "${2:+ ($2)}"; }
skip() { skipped=$((skipped + 1)); printf '  SKIP  %s: %s\n' "$1" "$2"; }

run_unit() {
    echo "== unit tests"
    local bin name log
    for bin in "$BUILD"/tests/unit/test_*; do
        [ -x "$bin" ] || continue
        name=$(basename "$bin")
        log=$LOGDIR/$name.log
        # cmocka prints one "[       OK ]" or "[  FAILED  ]" line per case.
        if timeout 300 "$bin" >"$log" 2>&1; then rc=0; else rc=$?; fi
        local ok bad
        ok=$(grep -c '^\[       OK \]' "$log")
        bad=$(grep -E -c '^\[  (FAILED|ERROR) +\] [a-zA-Z_]' "$log")
        passed=$((passed + ok))
        if [ "$bad" -gt 0 ]; then
            while read -r l; do fail "$name: $l" "see $log"; done < <(grep -E '^\[  (FAILED|ERROR) +\] [a-zA-Z_]' "$log" | sed -E 's/^\[  (FAILED|ERROR) +\] //')
        elif [ "$rc" -ne 0 ]; then
            fail "$name" "exit $rc, see $log"
        fi
        printf '  %-40s %d ok, %d failed\n' "$name" "$ok" "$bad"
    done
}

run_isa() {
    echo "== ISA test programs"
    local elf name log rc
    for elf in "$BUILD"/isa/*.elf; do
        [ -f "$elf" ] || continue
        name=isa/$(basename "$elf" .elf)
        log=$LOGDIR/$(basename "$elf" .elf).isa.log
        # smpN_NAME programs need N harts.
        local cpus=1
        [[ $name =~ /smp([0-9])_ ]] && cpus=${BASH_REMATCH[1]}
        if timeout 150 "$BUILD/corral" run --test "$elf" --cpus "$cpus" --timeout 120 >"$log" 2>&1; then
            pass "$name"
        else
            rc=$?
            fail "$name" "exit $rc: $(tail -n 1 "$log")"
        fi
    done
}

run_guest() {
    echo "== guest tests"
    local t name log rc
    for t in tests/guest/*.sh; do
        [ -f "$t" ] || continue
        [ "$(basename "$t")" = lib.sh ] && continue # the shared harness, not a test
        name=guest/$(basename "$t" .sh)
        log=$LOGDIR/$(basename "$t" .sh).guest.log
        if BUILD=$BUILD timeout 900 bash "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
        case $rc in
            0) pass "$name" ;;
            77) skip "$name" "$(tail -n 1 "$log")" ;;
            *) fail "$name" "exit $rc: $(tail -n 1 "$log")" ;;
        esac
    done
}

# Each libFuzzer target (make fuzz) for a short fixed time from its seed
# corpus (tests/fuzz/corpus/NAME, copied: the run adds to the copy): a
# crash, leak or sanitizer report fails it.
run_fuzz() {
    echo "== fuzz targets (${FUZZ_SECONDS} s each)"
    local bin name log corpus
    for bin in build-fuzz/fuzz/fuzz_*; do
        [ -x "$bin" ] || continue
        name=$(basename "$bin")
        log=$LOGDIR/$name.fuzz.log
        corpus=$(mktemp -d)
        [ -d "tests/fuzz/corpus/${name#fuzz_}" ] && cp -r "tests/fuzz/corpus/${name#fuzz_}/." "$corpus/"
        if timeout $((FUZZ_SECONDS + 60)) "$bin" -max_total_time="$FUZZ_SECONDS" \
            -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 "$corpus" >"$log" 2>&1; then
            pass "fuzz/$name ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs)"
        else
            fail "fuzz/$name" "see $log"
        fi
        rm -rf "$corpus"
    done
}

for s in $SUITES; do
    case $s in
        unit) run_unit ;;
        isa) run_isa ;;
        guest) run_guest ;;
        fuzz) run_fuzz ;;
        *) echo "unknown suite $s" >&2; exit 2 ;;
    esac
done

if [ ${#failures[@]} -gt 0 ]; then
    echo "Failures:"
    printf '  %s\n' "${failures[@]}"
fi
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
