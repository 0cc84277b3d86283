#!/usr/bin/env bash
# The guest pipeline: fetch Debian trixie's riscv64 kernel, busybox-static and
# OpenSBI with a private apt configuration, and build the default guest
# (kernel Image, fw_dynamic.bin, modules tree, initramfs) into the cache.
#
#   scripts/guest.sh [--quiet | --progress] [--print-dir]
#
# Output goes to stderr: each package fetched (name, size, and on a
# terminal a bar with the percentage) and each build step. --progress says
# nothing when the guest is already built (what `make run` and `corral up`
# use); --quiet says nothing at all but errors; --print-dir prints the
# build's directory on stdout (quiet otherwise).
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/corral
#   apt/                 private apt state (sources, lists, caches)
#   debs/NAME_VER.deb    downloaded packages, checked against the signed index
#   guest/KVER-KEY/      a finished build: Image, fw_dynamic.bin,
#                        initramfs.cpio, modules/, MANIFEST
#   guest/current        symlink to the newest finished build
# Everything lands under a temporary name and is renamed when complete, so a
# killed run never leaves anything that looks finished. Runs hold a lock.
set -euo pipefail

SUITE=trixie
ARCH=riscv64
MODULES="virtio_mmio virtio_blk virtio_net virtio-rng virtio_balloon virtio_input evdev crc32c_generic ext4 vmw_vsock_virtio_transport"
HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/corral
QUIET=0 PRINT_DIR=0 BRIEF=0
for a in "$@"; do
    case $a in
        --quiet) QUIET=1 ;;
        --progress) BRIEF=1 ;;
        --print-dir) PRINT_DIR=1 QUIET=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "corral-guest: error: unknown option $a (--quiet, --progress, --print-dir)" >&2; exit 2 ;;
    esac
done
TTY=0
[ "$QUIET" = 0 ] && [ -t 2 ] && TTY=1

say() { [ "$QUIET" = 1 ] || echo "corral-guest: $*" >&2; }
# Only when something has to be done (--progress stays quiet otherwise).
note() { [ "$BRIEF" = 1 ] || say "$@"; }
STEP=0 STEPS=8
step() { STEP=$((STEP + 1)); say "[$STEP/$STEPS] $*"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# A bar for a download in progress on a terminal: done/total bytes.
bar() {
    local done=$1 total=$2 pct width=30 fill
    [ "$total" -gt 0 ] || total=1
    pct=$((done * 100 / total)); [ $pct -gt 100 ] && pct=100
    fill=$((pct * width / 100))
    printf '\r\033[Kcorral-guest:   [%-*s] %3d%%  %s / %s' "$width" "$(printf '%*s' "$fill" '' | tr ' ' '#')" \
        "$pct" "$(mib "$done")" "$(mib "$total")" >&2
}
die() { echo "corral-guest: error: $*" >&2; exit 1; }

mkdir -p "$CACHE/debs" "$CACHE/guest" "$CACHE/apt"
exec 9>"$CACHE/.lock"
flock 9
# Only one run holds the lock, so leftovers of killed runs can go.
rm -rf "$CACHE"/debs/.tmp.* "$CACHE"/guest/.tmp.* "$CACHE"/apt/.tmp.*

# ---- the mirror: CORRAL_DEBIAN_MIRROR, else the host's own apt sources ----
host_mirror() {
    local f uri
    # deb822 .sources files: the first URIs: of a stanza with a Debian suite.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '
            /^[[:space:]]*$/ { if (u != "" && s ~ /(bookworm|trixie|forky|sid|bullseye|stable|testing|unstable)( |$)/ && u !~ /security/) { print u; exit } u=""; s=""; next }
            /^URIs:/ { u=$2 }
            /^Suites:/ { $1=""; s=$0 " " }
            END { if (u != "" && s ~ /(bookworm|trixie|forky|sid|bullseye|stable|testing|unstable)( |$)/ && u !~ /security/) print u }
        ' "$f" | head -n 1)
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    # one-line format
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 ~ /^(bookworm|trixie|forky|sid|bullseye|stable|testing|unstable)$/ && $2 !~ /security/ { print $2; exit }')
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
}
MIRROR=${CORRAL_DEBIAN_MIRROR:-$(host_mirror)}
MIRROR=${MIRROR%/}
HINT="set CORRAL_DEBIAN_MIRROR to a Debian mirror URL (the directory that holds dists/ and pool/)"
[ -n "$MIRROR" ] || die "no Debian mirror found in the host's apt sources; $HINT"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "$KEYRING is missing (install debian-archive-keyring)"

# ---- private apt configuration: never touches the host's apt state ----
APTDIR=$CACHE/apt
mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/etc/apt.conf.d" "$APTDIR/etc/preferences.d"
[ -f "$APTDIR/status" ] || : >"$APTDIR/status"
SOURCES="deb [arch=$ARCH signed-by=$KEYRING] $MIRROR $SUITE main"
if [ "$(cat "$APTDIR/etc/sources.list" 2>/dev/null)" != "$SOURCES" ]; then
    echo "$SOURCES" >"$APTDIR/etc/sources.list"
    rm -f "$APTDIR"/lists/*_Packages* "$APTDIR"/lists/*Release*
fi
APT_OPTS=(
    -o "Dir::Etc=$APTDIR/etc" -o "Dir::Etc::sourcelist=$APTDIR/etc/sources.list"
    -o "Dir::Etc::sourceparts=-" -o "Dir::Etc::main=-" -o "Dir::Etc::parts=$APTDIR/etc/apt.conf.d"
    -o "Dir::Etc::preferences=-" -o "Dir::Etc::preferencesparts=$APTDIR/etc/preferences.d"
    -o "Dir::State=$APTDIR" -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::State::status=$APTDIR/status"
    -o "Dir::Cache=$APTDIR" -o "Dir::Cache::archives=$APTDIR/archives"
    -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH"
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1" -o "Acquire::Retries=2"
)
apt_get() { apt-get -q "${APT_OPTS[@]}" "$@"; }
apt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }

# The newest complete build, if its files still match its manifest.
# Full hashing of ~150 MB takes seconds, so a successful check records the
# files' sizes and mtimes (.verified) and is repeated only when they change.
statsig() { (cd "$1" && find . -type f ! -name .verified -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum | cut -c1-64); }
verify_build() {
    local dir=$1 sig
    [ -f "$dir/MANIFEST" ] || return 1
    sig=$(statsig "$dir")
    [ "$(cat "$dir/.verified" 2>/dev/null)" = "$sig" ] && return 0
    (cd "$dir" && sha256sum --status -c MANIFEST) 2>/dev/null || return 1
    [ "$(wc -l <"$dir/MANIFEST")" = "$(cd "$dir" && find . -type f ! -name MANIFEST ! -name .verified | wc -l)" ] || return 1
    echo "$sig" >"$dir/.verified"
}

# Refresh the index at most daily; offline with a good build, use that.
lists_fresh() {
    [ -n "$(find "$APTDIR/lists" -maxdepth 1 -name "*_${SUITE}_main_binary-${ARCH}_Packages*" -mtime -1 2>/dev/null)" ]
}
if ! lists_fresh; then
    # The first run waits on this for a while: say so even with --progress.
    if [ -e "$CACHE/guest/current/MANIFEST" ]; then
        note "updating the $SUITE/$ARCH package index from $MIRROR"
    else
        say "updating the $SUITE/$ARCH package index from $MIRROR"
    fi
    if ! apt_get update -qq >"$APTDIR/update.log" 2>&1 || grep -q '^[EW]: Failed' "$APTDIR/update.log"; then
        if [ -z "$(ls "$APTDIR"/lists/*_Packages* 2>/dev/null)" ]; then
            if verify_build "$CACHE/guest/current"; then
                say "warning: could not refresh the package index; using the cached guest"
                [ "$PRINT_DIR" = 1 ] && readlink -f "$CACHE/guest/current"
                exit 0
            fi
            die "could not fetch the $SUITE package index from $MIRROR ($(grep -m1 '^[EW]:' "$APTDIR/update.log" | cut -c1-160)); $HINT"
        fi
        say "warning: could not refresh the package index; using the one from $(date -r "$(ls "$APTDIR"/lists/*_Packages* | head -n 1)" +%F)"
    fi
fi

# ---- resolve versions (cached until the index changes: apt-cache is slow) ----
listsig=$(stat -c '%n %s %Y' "$APTDIR"/lists/*_Packages* 2>/dev/null | sha256sum | cut -c1-16)
RESOLVED=$APTDIR/resolved
if [ "$(head -n 1 "$RESOLVED" 2>/dev/null)" != "$listsig" ]; then
    meta_dep=$(apt_cache show "linux-image-$ARCH" 2>/dev/null | awk -F': ' '$1 == "Depends" { print $2; exit }')
    kpkg=$(echo "$meta_dep" | tr ',' '\n' | sed -E 's/^ *//; s/ .*//' | grep -m1 '^linux-image-') ||
        die "linux-image-$ARCH has no versioned kernel dependency in the $SUITE index at $MIRROR; $HINT"
    {
        echo "$listsig"
        for p in "$kpkg" busybox-static opensbi; do
            rec=$(apt_cache show "$p" 2>/dev/null | awk -F': ' '/^$/ { exit } $1 == "Version" || $1 == "SHA256" || $1 == "Size" { printf "%s ", $2 }')
            [ -n "$rec" ] || die "package $p not found in $SUITE/$ARCH at $MIRROR; $HINT"
            echo "$p $rec"
        done
    } >"$RESOLVED.tmp"
    mv -f "$RESOLVED.tmp" "$RESOLVED"
fi
PKGS=()
declare -A VER SHA SIZE DEB
while read -r p v a b; do
    # apt prints the fields in index order: Version, Size, SHA256.
    if [ ${#a} -eq 64 ]; then SHA[$p]=$a SIZE[$p]=$b; else SIZE[$p]=$a SHA[$p]=$b; fi
    VER[$p]=$v
    PKGS+=("$p")
    DEB[$p]=$CACHE/debs/${p}_${v//:/%3a}_$ARCH.deb
done < <(tail -n +2 "$RESOLVED")
KPKG=${PKGS[0]}

# ---- fetch what is missing or corrupt ----
deb_ok() {
    local p=$1 f=${DEB[$1]} st
    [ -f "$f" ] && [ "$(stat -c %s "$f")" = "${SIZE[$p]}" ] || return 1
    st="$(stat -c '%s %Y %i' "$f") ${SHA[$p]}"
    [ "$(cat "$f.verified" 2>/dev/null)" = "$st" ] && return 0
    [ "$(sha256sum "$f" | cut -d' ' -f1)" = "${SHA[$p]}" ] || return 1
    echo "$st" >"$f.verified"
}
for p in "${PKGS[@]}"; do
    deb_ok "$p" && continue
    [ -f "${DEB[$p]}" ] && say "cached ${DEB[$p]##*/} is corrupt (size or SHA256 differs from the index); fetching it again"
    say "fetching $p ${VER[$p]} ($(mib "${SIZE[$p]}"))"
    tmp=$(mktemp -d "$CACHE/debs/.tmp.XXXXXX")
    (cd "$tmp" && apt_get download -qq "$p=${VER[$p]}") >"$tmp/log" 2>&1 &
    dl=$!
    if [ "$TTY" = 1 ]; then
        # apt writes the .deb into $tmp as it arrives: its size is the progress.
        while kill -0 "$dl" 2>/dev/null; do
            bar "$(find "$tmp" -maxdepth 1 -name '*.deb' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')" "${SIZE[$p]}"
            sleep 0.2
        done
    fi
    if ! wait "$dl"; then
        [ "$TTY" = 1 ] && printf '\n' >&2
        die "could not fetch package $p ${VER[$p]} from $MIRROR ($(grep -m1 '^[EW]:' "$tmp/log" | cut -c1-160)); $HINT"
    fi
    [ "$TTY" = 1 ] && { bar "${SIZE[$p]}" "${SIZE[$p]}"; printf '\n' >&2; }
    got=$(ls "$tmp"/*.deb | head -n 1)
    mv -f "$got" "${DEB[$p]}.part"
    sync "${DEB[$p]}.part" 2>/dev/null || true
    mv -f "${DEB[$p]}.part" "${DEB[$p]}"
    rm -rf "$tmp"
    deb_ok "$p" || die "package $p ${VER[$p]} from $MIRROR does not match the signed index (size or SHA256)"
done

# ---- build the guest: keyed by package versions and the recipe ----
recipe=$(cat "$0" "$HERE/guest/init" "$HERE/guest/udhcpc.script" "$HERE/guest/pagecheck.c" \
    "$HERE/guest/vsockcat.c" "$HERE/guest/acpid.conf" "$HERE/guest/power-button" "$HERE/guest/find-root" | sha256sum | cut -c1-12)
KVER=${KPKG#linux-image-}
KEY=$(printf '%s ' "${VER[@]}" "$recipe" | sha256sum | cut -c1-12)
OUT=$CACHE/guest/$KVER-$KEY
if verify_build "$OUT"; then
    [ "$(readlink "$CACHE/guest/current" 2>/dev/null)" = "${OUT##*/}" ] || {
        ln -sfn "${OUT##*/}" "$CACHE/guest/.tmp.link" && mv -T "$CACHE/guest/.tmp.link" "$CACHE/guest/current"
    }
    note "guest is up to date: $OUT"
    [ "$PRINT_DIR" = 1 ] && echo "$OUT"
    exit 0
fi
[ -d "$OUT" ] && { say "build $OUT does not match its manifest; rebuilding"; rm -rf "$OUT"; }

say "building the guest in $OUT"
tmp=$(mktemp -d "$CACHE/guest/.tmp.XXXXXX")
step "unpacking the kernel, busybox and OpenSBI packages"
x=$tmp/extract
mkdir -p "$x/kernel" "$x/busybox" "$x/opensbi"
dpkg-deb -x "${DEB[$KPKG]}" "$x/kernel"
dpkg-deb -x "${DEB[busybox-static]}" "$x/busybox"
dpkg-deb -x "${DEB[opensbi]}" "$x/opensbi"

step "kernel Image and fw_dynamic.bin"
image=$( (ls "$x"/kernel/boot/vmlinu[xz]-* 2>/dev/null || true) | head -n 1)
[ -n "$image" ] || die "no kernel image in ${DEB[$KPKG]}"
case $(head -c 2 "$image" | od -An -tx1 | tr -d ' ') in
    1f8b) gzip -dc "$image" >"$tmp/Image" ;;
    *) cp "$image" "$tmp/Image" ;;
esac
fw=$x/opensbi/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
[ -f "$fw" ] || die "no riscv64 fw_dynamic.bin in ${DEB[opensbi]}"
cp "$fw" "$tmp/fw_dynamic.bin"

# Modules tree with a modules.dep of our own (Debian makes it at install).
step "module dependencies (depmod)"
moddir=$( (ls -d "$x"/kernel/usr/lib/modules/* "$x"/kernel/lib/modules/* 2>/dev/null || true) | head -n 1)
[ -n "$moddir" ] || die "no modules tree in ${DEB[$KPKG]}"
mkdir -p "$tmp/modroot/lib/modules"
mv "$moddir" "$tmp/modroot/lib/modules/$KVER"
depmod -b "$tmp/modroot" "$KVER" 2>"$tmp/depmod.log" || die "depmod failed: $(head -n 1 "$tmp/depmod.log")"
mv "$tmp/modroot/lib/modules/$KVER" "$tmp/modules"
rmdir -p "$tmp/modroot/lib/modules" 2>/dev/null || true

# initramfs: busybox, /init, the wanted modules and their dependencies.
step "initramfs: busybox and /init"
root=$tmp/initramfs
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,mnt,newroot,usr/bin,usr/sbin,usr/share/udhcpc}
bb=$( (ls "$x"/busybox/usr/bin/busybox "$x"/busybox/bin/busybox 2>/dev/null || true) | head -n 1)
[ -n "$bb" ] || die "no busybox binary in ${DEB[busybox-static]}"
cp "$bb" "$root/bin/busybox"
install -m 0755 "$HERE/guest/init" "$root/init"
install -m 0755 "$HERE/guest/find-root" "$root/bin/corral-find-root"
install -m 0755 "$HERE/guest/udhcpc.script" "$root/usr/share/udhcpc/default.script"
# The power button: busybox acpid's action file and the power-off action.
install -m 0644 "$HERE/guest/acpid.conf" "$root/etc/acpid.conf"
install -D -m 0755 "$HERE/guest/power-button" "$root/etc/acpi/PWRF/00000080"
# pagecheck: the page-verifying workload of the snapshot and migration tests.
step "initramfs: pagecheck (riscv64-linux-gnu-gcc)"
command -v riscv64-linux-gnu-gcc >/dev/null || die "riscv64-linux-gnu-gcc is missing (scripts/deps.sh installs it)"
riscv64-linux-gnu-gcc -std=gnu11 -static -O2 -s -Wall -Wextra -Werror -D_GNU_SOURCE \
    -o "$root/bin/pagecheck" "$HERE/guest/pagecheck.c" 2>"$tmp/pagecheck.log" ||
    die "building guest/pagecheck.c failed: $(head -n 3 "$tmp/pagecheck.log")"
# vsockcat: AF_VSOCK connect/listen for the vsock tests.
riscv64-linux-gnu-gcc -std=gnu11 -static -O2 -s -Wall -Wextra -Werror -D_GNU_SOURCE \
    -o "$root/bin/vsockcat" "$HERE/guest/vsockcat.c" 2>"$tmp/pagecheck.log" ||
    die "building guest/vsockcat.c failed: $(head -n 3 "$tmp/pagecheck.log")"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
: >"$root/etc/modules"
declare -A added
add_module() { # $1 = path relative to the modules dir, dependencies first
    local rel=$1 dep
    [ -n "${added[$rel]:-}" ] && return
    added[$rel]=1
    for dep in $(awk -v m="$rel:" '$1 == m { $1 = ""; print; exit }' "$tmp/modules/modules.dep"); do
        add_module "$dep"
    done
    local plain=${rel%.xz}; plain=${plain%.zst}; plain=${plain%.gz}
    mkdir -p "$root/lib/modules/$KVER/$(dirname "$plain")"
    case $rel in
        *.xz) xz -dc "$tmp/modules/$rel" ;;
        *.zst) zstd -qdc "$tmp/modules/$rel" ;;
        *.gz) gzip -dc "$tmp/modules/$rel" ;;
        *) cat "$tmp/modules/$rel" ;;
    esac >"$root/lib/modules/$KVER/$plain"
    echo "$plain" >>"$root/etc/modules"
}
step "initramfs: modules ($MODULES)"
for m in $MODULES; do
    rel=$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); if (n == m) { print $1; exit } }' "$tmp/modules/modules.dep")
    if [ -n "$rel" ]; then
        add_module "$rel"
    elif ! grep -q "/$m.ko" "$tmp/modules/modules.builtin"; then
        die "module $m is neither in modules.dep nor built into $KVER"
    fi
done
step "initramfs: the cpio archive"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$tmp/initramfs.cpio"
# /dev/console as a second archive, written by hand so no mknod (root) is
# needed: the kernel opens it for init's stdin/stdout.
newc() { # name mode rdevmajor rdevminor
    local name=$1 n=$((${#1} + 1))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        1 "$2" 0 0 1 0 0 0 0 "$3" "$4" "$n" 0
    printf '%s\0' "$name"
    local pad=$(((4 - (110 + n) % 4) % 4))
    head -c "$pad" /dev/zero
}
{ newc dev/console $((0x2180)) 5 1; newc TRAILER!!! 0 0 0; } >>"$tmp/initramfs.cpio"
truncate -s %512 "$tmp/initramfs.cpio"

step "MANIFEST (SHA-256 of every file)"
rm -rf "$x" "$root" "$tmp/depmod.log" "$tmp/pagecheck.log"
cat >"$tmp/VERSIONS" <<EOT
suite $SUITE
mirror $MIRROR
$KPKG ${VER[$KPKG]}
busybox-static ${VER[busybox-static]}
opensbi ${VER[opensbi]}
kernel-release $KVER
recipe $recipe
EOT
(cd "$tmp" && find . -type f ! -name 'MANIFEST*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum >MANIFEST.part && mv MANIFEST.part MANIFEST)
sync -f "$tmp/MANIFEST" 2>/dev/null || true
mv -T "$tmp" "$OUT"
ln -sfn "${OUT##*/}" "$CACHE/guest/.tmp.link" && mv -T "$CACHE/guest/.tmp.link" "$CACHE/guest/current"
say "guest ready: $OUT"
[ "$PRINT_DIR" = 1 ] && echo "$OUT"
exit 0
