# Issue 3 bad input for `corral run --test`: an ELF for another machine, a
# segment outside RAM and a truncated file get one line and a non-zero exit;
# a runaway program is stopped by --timeout with a clear message.
. "$(dirname "$0")/lib/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CC=riscv64-unknown-elf-gcc
LD="-nostdlib -nostartfiles -static -Wl,-N,--no-warn-rwx-segments"
$CC $LD -Ttext=0x80000000 -o "$tmp/spin.elf" "$TOP/tests/guest/progs/spin.S" || exit 1
$CC $LD -Ttext=0x1000 -o "$tmp/low.elf" "$TOP/tests/guest/progs/spin.S" || exit 1
head -c 180 "$tmp/spin.elf" >"$tmp/truncated.elf"
fails=0
check() { # what want args...
    local what=$1 want=$2; shift 2
    local out rc
    out=$(timeout 20 "$CORRAL" "$@" </dev/null 2>&1); rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 124 ] && [ "$want" != "--timeout" ] || [ "$(grep -c . <<<"$out")" -ne 1 ] || ! grep -qF -- "$want" <<<"$out"; then
        echo "FAIL: $what: exit $rc: $out"; fails=$((fails + 1))
    else
        echo "ok: $what (exit $rc) -> $out"
    fi
}
check "x86-64 ELF" "not a 64-bit little-endian RISC-V ELF" run --test "$(type -P true)"
check "segment outside RAM" "outside guest RAM" run --test "$tmp/low.elf"
check "truncated ELF" "$tmp/truncated.elf" run --test "$tmp/truncated.elf"
t0=$(date +%s%N)
out=$("$CORRAL" run --test "$tmp/spin.elf" --timeout 1 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -eq 124 ] && grep -q -- '--timeout' <<<"$out" && [ $ms -lt 3000 ]; then
    echo "ok: runaway program stopped by --timeout 1 after ${ms} ms: $out"
else
    echo "FAIL: --timeout: exit $rc after ${ms} ms: $out"; fails=$((fails + 1))
fi
[ $fails -eq 0 ] || exit 1
echo "ok: test-mode bad input"
