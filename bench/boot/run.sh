#!/usr/bin/env bash
# Boot benchmark: Corral and qemu-system-riscv64 -M virt boot the same
# Debian kernel, OpenSBI fw_dynamic.bin and initramfs (scripts/guest.sh),
# 1 hart (BENCH_BOOT_CPUS) and 512 MiB each, Corral's engine from
# CORRAL_CPU_ENGINE, with corral.cmd='cat /proc/uptime'; BENCH_REPS
# runs each.  Prints the medians of: wall time from launch to the
# "corral: exit 0" line, the guest's own uptime at that point (first field of
# /proc/uptime, printed just before), the whole process's wall time, and its
# peak RSS; then the Corral/QEMU ratios.
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL

DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "boot: no guest images (scripts/guest.sh)"; exit 1; }
CMDLINE="console=ttyS0 quiet corral.cmd=cat%20/proc/uptime"
TIMEOUT=${BENCH_BOOT_TIMEOUT:-300}
status=0

echo "== boot: $(basename "$DIR"), cmdline '$CMDLINE', $BENCH_REPS runs per VMM," \
    "corral engine ${CORRAL_CPU_ENGINE:-default}, ${BENCH_BOOT_CPUS:-1} hart(s)"

declare -A EXIT UPT WALL RSS CPU
for ((r = 1; r <= BENCH_REPS; r++)); do
    for vmm in corral qemu; do
        log=$BENCH_OUT/boot-$vmm-$r.log
        if [ $vmm = corral ]; then
            timed_run "$log" timeout "$TIMEOUT" "$CORRAL" run --firmware "$DIR/fw_dynamic.bin" \
                --kernel "$DIR/Image" --initrd "$DIR/initramfs.cpio" --cpus "${BENCH_BOOT_CPUS:-1}" --memory 512M \
                --cmdline "$CMDLINE"
        else
            timed_run "$log" timeout "$TIMEOUT" qemu-system-riscv64 -M virt -m 512M -smp "${BENCH_BOOT_CPUS:-1}" \
                -nographic -no-reboot -bios "$DIR/fw_dynamic.bin" -kernel "$DIR/Image" \
                -initrd "$DIR/initramfs.cpio" -append "$CMDLINE"
        fi
        # "T corral: exit 0" and, the line before, "T UPTIME IDLE".
        t_exit=$(awk '/corral: exit 0/ { print $1; exit }' "$log")
        uptime=$(awk '/corral: exit 0/ { print u; exit } { sub(/\r$/, ""); if (NF == 3 && $2 ~ /^[0-9]+\.[0-9]+$/) u = $2 }' "$log")
        if [ -z "$t_exit" ]; then
            echo "boot: $vmm run $r FAILED (rc $RUN_RC, no 'corral: exit 0'), see $log"
            tail -n 8 "$log"; status=1; continue
        fi
        printf '  %-6s run %d: exit line at %7.3f s, guest uptime %6s s, process %7.3f s wall %6s s cpu, rss %s KiB\n' \
            "$vmm" "$r" "$t_exit" "${uptime:-n/a}" "$RUN_WALL" "$RUN_CPU" "$RUN_RSS"
        EXIT[$vmm]+=" $t_exit"; UPT[$vmm]+=" ${uptime:-}"; WALL[$vmm]+=" $RUN_WALL"
        RSS[$vmm]+=" $RUN_RSS"; CPU[$vmm]+=" $RUN_CPU"
    done
done

declare -A M
for vmm in corral qemu; do
    # shellcheck disable=SC2086
    {
        M[$vmm,exit]=$(median ${EXIT[$vmm]:-})
        M[$vmm,upt]=$(median ${UPT[$vmm]:-})
        M[$vmm,wall]=$(median ${WALL[$vmm]:-})
        M[$vmm,rss]=$(median ${RSS[$vmm]:-})
        M[$vmm,cpu]=$(median ${CPU[$vmm]:-})
    }
    printf 'boot: %-6s median: to "corral: exit 0" %s s, guest uptime %s s, process %s s wall %s s cpu, peak RSS %s KiB\n' \
        "$vmm" "${M[$vmm,exit]}" "${M[$vmm,upt]}" "${M[$vmm,wall]}" "${M[$vmm,cpu]}" "${M[$vmm,rss]}"
done
echo "boot: ratios corral/qemu: to exit line $(ratio "${M[corral,exit]}" "${M[qemu,exit]}" %.2f)x," \
    "guest uptime $(ratio "${M[corral,upt]}" "${M[qemu,upt]}" %.2f)x," \
    "CPU time $(ratio "${M[corral,cpu]}" "${M[qemu,cpu]}" %.2f)x, peak RSS $(ratio "${M[corral,rss]}" "${M[qemu,rss]}" %.2f)x"
[ -n "$BENCH_GNU_TIME" ] || echo "boot: peak RSS n/a (GNU time not installed)"
exit $status
