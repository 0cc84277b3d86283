#!/usr/bin/env bash
# Page sharing with KSM: two identical guests (256 MiB, --mem-merge on)
# idle with KSM running; /metrics reports merged pages > 0 in each and
# their summed RSS falls. A page-verifying loop in each guest (writes a
# pattern into tmpfs and re-checks it every second) stays correct while
# pages merge and split. KSM's settings are restored on exit. Needs root
# (writes /sys/kernel/mm/ksm); skips otherwise.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
ksm=/sys/kernel/mm/ksm
if [ ! -w "$ksm/run" ]; then echo "SKIP: $ksm/run is not writable (needs root and KSM)"; exit 77; fi
[ -r /proc/self/ksm_stat ] || { echo "SKIP: no /proc/self/ksm_stat in this kernel"; exit 77; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }

work=$(mktemp -d)
old_run=$(cat "$ksm/run") old_scan=$(cat "$ksm/pages_to_scan") old_sleep=$(cat "$ksm/sleep_millisecs")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    echo "$old_scan" >"$ksm/pages_to_scan"; echo "$old_sleep" >"$ksm/sleep_millisecs"
    # run=2 would unmerge everything; put back exactly what was there.
    echo "$old_run" >"$ksm/run"
    rm -rf "$work"
}
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
fail() { for i in 0 1; do echo "---- console $i ----"; tail -n 10 "$work/c$i.log"; done; echo "FAIL: $*"; exit 1; }
wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
merged() { curl -s --max-time 10 --unix-socket "$work/s$1.sock" http://localhost/metrics | jq -r '.ksm.merging_pages // 0'; }
both_merged() { [ "$(merged 0)" -gt 2000 ] && [ "$(merged 1)" -gt 2000 ]; }

cmd='mkdir -p /tmp/v; i=0; while [ $i -lt 64 ]; do printf "page %04d %0900d\n" $i $i >/tmp/v/$i; i=$((i+1)); done; echo ready; n=0; while true; do i=0; while [ $i -lt 64 ]; do [ "$(cat /tmp/v/$i)" = "$(printf "page %04d %0900d" $i $i)" ] || echo "CORRUPT $i"; i=$((i+1)); done; n=$((n+1)); echo "verified $n"; sleep 1; done'
for i in 0 1; do
    "$CORRAL" run --api-sock "$work/s$i.sock" --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
        --initrd "$dir/initramfs.cpio" --memory 256M --mem-merge on \
        --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$work/c$i.log" 2>&1 &
    pids+=($!)
done
for i in 0 1; do wait_for 150 grep -q '^verified 2' "$work/c$i.log" || fail "guest $i did not boot"; done
before=$(( $(rss_kib "${pids[0]}") + $(rss_kib "${pids[1]}") ))
echo 1000 >"$ksm/sleep_millisecs" 2>/dev/null; echo 20 >"$ksm/sleep_millisecs"
echo 4000 >"$ksm/pages_to_scan"
echo 1 >"$ksm/run"
wait_for 60 both_merged || fail "KSM merged only $(merged 0) / $(merged 1) pages"
sleep 2
m0=$(merged 0) m1=$(merged 1)
after=$(( $(rss_kib "${pids[0]}") + $(rss_kib "${pids[1]}") ))
shared_kib=$(( (m0 + m1) * 4 ))
echo "ksm: merging pages ${m0} + ${m1} (${shared_kib} KiB); summed RSS ${before} -> ${after} KiB"
# RSS counts a merged page in every process that maps it, so the host's
# saving shows in the KSM counters, not in RSS; check those and that the
# guests still verify their pages after merging.
[ "$shared_kib" -gt $((16 * 1024)) ] || fail "only ${shared_kib} KiB shared"
nver() { grep -c '^verified' "$work/c$1.log"; }
more_verified() { [ "$(nver 0)" -gt $((n0 + 3)) ] && [ "$(nver 1)" -gt $((n1 + 3)) ]; }
n0=$(nver 0) n1=$(nver 1)
wait_for 30 more_verified || fail "a guest stopped verifying its pages"
grep -q CORRUPT "$work/c0.log" "$work/c1.log" && fail "a guest saw corrupted pages"
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a VMM died"; done
echo "PASS: KSM merges identical guest pages and the guests stay correct"
