#!/usr/bin/env bash
# Snapshot benchmark (issue 9), Corral and QEMU side by side: runs
# bench/snapshot/qemu.sh and bench/snapshot/corral.sh and prints
# every key with both values.  Full key=value output: $BUILD/bench/snapshot-*.txt
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL
HERE=$(cd "$(dirname "$0")" && pwd)
echo "== snapshot: 512 MiB guest, pagecheck dirtying ${BENCH_DIRTY_MIB:-128} MiB at ${BENCH_DIRTY_RATE:-125} MB/s"
"$HERE/qemu.sh" >"$BENCH_OUT/snapshot-qemu.txt" 2>"$BENCH_OUT/snapshot-qemu.err"
qrc=$?
"$HERE/corral.sh" >"$BENCH_OUT/snapshot-corral.txt" 2>"$BENCH_OUT/snapshot-corral.err"
crc=$?
printf '  %-44s %-24s %s\n' key qemu corral
while IFS='=' read -r k v; do
    [ -n "$k" ] || continue
    cv=$(awk -F= -v k="$k" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$BENCH_OUT/snapshot-corral.txt")
    printf '  %-44s %-24s %s\n' "$k" "$v" "${cv:-n/a}"
done < <(grep -E '^[a-z0-9_]+=' "$BENCH_OUT/snapshot-qemu.txt")
grep -E '^[a-z0-9_]+=' "$BENCH_OUT/snapshot-corral.txt" | grep -v -F -f <(grep -E -o '^[a-z0-9_]+=' "$BENCH_OUT/snapshot-qemu.txt") | sed 's/^/  corral only: /'
[ $crc = 0 ] || echo "snapshot: corral side FAILED (rc $crc), see $BENCH_OUT/snapshot-corral.err"
[ $qrc = 0 ] || { echo "snapshot: qemu side FAILED (rc $qrc), see $BENCH_OUT/snapshot-qemu.err"; tail -n 5 "$BENCH_OUT/snapshot-qemu.err"; }
exit $qrc
