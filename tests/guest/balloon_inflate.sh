#!/usr/bin/env bash
# virtio-balloon on a real guest (512 MiB): the guest dirties all but 24 MiB
# of its free memory and frees it (no reporting, so the host still holds it); inflating to 384 MiB
# takes the guest's free memory and the VMM's RSS falls by >= 90 % of it;
# statistics answer with plausible numbers; deflating to 0 gives the memory
# back; bad balloon requests get 400 + fault_message and the VM keeps going.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
api_setup console.log

fail() { echo "---- console ----"; tail -n 20 "$out"; echo "FAIL: $*"; exit 1; }
wait_for() { # SECONDS CMD...
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
actual_mib() { api GET /balloon | sed 's/ [0-9]*$//' | jq -r '.actual_mib // -1'; }
actual_is() { [ "$(actual_mib)" -eq "$1" ]; }
actual_at_least() { [ "$(actual_mib)" -ge "$1" ]; }
guest_free_kib() { grep -a -o 'mem [0-9]* [0-9]*' "$out" | tail -n 1 | awk '{print $3}'; }
free_below() { local f; f=$(guest_free_kib); [ -n "$f" ] && [ "$f" -lt "$1" ]; }
free_above() { local f; f=$(guest_free_kib); [ -n "$f" ] && [ "$f" -gt "$1" ]; }

cmd='n=$(( $(awk '"'"'/^MemFree/{print $2}'"'"' /proc/meminfo) / 1024 - 24 )); mount -t tmpfs -o size=${n}m tmpfs /mnt; dd if=/dev/zero of=/mnt/big bs=1M count=$n 2>/dev/null; echo filled $n; rm /mnt/big; umount /mnt; echo freed; while true; do echo "mem $(awk '"'"'/^MemTotal/{t=$2} /^MemFree/{f=$2} END{print t, f}'"'"' /proc/meminfo)"; sleep 1; done'
"$CORRAL" run --api-sock "$sock" --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --memory 512M --balloon 0,stats=1 \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$out" 2>&1 &
pid=$!
wait_for 10 test -S "$sock" || fail "no API socket"
wait_for 120 grep -q '^mem ' "$out" || fail "the guest did not boot and dirty its memory"
sleep 1
before=$(rss_kib)
[ "$before" -gt $((450 * 1024)) ] || fail "VMM RSS is only ${before} KiB after the guest dirtied its memory"

expect_status 400 PATCH /balloon '{"amount_mib":600}'
expect_status 400 PATCH /balloon '{"amount_mib":-1}'
expect_status 400 PATCH /balloon '{"amount_mib":"big"}'
expect_status 400 PUT /balloon '{"amount_mib":10,"deflate_on_oom":false}'
expect_status 400 PATCH /balloon/statistics '{"stats_polling_interval_s":-5}'

t0=$(date +%s.%N)
"$CORRAL" ctl --sock "$sock" balloon 384M >/dev/null || fail "ctl balloon 384M refused"
wait_for 60 actual_at_least 384 || fail "the balloon reached only $(actual_mib) MiB of 384"
t1=$(date +%s.%N)
sleep 1
after=$(rss_kib)
drop=$((before - after))
want=$((384 * 1024 * 9 / 10))
echo "inflate 384 MiB: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s; RSS ${before} -> ${after} KiB (drop ${drop}, want >= ${want})"
[ "$drop" -ge "$want" ] || fail "RSS fell by ${drop} KiB, want >= ${want}"
wait_for 10 free_below $((160 * 1024)) || fail "guest MemFree is $(guest_free_kib) KiB with 384 MiB ballooned"

stats=$(api GET /balloon/statistics | sed 's/ [0-9]*$//')
total=$(jq -r '.total_memory // 0' <<<"$stats")
free=$(jq -r '.free_memory // -1' <<<"$stats")
[ "$total" -gt $((300 << 20)) ] && [ "$total" -le $((512 << 20)) ] || fail "stats total_memory $total in $stats"
[ "$free" -ge 0 ] && [ "$free" -lt "$total" ] || fail "stats free_memory $free in $stats"
[ "$(jq -r .target_mib <<<"$stats")" = 384 ] || fail "stats target_mib in $stats"
"$CORRAL" ctl --sock "$sock" balloon-stats | grep -q '^actual_mib: 38[4-9]' || fail "ctl balloon-stats"

expect_status 204 PATCH /balloon '{"amount_mib":0}'
wait_for 60 actual_is 0 || fail "the balloon deflated only to $(actual_mib) MiB"
wait_for 10 free_above $((350 * 1024)) || fail "guest MemFree is $(guest_free_kib) KiB after deflating"
kill -0 "$pid" 2>/dev/null || fail "the VMM died"
echo "PASS: balloon inflate/deflate, RSS follows, stats, bad input"
