#!/usr/bin/env bash
# Issue 14: --jail DIR --uid N --gid N. The default guest boots inside
# mount and PID namespaces rooted at DIR, as user nobody: it runs its
# command, the API answers through the bound socket directory, the VMM's
# /proc/PID/root is not the host's, it is PID 1 of its namespace, runs
# as uid/gid 65534 with its seccomp filters, and sees none of the host's
# files; SIGTERM to the waiter reaches it. No mount leaks to the host.
# A missing DIR and a caller that is not root get one clear line.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: --jail needs root"; exit 77; }
dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }
work_setup
fail() { echo "---- stderr ----"; cat "$work/err" 2>/dev/null; echo "---- console ----"
         tail -n 20 "$work/out" 2>/dev/null; echo "FAIL: $*"; exit 1; }

# Clear errors first.
rc=0
"$CORRAL" run --test "$BUILD/isa/rv64i.elf" --jail "$work/none" 2>"$work/err" || rc=$?
[ "$rc" = 1 ] || fail "missing DIR: exit $rc, want 1"
grep -q "^corral: error: --jail $work/none: No such file or directory$" "$work/err" ||
    fail "missing DIR: no clear line"
mkdir -p "$work/jail"
chmod 755 "$work"
riscv64-unknown-elf-gcc -march=rv64g -mabi=lp64d -nostdlib -nostartfiles -static \
    -Wl,-N,--no-warn-rwx-segments -Ttext=0x80000000 -o "$work/spin.elf" \
    "$TOP/tests/guest/progs/spin.S" || fail "cannot build spin.elf"
rc=0
setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$CORRAL" run --test "$BUILD/isa/rv64i.elf" --jail "$work/jail" 2>"$work/err" || rc=$?
[ "$rc" = 1 ] || fail "not root: exit $rc, want 1"
grep -q "^corral: error: --jail: needs root" "$work/err" || fail "not root: no clear line"
echo "errors: missing DIR and non-root caller refused with one line each"

# The guest, jailed, as nobody. The socket's directory must be the
# user's to create the socket in.
mkdir -m 777 "$work/sock"
sock=$work/sock/api.sock
cmd='echo jailed-ok; while true; do sleep 1; done'
: >"$work/out"
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --memory 256M --api-sock "$sock" \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" \
    --jail "$work/jail" --uid 65534 --gid 65534 </dev/null >"$work/out" 2>"$work/err" &
pid=$!
for ((i = 0; i < 1200; i++)); do grep -q jailed-ok "$work/out" && break; sleep 0.1; done
grep -q jailed-ok "$work/out" || fail "the jailed guest did not run its command"
curl -s --max-time 20 --unix-socket "$sock" http://localhost/ | grep -q '"state":"Running"' ||
    fail "GET / through the jail's socket did not answer Running"

vmm=$(cat /proc/$pid/task/$pid/children 2>/dev/null | awk '{print $1}')
[ -n "$vmm" ] || fail "no jailed child under the waiter $pid"
# readlink shows "/" for a root in another mount namespace: compare the
# directories themselves (device and inode).
root=$(stat -L -c %d:%i /proc/$vmm/root)
echo "waiter $pid, jailed VMM $vmm: root $root, host / $(stat -c %d:%i /)," \
    "DIR $(stat -c %d:%i "$work/jail")"
[ "$root" != "$(stat -c %d:%i /)" ] || fail "/proc/$vmm/root is the host's root"
[ "$root" = "$(stat -c %d:%i "$work/jail")" ] || fail "/proc/$vmm/root is not DIR"
st=/proc/$vmm/status
awk '/^NSpid:/ { exit !($NF == 1) }' "$st" || fail "not PID 1 of its namespace: $(grep NSpid "$st")"
awk '/^Uid:/ { exit !($2 == 65534 && $3 == 65534) }' "$st" || fail "uid: $(grep Uid "$st")"
awk '/^Gid:/ { exit !($2 == 65534 && $3 == 65534) }' "$st" || fail "gid: $(grep Gid "$st")"
awk '/^Groups:/ { exit !(NF == 1) }' "$st" || fail "groups kept: $(grep Groups "$st")"
awk '/^Seccomp:/ { exit !($2 == 2) }' "$st" || fail "no seccomp filter in the jail"
awk '/^NoNewPrivs:/ { exit !($2 == 1) }' "$st" || fail "no_new_privs not set"
# What it can see: the bound files, not the host's.
[ -e "/proc/$vmm/root$dir/Image" ] || fail "the kernel is not inside the jail"
[ -e "/proc/$vmm/root/etc/passwd" ] && fail "the host's /etc/passwd is visible in the jail"
[ -e "/proc/$vmm/root$TOP/Makefile" ] && fail "the source tree is visible in the jail"
grep -q " $work/jail" /proc/self/mountinfo && fail "a jail mount leaked into the host's namespace"
echo "jailed: PID 1, uid/gid 65534, seccomp on, only the VM's files"

kill -TERM "$pid"
rc=0
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" || rc=$?
pid=
[ "$rc" = 143 ] || fail "SIGTERM to the waiter: exit $rc, want 143 (forwarded to the VMM)"
kill -0 "$vmm" 2>/dev/null && fail "the jailed VMM outlived its waiter"
echo "SIGTERM forwarded: exit 143"

# kill -9 of the waiter takes the jailed VMM with it (after the drop to
# nobody, which clears a parent-death signal set too early).
"$CORRAL" run --test "$work/spin.elf" --jail "$work/jail" --uid 65534 --gid 65534 \
    </dev/null >/dev/null 2>"$work/err" &
pid=$!
for ((i = 0; i < 100; i++)); do
    vmm=$(cat /proc/$pid/task/$pid/children 2>/dev/null | awk '{print $1}')
    [ -n "$vmm" ] && awk '/^Uid:/ { exit !($2 == 65534) }' /proc/$vmm/status 2>/dev/null && break
    sleep 0.1
done
[ -n "$vmm" ] || fail "no jailed child for the spin program"
sleep 0.5
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
for ((i = 0; i < 50; i++)); do kill -0 "$vmm" 2>/dev/null || break; sleep 0.1; done
kill -0 "$vmm" 2>/dev/null && { kill -9 "$vmm"; fail "the jailed VMM outlived a killed waiter"; }
echo "kill -9 of the waiter: the jailed VMM died too"
echo PASS
