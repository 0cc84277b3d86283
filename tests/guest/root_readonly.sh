# Issue 16: a read-only root disk boots. `--disk root.img,readonly` with
# `root=/dev/vda ro`: the initramfs mounts it read-only, moves /proc, /sys
# and /dev over and switches to the disk's /sbin/init, which finds /
# read-only and /proc and /sys working; the image is unchanged. One boot
# of a tiny root filesystem (busybox and an init script, mkfs.ext4 -d).
# root_proc_symlink.sh boots a writable disk with `ro` and a /proc symlink.
. "$(dirname "$0")/lib/lib.sh"
. "$(dirname "$0")/lib/tiny_root.bash"
tiny_root_setup

msg=$(tiny_root "$work/root.img" "$dir") || fail "$msg"
sum=$(sha256sum <"$work/root.img")

tiny_root_boot "$work/root.img,readonly" "$work/out" "$dir"
rc=$?
[ $rc = 0 ] || fail "corral exited $rc (want 0: the disk's init powers off)"
msg=$(tiny_root_read_only "$work/out") || fail "$msg"
[ "$(sha256sum <"$work/root.img")" = "$sum" ] || fail "the read-only image changed"
echo "ok: read-only root disk booted with ro: $(grep ROOT-OPTS "$work/out"), /proc and /sys there"
