# Shared harness for guest tests: boot Debian's kernel + OpenSBI + our
# initramfs under a VMM, run one command through corral.cmd, capture the
# console. CORRAL_VMM=qemu|corral picks the VMM (default corral); the QEMU
# pipeline check uses the same functions with qemu.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
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
