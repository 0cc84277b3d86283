#!/usr/bin/env bash
# Post-copy recovery (docs/migration.md, "Post-copy recovery"): a post-copy
# migration of the page-verifying workload through a relay that resets the
# link 40 MiB into the stream (at 64 MiB/s, well into post-copy: the guest
# already runs on the destination). Both sides report postcopy-paused and keep their halves;
# bad recoveries are refused (nothing paused yet, a bad URI, the source
# before the destination listens, a second recover, garbage from a
# foreign peer on the recovery port); then the destination listens on a
# new URI, the source connects to it and finishes: the source exits 0,
# the destination's guest has zero mismatched pages and its counter goes on.
source "$(dirname "$0")/lib/snapshot_lib.bash"
command -v jq >/dev/null || snap_fail "jq is not installed"
[ -x "$BUILD/tools/faultproxy" ] || snap_fail "no $BUILD/tools/faultproxy (make tools)"
source "$(dirname "$0")/lib/migrate_api.bash"
refused() { # WHAT GREP RESPONSE: a 400 whose message matches
    [ "${3##* }" = 400 ] && grep -q -- "$2" <<<"$3" || snap_fail "$1: $3"
    echo "ok: $1 -> $(sed 's/ [0-9]*$//' <<<"$3" | jq -r .fault_message)"
}

snap_boot 1
src=$SNAP_SOCK
refused "recover with nothing paused" "no post-copy migration is paused" \
    "$(mapi "$src" PUT /migrate/recover '{"uri":"tcp:127.0.0.1:1"}')"

# The destination (its own console session; the source's is kept to
# collect its status), behind a relay that resets both connections once
# 40 MiB have gone through: past the device state, in post-copy.
port=$(free_port)
pport=$(free_port)
src_dir=$SESSION_DIR
dst=$SNAP_WORK/dst.sock
exec 9>&7
start_corral "$SNAP_WORK/console-dst.log" run --incoming "tcp:127.0.0.1:$port" --api-sock "$dst"
"$BUILD/tools/faultproxy" "$pport" "$port" drop $((40 << 20)) >"$SNAP_WORK/proxy.log" 2>&1 &
ppid=$!
sleep 0.3
t0=$(date +%s.%N)
r=$(mapi "$src" PUT /migrate "{\"uri\":\"tcp:127.0.0.1:$pport\",\"mode\":\"postcopy\",\"max_bandwidth_mibps\":64}")
[ "${r##* }" = 204 ] || snap_fail "PUT /migrate postcopy: $r"
mig_wait "$src" postcopy-paused 30 || snap_fail "the source did not pause: $(mapi "$src" GET /migrate)"
mig_wait "$dst" postcopy-paused 30 || snap_fail "the destination did not pause: $(mapi "$dst" GET /migrate)"
wait "$ppid" 2>/dev/null
state=$(mapi "$src" GET / | sed 's/ [0-9]*$//' | jq -r .state)
[ "$state" = Paused ] || snap_fail "the paused source's VM is '$state', want Paused"
echo "ok: link reset in post-copy -> both postcopy-paused; source: $(mig_field "$src" error); destination: $(mig_field "$dst" error)"

refused "recover on a bad URI" "unknown transport" \
    "$(mapi "$dst" PUT /migrate/recover '{"uri":"bogus:1"}')"
rport=$(free_port)
# The source first: nothing listens yet, it stays paused and says why.
out=$("$CORRAL" migrate --sock "$src" --recover "tcp:127.0.0.1:$rport" 2>&1) &&
    snap_fail "a recovery to nobody succeeded: $out"
grep -q "cannot connect" <<<"$out" || snap_fail "recovery to nobody: $out"
[ "$(mig_field "$src" status)" = postcopy-paused ] || snap_fail "the source left postcopy-paused: $(mapi "$src" GET /migrate)"
echo "ok: recovery before the destination listens -> $out"
out=$("$CORRAL" migrate --sock "$dst" --recover "tcp:127.0.0.1:$rport" 2>&1) ||
    snap_fail "the destination's recover: $out"
grep -q "listening on tcp:127.0.0.1:$rport" <<<"$out" || snap_fail "destination's recover: $out"
refused "a second recover" "already listens" \
    "$(mapi "$dst" PUT /migrate/recover "{\"uri\":\"tcp:127.0.0.1:$(free_port)\"}")"
# A foreign peer on the recovery port is refused; the destination listens on.
timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$rport; printf 'GET / HTTP/1.0\r\n\r\n' >&3; cat <&3 >/dev/null" 2>/dev/null
for ((i = 0; i < 50; i++)); do grep -q "garbage" <<<"$(mig_field "$dst" error)" && break; sleep 0.1; done
[ "$(mig_field "$dst" status)" = postcopy-recover ] && grep -q garbage <<<"$(mig_field "$dst" error)" ||
    snap_fail "a foreign peer: $(mapi "$dst" GET /migrate)"
echo "ok: a foreign peer on the recovery port -> refused ($(mig_field "$dst" error))"

snap_recover_source "$src" "tcp:127.0.0.1:$rport" "$src_dir"
SNAP_SOCK=$dst
[ "$(mig_field "$dst" status)" = completed ] || snap_fail "the destination: $(mapi "$dst" GET /migrate)"
echo "ok: recovered and completed in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
snap_check 1
echo "PASS: a post-copy link reset pauses both sides; recovery over a new URI finishes it with every page intact"
