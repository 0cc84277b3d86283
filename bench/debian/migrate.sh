#!/usr/bin/env bash
# The full Debian system live-migrated while a shell in it keeps working
# (issue 10's "done when"), on the build `corral image debian` left in the
# cache (minutes: not in make test): systemd boots from a qcow2 overlay
# (shared storage: both processes open the same path), root logs in on the
# console and starts a counter (a shell loop, every 200 ms) beside a file
# with its checksum; then the VM moves between two Corral processes on
# loopback in pre-copy, post-copy and auto mode, in turn. After each move
# the old process exited 0, the console of the new one answers, the
# counter went on, the file's checksum holds and systemd reports no failed
# unit; at the end `ctl shutdown` powers it off cleanly and `qemu-img
# check` finds the overlay intact. Prints each move's figures.
# E2E_SUITE picks the suite (default trixie); MOVES the rounds of the
# three modes (default 1).
. "$(dirname "$0")/../../tests/guest/lib/lib.sh"
. "$(dirname "$0")/lib.bash"
MOVES=${MOVES:-1}
echo "== Debian $SUITE live migration; load average $(cut -d' ' -f1-3 /proc/loadavg)"

qemu-img create -q -f qcow2 -b "$D/base.qcow2" -F qcow2 "$work/ov.qcow2" || fail "qemu-img create"
t0=$SECONDS
sock=$work/vm0.sock
start_corral "$work/console0.log" run --kernel "$D/Image" --initrd "$D/initrd.img" \
    --disk "$work/ov.qcow2,format=qcow2" --cpus 2 --memory 1G --name deb-mig --api-sock "$sock" \
    --cmdline "console=ttyS0 root=/dev/vda rw net.ifnames=0"
login
echo "  booted and logged in: $((SECONDS - t0)) s"
send $'head -c 8388608 /dev/urandom >/root/m.bin; sha256sum /root/m.bin >/root/m.sum; (i=0; while :; do i=$((i+1)); echo $i >/root/cnt.new; mv /root/cnt.new /root/cnt; sleep 0.2; done) & echo "START""ED"\n'
wait_for 'STARTED' 60 || fail "the counter did not start"
last=0 k=0
for ((round = 1; round <= MOVES; round++)); do
    for mode in precopy postcopy auto; do
        k=$((k + 1))
        port=$(free_port)
        old_dir=$SESSION_DIR
        exec 9>&7 # the source's console stays open until it exits
        start_corral "$work/console$k.log" run --incoming "tcp:127.0.0.1:$port" --api-sock "$work/vm$k.sock"
        sleep 0.3
        extra=()
        [ "$mode" = auto ] && extra=(--downtime-ms 1)
        out=$("$CORRAL" migrate --sock "$sock" --mode "$mode" "${extra[@]}" "tcp:127.0.0.1:$port" 2>&1) ||
            fail "move $k ($mode): $out"
        echo "  move $k ($mode): $(head -n 1 <<<"$out" | sed 's/^migration to [^ ]* //')"
        for ((i = 0; i < 100; i++)); do [ -f "$old_dir/rc" ] && break; sleep 0.1; done
        [ "$(cat "$old_dir/rc" 2>/dev/null)" = 0 ] || fail "move $k: the source did not exit 0"
        exec 9>&-
        rm -rf "$old_dir"
        sock=$work/vm$k.sock
        send "sha256sum -c --quiet /root/m.sum && printf 'M%s %s %s %s\\n' OVED $k \$(cat /root/cnt) \$(systemctl --failed --no-legend | wc -l)"$'\n'
        wait_for "MOVED $k [0-9]+ [0-9]+" 120 || fail "move $k: the shell does not answer on the new console"
        line=$(grep -aoE "MOVED $k [0-9]+ [0-9]+" "$SESSION_LOG" | tail -n 1)
        cnt=$(cut -d' ' -f3 <<<"$line")
        failed=$(cut -d' ' -f4 <<<"$line")
        [ "$cnt" -gt "$last" ] || fail "move $k: the counter $cnt did not pass $last"
        [ "$failed" = 0 ] || fail "move $k: $failed failed units"
        echo "    the shell answers: counter $cnt (was $last), checksum intact, 0 failed units"
        last=$cnt
    done
done
t1=$SECONDS
out=$("$CORRAL" ctl --name deb-mig shutdown 2>&1) || fail "ctl shutdown: $out"
end_session 1800
[ "$SESSION_RC" = 0 ] || fail "corral exited $SESSION_RC after ctl shutdown"
CORRAL_PID=
grep -aq 'reboot: Power down' "$SESSION_LOG" || fail "no 'reboot: Power down'"
echo "  ctl shutdown after the moves: $((SECONDS - t1)) s, exit 0"
qemu-img check -q "$work/ov.qcow2" || fail "qemu-img check: $(qemu-img check "$work/ov.qcow2" 2>&1 | tail -n 3)"
echo "migrate: PASS: $k moves of the full Debian system, the shell working after each ($((SECONDS - t0)) s)"
