# Issue 4: the device tree round-trips through dtc without warnings; a guest
# spinning in M-mode with interrupts off does not hang the VMM (signals and
# Ctrl-A x still stop it); the terminal is restored on every exit path.
. "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- --dump-dtb ----
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
    --cpus 3 --dump-dtb "$tmp/virt.dtb" || { echo "FAIL: --dump-dtb exited $?"; exit 1; }
dtc -I dtb -O dts -o "$tmp/virt.dts" "$tmp/virt.dtb" 2>"$tmp/dtc.err" || { cat "$tmp/dtc.err"; echo "FAIL: dtc cannot read the blob"; exit 1; }
[ ! -s "$tmp/dtc.err" ] || { cat "$tmp/dtc.err"; echo "FAIL: dtc printed warnings"; exit 1; }
[ "$(grep -c 'device_type = "cpu"' "$tmp/virt.dts")" = 3 ] || { echo "FAIL: expected 3 cpu nodes"; exit 1; }
for want in 'riscv,isa-extensions' 'mmu-type' 'linux,initrd-start' 'sifive,plic-1.0.0' 'ns16550a' 'google,goldfish-rtc' 'syscon-poweroff' 'syscon-reboot' 'stdout-path'; do
    grep -q "$want" "$tmp/virt.dts" || { echo "FAIL: device tree lacks $want"; exit 1; }
done
echo "ok: --dump-dtb reads back with dtc and no warnings"

# ---- a spinning M-mode guest stays stoppable ----
riscv64-unknown-elf-gcc -nostdlib -nostartfiles -static -Wl,-N,--no-warn-rwx-segments -Ttext=0x80000000 \
    -o "$tmp/spin.elf" "$TOP/tests/guest/progs/spin.S" || { echo "FAIL: cannot build spin.elf"; exit 1; }
"$CORRAL" run --test "$tmp/spin.elf" </dev/null >/dev/null 2>&1 &
pid=$!
sleep 1
kill -0 $pid 2>/dev/null || { echo "FAIL: spin guest exited on its own"; exit 1; }
t0=$(date +%s%N)
kill -TERM $pid
wait $pid; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "SIGTERM stopped a spinning guest in ${ms} ms (exit $rc)"
[ $ms -lt 2000 ] && [ $rc -ne 0 ] || { echo "FAIL: SIGTERM took ${ms} ms / exit $rc"; exit 1; }

# ---- terminal restored: Ctrl-A x, SIGTERM, guest poweroff (inside a pty) ----
command -v script >/dev/null || { echo "FAIL: script(1) missing (util-linux)"; exit 1; }
cat >"$tmp/pty.sh" <<EOT
before=\$(stty -g)
# Ctrl-A x typed while the guest spins.
( sleep 1; printf '\001x' ) | "$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" \
    --initrd "$dir/initramfs.cpio" --cmdline "console=ttyS0 quiet" >/dev/null 2>&1
echo "ctrl-a-x rc=\$?"
[ "\$(stty -g)" = "\$before" ] && echo "tty-ok-1"
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
    --cmdline "console=ttyS0 quiet" >/dev/null 2>&1 &
p=\$!
sleep 2; kill -TERM \$p; wait \$p
echo "sigterm rc=\$?"
[ "\$(stty -g)" = "\$before" ] && echo "tty-ok-2"
"$CORRAL" run --firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
    --cmdline "console=ttyS0 quiet corral.cmd=true" >/dev/null 2>&1
echo "poweroff rc=\$?"
[ "\$(stty -g)" = "\$before" ] && echo "tty-ok-3"
EOT
out=$(timeout 300 script -qec "bash $tmp/pty.sh" /dev/null </dev/null 2>&1 | tr -d '\r')
echo "$out"
for want in "ctrl-a-x rc=0" "tty-ok-1" "sigterm rc=143" "tty-ok-2" "poweroff rc=0" "tty-ok-3"; do
    grep -qx "$want" <<<"$out" || { echo "FAIL: expected '$want'"; exit 1; }
done
echo "ok: terminal restored after Ctrl-A x, SIGTERM and poweroff"
