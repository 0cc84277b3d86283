# Shared harness for guest tests: boot Debian's kernel + OpenSBI + our
# initramfs under a VMM, run one command through corral.cmd, capture the
# console. CORRAL_VMM=qemu|corral picks the VMM (default corral); the QEMU
# pipeline check uses the same functions with qemu.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
CORRAL=$BUILD/corral
GUEST_TIMEOUT=${GUEST_TIMEOUT:-300}

# Directory of the cached guest build (fetched and built on first use).
guest_dir() {
    "$TOP/scripts/guest.sh" --print-dir
}

# Percent-encode everything but a safe set, for corral.cmd=.
urlencode() {
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [a-zA-Z0-9._~/=-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

# boot_guest VMM CMD [CPUS] [EXTRA_CMDLINE] -- prints the console output.
# Returns the VMM's exit status (124 on timeout).
boot_guest() {
    local vmm=$1 cmd=$2 cpus=${3:-1} extra=${4:-} dir
    dir=$(guest_dir) || return 1
    local append="console=ttyS0 quiet corral.cmd=$(urlencode "$cmd") $extra"
    case $vmm in
        qemu)
            timeout "$GUEST_TIMEOUT" qemu-system-riscv64 -M virt -m 512M -smp "$cpus" \
                -nographic -no-reboot -bios "$dir/fw_dynamic.bin" -kernel "$dir/Image" \
                -initrd "$dir/initramfs.cpio" -append "$append" </dev/null 2>&1 ;;
        corral)
            timeout "$GUEST_TIMEOUT" "$CORRAL" run --firmware "$dir/fw_dynamic.bin" \
                --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --cpus "$cpus" \
                --memory 512M --cmdline "$append" </dev/null 2>&1 ;;
        *) echo "unknown VMM $vmm" >&2; return 2 ;;
    esac
}

# Assertions: print what failed and exit 1.
expect_in() { # haystack needle description
    if ! grep -qF -- "$2" <<<"$1"; then
        echo "---- output ----"; tail -n 40 <<<"$1"
        echo "FAIL: $3: expected '$2' in the console output"
        exit 1
    fi
}

# ---- interactive sessions: corral with a FIFO as its console input ----
# start_corral LOG ARGS...   sets CORRAL_PID; the console goes to LOG with
# each line prefixed by the host time (seconds.nanoseconds) it arrived.
start_corral() {
    local log=$1; shift
    SESSION_DIR=$(mktemp -d)
    mkfifo "$SESSION_DIR/in"
    : >"$log"
    SESSION_LOG=$log
    (
        "$CORRAL" "$@" <"$SESSION_DIR/in" &
        # Written aside and renamed: a reader that sees the file sees
        # its content (an empty rc once failed a migration test).
        echo $! >"$SESSION_DIR/pid.tmp" && mv "$SESSION_DIR/pid.tmp" "$SESSION_DIR/pid"
        wait $!
        echo $? >"$SESSION_DIR/rc.tmp" && mv "$SESSION_DIR/rc.tmp" "$SESSION_DIR/rc"
    ) 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done >>"$log" &
    SESSION_PIPE_PID=$!
    exec 7>"$SESSION_DIR/in"
    local i
    for ((i = 0; i < 100; i++)); do
        [ -s "$SESSION_DIR/pid" ] && break
        sleep 0.05
    done
    CORRAL_PID=$(cat "$SESSION_DIR/pid")
}
# send TEXT: type TEXT on the console. The write runs in a subshell so
# that a VMM which died takes only the subshell with SIGPIPE, and the test
# says so and shows the VMM's last words instead of ending with status 141.
send() {
    (printf '%s' "$1" >&7) 2>/dev/null && return 0
    echo "---- console (the VMM is gone, status $(cat "$SESSION_DIR/rc" 2>/dev/null || echo '?')) ----"
    tail -n 40 "$SESSION_LOG"
    echo "FAIL: cannot type on the console: the VMM (pid $CORRAL_PID) has exited"
    exit 1
}
# wait_for PATTERN SECONDS: wait until the console log has a line matching.
wait_for() {
    local pat=$1 secs=${2:-120} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE -- "$pat" "$SESSION_LOG" && return 0
        sleep 0.1
    done
    echo "---- console ----"; tail -n 30 "$SESSION_LOG"
    echo "FAIL: timed out after ${secs}s waiting for /$pat/"
    return 1
}
# end_session [TENTHS]: close the console input, wait for corral to exit
# (killing it after the timeout); sets SESSION_RC.
end_session() {
    exec 7>&-
    local i
    for ((i = 0; i < ${1:-300}; i++)); do
        [ -f "$SESSION_DIR/rc" ] && break
        sleep 0.1
    done
    [ -f "$SESSION_DIR/rc" ] || { kill -9 "$CORRAL_PID" 2>/dev/null; sleep 0.2; }
    wait "$SESSION_PIPE_PID" 2>/dev/null
    SESSION_RC=$(cat "$SESSION_DIR/rc" 2>/dev/null || echo 255)
    rm -rf "$SESSION_DIR"
}
# Host CPU seconds used so far by a process (user + system).
proc_cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# A TCP port on 127.0.0.1 that nothing listens on (printed), or failure.
free_port() {
    local p
    for _ in $(seq 50); do
        # Below Linux's ephemeral range (32768-60999): a port some
        # connection uses as its local end cannot be bound, listened on
        # or not (a migration test once got EADDRINUSE at 42806).
        p=$((20000 + RANDOM % 12000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    return 1
}

# work_setup: a scratch directory $work, removed at exit after the VMM
# whose pid is in $pid (if any) is killed; XDG_RUNTIME_DIR (the VM
# registry) inside it.
work_setup() {
    work=$(mktemp -d)
    pid=
    trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
    export XDG_RUNTIME_DIR=$work/run
    mkdir -p "$XDG_RUNTIME_DIR"
}
