#!/usr/bin/env bash
# Page sharing with KSM: four identical guests (256 MiB, --mem-merge on;
# KSM_GUESTS) idle with KSM running; /metrics reports merged pages in each,
# and the host memory they use (summed PSS) falls by at least half of what
# the kernel says KSM saves (pages_sharing). A page-verifying loop in each guest (writes a
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
N=${KSM_GUESTS:-4}
fail() { for ((i = 0; i < N; i++)); do echo "---- console $i ----"; tail -n 10 "$work/c$i.log"; done; echo "FAIL: $*"; exit 1; }
wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
merged() { curl -s --max-time 10 --unix-socket "$work/s$1.sock" http://localhost/metrics | jq -r '.ksm.merging_pages // 0'; }
all_merged() { local i; for ((i = 0; i < N; i++)); do [ "$(merged $i)" -gt 2000 ] || return 1; done; }
pss_kib() { local p t=0; for p in "${pids[@]}"; do t=$((t + $(awk '$1 == "Pss:" {print $2}' "/proc/$p/smaps_rollup"))); done; echo $t; }
rss_sum() { local p t=0; for p in "${pids[@]}"; do t=$((t + $(rss_kib "$p"))); done; echo $t; }

cmd='mkdir -p /tmp/v; i=0; while [ $i -lt 64 ]; do printf "page %04d %0900d\n" $i $i >/tmp/v/$i; i=$((i+1)); done; echo ready; n=0; while true; do i=0; while [ $i -lt 64 ]; do [ "$(cat /tmp/v/$i)" = "$(printf "page %04d %0900d" $i $i)" ] || echo "CORRUPT $i"; i=$((i+1)); done; n=$((n+1)); echo "verified $n"; sleep 1; done'
for ((i = 0; i < N; i++)); do
    "$CORRAL" run --api-sock "$work/s$i.sock" --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
        --initrd "$dir/initramfs.cpio" --memory 256M --mem-merge on \
        --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$work/c$i.log" 2>&1 &
    pids+=($!)
done
for ((i = 0; i < N; i++)); do wait_for 300 grep -qs '^verified 2' "$work/c$i.log" || fail "guest $i did not boot"; done
before=$(rss_sum)
pss_before=$(pss_kib)
echo 1000 >"$ksm/sleep_millisecs" 2>/dev/null; echo 20 >"$ksm/sleep_millisecs"
echo 4000 >"$ksm/pages_to_scan"
echo 1 >"$ksm/run"
wait_for 90 all_merged || fail "KSM merged too few pages: $(for ((i = 0; i < N; i++)); do printf '%s ' "$(merged $i)"; done)"
sleep 3
ms=() shared_kib=0
for ((i = 0; i < N; i++)); do ms+=("$(merged $i)"); shared_kib=$((shared_kib + ${ms[i]} * 4)); done
after=$(rss_sum)
pss_after=$(pss_kib)
saved_kib=$(( $(cat "$ksm/pages_sharing") * 4 ))
echo "ksm: $N guests, merging pages ${ms[*]} (${shared_kib} KiB); KSM saves ${saved_kib} KiB; summed PSS ${pss_before} -> ${pss_after} KiB, RSS ${before} -> ${after} KiB"
# PSS splits a merged page among the processes that map it: the host's
# real cost, which must fall by (about) what KSM says it saves.
[ $((pss_before - pss_after)) -ge $((saved_kib / 2)) ] ||
    fail "summed PSS fell by $((pss_before - pss_after)) KiB, KSM says it saves ${saved_kib} KiB"
# RSS counts a merged page in every process that maps it, so the host's
# saving shows in the KSM counters, not in RSS; check those and that the
# guests still verify their pages after merging.
[ "$shared_kib" -gt $((16 * 1024)) ] || fail "only ${shared_kib} KiB shared"
nver() { grep -c '^verified' "$work/c$1.log"; }
nv=()
for ((i = 0; i < N; i++)); do nv+=("$(nver $i)"); done
more_verified() { local i; for ((i = 0; i < N; i++)); do [ "$(nver $i)" -gt $((${nv[i]} + 3)) ] || return 1; done; }
wait_for 60 more_verified || fail "a guest stopped verifying its pages"
for ((i = 0; i < N; i++)); do grep -q CORRUPT "$work/c$i.log" && fail "guest $i saw corrupted pages"; done
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a VMM died"; done
echo "PASS: KSM merges identical guest pages and the guests stay correct"
