#!/usr/bin/env bash
# The full Debian system end to end, as a user meets it (issue 16), on the
# build `corral image debian` left in the cache (minutes: not in make test
# or make bench):
#  1. `corral up --debian --name N`: systemd boots to a login prompt on the
#     console; root logs in there (the generated password, or the key);
#     SSH on the forwarded port runs a command; no unit failed.
#  2. `corral ctl --name N shutdown` is a power button: systemd stops its
#     services and powers off; corral exits 0 and the hard stop (SysRq
#     sync, remount read-only) never ran.
#  3. Data: the same system under an overlay of our own; a file written
#     without sync, then ctl shutdown; afterwards `qemu-img check` is clean,
#     e2fsck finds the filesystem clean and the file has the checksum the
#     guest printed.
# Prints each step's time. E2E_SUITE picks the suite (default trixie).
. "$(dirname "$0")/../../tests/guest/lib/lib.sh"
. "$(dirname "$0")/lib.bash"
key=
for k in "$HOME"/.ssh/id_ed25519 "$HOME"/.ssh/id_rsa "$HOME"/.ssh/id_ecdsa; do
    [ -r "$k" ] && { key=$k; break; }
done
echo "== e2e: Debian $SUITE from $D; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# shutdown_clean NAME: ctl shutdown; corral exits 0 with systemd's orderly
# stop on the console and no emergency fallback.
shutdown_clean() {
    local t0=$SECONDS out
    out=$("$CORRAL" ctl --name "$1" shutdown 2>&1) || fail "ctl shutdown: $out"
    end_session 1800
    [ "$SESSION_RC" = 0 ] || fail "corral exited $SESSION_RC after ctl shutdown"
    CORRAL_PID=
    grep -aq 'reboot: Power down' "$SESSION_LOG" || fail "no 'reboot: Power down'"
    local stopped
    stopped=$(grep -ac 'Stopped ' "$SESSION_LOG")
    [ "$stopped" -ge 5 ] || fail "systemd stopped $stopped units (want an orderly stop)"
    grep -aqiE 'sysrq|Emergency Sync|Emergency Remount' "$SESSION_LOG" &&
        fail "the hard stop (SysRq) ran instead of an orderly shutdown"
    grep -aqE 'EXT4-fs (error|warning)' "$SESSION_LOG" && fail "ext4 complained: $(grep -a 'EXT4-fs' "$SESSION_LOG" | tail -n 3)"
    echo "  ctl shutdown: $((SECONDS - t0)) s to exit 0, $stopped units stopped by systemd"
}

# 1. corral up --debian: console login and SSH.
t0=$SECONDS
start_corral "$work/up.log" up --debian${E2E_SUITE:+=$SUITE} --name e2e-up
wait_for 'ssh -p [0-9]+ root@127.0.0.1' 30 || fail "corral up printed no ssh command"
port=$(grep -ao 'ssh -p [0-9]*' "$work/up.log" | head -n 1 | awk '{print $3}')
login
echo "  up --debian: console login after $((SECONDS - t0)) s"
send $'printf "F%s %s\\n" AILED "$(systemctl --failed --no-legend | wc -l)"; printf "S%s %s\\n" TATE "$(systemctl is-system-running --wait)"\n'
wait_for 'STATE [a-z]+' 300 || fail "systemctl did not answer"
grep -aq 'FAILED 0' "$work/up.log" || fail "failed units: $(grep -ao 'FAILED [0-9]*' "$work/up.log")"
echo "  systemd: $(grep -ao 'STATE [a-z]*' "$work/up.log" | tail -n 1), 0 failed units"
ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20
          -o BatchMode=yes -p "$port")
[ -n "$key" ] && ssh_opts+=(-i "$key")
got=
for _ in $(seq 20); do
    got=$(timeout 60 ssh "${ssh_opts[@]}" root@127.0.0.1 'echo ssh-ok $(uname -m)' 2>/dev/null) && break
    sleep 3
done
[ "$got" = "ssh-ok riscv64" ] || fail "SSH on port $port: '$got' (key ${key:-none}; the build takes the first ~/.ssh/id_*.pub)"
echo "  ssh -p $port root@127.0.0.1: $got"
shutdown_clean e2e-up
[ -z "$(ls -A "$D/run" 2>/dev/null)" ] || fail "up --debian left its overlay: $(ls "$D/run")"

# 2. Data written without sync survives ctl shutdown.
qemu-img create -q -f qcow2 -b "$D/base.qcow2" -F qcow2 "$work/ov.qcow2" || fail "qemu-img create"
start_corral "$work/data.log" run --kernel "$D/Image" --initrd "$D/initrd.img" \
    --disk "$work/ov.qcow2,format=qcow2" --cpus 2 --memory 1G --name e2e-data \
    --cmdline "console=ttyS0 root=/dev/vda rw net.ifnames=0"
login
send $'head -c 4194304 /dev/urandom >/root/e2e.bin; printf "S%s %s\\n" UM "$(sha256sum </root/e2e.bin | cut -d" " -f1)"\n'
wait_for 'SUM [0-9a-f]{64}' 120 || fail "no checksum from the guest"
want=$(grep -aoE 'SUM [0-9a-f]{64}' "$work/data.log" | tail -n 1 | cut -d' ' -f2)
shutdown_clean e2e-data
qemu-img check -q "$work/ov.qcow2" || fail "qemu-img check: $(qemu-img check "$work/ov.qcow2" 2>&1 | tail -n 3)"
qemu-img convert -f qcow2 -O raw "$work/ov.qcow2" "$work/root.raw" || fail "qemu-img convert"
fsck=$(e2fsck -n "$work/root.raw" 2>&1) || fail "e2fsck -n: $fsck"
grep -q 'clean' <<<"$fsck" || fail "the filesystem was not unmounted cleanly: $fsck"
got=$(debugfs -R 'cat /root/e2e.bin' "$work/root.raw" 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the unsynced file after ctl shutdown: $got, the guest wrote $want"
echo "  data: 4 MiB written without sync is intact after ctl shutdown; qemu-img check and e2fsck clean"
echo "e2e: PASS in $((SECONDS - t0)) s"
