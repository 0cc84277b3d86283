#!/usr/bin/env bash
# I/O benchmark: Corral and qemu-system-riscv64 -M virt boot the same Debian
# kernel, OpenSBI and initramfs (1 hart, 512 MiB) with the same sparse raw
# image as a virtio-blk disk and user-mode networking, and run guest.sh
# (appended to the initramfs) in the guest: BENCH_IO_REPS rounds of
# sequential write and read of BENCH_IO_SEQ_MB MiB with dd oflag/iflag=direct
# and 1 MiB blocks; BENCH_IO_RAND_SECS seconds each of 4 KiB random reads
# (O_DIRECT) from iotool.c and from a busybox dd loop, 4 KiB random reads
# and writes from iotool.c with 1 and 4 jobs, plus the dd loop on
# /dev/zero (its spawn cost); BENCH_IO_NET_REPS transfers of BENCH_IO_NET_MB MiB
# guest -> host through the slirp gateway to a busybox nc receiver on the
# host. BENCH_IO_BOOTS boots per VMM (default 1). Prints the medians, in MB/s (10^6 bytes) and
# IOPS, and the Corral/QEMU ratios.
# BENCH_IO_FORMAT=raw (default) | qcow2 (fresh empty image: every write
# allocates) | qcow2-alloc (preallocation=full) and BENCH_IO_CACHE=
# writeback (default) | none (O_DIRECT on the host) pick the disk, for both
# VMMs alike; bench/io/formats.sh runs the combinations.
. "$(dirname "$0")/../lib.sh"
LC_ALL=C
export LC_ALL

HERE=$BENCH_TOP/bench/io
SEQ_MB=${BENCH_IO_SEQ_MB:-128}
REPS=${BENCH_IO_REPS:-5}
RAND_SECS=${BENCH_IO_RAND_SECS:-4}
NET_MB=${BENCH_IO_NET_MB:-32}
NET_REPS=${BENCH_IO_NET_REPS:-4}
TIMEOUT=${BENCH_IO_TIMEOUT:-300}
# Boots per VMM, alternating (corral, qemu, corral, qemu...): each figure is
# the median over every boot's rounds, so a slow spell of the shared
# machine weighs on both VMMs rather than on whichever ran in it.
BOOTS=${BENCH_IO_BOOTS:-1}
FORMAT=${BENCH_IO_FORMAT:-raw}
CACHE=${BENCH_IO_CACHE:-writeback}
case $FORMAT in raw|qcow2|qcow2-alloc) ;; *) echo "io: BENCH_IO_FORMAT=$FORMAT: raw, qcow2 or qcow2-alloc"; exit 1 ;; esac
case $CACHE in writeback|none) ;; *) echo "io: BENCH_IO_CACHE=$CACHE: writeback or none"; exit 1 ;; esac
FMT=${FORMAT%-alloc}
CMDLINE="console=ttyS0 quiet corral.cmd=sh%20/bench-io.sh"

DIR=$("$BENCH_TOP/scripts/guest.sh" --print-dir) || { echo "io: no guest images (scripts/guest.sh)"; exit 1; }
for t in busybox cpio truncate; do
    command -v $t >/dev/null || { echo "io: $t is not installed (scripts/deps.sh)"; exit 1; }
done

# The initramfs plus an appended cpio holding /bench-io.sh and, when the
# cross compiler exists, /bench-iotool (the kernel unpacks both archives).
work=$(mktemp -d)
INITRD=$BENCH_OUT/io-initramfs.cpio
IMG=$BENCH_OUT/io-disk.img
IMG_MB=$((SEQ_MB * 2))
pids=()
# The receivers exit by themselves after one connection; kill any left
# (a failed run), and drop the image and initramfs (only the logs stay).
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$work" "$IMG" "$INITRD"
}
trap cleanup EXIT
mkdir "$work/ov"
if command -v riscv64-linux-gnu-gcc >/dev/null; then
    riscv64-linux-gnu-gcc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 -static -s \
        -o "$work/ov/bench-iotool" "$HERE/iotool.c" || { echo "io: iotool.c does not build"; exit 1; }
else
    echo "io: riscv64-linux-gnu-gcc missing: no O_DIRECT random reads, 10 ms clock, nc sender"
fi
# make_initrd PORTS: the guest script with the settings and the receivers'
# ports filled in, appended to the initramfs as $INITRD.
make_initrd() {
    sed -e "s/@SEQ_MB@/$SEQ_MB/; s/@REPS@/$REPS/; s/@RAND_SECS@/$RAND_SECS/" \
        -e "s/@NET_MB@/$NET_MB/; s/@NET_PORTS@/$1/" "$HERE/guest.sh" >"$work/ov/bench-io.sh" &&
        chmod +x "$work/ov/bench-io.sh" &&
        (cd "$work/ov" && ls | cpio -o -H newc --quiet --owner 0:0) >"$work/ov.cpio" &&
        cat "$DIR/initramfs.cpio" "$work/ov.cpio" >"$INITRD"
}

free_port() { # a port nothing listens on
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    return 1
}

echo "== io: $(basename "$DIR"), ${IMG_MB} MiB $FORMAT image (cache=$CACHE), $REPS rounds of" \
    "${SEQ_MB} MiB sequential, ${RAND_SECS} s per random-read test, $NET_REPS x ${NET_MB} MiB network"

# rate LOG TAG SCALE: SCALE * $2 / $3 of each "TAG A NS" line, one a line.
rate() {
    awk -v t="$2" -v s="$3" '{ sub(/\r$/, "") } $2 == t && $4 > 0 { printf "%.3f\n", s * $3 / $4 }' "$1"
}
# med VALUES...: their median, n/a when there are none.
med() { if [ $# -gt 0 ]; then median "$@"; else echo n/a; fi; }
# fmt VALUE DECIMALS: VALUE rounded, n/a kept.
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "n/a") print v; else printf "%.*f\n", d, v }'; }
status=0
declare -A M WALL CPU
for vmm in corral qemu; do : >"$BENCH_OUT/io-$vmm.log"; done
for ((boot = 1; boot <= BOOTS; boot++)); do
for vmm in corral qemu; do
    log=$BENCH_OUT/io-$vmm-$boot.log
    # The same fresh sparse image for both VMMs.
    rm -f "$IMG"
    case $FORMAT in
        raw) truncate -s "${IMG_MB}M" "$IMG" ;;
        qcow2) qemu-img create -q -f qcow2 "$IMG" "${IMG_MB}M" ;;
        qcow2-alloc) qemu-img create -q -f qcow2 -o preallocation=full "$IMG" "${IMG_MB}M" ;;
    esac || exit 1
    # One receiver per transfer: busybox nc -l serves a single connection.
    ports=
    for ((r = 1; r <= NET_REPS; r++)); do
        p=$(free_port) || { echo "io: no free port"; exit 1; }
        rm -f "$work/net-$r"
        busybox nc -l -p "$p" -e sh -c "wc -c >'$work/net-$r'" &
        pids+=($!)
        ports+=" $p"
    done
    make_initrd "${ports# }" || exit 1
    if [ $vmm = corral ]; then
        timed_run "$log" timeout "$TIMEOUT" "$CORRAL" run --firmware "$DIR/fw_dynamic.bin" \
            --kernel "$DIR/Image" --initrd "$INITRD" --cpus 1 --memory 512M \
            --disk "$IMG,format=$FMT,cache=$CACHE" --net user --cmdline "$CMDLINE"
    else
        timed_run "$log" timeout "$TIMEOUT" qemu-system-riscv64 -M virt -m 512M -smp 1 \
            -nographic -no-reboot -bios "$DIR/fw_dynamic.bin" -kernel "$DIR/Image" \
            -initrd "$INITRD" -append "$CMDLINE" \
            -drive if=none,file="$IMG",format=$FMT,cache=$CACHE,id=d0 -device virtio-blk-device,drive=d0 \
            -netdev user,id=n0 -device virtio-net-device,netdev=n0
    fi
    if ! grep -q 'io-done' "$log" || grep -q 'io-error' "$log"; then
        echo "io: $vmm FAILED (rc $RUN_RC), see $log"
        grep -a 'io-error' "$log"; tail -n 8 "$log"; status=1
    fi
    got=0
    for ((r = 1; r <= NET_REPS; r++)); do
        n=$(cat "$work/net-$r" 2>/dev/null)
        [ "${n:-0}" -eq $((NET_MB << 20)) ] && got=$((got + 1))
    done
    [ $got -eq "$NET_REPS" ] || { echo "io: $vmm: only $got of $NET_REPS transfers arrived whole"; status=1; }

    cat "$log" >>"$BENCH_OUT/io-$vmm.log"
    WALL[$vmm]+=" $RUN_WALL" CPU[$vmm]+=" $RUN_CPU"
done
done
for vmm in corral qemu; do
    log=$BENCH_OUT/io-$vmm.log
    # shellcheck disable=SC2046
    {
        M[$vmm,wr]=$(med $(rate "$log" io-seqwrite 1000))
        M[$vmm,rd]=$(med $(rate "$log" io-seqread 1000))
        M[$vmm,net]=$(med $(rate "$log" io-net 1000))
        for k in r1 r4 w1 w4; do M[$vmm,rand$k]=$(med $(rate "$log" io-rand$k 1e9)); done
        M[$vmm,ddrand]=$(med $(rate "$log" io-ddrand 1e9))
        M[$vmm,spawn]=$(med $(rate "$log" io-spawn 1e9))
    }
    printf 'io: %-6s seq write %s MB/s, seq read %s MB/s, 4k random read %s IOPS (4 jobs %s), 4k random write %s IOPS (4 jobs %s) (busybox dd loop %s/s, spawn-only loop %s/s), net guest->host %s MB/s; process%s s wall%s s cpu\n' \
        "$vmm" "$(fmt "${M[$vmm,wr]}" 1)" "$(fmt "${M[$vmm,rd]}" 1)" "$(fmt "${M[$vmm,randr1]}" 0)" \
        "$(fmt "${M[$vmm,randr4]}" 0)" "$(fmt "${M[$vmm,randw1]}" 0)" "$(fmt "${M[$vmm,randw4]}" 0)" \
        "$(fmt "${M[$vmm,ddrand]}" 1)" "$(fmt "${M[$vmm,spawn]}" 1)" "$(fmt "${M[$vmm,net]}" 1)" \
        "${WALL[$vmm]}" "${CPU[$vmm]}"
done
echo "io: ratios corral/qemu: seq write $(ratio "${M[corral,wr]}" "${M[qemu,wr]}" %.2f)x," \
    "seq read $(ratio "${M[corral,rd]}" "${M[qemu,rd]}" %.2f)x," \
    "4k random read $(ratio "${M[corral,randr1]}" "${M[qemu,randr1]}" %.2f)x" \
    "(4 jobs $(ratio "${M[corral,randr4]}" "${M[qemu,randr4]}" %.2f)x)," \
    "4k random write $(ratio "${M[corral,randw1]}" "${M[qemu,randw1]}" %.2f)x" \
    "(4 jobs $(ratio "${M[corral,randw4]}" "${M[qemu,randw4]}" %.2f)x)" \
    "(dd loop $(ratio "${M[corral,ddrand]}" "${M[qemu,ddrand]}" %.2f)x)," \
    "net $(ratio "${M[corral,net]}" "${M[qemu,net]}" %.2f)x"
exit $status
