# Guest-controlled input is hostile: a bare-metal program makes 2,000,000
# random loads and stores (random widths, offsets and values, fixed seed)
# to every device, with a virtio disk, NIC and rng attached. The VMM must
# survive, the program must finish (exit 0), the devices may refuse what
# they are given (NEEDS_RESET, one log line each) but never flood the log,
# and the readonly disk image must be untouched.
. "$(dirname "$0")/lib/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
riscv64-unknown-elf-gcc -march=rv64g -mabi=lp64d -nostdlib -nostartfiles -static \
    -Wl,-N,--no-warn-rwx-segments -Ttext=0x80000000 -o "$tmp/hostile.elf" \
    "$TOP/tests/guest/progs/hostile_mmio.S" || { echo "FAIL: cannot build hostile.elf"; exit 1; }
head -c 1048576 /dev/urandom >"$tmp/disk.img"
head -c 1048576 /dev/urandom >"$tmp/ro.img"
before=$(sha256sum <"$tmp/ro.img")
t0=$(date +%s%N)
"$CORRAL" run --test "$tmp/hostile.elf" --disk "$tmp/disk.img" --disk "$tmp/ro.img,readonly" \
    --net user --rng --timeout 60 </dev/null >"$tmp/out" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
errors=$(grep -ac 'corral: error' "$tmp/out")
echo "exit $rc after ${ms} ms; $errors error lines from the devices:"
grep -a 'corral: error' "$tmp/out" | cut -c1-160 | head -n 20
[ $rc -eq 0 ] || { echo "FAIL: the hostile program did not finish cleanly (exit $rc)"; exit 1; }
[ "$errors" -le 50 ] || { echo "FAIL: $errors error lines: the log is flooded"; exit 1; }
[ "$(sha256sum <"$tmp/ro.img")" = "$before" ] || { echo "FAIL: the readonly disk changed"; exit 1; }
echo "ok: 2,000,000 random device accesses; VMM alive, program finished, readonly disk intact"
