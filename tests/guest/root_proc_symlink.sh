# Issue 16: `ro` on the kernel command line mounts even a writable root
# disk read-only (the initramfs used to mount it read-write whatever the
# command line said), and a root filesystem whose /proc is a symlink (as
# debootstrap leaves it in a container) still gets a working /proc: the
# initramfs replaces the link with a directory (remounting read-write for
# that moment) before it moves /proc over. One boot of a tiny root
# filesystem (busybox and an init script, made with mkfs.ext4 -d).
. "$(dirname "$0")/lib/lib.sh"
. "$(dirname "$0")/lib/tiny_root.bash"
tiny_root_setup

msg=$(tiny_root "$work/root.img" "$dir" proc-symlink) || fail "$msg"

tiny_root_boot "$work/root.img" "$work/out" "$dir"
rc=$?
[ $rc = 0 ] || fail "corral exited $rc (want 0: the disk's init powers off)"
grep -q '/proc on /dev/vda was not a directory; made it one' "$work/out" || fail "the initramfs did not say it fixed /proc"
msg=$(tiny_root_read_only "$work/out") || fail "$msg"
debugfs -R 'stat /proc' "$work/root.img" 2>/dev/null | grep -q 'Type: directory' ||
    fail "/proc on the image is not a directory now"
echo "ok: writable root disk with ro: $(grep ROOT-OPTS "$work/out"); its /proc symlink became a working /proc"
