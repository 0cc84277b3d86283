# REST helpers for guest tests that drive a VM's API socket at $sock.
# The test defines fail MESSAGE (print the console, say FAIL, exit 1).

# api_setup OUTNAME: what such a test needs first: curl and jq, the guest
# images ($dir), a scratch directory ($work, removed at exit with the VMM
# $pid killed), $sock in it, the VMM's output file $work/OUTNAME ($out),
# and a private VM registry.
api_setup() {
    command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
    command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
    dir=$(guest_dir) || { echo "FAIL: no guest images"; exit 1; }
    work=$(mktemp -d)
    sock=$work/api.sock
    out=$work/$1
    pid=
    trap 'api_cleanup' EXIT
    export XDG_RUNTIME_DIR=$work/run
    mkdir -p "$XDG_RUNTIME_DIR"
}
api_cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }

# api METHOD PATH [BODY] -> prints "BODY STATUS"
api() {
    local m=$1 p=$2
    shift 2
    curl -s --max-time 20 --unix-socket "$sock" -X "$m" -w ' %{http_code}' \
        ${1:+-H 'Content-Type: application/json' -d "$1"} "http://localhost$p"
}

# api_body METHOD PATH [BODY] -> the body alone
api_body() {
    api "$@" | sed 's/ [0-9]*$//'
}

# expect_status WANT METHOD PATH [BODY]: the status, and a fault_message
# with every error.
expect_status() {
    local want=$1 r
    shift
    r=$(api "$@")
    [ "${r##* }" = "$want" ] || fail "$1 $2 ${3:-}: got '$r', want status $want"
    if [ "$want" -ge 400 ]; then
        grep -q '"fault_message"' <<<"$r" || fail "$1 $2: no fault_message in '$r'"
    fi
}

# within VALUE LO HI: LO <= VALUE <= HI (decimals)
within() {
    awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'
}
