# REST helpers for the migration tests that drive two or more VMMs by
# their API sockets (sourced; not a test itself).

# mapi SOCK METHOD PATH [BODY] -> prints "BODY STATUS"
mapi() {
    curl -s --max-time 20 --unix-socket "$1" -X "$2" -w ' %{http_code}' \
        ${4:+-H 'Content-Type: application/json' -d "$4"} "http://localhost$3"
}
# mig_field SOCK KEY: one field of GET /migrate (a jq path after the dot)
mig_field() { mapi "$1" GET /migrate | sed 's/ [0-9]*$//' | jq -r ".$2"; }
# mig_wait SOCK STATUS SECONDS: until GET /migrate says STATUS (1: it did not)
mig_wait() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [ "$(mig_field "$1" status)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
