# Issue 4 bad input: each mistake gets one line naming the problem and a
# non-zero exit, before any guest runs.
. "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 4096 /dev/urandom >"$tmp/garbage"
: >"$tmp/empty"
cp "$dir/Image" "$tmp/unreadable"; chmod 000 "$tmp/unreadable"
fails=0
# check DESCRIPTION EXPECTED-SUBSTRING ARGS...
check() {
    local what=$1 want=$2; shift 2
    local out rc lines
    out=$(timeout 20 "$CORRAL" "$@" </dev/null 2>&1); rc=$?
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" <<<"$out"; then
        echo "FAIL: $what: exit $rc, $lines lines: $out"
        fails=$((fails + 1))
    else
        echo "ok: $what -> $out"
    fi
}
fw=(--firmware "$dir/fw_dynamic.bin")
check "missing kernel" "$tmp/nope" run "${fw[@]}" --kernel "$tmp/nope"
check "kernel is a directory" "not a regular file" run "${fw[@]}" --kernel "$tmp"
check "kernel not a RISC-V Image" "not a RISC-V Linux Image" run "${fw[@]}" --kernel "$tmp/garbage"
check "empty kernel" "$tmp/empty" run "${fw[@]}" --kernel "$tmp/empty"
if [ "$(id -u)" != 0 ]; then
    check "unreadable kernel" "Permission denied" run "${fw[@]}" --kernel "$tmp/unreadable"
fi
check "missing initrd" "$tmp/no-initrd" run "${fw[@]}" --kernel "$dir/Image" --initrd "$tmp/no-initrd"
check "missing firmware" "$tmp/no-fw" run --firmware "$tmp/no-fw" --kernel "$dir/Image"
check "memory too small for the kernel" "give more --memory" run "${fw[@]}" --kernel "$dir/Image" --memory 16M
check "--cpus 0" "--cpus 0" run "${fw[@]}" --kernel "$dir/Image" --cpus 0
check "--cpus 99" "--cpus 99" run "${fw[@]}" --kernel "$dir/Image" --cpus 99
check "--cpus not a number" "--cpus two" run "${fw[@]}" --kernel "$dir/Image" --cpus two
check "bad --memory" "--memory lots" run "${fw[@]}" --kernel "$dir/Image" --memory lots
check "unknown flag" "--frobnicate" run "${fw[@]}" --kernel "$dir/Image" --frobnicate
check "unknown command" "fly" fly
check "test program not ELF" "not an ELF" run --test "$tmp/garbage"
[ $fails -eq 0 ] || { echo "FAIL: $fails bad-input cases"; exit 1; }
echo "ok: all bad-input cases give one line and a non-zero exit"
