#!/usr/bin/env bash
# MMDS across a snapshot, with Firecracker's semantics: the configuration
# (version, address, interfaces) is kept, the data store is not. A VM from
# a config file with MMDS V1 on a user-mode eth0 serves a value; after
# snapshot create -> kill -9 -> restore in a new process, GET /vm/config
# still has the mmds-config, GET /mmds is empty and the guest's read finds
# nothing; after PUT /mmds on the restored VM the guest reads the new
# value at the same address without reconfiguring anything. Drive and
# interface ids are kept too (GET /vm/config, --net-override by iface_id).
source "$(dirname "$0")/lib/lib.sh"
source "$(dirname "$0")/lib/api.bash"
api_setup console0.log
fail() {
    echo "---- console ----"; tail -n 30 "${SESSION_LOG:-$out}"
    echo "FAIL: $*"; exit 1
}
trap '[ -n "${CORRAL_PID:-}" ] && kill -9 "$CORRAL_PID" 2>/dev/null; rm -rf "$work"' EXIT

truncate -s 4M "$work/scratch.raw"
cat >"$work/vm.json" <<EOF
{"boot-source": {"kernel_image_path": "$dir/Image", "initrd_path": "$dir/initramfs.cpio",
                 "firmware_path": "$dir/fw_dynamic.bin", "boot_args": "console=ttyS0 quiet"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
 "drives": [{"drive_id": "scratch", "path_on_host": "$work/scratch.raw", "is_root_device": false,
             "is_read_only": false}],
 "network-interfaces": [{"iface_id": "eth0", "type": "user"}],
 "mmds-config": {"version": "V1", "network_interfaces": ["eth0"]}}
EOF
start_corral "$out" run --config-file "$work/vm.json" --api-sock "$sock"
wait_for 'built-in commands' 240 || fail "the guest did not boot"
expect_status 204 PUT /mmds '{"latest":{"meta-data":{"ami-id":"ami-before"}}}'
send $'ip route add 169.254.169.254 dev eth0\n'
# read TAG: the guest fetches ami-id ("none" when MMDS has no such key).
read_ami() {
    send "printf 'A%s %s\\n' MI-$1 \$(wget -q -O - http://169.254.169.254/latest/meta-data/ami-id || echo none)"$'\n'
    wait_for "AMI-$1 " 60 || fail "$1: the guest's wget did not finish"
    grep -a -o "AMI-$1 .*" "$SESSION_LOG" | tail -n 1 | tr -d '\r' | cut -d' ' -f2
}
got=$(read_ami before)
[ "$got" = ami-before ] || fail "before the snapshot the guest read '$got'"
echo "ok: MMDS V1 answers before the snapshot"

msg=$("$CORRAL" snapshot create --sock "$sock" --dir "$work/snap" 2>&1) || fail "snapshot create: $msg"
kill -9 "$CORRAL_PID"
end_session 50
# The ids are kept: an override names the interface by its iface_id.
msg=$("$CORRAL" restore "$work/snap" --net-override nosuch=tap9 </dev/null 2>&1) &&
    fail "a restore with an override of no interface started"
grep -q "has no interface 'nosuch' (it has eth0)" <<<"$msg" || fail "bad override: $msg"
msg=$("$CORRAL" restore "$work/snap" --net-override eth0=tap9 </dev/null 2>&1) &&
    fail "a restore overriding a user-mode interface started"
grep -q "'eth0' is user-mode networking" <<<"$msg" || fail "override by iface_id: $msg"
sock=$work/api1.sock
start_corral "$work/console1.log" restore "$work/snap" --api-sock "$sock"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
cfg=$(api_body GET /vm/config)
[ "$(jq -c '."mmds-config" | [.version, .network_interfaces, .ipv4_address]' <<<"$cfg")" = \
  '["V1",["eth0"],"169.254.169.254"]' ] || fail "the restored VM's mmds-config: $(jq -c '."mmds-config"' <<<"$cfg")"
[ "$(jq -c '[.drives[0].drive_id, ."network-interfaces"[0].iface_id]' <<<"$cfg")" = \
  '["scratch","eth0"]' ] || fail "the restored VM's device ids: $(jq -c '[.drives, ."network-interfaces"]' <<<"$cfg")"
[ "$(api_body GET /mmds)" = '{}' ] || fail "the store was carried by the snapshot: $(api_body GET /mmds)"
got=$(read_ami restored-empty)
[ "$got" = none ] || fail "the restored guest read '$got' from an empty store"
expect_status 204 PUT /mmds '{"latest":{"meta-data":{"ami-id":"ami-after"}}}'
got=$(read_ami after)
[ "$got" = ami-after ] || fail "after PUT /mmds on the restored VM the guest read '$got'"
echo "ok: the restored VM keeps its MMDS configuration, not its store, and serves a new PUT"
send $'poweroff\n'
end_session 300
[ "$SESSION_RC" = 0 ] || fail "poweroff after the restore: status $SESSION_RC"
CORRAL_PID=
echo "PASS: MMDS configuration kept across a snapshot, the store not"
