#!/usr/bin/env bash
# Deflate-on-OOM on a real guest (256 MiB, about 190 MiB of it for the
# kernel to hand out): with 120 MiB ballooned the guest has ~22 MiB free,
# and a dd that needs a 56 MiB buffer asks for more than it has left.
#  - --balloon 120,deflate-on-oom: the guest's OOM notifier takes pages
#    back from the balloon instead of killing; dd completes, the kernel
#    logged no OOM kill, and the VMM saw >= 16 MiB deflated;
#  - the control, the same without deflate-on-oom: the same dd is
#    OOM-killed (status 137, "Killed process" in dmesg), which shows the
#    first case really ran out of memory.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }

work=$(mktemp -d)
sock=$work/api.sock
out=$work/console.log
cleanup() {
    [ -n "${CORRAL_PID:-}" ] && kill "$CORRAL_PID" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"

fail() { echo "---- console ----"; tail -n 20 "$out"; echo "FAIL: $*"; exit 1; }
field() { grep -a -oE "$1=[0-9]+" "$out" | tail -n 1 | cut -d= -f2; }

# Typed at the guest's shell: wait until the balloon holds all 120 MiB
# (30720 pages in /proc/vmstat), allocate, report. The markers are built
# by the guest's shell so that the echoed command line never matches.
cmd='for i in $(seq 600); do [ "$(awk '"'"'/^balloon_inflate/{print $2}'"'"' /proc/vmstat)" -ge 30720 ] && break; sleep 0.2; done; echo "inflated-$((1)) free=$(awk '"'"'/^MemFree/{print $2}'"'"' /proc/meminfo)"; dd if=/dev/zero of=/dev/null bs=56M count=1 2>/dev/null; rc=$?; echo "result-$((1)) rc=$rc kills=$(dmesg | grep -c "Killed process") deflated=$(awk '"'"'/^balloon_deflate/{print $2}'"'"' /proc/vmstat)"'

run() { # BALLOON-OPTIONS
    rm -f "$sock"
    start_corral "$out" run --api-sock "$sock" --firmware "$dir/fw_dynamic.bin" \
        --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --memory 256M \
        --balloon "120,$1" --cmdline "console=ttyS0 quiet"
    wait_for 'guest ready' 180 || fail "the guest did not boot ($1)"
    sleep 1
    send "$cmd"$'\n'
    wait_for 'inflated-1 free=[0-9]+' 150 || fail "the balloon did not inflate ($1)"
    wait_for 'result-1 rc=[0-9]+' 120 || fail "the allocation did not end ($1)"
}

stop() {
    send $'poweroff -f\n'
    end_session 300
    CORRAL_PID=
}

run deflate-on-oom
free=$(field free)
rc=$(field rc) kills=$(field kills) guest_deflated=$(field deflated)
host_deflated=$(curl -s --max-time 20 --unix-socket "$sock" http://localhost/balloon/statistics |
    jq -r '.deflated_pages // 0')
echo "deflate-on-oom: ${free} KiB free before a 56 MiB dd; dd status ${rc}, ${kills} OOM kills, deflated ${guest_deflated} pages (guest) / ${host_deflated} (VMM)"
[ "$free" -lt $((40 * 1024)) ] || fail "the guest had ${free} KiB free: the dd would fit without the balloon"
[ "$rc" = 0 ] || fail "dd ended with status $rc although the balloon could deflate"
[ "$kills" = 0 ] || fail "the guest OOM-killed $kills processes"
[ "$host_deflated" -ge 4096 ] || fail "the VMM saw only $host_deflated pages deflated (want >= 4096)"
stop

run reporting
rc=$(field rc) kills=$(field kills)
echo "control, no deflate-on-oom: dd status ${rc}, ${kills} OOM kills"
[ "$rc" = 137 ] && [ "$kills" -ge 1 ] || fail "without deflate-on-oom the dd was not OOM-killed (status $rc, $kills kills): the test does not exhaust memory"
kill -0 "$CORRAL_PID" 2>/dev/null || fail "the VMM died"
stop
echo "PASS: an inflated balloon with deflate-on-oom gives memory back instead of an OOM kill"
