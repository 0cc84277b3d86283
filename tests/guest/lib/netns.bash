# Hosts as network namespaces, for tests of VMs on several "hosts" on one
# machine (needs root). Source it, then:
#
#   hosts_up N [VNI]   N hosts: namespaces $(host_ns 1).., each with
#                      - an underlay interface ul0, a veth to the bridge
#                        $NETNS_UNDERLAY_BR in the root namespace, address
#                        $(host_addr I) = 10.77.K.(10+I)/24, where the root
#                        namespace is $NETNS_ROOT_ADDR = 10.77.K.1 (K is 0
#                        for the first run on the machine, see below);
#                      - a bridge br0 (up, no address) with a VXLAN port
#                        vx0 (VNI, default 42) that reaches every other
#                        host's vx0 over the underlay (head-end
#                        replication), so TAPs on br0 in any host share one
#                        L2 segment: corral run --net tap=NAME,bridge=br0
#                        inside a host puts a VM on it.
#   in_host I CMD...   run CMD in host I's namespace. (A shell function:
#                      for a background job whose $! is CMD itself, write
#                      ip netns exec "$(host_ns I)" CMD... &)
#   host_ns I          the namespace's name;  host_addr I  its underlay IP.
#   hosts_down         kill what runs in the namespaces, remove them, the
#                      veths and the root bridge. hosts_up arranges for it
#                      at exit (after the EXIT trap already set, which may
#                      stop its VMs first; a trap set later must call
#                      hosts_down itself).
#
# Two runs at once get different K (a lock directory per K under
# $NETNS_LOCK_DIR), hence different names and subnets; a run killed with
# -9 leaves its K locked by a dead PID, and the next hosts_up that meets it
# removes what it left. MTUs: the underlay carries 1550 bytes so the
# overlay (VXLAN adds 50) keeps the guests' 1500.
NETNS_LOCK_DIR=${NETNS_LOCK_DIR:-/run/corral-netns}
NETNS_K=
NETNS_N=0
NETNS_VNI=42
NETNS_UNDERLAY_BR=
NETNS_ROOT_ADDR=

host_ns() { printf 'corral-h%s-%s' "$1" "$NETNS_K"; }
host_addr() { printf '10.77.%s.%s' "$NETNS_K" $((10 + $1)); }
in_host() {
    local i=$1; shift
    ip netns exec "$(host_ns "$i")" "$@"
}

# What a run with index $1 may have left: its namespaces (and what runs in
# them), its veths and root bridge. Quiet when there is nothing.
_netns_remove() {
    local k=$1 ns p
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E "^corral-h[0-9]+-$k\$"); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$p" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    for p in $(ip -o link show 2>/dev/null | sed -n "s/^[0-9]*: \(crl$k-h[0-9]*\)@.*/\1/p"); do
        ip link del "$p" 2>/dev/null
    done
    ip link del "crlu$k" 2>/dev/null
    return 0
}

# Take the first free index: mkdir is atomic; a lock whose owner is dead
# is taken over after removing what its run left.
_netns_take_index() {
    local k owner
    mkdir -p "$NETNS_LOCK_DIR" || return 1
    for ((k = 0; k < 250; k++)); do
        if mkdir "$NETNS_LOCK_DIR/$k" 2>/dev/null; then
            echo $$ >"$NETNS_LOCK_DIR/$k/pid"
            NETNS_K=$k
            _netns_remove "$k"
            return 0
        fi
        owner=$(cat "$NETNS_LOCK_DIR/$k/pid" 2>/dev/null)
        if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
            _netns_remove "$k"
            rm -rf "$NETNS_LOCK_DIR/$k"
            ((k--)) # try the same index again, through mkdir
        fi
    done
    echo "netns: no free index in $NETNS_LOCK_DIR" >&2
    return 1
}

_netns_fail() {
    echo "netns: $*" >&2
    hosts_down
    return 1
}

hosts_up() {
    local n=$1 vni=${2:-42} i j k br
    [ "$(id -u)" = 0 ] || { echo "netns: hosts_up needs root" >&2; return 1; }
    [ -z "$NETNS_K" ] || { echo "netns: hosts are up already (hosts_down first)" >&2; return 1; }
    _netns_take_index || return 1
    k=$NETNS_K
    NETNS_N=$n
    NETNS_VNI=$vni
    NETNS_UNDERLAY_BR=crlu$k
    NETNS_ROOT_ADDR=10.77.$k.1
    _netns_arm_trap
    br=$NETNS_UNDERLAY_BR
    ip link add "$br" mtu 1550 type bridge || _netns_fail "cannot create bridge $br" || return 1
    ip addr add "$NETNS_ROOT_ADDR/24" dev "$br" && ip link set "$br" up ||
        _netns_fail "cannot configure $br" || return 1
    for ((i = 1; i <= n; i++)); do
        local ns
        ns=$(host_ns "$i")
        ip netns add "$ns" || _netns_fail "cannot create namespace $ns" || return 1
        in_host "$i" ip link set lo up
        ip link add "crl$k-h$i" mtu 1550 type veth peer name ul0 mtu 1550 netns "$ns" ||
            _netns_fail "cannot create the veth of host $i" || return 1
        ip link set "crl$k-h$i" master "$br" up &&
            in_host "$i" ip addr add "$(host_addr "$i")/24" dev ul0 &&
            in_host "$i" ip link set ul0 up &&
            in_host "$i" ip link add br0 type bridge &&
            in_host "$i" ip link add vx0 mtu 1500 type vxlan id "$vni" dstport 4789 \
                local "$(host_addr "$i")" dev ul0 &&
            in_host "$i" ip link set vx0 master br0 up &&
            in_host "$i" ip link set br0 up ||
            _netns_fail "cannot configure host $i" || return 1
    done
    # Flooded frames (broadcast, unknown unicast) go to every other host;
    # the VXLAN device learns where each MAC lives from what arrives.
    for ((i = 1; i <= n; i++)); do
        for ((j = 1; j <= n; j++)); do
            [ "$i" = "$j" ] && continue
            in_host "$i" bridge fdb append 00:00:00:00:00:00 dev vx0 dst "$(host_addr "$j")" ||
                _netns_fail "cannot point host $i's overlay at host $j" || return 1
        done
    done
    # The underlay answers before anyone relies on it.
    for ((i = 1; i <= n; i++)); do
        in_host "$i" busybox ping -c 1 -W 2 "$NETNS_ROOT_ADDR" >/dev/null ||
            _netns_fail "host $i cannot reach $NETNS_ROOT_ADDR over the underlay" || return 1
    done
    return 0
}

hosts_down() {
    [ -n "$NETNS_K" ] || return 0
    _netns_remove "$NETNS_K"
    rm -rf "${NETNS_LOCK_DIR:?}/$NETNS_K"
    NETNS_K=
    NETNS_N=0
    return 0
}

# hosts_down at exit, then whatever EXIT trap was there; INT and TERM end
# the script through that exit (unless the test traps them itself).
_netns_arm_trap() {
    local prev
    prev=$(trap -p EXIT)
    if [ -n "$prev" ]; then
        eval "_netns_prev=( $prev )"
        _NETNS_PREV_EXIT=${_netns_prev[2]}
    else
        _NETNS_PREV_EXIT=
    fi
    trap '_netns_on_exit' EXIT
    [ -n "$(trap -p INT)" ] || trap 'exit 130' INT
    [ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
}
_netns_on_exit() {
    local rc=$?
    eval "${_NETNS_PREV_EXIT:-:}"
    hosts_down
    return $rc
}
