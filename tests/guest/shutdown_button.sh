#!/usr/bin/env bash
# Issue 16, "An orderly shutdown": PUT /actions Shutdown presses the power
# button (virtio-input KEY_POWER) and the busybox guest's acpid powers off
# cleanly (guest/power-button), before the SysRq fallback could start
# (VM_SHUTDOWN_TIMEOUT_MS, 10 s). The guest writes 1 MiB to an ext4 data
# disk with writeback held off and no sync; after the Shutdown the VMM has
# exited 0, the guest printed the button's marker and not the SysRq
# fallback's, the file is on the image with its content, and e2fsck -fn
# finds the file system cleanly unmounted; a Reset or a pause sent while
# the guest powers off is refused (400). One boot, ~15 s.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
for t in mkfs.ext4 debugfs e2fsck curl sha256sum; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed"; exit 1; }
done
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
trap '[ -n "${CORRAL_PID:-}" ] && kill -9 "$CORRAL_PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
out=$work/console.log
fail() { echo "---- console ----"; tail -n 20 "$out"; echo "FAIL: $*"; exit 1; }

mkfs.ext4 -q -F -L data "$work/data.img" 32M >/dev/null 2>&1 || fail "mkfs.ext4"
pattern() { yes corral-power-button | head -c 1048576; }
cmd='echo 0 > /proc/sys/vm/dirty_writeback_centisecs; mount -t ext4 /dev/vda /mnt && cd / &&
yes corral-power-button | head -c 1048576 > /mnt/before && echo data-written; while :; do sleep 1; done'
sock=$work/api.sock
start_corral "$out" run -v --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --memory 256M --disk "$work/data.img" \
    --api-sock "$sock" --timeout 120 --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")"
wait_for "data-written" 120 || fail "the guest did not write its file"
t0=$(date +%s%N)
expect_status 204 PUT /actions '{"action_type":"Shutdown"}'
# Neither a reset nor a pause may cancel the power-off under way.
expect_status 400 PUT /actions '{"action_type":"Reset"}'
expect_status 400 PATCH /vm '{"state":"Paused"}'
end_session 200
ms=$((($(date +%s%N) - t0) / 1000000))
echo "Shutdown: exit $SESSION_RC after ${ms} ms"
[ "$SESSION_RC" = 0 ] || fail "corral exited with $SESSION_RC after Shutdown"
grep -aq "power button pressed" "$out" || fail "the VMM did not press the power button"
grep -aq "corral-init: power button" "$out" || fail "the guest's acpid did not run the power-button action"
grep -aq "SysRq s sent" "$out" && fail "the SysRq fallback ran: the button did not power the guest off"
got=$(debugfs -R "cat /before" "$work/data.img" 2>/dev/null | sha256sum)
[ "$got" = "$(pattern | sha256sum)" ] || fail "the unsynced file is not on the image with its content"
e2fsck -fn "$work/data.img" >"$work/fsck" 2>&1 || { cat "$work/fsck"; fail "e2fsck -fn is not clean"; }
echo "ok: Shutdown pressed the power button; the guest powered off cleanly in ${ms} ms, data kept"
