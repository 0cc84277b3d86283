#!/usr/bin/env bash
# CPU benchmark: the same bare-metal ELF (bench/cpu) on Corral (--test) and
# on QEMU TCG (-M virt -bios none), BENCH_REPS times each; prints the median
# wall time, instructions per second and the Corral/QEMU ratio, overall and
# per kernel.
#
# The instruction count comes from QEMU run once with -icount shift=0, where
# minstret counts retired instructions exactly (without -icount QEMU's
# minstret returns host clock ticks, so it is no count).  Corral's own
# minstret must agree; a mismatch is reported.  Per-kernel times come from the
# CLINT mtime (10 MHz) read by the program itself.  CORRAL_CPU_ENGINE=jit
# (and CORRAL_JIT_THRESHOLD) select Corral's engine; corral reads them.
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL

"$BENCH_TOP/bench/cpu/build.sh" "$BENCH_OUT" || { echo "cpu: build failed"; exit 1; }
ELF=$BENCH_OUT/cpu.elf
QEMU=(qemu-system-riscv64 -M virt -bios none -m 256M -nographic -monitor none -serial stdio -kernel "$ELF")
TIMEOUT=${BENCH_CPU_TIMEOUT:-600}
status=0

# kernel_ticks FILE -> "name ticks" per kernel
kernel_ticks() { awk '$2 == "kernel" { print $3, $7 }' "$1"; }
passed() { grep -q 'result PASS' "$1"; }

echo "== cpu: $(basename "$ELF"), BENCH_SCALE=${BENCH_SCALE:-5}, $BENCH_REPS runs per VMM," \
    "corral engine ${CORRAL_CPU_ENGINE:-default}${CORRAL_JIT_THRESHOLD:+ (jit threshold $CORRAL_JIT_THRESHOLD)}"

timed_run "$BENCH_OUT/cpu-qemu-icount.log" timeout "$TIMEOUT" "${QEMU[@]}" -icount shift=0
if [ "$RUN_RC" != 0 ] || ! passed "$BENCH_OUT/cpu-qemu-icount.log"; then
    echo "cpu: QEMU -icount run failed (rc $RUN_RC)"; tail -n 8 "$BENCH_OUT/cpu-qemu-icount.log"; exit 1
fi
INSNS=$(awk '$2 == "bench" { print $4 }' "$BENCH_OUT/cpu-qemu-icount.log")
declare -A KINSNS
while read -r name n; do KINSNS[$name]=$n; done < <(awk '$2 == "kernel" { print $3, $5 }' "$BENCH_OUT/cpu-qemu-icount.log")

declare -A KT_corral KT_qemu
walls_corral=() walls_qemu=() rss_corral=() rss_qemu=() cpu_corral=() cpu_qemu=()
for ((r = 1; r <= BENCH_REPS; r++)); do
    for vmm in corral qemu; do
        log=$BENCH_OUT/cpu-$vmm-$r.log
        if [ $vmm = corral ]; then
            timed_run "$log" timeout "$TIMEOUT" "$CORRAL" run --test "$ELF"
        else
            timed_run "$log" timeout "$TIMEOUT" "${QEMU[@]}"
        fi
        if [ "$RUN_RC" != 0 ] || ! passed "$log"; then
            echo "cpu: $vmm run $r FAILED (rc $RUN_RC), see $log"; tail -n 8 "$log"; status=1; continue
        fi
        printf '  %-6s run %d: %7.3f s wall, %6s s cpu, rss %s KiB\n' "$vmm" "$r" "$RUN_WALL" "$RUN_CPU" "$RUN_RSS"
        if [ $vmm = corral ]; then
            walls_corral+=("$RUN_WALL"); rss_corral+=("$RUN_RSS"); cpu_corral+=("$RUN_CPU")
            got=$(awk '$2 == "bench" { print $4 }' "$log")
            # The UART's busy-wait loops may differ by a few instructions.
            awk -v a="$got" -v b="$INSNS" 'BEGIN { d = a - b; exit !(d * d > (b / 1e6) ^ 2) }' &&
                echo "  note: Corral's minstret says $got instructions, QEMU -icount says $INSNS"
        else
            walls_qemu+=("$RUN_WALL"); rss_qemu+=("$RUN_RSS"); cpu_qemu+=("$RUN_CPU")
        fi
        while read -r name t; do
            if [ $vmm = corral ]; then KT_corral[$name]+=" $t"; else KT_qemu[$name]+=" $t"; fi
        done < <(kernel_ticks "$log")
    done
done
[ ${#walls_corral[@]} -gt 0 ] && [ ${#walls_qemu[@]} -gt 0 ] || exit 1

wc=$(median "${walls_corral[@]}") wq=$(median "${walls_qemu[@]}")
cc=$(median "${cpu_corral[@]}") cq=$(median "${cpu_qemu[@]}")
ipsc=$(awk -v n="$INSNS" -v t="$wc" 'BEGIN { printf "%.0f", n / t }')
ipsq=$(awk -v n="$INSNS" -v t="$wq" 'BEGIN { printf "%.0f", n / t }')
echo "cpu: instructions executed: $INSNS"
printf 'cpu: corral median %.3f s wall  %7.1f MIPS  (cpu %s s)  peak RSS %s KiB\n' \
    "$wc" "$(ratio "$ipsc" 1e6 %.1f)" "$cc" "$(median "${rss_corral[@]}")"
printf 'cpu: qemu   median %.3f s wall  %7.1f MIPS  (cpu %s s)  peak RSS %s KiB\n' \
    "$wq" "$(ratio "$ipsq" 1e6 %.1f)" "$cq" "$(median "${rss_qemu[@]}")"
echo "cpu: speed ratio corral/qemu = $(ratio "$ipsc" "$ipsq") by wall time," \
    "$(ratio "$cq" "$cc") by CPU time (target >= 0.3)"
echo "cpu: per kernel (guest-timed, median; MIPS corral / qemu / ratio):"
while read -r name; do
    # shellcheck disable=SC2086
    tc=$(median ${KT_corral[$name]:-}) tq=$(median ${KT_qemu[$name]:-})
    n=${KINSNS[$name]}
    mc=$(awk -v n="$n" -v t="$tc" 'BEGIN { printf "%.1f", n / (t / 1e7) / 1e6 }')
    mq=$(awk -v n="$n" -v t="$tq" 'BEGIN { printf "%.1f", n / (t / 1e7) / 1e6 }')
    printf '  %-12s %11s insns  %7s / %7s MIPS  %s\n' "$name" "$n" "$mc" "$mq" "$(ratio "$mc" "$mq")"
done < <(awk '$2 == "kernel" { print $3 }' "$BENCH_OUT/cpu-qemu-icount.log")
exit $status
