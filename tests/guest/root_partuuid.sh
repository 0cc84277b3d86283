# Issue 16: a root disk named by its partition, as Firecracker names it.
# The tiny root filesystem (tiny_root.bash) is partition 1 of a GPT disk;
# a Firecracker config file gives the drive a "partuuid" and no initrd, so
# Corral supplies its initramfs and root=PARTUUID=...: the initramfs finds
# the partition by its GUID (guest/find-root) and switches to it. Then the
# same filesystem as partition 2 of an MBR disk, behind an empty first
# disk, named on the command line (root=PARTUUID=SIGNATURE-02 ro). Needs
# sfdisk (fdisk, scripts/deps.sh).
. "$(dirname "$0")/lib/lib.sh"
. "$(dirname "$0")/lib/tiny_root.bash"
tiny_root_setup
command -v sfdisk >/dev/null || { echo "SKIP: sfdisk missing (the fdisk package)"; exit 77; }

msg=$(tiny_root "$work/fs.img" "$dir") || fail "$msg"
fs_sectors=$(( $(stat -c %s "$work/fs.img") / 512 ))

# disk IMAGE TABLE_LINES...: a disk of the filesystem's size plus 2 MiB
# with sfdisk's table, the filesystem copied into its last partition.
disk() {
    local img=$1; shift
    truncate -s $(( (fs_sectors + 4096) * 512 + 1048576 )) "$img"
    printf '%s\n' "$@" | sfdisk -q "$img" >/dev/null || fail "sfdisk $img"
    local start
    start=$(sfdisk -d "$img" | sed -n 's/.*start= *\([0-9]*\),.*/\1/p' | tail -n 1)
    dd if="$work/fs.img" of="$img" bs=512 seek="$start" conv=notrunc status=none || fail "dd into $img"
}

guid=6A3C1F2E-1B2C-4D5E-8F90-0123456789AB
disk "$work/gpt.img" "label: gpt" \
    "start=2048, size=$fs_sectors, type=0FC63DAF-8483-4772-8E79-3D47DE8E1E9C, uuid=$guid"
cat >"$work/vm.json" <<EOF
{"boot-source": {"kernel_image_path": "$dir/Image", "boot_args": "console=ttyS0 reboot=k panic=1 quiet",
                 "initrd_path": null},
 "drives": [{"drive_id": "rootfs", "partuuid": "$(tr 'A-F' 'a-f' <<<"$guid")", "is_root_device": true,
             "is_read_only": false, "path_on_host": "$work/gpt.img"}],
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 256}}
EOF
timeout 120 "$CORRAL" run --config-file "$work/vm.json" </dev/null >"$work/out" 2>&1
rc=$?
sed -i 's/\r$//' "$work/out"
[ $rc = 0 ] || fail "config-file boot exited $rc (want 0: the disk's init powers off)"
grep -qx ROOT-WRITABLE "$work/out" || fail "GPT partition by PARTUUID: the disk's init did not run read-write"
grep -q '^PROC-OK ' "$work/out" || fail "no /proc on the new root"
echo "ok: GPT partition 1 found by its PARTUUID (Firecracker's drive field, no initrd)"

disk "$work/mbr.img" "label: dos" "label-id: 0x1234abcd" \
    "start=2048, size=2048, type=83" "start=4096, size=$fs_sectors, type=83"
truncate -s 8M "$work/empty.img"
timeout 120 "$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --disk "$work/empty.img" --disk "$work/mbr.img" \
    --cmdline "console=ttyS0 quiet root=PARTUUID=1234ABCD-02 ro" </dev/null >"$work/out" 2>&1
rc=$?
sed -i 's/\r$//' "$work/out"
[ $rc = 0 ] || fail "MBR boot exited $rc"
msg=$(tiny_root_read_only "$work/out") || fail "MBR partition 2 by PARTUUID: $msg"
echo "ok: MBR partition 2 of the second disk found by PARTUUID=1234ABCD-02, mounted read-only"
