#!/usr/bin/env bash
# Issue 14, defect 2: a graceful Shutdown (PUT /actions Shutdown: SysRq s,
# u, o) must keep what the guest wrote but had not synced. The guest
# writes 150 files of 256 KiB to its ext4 root with no sync, then idles;
# the host asks for Shutdown; every file must be on the image afterwards
# with its full size, and e2fsck -fn must be clean.
source "$(dirname "$0")/lib/lib.sh"
for t in mkfs.ext4 debugfs e2fsck cpio curl; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed"; exit 1; }
done
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
fail() { echo "---- console ----"; tail -n 20 "$work/out"; echo "work: $work"; echo "FAIL: $*"; exit 1; }

root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/data"
(cd "$root" && cpio -i --quiet bin/busybox < "$dir/initramfs.cpio") || exit 1
cat > "$root/test-init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc 2>/dev/null
# Keep the data dirty: no periodic writeback before the Shutdown.
echo 0 > /proc/sys/vm/dirty_writeback_centisecs
i=0
while [ $i -lt 150 ]; do
    dd if=/dev/zero of=/data/f$i bs=64k count=4 2>/dev/null
    i=$((i + 1))
done
echo "files-written $i"
while :; do sleep 1; done
INIT
chmod +x "$root/test-init"
mkfs.ext4 -q -F -L corral-root -d "$root" "$work/root.img" 128M || exit 1

sock=$work/api.sock
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --memory 512M --disk "$work/root.img" \
    --api-sock "$sock" --timeout 240 \
    --cmdline "console=ttyS0 quiet root=/dev/vda rootfstype=ext4 init=/test-init" \
    </dev/null >"$work/out" 2>&1 &
pid=$!
for ((i = 0; i < 1800; i++)); do
    grep -aq "files-written" "$work/out" && break
    kill -0 "$pid" 2>/dev/null || fail "corral ended before the guest wrote its files"
    sleep 0.1
done
grep -aq "files-written 150" "$work/out" || fail "the guest did not write its files"
t0=$(date +%s%N)
r=$(curl -s --max-time 20 --unix-socket "$sock" -X PUT -w ' %{http_code}' \
    -H 'Content-Type: application/json' -d '{"action_type":"Shutdown"}' \
    http://localhost/actions)
[ "${r##* }" = 204 ] || fail "Shutdown: '$r'"
rc=0
wait "$pid" || rc=$?
pid=
ms=$((($(date +%s%N) - t0) / 1000000))
echo "Shutdown: exit $rc after ${ms} ms"
[ "$rc" -eq 0 ] || fail "corral exited with $rc after Shutdown"
n=$(debugfs -R "ls -l /data" "$work/root.img" 2>/dev/null | awk '$NF ~ /^f[0-9]+$/ && $(NF-3) == 262144' | wc -l)
echo "files on the image with their full size: $n of 150"
[ "$n" -eq 150 ] || fail "$n of 150 unsynced files survived the Shutdown"
e2fsck -fn "$work/root.img" >"$work/fsck" 2>&1 || { cat "$work/fsck"; fail "e2fsck -fn is not clean"; }
echo "ok: Shutdown kept all 150 unsynced files; e2fsck clean"
