#!/usr/bin/env bash
# Runs tests/guest/progs/virtio_malformed.S against a real virtio-blk device:
# five malformed chains, each must give NEEDS_RESET and exactly one log
# line, and a reset must bring the device back (the program checks that).
source "$(dirname "$0")/lib/lib.sh"
tmp=$(mktemp -d)
elf=$tmp/virtio_malformed.elf
riscv64-unknown-elf-gcc -march=rv64gc_zicsr_zifencei -mabi=lp64d -nostdlib -nostartfiles -static \
    -mcmodel=medany -Wl,--no-warn-rwx-segments -I"$TOP/tests/isa" -T "$TOP/tests/isa/link.ld" \
    -o "$elf" "$TOP/tests/guest/progs/virtio_malformed.S" || { echo "FAIL: cannot build $elf"; exit 1; }
img=$(mktemp)
trap 'rm -rf "$img" "$tmp"' EXIT
head -c 65536 /dev/zero | tr '\0' '\132' > "$img"   # 0x5a
out=$(timeout 60 "$CORRAL" run --test "$elf" --disk "$img" </dev/null 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
n=$(grep -c "device needs reset" <<<"$out")
[ "$n" -eq 5 ] || { echo "FAIL: expected 5 'needs reset' lines, got $n"; exit 1; }
[ "$(tr -d '\132' < "$img" | wc -c)" -eq 0 ] || { echo "FAIL: the image changed"; exit 1; }
echo "PASS: malformed chains -> NEEDS_RESET, one line each, reset recovers"
