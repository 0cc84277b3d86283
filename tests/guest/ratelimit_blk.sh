#!/usr/bin/env bash
# Disk rate limiters on a booted guest, timed by the guest's own clock
# (/proc/uptime around an O_DIRECT dd, so the page cache plays no part):
#  - vda with --disk ...,bw=8M (8 MiB bucket refilled every second): 64 MiB
#    take (64 - 8) / 8 = 7 s; accepted 0.85..1.25x of that;
#  - vdb unlimited: the same read in under half that time;
#  - vdc with bw=2M (64 MiB would take 31 s): PATCH rate_limiter null 3 s
#    into the read and it finishes in well under half of 31 s;
#  - PATCH vdb to Firecracker's JSON bucket {size 1 MiB, refill 125 ms}
#    (8 MiB/s) at run time: 32 MiB take (32 - 1) / 8 = 3.9 s, 0.85..1.25x;
#  - bad PATCH bodies (negative size, refill_time 0, unknown keys, another
#    file, an unknown drive) get 400 + fault_message and change nothing.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }

work=$(mktemp -d)
sock=$work/api.sock
log=$work/console.log
cleanup() {
    [ -n "${CORRAL_PID:-}" ] && kill "$CORRAL_PID" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "---- console ----"; tail -n 20 "$log"; echo "FAIL: $*"; exit 1; }
# guest_read TAG DEV MIB: start an O_DIRECT read in the guest; the guest
# prints "TAG-done START END" (its uptime in seconds) when it is over.
guest_read() {
    send "a=\$(cut -d' ' -f1 /proc/uptime); echo $1-start; dd if=/dev/$2 of=/dev/null bs=1M count=$3 iflag=direct 2>/dev/null; echo $1-done \$a \$(cut -d' ' -f1 /proc/uptime)"$'\n'
}
# finish TAG: wait for TAG's read; T = the seconds the guest measured.
finish() {
    wait_for "$1-done [0-9.]+ [0-9.]+" 60 || fail "the read '$1' did not finish"
    T=$(grep -a -oE "$1-done [0-9.]+ [0-9.]+" "$log" | tail -n 1 | awk '{printf "%.2f", $3 - $2}')
}

for d in a b c; do truncate -s 64M "$work/$d.img" || exit 1; done
start_corral "$log" run --api-sock "$sock" --firmware "$dir/fw_dynamic.bin" \
    --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --memory 256M \
    --disk "$work/a.img,format=raw,bw=8M" --disk "$work/b.img,format=raw" \
    --disk "$work/c.img,format=raw,bw=2M" --cmdline "console=ttyS0 quiet"
wait_for 'guest ready' 180 || fail "the guest did not boot"
sleep 1

cfg=$(api_body GET /vm/config)
[ "$(jq -r '.drives[0].rate_limiter.bandwidth.size' <<<"$cfg")" = 8388608 ] ||
    fail "GET /vm/config does not show vda's limit: $cfg"
[ "$(jq -r '.drives[1].rate_limiter // "none"' <<<"$cfg")" = none ] ||
    fail "vdb has a limit it was not given: $cfg"

guest_read limited vda 64
finish limited
limited=$T
echo "vda, bw=8M: 64 MiB in ${limited} s (expected 7.0 s)"
within "$limited" 5.95 8.75 || fail "64 MiB at 8 MiB/s took ${limited} s, want 5.95..8.75"

guest_read free vdb 64
finish free
free=$T
echo "vdb, unlimited: 64 MiB in ${free} s"
within "$free" 0 "$(awk -v l="$limited" 'BEGIN { print l / 2 }')" ||
    fail "the unlimited disk took ${free} s, not much faster than ${limited} s"

# Lift vdc's limit 3 s into a read that would take 31 s.
guest_read lifted vdc 64
wait_for '^[0-9.]+ lifted-start' 20 || fail "the read of vdc did not start"
sleep 3
expect_status 204 PATCH /drives/disk2 '{"drive_id":"disk2","rate_limiter":null}'
finish lifted
lifted=$T
echo "vdc, bw=2M lifted after 3 s: 64 MiB in ${lifted} s (31 s with the limit)"
within "$lifted" 2.5 15.5 || fail "with the limit lifted after 3 s the read took ${lifted} s"

# A limit in Firecracker's JSON, put on the running vdb.
expect_status 204 PATCH /drives/disk1 \
    '{"rate_limiter":{"bandwidth":{"size":1048576,"refill_time":125,"one_time_burst":0}}}'
[ "$(api_body GET /vm/config | jq -r '.drives[1].rate_limiter.bandwidth.refill_time')" = 125 ] ||
    fail "GET /vm/config does not show vdb's new limit"
guest_read patched vdb 32
finish patched
patched=$T
echo "vdb, PATCHed to 1 MiB per 125 ms: 32 MiB in ${patched} s (expected 3.9 s)"
within "$patched" 3.3 4.85 || fail "32 MiB at 8 MiB/s took ${patched} s, want 3.3..4.85"

# Bad bodies: 400 with a message, and the limit stays.
expect_status 400 PATCH /drives/disk1 '{"rate_limiter":{"bandwidth":{"size":-1,"refill_time":100}}}'
expect_status 400 PATCH /drives/disk1 '{"rate_limiter":{"bandwidth":{"size":1000,"refill_time":0}}}'
expect_status 400 PATCH /drives/disk1 '{"rate_limiter":{"bandwidth":{"size":1000,"refill_time":9,"burst":5}}}'
expect_status 400 PATCH /drives/disk1 '{"rate_limiter":{"iops":{"size":1,"refill_time":1}}}'
expect_status 400 PATCH /drives/disk1 '{"is_read_only":true}'
expect_status 400 PATCH /drives/disk1 '{"path_on_host":"/etc/passwd"}'
expect_status 400 PATCH /drives/nosuch '{"rate_limiter":null}'
expect_status 400 PATCH /drives/disk1 '{"rate_limiter":'
[ "$(api_body GET /vm/config | jq -r '.drives[1].rate_limiter.bandwidth.size')" = 1048576 ] ||
    fail "a refused PATCH changed vdb's limit"
expect_status 400 PUT /drives/disk1 '{"path_on_host":"/x","is_root_device":false}'
kill -0 "$CORRAL_PID" 2>/dev/null || fail "the VMM died"

send $'poweroff -f\n'
end_session 300
[ "$SESSION_RC" = 0 ] || fail "poweroff gave exit status $SESSION_RC"
CORRAL_PID=

# The flags refuse bad rates before anything starts.
for bad in "bw=0" "bw=8X" "iops=-1" "bw=" "iops=2000G"; do
    "$CORRAL" run --kernel x --disk "$work/a.img,$bad" 2>"$work/err" && fail "--disk ...,$bad accepted"
    grep -q -- "--disk" "$work/err" || fail "no clear error for --disk ...,$bad: $(cat "$work/err")"
done
echo "PASS: disk rate limits hold within margins, lift and change at run time, bad input refused"
