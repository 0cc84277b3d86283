# Cluster tests' harness: a private etcd on free loopback ports and host
# agents (corral agent), each with its own state directory, all cleaned up
# on exit. Hosts share this machine's filesystem, so every disk is "shared
# storage". Sourced after lib.sh.
command -v etcd >/dev/null || { echo "FAIL: etcd is not installed (scripts/deps.sh)"; exit 1; }
CL_WORK=$(mktemp -d)
CL_PIDS=()
cl_cleanup() {
    local p
    for p in "${CL_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    # The VMs the agents started (their registry entries name them).
    for f in "$CL_WORK"/*/run/corral/*.json; do
        [ -f "$f" ] && kill -9 "$(jq -r .pid "$f")" 2>/dev/null
    done
    kill -9 "${CL_ETCD_PID:-}" 2>/dev/null
    wait 2>/dev/null
    # CL_KEEP=1 keeps the logs, consoles and etcd's data for a look.
    if [ -n "${CL_KEEP:-}" ]; then echo "kept $CL_WORK"; else rm -rf "$CL_WORK"; fi
}
trap cl_cleanup EXIT
cl_fail() {
    echo "FAIL: $*"
    local f
    for f in "$CL_WORK"/*.log "$CL_WORK"/*/*.log; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
    done
    exit 1
}

# cl_etcd_start: etcd on free ports (again on the same data, after a stop).
cl_etcd_start() {
    CL_ETCD_PORT=${CL_ETCD_PORT:-$(free_port)}
    CL_PEER_PORT=${CL_PEER_PORT:-$(free_port)}
    # CL_ETCD_HOST: where the hosts reach it (the root namespace's underlay
    # address when hosts are namespaces).
    CL_ETCD_HOST=${CL_ETCD_HOST:-127.0.0.1}
    export CORRAL_ETCD=http://$CL_ETCD_HOST:$CL_ETCD_PORT
    etcd --name corral-test --data-dir "$CL_WORK/etcd" \
        --listen-client-urls "$CORRAL_ETCD" --advertise-client-urls "$CORRAL_ETCD" \
        --listen-peer-urls "http://127.0.0.1:$CL_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$CL_PEER_PORT" \
        --initial-cluster "corral-test=http://127.0.0.1:$CL_PEER_PORT" \
        >>"$CL_WORK/etcd.log" 2>&1 &
    CL_ETCD_PID=$!
    local i
    for i in $(seq 100); do
        curl -s --max-time 1 -X POST "$CORRAL_ETCD/v3/kv/range" -d '{"key":"AA=="}' >/dev/null && return 0
        sleep 0.1
    done
    cl_fail "etcd did not start"
}

# cl_agent NAME [MEMORY_MIB]: start (or restart) host NAME's agent.
declare -A CL_AGENT
cl_agent() {
    "$CORRAL" agent --name "$1" --addr 127.0.0.1 --memory "${2:-400}" --lease 10 \
        --state-dir "$CL_WORK/$1" >>"$CL_WORK/$1.log" 2>&1 &
    CL_AGENT[$1]=$!
    CL_PIDS+=($!)
}

# cl_vm_pids HOST: the pids of the VMs host HOST's agent runs.
cl_vm_pids() {
    local f
    for f in "$CL_WORK/$1"/run/corral/*.json; do
        [ -f "$f" ] && jq -r .pid "$f"
    done
}

# cl_live_pids NAME: the live processes, on any host of this test, that
# run the VM NAME (by the registry each VM writes, migrated ones included).
cl_live_pids() {
    local f pid
    for f in "$CL_WORK"/*/run/corral/"$1".json; do
        [ -f "$f" ] || continue
        pid=$(jq -r .pid "$f")
        kill -0 "$pid" 2>/dev/null && echo "$pid"
    done
}

cl() { "$CORRAL" cluster "$@"; }

# cl_wait_hosts PATTERN N: until N hosts matching PATTERN (e.g. h[123])
# are listed by corral cluster hosts (10 s); 0 when they are.
cl_wait_hosts() {
    local i
    for i in $(seq 50); do
        [ "$(cl hosts | grep -c "^$1 ")" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

# cl_where VM: "HOST STATE" from corral cluster ps --json.
cl_where() {
    cl ps --json | jq -r --arg n "$1" '.[] | select(.name == $n) | "\(.host) \(.state)"'
}

# cl_wait VM "HOST STATE" SECONDS: until cl_where says so.
cl_wait() {
    local i want=$2 got
    for i in $(seq $(($3 * 5))); do
        got=$(cl_where "$1")
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    cl_fail "$1: '$got' after $3 s, want '$want'"
}

# cl_console VM: the console file of VM on whichever host runs it now.
cl_console() {
    local h
    h=$(cl_where "$1" | cut -d' ' -f1)
    echo "$CL_WORK/$h/$1.console"
}

# cl_config FILE CMD [DISK]: a VM configuration running CMD in the default
# guest, 128 MiB, one hart, DISK as its virtio-blk drive.
cl_config() {
    local dir disk=${3:-}
    dir=$(guest_dir) || cl_fail "no guest build"
    jq -n --arg k "$dir/Image" --arg i "$dir/initramfs.cpio" --arg fw "$dir/fw_dynamic.bin" \
        --arg a "console=ttyS0 quiet corral.cmd=$(urlencode "$2")" --arg d "$disk" '
        {"boot-source": {"kernel_image_path": $k, "initrd_path": $i, "firmware_path": $fw,
                         "boot_args": $a},
         "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
         "drives": (if $d == "" then [] else [{"drive_id": "rootfs", "path_on_host": $d,
                    "is_root_device": false, "is_read_only": false}] end)}' >"$1"
}

# cl_last_tick FILE: the last "TICK N" a counting guest printed in FILE.
cl_last_tick() { grep -a -o '^TICK [0-9]*' "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2; }

# cl_wait_ticks FILE N: until the console FILE counted past N (60 s).
cl_wait_ticks() {
    local i
    for i in $(seq 300); do
        [ "$(cl_last_tick "$1")" -gt "$2" ] 2>/dev/null && return 0
        sleep 0.2
    done
    cl_fail "$1: no TICK past $2: $(tail -c 300 "$1" 2>/dev/null)"
}
