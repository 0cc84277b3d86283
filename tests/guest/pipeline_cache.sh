# Issue 2: the guest pipeline's cache. In a fresh cache: the first run
# fetches, the second fetches nothing; a corrupt .deb is detected and
# fetched again; a run killed midway (download or build) leaves nothing
# that looks complete and the next run yields a good cache; an unreachable
# mirror gives one line naming the package index and CORRAL_DEBIAN_MIRROR.
. "$(dirname "$0")/lib/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
G=$TOP/scripts/guest.sh
export XDG_CACHE_HOME=$tmp/cache
C=$XDG_CACHE_HOME/corral

"$G" >"$tmp/run1" 2>&1 || { cat "$tmp/run1"; echo "FAIL: first run"; exit 1; }
grep -q 'fetching linux-image' "$tmp/run1" || { cat "$tmp/run1"; echo "FAIL: first run fetched no kernel"; exit 1; }
"$G" >"$tmp/run2" 2>&1 || { cat "$tmp/run2"; echo "FAIL: second run"; exit 1; }
if grep -q fetching "$tmp/run2" || ! grep -q 'up to date' "$tmp/run2"; then
    cat "$tmp/run2"; echo "FAIL: second run fetched again"; exit 1
fi
echo "ok: second run fetched nothing"

# Corrupt a cached package (same size, one byte changed) and a built file
# at once: one run fetches the package again and redoes the build (one
# build, not two: the suite's time is counted).
bb=$(ls "$C"/debs/busybox-static_*.deb)
printf '\xff' | dd of="$bb" bs=1 seek=1000 conv=notrunc status=none
printf 'x' >>"$C/guest/current/initramfs.cpio"
"$G" >"$tmp/run3" 2>&1 || { cat "$tmp/run3"; echo "FAIL: run after corruption"; exit 1; }
grep -q 'corrupt' "$tmp/run3" && grep -q 'fetching busybox-static' "$tmp/run3" ||
    { cat "$tmp/run3"; echo "FAIL: corruption not detected"; exit 1; }
echo "ok: corrupt package detected and fetched again"
grep -q 'does not match its manifest' "$tmp/run3" || { cat "$tmp/run3"; echo "FAIL: corrupt build not detected"; exit 1; }
(cd "$C/guest/current" && sha256sum --quiet -c MANIFEST) || { echo "FAIL: the rebuilt guest does not verify"; exit 1; }
echo "ok: corrupt build detected and rebuilt"

# Kill during the build, then during the kernel download.
good=$(readlink "$C/guest/current")
rm -rf "$C/guest"
"$G" >/dev/null 2>&1 & pid=$!
sleep 3; kill -9 $pid; wait $pid 2>/dev/null
[ -e "$C/guest/current" ] && { echo "FAIL: killed build left guest/current"; exit 1; }
for d in "$C"/guest/*/; do
    [ -d "$d" ] || continue
    case $d in */.tmp.*) ;; *) [ -f "$d/MANIFEST" ] && { echo "FAIL: killed build left a complete-looking $d"; exit 1; } ;; esac
done
rm -f "$C"/debs/linux-image-*.deb*
"$G" >/dev/null 2>&1 & pid=$!
sleep 0.7; kill -9 $pid; wait $pid 2>/dev/null
ls "$C"/debs/linux-image-*.deb >/dev/null 2>&1 && ! [ -f "$(ls "$C"/debs/linux-image-*.deb | head -n 1).verified" ] &&
    echo "(a partial download may exist under .tmp; the real name must then verify)"
"$G" >"$tmp/run5" 2>&1 || { cat "$tmp/run5"; echo "FAIL: run after kills"; exit 1; }
[ "$(readlink "$C/guest/current")" = "$good" ] || { echo "FAIL: rebuilt to a different key"; exit 1; }
(cd "$C/guest/current" && sha256sum --quiet -c MANIFEST) || { echo "FAIL: rebuilt cache does not verify"; exit 1; }
echo "ok: killed runs leave no complete-looking cache; the next run completes it"

# No mirror reachable: one line, non-zero, naming CORRAL_DEBIAN_MIRROR.
export XDG_CACHE_HOME=$tmp/cache-offline
out=$(CORRAL_DEBIAN_MIRROR=http://127.0.0.1:9/debian "$G" 2>&1); rc=$?
echo "$out"
[ $rc -ne 0 ] && [ "$(grep -c . <<<"$out")" -le 2 ] && grep -q 'CORRAL_DEBIAN_MIRROR' <<<"$out" &&
    grep -q 'error' <<<"$out" || { echo "FAIL: unreachable mirror: exit $rc"; exit 1; }
echo "ok: unreachable mirror reported in one line"
