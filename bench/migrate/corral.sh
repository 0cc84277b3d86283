#!/usr/bin/env bash
# Corral side of the live-migration benchmark (issue 10), the scenario of
# bench/migrate/qemu.sh: a 512 MiB guest with pagecheck dirtying 128 MiB at
# 125 MB/s, pre-copy over loopback, BENCH_MIGRATIONS times back and forth;
# prints the first migration's figures under QEMU's key names, and the
# medians and pagecheck's verdict over all; then one post-copy move, and at
# 32 MiB/s (max_bandwidth, as QEMU's max-bandwidth) one pre-copy with zstd
# and page delta and one post-copy, each under QEMU's key names.
. "$(dirname "$0")/../lib.sh"
source "$BENCH_TOP/tests/guest/lib/lib.sh"
source "$BENCH_TOP/tests/guest/lib/pagecheck_lib.bash"
DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "error=no guest images"; exit 1; }
W=$BENCH_OUT/migrate-corral
rm -rf "$W"
mkdir -p "$W"
N=${BENCH_MIGRATIONS:-5}
fail() { echo "error=$*"; [ -n "${CORRAL_PID:-}" ] && kill -9 "$CORRAL_PID" 2>/dev/null; exit 1; }
port=$((30000 + RANDOM % 20000))
start_corral "$W/console0.log" run --firmware "$DIR/fw_dynamic.bin" --kernel "$DIR/Image" \
    --initrd "$DIR/initramfs.cpio" --memory 512M --cmdline "console=ttyS0 quiet" \
    --api-sock "$W/api0.sock"
sock=$W/api0.sock
wait_for 'built-in commands' 300 >/dev/null || fail "the guest did not boot"
pagecheck_start "${BENCH_DIRTY_MIB:-128}" --rate "${BENCH_DIRTY_RATE:-125}" >/dev/null ||
    fail "pagecheck did not start"
sleep "${BENCH_WARMUP:-3}"
totals=() downs=() bytes=() mism=0
for ((k = 1; k <= N; k++)); do
    port=$((port + 1))
    old_dir=$SESSION_DIR
    exec 9>&7
    start_corral "$W/console$k.log" run --incoming "tcp:127.0.0.1:$port" --api-sock "$W/api$k.sock"
    sleep 0.3
    out=$("$CORRAL" migrate --sock "$sock" "tcp:127.0.0.1:$port" 2>&1) || fail "migration $k: $out"
    exec 9>&-
    rm -rf "$old_dir"
    sock=$W/api$k.sock
    t=$(grep -o 'total [0-9.]*' <<<"$out" | awk '{print $2}')
    d=$(grep -o 'downtime [0-9.]*' <<<"$out" | awk '{print $2}')
    b=$(grep -o '[0-9.]* MiB sent' <<<"$out" | awk '{print $1}')
    totals+=("$t") downs+=("$d") bytes+=("$b")
    if [ "$k" = 1 ]; then
        echo "precopy_unlimited_status=completed"
        echo "precopy_unlimited_total_ms=$t"
        echo "precopy_unlimited_downtime_ms=$d"
        echo "precopy_unlimited_bytes=$(awk -v b="$b" 'BEGIN { printf "%.0f", b * 1048576 }')"
        echo "precopy_unlimited_iterations=$(grep -o '[0-9]* rounds' <<<"$out" | awk '{print $1}')"
    fi
    sleep 2
    pagecheck_status 30 >/dev/null || fail "no pagecheck status after migration $k"
    mism=$((mism + PC_MISMATCHES))
done
# migrate_once PREFIX [corral migrate options]: one more move, its figures
# as PREFIXtotal_ms etc., pagecheck's verdict after it.
migrate_once() {
    local prefix=$1 out t
    shift
    port=$((port + 1)) k=$((k + 1))
    old_dir=$SESSION_DIR
    exec 9>&7
    start_corral "$W/console$k.log" run --incoming "tcp:127.0.0.1:$port" --api-sock "$W/api$k.sock"
    sleep 0.3
    out=$("$CORRAL" migrate --sock "$sock" "$@" "tcp:127.0.0.1:$port" 2>&1) || fail "migration $prefix: $out"
    exec 9>&-
    rm -rf "$old_dir"
    sock=$W/api$k.sock
    echo "${prefix}status=completed"
    echo "${prefix}total_ms=$(grep -o 'total [0-9.]*' <<<"$out" | awk '{print $2}')"
    echo "${prefix}downtime_ms=$(grep -o 'downtime [0-9.]*' <<<"$out" | awk '{print $2}')"
    echo "${prefix}bytes=$(grep -o '[0-9.]* MiB sent' <<<"$out" | awk '{ printf "%.0f", $1 * 1048576 }')"
    echo "${prefix}detail=$(grep -o '([^)]*)' <<<"$out" | head -n 1 | tr ' ' '_')"
    sleep 2
    pagecheck_status 30 >/dev/null || fail "no pagecheck status after $prefix"
    echo "${prefix}mismatches=$PC_MISMATCHES"
    echo "${prefix}dst_running=yes"
}
echo "precopy_unlimited_mismatches=$mism"
k=$N
migrate_once postcopy_unlimited_ --mode postcopy
migrate_once precopy_32mibps_ --max-bandwidth 32 --zstd 1 --delta-cache 64
migrate_once postcopy_32mibps_ --mode postcopy --max-bandwidth 32
echo "precopy_unlimited_dst_running=yes"
echo "corral_migrations=$N"
echo "corral_median_total_ms=$(median "${totals[@]}")"
echo "corral_median_downtime_ms=$(median "${downs[@]}")"
echo "corral_median_mib_sent=$(median "${bytes[@]}")"
echo "corral_pagecheck_mismatches_all=$mism"
kill -9 "$CORRAL_PID" 2>/dev/null
