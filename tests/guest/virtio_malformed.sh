#!/usr/bin/env bash
# Runs tests/isa/virtio_malformed.S against a real virtio-blk device:
# five malformed chains, each must give NEEDS_RESET and exactly one log
# line, and a reset must bring the device back (the program checks that).
source "$(dirname "$0")/lib.sh"
CORRAL=${CORRAL_BIN:-$CORRAL}
elf=$BUILD/isa/virtio_malformed.elf
[ -f "$elf" ] || { echo "FAIL: $elf not built (make isa)"; exit 1; }
img=$(mktemp)
trap 'rm -f "$img"' EXIT
head -c 65536 /dev/zero | tr '\0' '\132' > "$img"   # 0x5a
out=$(timeout 60 "$CORRAL" run --test "$elf" --disk "$img" </dev/null 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
n=$(grep -c "device needs reset" <<<"$out")
[ "$n" -eq 5 ] || { echo "FAIL: expected 5 'needs reset' lines, got $n"; exit 1; }
[ "$(tr -d '\132' < "$img" | wc -c)" -eq 0 ] || { echo "FAIL: the image changed"; exit 1; }
echo "PASS: malformed chains -> NEEDS_RESET, one line each, reset recovers"
