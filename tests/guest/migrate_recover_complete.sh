#!/usr/bin/env bash
# Post-copy when only the final pc-complete is lost (docs/migration.md,
# "Only pc-complete lost"), and the recovery window: a post-copy move of
# the page-verifying workload through a relay that resets the link when
# the destination's pc-complete passes. The destination has every page
# and runs the guest (completed); the source cannot know and pauses
# (postcopy-paused, saying every page had been sent). PUT /migrate/recover
# on the completed destination, then on the source, tells the source:
# it completes and exits 0, the guest goes on with zero mismatched pages.
# Then the same break with postcopy_recover_window_s 2 and no recovery:
# the source ends failed after 2 s ("no recovery within 2 s"), its VM
# left paused, never running beside the destination's.
source "$(dirname "$0")/lib/snapshot_lib.bash"
command -v jq >/dev/null || snap_fail "jq is not installed"
[ -x "$BUILD/tools/faultproxy" ] || snap_fail "no $BUILD/tools/faultproxy (make tools)"
source "$(dirname "$0")/lib/migrate_api.bash"
vm_state() { mapi "$1" GET / | sed 's/ [0-9]*$//' | jq -r .state; }

# lost_complete SRC DST WINDOW: a destination on DST (its own console
# session; the source's kept in fd 9), the move in post-copy through a
# relay that drops the link at its pc-complete; returns once the source
# is postcopy-paused and the destination completed. Leaves src_dir.
lost_complete() {
    local src=$1 dst=$2 window=$3 port pport ppid r
    port=$(free_port)
    pport=$(free_port)
    src_dir=$SESSION_DIR
    src_pid=$CORRAL_PID
    exec 9>&7
    start_corral "$SNAP_WORK/console-$(basename "$dst").log" run --incoming "tcp:127.0.0.1:$port" \
        --api-sock "$dst"
    "$BUILD/tools/faultproxy" "$pport" "$port" drop-reply pc-complete >"$SNAP_WORK/proxy.log" 2>&1 &
    ppid=$!
    sleep 0.3
    r=$(mapi "$src" PUT /migrate "{\"uri\":\"tcp:127.0.0.1:$pport\",\"mode\":\"postcopy\",\"postcopy_recover_window_s\":$window}")
    [ "${r##* }" = 204 ] || snap_fail "PUT /migrate postcopy: $r"
    mig_wait "$src" postcopy-paused 60 || snap_fail "the source did not pause: $(mapi "$src" GET /migrate)"
    wait "$ppid" 2>/dev/null
    grep -q "dropped at a reply with 'pc-complete'" "$SNAP_WORK/proxy.log" ||
        snap_fail "the relay did not drop pc-complete: $(cat "$SNAP_WORK/proxy.log")"
    mig_wait "$dst" completed 30 || snap_fail "the destination did not complete: $(mapi "$dst" GET /migrate)"
    [ "$(mig_field "$src" postcopy_recover_window_s)" = "$window" ] ||
        snap_fail "GET /migrate: window $(mig_field "$src" postcopy_recover_window_s), want $window"
    grep -q "every page had been sent" <<<"$(mig_field "$src" error)" ||
        snap_fail "the source does not say every page was sent: $(mig_field "$src" error)"
    [ "$(vm_state "$src")" = Paused ] || snap_fail "the paused source's VM is '$(vm_state "$src")'"
    echo "ok: pc-complete lost -> source postcopy-paused ($(mig_field "$src" error)), destination completed"
}

# Bad input first: a window out of range is refused at the start.
snap_boot 1
src=$SNAP_SOCK
for w in 0 601 '"60"'; do
    r=$(mapi "$src" PUT /migrate "{\"uri\":\"tcp:127.0.0.1:1\",\"postcopy_recover_window_s\":$w}")
    [ "${r##* }" = 400 ] && grep -q postcopy_recover_window_s <<<"$r" ||
        snap_fail "window $w accepted: $r"
done
out=$("$CORRAL" migrate --sock "$src" --recover-window 0 tcp:127.0.0.1:1 2>&1) &&
    snap_fail "--recover-window 0 accepted: $out"
grep -q -- "--recover-window 0: expected 1..600" <<<"$out" || snap_fail "--recover-window 0: $out"
echo "ok: windows 0, 601 and a string refused ($out)"

dst=$SNAP_WORK/dst.sock
lost_complete "$src" "$dst" 20
rport=$(free_port)
out=$("$CORRAL" migrate --sock "$dst" --recover "tcp:127.0.0.1:$rport" 2>&1) ||
    snap_fail "recover on the completed destination: $out"
grep -q "listening on tcp:127.0.0.1:$rport" <<<"$out" || snap_fail "destination's recover: $out"
refused=$(mapi "$dst" PUT /migrate/recover "{\"uri\":\"tcp:127.0.0.1:$(free_port)\"}")
[ "${refused##* }" = 400 ] && grep -q "already listens" <<<"$refused" ||
    snap_fail "a second recover on the destination: $refused"
snap_recover_source "$src" "tcp:127.0.0.1:$rport" "$src_dir"
[ "$(mig_field "$dst" status)" = completed ] || snap_fail "the destination: $(mapi "$dst" GET /migrate)"
[ -z "$(mig_field "$dst" error)" ] || snap_fail "the destination reports: $(mig_field "$dst" error)"
SNAP_SOCK=$dst
snap_check 1
echo "ok: the completed destination told its source over a recovery; the source exited 0"

# The same break, a 2 s window, no recovery: the source gives up, paused.
dst2=$SNAP_WORK/dst2.sock
t0=$SECONDS
lost_complete "$dst" "$dst2" 2
mig_wait "$dst" failed 20 || snap_fail "the window did not end it: $(mapi "$dst" GET /migrate)"
grep -q "no recovery within 2 s" <<<"$(mig_field "$dst" error)" || snap_fail "window error: $(mig_field "$dst" error)"
[ "$(vm_state "$dst")" = Paused ] || snap_fail "after the window the source's VM is '$(vm_state "$dst")'"
echo "ok: window of 2 s over in $((SECONDS - t0)) s -> source failed, paused: $(mig_field "$dst" error)"
kill -9 "$src_pid"
exec 9>&-
rm -rf "$src_dir"
SNAP_SOCK=$dst2
snap_check 2
snap_poweroff
echo "PASS: a lost pc-complete is confirmed by a recovery on the completed destination; the recovery window ends a paused source after the time asked"
