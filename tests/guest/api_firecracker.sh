#!/usr/bin/env bash
# Firecracker users' calls, unchanged. Without a guest: a config file with
# the fields of Firecracker's tests/framework/vm_config.json loads with
# --config-file (only the kernel and rootfs paths are ours), and a missing
# drive is named in the API's words; GET /version, Firecracker's answer to
# an unknown path, --log-level/--log-file, and a metrics FIFO nobody
# reads, which must not hold up the API. Then one short boot through Firecracker's getting-started
# sequence (logger, metrics, serial, boot-source, drives, machine-config,
# network-interfaces, entropy, InstanceStart): the console goes to the
# serial file only, the guest sees its disk and the entropy device,
# FlushMetrics writes a line with the counters, GET /vm/config shows every
# resource, PATCH /machine-config after boot is refused with a reason, and
# SendCtrlAltDel ends the process with status 0.
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
api_setup stdout.log
fail() {
    echo "---- stdout/stderr ----"; tail -n 20 "$out" 2>/dev/null
    echo "---- serial ----"; tail -n 20 "$work/serial.log" 2>/dev/null
    echo "FAIL: $*"; exit 1
}
wait_for() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}

# ---- --config-file with Firecracker's vm_config.json fields ----
fixture=$TOP/tests/fixtures/firecracker_vm_config.json
mkdir "$work/fc"
err=$(cd "$work/fc" && "$CORRAL" run --config-file "$fixture" --firmware "$dir/fw_dynamic.bin" \
      --dump-dtb "$work/fc.dtb" 2>&1 </dev/null) && fail "a missing kernel was accepted"
grep -q "kernel_image_path 'Image': No such file" <<<"$err" || fail "missing kernel: '$err'"
ln -s "$dir/Image" "$work/fc/Image"
err=$(cd "$work/fc" && "$CORRAL" run --config-file "$fixture" --firmware "$dir/fw_dynamic.bin" \
      --dump-dtb "$work/fc.dtb" 2>&1 </dev/null) && fail "a missing drive was accepted"
grep -q "drive 'rootfs': path_on_host 'rootfs.ext4': No such file" <<<"$err" ||
    fail "missing drive: '$err'"
truncate -s 16M "$work/fc/rootfs.ext4"
(cd "$work/fc" && "$CORRAL" run --config-file "$fixture" --firmware "$dir/fw_dynamic.bin" \
    --dump-dtb "$work/fc.dtb" </dev/null >"$out" 2>&1) || fail "the vm_config.json fixture did not load"
[ -s "$work/fc.dtb" ] || fail "no device tree from the fixture's machine"

# ---- the API before any boot (the CLI's log flags too) ----
"$CORRAL" run --api-sock "$sock" --log-level debug --log-file "$work/cli.log" </dev/null >"$out" 2>&1 &
pid=$!
wait_for 10 test -S "$sock" || fail "no API socket"
v=$(api_body GET /version)
jq -e '.firecracker_version | type == "string"' <<<"$v" >/dev/null || fail "GET /version: '$v'"
expect_status 400 GET /invalid/path
r=$(api_body GET /invalid/path | jq -r .fault_message)
[ "$r" = "Invalid request method and/or path: GET invalid/path." ] || fail "unknown path: '$r'"
expect_status 400 PUT /vsock '{"guest_cid":2,"uds_path":"/tmp/v.sock"}'
grep -q 'corral: debug: api: PUT /vsock' "$work/cli.log" || fail "--log-file/--log-level: '$(cat "$work/cli.log")'"
grep -q 'api: PUT /vsock' "$out" && fail "--log-file: the line went to stderr too"
mkfifo "$work/metrics.fifo"
t0=$(date +%s.%N)
expect_status 204 PUT /metrics "{\"metrics_path\":\"$work/metrics.fifo\"}"
for i in $(seq 40); do
    expect_status 204 PUT /actions '{"action_type":"FlushMetrics"}'
done
t1=$(date +%s.%N)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
within "$took" 0 20 || fail "40 flushes to a FIFO nobody reads took $took s"
# A VM that never started exits at once: the answer may be cut off by
# the exit (the server stops with the process), so only the status counts.
api PUT /actions '{"action_type":"SendCtrlAltDel"}' >/dev/null
wait "$pid" || fail "the API-only process did not end with status 0"
pid=

# ---- Firecracker's getting-started sequence, one boot ----
truncate -s 8M "$work/data.ext4"
cmd='echo fc-disk $(cat /sys/block/vda/size); echo fc-rng $(cat /sys/class/misc/hw_random/rng_current); echo fc-done; while true; do sleep 1; done'
args="console=ttyS0 reboot=k panic=1 pci=off quiet corral.cmd=$(urlencode "$cmd")"
"$CORRAL" run --api-sock "$sock" </dev/null >"$out" 2>&1 &
pid=$!
wait_for 10 test -S "$sock" || fail "no API socket"
expect_status 204 PUT /logger "{\"log_path\":\"$work/fc.log\",\"level\":\"Info\",\"show_level\":true}"
expect_status 204 PUT /metrics "{\"metrics_path\":\"$work/metrics.json\"}"
expect_status 204 PUT /serial "{\"serial_out_path\":\"$work/serial.log\"}"
expect_status 204 PUT /boot-source "{\"kernel_image_path\":\"$dir/Image\",\"initrd_path\":\"$dir/initramfs.cpio\",\"firmware_path\":\"$dir/fw_dynamic.bin\",\"boot_args\":\"$args\"}"
expect_status 204 PUT /drives/data "{\"drive_id\":\"data\",\"path_on_host\":\"$work/data.ext4\",\"is_root_device\":false,\"is_read_only\":false,\"cache_type\":\"Unsafe\",\"io_engine\":\"Sync\",\"partuuid\":null,\"rate_limiter\":null}"
expect_status 204 PUT /machine-config '{"vcpu_count":1,"mem_size_mib":256,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}'
expect_status 204 PATCH /machine-config '{"mem_size_mib":192}'
expect_status 204 PUT /network-interfaces/eth0 '{"iface_id":"eth0","guest_mac":"06:00:AC:10:00:02","type":"user","mtu":1500}'
expect_status 204 PUT /entropy '{"rate_limiter":null}'
expect_status 204 PUT /actions '{"action_type":"InstanceStart"}'

wait_for 120 grep -q 'fc-done' "$work/serial.log" || fail "the guest never printed fc-done on the serial file"
grep -q 'fc-done' "$out" && fail "console output went to stdout as well as serial_out_path"
grep -q 'fc-disk 16384' "$work/serial.log" || fail "the guest does not see the 8 MiB drive"
grep -q 'fc-rng virtio_rng' "$work/serial.log" || fail "the guest has no virtio-rng from PUT /entropy"

expect_status 204 PUT /actions '{"action_type":"FlushMetrics"}'
tail -n 1 "$work/metrics.json" | jq -e '.instructions.total > 0 and (.utc_timestamp_ms | type == "number")' >/dev/null ||
    fail "the metrics line: '$(tail -c 300 "$work/metrics.json")'"
c=$(api_body GET /vm/config)
jq -e '.entropy and .serial.serial_out_path and .logger.level == "Info" and .metrics.metrics_path
       and ."machine-config".mem_size_mib == 192 and .drives[0].cache_type == "Unsafe"
       and ."boot-source".boot_args' <<<"$c" >/dev/null || fail "GET /vm/config: '$c'"
r=$(api PATCH /machine-config '{"vcpu_count":2}')
[ "${r##* }" = 400 ] && grep -q 'PATCH /machine-config refused' <<<"$r" ||
    fail "PATCH /machine-config after boot: '$r'"
expect_status 400 PUT /entropy '{}'
grep -q 'info: logger: level Info' "$work/fc.log" || fail "nothing in the logger's file: '$(cat "$work/fc.log")'"

expect_status 204 PUT /actions '{"action_type":"SendCtrlAltDel"}'
wait_for 30 bash -c "! kill -0 $pid 2>/dev/null" || fail "still running 30 s after SendCtrlAltDel"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] || fail "exit status $rc after SendCtrlAltDel"
echo "ok: Firecracker's config file, routes and getting-started sequence"
exit 0
