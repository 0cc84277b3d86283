#!/usr/bin/env bash
# Live-migration benchmark (issue 10), Corral and QEMU side by side: runs
# bench/migrate/qemu.sh and bench/migrate/corral.sh and prints
# every key with both values.  Full key=value output: $BUILD/bench/migrate-*.txt
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL
HERE=$(cd "$(dirname "$0")" && pwd)
echo "== migrate: loopback, 512 MiB guest, pagecheck dirtying ${BENCH_DIRTY_MIB:-128} MiB at ${BENCH_DIRTY_RATE:-125} MB/s"
"$HERE/qemu.sh" >"$BENCH_OUT/migrate-qemu.txt" 2>"$BENCH_OUT/migrate-qemu.err"
qrc=$?
"$HERE/corral.sh" >"$BENCH_OUT/migrate-corral.txt" 2>"$BENCH_OUT/migrate-corral.err"
crc=$?
printf '  %-44s %-24s %s\n' key qemu corral
while IFS='=' read -r k v; do
    [ -n "$k" ] || continue
    cv=$(awk -F= -v k="$k" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$BENCH_OUT/migrate-corral.txt")
    printf '  %-44s %-24s %s\n' "$k" "$v" "${cv:-n/a}"
done < <(grep -E '^[a-z0-9_]+=' "$BENCH_OUT/migrate-qemu.txt")
grep -E '^[a-z0-9_]+=' "$BENCH_OUT/migrate-corral.txt" | grep -v -F -f <(grep -E -o '^[a-z0-9_]+=' "$BENCH_OUT/migrate-qemu.txt") | sed 's/^/  corral only: /'
[ $crc = 0 ] || echo "migrate: corral side FAILED (rc $crc), see $BENCH_OUT/migrate-corral.err"
[ $qrc = 0 ] || { echo "migrate: qemu side FAILED (rc $qrc), see $BENCH_OUT/migrate-qemu.err"; tail -n 5 "$BENCH_OUT/migrate-qemu.err"; }
exit $qrc
