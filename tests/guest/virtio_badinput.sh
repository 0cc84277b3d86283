#!/usr/bin/env bash
# Host-side bad device flags fail before the guest starts, with one line
# and a non-zero exit: missing disk, a directory as a disk, an unknown
# --net mode, a TAP that cannot be opened, a hostfwd port already taken.
source "$(dirname "$0")/lib/lib.sh"
command -v busybox >/dev/null || { echo "FAIL: busybox (host) is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
boot=(--firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio")

check() { # description expected-text args...
    local what=$1 want=$2 out rc
    shift 2
    out=$(timeout 20 "$CORRAL" run "${boot[@]}" "$@" </dev/null 2>&1)
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then echo "FAIL: $what: exit $rc"; echo "$out" | tail -5; exit 1; fi
    if [ "$(grep -c . <<<"$out")" -ne 1 ] || ! grep -qi -- "$want" <<<"$out"; then
        echo "FAIL: $what: expected one line with '$want', got:"; echo "$out" | head -5; exit 1
    fi
    echo "ok: $what: $out"
}

check "missing disk" "No such file" --disk "$work/missing.img"
mkdir "$work/adir"
check "directory as disk" "directory" --disk "$work/adir"
check "unknown --net mode" "unknown mode" --net bridge
check "TAP name too long" "tap=" --net "tap=corral-no-such-tap-name-too-long"
# "lo" exists and is no TAP: TUNSETIFF refuses it (as root or not).
check "TAP that cannot be opened" "tap=lo: " --net "tap=lo"
port=$((20000 + RANDOM % 12000)) # below the ephemeral range
mkdir -p "$work/www"
busybox httpd -f -p "127.0.0.1:$port" -h "$work/www" &
pids+=($!)
sleep 0.3
check "hostfwd port taken" "$port" --net "user,hostfwd=tcp::$port-:22"
echo "PASS: bad device flags fail early with one line"
