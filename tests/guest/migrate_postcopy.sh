#!/usr/bin/env bash
# Post-copy live migration (userfaultfd on the destination) with the
# page-verifying workload: a move in post-copy mode and one in auto mode
# (pre-copy that switches after 3 rounds when it does not converge): zero
# mismatched pages, the counter and uptime continue, pages the destination
# faulted on were served on demand. Failure while memory is split: a
# destination killed in post-copy leaves the source paused (postcopy-paused:
# it cannot tell a dead peer from a dead link, see migrate_recover.sh);
# cancelled there it is failed, intact and resumable (never running beside
# it); a source killed in post-copy pauses the destination, and a cancel
# there stops it with a clear error rather than a hang.
source "$(dirname "$0")/lib/snapshot_lib.bash"
command -v jq >/dev/null || snap_fail "jq is not installed"
api() { # METHOD PATH [BODY] -> BODY STATUS (API_SOCK, else SNAP_SOCK)
    curl -s --max-time 20 --unix-socket "${API_SOCK:-$SNAP_SOCK}" -X "$1" -w ' %{http_code}' \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "http://localhost$2"
}
mig_status() { api GET /migrate | sed 's/ [0-9]*$//' | jq -r .status; }
wait_status() { # STATUS SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ "$(mig_status)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

snap_boot 1
snap_check 0
snap_migrate 1 --mode postcopy
grep -q "mode postcopy: [0-9]* pages" <<<"$SNAP_MIG_OUT" || snap_fail "no post-copy figures: $SNAP_MIG_OUT"
snap_check 1
snap_migrate 2 --mode auto --downtime-ms 1
grep -q "mode auto:" <<<"$SNAP_MIG_OUT" || snap_fail "auto did not switch to post-copy: $SNAP_MIG_OUT"
snap_check 2

# postcopy_started LOG: a destination (its output in LOG, pid in dpid, its
# API on LOG.sock) running the guest while the source still serves its
# pages at 16 MiB/s.
postcopy_started() {
    local port r
    port=$(free_port)
    "$CORRAL" run --incoming "tcp:127.0.0.1:$port" --api-sock "$1.sock" </dev/null >"$1" 2>&1 &
    dpid=$!
    sleep 0.3
    r=$(api PUT /migrate "{\"uri\":\"tcp:127.0.0.1:$port\",\"mode\":\"postcopy\",\"max_bandwidth_mibps\":16}")
    [ "${r##* }" = 204 ] || snap_fail "PUT /migrate postcopy: $r"
    wait_status postcopy-active 30 || snap_fail "post-copy did not start: $(api GET /migrate)"
}

# The destination dies while it runs the guest: the source keeps the
# guest paused (not running twice), waiting for a recovery; cancelled,
# it can be resumed by the user.
postcopy_started "$SNAP_WORK/dkill.log"
r=$(api PUT /migrate/cancel)
[ "${r##* }" = 400 ] && grep -q "runs on the destination" <<<"$r" ||
    snap_fail "a cancel while post-copy runs: $r"
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
wait_status postcopy-paused 40 || snap_fail "the source did not see the destination die: $(api GET /migrate)"
r=$(api PUT /migrate/cancel)
[ "${r##* }" = 204 ] || snap_fail "cancel in postcopy-paused: $r"
wait_status failed 10 || snap_fail "cancelled in postcopy-paused: $(api GET /migrate)"
state=$(api GET / | sed 's/ [0-9]*$//' | jq -r .state)
[ "$state" = Paused ] || snap_fail "after a failed post-copy the source is '$state', want Paused"
echo "ok: destination killed in post-copy -> source $state: $(api GET /migrate | sed 's/ [0-9]*$//' | jq -r .error)"
r=$(api PATCH /vm '{"state":"Resumed"}')
[ "${r##* }" = 204 ] || snap_fail "resume after a failed post-copy: $r"
snap_check 3

# The source dies while the destination runs the guest: the destination
# pauses (its pages cannot come until a recovery); cancelled, it stops
# with an error, it does not hang.
postcopy_started "$SNAP_WORK/skill.log"
kill -9 "$CORRAL_PID"
end_session 50
API_SOCK=$SNAP_WORK/skill.log.sock wait_status postcopy-paused 40 ||
    snap_fail "the destination did not pause: $(API_SOCK=$SNAP_WORK/skill.log.sock api GET /migrate)"
r=$(API_SOCK=$SNAP_WORK/skill.log.sock api PUT /migrate/cancel)
[ "${r##* }" = 204 ] || snap_fail "cancel on the paused destination: $r"
for ((i = 0; i < 600; i++)); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && { kill -9 "$dpid"; snap_fail "the destination hangs after its source died"; }
wait "$dpid"
rc=$?
[ "$rc" -ne 0 ] || snap_fail "the destination exited 0 after its source died in post-copy"
grep -q "post-copy failed" "$SNAP_WORK/skill.log" || snap_fail "no clear error: $(tail -n 3 "$SNAP_WORK/skill.log")"
echo "ok: source killed in post-copy -> destination exit $rc: $(grep -m1 'post-copy failed' "$SNAP_WORK/skill.log")"
CORRAL_PID=
echo "PASS: post-copy and auto migrations, failures while memory is split handled (paused, then cancelled)"
