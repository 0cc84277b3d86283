#!/usr/bin/env bash
# Snapshots with a qcow2 disk: "return to a previous state" includes the
# disk. The guest writes a file on its qcow2 ext4 disk, a snapshot is taken
# (the running image is frozen under a new overlay), the guest then
# overwrites the file and adds another, and is killed. Restoring the
# snapshot (twice: each restore gets its own overlay over the frozen image)
# gives the file as it was at the snapshot, read back from the disk after
# the guest drops its caches, and no second file; a Diff snapshot taken
# after more writes restores to its own moment; qemu-img check finds no
# corruption in the frozen image or the overlays (leaks from kill -9 are
# allowed, as in QEMU).
source "$(dirname "$0")/lib/snapshot_lib.bash"
command -v qemu-img >/dev/null || snap_fail "qemu-img is not installed"
command -v mkfs.ext4 >/dev/null || snap_fail "mkfs.ext4 is not installed"
img=$SNAP_WORK/disk.qcow2
mkfs.ext4 -q -F "$SNAP_WORK/disk.raw" 64M >/dev/null 2>&1 || snap_fail "mkfs.ext4 failed"
qemu-img convert -f raw -O qcow2 "$SNAP_WORK/disk.raw" "$img" || snap_fail "qemu-img convert"
rm -f "$SNAP_WORK/disk.raw"

snap_boot 1 --disk "$img,format=qcow2"
send $'mkdir -p /mnt && mount /dev/vda /mnt && echo at-snapshot >/mnt/a && sync && printf "M%s\\n" OUNTED\n'
wait_for 'MOUNTED' 60 || snap_fail "the guest cannot mount its qcow2 disk"
"$CORRAL" snapshot create --sock "$SNAP_SOCK" --dir "$SNAP_WORK/snap" >/dev/null ||
    snap_fail "snapshot create"
ls "$SNAP_WORK"/disk-run-*.qcow2 >/dev/null 2>&1 || snap_fail "no overlay was put over the running disk"
send $'echo after-snapshot >/mnt/a && echo new >/mnt/b && sync && printf "W%s\\n" ROTE-AFTER\n'
wait_for 'WROTE-AFTER' 60 || snap_fail "the guest did not write after the snapshot"
# A Diff snapshot on top: its memory is only the pages written since, its
# disk the first run overlay, frozen in turn under a second one.
"$CORRAL" snapshot create --sock "$SNAP_SOCK" --dir "$SNAP_WORK/snap2" --diff >/dev/null ||
    snap_fail "Diff snapshot create"
[ "$(ls "$SNAP_WORK"/disk-run-*.qcow2 | wc -l)" = 2 ] || snap_fail "the Diff snapshot did not freeze the disk"
send $'echo after-diff >/mnt/a && rm /mnt/b && sync && printf "W%s\\n" ROTE-AFTER-DIFF\n'
wait_for 'WROTE-AFTER-DIFF' 60 || snap_fail "the guest did not write after the Diff snapshot"
kill -9 "$CORRAL_PID"
end_session 50

for k in 1 2; do
    SNAP_SOCK=$SNAP_WORK/api-r$k.sock
    start_corral "$SNAP_WORK/console-r$k.log" restore "$SNAP_WORK/snap" --api-sock "$SNAP_SOCK"
    send $'sync; echo 3 >/proc/sys/vm/drop_caches; printf "A=%s B=%s\\n" "$(cat /mnt/a)" "$(cat /mnt/b 2>/dev/null || echo none)"\n'
    wait_for '^[0-9.]+ A=' 60 || snap_fail "restore $k: no answer"
    line=$(grep -a -E '^[0-9.]+ A=' "$SESSION_LOG" | tail -n 1)
    grep -q 'A=at-snapshot B=none' <<<"$line" || snap_fail "restore $k: the disk is not as at the snapshot: $line"
    echo "ok: restore $k: $line"
    # This restore's own writes go to its own overlay, not the frozen image.
    send $'echo restore-wrote >/mnt/c && sync && printf "R%s\\n" ESTORE-WROTE\n'
    wait_for 'RESTORE-WROTE' 60 || snap_fail "restore $k: cannot write"
    kill -9 "$CORRAL_PID"
    end_session 50
done
# The Diff snapshot returns to its own moment: the first write, the file b.
SNAP_SOCK=$SNAP_WORK/api-r3.sock
start_corral "$SNAP_WORK/console-r3.log" restore "$SNAP_WORK/snap2" --api-sock "$SNAP_SOCK"
send $'sync; echo 3 >/proc/sys/vm/drop_caches; printf "A=%s B=%s\\n" "$(cat /mnt/a)" "$(cat /mnt/b 2>/dev/null || echo none)"\n'
wait_for '^[0-9.]+ A=' 60 || snap_fail "Diff restore: no answer"
line=$(grep -a -E '^[0-9.]+ A=' "$SESSION_LOG" | tail -n 1)
grep -q 'A=after-snapshot B=new' <<<"$line" || snap_fail "Diff restore: the disk is not as at the Diff snapshot: $line"
echo "ok: Diff restore: $line"
kill -9 "$CORRAL_PID"
end_session 50
n=$(ls "$SNAP_WORK"/*-restore-*.qcow2 | wc -l)
[ "$n" = 3 ] || snap_fail "expected three restore overlays, found $n"
for f in "$img" "$SNAP_WORK"/disk-run-*.qcow2 "$SNAP_WORK"/*-restore-*.qcow2; do
    # Exit 3 = leaked clusters only (a kill -9 may leave some, as with
    # QEMU: wasted space, no harm); anything else is corruption.
    out=$(qemu-img check "$f" 2>&1)
    rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 3 ] || snap_fail "qemu-img check $f (status $rc): $out"
done
echo "ok: qemu-img check: no corruption in the frozen image or any overlay"
CORRAL_PID=
echo "PASS: a qcow2 disk returns to its state at the snapshot"
