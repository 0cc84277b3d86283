#!/usr/bin/env bash
# Issue 14, defect 1: a guest flooding its console while nobody reads the
# console (stdout a full pipe) must not freeze the VMM. The hart writes
# into a bounded ring and the overflow is dropped and counted, so GET /,
# GET /metrics and PATCH /vm answer at once, console_dropped_bytes grows,
# and SIGTERM ends the process. Bounds are wide (2 s; the figures are
# printed): the issue's target is 100 ms on an idle machine.
source "$(dirname "$0")/lib/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is not installed"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; exec 8>&- ; rm -rf "$work"; }
trap cleanup EXIT
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"
sock=$work/api.sock
riscv64-unknown-elf-gcc -march=rv64g -mabi=lp64d -nostdlib -nostartfiles -static \
    -Wl,-N,--no-warn-rwx-segments -Ttext=0x80000000 -o "$work/flood.elf" \
    "$TOP/tests/guest/progs/uart_flood.S" || { echo "FAIL: cannot build flood.elf"; exit 1; }
# The console: a FIFO that this script holds open and never reads, so
# the pipe fills after 64 KiB and every later write would block.
mkfifo "$work/con"
exec 8<>"$work/con"
"$CORRAL" run --test "$work/flood.elf" --api-sock "$sock" --timeout 120 \
    </dev/null >"$work/con" 2>"$work/err" &
pid=$!
for ((i = 0; i < 200; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$work/err"; echo "FAIL: no API socket"; exit 1; }
sleep 2 # the pipe is full long before this

timed() { # METHOD PATH [BODY] -> "MS STATUS BODY"
    local t0 r
    t0=$(date +%s%N)
    r=$(curl -s --max-time 30 --unix-socket "$sock" -X "$1" -w ' %{http_code}' \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "http://localhost$2")
    echo "$((($(date +%s%N) - t0) / 1000000)) ${r##* } ${r% *}"
}
check() { # WHAT "MS STATUS BODY" WANT_STATUS
    local ms=${2%% *} rest=${2#* }
    local st=${rest%% *}
    echo "$1: ${ms} ms, status $st"
    [ "$st" = "$3" ] || { cat "$work/err"; echo "FAIL: $1: status '$st', want $3"; exit 1; }
    [ "$ms" -lt 2000 ] || { echo "FAIL: $1 took ${ms} ms while the console is stalled"; exit 1; }
}
r=$(timed GET /); check "GET /" "$r" 200
r=$(timed GET /metrics); check "GET /metrics" "$r" 200
body=${r#* }; body=${body#* }
d1=$(jq -r .console_dropped_bytes <<<"$body")
tx1=$(jq -r .devices.uart0.tx_bytes <<<"$body")
echo "console: $tx1 bytes sent by the guest, $d1 dropped"
[ "$d1" -gt 0 ] 2>/dev/null || { echo "FAIL: console_dropped_bytes is '$d1', want > 0"; exit 1; }
sleep 0.5
r=$(timed GET /metrics); check "GET /metrics" "$r" 200
body=${r#* }; body=${body#* }
d2=$(jq -r .console_dropped_bytes <<<"$body")
[ "$d2" -gt "$d1" ] || { echo "FAIL: dropped bytes did not grow ($d1 -> $d2): is the hart stalled?"; exit 1; }
r=$(timed PATCH /vm '{"state":"Paused"}'); check "PATCH /vm Paused" "$r" 204
r=$(timed PATCH /vm '{"state":"Resumed"}'); check "PATCH /vm Resumed" "$r" 204
t0=$(date +%s%N)
kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
ms=$((($(date +%s%N) - t0) / 1000000))
if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL: SIGTERM did not end the VMM within 10 s"; exit 1
fi
wait "$pid"; rc=$?
pid=
echo "SIGTERM: exit $rc after ${ms} ms"
[ "$rc" -eq 143 ] || { cat "$work/err"; echo "FAIL: exit status $rc after SIGTERM, want 143"; exit 1; }
echo "ok: stalled console reader; API answered, $d2 bytes dropped, SIGTERM ended the VMM"
