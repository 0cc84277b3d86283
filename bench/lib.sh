# shellcheck shell=bash disable=SC2034
# Shared helpers of the benchmark scripts (sourced).
set -u
BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$BENCH_TOP/$BUILD ;; esac
CORRAL=$BUILD/corral
BENCH_OUT=$BUILD/bench
BENCH_REPS=${BENCH_REPS:-3}
mkdir -p "$BENCH_OUT"

# GNU time gives the peak RSS of the child; without it RSS is reported n/a.
if [ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
    BENCH_GNU_TIME=/usr/bin/time
else
    BENCH_GNU_TIME=
fi

# median N1 N2 ... -> the middle value (mean of the two middle ones if even).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "n/a"; exit }
              if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B [FORMAT] -> A / B
ratio() {
    awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" 'BEGIN {
        if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf f "\n", a / b }'
}

# timed_run OUTFILE CMD... : runs CMD with stdin from /dev/null, its
# stdout+stderr to OUTFILE, with each line prefixed by the seconds since
# launch ("12.345678 text").  Sets RUN_RC, RUN_WALL (seconds, launch to exit)
# RUN_RSS (peak RSS in KiB, or n/a) and RUN_CPU (user + system seconds of
# the child, or n/a): CPU time is less disturbed than wall time when other
# work shares the machine.
timed_run() {
    local out=$1 rssf t0 t1 line
    shift
    rssf=$(mktemp)
    t0=${EPOCHREALTIME/./}
    if [ -n "$BENCH_GNU_TIME" ]; then
        set -- "$BENCH_GNU_TIME" -f 'bench_rusage %M %U %S' -o "$rssf" "$@"
    fi
    { "$@" </dev/null 2>&1; echo "timed_run_rc $?"; } |
        while IFS= read -r line; do
            t1=$((${EPOCHREALTIME/./} - t0))
            printf '%d.%06d %s\n' $((t1 / 1000000)) $((t1 % 1000000)) "$line"
        done >"$out"
    t1=$((${EPOCHREALTIME/./} - t0))
    RUN_WALL=$(printf '%d.%03d' $((t1 / 1000000)) $((t1 % 1000000 / 1000)))
    RUN_RC=$(awk '$2 == "timed_run_rc" { print $3 }' "$out")
    RUN_RSS=n/a RUN_CPU=n/a
    if [ -n "$BENCH_GNU_TIME" ] && grep -q '^bench_rusage ' "$rssf"; then
        RUN_RSS=$(awk '$1 == "bench_rusage" { print $2 }' "$rssf")
        RUN_CPU=$(awk '$1 == "bench_rusage" { printf "%.2f", $3 + $4 }' "$rssf")
    fi
    rm -f "$rssf"
}

# side_by_side NAME DIR: run DIR/qemu.sh and DIR/corral.sh (key=value
# lines each, into $BENCH_OUT/NAME-{qemu,corral}.txt) and print every key
# with both values, then the Corral-only keys. Returns QEMU's status.
side_by_side() {
    local name=$1 dir=$2 q c qrc crc k v cv
    q=$BENCH_OUT/$name-qemu.txt c=$BENCH_OUT/$name-corral.txt
    "$dir/qemu.sh" >"$q" 2>"${q%.txt}.err"
    qrc=$?
    "$dir/corral.sh" >"$c" 2>"${c%.txt}.err"
    crc=$?
    printf '  %-44s %-24s %s\n' key qemu corral
    while IFS='=' read -r k v; do
        [ -n "$k" ] || continue
        cv=$(awk -F= -v k="$k" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$c")
        printf '  %-44s %-24s %s\n' "$k" "$v" "${cv:-n/a}"
    done < <(grep -E '^[a-z0-9_]+=' "$q")
    grep -E '^[a-z0-9_]+=' "$c" | grep -v -F -f <(grep -E -o '^[a-z0-9_]+=' "$q") |
        sed 's/^/  corral only: /'
    [ $crc = 0 ] || echo "$name: corral side FAILED (rc $crc), see ${c%.txt}.err"
    [ $qrc = 0 ] || { echo "$name: qemu side FAILED (rc $qrc), see ${q%.txt}.err"; tail -n 5 "${q%.txt}.err"; }
    return $qrc
}
