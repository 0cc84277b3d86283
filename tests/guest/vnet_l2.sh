#!/usr/bin/env bash
# Virtual networks: two VMs share two L2 segments at once and ping each
# other on both, and GET /metrics counts each interface's packets and
# bytes.
#  - net1: a port of one VDE switch (vde_switch, --net vde=DIR).
#  - net0 (as root): each VM on its own "host", a network namespace from
#    lib/netns.bash, its TAP put on that host's bridge br0 by the VMM
#    (--net tap=vm0,bridge=br0); the hosts' bridges are joined by a VXLAN
#    overlay. A DHCP server on host 1's br0 leases both guests their
#    overlay address, so the overlay carries broadcast too; a 1472-byte
#    ping checks the overlay keeps a 1500-byte MTU. A TAP the VMM created
#    is gone once the VMM is.
#  Without root (or with VNET_UNPRIVILEGED=1), net0 is user-mode
#  networking and only the VDE part runs.
# And bad input: a VDE switch that is not there, a bridge that is not
# there or is no bridge, and no CAP_NET_ADMIN: one line, non-zero exit.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/netns.bash"
command -v vde_switch >/dev/null || { echo "FAIL: vde_switch (vde2) is not installed (scripts/deps.sh)"; exit 1; }
command -v busybox >/dev/null || { echo "FAIL: busybox (host) is not installed (scripts/deps.sh)"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
vms=()
sw_pid=
udhcpd_pid=
cleanup() {
    for p in "${vms[@]}" $udhcpd_pid $sw_pid; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# VNET_UNPRIVILEGED=1: the non-root variant even as root.
root=0
[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && [ -z "${VNET_UNPRIVILEGED:-}" ] && root=1

# ---- the two hosts and the switch ----
boot=(--kernel "$dir/Image" --firmware "$dir/fw_dynamic.bin" --initrd "$dir/initramfs.cpio")
vde_switch -s "$work/sw" -d -p "$work/sw.pid" </dev/null >"$work/sw.log" 2>&1 ||
    fail "vde_switch did not start ($(cat "$work/sw.log"))"
for _ in $(seq 50); do [ -s "$work/sw.pid" ] && break; sleep 0.1; done
sw_pid=$(cat "$work/sw.pid")
mac_a=52:54:00:77:00:0a mac_b=52:54:00:77:00:0b
if [ $root = 1 ]; then
    hosts_up 2 || fail "cannot bring up the network-namespace hosts"
    in_host 1 ip addr add 10.99.0.1/24 dev br0
    cat >"$work/udhcpd.conf" <<EOF
start 10.99.0.100
end 10.99.0.120
interface br0
lease_file $work/leases
option subnet 255.255.255.0
static_lease $mac_a 10.99.0.11
static_lease $mac_b 10.99.0.12
EOF
    : >"$work/leases"
    ip netns exec "$(host_ns 1)" busybox udhcpd -f "$work/udhcpd.conf" >"$work/udhcpd.log" 2>&1 &
    udhcpd_pid=$!
fi

# One VM: $1 name, $2 its number (11 or 12), $3 the peer's, $4 host, $5 MAC.
start_vm() {
    local name=$1 me=$2 peer=$3 host=$4 mac=$5 net0 run=()
    # Kept short: the kernel command line holds 1024 bytes, URL-encoded.
    # p ADDR: ping until ADDR answers (the peer may still be booting).
    local v=10.98.0.$peer o=10.99.0.$peer
    local cmd="ip a add 10.98.0.$me/24 dev eth1;ip l set eth1 up;p(){ for i in \$(seq 300);do ping -c1 -W1 \$1 >/dev/null&&return 0;done;return 1;};p $v&&echo V-OK;"
    [ $root = 1 ] && cmd+="p $o&&echo O-OK;"
    cmd+="ping -qc5 -i 0.1 -s1200 $v|grep -q ' 5 packets rec'&&echo VB-OK;"
    [ $root = 1 ] && cmd+="ping -qc5 -i 0.1 -s1200 $o >/dev/null;ping -qc2 -W2 -s1472 $o|grep -q ' 2 packets rec'&&echo OB-OK;"
    cmd+="ip -4 -o a show eth0|grep -o 'inet [0-9.]*';echo RE\$()SULT;sleep 99"
    if [ $root = 1 ]; then
        net0="tap=vm0,bridge=br0,mac=$mac"
        run=(ip netns exec "$(host_ns "$host")") # which execs: $! is the VMM
    else
        net0="user,mac=$mac"
    fi
    : >"$work/$name.log"
    "${run[@]}" "$CORRAL" run "${boot[@]}" --memory 128M --timeout "$GUEST_TIMEOUT" \
        --net "$net0" --net "vde=$work/sw,mac=52:54:00:77:01:$me" \
        --api-sock "$work/$name.sock" \
        --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" \
        </dev/null >"$work/$name.log" 2>&1 &
    vms+=($!)
}
t0=$(date +%s.%N)
start_vm a 11 12 1 $mac_a
start_vm b 12 11 2 $mac_b
# ---- bad input, while the VMs boot (these exit before any guest runs) ----
bad() { # description expected-text corral-args...
    local what=$1 want=$2 out rc
    shift 2
    out=$(timeout 20 "$@" </dev/null 2>&1)
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$what: exit $rc, want an error"
    [ "$(wc -l <<<"$out")" = 1 ] || fail "$what: want one line, got: $out"
    grep -qF -- "$want" <<<"$out" || fail "$what: '$out' does not say '$want'"
    echo "ok: $what: $out"
}
bad "no VDE switch" "vde=/nonexistent: cannot connect to the VDE switch" \
    "$CORRAL" run "${boot[@]}" --net vde=/nonexistent
bad "an empty VDE path" "vde needs the switch's socket directory" \
    "$CORRAL" run "${boot[@]}" --net vde=
bad "a bridge option on a VDE port" "unknown option 'bridge=br0'" \
    "$CORRAL" run "${boot[@]}" --net vde=/tmp,bridge=br0

if [ $root = 1 ]; then
    bad "no such bridge" "bridge=nobr: no such bridge" \
        ip netns exec "$(host_ns 1)" "$CORRAL" run "${boot[@]}" --net tap=x,bridge=nobr
    bad "not a bridge" "bridge=ul0: the interface exists but is not a bridge" \
        ip netns exec "$(host_ns 1)" "$CORRAL" run "${boot[@]}" --net tap=x,bridge=ul0
    # A TAP this user may open, but no CAP_NET_ADMIN to change a bridge.
    in_host 1 ip tuntap add dev tnocap mode tap user 0
    bad "no CAP_NET_ADMIN" "needs CAP_NET_ADMIN" ip netns exec "$(host_ns 1)" setpriv --inh-caps=-net_admin \
        --bounding-set=-net_admin "$CORRAL" run "${boot[@]}" --net tap=tnocap,bridge=br0
    in_host 1 ip link del tnocap
fi
for ((i = 0; i < GUEST_TIMEOUT * 10; i++)); do
    grep -q RESULT "$work/a.log" && grep -q RESULT "$work/b.log" && break
    for p in "${vms[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
    sleep 0.1
done
for v in a b; do
    grep -q RESULT "$work/$v.log" || { tail -n 20 "$work/$v.log"; fail "VM $v did not finish its pings"; }
done
echo "both VMs pinged in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

check_vm() { # name, my number
    local v=$1 me=$2 log=$work/$1.log m
    echo "VM $v: $(grep -a -o -E '^(V|O|VB|OB)-OK|inet [0-9.]+' "$log" | tr '\n' ' ')"
    grep -aq "^V-OK" "$log" || fail "VM $v could not ping its peer over the VDE switch"
    grep -aq "^VB-OK" "$log" || fail "VM $v: 1200-byte pings over VDE were lost"
    if [ $root = 1 ]; then
        grep -aq "^O-OK" "$log" || fail "VM $v could not ping its peer over the VXLAN overlay"
        grep -aq "inet 10.99.0.$me" "$log" || fail "VM $v has no DHCP lease over the overlay"
        grep -aq "^OB-OK" "$log" || fail "VM $v: 1472-byte pings did not cross the overlay (MTU)"
    fi
    m=$(curl -s --max-time 10 --unix-socket "$work/$v.sock" http://localhost/metrics) ||
        fail "VM $v: GET /metrics failed"
    # The NICs in slot order: net0 first, then net1 (the VDE port).
    local nics
    nics=$(jq -c '[.devices | to_entries[] | select(.value | has("rx_packets"))] | sort_by(.key) | map(.value)' <<<"$m")
    [ "$(jq length <<<"$nics")" = 2 ] || fail "VM $v: want 2 NICs with byte counters in /metrics: $m"
    echo "VM $v metrics: $(jq -c 'map({rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped, tx_dropped})' <<<"$nics")"
    # Each side sent 5 pings of 1242-byte frames and answered 5: at least
    # 10 such frames each way on the VDE port (and on the overlay port).
    local want=$((10 * 1242)) k ks=(1)
    [ $root = 1 ] && ks+=(0)
    for k in "${ks[@]}"; do
        jq -e --argjson k "$k" --argjson w "$want" \
            '.[$k] | .rx_bytes >= $w and .tx_bytes >= $w and .rx_packets >= 10 and .tx_packets >= 10' \
            <<<"$nics" >/dev/null || fail "VM $v: net$k's counters did not count the pings"
    done
}
check_vm a 11
check_vm b 12

if [ $root = 1 ]; then
    in_host 1 bridge link show dev vm0 | grep -q "master br0" || fail "VM a's TAP is not on br0"
    kill -9 "${vms[0]}"
    wait "${vms[0]}" 2>/dev/null
    for _ in $(seq 20); do in_host 1 ip link show vm0 >/dev/null 2>&1 || break; sleep 0.1; done
    in_host 1 ip link show vm0 >/dev/null 2>&1 && fail "the TAP VM a's VMM created outlived it"
    echo "ok: the TAP the VMM created went with it"
fi
echo "PASS: two VMs ping each other over a VDE switch$([ $root = 1 ] && echo " and a VXLAN overlay between two hosts"), per-NIC counters move"
