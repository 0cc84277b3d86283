#!/usr/bin/env bash
# Disassemble translated code: bench/cpu/jit-disasm.sh PID [SYMBOL|HEXADDR]
# after a run with CORRAL_JIT_PERF_MAP=2, which writes /tmp/perf-PID.map
# (what perf report names, e.g. guest_pa_80001234) and /tmp/jit-PID.dump
# (the code). Without a symbol, lists the translations.
set -euo pipefail
pid=${1:?usage: jit-disasm.sh PID [SYMBOL|HEXADDR]}
map=/tmp/perf-$pid.map dump=/tmp/jit-$pid.dump
[ -r "$map" ] && [ -r "$dump" ] || { echo "jit-disasm: no $map or $dump (run with CORRAL_JIT_PERF_MAP=2)" >&2; exit 1; }
if [ $# -lt 2 ]; then cat "$map"; exit 0; fi
case $2 in
guest_pa_*) addr=$(awk -v s="$2" '$3 == s { a = $1 } END { print a }' "$map") ;;
*) addr=${2#0x} ;;
esac
[ -n "$addr" ] || { echo "jit-disasm: $2 is not in $map" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# the last record whose code starts at addr (a flushed arena reuses addresses)
python3 - "$dump" "$addr" "$tmp" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
want, code, off = int(sys.argv[2], 16), None, 0
while off + 12 <= len(data):
    a, n = struct.unpack_from('<QI', data, off)
    if a == want:
        code = data[off + 12:off + 12 + n]
    off += 12 + n
if code is None:
    sys.exit('jit-disasm: no code dumped at %x' % want)
open(sys.argv[3], 'wb').write(code)
PY
objdump -D -b binary -m i386:x86-64 --adjust-vma="0x$addr" "$tmp" | tail -n +8
