#!/usr/bin/env bash
# Runs every test suite and ends with "N passed, N failed[, N skipped]".
# Suites: unit (cmocka binaries), isa (bare-metal programs on Corral),
# guest (scripts in tests/guest: exit 0 pass, 77 skip with a reason on the
# last line of output, anything else fail), fuzz (each libFuzzer binary in
# $FUZZ_BUILD/fuzz for FUZZ_SECONDS from tests/fuzz/corpus/NAME). Helpers
# live in tests/guest/lib/ and are never counted. CORRAL_SUITES limits the
# run, e.g. CORRAL_SUITES="unit isa"; CORRAL_GUEST_ONLY="a virtio_*" runs
# only the guest tests whose names match one of the patterns.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITES=${CORRAL_SUITES:-unit isa guest fuzz}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
echo "cpu engine: ${CORRAL_CPU_ENGINE:-default (jit on x86-64)}${CORRAL_JIT_THRESHOLD:+, jit threshold $CORRAL_JIT_THRESHOLD}"
passed=0 failed=0 skipped=0
failures=()
# Logs of failed tests, shown after the summary list: CI keeps only the
# last part of what is printed, so the reason must come at the end.
failure_logs=()

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

# Guest tests that measure time, rates or host memory run alone; the rest
# run CORRAL_TEST_GUEST_JOBS at a time (default: one more than the cores,
# 3 here: a guest test spends about 40 % of its time waiting on sleeps,
# consoles and the network, and the suite must stay under 15 minutes).
# Known to take a minute or more (for the order when no earlier time is here).
GUEST_SLOW="snapshot_diff_smp migrate_precopy migrate_back_forth pipeline_cache snapshot_roundtrip snapshot_badinput
    snapshot_balloon qcow2_kill migrate_tap snapshot_net migrate_disks migrate_postcopy migrate_recover migrate_recover_complete cluster_basic cluster_snapshot"
# (The balloon tests measure their own VMM's RSS, with 30 s margins: they
# run with the others.)
GUEST_SERIAL="quota_cpu quota_memory ratelimit_blk ratelimit_net ksm_merge console_flood"

guest_selected() { # NAME: in CORRAL_GUEST_ONLY (all when unset)?
    [ -z "${CORRAL_GUEST_ONLY:-}" ] && return 0
    local p
    for p in $CORRAL_GUEST_ONLY; do
        # shellcheck disable=SC2053
        [[ $1 == $p ]] && return 0
    done
    return 1
}

guest_one() { # TEST: runs it, leaves its status in LOGDIR/NAME.guest.rc
    local t=$1 base rc
    base=$(basename "$t" .sh)
    local t0=$SECONDS
    if BUILD=$BUILD timeout 900 bash "$t" >"$LOGDIR/$base.guest.log" 2>&1; then rc=0; else rc=$?; fi
    echo "$((SECONDS - t0))" >"$LOGDIR/$base.guest.secs"
    echo "$rc" >"$LOGDIR/$base.guest.rc"
}

run_guest() {
    local t base rc jobs=${CORRAL_TEST_GUEST_JOBS:-$(($(nproc) + 1))} picked=()
    echo "== guest tests ($jobs at a time; timing-sensitive ones alone)"
    # The longest first (their last time here, else GUEST_SLOW), so that no
    # long test starts last and runs alone at the end.
    local order=()
    for t in tests/guest/*.sh; do
        [ -f "$t" ] || continue
        base=$(basename "$t" .sh)
        guest_selected "$base" || continue
        local secs
        secs=$(cat "$LOGDIR/$base.guest.secs" 2>/dev/null || echo 0)
        [ "$secs" -gt 0 ] 2>/dev/null || { [[ " $(echo $GUEST_SLOW) " == *" $base "* ]] && secs=100 || secs=10; }
        order+=("$secs $t")
        rm -f "$LOGDIR/$base.guest.rc"
    done
    while read -r _ t; do picked+=("$t"); done < <(printf '%s\n' "${order[@]}" | sort -k1,1nr -k2)
    for t in "${picked[@]}"; do
        base=$(basename "$t" .sh)
        [[ " $(echo $GUEST_SERIAL) " == *" $base "* ]] && continue
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
        guest_one "$t" &
    done
    wait
    for t in "${picked[@]}"; do
        base=$(basename "$t" .sh)
        [[ " $(echo $GUEST_SERIAL) " == *" $base "* ]] && guest_one "$t"
    done
    for t in $(printf '%s\n' "${picked[@]}" | sort); do
        base=$(basename "$t" .sh)
        rc=$(cat "$LOGDIR/$base.guest.rc" 2>/dev/null || echo 255)
        case $rc in
            0) pass "guest/$base ($(cat "$LOGDIR/$base.guest.secs" 2>/dev/null) s)" ;;
            77) skip "guest/$base" "$(tail -n 1 "$LOGDIR/$base.guest.log")" ;;
            *) fail "guest/$base" "exit $rc: $(tail -n 1 "$LOGDIR/$base.guest.log")"
               failure_logs+=("$LOGDIR/$base.guest.log") ;;
        esac
    done
}

fuzz_one() { # BIN: runs it, leaves its exit status in LOGDIR/NAME.fuzz.rc
    local bin=$1 name log corpus work rc
    name=$(basename "$bin")
    log=$LOGDIR/$name.fuzz.log
    corpus=tests/fuzz/corpus/$name
    # New inputs go to a scratch directory: the committed seeds stay as they are.
    work=$(mktemp -d)
    if timeout $((FUZZ_SECONDS + 120)) nice -n "${FUZZ_NICE:-0}" "$bin" -max_total_time="$FUZZ_SECONDS" \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$LOGDIR/$name-" \
        "$work" $( [ -d "$corpus" ] && echo "$corpus" ) >"$log" 2>&1; then rc=0; else rc=$?; fi
    rm -rf "$work"
    echo "$rc" >"$LOGDIR/$name.fuzz.rc"
}

run_fuzz() {
    # Each target is one single-threaded process: CORRAL_TEST_JOBS at a time.
    local jobs=${CORRAL_TEST_JOBS:-2} bin name log rc picked=()
    echo "== fuzz targets (${FUZZ_SECONDS} s each, $jobs at a time)"
    for bin in "$FUZZ_BUILD"/fuzz/fuzz_*; do
        [ -x "$bin" ] || continue
        # CORRAL_FUZZ_ONLY: these targets only (space-separated names).
        [ -z "${CORRAL_FUZZ_ONLY:-}" ] || [[ " $CORRAL_FUZZ_ONLY " == *" $(basename "$bin") "* ]] || continue
        picked+=("$bin")
        rm -f "$LOGDIR/$(basename "$bin").fuzz.rc"
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
        fuzz_one "$bin" &
    done
    wait
    for bin in "${picked[@]}"; do
        name=$(basename "$bin")
        log=$LOGDIR/$name.fuzz.log
        rc=$(cat "$LOGDIR/$name.fuzz.rc" 2>/dev/null || echo 255)
        if [ "$rc" = 0 ]; then
            pass "fuzz/$name ($(grep -a -o 'Done [0-9]* runs' "$log" | tail -n 1); $(grep -a -E '^#[0-9]+' "$log" | tail -n 1 | grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*'))"
        else
            fail "fuzz/$name" "exit $rc: see $log"
            # CI keeps only what is printed: show what the fuzzer found.
            grep -a -m 4 -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | sed 's/^/        /'
        fi
    done
    [ ${#picked[@]} -gt 0 ] || skip "fuzz" "no fuzz targets built in $FUZZ_BUILD/fuzz (make fuzz-build)"
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
    for log in "${failure_logs[@]}"; do
        echo "---- last lines of $log ----"
        tail -n 30 "$log" | cut -c1-200
    done
fi
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
