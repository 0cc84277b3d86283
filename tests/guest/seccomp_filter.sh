#!/usr/bin/env bash
# Issue 14: the seccomp allow-lists. A forbidden call (execve, through the
# hidden --seccomp-test-violation KIND hook) from a hart thread, the I/O
# thread, an API thread or the main thread ends the VMM with status 159
# and one line naming the thread and the call; with --no-seccomp the same
# execve just fails (ENOENT) and the program passes. A running VMM has its
# filters installed on every thread (/proc/PID/task/*/status). Every
# other guest test runs with the filters on.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
work_setup
fail() { echo "---- stderr ----"; cat "$work/err" 2>/dev/null; echo "FAIL: $*"; exit 1; }
elf=$BUILD/isa/rv64i.elf
[ -f "$elf" ] || fail "no $elf (make isa)"
riscv64-unknown-elf-gcc -march=rv64g -mabi=lp64d -nostdlib -nostartfiles -static \
    -Wl,-N,--no-warn-rwx-segments -Ttext=0x80000000 -o "$work/spin.elf" \
    "$TOP/tests/guest/progs/spin.S" || fail "cannot build spin.elf"

# KIND WHO: the violation from that thread kills the process with the line.
expect_killed() {
    local rc=0
    timeout 60 "$CORRAL" run --test "$elf" --seccomp-test-violation "$1" >"$work/out" \
        2>"$work/err" || rc=$?
    [ "$rc" = 159 ] || fail "$1: exit status $rc, want 159"
    grep -q "^corral: error: seccomp: $2 made system call 59 (execve), which its allow-list forbids$" \
        "$work/err" || fail "$1: no seccomp line naming $2 and execve"
    echo "$1: killed (159): $(cat "$work/err")"
}
expect_killed hart "a hart thread"
expect_killed io "the I/O thread"
expect_killed main "the main thread"

# Without the filters the same call fails harmlessly and the program passes.
rc=0
timeout 60 "$CORRAL" run --test "$elf" --seccomp-test-violation hart --no-seccomp \
    >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" = 0 ] || fail "--no-seccomp: exit status $rc, want 0"
grep -q PASS "$work/out" || fail "--no-seccomp: the program did not pass"
grep -q seccomp "$work/err" && fail "--no-seccomp: a seccomp line was printed"
echo "--no-seccomp: execve failed harmlessly, program passed"

# An API thread enters its filter at its first request.
sock=$work/api.sock
"$CORRAL" run --test "$work/spin.elf" --api-sock "$sock" --timeout 60 \
    --seccomp-test-violation api </dev/null >/dev/null 2>"$work/err" &
pid=$!
for ((i = 0; i < 200; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no API socket"
curl -s --max-time 10 --unix-socket "$sock" http://localhost/ >/dev/null
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 159 ] || fail "api: exit status $rc, want 159"
grep -q "^corral: error: seccomp: an API thread made system call 59 (execve)" "$work/err" ||
    fail "api: no seccomp line naming an API thread"
echo "api: killed (159) at the first request"

# filters KIND... PID: every thread of a running VMM is filtered (or none is).
count_filtered() {
    local f n=0
    for f in /proc/"$1"/task/*/status; do
        [ "$(awk '/^Seccomp:/ { print $2 }' "$f")" = 2 ] && n=$((n + 1))
    done
    echo "$n"
}
for mode in on off; do
    sock=$work/api-$mode.sock # not the killed VMM's stale socket
    args=()
    [ $mode = off ] && args=(--no-seccomp)
    "$CORRAL" run --test "$work/spin.elf" --api-sock "$sock" --timeout 60 "${args[@]}" \
        </dev/null >/dev/null 2>"$work/err" &
    pid=$!
    for ((i = 0; i < 200; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || fail "no API socket ($mode)"
    curl -s --max-time 10 --unix-socket "$sock" http://localhost/ | grep -q Running ||
        fail "GET / ($mode) did not answer Running"
    threads=$(ls /proc/$pid/task | wc -l)
    filtered=$(count_filtered $pid)
    echo "seccomp $mode: $filtered of $threads threads filtered"
    if [ $mode = on ]; then
        [ "$filtered" = "$threads" ] || fail "only $filtered of $threads threads are filtered"
    else
        [ "$filtered" = 0 ] || fail "--no-seccomp: $filtered threads are filtered"
    fi
    kill -TERM $pid
    wait $pid 2>/dev/null
    pid=
done
echo "PASS"
