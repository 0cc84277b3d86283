#!/usr/bin/env bash
# Network rate limiters on a booted guest over user networking, timed by
# the guest's clock (/proc/uptime):
#  - tx: --net user,tx_bw=256K (256 KiB bucket refilled every second):
#    the guest sends 2 MiB to a host listener through 10.0.2.2 in
#    (2 - 0.25) / 0.25 = 7 s, accepted 0.85..1.25x; after PATCH
#    tx_rate_limiter null the same send takes under half that;
#  - rx: PATCH rx_rate_limiter to {size 512 KiB, refill 500 ms} (1 MiB/s)
#    at run time: a 4 MiB download from the host takes at least 0.85x of
#    (4 - 0.5) / 1 = 3.5 s (libslirp drops what the guest cannot take and
#    TCP resends, so only the floor is tight; the ceiling is wide);
#  - bad PATCH bodies get 400 + fault_message.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
for t in curl jq busybox; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (scripts/deps.sh)"; exit 1; }
done
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }

work=$(mktemp -d)
sock=$work/api.sock
log=$work/console.log
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "${CORRAL_PID:-}" ] && kill "$CORRAL_PID" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "---- console ----"; tail -n 20 "$log"; echo "FAIL: $*"; exit 1; }
took() { # TAG: seconds the guest measured
    grep -a -oE "$1-done [0-9.]+ [0-9.]+" "$log" | tail -n 1 | awk '{printf "%.2f", $3 - $2}'
}
# guest_send TAG: 2 MiB from the guest to a fresh host listener.
guest_send() {
    local port
    port=$(free_port) || fail "no free port"
    # The listener's stdin would end at once (a script's background job):
    # the sink is a program of its own that reads the connection to EOF.
    printf '#!/bin/sh\ncat >%s\n' "$work/$1.recv" >"$work/$1.sink"
    chmod +x "$work/$1.sink"
    busybox nc -l -p "$port" -e "$work/$1.sink" </dev/null &
    pids+=($!)
    sleep 0.3
    send "a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero bs=64k count=32 2>/dev/null | nc 10.0.2.2 $port; echo $1-done \$a \$(cut -d' ' -f1 /proc/uptime)"$'\n'
    wait_for "$1-done [0-9.]+ [0-9.]+" 90 || fail "the guest's send ($1) did not finish"
    local n
    for _ in $(seq 50); do
        n=$(stat -c %s "$work/$1.recv")
        [ "$n" = 2097152 ] && break
        sleep 0.1
    done
    [ "$n" = 2097152 ] || fail "the host received $n bytes of 2 MiB ($1)"
}

http_port=$(free_port) || fail "no free port"
mkdir -p "$work/www"
head -c 4194304 /dev/urandom >"$work/www/blob"
busybox httpd -f -p "127.0.0.1:$http_port" -h "$work/www" &
pids+=($!)

start_corral "$log" run --api-sock "$sock" --firmware "$dir/fw_dynamic.bin" \
    --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --memory 256M \
    --net "user,tx_bw=256K" --cmdline "console=ttyS0 quiet"
wait_for 'guest ready' 180 || fail "the guest did not boot"
sleep 1

guest_send limited
limited=$(took limited)
echo "tx_bw=256K: 2 MiB sent in ${limited} s (expected 7.0 s)"
within "$limited" 5.95 8.75 || fail "2 MiB at 256 KiB/s took ${limited} s, want 5.95..8.75"

expect_status 204 PATCH /network-interfaces/net0 '{"iface_id":"net0","tx_rate_limiter":null}'
guest_send free
free=$(took free)
echo "tx unlimited: 2 MiB sent in ${free} s"
within "$free" 0 "$(awk -v l="$limited" 'BEGIN { print l / 2 }')" ||
    fail "with the limit lifted the send took ${free} s, not much faster than ${limited} s"

expect_status 204 PATCH /network-interfaces/net0 \
    '{"rx_rate_limiter":{"bandwidth":{"size":524288,"refill_time":500}}}'
send "a=\$(cut -d' ' -f1 /proc/uptime); wget -q -O /dev/null http://10.0.2.2:$http_port/blob; echo rx-done \$a \$(cut -d' ' -f1 /proc/uptime) rc=\$?"$'\n'
wait_for 'rx-done [0-9.]+ [0-9.]+' 120 || fail "the download did not finish"
rx=$(took rx)
echo "rx 1 MiB/s: 4 MiB received in ${rx} s (expected at least 3.5 s)"
within "$rx" 2.97 30 || fail "4 MiB at 1 MiB/s took ${rx} s, want 2.97..30"

expect_status 400 PATCH /network-interfaces/net0 '{"tx_rate_limiter":{"ops":{"size":-5,"refill_time":10}}}'
expect_status 400 PATCH /network-interfaces/net0 '{"tx_rate_limiter":{"ops":{"size":5,"refill_time":0}}}'
expect_status 400 PATCH /network-interfaces/net0 '{"rate_limiter":null}'
expect_status 400 PATCH /network-interfaces/net0 '{"host_dev_name":"tap9"}'
expect_status 400 PATCH /network-interfaces/eth7 '{"rx_rate_limiter":null}'
[ "$(api_body GET /vm/config | jq -r '.["network-interfaces"][0].rx_rate_limiter.bandwidth.size')" = 524288 ] ||
    fail "GET /vm/config does not show the rx limit (or a refused PATCH changed it)"
kill -0 "$CORRAL_PID" 2>/dev/null || fail "the VMM died"

send $'poweroff -f\n'
end_session 300
[ "$SESSION_RC" = 0 ] || fail "poweroff gave exit status $SESSION_RC"
CORRAL_PID=

for bad in "tx_bw=0" "rx_pps=x" "tx_iops=5" "rx_bw=2000G"; do
    "$CORRAL" run --kernel x --net "user,$bad" 2>"$work/err" && fail "--net user,$bad accepted"
    grep -q -- "--net" "$work/err" || fail "no clear error for --net user,$bad: $(cat "$work/err")"
done
echo "PASS: network tx limit holds within margins, lifts at run time; rx limit holds its floor"
