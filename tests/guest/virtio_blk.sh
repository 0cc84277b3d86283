#!/usr/bin/env bash
# virtio-blk and virtio-rng in a booted guest: an ext4 root disk built with
# mkfs.ext4 -d (the guest's own busybox), root=/dev/vda; the guest writes a
# file, reads the disk serial, reads 1 MiB from /dev/hwrng, reads a
# readonly second disk (vdb, cache=none) whole and tries to write it, syncs
# and powers off. The host then reads the file back with debugfs, e2fsck
# -fn must be clean, and the readonly image's hash is unchanged.
source "$(dirname "$0")/lib/lib.sh"
for t in mkfs.ext4 debugfs e2fsck cpio sha256sum; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed"; exit 1; }
done
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/mnt"
(cd "$root" && cpio -i --quiet bin/busybox < "$dir/initramfs.cpio") || exit 1
cat > "$root/test-init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
echo "corral-virtio-blk-ok $(cat /proc/sys/kernel/random/boot_id | cut -c1-8)" > /hello.txt
echo "serial=$(cat /sys/block/vda/serial)"
echo "ro=$(cat /sys/block/vdb/ro)"
echo "vdb-sha=$(sha256sum < /dev/vdb | cut -d' ' -f1)"
blockdev --setrw /dev/vdb 2>/dev/null
if echo scribble | dd of=/dev/vdb bs=512 count=1 conv=sync,fsync oflag=direct 2>/dev/null; then
    echo "vdb-write=succeeded"
else
    echo "vdb-write=failed"
fi
echo "rng=$(dd if=/dev/hwrng bs=4096 count=256 2>/dev/null | wc -c)"
sync
echo "corral: exit 0"
poweroff -f
INIT
chmod +x "$root/test-init"
mkfs.ext4 -q -F -L corral-root -d "$root" "$work/root.img" 64M || exit 1
head -c 4M /dev/urandom > "$work/ro.img"
ro_hash=$(sha256sum < "$work/ro.img")

out=$(timeout "$GUEST_TIMEOUT" "$CORRAL" run --firmware "$dir/fw_dynamic.bin" \
    --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --memory 512M \
    --disk "$work/root.img" --disk "$work/ro.img,readonly,cache=none" --rng \
    --cmdline "console=ttyS0 quiet root=/dev/vda rootfstype=ext4 init=/test-init" </dev/null 2>&1)
rc=$?
echo "$out" | tail -n 12
[ $rc -eq 0 ] || { echo "FAIL: corral exited with $rc"; exit 1; }
expect_in "$out" "serial=corral-disk0" "virtio-blk get-id"
expect_in "$out" "ro=1" "readonly disk flagged read-only in the guest"
expect_in "$out" "vdb-write=failed" "a write to the readonly disk fails"
expect_in "$out" "vdb-sha=${ro_hash%% *}" "the readonly disk (cache=none: O_DIRECT reads) reads back whole"
expect_in "$out" "rng=1048576" "1 MiB from /dev/hwrng"
expect_in "$out" "corral: exit 0" "guest script finished"

got=$(debugfs -R "cat /hello.txt" "$work/root.img" 2>/dev/null)
case $got in
    "corral-virtio-blk-ok "*) ;;
    *) echo "FAIL: /hello.txt on the host reads '$got'"; exit 1 ;;
esac
if ! e2fsck -fn "$work/root.img" >"$work/fsck.log" 2>&1; then
    cat "$work/fsck.log"; echo "FAIL: e2fsck -fn reports problems"; exit 1
fi
[ "$(sha256sum < "$work/ro.img")" = "$ro_hash" ] || { echo "FAIL: the readonly image changed"; exit 1; }
echo "PASS: ext4 root on virtio-blk, readonly disk, get-id, 1 MiB of virtio-rng"
