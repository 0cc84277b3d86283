#!/usr/bin/env bash
# Cluster benchmark (issue 15): three hosts (agents on this machine, one
# etcd on loopback), then the time to place and boot 6 VMs across them
# (create to every one "running" and its guest counting on the console),
# to drain a host of its 2 VMs (live migrations), and from a host's death
# (agent and VMs killed -9) to its shared-storage VMs counting again on
# the others: restored from their snapshots (corral cluster snapshot), and
# cold-booted (a second host, without snapshots). CL_LEASE (default 10,
# the agent's default) is the hosts' lease. Prints one line per figure;
# `make bench BENCH_ONLY=cluster` runs it.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
export BUILD=${BUILD:-build}
. "$TOP/tests/guest/lib/lib.sh"
. "$TOP/tests/guest/lib/cluster.bash"
LEASE=${CL_LEASE:-10}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
counting() { # VM: its console (on its current host) shows a TICK
    grep -aq '^TICK [0-9]' "$(cl_console "$1")" 2>/dev/null
}
tick='i=0; while :; do i=$((i+1)); printf "TI%s %s\n" CK $i; sleep 1; done'
cl_config "$CL_WORK/tick.json" "$tick"
cl_etcd_start
for h in h1 h2 h3; do
    "$CORRAL" agent --name $h --addr 127.0.0.1 --memory 1024 --lease "$LEASE" \
        --state-dir "$CL_WORK/$h" >>"$CL_WORK/$h.log" 2>&1 &
    CL_AGENT[$h]=$!
    CL_PIDS+=($!)
done
for i in $(seq 50); do [ "$(cl hosts | grep -c '^h[123] ')" = 3 ] && break; sleep 0.2; done
echo "cluster bench: 3 hosts, lease $LEASE s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

t0=$(date +%s%N)
for v in 1 2 3 4 5 6; do
    cl create vm$v --config "$CL_WORK/tick.json" --shared-storage --no-wait >/dev/null ||
        cl_fail "create vm$v"
done
for v in 1 2 3 4 5 6; do
    for i in $(seq 600); do counting vm$v && break; sleep 0.1; done
    counting vm$v || cl_fail "vm$v never counted"
done
echo "place and boot 6 VMs on 3 hosts: $(ms "$t0") ms"
cl ps

t0=$(date +%s%N)
out=$(cl drain h2) || cl_fail "drain: $out"
echo "$out" | grep -E 'migrated|drain'
echo "drain h2 ($(grep -c 'migrated from' <<<"$out") VMs): $(ms "$t0") ms"

cl undrain h2 >/dev/null || cl_fail "undrain h2"

# failover HOST WHAT: kill HOST (agent and VMs), time until all of its VMs
# count again elsewhere.
failover() {
    local host=$1 what=$2 victims v i w t0
    victims=$(cl ps --json | jq -r --arg h "$host" '.[] | select(.host == $h) | .name')
    t0=$(date +%s%N)
    kill -9 "${CL_AGENT[$host]}" $(cl_vm_pids "$host")
    for v in $victims; do
        for i in $(seq 900); do
            w=$(cl_where "$v")
            [ "$w" != "${w#"$host" }" ] || [ "${w#* }" != running ] || { counting "$v" && break; }
            sleep 0.1
        done
        counting "$v" && [ "$w" = "${w#"$host" }" ] || cl_fail "$v did not come back after $host died: '$w'"
    done
    echo "failover of $(echo $victims | wc -w) VMs from $host, $what (lease $LEASE s): $(ms "$t0") ms from its death to all counting again"
}

t0=$(date +%s%N)
n=0
for v in $(cl ps --json | jq -r '.[] | select(.host == "h1") | .name'); do
    cl snapshot "$v" --dir "$CL_WORK/snap-$v" >/dev/null || cl_fail "snapshot $v"
    n=$((n + 1))
done
echo "snapshot the $n VMs of h1 one after another: $(ms "$t0") ms"
failover h1 "restored from their snapshots"
cl ps
failover h3 "cold-booted"
cl ps
