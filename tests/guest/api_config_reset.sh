#!/usr/bin/env bash
# --config-file (flags override it), socket rules (a stale socket from a
# killed VM is replaced; a live VM's socket and a missing directory give a
# one-line error before boot), Reset from Paused reboots the guest, and
# `corral ctl shutdown` ends it with status 0.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }

work=$(mktemp -d)
sock=$work/api.sock
out=$work/console.log
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
fail() { echo "---- console ----"; tail -n 20 "$out" 2>/dev/null; echo "FAIL: $*"; exit 1; }
wait_for() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}
count() { grep -a -c "$1" "$out"; }
count_at_least() { [ "$(count "$1")" -ge "$2" ]; }
api_up() { curl -s --max-time 2 --unix-socket "$sock" http://localhost/ >/dev/null; }

# A missing directory: one line, before boot.
err=$("$CORRAL" run --api-sock "$work/nodir/x.sock" 2>&1 </dev/null)
[ $? -ne 0 ] && [ "$(wc -l <<<"$err")" = 1 ] || fail "missing dir: '$err'"

# A VM killed hard leaves its socket behind: the next one replaces it.
"$CORRAL" run --api-sock "$sock" </dev/null >/dev/null 2>&1 &
p=$!
wait_for 10 test -S "$sock" || fail "no socket"
{ kill -9 $p; wait $p; } 2>/dev/null
[ -S "$sock" ] || fail "expected a stale socket after kill -9"

# Unknown keys in the config file are named.
echo '{"boot-source":{"kernel_image_path":"/x"},"machine-cfg":{}}' >"$work/bad.json"
err=$("$CORRAL" run --config-file "$work/bad.json" 2>&1 </dev/null)
grep -q "unknown key 'machine-cfg'" <<<"$err" || fail "bad config file: '$err'"

cmd='echo boot-marker; while true; do sleep 1; done'
cat >"$work/vm.json" <<EOT
{
  "boot-source": {
    "kernel_image_path": "$dir/Image",
    "initrd_path": "$dir/initramfs.cpio",
    "firmware_path": "$dir/fw_dynamic.bin",
    "boot_args": "console=ttyS0 quiet corral.cmd=this-is-overridden"
  },
  "machine-config": { "vcpu_count": 2, "mem_size_mib": 256 }
}
EOT
"$CORRAL" run --config-file "$work/vm.json" --cpus 1 --api-sock "$sock" \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$out" 2>&1 &
pid=$!
wait_for 10 api_up || fail "no API (stale socket not replaced?)"
cfg=$(curl -s --unix-socket "$sock" http://localhost/vm/config)
grep -q '"vcpu_count":1' <<<"$cfg" || fail "--cpus did not override the file: $cfg"
grep -q '"mem_size_mib":256' <<<"$cfg" || fail "the file's memory was lost: $cfg"

# A second VM on the same socket: refused before boot, one line.
err=$("$CORRAL" run --config-file "$work/vm.json" --api-sock "$sock" 2>&1 </dev/null)
[ $? -ne 0 ] && [ "$(wc -l <<<"$err")" = 1 ] && grep -q 'in use' <<<"$err" ||
    fail "second VM on a live socket: '$err'"

wait_for 120 count_at_least boot-marker 1 || fail "the guest never booted"
"$CORRAL" ctl --sock "$sock" pause >/dev/null || fail "ctl pause"
"$CORRAL" ctl --sock "$sock" reset >/dev/null || fail "ctl reset"
wait_for 120 count_at_least boot-marker 2 || fail "no second boot after Reset"
"$CORRAL" ctl --sock "$sock" status | grep -q 'state: Running' || fail "not Running after Reset"
"$CORRAL" ctl --sock "$sock" metrics | grep -q '^resets: 1$' || fail "metrics: resets != 1"
"$CORRAL" ctl --sock "$sock" shutdown >/dev/null || fail "ctl shutdown"
for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] || fail "exit status $rc after shutdown"
[ -e "$sock" ] && fail "socket left after exit"
echo "ok: config file, socket rules, Reset, ctl shutdown"
exit 0
