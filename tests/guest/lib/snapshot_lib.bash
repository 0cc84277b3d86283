# Helpers for the snapshot guest tests (sourced; not a test itself: only
# tests/guest/*.sh are run). A guest keeps a 16 MiB random file in tmpfs
# (guest RAM) with its checksum, a counter ticking every 100 ms and the
# page-verifying workload (pagecheck: 32 MiB of seeded patterns, rewritten
# and re-verified continuously); each
# round trip pauses it, snapshots it, kills the VMM with SIGKILL, restores
# it in a new process and checks the file, the counter and the uptime.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pagecheck_lib.bash"

SNAP_WORK=$(mktemp -d)
SNAP_LAST_CNT=0
SNAP_LAST_UP=0
# The check before the last one (a restore of an older snapshot must pass
# the figures seen before that snapshot was taken, not after).
SNAP_PREV_CNT=0
SNAP_PREV_UP=0
snap_cleanup() {
    [ -n "${CORRAL_PID:-}" ] && kill -9 "$CORRAL_PID" 2>/dev/null
    rm -rf "$SNAP_WORK"
}
trap snap_cleanup EXIT
[ -n "${SNAP_KEEP:-}" ] && trap - EXIT
snap_fail() { echo "FAIL: $*"; exit 1; }

# snap_boot CPUS [EXTRA corral run ARGS...]: a booted guest with the workload.
snap_boot() {
    local cpus=$1 dir
    shift
    dir=$(guest_dir) || snap_fail "no guest images"
    SNAP_SOCK=$SNAP_WORK/api0.sock
    start_corral "$SNAP_WORK/console0.log" run --firmware "$dir/fw_dynamic.bin" \
        --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --cpus "$cpus" --memory 256M \
        --cmdline "console=ttyS0 quiet" --api-sock "$SNAP_SOCK" "$@"
    wait_for 'built-in commands' 240 || snap_fail "the guest did not boot"
    send $'dd if=/dev/urandom of=/tmp/blob bs=1M count=16 2>/dev/null; md5sum /tmp/blob >/tmp/blob.md5\n'
    # Written to a new file and renamed: a reader never sees the empty file
    # between a truncate and the write (a loaded host preempts the guest there).
    send $'(i=0; while :; do i=$((i+1)); echo $i >/tmp/cnt.new; mv /tmp/cnt.new /tmp/cnt; usleep 100000; done) &\n'
    # Up = the counter has written its first value (round 0 reads it).
    send $'while [ ! -s /tmp/cnt ]; do usleep 100000; done; printf "W%s\\n" ORKLOAD-UP\n'
    wait_for 'WORKLOAD-UP' 120 || snap_fail "the workload did not start"
    pagecheck_start 32 --rate 16 || snap_fail "pagecheck did not start"
}

# snap_round K DIR [create args...]: snapshot into DIR, SIGKILL, restore, check.
snap_round() {
    local k=$1 dir=$2 out
    shift 2
    out=$("$CORRAL" snapshot create --sock "$SNAP_SOCK" --dir "$dir" "$@" 2>&1) ||
        snap_fail "round $k: snapshot create: $out"
    echo "round $k: $out"
    kill -9 "$CORRAL_PID"
    end_session 50
    SNAP_SOCK=$SNAP_WORK/api$k.sock
    start_corral "$SNAP_WORK/console$k.log" restore "$dir" --api-sock "$SNAP_SOCK"
    snap_check "$k"
}

# snap_counters WHAT K: the file's checksum holds, the counter and the
# uptime passed the last ones seen (cnt and up set; WHAT names K in errors).
snap_counters() {
    local what=$1 k=$2 line
    send "md5sum -c -s /tmp/blob.md5 && printf 'C%s %s %s %s\\n' HECK $k \$(cat /tmp/cnt) \$(cut -d' ' -f1 /proc/uptime) || printf 'B%s\\n' AD-SUM"$'\n'
    wait_for "CHECK $k |BAD-SUM" 60 || snap_fail "$what $k: the guest does not answer"
    grep -q 'BAD-SUM' "$SESSION_LOG" && snap_fail "$what $k: guest memory changed (checksum)"
    line=$(grep -a -o "CHECK $k [0-9]* [0-9.]*" "$SESSION_LOG" | tail -n 1)
    cnt=$(awk '{print $3}' <<<"$line")
    up=$(awk '{print $4}' <<<"$line")
    [ -n "$cnt" ] && [ -n "$up" ] || snap_fail "$what $k: no counter in '$line'"
    [ "$cnt" -gt "$SNAP_LAST_CNT" ] || snap_fail "$what $k: counter $cnt did not pass $SNAP_LAST_CNT (timers stopped?)"
    awk -v a="$up" -v b="$SNAP_LAST_UP" 'BEGIN { exit !(a > b) }' ||
        snap_fail "$what $k: uptime $up is not past $SNAP_LAST_UP (clock went backwards)"
}

# snap_check K: snap_counters, then pagecheck made a whole new sweep with
# no mismatch.
snap_check() {
    local k=$1 cnt up
    sleep 0.5
    snap_counters round "$k"
    # Every page as pagecheck wrote it, its sweeps going on, its clock sane.
    local before
    pagecheck_status 30 || snap_fail "round $k: no pagecheck status"
    before=$PC_LINE
    # A sweep takes longer on a loaded host: look again for up to 15 s
    # before calling a stalled workload (a mismatch fails at once).
    local tries
    for ((tries = 0; tries < 10; tries++)); do
        sleep 1.5
        pagecheck_status 30 || snap_fail "round $k: no pagecheck status"
        [ "$(pagecheck_field "$PC_LINE" mismatches)" = 0 ] || break
        [ "$(pagecheck_field "$PC_LINE" rounds)" -gt "$(pagecheck_field "$before" rounds)" ] 2>/dev/null && break
    done
    pagecheck_assert_progress "$before" "$PC_LINE" || snap_fail "round $k: pagecheck: $PC_LINE"
    echo "round $k: counter $cnt, uptime $up, pagecheck rounds=$PC_ROUNDS verified=$PC_VERIFIED mismatches=$PC_MISMATCHES"
    SNAP_PREV_CNT=$SNAP_LAST_CNT
    SNAP_PREV_UP=$SNAP_LAST_UP
    SNAP_LAST_CNT=$cnt
    SNAP_LAST_UP=$up
    SNAP_LAST_VERIFIED=$PC_VERIFIED
}

# snap_quick_check K: snap_check for many moves in a row: the checksum
# holds, the counter and uptime advanced, and pagecheck has no mismatched
# page and no backwards clock and verified more pages since the last check
# (without waiting for a whole new sweep, which snap_check does).
snap_quick_check() {
    local k=$1 cnt up tries
    snap_counters move "$k"
    for ((tries = 0; ; tries++)); do
        pagecheck_status 30 || snap_fail "move $k: no pagecheck status"
        [ "$PC_MISMATCHES" = 0 ] || snap_fail "move $k: $PC_MISMATCHES mismatched pages: $PC_LINE"
        [ "$PC_CLOCK_BACKWARDS" = 0 ] || snap_fail "move $k: pagecheck saw the clock go back: $PC_LINE"
        [ "$PC_VERIFIED" -gt "${SNAP_LAST_VERIFIED:-0}" ] && break
        [ "$tries" -lt 15 ] || snap_fail "move $k: pagecheck verified nothing since the last check: $PC_LINE"
        sleep 1
    done
    echo "move $k: counter $cnt, uptime $up, pagecheck verified=$PC_VERIFIED mismatches=0"
    SNAP_LAST_CNT=$cnt
    SNAP_LAST_UP=$up
    SNAP_LAST_VERIFIED=$PC_VERIFIED
}

# snap_poweroff: the last restored guest powers off cleanly (status 0).
snap_poweroff() {
    send $'poweroff\n'
    end_session 300
    [ "$SESSION_RC" = 0 ] || snap_fail "poweroff after the last restore: status $SESSION_RC"
    CORRAL_PID=
}

# snap_migrate K [corral migrate options...]: live-migrate the VM to a new
# process on loopback; the old one must exit 0. SNAP_SOCK is the new
# process's afterwards; SNAP_MIG_OUT the client's final line.
snap_migrate() {
    local k=$1 port old_dir new_sock out i
    shift
    port=$(free_port)
    old_dir=$SESSION_DIR
    new_sock=$SNAP_WORK/mig$k.sock
    # The destination gets its own console session; the source's is kept
    # to collect its status.
    exec 9>&7
    if [ -n "${SNAP_MIG_VIA_API:-}" ]; then
        # An API-only process told to wait with PUT /migrate/incoming.
        start_corral "$SNAP_WORK/console-mig$k.log" run --api-sock "$new_sock"
        for ((i = 0; i < 100; i++)); do [ -S "$new_sock" ] && break; sleep 0.1; done
        out=$(curl -s --max-time 20 --unix-socket "$new_sock" -X PUT -w ' %{http_code}' \
            -H 'Content-Type: application/json' -d "{\"uri\":\"tcp:127.0.0.1:$port\"}" \
            http://localhost/migrate/incoming)
        [ "${out##* }" = 204 ] || snap_fail "migration $k: PUT /migrate/incoming: $out"
    else
        # SNAP_MIG_DEST_ARGS: more flags for the destination (word-split).
        # shellcheck disable=SC2086
        start_corral "$SNAP_WORK/console-mig$k.log" run --incoming "tcp:127.0.0.1:$port" \
            --api-sock "$new_sock" ${SNAP_MIG_DEST_ARGS:-}
        sleep 0.3
    fi
    out=$("$CORRAL" migrate --sock "$SNAP_SOCK" "$@" "tcp:127.0.0.1:$port" 2>&1) ||
        snap_fail "migration $k: $out"
    echo "migration $k ($*): $out"
    SNAP_MIG_OUT=$out
    for ((i = 0; i < 100; i++)); do [ -f "$old_dir/rc" ] && break; sleep 0.1; done
    [ "$(cat "$old_dir/rc" 2>/dev/null)" = 0 ] ||
        snap_fail "migration $k: the source did not exit 0 ($(cat "$old_dir/rc" 2>/dev/null))"
    exec 9>&-
    rm -rf "$old_dir"
    SNAP_SOCK=$new_sock
}

# snap_recover_source SOCK URI OLD_DIR: `corral migrate --recover URI` on
# the paused post-copy source behind SOCK completes the migration (after
# one recovery) and the source, whose session is OLD_DIR (its console kept
# open in fd 9, as snap_migrate keeps it), exits 0. Output in SNAP_MIG_OUT.
snap_recover_source() {
    local out i
    out=$("$CORRAL" migrate --sock "$1" --recover "$2" 2>&1) || snap_fail "the source's recovery: $out"
    echo "recovery: $out"
    grep -q "completed" <<<"$out" && grep -q "recovered 1 time" <<<"$out" || snap_fail "recovery: $out"
    for ((i = 0; i < 100; i++)); do [ -f "$3/rc" ] && break; sleep 0.1; done
    [ "$(cat "$3/rc" 2>/dev/null)" = 0 ] ||
        snap_fail "the source did not exit 0 after the recovery ($(cat "$3/rc" 2>/dev/null))"
    exec 9>&-
    rm -rf "$3"
    SNAP_MIG_OUT=$out
}

# snap_fault K KIND: a pre-copy migration that fails at a random point,
# after which the source must still run with its workload intact:
#   kill     the destination is killed 0.1..1.5 s into the migration (capped
#            at 64 MiB/s, so it has not finished by then)
#   drop     the connection is reset after a random number of bytes
#   corrupt  one random byte of the stream is flipped
#   refuse   the destination refuses the configuration (an override
#            names an interface the VM does not have)
# Drop and corrupt go through tests/tools/faultproxy. Sets SNAP_FAULT_OUT.
snap_fault() {
    local k=$1 kind=$2 port pport dpid ppid at
    port=$(free_port)
    local extra=()
    [ "$kind" = refuse ] && extra=(--net-override "nosuch=tap9")
    "$CORRAL" run --incoming "tcp:127.0.0.1:$port" "${extra[@]}" </dev/null \
        >"$SNAP_WORK/fault$k.log" 2>&1 &
    dpid=$!
    local target=$port
    if [ "$kind" = drop ] || [ "$kind" = corrupt ]; then
        pport=$(free_port)
        at=$(( (RANDOM * 32768 + RANDOM) % (60 << 20) + 1024 ))
        "$BUILD/tools/faultproxy" "$pport" "$port" "$kind" "$at" >"$SNAP_WORK/proxy$k.log" 2>&1 &
        ppid=$!
        target=$pport
    fi
    sleep 0.3
    local cap=()
    if [ "$kind" = kill ]; then
        cap=(--max-bandwidth 64)
        ( sleep "$((RANDOM % 15 / 10)).$((RANDOM % 10))1"; kill -9 "$dpid" 2>/dev/null ) &
    fi
    SNAP_FAULT_OUT=$("$CORRAL" migrate --sock "$SNAP_SOCK" "${cap[@]}" "tcp:127.0.0.1:$target" 2>&1) &&
        snap_fail "fault $k ($kind${at:+ at byte $at}): the migration succeeded: $SNAP_FAULT_OUT"
    kill -9 "$dpid" 2>/dev/null
    wait "$dpid" 2>/dev/null
    [ -n "${ppid:-}" ] && { kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null; }
    echo "fault $k ($kind${at:+ at byte $at}): $SNAP_FAULT_OUT"
    snap_check "$k"
}
