#!/usr/bin/env bash
# Snapshot benchmark (issue 9), Corral and QEMU side by side: runs
# bench/snapshot/qemu.sh (and, once it exists, the Corral side) and prints
# every key with both values.  Full key=value output: $BUILD/bench/snapshot-*.txt
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL
HERE=$(cd "$(dirname "$0")" && pwd)
echo "== snapshot: 512 MiB guest, pagecheck dirtying ${BENCH_DIRTY_MIB:-128} MiB at ${BENCH_DIRTY_RATE:-125} MB/s"
"$HERE/qemu.sh" >"$BENCH_OUT/snapshot-qemu.txt" 2>"$BENCH_OUT/snapshot-qemu.err"
qrc=$?
echo "corral: not yet implemented" >"$BENCH_OUT/snapshot-corral.txt"
printf '  %-44s %-24s %s\n' key qemu corral
while IFS='=' read -r k v; do
    [ -n "$k" ] || continue
    cv=$(awk -F= -v k="$k" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$BENCH_OUT/snapshot-corral.txt")
    printf '  %-44s %-24s %s\n' "$k" "$v" "${cv:-n/a}"
done < <(grep -E '^[a-z0-9_]+=' "$BENCH_OUT/snapshot-qemu.txt")
echo "corral: not yet implemented"
[ $qrc = 0 ] || { echo "snapshot: qemu side FAILED (rc $qrc), see $BENCH_OUT/snapshot-qemu.err"; tail -n 5 "$BENCH_OUT/snapshot-qemu.err"; }
exit $qrc
