# Issue 16: `ro` on the kernel command line mounts even a writable root
# disk read-only (the initramfs used to mount it read-write whatever the
# command line said), and a root filesystem whose /proc is a symlink (as
# debootstrap leaves it in a container) still gets a working /proc: the
# initramfs replaces the link with a directory (remounting read-write for
# that moment) before it moves /proc over. One boot of a tiny root
# filesystem (busybox and an init script, made with mkfs.ext4 -d).
. "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || exit 1
work_setup
command -v mkfs.ext4 >/dev/null || { echo "mkfs.ext4 missing (e2fsprogs)"; exit 77; }
fail() { echo "---- console ----"; tail -n 25 "$work/out"; echo "FAIL: $*"; exit 1; }

root=$work/root
mkdir -p "$root"/{bin,sbin,sys,dev}
ln -s /proc/self/fd/nonexistent "$root/proc"
(cd "$work" && cpio -id --quiet bin/busybox <"$dir/initramfs.cpio") || fail "no busybox in the initramfs"
cp "$work/bin/busybox" "$root/bin/busybox"
cat >"$root/sbin/init" <<'EOT'
#!/bin/busybox sh
b=/bin/busybox
echo "ROOT-OPTS $($b awk '$2 == "/" { print $4 }' /proc/mounts)"
if $b touch /written 2>/dev/null; then echo ROOT-WRITABLE; else echo ROOT-READONLY; fi
[ -r /proc/uptime ] && echo "PROC-OK $($b cut -d' ' -f1 /proc/uptime)"
[ -d /sys/block/vda ] && echo SYS-OK
$b sync
$b poweroff -f
EOT
chmod 755 "$root/sbin/init"
truncate -s 16M "$work/root.img"
mkfs.ext4 -q -F -d "$root" "$work/root.img" >/dev/null 2>&1 || fail "mkfs.ext4 -d failed"

timeout 120 "$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --disk "$work/root.img" \
    --cmdline "console=ttyS0 quiet root=/dev/vda ro" </dev/null >"$work/out" 2>&1
rc=$?
sed -i 's/\r$//' "$work/out"
[ $rc = 0 ] || fail "corral exited $rc (want 0: the disk's init powers off)"
grep -q 'could not mount' "$work/out" && fail "the initramfs could not mount the root"
grep -q '/proc on /dev/vda was not a directory; made it one' "$work/out" || fail "the initramfs did not say it fixed /proc"
grep -qE '^ROOT-OPTS ro(,|$)' "$work/out" || fail "/ is not mounted read-only ($(grep ROOT-OPTS "$work/out"))"
grep -qx 'ROOT-READONLY' "$work/out" || fail "/ was writable"
grep -q '^PROC-OK ' "$work/out" || fail "/proc does not work on the new root"
grep -qx 'SYS-OK' "$work/out" || fail "/sys does not work on the new root"
debugfs -R 'stat /proc' "$work/root.img" 2>/dev/null | grep -q 'Type: directory' ||
    fail "/proc on the image is not a directory now"
echo "ok: writable root disk with ro: $(grep ROOT-OPTS "$work/out"); its /proc symlink became a working /proc"
