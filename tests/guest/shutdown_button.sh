#!/usr/bin/env bash
# Issue 16, "An orderly shutdown": PUT /actions Shutdown presses the power
# button (virtio-input KEY_POWER) and the busybox guest's acpid powers off
# cleanly (guest/power-button), before the SysRq fallback could start
# (VM_SHUTDOWN_TIMEOUT_MS, 10 s). The guest writes 1 MiB to an ext4 data
# disk with writeback held off and no sync; after the Shutdown the VMM has
# exited 0, the guest printed the button's marker and not the SysRq
# fallback's, the file is on the image with its content, and e2fsck -fn
# finds the file system cleanly unmounted. One boot, ~15 s.
source "$(dirname "$0")/lib/lib.sh"
for t in mkfs.ext4 debugfs e2fsck curl sha256sum; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed"; exit 1; }
done
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
fail() { echo "---- console ----"; tail -n 20 "$work/out"; echo "work: $work"; echo "FAIL: $*"; exit 1; }

mkfs.ext4 -q -F -L data "$work/data.img" 32M >/dev/null 2>&1 || { echo "FAIL: mkfs.ext4"; exit 1; }
cmd='echo 0 > /proc/sys/vm/dirty_writeback_centisecs; mount -t ext4 /dev/vda /mnt && cd / &&
yes corral-power-button | head -c 1048576 > /mnt/before && echo data-written; while :; do sleep 1; done'
sock=$work/api.sock
"$CORRAL" run -v --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --memory 256M --disk "$work/data.img" \
    --api-sock "$sock" --timeout 120 \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" \
    </dev/null >"$work/out" 2>&1 &
pid=$!
for ((i = 0; i < 1200; i++)); do
    grep -aqs "data-written" "$work/out" && break
    kill -0 "$pid" 2>/dev/null || fail "corral ended before the guest wrote its file"
    sleep 0.1
done
grep -aq "data-written" "$work/out" || fail "the guest did not write its file"
t0=$(date +%s%N)
r=$(curl -s --max-time 20 --unix-socket "$sock" -X PUT -w ' %{http_code}' \
    -H 'Content-Type: application/json' -d '{"action_type":"Shutdown"}' \
    http://localhost/actions)
[ "${r##* }" = 204 ] || fail "Shutdown: '$r'"
rc=0
wait "$pid" || rc=$?
pid=
ms=$((($(date +%s%N) - t0) / 1000000))
echo "Shutdown: exit $rc after ${ms} ms"
[ "$rc" -eq 0 ] || fail "corral exited with $rc after Shutdown"
grep -aq "power button pressed" "$work/out" || fail "the VMM did not press the power button"
grep -aq "corral-init: power button" "$work/out" || fail "the guest's acpid did not run the power-button action"
grep -aq "SysRq s sent" "$work/out" && fail "the SysRq fallback ran: the button did not power the guest off"
want=$(yes corral-power-button | head -c 1048576 | sha256sum | cut -d' ' -f1)
got=$(debugfs -R "cat /before" "$work/data.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the unsynced file is not on the image with its content"
e2fsck -fn "$work/data.img" >"$work/fsck" 2>&1 || { cat "$work/fsck"; fail "e2fsck -fn is not clean"; }
echo "ok: Shutdown pressed the power button; the guest powered off cleanly in ${ms} ms, data kept"
