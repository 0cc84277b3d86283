#!/usr/bin/env bash
# User-mode networking across a snapshot: a guest with --net user and a
# host port forward serves HTTP (busybox httpd) and fetches from the host
# through 10.0.2.2; after pause -> create -> kill -9 -> restore, libslirp's
# saved state (the DHCP lease, the forward) brings the network back without
# the guest noticing: the same forward reaches the guest's server and the
# guest fetches from the host again, with no new DHCP exchange.
# (A TCP connection through slirp cannot outlive the killed process: its
# host side is a socket of that process. docs/snapshots.md says so.)
source "$(dirname "$0")/lib/snapshot_lib.bash"
http_port=$(free_port) && fwd_port=$(free_port) || snap_fail "no free port"
mkdir -p "$SNAP_WORK/www"
head -c 65536 /dev/urandom >"$SNAP_WORK/www/blob"
want=$(sha256sum <"$SNAP_WORK/www/blob" | cut -d' ' -f1)
busybox httpd -f -p "127.0.0.1:$http_port" -h "$SNAP_WORK/www" &
httpd=$!
trap 'kill $httpd 2>/dev/null; snap_cleanup' EXIT

snap_boot 1 --net "user,hostfwd=tcp::$fwd_port-:8000"
send $'mkdir -p /www; echo served-by-guest >/www/index.html; httpd -p 8000 -h /www; printf "H%s\\n" TTPD-UP\n'
wait_for 'HTTPD-UP' 60 || snap_fail "guest httpd did not start"
fetch_check() { # TAG
    send "wget -q -O /tmp/b http://10.0.2.2:$http_port/blob && printf 'G%s %s\\n' OT-$1 \$(sha256sum /tmp/b | cut -d' ' -f1)"$'\n'
    wait_for "GOT-$1 " 60 || snap_fail "$1: the guest cannot fetch from the host"
    grep -a -q "GOT-$1 $want" "$SESSION_LOG" || snap_fail "$1: the guest fetched a different blob"
    local r
    r=$(curl -s --max-time 20 "http://127.0.0.1:$fwd_port/") || true
    [ "$r" = served-by-guest ] || snap_fail "$1: the host port forward got '$r'"
    echo "ok: $1: guest->host fetch and host->guest forward"
}
fetch_check before
snap_round 1 "$SNAP_WORK/snap1"
fetch_check after-restore
grep -a -q 'no DHCP lease' "$SNAP_WORK/console1.log" && snap_fail "the guest lost its lease"
snap_poweroff
echo "PASS: user networking survives a snapshot round trip"
