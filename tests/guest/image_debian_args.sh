#!/usr/bin/env bash
# Issue 16, "a full Debian system": the fast half of corral image debian and
# corral up --debian (the real build takes 15+ minutes: bench/debian/run.sh).
# Bad arguments get one-line errors naming the flag; the stage markers let
# a build cut off at a stage resume after the stages already done (each
# stage's work stubbed: CORRAL_DEBIAN_STUB); the output appears only when
# complete; corral up --debian without a build says how to make one, and
# with a (stub) build creates its overlay and removes it at exit.
source "$(dirname "$0")/lib/lib.sh"
fw=$(guest_dir)/fw_dynamic.bin || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME=$work/cache
fail() { echo "FAIL: $*"; exit 1; }
want() { # WANT_RC WANT_TEXT ARGS... (corral ARGS)
    local rc=0 out want_rc=$1 text=$2
    shift 2
    out=$("$CORRAL" "$@" </dev/null 2>&1) || rc=$?
    echo "corral $*: exit $rc: $out"
    [ "$rc" -eq "$want_rc" ] || fail "corral $*: exit $rc, want $want_rc"
    grep -qF -- "$text" <<<"$out" || fail "corral $*: no '$text' in '$out'"
    [ "$(wc -l <<<"$out")" -eq 1 ] || fail "corral $*: more than one line"
}
want 2 "image: which system?" image
want 2 "image vm: unknown kind" image vm out.qcow2
want 2 "no output file" image debian
want 2 "no output file" image debian --size 8G
want 2 "--size 8X: not a size" image debian --size 8X "$work/o.qcow2"
want 2 "--size 1G: too small" image debian --size 1G "$work/o.qcow2"
want 2 "--size 99999T: too large" image debian --size 99999T "$work/o.qcow2"
want 2 "option --size needs a value" image debian "$work/o.qcow2" --size
want 2 "--suite bookworm: Debian has riscv64" image debian --suite bookworm "$work/o.qcow2"
want 2 "--suite potato: unknown suite" image debian --suite potato "$work/o.qcow2"
want 2 "--mirror ftp.example: not an http" image debian --mirror ftp.example "$work/o.qcow2"
want 2 "--ssh-key $work/none.pub: not a readable file" image debian --ssh-key "$work/none.pub" "$work/o.qcow2"
want 2 "directory $work/nodir does not exist" image debian "$work/nodir/o.qcow2"
want 2 "unexpected argument" image debian "$work/a.qcow2" "$work/b.qcow2"
want 2 "unknown option '--sise'" image debian --sise 8G "$work/o.qcow2"
"$CORRAL" image --help | grep -q -- "--suite SUITE" || fail "corral image --help"
[ ! -e "$work/cache/corral/debian" ] || fail "an argument error created the cache"

want 1 "no Debian trixie image built yet" up --debian
want 1 "build it with 'corral image debian --suite sid OUT.qcow2'" up --debian=sid
want 2 "--debian is for 'corral up --debian'" run --debian

# Stage logic with stubbed steps: cut off at second-stage, resumed.
export CORRAL_DEBIAN_STUB=1
out=$(CORRAL_DEBIAN_STUB_FAIL=second-stage "$CORRAL" image debian "$work/o.qcow2" 2>&1) && fail "the stubbed failure did not fail: $out"
echo "$out"
grep -q "error: stage second-stage: failed" <<<"$out" || fail "no failure message"
[ ! -e "$work/o.qcow2" ] || fail "OUT written by a build that failed"
D=$work/cache/corral/debian/trixie
ls "$D/stages"
[ -f "$D/stages/foreign.done" ] && [ -f "$D/stages/image.done" ] || fail "finished stages not marked"
[ ! -e "$D/stages/second-stage.done" ] || fail "the failed stage is marked done"
[ -z "$(ls -A "$work" | grep '^\.o\.qcow2')" ] || fail "a temporary OUT was left"
out=$("$CORRAL" image debian "$work/o.qcow2" 2>&1) || fail "resumed build: $out"
echo "$out"
grep -q "\[1/5\] foreign: done earlier" <<<"$out" || fail "foreign ran again"
grep -q "\[2/5\] image: done earlier" <<<"$out" || fail "image ran again"
grep -q "\[3/5\] second-stage$" <<<"$out" || fail "second-stage did not run on resume"
grep -q "\[5/5\] qcow2$" <<<"$out" || fail "qcow2 did not run"
qemu-img info "$work/o.qcow2" | grep -q "file format: qcow2" || fail "OUT is not qcow2"
# A finished build is not redone; other options need --rebuild.
out=$("$CORRAL" image debian "$work/o2.qcow2" 2>&1) || fail "second build: $out"
[ "$(grep -c "done earlier" <<<"$out")" -eq 5 ] || fail "a finished build ran a stage again: $out"
want 1 "made with other options" image debian --size 4G "$work/o3.qcow2"
out=$("$CORRAL" image debian --size 4G --rebuild "$work/o3.qcow2" 2>&1) || fail "--rebuild: $out"
grep -q "\[1/5\] foreign$" <<<"$out" || fail "--rebuild did not start over"

# corral up --debian over the stub build: its overlay (a qcow2 over
# base.qcow2) exists while it runs and is gone after. The stub kernel
# cannot load, so corral stops at once with an error.
out=$("$CORRAL" up --debian --firmware "$fw" --timeout 5 </dev/null 2>&1) && fail "the stub kernel booted?"
echo "$out"
grep -q "ssh -p [0-9]* root@127.0.0.1" <<<"$out" || fail "no ssh command printed"
grep -q "console login: root, password [a-zA-Z0-9]\{16\}" <<<"$out" || fail "no password printed"
[ -z "$(ls "$D/run" 2>/dev/null)" ] || fail "overlay left behind: $(ls "$D/run")"
echo "ok: argument errors, stage resume, atomic output, up --debian's overlay"
