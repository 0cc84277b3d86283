#!/usr/bin/env bash
# Issue 14, defects 4, 6 and 7: hostile host files.
#  4. A FIFO as kernel, initrd or firmware through the API: InstanceStart
#     fails at once (400) and GET / keeps answering; no hang.
#  6. --dump-dtb never follows a symlink planted under the old temporary
#     name PATH.tmp.PID: the victim file is untouched.
#  7. A 4 GiB sparse initrd with --memory 128M fails with "does not fit"
#     within seconds and without reading the file into host memory.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
fail() { echo "FAIL: $*"; exit 1; }

# ---- 4: FIFOs through the API ----
sock=$work/api.sock
mkfifo "$work/fifo"
"$CORRAL" run --api-sock "$sock" </dev/null >"$work/out" 2>&1 &
pid=$!
for ((i = 0; i < 200; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no API socket"
api() {
    curl -s --max-time 20 --unix-socket "$sock" -X "$1" -w ' %{http_code}' \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "http://localhost$2"
}
for which in kernel initrd firmware; do
    k=$dir/Image i=$dir/initramfs.cpio f=$dir/fw_dynamic.bin
    case $which in kernel) k=$work/fifo ;; initrd) i=$work/fifo ;; firmware) f=$work/fifo ;; esac
    r=$(api PUT /boot-source "{\"kernel_image_path\":\"$k\",\"initrd_path\":\"$i\",\"firmware_path\":\"$f\"}")
    [ "${r##* }" = 204 ] || fail "PUT /boot-source ($which FIFO): $r"
    t0=$(date +%s%N)
    r=$(api PUT /actions '{"action_type":"InstanceStart"}')
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "InstanceStart with the $which a FIFO: ${r##* } after ${ms} ms: ${r% *}"
    [ "${r##* }" = 400 ] || fail "InstanceStart with a FIFO $which: '$r', want 400"
    grep -q 'not a regular file' <<<"$r" || fail "the error does not say why: '$r'"
    [ "$ms" -lt 5000 ] || fail "InstanceStart took ${ms} ms"
    r=$(api GET /)
    [ "${r##* }" = 200 ] || fail "GET / after the FIFO: '$r'"
done
kill -TERM "$pid"; wait "$pid"; pid=

# ---- 6: --dump-dtb and a planted symlink ----
echo "precious" >"$work/victim"
rc=0
bash -c 'ln -s "$1/victim" "$1/x.dtb.tmp.$$"; exec "$2" run --kernel "$3/Image" \
    --firmware "$3/fw_dynamic.bin" --dump-dtb "$1/x.dtb"' _ "$work" "$CORRAL" "$dir" \
    >"$work/out" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$work/out"; fail "--dump-dtb exit $rc"; }
[ "$(cat "$work/victim")" = precious ] || fail "--dump-dtb wrote through the planted symlink"
[ "$(head -c 4 "$work/x.dtb" | od -An -tx1 | tr -d ' ')" = d00dfeed ] || fail "x.dtb is not a DTB"
ls "$work" | grep -q 'x\.dtb\..\{6\}$' && fail "a temporary file was left behind"
echo "dump-dtb: victim untouched, x.dtb written"

# ---- 7: a sparse 4 GiB initrd with 128 MiB of RAM ----
truncate -s 4G "$work/huge.cpio"
t0=$(date +%s%N)
rc=0
/usr/bin/time -f 'maxrss_kb %M' -o "$work/time" "$CORRAL" run --kernel "$dir/Image" \
    --firmware "$dir/fw_dynamic.bin" --initrd "$work/huge.cpio" --memory 128M \
    </dev/null >"$work/out" 2>&1 || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
rss=$(awk '/maxrss_kb/ {print $2}' "$work/time")
echo "4 GiB initrd: exit $rc after ${ms} ms, max RSS ${rss} KiB: $(grep -a 'error' "$work/out" | head -n 1)"
[ $rc -ne 0 ] || fail "a 4 GiB initrd in 128 MiB was accepted"
grep -q 'does not fit' "$work/out" || fail "no 'does not fit' message"
[ "$ms" -lt 10000 ] || fail "took ${ms} ms to refuse"
[ "$rss" -lt 1000000 ] || fail "max RSS ${rss} KiB: the file was read into memory"
echo "ok: FIFO images refused at once, dump-dtb symlink-safe, oversized initrd refused cheaply"
