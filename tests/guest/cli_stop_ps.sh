# Issue 16, the command line, mostly without a guest (API-only processes, no
# boot): every subcommand's --help exits 0 with its usage; `corral stop
# NAME` stops a VM found in the registry (through its API socket, and by
# SIGTERM without one); `ctl --name NAME` finds the socket; `ps` lists a
# live VM and never a killed one, even one not yet reaped (a zombie); a VM
# started with --name alone gets a socket in the registry directory (one boot).
. "$(dirname "$0")/lib/lib.sh"
work_setup
fail() { echo "FAIL: $*"; exit 1; }
wait_until() { # SECONDS CMD...
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}

# ---- help ----
for cmd in ctl ps stop snapshot restore migrate run; do
    out=$("$CORRAL" $cmd --help 2>&1) || fail "corral $cmd --help exited $?"
    grep -q "usage" <<<"$out" || fail "corral $cmd --help printed no usage: $out"
done
"$CORRAL" ctl --help | grep -q -- '--name NAME' || fail "ctl --help does not describe --name"
"$CORRAL" ctl status --help >/dev/null || fail "ctl COMMAND --help exited $?"
"$CORRAL" ctl >/dev/null 2>&1; [ $? = 2 ] || fail "ctl without a VM is not a usage error (2)"
"$CORRAL" stop >/dev/null 2>&1; [ $? = 2 ] || fail "stop without a name is not a usage error (2)"
echo "ok: --help of ctl, ps, stop, snapshot, restore, migrate, run"

# ---- a named VM with a socket: ps, ctl --name, stop ----
"$CORRAL" run --api-sock "$work/a.sock" --name cli-a </dev/null >"$work/a.log" 2>&1 &
pid=$!
wait_until 10 test -S "$work/a.sock" || fail "no API socket"
"$CORRAL" ps | grep -qE "^cli-a +$pid +Not started +$work/a.sock" || { "$CORRAL" ps; fail "ps does not list cli-a"; }
"$CORRAL" ctl --name cli-a status | grep -q 'state: Not started' || fail "ctl --name status"
"$CORRAL" ctl --name nosuch status 2>"$work/err"; rc=$?
[ $rc = 1 ] && grep -q "no running VM is named 'nosuch'" "$work/err" || fail "ctl --name nosuch: rc $rc, $(cat "$work/err")"
"$CORRAL" stop cli-a | grep -qx 'stopped cli-a' || fail "stop cli-a did not say it stopped"
wait $pid; rc=$?
[ $rc = 0 ] || fail "cli-a exited $rc after corral stop (want 0: a Shutdown)"
"$CORRAL" ps | grep -q cli-a && fail "ps lists cli-a after it stopped"
"$CORRAL" stop cli-a 2>"$work/err"; [ $? = 1 ] && grep -q 'no running VM' "$work/err" || fail "stop of a stopped VM"
echo "ok: ps, ctl --name and stop on a VM with an API socket"

# ---- the socket gone: not listed; stop falls back to SIGTERM ----
"$CORRAL" run --api-sock "$work/b.sock" --name cli-b </dev/null >"$work/b.log" 2>&1 &
pid=$!
wait_until 10 test -S "$work/b.sock" || fail "no API socket for cli-b"
rm -f "$work/b.sock" # ps must not list a VM whose socket is gone ...
"$CORRAL" ps | grep -q cli-b && fail "ps lists cli-b whose socket is gone"
"$CORRAL" stop --timeout 5 cli-b >/dev/null || fail "stop cli-b (no socket: SIGTERM)"
wait $pid; rc=$?
[ $rc = 143 ] || fail "cli-b exited $rc after stop without a socket (want 143: SIGTERM)"
echo "ok: stop without a socket (SIGTERM), ps skips a VM whose socket is gone"

# ---- a killed VM, not yet reaped: never listed ----
# Its parent is a `sleep` (exec'd by the shell that started it), which
# never reaps: the killed VMM stays a zombie.
sh -c '"$1" run --api-sock "$2" --name cli-c </dev/null >/dev/null 2>&1 & echo $! >"$3"; exec sleep 30' \
    sh "$CORRAL" "$work/c.sock" "$work/c.pid" &
holder=$!
wait_until 10 test -S "$work/c.sock" || fail "no API socket for cli-c"
pid=$(cat "$work/c.pid")
"$CORRAL" ps | grep -q '^cli-c ' || fail "ps does not list cli-c"
kill -9 $pid
wait_until 5 grep -q '^State:.*Z' /proc/$pid/status 2>/dev/null || fail "cli-c did not become a zombie"
"$CORRAL" ps | grep -q '^cli-c ' && fail "ps lists cli-c, killed (a zombie)"
"$CORRAL" ps --json | grep -q '"cli-c"' && fail "ps --json lists cli-c, killed"
[ -e "$XDG_RUNTIME_DIR/corral/cli-c.json" ] && fail "the stale registry entry of cli-c is still there"
kill $holder 2>/dev/null
wait $holder 2>/dev/null
pid=
echo "ok: ps skips and prunes a killed VM (zombie)"

# ---- --name alone: a socket in the registry's directory (one boot) ----
dir=$(guest_dir) || fail "no guest images"
"$CORRAL" run --name cli-d --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --cmdline "console=ttyS0 quiet corral.cmd=sleep%20120" \
    </dev/null >"$work/d.log" 2>&1 &
pid=$!
wait_until 10 test -S "$XDG_RUNTIME_DIR/corral/cli-d.sock" || fail "--name without --api-sock: no socket in $XDG_RUNTIME_DIR/corral"
"$CORRAL" ctl --name cli-d status | grep -q 'state: Running' || fail "ctl --name cli-d status: $("$CORRAL" ctl --name cli-d status 2>&1)"
"$CORRAL" stop --timeout 60 cli-d >/dev/null || fail "stop cli-d"
wait $pid; rc=$?
pid=
[ $rc = 0 ] || fail "cli-d exited $rc after stop (want 0: shut down through its API)"
[ -e "$XDG_RUNTIME_DIR/corral/cli-d.sock" ] && fail "cli-d's socket is left behind"
echo "ok: --name alone gives the VM an API socket: ctl --name and stop reach it"
