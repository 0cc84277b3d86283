# Issue 4: Debian's kernel boots through OpenSBI on Corral to the initramfs;
# corral.cmd='uname -m' prints riscv64 and "corral: exit 0"; a guest
# `poweroff` (through busybox and init, not -f) ends corral with status 0.
. "$(dirname "$0")/lib/lib.sh"
out=$(boot_guest corral 'uname -m' 1)
rc=$?
echo "$out" | tail -n 5
[ $rc -eq 0 ] || { echo "FAIL: corral exited $rc"; exit 1; }
expect_in "$out" "riscv64" "uname -m"
expect_in "$out" "corral: exit 0" "command status"
out=$(boot_guest corral 'echo POWERING-OFF; poweroff' 1)
rc=$?
echo "$out" | tail -n 3
expect_in "$out" "POWERING-OFF" "command ran"
[ $rc -eq 0 ] || { echo "FAIL: guest poweroff gave exit status $rc"; exit 1; }
echo "ok: boots to corral.cmd; poweroff exits 0"
