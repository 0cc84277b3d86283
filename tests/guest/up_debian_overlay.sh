#!/usr/bin/env bash
# Issue 16: corral up --debian boots the cached build (here a stand-in: a
# tiny root filesystem as base.qcow2, the default guest's kernel and
# initramfs as Image and initrd.img) under a fresh overlay: the guest's
# /sbin/init finds / writable, yet the base is unchanged afterwards and the
# overlay is gone; the SSH port and the password are printed. One boot.
. "$(dirname "$0")/lib/lib.sh"
. "$(dirname "$0")/lib/tiny_root.bash"
tiny_root_setup
export XDG_CACHE_HOME=$work/cache
D=$XDG_CACHE_HOME/corral/debian/trixie
mkdir -p "$D"
msg=$(tiny_root "$work/root.img" "$dir") || fail "$msg"
qemu-img convert -f raw -O qcow2 "$work/root.img" "$D/base.qcow2" || fail "qemu-img convert"
cp "$dir/Image" "$D/Image"
cp "$dir/initramfs.cpio" "$D/initrd.img"
echo pw0123456789abcd >"$D/root-password"
sum=$(sha256sum <"$D/base.qcow2")
rc=0
timeout "$GUEST_TIMEOUT" "$CORRAL" up --debian --firmware "$dir/fw_dynamic.bin" --memory 256M \
    --cmdline "console=ttyS0 quiet root=/dev/vda rw" \
    --cpus 1 --timeout 200 </dev/null >"$work/out" 2>&1 || rc=$?
[ $rc = 0 ] || fail "corral up --debian exited $rc (want 0: the disk's init powers off)"
grep -q "ROOT-WRITABLE" "$work/out" || fail "the overlay was not writable"
grep -q "SYS-OK" "$work/out" || fail "no /dev/vda in the guest"
grep -q "ssh -p [0-9]* root@127.0.0.1" "$work/out" || fail "no ssh command"
grep -q "password pw0123456789abcd" "$work/out" || fail "no password"
[ "$(sha256sum <"$D/base.qcow2")" = "$sum" ] || fail "the base image was written"
[ -z "$(ls -A "$D/run")" ] || fail "overlay left: $(ls "$D/run")"
echo "ok: up --debian booted the base under an overlay, base unchanged, overlay removed"
