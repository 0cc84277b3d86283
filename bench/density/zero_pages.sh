#!/usr/bin/env bash
# Zero pages (issue 13): what a page the guest fills with zeros after boot
# costs the host. One 512 MiB guest writes 256 MiB of zeros into tmpfs (the
# pages stay allocated in the guest); the VMM's RSS and PSS are read with
# --mem-merge off, then on with KSM running, once with KSM's
# use_zero_pages=0 (zero pages merge with each other into one KSM page)
# and once with 1 (they map the kernel's zero page). Needs root for KSM
# (its settings are restored). ~3 minutes.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
source "$TOP/tests/guest/lib/lib.sh"
dir=$(guest_dir) || { echo "no guest images" >&2; exit 1; }
ksm=/sys/kernel/mm/ksm
[ -w "$ksm/run" ] || { echo "needs root: $ksm/run is not writable" >&2; exit 1; }
SETTLE=${SETTLE:-40}
work=$(mktemp -d)
old_run=$(cat $ksm/run) old_scan=$(cat $ksm/pages_to_scan) old_sleep=$(cat $ksm/sleep_millisecs)
old_zero=$(cat $ksm/use_zero_pages)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    echo "$old_scan" >$ksm/pages_to_scan; echo "$old_sleep" >$ksm/sleep_millisecs
    echo 2 >$ksm/run; echo "$old_zero" >$ksm/use_zero_pages; echo "$old_run" >$ksm/run
    rm -rf "$work"
}
trap cleanup EXIT
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup"; }
cmd='mount -t tmpfs -o size=300m tmpfs /mnt; dd if=/dev/zero of=/mnt/z bs=1M count=256 2>/dev/null; echo filled; while true; do sleep 5; done'
run() { # LABEL MERGE ZERO_PAGES
    echo 2 >$ksm/run # unmerge everything: use_zero_pages can change only then
    echo "$3" >$ksm/use_zero_pages
    echo 4000 >$ksm/pages_to_scan; echo 20 >$ksm/sleep_millisecs; echo 1 >$ksm/run
    "$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
        --memory 512M --mem-merge "$2" --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" \
        </dev/null >"$work/$1.log" 2>&1 &
    pid=$!
    local i
    for ((i = 0; i < 3000; i++)); do grep -qs '^filled' "$work/$1.log" && break; sleep 0.1; done
    grep -qs '^filled' "$work/$1.log" || { echo "$1: the guest did not fill its tmpfs" >&2; return 1; }
    sleep "$SETTLE"
    printf '  %-34s RSS %4d MiB  PSS %4d MiB\n' "$1" $(($(kib $pid Rss) / 1024)) $(($(kib $pid Pss) / 1024))
    kill "$pid"; wait "$pid" 2>/dev/null; pid=
}
echo "zero pages $(date -u +'%F %H:%M'), $(nproc) cores; a 512 MiB guest with 256 MiB of zeros in tmpfs, ${SETTLE} s settle"
run "merge off" off 0
run "merge on, KSM use_zero_pages=0" on 0
run "merge on, KSM use_zero_pages=1" on 1
