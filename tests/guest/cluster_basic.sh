#!/usr/bin/env bash
# Issue 15: a pool of three hosts (agents on this machine, one etcd). Bad
# input first (no config, a VM that fits nowhere, an unknown host, a
# duplicate name, migrations to a dead host or to where it runs), then
# three VMs placed and listed on the right hosts, a live migration while
# the guest counts (it goes on counting on the new host), a drain that
# empties a host, the loss of a host (agent and VMs killed -9: the VM with
# shared storage runs again elsewhere, once, with its disk as it left it;
# the other is reported, not restarted), and an etcd restart that loses
# no record.
. "$(dirname "$0")/lib/lib.sh"
. "$(dirname "$0")/lib/cluster.bash"
command -v jq >/dev/null || cl_fail "jq is not installed"

# Guest programs: count on the console; the disk VM first writes a marker
# to its disk, or says it found one. (printf splits the markers so that
# no echo of the command can match them.)
tick='i=0; while :; do i=$((i+1)); printf "TI%s %s\n" CK $i; sleep 1; done'
diskcmd="if dd if=/dev/vda bs=8 count=1 2>/dev/null | grep -q CLMARK1; then printf 'DISK-%s\n' KEPT; else printf CLMARK1 | dd of=/dev/vda conv=fsync 2>/dev/null; printf 'DISK-%s\n' WROTE; fi; $tick"
truncate -s 8M "$CL_WORK/vm1.img"
cl_config "$CL_WORK/tick.json" "$tick"
cl_config "$CL_WORK/disk.json" "$diskcmd" "$CL_WORK/vm1.img"
jq '."machine-config".mem_size_mib = 1000' "$CL_WORK/tick.json" >"$CL_WORK/big.json"

cl_etcd_start
cl_agent h1
cl_agent h2
cl_agent h3
cl_wait_hosts 'h[123]' 3
cl hosts | tee "$CL_WORK/hosts.out"
[ "$(grep -c '^h[123] ' "$CL_WORK/hosts.out")" = 3 ] || cl_fail "three hosts did not join"

expect_error() { # WHAT PATTERN ARGS...: corral cluster ARGS fails naming PATTERN
    local what=$1 pat=$2 out rc
    shift 2
    out=$(cl "$@" 2>&1)
    rc=$?
    [ $rc -ne 0 ] && grep -qE -- "$pat" <<<"$out" || cl_fail "$what: exit $rc: $out"
    echo "ok: $what -> $(head -n 1 <<<"$out")"
}
expect_error "create without --config" "--config FILE is required" create x
expect_error "a VM that fits on no host" "no host has 1000 MiB free" create big --config "$CL_WORK/big.json"
expect_error "a missing config file" "nope.json: No such file" create x --config "$CL_WORK/nope.json"
expect_error "an unknown host" "no live host named 'h9'" create x --config "$CL_WORK/tick.json" --host h9

cl create vm1 --config "$CL_WORK/disk.json" --host h1 --shared-storage --no-wait >/dev/null || cl_fail "create vm1"
cl create vm2 --config "$CL_WORK/tick.json" --host h2 --no-wait >/dev/null || cl_fail "create vm2"
out=$(cl create vm3 --config "$CL_WORK/tick.json" --no-wait) || cl_fail "create vm3: $out"
grep -q "placed on h3" <<<"$out" || cl_fail "vm3 not placed on the emptiest host: $out"
expect_error "a second VM of the same name" "exists already" create vm1 --config "$CL_WORK/tick.json"
cl_wait vm1 "h1 running" 60
cl_wait vm2 "h2 running" 60
cl_wait vm3 "h3 running" 60
cl ps
expect_error "migrate to a dead host" "no live host named 'h9'" migrate vm1 --to h9
expect_error "migrate to where it runs" "runs on h1 already" migrate vm1 --to h1
grep -q DISK-WROTE "$(cl_console vm1)" 2>/dev/null || sleep 5
cl_wait_ticks "$CL_WORK/h1/vm1.console" 1
grep -q DISK-WROTE "$CL_WORK/h1/vm1.console" || cl_fail "vm1 did not write its disk marker"

# Live migration while the guest counts.
out=$(cl migrate vm1 --to h2) || cl_fail "migrate vm1: $out"
echo "$out"
grep -q "migrated from h1 to h2" <<<"$out" || cl_fail "no migration summary: $out"
cl_wait vm1 "h2 running" 20
last=$(cl_last_tick "$CL_WORK/h1/vm1.console")
cl_wait_ticks "$CL_WORK/h2/vm1.console" "$last"
echo "ok: vm1 counted past $last on h2"

# Drain h2: both of its VMs leave; it takes no new ones.
out=$(cl drain h2) || cl_fail "drain h2: $out"
echo "$out"
grep -q "drain h2: 2 VM(s) moved" <<<"$out" || cl_fail "drain did not move 2 VMs: $out"
cl ps | tee "$CL_WORK/ps.out"
grep -E '^vm[123] +h2 ' "$CL_WORK/ps.out" && cl_fail "a VM is still on the drained host"
cl hosts | grep -q '^h2 .*draining' || cl_fail "h2 not shown draining"
expect_error "create on a draining host" "h2 is draining" create x --config "$CL_WORK/tick.json" --host h2

# Lose vm1's host: its agent and its VMs, killed at once.
lost=$(cl_where vm1 | cut -d' ' -f1)
others=$(cl ps --json | jq -r --arg h "$lost" '.[] | select(.host == $h and .name != "vm1") | .name')
t0=$(date +%s%N)
kill -9 "${CL_AGENT[$lost]}" $(cl_vm_pids "$lost")
for i in $(seq 400); do
    w=$(cl_where vm1)
    [ "${w#* }" = running ] && [ "${w% *}" != "$lost" ] && break
    sleep 0.2
done
[ "${w#* }" = running ] && [ "${w% *}" != "$lost" ] || cl_fail "vm1 not running again after $lost was lost: '$w'"
echo "ok: vm1 runs again on ${w% *}, $(( ($(date +%s%N) - t0) / 1000000 )) ms after $lost died"
newc=$CL_WORK/${w% *}/vm1.console
for i in $(seq 150); do grep -q 'DISK-' "$newc" 2>/dev/null && break; sleep 0.2; done
grep -q DISK-KEPT "$newc" || cl_fail "vm1's disk lost its marker: $(grep -a DISK- "$newc")"
echo "ok: vm1's disk kept what it wrote"
[ "$(cl_live_pids vm1 | wc -l)" = 1 ] || cl_fail "vm1 does not run exactly once: pids $(cl_live_pids vm1 | xargs)"
for o in $others; do
    for i in $(seq 50); do [ "$(cl_where "$o")" = "$lost stopped" ] && break; sleep 0.2; done
    cl ps | grep -E "^$o .*not restarted" || cl_fail "$o: not reported as lost and not restarted"
done

# etcd restarts: every record is still there and the hosts come back.
kill "$CL_ETCD_PID"
wait "$CL_ETCD_PID" 2>/dev/null
cl_etcd_start
for i in $(seq 50); do
    [ "$(cl ps --json 2>/dev/null | jq length)" = 3 ] && break
    sleep 0.2
done
[ "$(cl ps --json | jq length)" = 3 ] || cl_fail "VM records lost across the etcd restart"
cl_wait vm1 "${w% *} running" 20
cl hosts | grep -c '^h[123] ' | grep -q 2 || cl_fail "the two live hosts are not back: $(cl hosts)"
cl ps
echo "PASS"
