#!/usr/bin/env bash
# Live migration with a TAP network: two Corral processes in a network
# namespace stand in for two hosts, each with its own TAP port on one
# bridge (the source's tsrc, the destination's tdst, given with
# --net-override net0=tdst). A TCP stream from the namespace into the
# guest runs across the move and arrives whole on the same connection.
# After the move the destination announces the guest: RARP frames from
# its MAC and a guest announce request the driver acknowledges on the
# control queue (GET /metrics counts both), and the bridge has learned
# the guest's MAC on the destination's port.
source "$(dirname "$0")/lib/snapshot_lib.bash"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace, TAP)"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
NS=corral-mt-$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
cleanup_ns() {
    [ -n "${UDHCPD_PID:-}" ] && kill "$UDHCPD_PID" 2>/dev/null
    snap_cleanup
    ip netns del "$NS" 2>/dev/null
}
trap cleanup_ns EXIT
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns ip link add br0 type bridge
in_ns ip addr add 10.77.0.1/24 dev br0
in_ns ip link set br0 up
for t in tsrc tdst; do
    in_ns ip tuntap add dev $t mode tap || snap_fail "cannot create TAP $t"
    in_ns ip link set $t master br0 up
done
cat >"$SNAP_WORK/udhcpd.conf" <<EOF
start 10.77.0.10
end 10.77.0.20
interface br0
lease_file $SNAP_WORK/leases
option subnet 255.255.255.0
EOF
: >"$SNAP_WORK/leases"
in_ns busybox udhcpd -f "$SNAP_WORK/udhcpd.conf" >"$SNAP_WORK/udhcpd.log" 2>&1 &
UDHCPD_PID=$!
# Both VMMs run inside the namespace.
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS" "$CORRAL" >"$SNAP_WORK/corral-ns"
chmod +x "$SNAP_WORK/corral-ns"
CORRAL=$SNAP_WORK/corral-ns

snap_boot 1 --net tap=tsrc
send "$(cat <<'EOF'
a=$(ip -4 -o addr show eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p'); printf 'AD%s %s\n' DR "$a"; printf 'MA%s %s\n' C "$(cat /sys/class/net/eth0/address)"
EOF
)"$'\n'
wait_for 'ADDR 10\.77\.0\.' 30 || snap_fail "the guest has no address on the bridge"
gip=$(grep -a -o 'ADDR 10\.77\.0\.[0-9]*' "$SESSION_LOG" | head -n 1 | cut -d' ' -f2)
wait_for 'MAC [0-9a-f:]{17}' 10 || snap_fail "no guest MAC"
mac=$(grep -a -E -o 'MAC [0-9a-f:]{17}' "$SESSION_LOG" | head -n 1 | cut -d' ' -f2)
echo "guest $gip, MAC $mac"

# The stream: 4 MiB in 64 KiB pieces over about 8 s, into the guest's nc.
head -c $((4 << 20)) /dev/urandom >"$SNAP_WORK/blob"
want=$(md5sum <"$SNAP_WORK/blob" | cut -d' ' -f1)
# Its input never ends (a closed input would half-close the connection
# and end the sender's nc); it ends when the sender closes.
send $'(sleep 600 | nc -l -p 5000 >/tmp/rx; touch /tmp/rx.done) & while ! netstat -ltn | grep -q ":5000 "; do usleep 100000; done; printf "L%s\\n" ISTENING\n'
wait_for 'LISTENING' 20 || snap_fail "the guest's listener did not start"
sleep 0.5
(
    for ((i = 0; i < 64; i++)); do
        dd if="$SNAP_WORK/blob" bs=65536 skip=$i count=1 2>/dev/null
        sleep 0.12
    done
) | in_ns busybox nc -w 60 "$gip" 5000 >"$SNAP_WORK/nc.out" 2>&1 &
sender=$!
sleep 2

SNAP_MIG_DEST_ARGS="--net-override net0=tdst"
snap_migrate 1
wait $sender || snap_fail "the sender failed ($(cat "$SNAP_WORK/nc.out"))"
send "$(cat <<'EOF'
i=0; while [ ! -e /tmp/rx.done ] && [ $i -lt 200 ]; do usleep 100000; i=$((i+1)); done; printf 'R%s %s %s\n' X "$(md5sum </tmp/rx | cut -d' ' -f1)" "$(wc -c </tmp/rx)"
EOF
)"$'\n'
wait_for 'RX [0-9a-f]{32}' 40 || snap_fail "the guest did not finish receiving"
got=$(grep -a -E -o 'RX [0-9a-f]{32}' "$SESSION_LOG" | tail -n 1 | cut -d' ' -f2)
[ "$got" = "$want" ] ||
    snap_fail "the stream arrived damaged or cut: $(grep -a -E -o 'RX [0-9a-f]{32} [0-9]+' "$SESSION_LOG" | tail -n 1), want $want $((4 << 20))"
echo "ok: 4 MiB over one TCP connection across the move"

# The announcement, as the destination counts it.
m=$(curl -s --max-time 10 --unix-socket "$SNAP_SOCK" http://localhost/metrics)
frames=$(jq '[.devices[] | .announce_frames // 0] | add' <<<"$m")
asked=$(jq '[.devices[] | .guest_announces // 0] | add' <<<"$m")
acked=$(jq '[.devices[] | .announce_acks // 0] | add' <<<"$m")
echo "announce: $frames RARP frames, guest asked $asked, acknowledged $acked"
[ "$frames" -ge 1 ] || snap_fail "no RARP frame was sent after the move"
[ "$asked" = 1 ] && [ "$acked" = 1 ] || snap_fail "the guest was not asked to announce, or did not acknowledge"
port=$(in_ns bridge fdb show br br0 | grep -i "^$mac " | grep -o 'dev [a-z0-9]*' | head -n 1)
[ "$port" = "dev tdst" ] || snap_fail "the bridge has the guest's MAC on '$port', not tdst"
echo "ok: the bridge learned the guest's MAC on the destination's port"

snap_check 1
snap_poweroff
echo "PASS: a TCP stream survives a live migration between two TAP ports, and the guest is announced"
