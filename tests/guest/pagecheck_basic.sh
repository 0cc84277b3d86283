# The page-verifying workload in a booted guest: boot the default guest
# interactively (512 MiB), start `pagecheck --mib 64` in the background,
# read its status twice through the console: full sweeps done, no
# mismatched page, the guest clock never went backwards, the counters grow
# between the two reads and the status file is fresh (its nanosleeps
# return). Then damage check: --print of a missing status file fails.
. "$(dirname "$0")/lib/lib.sh"
. "$(dirname "$0")/lib/pagecheck_lib.bash"
dir=$(guest_dir) || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start_corral "$log" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --cmdline "console=ttyS0 quiet" --cpus 1 --memory 512M
wait_for 'guest ready' 180 || exit 1
sleep 1
send $'command -v pagecheck || echo NO-PAGECHECK\n'
wait_for '^[0-9.]+ (/bin/pagecheck|NO-PAGECHECK)' 20 || exit 1
grep -qE '^[0-9.]+ NO-PAGECHECK' "$log" && { echo "FAIL: /bin/pagecheck is not in the initramfs"; exit 1; }

pagecheck_start 64 --seed 7 || { echo "FAIL: pagecheck did not start"; exit 1; }
sleep 5
pagecheck_status || exit 1
first=$PC_LINE
echo "first:  $first"
[ "$PC_ROUNDS" -gt 0 ] || { echo "FAIL: no full sweep after 5 s ($first)"; exit 1; }
[ "$PC_MIB" = 64 ] && [ "$PC_SEED" = 7 ] || { echo "FAIL: wrong mib/seed in '$first'"; exit 1; }
[ "$PC_MISMATCHES" = 0 ] || { echo "FAIL: mismatches in '$first'"; exit 1; }
[ "$PC_WRITTEN" -gt 0 ] || { echo "FAIL: no page rewritten ($first)"; exit 1; }
sleep 3
pagecheck_status || exit 1
second=$PC_LINE
echo "second: $second"
pagecheck_assert_progress "$first" "$second" || { echo "FAIL: pagecheck made no clean progress"; exit 1; }
[ "$PC_WRITTEN" -gt "$(pagecheck_field "$first" written)" ] || { echo "FAIL: written did not grow"; exit 1; }
pagecheck_assert_fresh 3000 || { echo "FAIL: stale pagecheck status"; exit 1; }

# The reader must fail loudly, not print stale numbers, without a status.
send $'pagecheck --print /run/none; echo NOSTATUS-rc=$?\n'
wait_for '^[0-9.]+ NOSTATUS-rc=' 20 || exit 1
grep -qE '^[0-9.]+ NOSTATUS-rc=1' "$log" || { tail -n 5 "$log"; echo "FAIL: --print of a missing file did not fail"; exit 1; }
send $'cat /run/pagecheck.log; echo LOG-END\n'
wait_for '^[0-9.]+ LOG-END' 20 || exit 1
if grep -q 'pagecheck: mismatch\|FAIL' "$log"; then echo "FAIL: pagecheck reported errors"; exit 1; fi

send $'poweroff -f\n'
end_session 300
[ "$SESSION_RC" = 0 ] || { tail -n 10 "$log"; echo "FAIL: corral exit status $SESSION_RC after poweroff"; exit 1; }
echo "ok: pagecheck ran $PC_ROUNDS sweeps over 64 MiB, $PC_VERIFIED pages verified, $PC_WRITTEN rewritten, 0 mismatches"
