# REST helpers for guest tests that drive a VM's API socket at $sock.
# The test defines fail MESSAGE (print the console, say FAIL, exit 1).

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
