#!/usr/bin/env bash
# corral image debian: a bootable Debian riscv64 system as a qcow2 image.
#
# Stages, each finished one marked in $CACHE/debian/SUITE/stages/ (a rerun
# after an interruption starts after the last finished stage):
#   foreign       debootstrap --foreign on the host (downloads every .deb)
#   image         an ext4 raw disk made from that tree (mkfs.ext4 -d)
#   second-stage  Corral boots its default kernel + initramfs on the disk and
#                 runs /debootstrap/debootstrap --second-stage in a chroot,
#                 then /corral/configure.sh (Debian's kernel package is among
#                 the packages, so its modules and initrd are made in the
#                 guest; serial getty, DHCP, ssh, root login)
#   kernel        Debian's kernel and initrd copied out of the disk (debugfs)
#   qcow2         the disk as base.qcow2 (qemu-img convert)
# OUT is then a copy of base.qcow2 (temp file + rename). `corral up --debian`
# boots base.qcow2 under a fresh overlay.
#
# CORRAL_DEBIAN_STUB=1 replaces each stage's work by a stub that makes its
# outputs (tests of the stage and resume logic); CORRAL_DEBIAN_STUB_FAIL=NAME
# makes stage NAME fail as an interruption would.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAGES=(foreign image second-stage kernel qcow2)

usage() {
    cat <<'EOT'
usage: corral image debian [--size SIZE] [--suite SUITE] [--mirror URL]
                           [--ssh-key FILE.pub] [--rebuild] OUT.qcow2

Build a bootable Debian riscv64 system from Debian's archive: debootstrap's
first stage on the host, its second stage inside Corral, with Debian's own
kernel (linux-image-riscv64), a serial getty on ttyS0, DHCP on the virtio
NIC, and openssh-server. Takes 15 to 30 minutes; progress is shown.

  --size SIZE        disk size, e.g. 8G (default 8G, at least 2G)
  --suite SUITE      trixie (default), forky or sid
  --mirror URL       Debian mirror (default http://deb.debian.org/debian,
                     or CORRAL_DEBIAN_MIRROR)
  --ssh-key FILE     authorize this public key for root (default: the
                     first ~/.ssh/id_*.pub; without one, root may log in
                     over SSH with the generated password)
  --rebuild          forget the cached build of this suite and start over

The build is cached in $(scripts/guest.sh --print-dir)/../../debian/SUITE
(~/.cache/corral/debian/SUITE): base.qcow2, Image, initrd.img and
root-password. An interrupted build resumes after its last finished stage.
Boot it with 'corral up --debian' (a fresh overlay each time, SSH on a
forwarded port), or keep its state with
'corral run --disk OUT.qcow2,format=qcow2 ...'.
EOT
}

die() { echo "corral image: error: $*" >&2; exit 2; }
fail() { echo "corral image: error: $*" >&2; exit 1; }
say() { echo "corral image: $*" >&2; }

# ---- arguments: every error is one line naming the flag ----
SIZE=8G SUITE=trixie MIRROR=${CORRAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEY= OUT= REBUILD=0
[ "${1:-}" = debian ] && shift
# bench/debian/run.sh: the second stage alone on a copy of DISK, with
# CORRAL_DEBIAN_RUNNER=corral|qemu; the log goes to DISK.log.
if [ "${1:-}" = --bench-second-stage ]; then
    BENCH_DISK=${2:?--bench-second-stage DISK}
    shift 2
fi
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --size|--suite|--mirror|--ssh-key)
            [ $# -ge 2 ] && [ -n "$2" ] || die "option $1 needs a value"
            case $1 in
                --size) SIZE=$2 ;; --suite) SUITE=$2 ;; --mirror) MIRROR=$2 ;; --ssh-key) KEY=$2 ;;
            esac
            shift 2 ;;
        --size=*|--suite=*|--mirror=*|--ssh-key=*)
            v=${1#*=}
            case $1 in
                --size=*) SIZE=$v ;; --suite=*) SUITE=$v ;; --mirror=*) MIRROR=$v ;; --ssh-key=*) KEY=$v ;;
            esac
            shift ;;
        --rebuild) REBUILD=1; shift ;;
        -*) die "unknown option '$1' (see 'corral image --help')" ;;
        *) [ -z "$OUT" ] || die "unexpected argument '$1': one OUT.qcow2 only"
           OUT=$1; shift ;;
    esac
done
if [ -z "${BENCH_DISK:-}" ]; then
    [ -n "$OUT" ] || die "no output file: corral image debian [options] OUT.qcow2"
    case $OUT in */) die "OUT $OUT: is a directory name, not an image file" ;; esac
    [ -d "$OUT" ] && die "OUT $OUT: is a directory"
    outdir=$(dirname -- "$OUT")
    [ -d "$outdir" ] || die "OUT $OUT: directory $outdir does not exist"
    [ -w "$outdir" ] || die "OUT $OUT: directory $outdir is not writable"
fi

# SIZE: N[K|M|G|T] (bytes without a unit is refused: too easy to mistype).
if [[ $SIZE =~ ^([0-9]{1,6})([KkMmGgTt])i?B?$ ]]; then
    n=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in
        [Kk]) mib=$((n / 1024)) ;; [Mm]) mib=$n ;; [Gg]) mib=$((n * 1024)) ;; [Tt]) mib=$((n * 1024 * 1024)) ;;
    esac
else
    die "--size $SIZE: not a size (e.g. 8G, 4096M)"
fi
[ "$mib" -ge 2048 ] || die "--size $SIZE: too small, at least 2G (Debian with its kernel needs ~1.5G)"
[ "$mib" -le $((16 * 1024 * 1024)) ] || die "--size $SIZE: too large, at most 16T"
case $SUITE in
    trixie|forky|sid) ;;
    bookworm|bullseye|buster)
        die "--suite $SUITE: Debian has riscv64 as a release architecture from trixie on; $SUITE has none on deb.debian.org (use trixie, forky or sid)" ;;
    *) die "--suite $SUITE: unknown suite (trixie, forky or sid)" ;;
esac
[[ $MIRROR =~ ^(https?|file)://[^[:space:]]+$ ]] || die "--mirror $MIRROR: not an http(s):// or file:// URL"
MIRROR=${MIRROR%/}
if [ -n "$KEY" ]; then
    [ -r "$KEY" ] || die "--ssh-key $KEY: not a readable file"
    grep -qE '^(ssh-|ecdsa-|sk-)[^ ]+ [A-Za-z0-9+/=]+' "$KEY" || die "--ssh-key $KEY: not an OpenSSH public key"
else
    for k in "$HOME"/.ssh/id_*.pub; do
        [ -r "$k" ] && { KEY=$k; break; }
    done
fi

STUB=${CORRAL_DEBIAN_STUB:-0}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/corral
D=$CACHE/debian/$SUITE
CORRAL=${CORRAL_BIN:-$SRC/build/corral}

# ---- tools (the stub needs only qemu-img) ----
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found: install $2 (scripts/deps.sh does)"; }
need qemu-img qemu-utils
if [ "$STUB" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || fail "debootstrap and the device nodes of the new system need root: run as root"
    need debootstrap debootstrap
    need mkfs.ext4 e2fsprogs
    need debugfs e2fsprogs
    [ -x "$CORRAL" ] || fail "no corral binary at $CORRAL (run make, or set CORRAL_BIN)"
fi

mkdir -p "$D/stages"
exec 9>"$D/.lock"
flock -n 9 || fail "another build of $SUITE holds $D/.lock"
if [ "$REBUILD" = 1 ]; then
    say "--rebuild: removing the cached $SUITE build in $D"
    find "$D" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
    mkdir -p "$D/stages"
fi
# The packages beyond debootstrap's base. dbus, for systemd-logind: it is
# what turns the power button (Corral's Shutdown, ctl shutdown) into an
# orderly poweroff; without it the button goes unheard and Shutdown ends
# in the emergency SysRq path.
INCLUDE=linux-image-riscv64,initramfs-tools,openssh-server,dhcpcd-base,ifupdown,systemd-sysv,ca-certificates,dbus,libpam-systemd
# What a finished stage was made with: a different size, mirror or package
# list must not resume on top of it.
PARAMS="size $mib M
packages $INCLUDE
mirror $MIRROR
key $( [ -n "$KEY" ] && cut -d' ' -f1-2 "$KEY" | sha256sum | cut -c1-16 || echo none)"
if [ -f "$D/PARAMS" ] && [ "$(cat "$D/PARAMS")" != "$PARAMS" ]; then
    if ls "$D/stages/"*.done >/dev/null 2>&1; then
        fail "the cached $SUITE build in $D was made with other options ($(tr '\n' ' ' <"$D/PARAMS")); pass --rebuild to start over with these"
    fi
fi
echo "$PARAMS" >"$D/PARAMS"
rm -rf "$D"/*.tmp "$D"/.tmp.*

done_mark() { : >"$D/stages/$1.done"; }
is_done() { [ -f "$D/stages/$1.done" ]; }
stub_fail() { [ "${CORRAL_DEBIAN_STUB_FAIL:-}" = "$1" ] && fail "stage $1: failed (CORRAL_DEBIAN_STUB_FAIL)"; return 0; }

# Progress on one line on a terminal, a line per step otherwise.
TTY=0
[ -t 2 ] && TTY=1
progress() { # TEXT
    if [ $TTY = 1 ]; then printf '\r\033[K  %s' "$1" >&2; else printf '  %s\n' "$1" >&2; fi
}
progress_end() { [ $TTY = 1 ] && printf '\n' >&2; return 0; }


# ---- stage: foreign ----
stage_foreign() {
    local tmp=$D/root.tmp log=$D/foreign.log n=0 line
    rm -rf "$tmp" "$D/root"
    if [ "$STUB" = 1 ]; then
        stub_fail foreign
        mkdir -p "$tmp/debootstrap" && echo "stub" >"$tmp/debootstrap/debpaths"
    else
        # debootstrap keeps its downloads in the tree (var/cache/apt/archives).
        debootstrap --foreign --arch=riscv64 --include="$INCLUDE" \
            --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
            "$SUITE" "$tmp" "$MIRROR" >"$log" 2>&1 &
        local pid=$!
        while kill -0 $pid 2>/dev/null; do
            n=$(grep -c '^I: Retrieving\|^I: Validating' "$log" 2>/dev/null || true)
            line=$(tail -n 1 "$log" 2>/dev/null | cut -c1-70)
            progress "foreign: $((n / 2)) packages fetched; $line"
            sleep 2
        done
        wait $pid || { progress_end; fail "debootstrap --foreign failed: $(grep -m1 '^E:' "$log" || tail -n 1 "$log") (log: $log)"; }
        progress_end
    fi
    write_guest_files "$tmp"
    mv "$tmp" "$D/root"
}

# The files the guest runs (/corral/stage.sh outside the chroot, then
# configure.sh inside it) and the login settings.
write_guest_files() {
    local r=$1
    mkdir -p "$r/corral"
    cat >"$r/corral/stage.sh" <<'EOT'
#!/bin/sh
# Run by Corral's initramfs (corral.cmd) with the new root on /mnt.
set -e
R=/mnt
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -o bind /dev $R/dev
mount -t devpts devpts $R/dev/pts 2>/dev/null || true
echo "corral-stage: second stage"
chroot $R /debootstrap/debootstrap --second-stage
# The second stage unmounts the proc and sys it found mounted on its way
# out; systemctl in configure.sh wants them back. (Debian's busybox has
# no mountpoint applet: /proc/mounts says what is mounted.)
mounted() { grep -q " $1 " /proc/mounts; }
mounted $R/proc || mount -t proc proc $R/proc
mounted $R/sys || mount -t sysfs sysfs $R/sys
echo "corral-stage: configure"
chroot $R /bin/sh /corral/configure.sh
for m in dev/pts dev sys proc; do
    if mounted $R/$m; then umount $R/$m; fi
done
sync
echo "corral-stage: done"
EOT
    cat >"$r/corral/configure.sh" <<'EOT'
#!/bin/sh
# Inside the new system, after debootstrap's second stage.
set -e
echo corral-debian >/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tcorral-debian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >/etc/hosts
echo '/dev/vda / ext4 errors=remount-ro 0 1' >/etc/fstab
# DHCP on the NIC (eth0: corral up boots with net.ifnames=0).
mkdir -p /etc/network/interfaces.d
printf 'allow-hotplug eth0\niface eth0 inet dhcp\n' >/etc/network/interfaces.d/eth0
# A login on the serial console.
systemctl enable serial-getty@ttyS0.service
systemctl enable ssh.service
# Each overlay of this base makes its own host keys on its first boot.
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    >/etc/systemd/system/ssh.service.d/corral-host-keys.conf
echo "root:$(cat /corral/root-password)" | chpasswd
if [ -s /corral/authorized_keys ]; then
    mkdir -p -m 700 /root/.ssh
    install -m 600 /corral/authorized_keys /root/.ssh/authorized_keys
else
    printf 'PermitRootLogin yes\n' >/etc/ssh/sshd_config.d/corral-root-password.conf
fi
apt-get clean
# Debian's riscv64 kernel package installs /boot/vmlinux-VER (a flat
# Image); other architectures' packages install vmlinuz-VER.
ls /boot/vmlinux-* /boot/vmlinuz-* 2>/dev/null | sed -E 's,.*/vmlinu[xz]-,,' | sort -V | tail -n 1 >/corral/kver
[ -s /corral/kver ] || { echo "configure: no kernel in /boot (linux-image-riscv64 not installed?)" >&2; exit 1; }
rm -f /corral/root-password
EOT
    chmod 755 "$r/corral/stage.sh" "$r/corral/configure.sh"
    # The password stays in the cache (root only) for corral up to print.
    if [ ! -s "$D/root-password" ]; then
        (umask 077; { tr -dc 'a-zA-Z0-9' </dev/urandom | head -c 16 || true; } >"$D/root-password.tmp")
        mv "$D/root-password.tmp" "$D/root-password"
    fi
    (umask 077; cp "$D/root-password" "$r/corral/root-password")
    if [ -n "$KEY" ]; then cp "$KEY" "$r/corral/authorized_keys"; else : >"$r/corral/authorized_keys"; fi
}

# ---- stage: image ----
stage_image() {
    local tmp=$D/disk.raw.tmp
    rm -f "$tmp"
    stub_fail image
    if [ "$STUB" = 1 ]; then
        truncate -s 1M "$tmp"
    else
        progress "image: ext4, ${mib} MiB, from the debootstrap tree"
        truncate -s "${mib}M" "$tmp"
        mkfs.ext4 -q -F -L corral-root -d "$D/root" "$tmp" ||
            { progress_end; fail "mkfs.ext4 -d $D/root failed"; }
        progress_end
    fi
    mv "$tmp" "$D/disk.raw"
    rm -rf "$D/root"   # all of it is on the disk now
}

# ---- stage: second-stage (inside Corral) ----
# Console lines from the guest: debootstrap's "I: Unpacking/Configuring X"
# give a percentage against twice the package count.
stage_progress() { # TOTAL LOG
    local total=$1 log=$2 steps=0 line pct=0 shown=-1 t0=$SECONDS rc
    while :; do
        # Some steps (the base system's unpack) print nothing for many
        # minutes: a line with the elapsed time every minute meanwhile.
        rc=0
        IFS= read -r -t 60 line || rc=$?
        if [ $rc -gt 128 ] && [ -z "$line" ]; then
            progress "second stage: ${pct}%, $(( (SECONDS - t0) / 60 )) min, still working"
            continue
        fi
        [ $rc = 0 ] || [ -n "$line" ] || break
        line=${line%$'\r'}
        printf '%s\n' "$line" >>"$log"
        case $line in
            "I: Unpacking "*|"I: Configuring "*|"I: Extracting "*) steps=$((steps + 1)) ;;
            corral-stage:*) progress_end; say "${line#corral-stage: }" ;;
            *) continue ;;
        esac
        pct=$((steps * 100 / (total > 0 ? total : 1)))
        [ $pct -gt 99 ] && pct=99
        if [ $TTY = 1 ] || [ $((pct / 5)) -ne $((shown / 5)) ]; then
            progress "second stage: ${pct}%, $(( (SECONDS - t0) / 60 )) min, ${line#I: }"
            shown=$pct
        fi
    done
    progress_end
}

guest_dir() {
    local g
    # bench/debian/run.sh runs with a private XDG_CACHE_HOME but the
    # default guest of the usual cache.
    [ -n "${CORRAL_DEBIAN_GUEST_DIR:-}" ] && { echo "$CORRAL_DEBIAN_GUEST_DIR"; return; }
    g=$("$SRC/scripts/guest.sh" --print-dir --progress) || fail "no default guest (scripts/guest.sh failed)"
    echo "$g"
}

stage_second() {
    local tmp=$D/stage2.raw.tmp log=$D/second-stage.log
    rm -f "$tmp"
    stub_fail second-stage
    if [ "$STUB" = 1 ]; then
        cp "$D/disk.raw" "$tmp"
    else
        local g total
        g=$(guest_dir)
        # Work on a copy: a second stage cut off halfway is not resumable.
        cp --sparse=always "$D/disk.raw" "$tmp"
        total=$(debugfs -R "cat /debootstrap/debpaths" "$D/disk.raw" 2>/dev/null | wc -l)
        total=$((total * 2)) # "I: Unpacking" and "I: Configuring" for each
        : >"$log"
        say "second stage: booting Corral (log: $log)"
        local start=$SECONDS rc=0
        run_guest "$g" "$tmp" | stage_progress "$total" "$log" || rc=$?
        grep -q '^corral: exit 0' "$log" ||
            fail "second stage failed in the guest: $(grep -m1 -E '^(E:|W: Failure|corral: exit)' "$log" || tail -n 1 "$log") (log: $log)"
        say "second stage: done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
    fi
    mv "$tmp" "$D/stage2.raw"
    # bench/debian/run.sh times the second stage again on this disk.
    if [ "${CORRAL_DEBIAN_KEEP_FOREIGN:-0}" = 1 ]; then
        mv "$D/disk.raw" "$D/foreign.raw"
    else
        rm -f "$D/disk.raw"
    fi
}

# The runner: Corral (or, for bench/debian/run.sh, CORRAL_DEBIAN_RUNNER=qemu).
run_guest() { # GUEST_DIR DISK
    local g=$1 disk=$2 cmd
    cmd='mount%20/dev/vda%20/mnt%20%26%26%20sh%20/mnt/corral/stage.sh'
    if [ "${CORRAL_DEBIAN_RUNNER:-corral}" = qemu ]; then
        timeout 7200 qemu-system-riscv64 -M virt -cpu rv64 -smp "${CORRAL_DEBIAN_CPUS:-2}" -m 2G -nographic \
            -bios "$g/fw_dynamic.bin" -kernel "$g/Image" -initrd "$g/initramfs.cpio" \
            -append "console=ttyS0 corral.cmd=$cmd" \
            -drive "file=$disk,format=raw,if=none,id=d0" -device virtio-blk-device,drive=d0 \
            </dev/null 2>&1
    else
        "$CORRAL" run --firmware "$g/fw_dynamic.bin" --kernel "$g/Image" --initrd "$g/initramfs.cpio" \
            --cmdline "console=ttyS0 corral.cmd=$cmd" --disk "$disk,format=raw" \
            --cpus "${CORRAL_DEBIAN_CPUS:-2}" --memory 2G --timeout 7200 --console stdio </dev/null 2>&1
    fi
}

# ---- stage: kernel ----
stage_kernel() {
    stub_fail kernel
    rm -f "$D/Image.tmp" "$D/initrd.img.tmp"
    if [ "$STUB" = 1 ]; then
        echo stub >"$D/Image.tmp"; echo stub >"$D/initrd.img.tmp"; echo stub >"$D/kver"
    else
        local kver
        kver=$(debugfs -R "cat /corral/kver" "$D/stage2.raw" 2>/dev/null)
        [ -n "$kver" ] || fail "no kernel version in /corral/kver on the disk: the configure step did not finish"
        local k
        for k in vmlinux vmlinuz; do
            debugfs -R "dump /boot/$k-$kver $D/vmlinuz.tmp" "$D/stage2.raw" >/dev/null 2>&1
            [ -s "$D/vmlinuz.tmp" ] && break
        done
        debugfs -R "dump /boot/initrd.img-$kver $D/initrd.img.tmp" "$D/stage2.raw" >/dev/null 2>&1
        [ -s "$D/vmlinuz.tmp" ] && [ -s "$D/initrd.img.tmp" ] ||
            fail "could not copy /boot/vmlinux-$kver (or vmlinuz-) and /boot/initrd.img-$kver out of the disk"
        # Corral loads a flat Image; Debian's riscv64 vmlinuz may be gzip'd.
        if [ "$(head -c 2 "$D/vmlinuz.tmp" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
            gzip -dc "$D/vmlinuz.tmp" >"$D/Image.tmp"
        else
            mv "$D/vmlinuz.tmp" "$D/Image.tmp"
        fi
        rm -f "$D/vmlinuz.tmp"
        echo "$kver" >"$D/kver"
    fi
    mv "$D/Image.tmp" "$D/Image"
    mv "$D/initrd.img.tmp" "$D/initrd.img"
}

# ---- stage: qcow2 ----
stage_qcow2() {
    stub_fail qcow2
    progress "qcow2: converting"
    qemu-img convert -f raw -O qcow2 "$D/stage2.raw" "$D/base.qcow2.tmp" ||
        { progress_end; fail "qemu-img convert of $D/stage2.raw failed"; }
    progress_end
    mv "$D/base.qcow2.tmp" "$D/base.qcow2"
    rm -f "$D/stage2.raw"
}

if [ -n "${BENCH_DISK:-}" ]; then
    total=$(debugfs -R "cat /debootstrap/debpaths" "$BENCH_DISK" 2>/dev/null | wc -l)
    : >"$BENCH_DISK.log"
    run_guest "$(guest_dir)" "$BENCH_DISK" | stage_progress $((total * 2)) "$BENCH_DISK.log" || true
    grep -q '^corral: exit 0' "$BENCH_DISK.log" || fail "second stage failed (log: $BENCH_DISK.log)"
    exit 0
fi
say "Debian $SUITE riscv64, ${mib} MiB, from $MIRROR; cache $D"
i=0
for s in "${STAGES[@]}"; do
    i=$((i + 1))
    if is_done "$s"; then
        say "[$i/${#STAGES[@]}] $s: done earlier"
        continue
    fi
    say "[$i/${#STAGES[@]}] $s"
    case $s in
        foreign) stage_foreign ;;
        image) stage_image ;;
        second-stage) stage_second ;;
        kernel) stage_kernel ;;
        qcow2) stage_qcow2 ;;
    esac
    done_mark "$s"
done

# OUT: a copy of the base, renamed into place once complete.
otmp=$(mktemp "$outdir/.$(basename -- "$OUT").XXXXXX")
trap 'rm -f "$otmp"' EXIT
cp --sparse=always "$D/base.qcow2" "$otmp"
chmod 644 "$otmp"
mv -f "$otmp" "$OUT"
trap - EXIT
say "wrote $OUT (Debian $SUITE, kernel $(cat "$D/kver"))"
if [ -n "$KEY" ]; then
    say "root login: console password $(cat "$D/root-password"); SSH with the key $KEY"
else
    say "root login: password $(cat "$D/root-password") (console and SSH)"
fi
say "boot it: corral up --debian   (or: corral run --disk $OUT,format=qcow2 --kernel $D/Image --initrd $D/initrd.img --cmdline 'console=ttyS0 root=/dev/vda rw net.ifnames=0' ...)"
