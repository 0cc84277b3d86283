#!/usr/bin/env bash
# virtio-net over user-mode networking (libslirp) in a booted guest: DHCP
# lease, a file fetched from an HTTP server on the host's loopback through
# the gateway 10.0.2.2 (hash checked), DNS through 10.0.2.3, and hostfwd:
# the host connects to a port forwarded to a server in the guest.
source "$(dirname "$0")/lib/lib.sh"
command -v busybox >/dev/null || { echo "FAIL: busybox (host) is not installed (scripts/deps.sh)"; exit 1; }
dir=$(guest_dir) || { echo "FAIL: no guest build"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

http_port=$(free_port) && fwd_port=$(free_port) || { echo "FAIL: no free port"; exit 1; }

mkdir -p "$work/www"
head -c 262144 /dev/urandom > "$work/www/blob"
want=$(sha256sum < "$work/www/blob" | cut -d' ' -f1)
busybox httpd -f -p "127.0.0.1:$http_port" -h "$work/www" &
pids+=($!)

payload="hello-from-guest-$RANDOM"
cmd="ip -4 addr show eth0 | grep -o 'inet [0-9.]*';
wget -q -O /tmp/blob http://10.0.2.2:$http_port/blob && echo fetched=\$(sha256sum /tmp/blob | cut -d' ' -f1);
nslookup corral.invalid 10.0.2.3 >/dev/null 2>&1; echo dns-rc=\$?;
printf '#!/bin/sh\necho $payload\n' > /tmp/serve; chmod +x /tmp/serve;
echo listening; nc -l -p 8080 -e /tmp/serve; echo served"
boot_log=$work/boot.log
timeout "$GUEST_TIMEOUT" "$CORRAL" run --firmware "$dir/fw_dynamic.bin" \
    --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" --memory 512M \
    --net "user,hostfwd=tcp::$fwd_port-:8080" \
    --cmdline "console=ttyS0 quiet corral.cmd=$(urlencode "$cmd")" </dev/null >"$boot_log" 2>&1 &
vm=$!
pids+=($vm)

# The forward accepts on the host at once; retry until the guest answers.
got=
for _ in $(seq 600); do
    if grep -q listening "$boot_log" 2>/dev/null; then
        got=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$fwd_port; cat <&3" 2>/dev/null)
        [ -n "$got" ] && break
    fi
    kill -0 $vm 2>/dev/null || break
    sleep 0.5
done
wait $vm
rc=$?
out=$(cat "$boot_log")
echo "$out" | tail -n 10
[ $rc -eq 0 ] || { echo "FAIL: corral exited with $rc"; exit 1; }
expect_in "$out" "inet 10.0.2.15" "DHCP lease"
expect_in "$out" "fetched=$want" "HTTP fetch from the host through 10.0.2.2"
expect_in "$out" "dns-rc=" "DNS query ran"
expect_in "$out" "served" "guest server finished"
[ "$got" = "$payload" ] || { echo "FAIL: hostfwd: host read '$got', expected '$payload'"; exit 1; }
echo "PASS: DHCP, HTTP from host loopback via 10.0.2.2, hostfwd to the guest"
