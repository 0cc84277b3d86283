#!/usr/bin/env bash
# Issue 15 across hosts: three hosts as network namespaces (lib/netns.bash:
# an underlay bridge, and a VXLAN overlay joining each host's br0), an agent
# in each, etcd in the root namespace. Two VMs on different hosts share one
# L2 segment through their TAPs on br0: the sender pings the receiver, then
# streams 640 KiB to it over TCP at a steady rate; meanwhile the receiver
# is live-migrated to the third host. The transfer must end with the right
# checksum on the same connection (the guest's MAC moved: the destination
# announces it so the overlay learns where it lives now), and `corral
# cluster ps` must say where each VM is. Needs root (namespaces, TAPs).
. "$(dirname "$0")/lib/lib.sh"
[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] ||
    { echo "SKIP: needs root and /dev/net/tun (network namespaces, TAPs)"; exit 77; }
. "$(dirname "$0")/lib/netns.bash"
. "$(dirname "$0")/lib/cluster.bash"
command -v jq >/dev/null || cl_fail "jq is not installed"
trap 'cl_cleanup; hosts_down' EXIT
hosts_up 3 || cl_fail "cannot bring up the namespace hosts"
CL_ETCD_HOST=$NETNS_ROOT_ADDR cl_etcd_start
for i in 1 2 3; do
    in_host "$i" "$CORRAL" agent --name "h$i" --addr "$(host_addr "$i")" --memory 400 --lease 10 \
        --state-dir "$CL_WORK/h$i" >>"$CL_WORK/h$i.log" 2>&1 &
    CL_AGENT[h$i]=$!
    CL_PIDS+=($!)
done
for i in $(seq 50); do [ "$(cl hosts | grep -c '^h[123] ')" = 3 ] && break; sleep 0.2; done
[ "$(cl hosts | grep -c '^h[123] ')" = 3 ] || cl_fail "three hosts did not join"

# vm_config FILE NAME ADDR MAC CMD: on the overlay, its TAP on the host's br0.
vm_config() {
    cl_config "$1" "ip a add $3/24 dev eth0;ip l set eth0 up;$5"
    jq --arg t "t$2" --arg m "$4" '."network-interfaces" = [{"iface_id": "net0",
        "host_dev_name": $t, "guest_mac": $m, "bridge": "br0"}]' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}
# The receiver prints the checksum of what arrives; the sender waits for
# it to answer, then sends 80 x 8 KiB of zeros, 10 per second.
vm_config "$CL_WORK/rx.json" rx 10.50.0.1 52:54:00:50:00:01 \
    "nc -l -p 5000|md5sum|sed 's/^/S''UM-/';sleep 999"
vm_config "$CL_WORK/tx.json" tx 10.50.0.2 52:54:00:50:00:02 \
    "for i in \$(seq 60);do ping -c1 -W1 10.50.0.1>/dev/null&&break;done;printf 'P%s\n' ING-OK;sleep 1;(for i in \$(seq 80);do dd if=/dev/zero bs=8k count=1 2>/dev/null;sleep 0.1;done)|nc 10.50.0.1 5000;printf 'SE%s\n' NT;sleep 999"
cl create rx --config "$CL_WORK/rx.json" --host h1 --no-wait >/dev/null || cl_fail "create rx"
cl create tx --config "$CL_WORK/tx.json" --host h2 --no-wait >/dev/null || cl_fail "create tx"
cl_wait rx "h1 running" 60
cl_wait tx "h2 running" 60
for i in $(seq 300); do grep -q PING-OK "$CL_WORK/h2/tx.console" 2>/dev/null && break; sleep 0.2; done
grep -q PING-OK "$CL_WORK/h2/tx.console" || cl_fail "tx never reached rx over the overlay"
echo "ok: VMs on h1 and h2 reach each other over the overlay"
sleep 2 # the transfer is under way
out=$(cl migrate rx --to h3) || cl_fail "migrate rx: $out"
echo "$out"
cl_wait rx "h3 running" 20
[ "$(cl_where tx)" = "h2 running" ] || cl_fail "tx moved: $(cl_where tx)"
for i in $(seq 150); do grep -q SENT "$CL_WORK/h2/tx.console" && break; sleep 0.2; done
grep -q SENT "$CL_WORK/h2/tx.console" || cl_fail "the sender did not finish: $(tail -c 300 "$CL_WORK/h2/tx.console")"
want=$(head -c $((80 * 8192)) /dev/zero | md5sum | cut -d' ' -f1)
for i in $(seq 50); do grep -q "SUM-" "$CL_WORK/h3/rx.console" && break; sleep 0.2; done
got=$(grep -a -o 'SUM-[0-9a-f]*' "$CL_WORK/h3/rx.console" | head -n 1 | cut -d- -f2)
[ "$got" = "$want" ] || cl_fail "receiver's checksum '$got', want '$want' (a broken or restarted transfer)"
echo "ok: 640 KiB arrived intact across the receiver's migration to h3 ($got)"
cl ps
echo "PASS"
