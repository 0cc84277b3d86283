#!/bin/sh
# The guest half of bench/io (busybox sh, started from the initramfs through
# corral.cmd). run.sh fills in the settings below and appends this file to
# the initramfs as /bench-io.sh, with /bench-iotool (iotool.c) next to it
# when riscv64-linux-gnu-gcc could build it. Prints tagged lines that
# run.sh parses (times in nanoseconds):
#   io-seqwrite BYTES NS   io-seqread BYTES NS      one per repetition
#   io-ddrand N NS         io-spawn N NS            busybox dd loops
#   io-randr1 N NS  io-randr4 N NS                  bench-iotool randread, 1 and 4 jobs
#   io-randw1 N NS  io-randw4 N NS                  bench-iotool randwrite, 1 and 4 jobs
#   io-net BYTES NS                                 one per repetition
#   io-error ...
SEQ_MB=@SEQ_MB@ REPS=@REPS@ RAND_SECS=@RAND_SECS@ NET_MB=@NET_MB@ NET_PORTS="@NET_PORTS@"
dev=/dev/vda
blocks=$((SEQ_MB * 256))

# A clock in nanoseconds into $now: iotool's, else /proc/uptime (10 ms
# steps; busybox date has no sub-second format).
tick() {
    if [ -x /bench-iotool ]; then
        now=$(/bench-iotool now)
    else
        read -r up _ < /proc/uptime
        now=$(( (${up%.*} * 100 + 1${up#*.} - 100) * 10000000 ))
    fi
}

# timed TAG BYTES CMD...: runs CMD, prints "TAG BYTES NS".
timed() {
    tag=$1 bytes=$2; shift 2
    tick; t0=$now
    "$@" 2>/tmp/err >/dev/null || { echo "io-error: $tag: $(cat /tmp/err)"; return 1; }
    tick
    echo "$tag $bytes $((now - t0))"
}

# loop TAG SECS DD-ARGS...: `dd ... bs=4k count=1 skip=RANDOM-BLOCK` again
# and again for SECS seconds. busybox has no way to read at many offsets in
# one process, so each read pays for a fork and exec.
loop() {
    tag=$1 secs=$2; shift 2
    n=0; tick; t0=$now; end=$((now + secs * 1000000000))
    while [ "$now" -lt "$end" ]; do
        # shellcheck disable=SC3028 # busybox ash has $RANDOM (15 bits)
        dd "$@" bs=4k count=1 skip=$(( (RANDOM * 32768 + RANDOM) % blocks )) 2>/dev/null ||
            { echo "io-error: $tag: dd failed"; return 1; }
        n=$((n + 1))
        tick
    done
    echo "$tag $n $((now - t0))"
}

r=1
while [ $r -le "$REPS" ]; do
    timed io-seqwrite $((SEQ_MB << 20)) dd if=/dev/zero of=$dev bs=1M count="$SEQ_MB" oflag=direct
    timed io-seqread $((SEQ_MB << 20)) dd if=$dev of=/dev/null bs=1M count="$SEQ_MB" iflag=direct
    r=$((r + 1))
done
loop io-ddrand "$RAND_SECS" if=$dev of=/dev/null iflag=direct
# The same loop with nothing to read: the spawn cost each dd read also pays.
loop io-spawn "$RAND_SECS" if=/dev/zero of=/dev/null
if [ -x /bench-iotool ]; then
    for jobs in 1 4; do
        /bench-iotool randread $dev $blocks "$RAND_SECS" $jobs || echo "io-error: iotool randread failed"
        /bench-iotool randwrite $dev $blocks "$RAND_SECS" $jobs || echo "io-error: iotool randwrite failed"
    done
fi

# Guest -> host through the slirp gateway, one port (a fresh receiver on
# the host) per repetition. The sender half-closes at the end of its data;
# the receiver counts the bytes and closes, which ends the sender. iotool
# writes 64 KiB at a time; busybox nc's 1 KiB writes would measure nc.
for port in $NET_PORTS; do
    if [ -x /bench-iotool ]; then
        timed io-net $((NET_MB << 20)) /bench-iotool send 10.0.2.2 "$port" "$NET_MB"
    else
        timed io-net $((NET_MB << 20)) sh -c \
            "dd if=/dev/zero bs=64k count=$((NET_MB * 16)) 2>/dev/null | nc 10.0.2.2 $port"
    fi
done
echo io-done
