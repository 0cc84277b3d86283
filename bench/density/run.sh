#!/usr/bin/env bash
# Density: N idle Debian guests (256 MiB each, booted to a shell loop) under
# Corral (virtio-balloon with free page reporting, --mem-merge on) and under
# QEMU 7.2 (virtio-balloon-device with free-page-reporting, mem-merge on),
# with KSM running; host memory per idle guest as RSS and as PSS (PSS splits
# a KSM-shared page among its users, so it is the host's real cost). Then
# the time each balloon takes to reclaim 256 MiB from a 512 MiB guest.
# Needs root to switch KSM on (its settings are restored). Usage:
#   bench/density/run.sh [N]        N guests per VMM (default 2; ~3 minutes)
#   bench/density/run.sh --budget MIB [--max N]
#       how many idle guests fit in MIB of host memory (PSS, default 1024):
#       guests are started in batches of DENSITY_BATCH (4) and measured
#       after each batch has settled, until the total passes the budget or
#       N (default 32) run; prints every step (~10-20 minutes)
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
source "$TOP/tests/guest/lib/lib.sh"
N=2 BUDGET= MAX=32
while [ $# -gt 0 ]; do
    case $1 in
        --budget) BUDGET=${2:-}; shift 2 ;;
        --max) MAX=${2:-}; shift 2 ;;
        [0-9]*) N=$1; shift ;;
        *) echo "usage: $0 [N] | --budget MIB [--max N]" >&2; exit 2 ;;
    esac
done
[ -z "$BUDGET" ] || [ "$BUDGET" -gt 0 ] 2>/dev/null || { echo "--budget: a size in MiB" >&2; exit 2; }
BATCH=${DENSITY_BATCH:-4}
SETTLE=${SETTLE:-40}
dir=$(guest_dir) || { echo "no guest images" >&2; exit 1; }
command -v qemu-system-riscv64 >/dev/null || { echo "no qemu-system-riscv64" >&2; exit 1; }
ksm=/sys/kernel/mm/ksm
[ -w "$ksm/run" ] || { echo "needs root: $ksm/run is not writable" >&2; exit 1; }
work=$(mktemp -d)
old_run=$(cat $ksm/run) old_scan=$(cat $ksm/pages_to_scan) old_sleep=$(cat $ksm/sleep_millisecs)
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; pids=(); }
cleanup() { stop_all; echo "$old_scan" >$ksm/pages_to_scan; echo "$old_sleep" >$ksm/sleep_millisecs; echo "$old_run" >$ksm/run; rm -rf "$work"; }
trap cleanup EXIT
echo 4000 >$ksm/pages_to_scan; echo 20 >$ksm/sleep_millisecs; echo 1 >$ksm/run

wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup"; }
all_ready() { local i; for ((i = ${2:-0}; i < N; i++)); do grep -q '^ready' "$work/$1$i.log" || return 1; done; }
cmd='echo ready; while true; do sleep 5; done'
append="console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")"

start_corral() { # NAME MEM [extra]
    "$CORRAL" run --api-sock "$work/$1.sock" --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
        --initrd "$dir/initramfs.cpio" --memory "$2" --mem-merge on --balloon 0,reporting \
        --cmdline "$append" </dev/null >"$work/$1.log" 2>&1 &
    pids+=($!)
}
start_qemu() { # NAME MEM
    qemu-system-riscv64 -M virt,mem-merge=on -m "$2" -nographic -no-reboot -bios "$dir/fw_dynamic.bin" \
        -kernel "$dir/Image" -initrd "$dir/initramfs.cpio" -append "$append" \
        -device virtio-balloon-device,free-page-reporting=on \
        -qmp "unix:$work/$1.qmp,server=on,wait=off" </dev/null >"$work/$1.log" 2>&1 &
    pids+=($!)
}
qmp() { # SOCK JSON-COMMAND -> prints the return object
    python3 - "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rw')
f.readline(); f.write('{"execute":"qmp_capabilities"}\n'); f.flush(); f.readline()
f.write(sys.argv[2] + '\n'); f.flush()
while True:
    m = json.loads(f.readline())
    if 'return' in m or 'error' in m:
        print(json.dumps(m.get('return', m))); break
PY
}

density() { # VMM
    local vmm=$1 i rss=0 pss=0
    for ((i = 0; i < N; i++)); do "start_$vmm" "$vmm$i" 256M; done
    wait_for 300 all_ready "$vmm" || { echo "$vmm: guests did not boot" >&2; return 1; }
    sleep "$SETTLE"
    for p in "${pids[@]}"; do rss=$((rss + $(kib "$p" Rss))); pss=$((pss + $(kib "$p" Pss))); done
    echo "$vmm: $N idle 256 MiB guests: RSS $((rss / N / 1024)) MiB/guest, PSS $((pss / N / 1024)) MiB/guest"
    stop_all
}

# fit VMM: start guests BATCH at a time until their total PSS passes
# BUDGET MiB (or MAX run); the answer is the most that stayed within it.
fit() {
    local vmm=$1 n=0 from rss pss p fits=0 line
    while [ "$n" -lt "$MAX" ]; do
        from=$n
        while [ "$n" -lt "$MAX" ] && [ "$n" -lt $((from + BATCH)) ]; do
            "start_$vmm" "$vmm$n" 256M
            n=$((n + 1))
        done
        N=$n wait_for 600 all_ready "$vmm" "$from" || { echo "$vmm: guests $from..$((n - 1)) did not boot" >&2; stop_all; return 1; }
        sleep "$SETTLE"
        rss=0 pss=0
        for p in "${pids[@]}"; do rss=$((rss + $(kib "$p" Rss))); pss=$((pss + $(kib "$p" Pss))); done
        line="$vmm: $n idle 256 MiB guests: PSS $((pss / 1024)) MiB in all ($((pss / n / 1024)) MiB/guest), RSS $((rss / 1024)) MiB; load $(cut -d' ' -f1 /proc/loadavg)"
        echo "$line"
        [ $((pss / 1024)) -le "$BUDGET" ] && fits=$n
        [ $((pss / 1024)) -gt "$BUDGET" ] && break
    done
    if [ "$fits" = "$n" ]; then
        echo "$vmm: all $n guests fit in $BUDGET MiB (--max $MAX reached)"
    else
        echo "$vmm: $fits guests measured within $BUDGET MiB; $n passed it"
    fi
    stop_all
}

reclaim() { # VMM: seconds for the balloon to take 256 MiB from a 512 MiB guest
    local vmm=$1 t0 t1
    "start_$vmm" "${vmm}r0" 512M
    N=1 wait_for 300 grep -q '^ready' "$work/${vmm}r0.log" || { echo "$vmm: no boot" >&2; return 1; }
    sleep 5
    t0=$(date +%s.%N)
    if [ "$vmm" = corral ]; then
        "$CORRAL" ctl --sock "$work/${vmm}r0.sock" balloon 256M >/dev/null
        got() { [ "$(curl -s --unix-socket "$work/${vmm}r0.sock" http://localhost/balloon | jq -r .actual_mib)" -ge 256 ]; }
    else
        qmp "$work/${vmm}r0.qmp" '{"execute":"balloon","arguments":{"value":268435456}}' >/dev/null
        got() { [ "$(qmp "$work/${vmm}r0.qmp" '{"execute":"query-balloon"}' | jq -r .actual)" -le 268435456 ]; }
    fi
    wait_for 120 got || { echo "$vmm: balloon did not reach 256 MiB" >&2; stop_all; return 1; }
    t1=$(date +%s.%N)
    echo "$vmm: reclaim 256 MiB: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s"
    stop_all
}

echo "density run $(date -u +'%F %H:%M'), $(nproc) cores, $(qemu-system-riscv64 --version | head -n 1)"
if [ -n "$BUDGET" ]; then
    fit corral
    fit qemu
    exit 0
fi
density corral
density qemu
reclaim corral
reclaim qemu
