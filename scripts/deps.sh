#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian's archive.
# Idempotent: prints nothing and changes nothing when all is installed.
set -euo pipefail

PACKAGES=(
    build-essential pkg-config clang
    libfdt-dev libslirp-dev libglib2.0-dev libzstd-dev libxxhash-dev libjansson-dev
    libmicrohttpd-dev libcmocka-dev
    gcc-riscv64-unknown-elf gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
    qemu-system-misc device-tree-compiler
    cpio xz-utils zstd e2fsprogs kmod curl jq ca-certificates gnupg busybox util-linux
    debian-archive-keyring time debootstrap
    qemu-utils zlib1g-dev attr libseccomp-dev
    libcurl4-openssl-dev etcd-server etcd-client
    libvdeplug-dev vde2 iproute2 fdisk
)

missing=()
installed=" $(dpkg-query -W -f='${Package}=${db:Status-Status} ' "${PACKAGES[@]}" 2>/dev/null || true) "
for pkg in "${PACKAGES[@]}"; do
    case $installed in *" $pkg=installed "*) ;; *) missing+=("$pkg") ;; esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "corral: installing build dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are missing or older than a day.
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    $SUDO apt-get update -qq >&2
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
