#!/usr/bin/env bash
# Issue 15: failover from a VM's latest snapshot. Two hosts; two counting
# VMs on h1, one on a qcow2 disk and one on a raw disk. The qcow2 VM is
# live-migrated to h2 and back with its disk on shared storage (handed
# over, not copied) while it writes and reads back its disk. Both are
# snapshotted with `corral cluster snapshot` (bad input first). Then h1 is lost (agent and
# VMs killed -9): the qcow2 VM is restored on h2 from its snapshot (it goes
# on counting from where the snapshot left it, on a fresh overlay over the
# frozen image, which stays intact), while the raw one, whose disk changed
# since its snapshot, is refused by the restore and cold-booted instead.
. "$(dirname "$0")/lib/lib.sh"
. "$(dirname "$0")/lib/cluster.bash"
command -v jq >/dev/null || cl_fail "jq is not installed"
command -v qemu-img >/dev/null || cl_fail "qemu-img is not installed"

tick='i=0; while :; do i=$((i+1)); printf "TI%s %s\n" CK $i; sleep 1; done'
qemu-img create -q -f qcow2 "$CL_WORK/q.qcow2" 16M || cl_fail "qemu-img create"
truncate -s 8M "$CL_WORK/r.img"
# q also writes each tick's number to its disk and reads the previous one
# back from the disk (caches dropped): what it wrote on another host too.
qtick='i=0; while :; do i=$((i+1)); printf "T%08d" $i | dd of=/dev/vda bs=512 seek=$i conv=notrunc,fsync 2>/dev/null; echo 3 >/proc/sys/vm/drop_caches; if [ $i -gt 1 ]; then p=$(dd if=/dev/vda bs=512 skip=$((i-1)) count=1 2>/dev/null | head -c 9); [ "$p" = "$(printf T%08d $((i-1)))" ] || printf "DISK-%s %s %s\n" BAD $i "$p"; fi; printf "TI%s %s\n" CK $i; sleep 1; done'
cl_config "$CL_WORK/q0.json" "$qtick" "$CL_WORK/q.qcow2"
jq ".drives[0].format = \"qcow2\"" "$CL_WORK/q0.json" >"$CL_WORK/q.json"
cl_config "$CL_WORK/r.json" "$tick" "$CL_WORK/r.img"
record() { ETCDCTL_API=3 etcdctl --endpoints "$CORRAL_ETCD" get --print-value-only "/corral/vms/$1"; }
first_tick() { grep -a -o '^TICK [0-9]*' "$1" 2>/dev/null | head -n 1 | cut -d' ' -f2; }

cl_etcd_start
cl_agent h1
cl_agent h2
cl_wait_hosts 'h[12]' 2
cl create q --config "$CL_WORK/q.json" --host h1 --shared-storage --no-wait >/dev/null || cl_fail "create q"
cl create r --config "$CL_WORK/r.json" --host h1 --shared-storage --no-wait >/dev/null || cl_fail "create r"

out=$(cl snapshot q 2>&1) && cl_fail "snapshot without --dir: $out"
grep -q -- "--dir DIR is required" <<<"$out" || cl_fail "snapshot without --dir: $out"
out=$(cl snapshot nope --dir "$CL_WORK/s" 2>&1) && cl_fail "snapshot of no VM: $out"
grep -q "no VM named 'nope'" <<<"$out" || cl_fail "snapshot of no VM: $out"
echo "ok: bad snapshot requests refused"

cl_wait q "h1 running" 60
cl_wait r "h1 running" 60
cl_wait_ticks "$CL_WORK/h1/q.console" 2
cl_wait_ticks "$CL_WORK/h1/r.console" 2
# The qcow2 disk on shared storage is handed over in live migration, there
# and back (the destination reads its tables afresh once the source let go).
for to in h2 h1; do
    out=$(cl migrate q --to $to) || cl_fail "migrate q to $to: $out"
    grep -q "migrated from" <<<"$out" || cl_fail "no migration summary: $out"
    cl_wait q "$to running" 20
    last=$(cl_last_tick "$CL_WORK/$to/q.console")
    cl_wait_ticks "$CL_WORK/$to/q.console" $((${last:-0} + 2))
done
grep -a DISK-BAD "$CL_WORK"/h*/q.console && cl_fail "q read back a stale block after a hand-over"
echo "ok: q's qcow2 disk handed over h1 -> h2 -> h1; every block read back as written"
out=$(cl snapshot q --dir "$CL_WORK/snap-q") || cl_fail "snapshot q: $out"
echo "$out"
at=$(cl_last_tick "$CL_WORK/h1/q.console")
out=$(cl snapshot r --dir "$CL_WORK/snap-r") || cl_fail "snapshot r: $out"
echo "$out"
[ -s "$CL_WORK/snap-q/state" ] && [ -s "$CL_WORK/snap-r/state" ] || cl_fail "no snapshot files"
# The qcow2 disk is frozen under an overlay: the record follows it, so no
# later boot writes into the snapshot's disk.
path=$(record q | jq -r '.config.drives[0].path_on_host')
[[ $path == "$CL_WORK"/q-run-*.qcow2 ]] || cl_fail "q's record still names $path"
[ "$(record q | jq -r .last_snapshot)" = "$CL_WORK/snap-q" ] || cl_fail "q: no last_snapshot: $(record q)"
echo "ok: q's record names its running overlay $(basename "$path")"
# r's raw disk changes after its snapshot (as a guest's writes would).
printf CHANGED | dd of="$CL_WORK/r.img" conv=notrunc,fsync 2>/dev/null
cl_wait_ticks "$CL_WORK/h1/q.console" $((at + 2))
before=$(cl_last_tick "$CL_WORK/h1/q.console")

t0=$(date +%s%N)
kill -9 "${CL_AGENT[h1]}" $(cl_vm_pids h1)
cl_wait q "h2 running" 80
echo "ok: q runs on h2 $(( ($(date +%s%N) - t0) / 1000000 )) ms after h1 died"
cl_wait r "h2 running" 80
cl ps
cl_wait_ticks "$CL_WORK/h2/q.console" 0
first=$(first_tick "$CL_WORK/h2/q.console")
[ "$first" -gt 1 ] && [ "$first" -le "$before" ] ||
    cl_fail "q did not go on from its snapshot: first TICK $first on h2 (snapshot near $at, h1 reached $before)"
echo "ok: q restored from its snapshot: it went on at TICK $first (snapshot near $at)"
cl ps --json | jq -r '.[] | select(.name == "q") | .message' | grep -q "restored from its snapshot" ||
    cl_fail "q: no restore message: $(cl ps)"
path=$(record q | jq -r '.config.drives[0].path_on_host')
[[ $path == "$CL_WORK"/q-restore-*.qcow2 ]] || cl_fail "q's record after the restore names $path"
# The restored VM writes a fresh overlay over the image its snapshot froze.
qemu-img info -U "$path" | grep -q "^backing file: $CL_WORK/q.qcow2" ||
    cl_fail "$path is not over the frozen q.qcow2: $(qemu-img info -U "$path")"
qemu-img check -q "$CL_WORK/q.qcow2" || cl_fail "qemu-img check q.qcow2"
cl_wait_ticks "$CL_WORK/h2/r.console" 0
[ "$(first_tick "$CL_WORK/h2/r.console")" = 1 ] || cl_fail "r was not cold-booted: $(head -c 300 "$CL_WORK/h2/r.console")"
cl ps --json | jq -r '.[] | select(.name == "r") | .message' | grep -q "failed.*cold boot" ||
    cl_fail "r: no fallback message: $(cl ps)"
echo "ok: r's changed raw disk refused its snapshot; cold-booted"
[ "$(cl_live_pids q | wc -l)" = 1 ] || cl_fail "q does not run exactly once: pids $(cl_live_pids q | xargs)"
# A start by the user afterwards is not reported as a failover.
cl stop r >/dev/null || cl_fail "stop r"
out=$(cl start r) || cl_fail "start r: $out"
! grep -q "found lost" <<<"$out" || cl_fail "a user's start reported as a failover: $out"
echo "ok: $out"
echo "PASS"
