#!/usr/bin/env bash
# Issue 14, defect 8 (CLI part): --memory 0 is refused (it used to mean the
# 512 MiB default), -z and --rng=1 get messages that say what is wrong, and
# --console file:PATH does not truncate the file when validation fails.
source "$(dirname "$0")/lib/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
want() { # WANT_RC WANT_TEXT ARGS...
    local rc=0 out want_rc=$1 text=$2
    shift 2
    out=$("$CORRAL" run "$@" </dev/null 2>&1) || rc=$?
    echo "corral run $*: exit $rc: $out"
    [ "$rc" -eq "$want_rc" ] || fail "corral run $*: exit $rc, want $want_rc"
    grep -qF -- "$text" <<<"$out" || fail "corral run $*: no '$text' in '$out'"
}
want 2 "--memory 0: must be at least 1M" --memory 0 --test /dev/null
want 2 "unknown option '-z'" -z
want 2 "option --rng does not take a value" --rng=1
want 2 "option --kernel needs a value" --kernel
echo "keep me" >"$work/con.txt"
want 1 "No such file or directory" --kernel "$work/none" --firmware "$work/none" \
    --console "file:$work/con.txt"
[ "$(cat "$work/con.txt")" = "keep me" ] || fail "--console file: truncated by a failed run"
echo "ok: flag errors say what is wrong; a failed run leaves the console file alone"
