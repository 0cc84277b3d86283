#!/usr/bin/env bash
# Storage migration: a guest with a raw and a qcow2 disk writes to both
# while it moves with --migrate-disks to a destination whose disks are
# new files (--disk-override), in pre-copy, then on again in post-copy
# (the disks in rounds first, the memory after). Afterwards what the
# guest reads from its disks (page cache dropped) is what it wrote,
# before and during the moves, and after poweroff the last destination's
# image files hold exactly that (the qcow2 one read back with qemu-img,
# which also finds it clean).
# A destination whose disk file already exists, or that was not told
# where to create the disks, refuses before any memory is sent (leaving no
# file it created), and the source goes on.
source "$(dirname "$0")/lib/snapshot_lib.bash"
command -v qemu-img >/dev/null || { echo "SKIP: no qemu-img"; exit 77; }
truncate -s 48M "$SNAP_WORK/a.raw"
qemu-img create -q -f qcow2 "$SNAP_WORK/b.qcow2" 48M || snap_fail "qemu-img create"
snap_boot 1 --disk "$SNAP_WORK/a.raw" --disk "$SNAP_WORK/b.qcow2,format=qcow2"

# Before: 8 MiB of random data at the start of each disk, its sum kept in
# guest RAM. During: a writer rewrites random 64 KiB blocks of 16..32 MiB.
send "$(cat <<'EOF'
for d in vda vdb; do dd if=/dev/urandom of=/dev/$d bs=1M count=8 conv=fsync 2>/dev/null; dd if=/dev/$d bs=1M count=8 2>/dev/null | md5sum | cut -d' ' -f1 >/tmp/$d.before; done; printf 'BEF%s\n' ORE-DONE
EOF
)"$'\n'
wait_for 'BEFORE-DONE' 60 || snap_fail "the guest could not write its disks"
send "$(cat <<'EOF'
(while [ ! -e /tmp/stop ]; do for d in vda vdb; do dd if=/dev/urandom of=/dev/$d bs=64k count=1 seek=$((256 + RANDOM % 256)) conv=fsync 2>/dev/null; done; done; touch /tmp/stopped) &
EOF
)"$'\n'
sleep 1

# refused DEST-ARGS...: a storage migration to that destination fails;
# sets $out to what corral migrate said.
refused() {
    local port epid
    port=$(free_port)
    "$CORRAL" run --incoming "tcp:127.0.0.1:$port" "$@" </dev/null >/dev/null 2>&1 &
    epid=$!
    sleep 0.3
    out=$("$CORRAL" migrate --sock "$SNAP_SOCK" --migrate-disks "tcp:127.0.0.1:$port" 2>&1) &&
        snap_fail "a storage migration to a destination with $* succeeded: $out"
    wait "$epid" 2>/dev/null
}
# A destination whose second disk exists refuses, and removes the first,
# which it had created; the source keeps running.
: >"$SNAP_WORK/exists.qcow2"
refused --disk-override "disk0=$SNAP_WORK/never.raw" --disk-override "disk1=$SNAP_WORK/exists.qcow2"
grep -q "exists.qcow2 exists" <<<"$out" || snap_fail "existing target: $out"
[ -s "$SNAP_WORK/exists.qcow2" ] && snap_fail "the existing file was written"
[ -e "$SNAP_WORK/never.raw" ] && snap_fail "a disk created by the refused migration was left behind"
echo "ok: existing target -> $out"
# Nor does a stream choose where the destination creates files.
refused
grep -q "give --disk-override disk0=PATH" <<<"$out" || snap_fail "no override: $out"
echo "ok: no --disk-override -> $out"
snap_check 1

SNAP_MIG_DEST_ARGS="--disk-override disk0=$SNAP_WORK/a2.raw --disk-override disk1=$SNAP_WORK/b2.qcow2"
snap_migrate 2 --migrate-disks
grep -q "storage: .* MiB of disk content sent" <<<"$SNAP_MIG_OUT" ||
    snap_fail "no storage statistics: $SNAP_MIG_OUT"
snap_check 2
SNAP_MIG_DEST_ARGS="--disk-override disk0=$SNAP_WORK/a3.raw --disk-override disk1=$SNAP_WORK/b3.qcow2"
snap_migrate 3 --migrate-disks --mode postcopy
grep -q "storage: .* MiB of disk content sent" <<<"$SNAP_MIG_OUT" && grep -q "mode postcopy" <<<"$SNAP_MIG_OUT" ||
    snap_fail "no post-copy storage statistics: $SNAP_MIG_OUT"
snap_check 3
send "$(cat <<'EOF'
touch /tmp/stop; while [ ! -e /tmp/stopped ]; do usleep 100000; done; sync; echo 3 >/proc/sys/vm/drop_caches; for d in vda vdb; do a=$(dd if=/dev/$d bs=1M count=8 2>/dev/null | md5sum | cut -d' ' -f1); b=$(dd if=/dev/$d bs=1M skip=16 count=16 2>/dev/null | md5sum | cut -d' ' -f1); printf 'SU%s %s %s %s %s\n' MS $d "$a" "$(cat /tmp/$d.before)" "$b"; done
EOF
)"$'\n'
wait_for 'SUMS vdb' 60 || snap_fail "the guest could not read its disks back"
sums() { grep -a -E -o "SUMS $1 [0-9a-f]{32} [0-9a-f]{32} [0-9a-f]{32}" "$SESSION_LOG" | tail -n 1; }
for d in vda vdb; do
    read -r _ _ now before during <<<"$(sums $d)"
    [ -n "$now" ] && [ "$now" = "$before" ] || snap_fail "$d: the data written before the move changed ($now, was $before)"
    eval "during_$d=$during first_$d=$now"
done
echo "ok: the guest reads back what it wrote before the move"
snap_poweroff
[ -e "$SNAP_WORK/a3.raw" ] && [ -e "$SNAP_WORK/b3.qcow2" ] || snap_fail "the destination's disks are missing"
qemu-img check -q "$SNAP_WORK/b3.qcow2" || snap_fail "the migrated qcow2 image is not clean"
qemu-img convert -O raw "$SNAP_WORK/b3.qcow2" "$SNAP_WORK/b3.raw" || snap_fail "qemu-img convert"
region() { dd if="$1" bs=1M skip="$2" count="$3" 2>/dev/null | md5sum | cut -d' ' -f1; }
for pair in "vda a3.raw" "vdb b3.raw"; do
    read -r d f <<<"$pair"
    first=first_$d during=during_$d
    [ "$(region "$SNAP_WORK/$f" 0 8)" = "${!first}" ] || snap_fail "$f: its first 8 MiB differ from the guest's"
    [ "$(region "$SNAP_WORK/$f" 16 16)" = "${!during}" ] ||
        snap_fail "$f: the blocks written during the move differ from what the guest read"
done
echo "ok: the destination's image files hold what the guest wrote, before, during and after the moves"
echo "PASS: raw and qcow2 disks migrate with the VM while it writes to them, in pre-copy and in post-copy; an existing target is refused"
