# Issue 16: leaving the console with Ctrl-A x ends on a fresh line, and the
# terminal's late reply to a guest's query (ESC[6n -> ESC[row;colR) never
# reaches the shell that started corral. A bare-metal program in the
# firmware's place (the kernel is loaded, never reached) prints text
# without a newline and ESC[6n; in a pty, Ctrl-A x is typed and the
# "terminal" answers 300 ms later (a slow link); the shell then reads what
# is left. corral saw the query go out with no reply yet, so it waits for it.
. "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || exit 1
work_setup
command -v script >/dev/null || { echo "script(1) missing (util-linux)"; exit 77; }
command -v riscv64-unknown-elf-gcc >/dev/null || { echo "riscv64-unknown-elf-gcc missing"; exit 77; }
riscv64-unknown-elf-gcc -nostdlib -nostartfiles -static -Wl,-N,--no-warn-rwx-segments -Ttext=0x80000000 \
    -o "$work/q.elf" "$TOP/tests/guest/progs/term_query.S" || { echo "FAIL: cannot build term_query.elf"; exit 1; }
riscv64-unknown-elf-objcopy -O binary "$work/q.elf" "$work/q.bin" || { echo "FAIL: objcopy"; exit 1; }
cat >"$work/inner.sh" <<EOT
before=\$(stty -g)
"$CORRAL" run --firmware "$work/q.bin" --kernel "$dir/Image"
echo "rc=\$?"
IFS= read -r -s -t 1 -n 64 left
echo "left=[\$left]"
[ "\$(stty -g)" = "\$before" ] && echo tty-restored
EOT
# script echoes what it is fed (its stdin is no terminal): -E never.
out=$( { sleep 1.5; printf '\001x'; sleep 0.3; printf '\033[24;80R'; sleep 2; } |
    timeout 30 script -E never -qec "bash $work/inner.sh" /dev/null 2>&1 | tr -d '\r')
printf '%s\n' "$out" | cat -v
grep -qx 'rc=0' <<<"$out" || { echo "FAIL: 'rc=0' is not on a line of its own: corral left the cursor mid-line"; exit 1; }
grep -qx 'left=\[\]' <<<"$out" || { echo "FAIL: the terminal's reply reached the shell after corral exited"; exit 1; }
grep -qx 'tty-restored' <<<"$out" || { echo "FAIL: terminal settings not restored"; exit 1; }
echo "ok: Ctrl-A x ends on a fresh line; the terminal's late reply was drained"
