# Issue 16, the console. In the default guest's shell: Ctrl-C interrupts
# a foreground `sleep 100` and the shell answers after it (the shell had
# inherited SIGINT ignored from /init); the shell has the console as its
# controlling terminal, so job control works (Ctrl-Z stops a job, kill %1
# ends it). The escapes: Ctrl-A h lists them all, Ctrl-A b sends a break
# (then 'h' is Linux's SysRq help), Ctrl-A c opens the monitor (status,
# pause, resume, snapshot, metrics, help) and closes it again, Ctrl-A x
# quits with status 0. One boot.
. "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || exit 1
log=$(mktemp)
snap=$(mktemp -d)
trap 'rm -rf "$log" "$snap"; [ -n "${CORRAL_PID:-}" ] && kill -9 "$CORRAL_PID" 2>/dev/null' EXIT
start_corral "$log" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --cmdline "console=ttyS0 quiet"
wait_for 'guest ready' 120 || exit 1
sleep 0.5
t0=$(date +%s%N)

# ---- Ctrl-C and the controlling terminal ----
send $'sleep 100; echo SLEEP-DONE\n'
sleep 1
send $'\003'
send $'echo ALIVE-$((6*7)) $(cat /proc/self/stat | cut -d" " -f7)\n'
wait_for '^[0-9.]+ ALIVE-42' 10 || { echo "FAIL: the shell did not answer after Ctrl-C during sleep 100"; exit 1; }
grep -qE '^[0-9.]+ SLEEP-DONE' "$log" && { echo "FAIL: 'sleep 100; echo' went on after Ctrl-C: the shell's list was not interrupted"; exit 1; }
tty_nr=$(grep -E '^[0-9.]+ ALIVE-42' "$log" | tail -n 1 | awk '{ print $3 }')
[ -n "$tty_nr" ] && [ "$tty_nr" != 0 ] || { echo "FAIL: the shell has no controlling terminal (tty_nr '$tty_nr')"; exit 1; }
echo "ok: Ctrl-C interrupted sleep 100, the shell answered (controlling tty $tty_nr)"

# ---- job control: Ctrl-Z stops the foreground job, fg/kill find it ----
send $'sleep 200\n'
sleep 1
send $'\032'
wait_for 'Stopped.*sleep 200' 10 || { echo "FAIL: Ctrl-Z did not stop the foreground job"; exit 1; }
send $'kill %1; echo JOBS-$((40+2))\n'
wait_for '^[0-9.]+ JOBS-42' 10 || exit 1
echo "ok: job control (Ctrl-Z, kill %1)"

# ---- Ctrl-A h ----
send $'\001h'
wait_for 'C-a c ' 5 || exit 1
for k in 'C-a x' 'C-a b' 'C-a h' 'C-a C-a'; do
    grep -qF -- "$k" "$log" || { echo "FAIL: Ctrl-A h does not list '$k'"; exit 1; }
done
echo "ok: Ctrl-A h lists the escapes"

# ---- Ctrl-A b, then 'h': Linux's SysRq help ----
send $'\001b'
sleep 0.3
send 'h'
wait_for 'sysrq: HELP' 10 || { echo "FAIL: no SysRq help after Ctrl-A b h"; exit 1; }
echo "ok: Ctrl-A b sent a break (SysRq h answered)"

# ---- Ctrl-A c: the monitor ----
send $'\001c'
wait_for 'corral monitor' 5 || exit 1
send $'status\r'
wait_for 'VM [^ ]+: Running' 5 || exit 1
send $'pause\r'
wait_for '^[0-9.]+ paused' 5 || exit 1
send $'status\r'
wait_for 'VM [^ ]+: Paused' 5 || exit 1
send $'resume\r'
wait_for '^[0-9.]+ resumed' 5 || exit 1
send "snapshot $snap/s1"$'\r'
wait_for "snapshot $snap/s1 written \\(Full\\)" 30 || exit 1
[ -s "$snap/s1/state" ] && [ -e "$snap/s1/memory" ] || { echo "FAIL: the monitor's snapshot left no state/memory files"; exit 1; }
send $'status\r'
wait_for 'VM [^ ]+: Running.*' 5 || exit 1
send $'metrics console\r'
wait_for '^[0-9.]+ console[a-z_.]*: [0-9]+' 5 || exit 1
send $'bogus\r'
wait_for "unknown command 'bogus'" 5 || exit 1
send $'help\r'
wait_for 'snapshot DIR' 5 || exit 1
send $'\001c'
wait_for 'back to the guest console' 5 || exit 1
send $'echo BACK-$((7*6))\n'
wait_for '^[0-9.]+ BACK-42' 10 || { echo "FAIL: the guest did not answer after the monitor"; exit 1; }
echo "ok: Ctrl-A c monitor: status, pause, resume, snapshot, metrics, help, back to the guest"

# ---- Ctrl-A x ----
send $'\001x'
end_session 100
[ "$SESSION_RC" = 0 ] || { tail -n 20 "$log"; echo "FAIL: Ctrl-A x gave exit status $SESSION_RC"; exit 1; }
echo "ok: Ctrl-A x exit 0 ($((($(date +%s%N) - t0) / 1000000)) ms after the prompt)"
