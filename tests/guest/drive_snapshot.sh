#!/usr/bin/env bash
# Run-time overlays (PUT /drives/{id}/snapshot and /commit, Corral
# extensions) on a booted guest writing its raw disk with O_DIRECT:
#  - 1 MiB of 'A' at 0 lands in the raw base;
#  - an overlay is put over the running drive while the guest writes in a
#    loop (the drive is quiesced around the switch, the writes go on);
#  - 4 MiB of 'B' at 1 MiB after it go to the overlay, not the base; the
#    guest reads them back; qemu-img sees the overlay over the base and
#    calls it clean;
#  - bad requests (overlay file exists, unknown drive, no overlay_path,
#    unknown key) get 400 + fault_message;
#  - commit copies the 'B's into the base (the guest still runs).
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v qemu-img >/dev/null || { echo "FAIL: qemu-img is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }

work=$(mktemp -d /tmp/drive_snapshot.XXXX)
sock=$work/api.sock log=$work/console.log
trap '[ -n "${CORRAL_PID:-}" ] && kill "$CORRAL_PID" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "---- console ----"; tail -n 20 "$log"; echo "FAIL: $*"; exit 1; }
# pattern CHAR BYTES
pattern() { head -c "$2" /dev/zero | tr '\0' "$1"; }

truncate -s 16M "$work/base.img" || exit 1
start_corral "$log" run --api-sock "$sock" --firmware "$dir/fw_dynamic.bin" \
    --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --memory 256M \
    --disk "$work/base.img,format=raw" --cmdline "console=ttyS0 quiet"
wait_for 'guest ready' 180 || fail "the guest did not boot"

send $'head -c 1048576 /dev/zero | tr "\\0" A | dd of=/dev/vda bs=64k oflag=direct 2>/dev/null && echo A-WRITTEN\n'
wait_for '^[0-9.]+ A-WRITTEN' 60 || fail "the guest did not write the A's"
# Writes in flight while the overlay goes on: 8 MiB at 8 MiB, 4 KiB at a time.
send $'dd if=/dev/zero of=/dev/vda bs=4k seek=2048 count=2048 oflag=direct 2>/dev/null; echo LOOP-DONE\n'
expect_status 204 PUT /drives/disk0/snapshot "{\"overlay_path\":\"$work/top.qcow2\"}"
wait_for '^[0-9.]+ LOOP-DONE' 60 || fail "the guest's writes stalled across the switch"
[ "$(api_body GET /vm/config | jq -r '.drives[0].path_on_host')" = "$work/top.qcow2" ] ||
    fail "GET /vm/config does not name the overlay"

send $'head -c 4194304 /dev/zero | tr "\\0" B | dd of=/dev/vda bs=64k seek=16 oflag=direct 2>/dev/null && sync && echo B-WRITTEN $(dd if=/dev/vda bs=64k skip=16 count=64 iflag=direct 2>/dev/null | md5sum)\n'
wait_for '^[0-9.]+ B-WRITTEN [0-9a-f]{32}' 60 || fail "the guest did not write the B's"
want=$(pattern B 4194304 | md5sum | cut -d' ' -f1)
got=$(grep -a -oE '^[0-9.]+ B-WRITTEN [0-9a-f]{32}' "$log" | tail -n 1 | awk '{print $NF}')
[ "$got" = "$want" ] || fail "the guest read back $got, not the B's it wrote ($want)"
cmp -s -n 1048576 "$work/base.img" <(pattern A 1048576) || fail "the A's are not in the base"
cmp -s -n 4194304 -i 1048576:0 "$work/base.img" /dev/zero ||
    fail "the base changed after the overlay went on"
qemu-img info -U "$work/top.qcow2" | grep -q "backing file: $work/base.img" ||
    fail "the overlay's backing file is not the base: $(qemu-img info -U "$work/top.qcow2")"
# In use: leaked clusters (exit 3) are allowed, as for an image open in QEMU.
qemu-img check -U "$work/top.qcow2" >/dev/null 2>&1
rc=$?
[ $rc = 0 ] || [ $rc = 3 ] || fail "qemu-img check ($rc): $(qemu-img check -U "$work/top.qcow2")"
echo "ok: overlay on a running drive; the base holds the A's, the overlay the B's"

: >"$work/exists.qcow2"
expect_status 400 PUT /drives/disk0/snapshot "{\"overlay_path\":\"$work/exists.qcow2\"}"
expect_status 400 PUT /drives/nosuch/snapshot "{\"overlay_path\":\"$work/x.qcow2\"}"
expect_status 400 PUT /drives/disk0/snapshot '{}'
expect_status 400 PUT /drives/disk0/snapshot "{\"overlay_path\":\"$work/x.qcow2\",\"junk\":1}"
[ -e "$work/x.qcow2" ] && fail "a refused request left $work/x.qcow2"

expect_status 204 PUT /drives/disk0/commit
cmp -s -n 4194304 -i 1048576:0 "$work/base.img" <(pattern B 4194304) ||
    fail "commit did not copy the B's into the base"
send $'echo 3 >/proc/sys/vm/drop_caches; echo STILL $(dd if=/dev/vda bs=64k skip=16 count=64 iflag=direct 2>/dev/null | md5sum)\n'
wait_for '^[0-9.]+ STILL [0-9a-f]{32}' 60 || fail "the guest stopped answering after the commit"
got=$(grep -a -oE '^[0-9.]+ STILL [0-9a-f]{32}' "$log" | tail -n 1 | awk '{print $NF}')
[ "$got" = "$want" ] || fail "after the commit the guest reads $got, want $want"
echo "PASS: PUT /drives/disk0/snapshot over a running raw drive, bad requests refused, commit into the base"
