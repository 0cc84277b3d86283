# The guest pipeline checked against the reference VMM: Debian's kernel,
# OpenSBI and our initramfs boot under qemu-system-riscv64 -M virt, run
# corral.cmd='uname -m' and power off with "corral: exit 0".
. "$(dirname "$0")/lib/lib.sh"
command -v qemu-system-riscv64 >/dev/null || { echo "qemu-system-riscv64 missing (scripts/deps.sh installs it)"; exit 1; }
out=$(boot_guest qemu 'uname -m' 1)
rc=$?
echo "$out" | tail -n 20
[ $rc -eq 0 ] || { echo "FAIL: qemu exited with $rc"; exit 1; }
expect_in "$out" "riscv64" "uname -m"
expect_in "$out" "corral: exit 0" "command status"
echo "ok: Debian riscv64 guest boots under QEMU and runs corral.cmd"
