#!/usr/bin/env bash
# A Debian-kernel guest boots from a qcow2 overlay (made by qemu-img) over
# a qcow2 base holding an ext4 root. The guest writes two files, deletes
# one, runs fstrim and syncs. Meanwhile a second VM on the same overlay
# and `qemu-img info` are refused by the image lock. After poweroff:
# `qemu-img check` is clean, the base is unchanged, the guest's view
# (qemu-img convert) passes e2fsck and holds the file with the checksum
# the guest printed. Finally the raw-probe rule: the overlay without
# format= is refused.
source "$(dirname "$0")/lib/lib.sh"
for t in mkfs.ext4 debugfs e2fsck cpio sha256sum qemu-img; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
vm=
trap '[ -n "$vm" ] && kill -9 "$vm" 2>/dev/null; rm -rf "$work"' EXIT

root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev"
(cd "$root" && cpio -i --quiet bin/busybox < "$dir/initramfs.cpio") || exit 1
cat > "$root/test-init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc 2>/dev/null
dd if=/dev/urandom of=/keep bs=65536 count=48 2>/dev/null
dd if=/dev/urandom of=/gone bs=65536 count=96 2>/dev/null
sync
echo "sum=$(sha256sum /keep | cut -d' ' -f1)"
rm /gone
sync
fstrim / && echo "trim=ok"
echo "written"
sleep 6
sync
echo "corral: exit 0"
poweroff -f
INIT
chmod +x "$root/test-init"
mkfs.ext4 -q -F -L corral-root -d "$root" "$work/root.img" 64M || exit 1
qemu-img convert -f raw -O qcow2 "$work/root.img" "$work/base.qcow2" || exit 1
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$work/ov.qcow2" || exit 1
base_hash=$(sha256sum < "$work/base.qcow2")

args=(--firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio"
      --memory 256M --cmdline "console=ttyS0 quiet root=/dev/vda rootfstype=ext4 init=/test-init")
timeout "$GUEST_TIMEOUT" "$CORRAL" run "${args[@]}" --disk "$work/ov.qcow2,format=qcow2" \
    </dev/null >"$work/out" 2>&1 &
vm=$!
for _ in $(seq 600); do
    grep -q "^written" "$work/out" && break
    kill -0 "$vm" 2>/dev/null || break
    sleep 0.5
done
grep -q "^written" "$work/out" || { tail -20 "$work/out"; echo "FAIL: the guest did not write"; exit 1; }
second=$(timeout 30 "$CORRAL" run "${args[@]}" --disk "$work/ov.qcow2,format=qcow2" </dev/null 2>&1)
rc2=$?
info=$(qemu-img info "$work/ov.qcow2" 2>&1)
rci=$?
wait "$vm"
rc=$?
vm=
out=$(cat "$work/out")
echo "$out" | tail -n 6
[ $rc -eq 0 ] || { echo "FAIL: corral exited with $rc"; exit 1; }
expect_in "$out" "trim=ok" "fstrim on the qcow2 disk"
expect_in "$out" "corral: exit 0" "guest script finished"
[ $rc2 -ne 0 ] && grep -q "in use" <<<"$second" ||
    { echo "$second" | tail -3; echo "FAIL: a second VM opened the disk in use (rc $rc2)"; exit 1; }
[ $rci -ne 0 ] || { echo "FAIL: qemu-img info ignored the lock"; exit 1; }

qemu-img check "$work/ov.qcow2" >"$work/check" 2>&1 ||
    { cat "$work/check"; echo "FAIL: qemu-img check is not clean"; exit 1; }
[ "$(sha256sum < "$work/base.qcow2")" = "$base_hash" ] || { echo "FAIL: the base changed"; exit 1; }
qemu-img convert -O raw "$work/ov.qcow2" "$work/view.raw" || exit 1
e2fsck -fn "$work/view.raw" >"$work/fsck" 2>&1 || { cat "$work/fsck"; echo "FAIL: e2fsck"; exit 1; }
want=$(sed -n 's/^sum=\([0-9a-f]*\).*/\1/p' "$work/out" | head -1)
got=$(debugfs -R "cat /keep" "$work/view.raw" 2>/dev/null | sha256sum | cut -d' ' -f1)
[ -n "$want" ] && [ "$want" = "$got" ] || { echo "FAIL: /keep is $got, the guest wrote $want"; exit 1; }
debugfs -R "stat /gone" "$work/view.raw" 2>&1 | grep -q "not found" ||
    { echo "FAIL: /gone is still there"; exit 1; }

probe=$(timeout 30 "$CORRAL" run "${args[@]}" --disk "$work/ov.qcow2" </dev/null 2>&1)
[ $? -ne 0 ] && grep -q "format=qcow2" <<<"$probe" ||
    { echo "$probe" | tail -3; echo "FAIL: a writable qcow2 without format= was opened"; exit 1; }
echo "PASS: qcow2 overlay over a qcow2 base: boot, write, delete, fstrim; locked; qemu-img check clean; data intact; probing refused"
