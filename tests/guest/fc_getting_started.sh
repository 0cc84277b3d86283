#!/usr/bin/env bash
# Issue 16: Firecracker's getting-started sequence as written, only the
# kernel path differs: PUT /logger, PUT /boot-source with boot_args
# "console=ttyS0 reboot=k panic=1 pci=off" and neither firmware_path nor
# initrd_path, a root drive (is_root_device, read-write), InstanceStart.
# OpenSBI and the initramfs (which loads Debian's virtio_blk and ext4
# modules and switches to root=) come from the default guest build; the
# root disk's own /sbin/init runs on a read-write / and powers off.
# GET /vm/config then names the firmware and initrd that were used.
# One boot of a tiny root filesystem (tests/guest/lib/tiny_root.bash).
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
source "$(dirname "$0")/lib/tiny_root.bash"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
tiny_root_setup
sock=$work/api.sock
out=$work/out

msg=$(tiny_root "$work/rootfs.ext4" "$dir") || fail "$msg"

"$CORRAL" run --api-sock "$sock" </dev/null >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "no API socket"

expect_status 204 PUT /logger "{\"log_path\":\"$work/fc.log\",\"level\":\"Debug\",\"show_level\":true,\"show_log_origin\":true}"
expect_status 204 PUT /boot-source "{\"kernel_image_path\":\"$dir/Image\",\"boot_args\":\"console=ttyS0 reboot=k panic=1 pci=off\"}"
expect_status 204 PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$work/rootfs.ext4\",\"is_root_device\":true,\"is_read_only\":false}"
# Not yet started: nothing was filled in.
cfg=$(api_body GET /vm/config)
[ "$(jq -r '."boot-source".initrd_path // "none"' <<<"$cfg")" = none ] ||
    fail "an initrd before start: $cfg"
expect_status 204 PUT /actions '{"action_type":"InstanceStart"}'

cfg=$(api_body GET /vm/config)
fw=$(jq -r '."boot-source".firmware_path // ""' <<<"$cfg")
initrd=$(jq -r '."boot-source".initrd_path // ""' <<<"$cfg")
[ "$fw" = "$(readlink -f "$dir")/fw_dynamic.bin" ] || fail "firmware_path after start: '$fw'"
[ "$initrd" = "$(readlink -f "$dir")/initramfs.cpio" ] || fail "initrd_path after start: '$initrd'"

for _ in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the guest did not power off within 120 s"
wait "$pid"
rc=$?
pid=
sed -i 's/\r$//' "$out"
[ $rc = 0 ] || fail "corral exited $rc (want 0: the disk's init powers off)"
grep -q 'Unable to mount root' "$out" && fail "the kernel could not mount the root"
grep -q 'could not mount' "$out" && fail "the initramfs could not mount the root"
grep -qx 'ROOT-WRITABLE' "$out" || fail "the root disk's init did not find / writable"
grep -qE '^ROOT-OPTS rw(,|$)' "$out" || fail "/ not mounted rw ($(grep ROOT-OPTS "$out"))"
grep -q '^PROC-OK ' "$out" || fail "/proc does not work on the new root"
echo "ok: getting-started boot without firmware or initrd reached the root's init" \
    "($(grep ROOT-OPTS "$out")); initrd used: $initrd"
