# --console pty and --console file:PATH. With pty, corral names the
# pseudo-terminal on stderr; a client opens it, waits for the shell, types
# a command and powers off. With file:, the guest's output lands in the file.
. "$(dirname "$0")/lib/lib.sh"
dir=$(guest_dir) || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; kill $pid 2>/dev/null' EXIT
common=(--firmware "$dir/fw_dynamic.bin" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio")

"$CORRAL" run "${common[@]}" --cmdline "console=ttyS0 quiet" --console pty </dev/null 2>"$tmp/err" &
pid=$!
for i in $(seq 50); do grep -q '/dev/pts/' "$tmp/err" && break; sleep 0.1; done
pts=$(grep -o '/dev/pts/[0-9]*' "$tmp/err")
[ -n "$pts" ] || { cat "$tmp/err"; echo "FAIL: corral did not name its pty"; exit 1; }
echo "console on $pts"
stty -F "$pts" raw -echo
exec 5<>"$pts"
timeout 180 grep -q -m1 "guest ready" <&5 || { echo "FAIL: no shell prompt on $pts"; exit 1; }
printf 'echo PTY-$((6*7))\n' >&5
timeout 20 grep -q -m1 "PTY-42" <&5 || { echo "FAIL: command output not seen on $pts"; exit 1; }
printf 'poweroff -f\n' >&5
wait $pid; rc=$?
exec 5>&-
[ $rc -eq 0 ] || { echo "FAIL: exit $rc after poweroff"; exit 1; }
echo "ok: --console pty"

"$CORRAL" run "${common[@]}" --cmdline "console=ttyS0 quiet corral.cmd=echo%20FILE-CONSOLE" \
    --console "file:$tmp/console.log" </dev/null >"$tmp/stdout" 2>&1
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: exit $rc with --console file:"; exit 1; }
grep -q "FILE-CONSOLE" "$tmp/console.log" || { echo "FAIL: output missing from the console file"; exit 1; }
grep -q "FILE-CONSOLE" "$tmp/stdout" && { echo "FAIL: guest output leaked to stdout"; exit 1; }
echo "ok: --console file:PATH"
