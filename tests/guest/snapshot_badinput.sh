#!/usr/bin/env bash
# Snapshot bad input, each a clear one-line error and a non-zero exit (or
# HTTP 400 with fault_message), with the source VM untouched: create while
# Running, a Diff with no earlier snapshot, a missing directory; restore
# with another RAM size or hart count than recorded, a truncated state
# file, a flipped byte in every section, a memory file of the wrong size or
# from another snapshot (a write breaks its seal), another state format version, a raw disk changed
# since the snapshot (refused; accepted with --ignore-disk-changes), and
# PUT /snapshot/load after configuration.
source "$(dirname "$0")/lib/snapshot_lib.bash"
command -v curl >/dev/null || snap_fail "curl is not installed"
api() { # METHOD PATH [BODY] -> "BODY STATUS"
    curl -s --max-time 20 --unix-socket "$SNAP_SOCK" -X "$1" -w ' %{http_code}' \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "http://localhost$2"
}
expect_400() { # WHAT METHOD PATH BODY
    local r
    r=$(api "$2" "$3" "$4")
    [ "${r##* }" = 400 ] || snap_fail "$1: got '$r', want 400"
    grep -q '"fault_message"' <<<"$r" || snap_fail "$1: no fault_message in '$r'"
    echo "ok: $1 -> ${r% *}"
}
# expect_restore_error WHAT PATTERN ARGS...: corral restore fails with one
# line matching PATTERN.
expect_restore_error() {
    local what=$1 pat=$2 out rc
    shift 2
    out=$(timeout 60 "$CORRAL" restore "$@" </dev/null 2>&1)
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || snap_fail "$what: exit status $rc (want an error): $out"
    [ "$(grep -c . <<<"$out")" -eq 1 ] || snap_fail "$what: not one line: $out"
    grep -qE -- "$pat" <<<"$out" || snap_fail "$what: '$out' does not match /$pat/"
    echo "ok: $what -> $out"
}

disk=$SNAP_WORK/disk.raw
truncate -s 16M "$disk"
CORRAL_TEST_SNAPSHOT_STALL_MS=3000 snap_boot 1 --disk "$disk,bw=64M"
expect_400 "create while Running" PUT /snapshot/create \
    "{\"snapshot_path\":\"$SNAP_WORK/x.state\",\"mem_file_path\":\"$SNAP_WORK/x.mem\"}"
ls "$SNAP_WORK"/x.* 2>/dev/null && snap_fail "a refused create left files"
api PATCH /vm '{"state":"Paused"}' >/dev/null
expect_400 "Diff without an earlier snapshot" PUT /snapshot/create \
    "{\"snapshot_path\":\"$SNAP_WORK/x.state\",\"mem_file_path\":\"$SNAP_WORK/x.mem\",\"snapshot_type\":\"Diff\"}"
expect_400 "missing directory" PUT /snapshot/create \
    "{\"snapshot_path\":\"$SNAP_WORK/nodir/x.state\",\"mem_file_path\":\"$SNAP_WORK/nodir/x.mem\"}"
expect_400 "bad snapshot_type" PUT /snapshot/create \
    "{\"snapshot_path\":\"$SNAP_WORK/x.state\",\"mem_file_path\":\"$SNAP_WORK/x.mem\",\"snapshot_type\":\"Half\"}"
expect_400 "load into a started VM" PUT /snapshot/load "{\"snapshot_path\":\"$SNAP_WORK/x.state\"}"
# A create writes its files without the VM lock: the API answers
# meanwhile and refuses state changes until it is done (the create is
# held 3 s in its unlocked phase by the test hook).
api PUT /snapshot/create "{\"snapshot_path\":\"$SNAP_WORK/slow.state\",\"mem_file_path\":\"$SNAP_WORK/slow.mem\"}" \
    >"$SNAP_WORK/slow.out" &
slow=$!
sleep 1
t0=$(date +%s%N)
r=$(api GET /)
t1=$(date +%s%N)
kill -0 "$slow" 2>/dev/null || snap_fail "the held create ended before the check"
[ "${r##* }" = 200 ] || snap_fail "GET / during a create: '$r'"
[ $(( (t1 - t0) / 1000000 )) -lt 1500 ] || snap_fail "GET / took $(( (t1 - t0) / 1000000 )) ms during a create"
expect_400 "resume during a create" PATCH /vm '{"state":"Resumed"}'
grep -q "a snapshot is being written" <<<"$(api PATCH /vm '{"state":"Resumed"}')" ||
    snap_fail "resume during a create: not refused for the create"
expect_400 "a second create during a create" PUT /snapshot/create \
    "{\"snapshot_path\":\"$SNAP_WORK/x.state\",\"mem_file_path\":\"$SNAP_WORK/x.mem\"}"
wait "$slow"
[ "$(awk '{print $NF}' "$SNAP_WORK/slow.out")" = 204 ] || snap_fail "the held create: $(cat "$SNAP_WORK/slow.out")"
[ -s "$SNAP_WORK/slow.state" ] || snap_fail "the held create wrote no state"
rm -f "$SNAP_WORK"/slow.*
api PATCH /vm '{"state":"Resumed"}' >/dev/null
# The source VM is untouched: it still answers and counts.
snap_check 1
"$CORRAL" snapshot create --sock "$SNAP_SOCK" --dir "$SNAP_WORK/good" >/dev/null ||
    snap_fail "a good snapshot failed"
snap_check 2
good=$SNAP_WORK/good
# The source goes (it holds its disk's lock, as a second VM would see).
kill -9 "$CORRAL_PID"
end_session 50

variant() { rm -rf "$SNAP_WORK/v"; cp -a "$good" "$SNAP_WORK/v"; }
variant
expect_restore_error "other RAM size" "256 MiB of RAM, not 512 MiB" "$SNAP_WORK/v" --memory 512M
expect_restore_error "other hart count" "1 harts, not 2" "$SNAP_WORK/v" --cpus 2
expect_restore_error "no such snapshot" "nosuch/state: No such file" "$SNAP_WORK/nosuch"
size=$(stat -c %s "$good/state")
for cut in 7 20 $((size / 2)) $((size - 1)); do
    variant
    truncate -s "$cut" "$SNAP_WORK/v/state"
    expect_restore_error "state truncated to $cut bytes" "v/state: .*(truncated|bad magic|not a Corral)" "$SNAP_WORK/v"
done
# One flipped byte in each section's payload (every section has one).
for off in $(seq 40 $(( (size - 60) / 12 )) $((size - 20))); do
    variant
    printf '\xff' | dd of="$SNAP_WORK/v/state" bs=1 seek="$off" conv=notrunc 2>/dev/null
    cmp -s "$good/state" "$SNAP_WORK/v/state" && continue
    expect_restore_error "byte $off flipped" "v/state: (section '[a-z0-9.-]+': )?.*(checksum|bad section|truncated)" "$SNAP_WORK/v"
done
variant
printf '\x09' | dd of="$SNAP_WORK/v/state" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_restore_error "another state format version" "state format version 9" "$SNAP_WORK/v"
# A moved snapshot finds its memory file beside its state: hide the
# original so the copy's damaged one is the one found.
mv "$good" "$SNAP_WORK/hidden"
good=$SNAP_WORK/hidden
variant
truncate -s 128M "$SNAP_WORK/v/memory"
expect_restore_error "memory file of the wrong size" "memory file .*v/memory: 134217728 bytes" "$SNAP_WORK/v"
variant
dd if=/dev/urandom of="$SNAP_WORK/v/memory" bs=4096 count=1 conv=notrunc 2>/dev/null
expect_restore_error "memory file from elsewhere" "does not belong to this snapshot" "$SNAP_WORK/v"
mv "$good" "$SNAP_WORK/good"
good=$SNAP_WORK/good

# The memory file is sealed (fingerprint, size, mtime in an xattr), so a
# load trusts it without reading; without the seal (a copy that drops
# xattrs) the content check decides, as for the restore below.
getfattr --only-values -n user.corral.seal "$good/memory" 2>/dev/null | grep -q '^CSL1' ||
    snap_fail "the memory file carries no seal"
setfattr -x user.corral.seal "$good/memory" || snap_fail "cannot remove the seal"

# The raw disk changes after the snapshot: refused, unless told.
printf 'changed' | dd of="$disk" bs=1 seek=1000000 conv=notrunc 2>/dev/null
expect_restore_error "raw disk changed" "disk .*disk.raw changed since the snapshot" "$good"
SNAP_SOCK=$SNAP_WORK/api-ign.sock
start_corral "$SNAP_WORK/console-ign.log" restore "$good" --ignore-disk-changes --api-sock "$SNAP_SOCK"
# Back to the moment of the snapshot, taken between checks 1 and 2.
SNAP_LAST_CNT=$SNAP_PREV_CNT
SNAP_LAST_UP=$SNAP_PREV_UP
snap_check 3
# The disk's rate limiter came back with the configuration.
cfg=$(api GET /vm/config)
[ "$(sed 's/ [0-9]*$//' <<<"$cfg" | jq -r '.drives[0].rate_limiter.bandwidth.size // 0')" -gt 0 ] ||
    snap_fail "the restored disk lost its rate limiter: $cfg"
snap_poweroff

# A fresh API process refuses a load after configuration.
SNAP_SOCK=$SNAP_WORK/api-fresh.sock
"$CORRAL" run --api-sock "$SNAP_SOCK" </dev/null >"$SNAP_WORK/fresh.log" 2>&1 &
fresh=$!
for ((i = 0; i < 100; i++)); do [ -S "$SNAP_SOCK" ] && break; sleep 0.1; done
api PUT /machine-config '{"vcpu_count":1,"mem_size_mib":256}' >/dev/null
api PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$disk\",\"is_root_device\":false,\"is_read_only\":true}" >/dev/null
expect_400 "load after configuration" PUT /snapshot/load "{\"snapshot_path\":\"$good/state\"}"
expect_400 "load with an unknown backend" PUT /snapshot/load \
    "{\"snapshot_path\":\"$good/state\",\"mem_backend\":{\"backend_type\":\"Uffd\",\"backend_path\":\"/x\"}}"
kill "$fresh"
wait "$fresh" 2>/dev/null
echo "PASS: snapshot bad input"
