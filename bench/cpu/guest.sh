#!/usr/bin/env bash
# The CPU benchmark inside a Debian guest: the kernels of bench/cpu built as
# a static Linux program (bench/cpu/linux.c), appended to the test
# initramfs and run by corral.cmd under Debian's kernel, on Corral and on
# QEMU TCG (-M virt, 1 hart, 512 MiB), BENCH_REPS times each. Prints each
# kernel's median time in each VMM and the speed ratio (QEMU's time over
# Corral's: above 1 is faster than QEMU), coremark-like included (the
# issue's CoreMark-in-a-guest figure; see bench/cpu/mixed.c for why it is
# our own kernel).
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL

"$BENCH_TOP/bench/cpu/build.sh" "$BENCH_OUT" || { echo "cpu-guest: build failed"; exit 1; }
[ -x "$BENCH_OUT/cpu-linux" ] || { echo "cpu-guest: riscv64-linux-gnu-gcc missing (scripts/deps.sh)"; exit 1; }
DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "cpu-guest: no guest images (scripts/guest.sh)"; exit 1; }
TIMEOUT=${BENCH_CPU_TIMEOUT:-900}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/ov"
cp "$BENCH_OUT/cpu-linux" "$work/ov/bench-cpu"
(cd "$work/ov" && ls | cpio -o -H newc --quiet --owner 0:0) >"$work/ov.cpio" || exit 1
INITRD=$work/initrd.cpio
cat "$DIR/initramfs.cpio" "$work/ov.cpio" >"$INITRD"
CMDLINE="console=ttyS0 quiet corral.cmd=/bench-cpu"

echo "== cpu-guest: bench/cpu's kernels as a Linux process, BENCH_SCALE=${BENCH_SCALE:-5}, $BENCH_REPS runs per VMM"
declare -A KT_corral KT_qemu
status=0
for ((r = 1; r <= BENCH_REPS; r++)); do
    for vmm in corral qemu; do
        log=$BENCH_OUT/cpu-guest-$vmm-$r.log
        if [ $vmm = corral ]; then
            timed_run "$log" timeout "$TIMEOUT" "$CORRAL" run --firmware "$DIR/fw_dynamic.bin" \
                --kernel "$DIR/Image" --initrd "$INITRD" --cpus 1 --memory 512M --cmdline "$CMDLINE"
        else
            timed_run "$log" timeout "$TIMEOUT" qemu-system-riscv64 -M virt -m 512M -smp 1 \
                -nographic -no-reboot -bios "$DIR/fw_dynamic.bin" -kernel "$DIR/Image" \
                -initrd "$INITRD" -append "$CMDLINE"
        fi
        if ! grep -q 'result PASS' "$log"; then
            echo "cpu-guest: $vmm run $r FAILED (rc $RUN_RC), see $log"; tail -n 8 "$log"; status=1; continue
        fi
        printf '  %-6s run %d: %7.3f s wall, %6s s cpu, rss %s KiB\n' "$vmm" "$r" "$RUN_WALL" "$RUN_CPU" "$RUN_RSS"
        while read -r name ns; do
            if [ $vmm = corral ]; then KT_corral[$name]+=" $ns"; else KT_qemu[$name]+=" $ns"; fi
        done < <(awk '{ sub(/\r$/, "") } $2 == "kernel" && $NF == "ok" { print $3, $5 }' "$log")
    done
done
echo "cpu-guest: per kernel (median time, corral / qemu, speed ratio):"
for name in $(awk '$2 == "kernel" { print $3 }' "$BENCH_OUT/cpu-guest-qemu-1.log" 2>/dev/null); do
    # shellcheck disable=SC2086
    tc=$(median ${KT_corral[$name]:-0}) tq=$(median ${KT_qemu[$name]:-0})
    printf '  %-14s %8.3f s / %8.3f s  %s\n' "$name" "$(awk -v t="$tc" 'BEGIN { print t / 1e9 }')" \
        "$(awk -v t="$tq" 'BEGIN { print t / 1e9 }')" "$(ratio "$tq" "$tc")"
done
exit $status
