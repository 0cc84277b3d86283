# Helpers of the full-Debian benchmarks (sourced by e2e.sh, migrate.sh;
# not a benchmark itself): the cached build, a scratch directory with its
# own VM registry, and a console login. Needs tests/guest/lib/lib.sh.
SUITE=${E2E_SUITE:-trixie}
D=${XDG_CACHE_HOME:-$HOME/.cache}/corral/debian/$SUITE
[ -r "$D/base.qcow2" ] || { echo "$(basename "$0"): no Debian $SUITE build in $D: run 'corral image debian OUT.qcow2' first"; exit 1; }
work=$(mktemp -d)
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
trap '[ -n "${CORRAL_PID:-}" ] && kill -9 "$CORRAL_PID" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "---- console ----"; tail -n 40 "${SESSION_LOG:-/dev/null}"; echo "$(basename "$0" .sh): FAIL: $*"; exit 1; }
pw=$(cat "$D/root-password" 2>/dev/null) || fail "no $D/root-password"

# login: log in as root on the console. A prompt has no newline, and the
# console log is kept by lines: an Enter now and then makes getty print
# the prompt again and end the line before it; the password is typed
# after a pause (login reads it with the terminal's echo off).
login() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -aqE 'login:[[:space:]]*$' "$SESSION_LOG" && break
        send $'\n'
        sleep 3
    done
    grep -aqE 'login:[[:space:]]*$' "$SESSION_LOG" || { wait_for 'login:[[:space:]]*$' 1; fail "no login prompt on the console"; }
    sleep 1
    send $'root\n'
    sleep 4
    send "$pw"$'\n'
    sleep 4
    send $'echo "LOG""GED-IN $(id -u)"\n'
    wait_for 'LOGGED-IN 0' 60 || fail "root's console login failed"
}
