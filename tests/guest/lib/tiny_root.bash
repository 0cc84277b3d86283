# A tiny ext4 root filesystem for tests of the initramfs's switch to a
# root disk: the guest's busybox and a /sbin/init that reports how / is
# mounted (ROOT-OPTS ..., ROOT-WRITABLE or ROOT-READONLY), whether /proc
# and /sys work (PROC-OK, SYS-OK), then powers off.
# tiny_root_setup: the guest directory in $dir, a scratch $work (lib.sh's
# work_setup), skip without mkfs.ext4, and fail MESSAGE showing the console.
tiny_root_setup() {
    dir=$(guest_dir) || exit 1
    work_setup
    command -v mkfs.ext4 >/dev/null || { echo "mkfs.ext4 missing (e2fsprogs)"; exit 77; }
}
fail() { echo "---- console ----"; tail -n 25 "$work/out" 2>/dev/null; echo "FAIL: $*"; exit 1; }

# tiny_root IMAGE GUEST_DIR [proc-symlink]: 0, or 1 with a line on stdout.
tiny_root() {
    local img=$1 gdir=$2 root
    root=$(mktemp -d "${img}.root.XXXXXX")
    mkdir -p "$root"/{bin,sbin,sys,dev}
    if [ "${3:-}" = proc-symlink ]; then
        ln -s /proc/self/fd/nonexistent "$root/proc"
    else
        mkdir "$root/proc"
    fi
    (cd "$root" && cpio -id --quiet bin/busybox <"$gdir/initramfs.cpio") ||
        { echo "no busybox in $gdir/initramfs.cpio"; return 1; }
    cat >"$root/sbin/init" <<'EOT'
#!/bin/busybox sh
b=/bin/busybox
echo "ROOT-OPTS $($b awk '$2 == "/" { print $4 }' /proc/mounts)"
if $b touch /written 2>/dev/null; then echo ROOT-WRITABLE; else echo ROOT-READONLY; fi
[ -r /proc/uptime ] && echo "PROC-OK $($b cut -d' ' -f1 /proc/uptime)"
[ -d /sys/block/vda ] && echo SYS-OK
$b sync
$b poweroff -f
EOT
    chmod 755 "$root/sbin/init"
    truncate -s 16M "$img"
    mkfs.ext4 -q -F -d "$root" "$img" >/dev/null 2>&1 || { echo "mkfs.ext4 -d failed"; return 1; }
    rm -rf "$root"
}

# tiny_root_boot DISK_ARG OUT GUEST_DIR: boot it as root=/dev/vda with `ro`;
# the console (carriage returns dropped) in OUT; corral's exit status.
tiny_root_boot() {
    local rc
    timeout 120 "$CORRAL" run --firmware "$3/fw_dynamic.bin" --kernel "$3/Image" \
        --initrd "$3/initramfs.cpio" --disk "$1" \
        --cmdline "console=ttyS0 quiet root=/dev/vda ro" </dev/null >"$2" 2>&1
    rc=$?
    sed -i 's/\r$//' "$2"
    return $rc
}

# tiny_root_read_only OUT: the init found / read-only, /proc and /sys there;
# else one line saying what was wrong, and failure.
tiny_root_read_only() {
    grep -q 'could not mount' "$1" && { echo "the initramfs could not mount the root"; return 1; }
    grep -qE '^ROOT-OPTS ro(,|$)' "$1" || { echo "/ is not mounted read-only ($(grep ROOT-OPTS "$1"))"; return 1; }
    grep -qx 'ROOT-READONLY' "$1" || { echo "/ was writable"; return 1; }
    grep -q '^PROC-OK ' "$1" || { echo "/proc does not work on the new root"; return 1; }
    grep -qx 'SYS-OK' "$1" || { echo "/sys does not work on the new root"; return 1; }
}
