#!/usr/bin/env bash
# kill -9 durability on a qcow2 overlay (over a raw ext4 base): the guest
# writes files with fsync and prints each one's checksum once synced; the
# host kills Corral at a random moment, then `qemu-img check` must find
# no corruption (leaks are allowed) and every file the guest reported
# synced must read back with its checksum. The same overlay is reused, so
# each run also opens an image the previous run left mid-write.
# QCOW2_KILL_RUNS (default 5; bench/io/qcow2_kill.sh runs 20).
source "$(dirname "$0")/lib/lib.sh"
for t in mkfs.ext4 debugfs e2fsck cpio sha256sum qemu-img; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
runs=${QCOW2_KILL_RUNS:-5}
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
id=$(cut -c1-8 /proc/sys/kernel/random/boot_id)
rm -f /f_*
sync
i=0
while true; do
    n=$(( $(od -An -N1 -tu1 /dev/urandom) % 32 + 1 ))
    dd if=/dev/urandom of=/f_${id}_$i bs=16384 count=$n conv=fsync 2>/dev/null
    sync
    echo "synced /f_${id}_$i $(sha256sum /f_${id}_$i | cut -d' ' -f1)"
    i=$((i + 1))
done
INIT
chmod +x "$root/test-init"
mkfs.ext4 -q -F -L corral-root -d "$root" "$work/root.img" 128M || exit 1
qemu-img create -q -f qcow2 -b root.img -F raw "$work/ov.qcow2" || exit 1

args=(--firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio"
      --memory 256M --cmdline "console=ttyS0 quiet root=/dev/vda rootfstype=ext4 init=/test-init"
      --disk "$work/ov.qcow2,format=qcow2")
# A whole report line: the kill can cut the last one short mid-checksum.
synced() { tr -d '\r' <"$work/out" | grep -E '^synced /f_[0-9a-f]+_[0-9]+ [0-9a-f]{64}$'; }
total=0
for run in $(seq "$runs"); do
    : >"$work/out"
    "$CORRAL" run "${args[@]}" </dev/null >"$work/out" 2>&1 &
    vm=$!
    want=$((RANDOM % 6 + 2))
    for _ in $(seq 400); do
        [ "$(synced | wc -l)" -ge "$want" ] && break
        kill -0 "$vm" 2>/dev/null || break
        sleep 0.25
    done
    sleep "0.$((RANDOM % 10))"
    kill -9 "$vm" 2>/dev/null
    wait "$vm" 2>/dev/null
    vm=
    n=$(synced | wc -l)
    [ "$n" -ge 1 ] || { tail -20 "$work/out"; echo "FAIL: run $run: the guest synced nothing"; exit 1; }
    qemu-img check "$work/ov.qcow2" >"$work/check" 2>&1
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 3 ]; then
        cat "$work/check"; echo "FAIL: run $run: qemu-img check exit $rc (corruption)"; exit 1
    fi
    rm -f "$work/view.raw"
    qemu-img convert -O raw "$work/ov.qcow2" "$work/view.raw" || exit 1
    e2fsck -fy "$work/view.raw" >"$work/fsck" 2>&1
    [ $? -lt 4 ] || { cat "$work/fsck"; echo "FAIL: run $run: e2fsck cannot repair"; exit 1; }
    while read -r _ f sum; do
        got=$(debugfs -R "cat $f" "$work/view.raw" 2>/dev/null | sha256sum | cut -d' ' -f1)
        [ "$got" = "$sum" ] || { echo "FAIL: run $run: $f reads $got, the guest synced $sum"; exit 1; }
    done < <(synced)
    total=$((total + n))
    echo "run $run: killed after $n synced files; qemu-img check exit $rc; all intact"
done
echo "PASS: $runs kill -9 runs on a qcow2 overlay, $total synced files intact, no corruption"
