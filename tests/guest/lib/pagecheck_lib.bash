# shellcheck shell=bash
# Helpers for guest tests that run the page-verifying workload
# (guest/pagecheck.c, /bin/pagecheck in the initramfs) in an interactive
# session: source tests/guest/lib.sh, start_corral, wait for 'guest ready',
# then source this file.  (Not named *.sh: every tests/guest/*.sh is a test.)
#
#   pagecheck_start MIB [ARGS...]   start it in the background (stderr to
#                                   /run/pagecheck.log) and wait for its
#                                   first status line
#   pagecheck_status [SECS]         ask for the status through the console;
#                                   sets PC_LINE and PC_ROUNDS, PC_VERIFIED,
#                                   PC_WRITTEN, PC_MISMATCHES,
#                                   PC_CLOCK_BACKWARDS, PC_UPTIME_MS, PC_TS,
#                                   PC_AGE_MS, PC_PROCS, PC_MIB, PC_SEED
#   pagecheck_field LINE KEY        one key=value of a status line
#   pagecheck_assert_progress OLD NEW   two PC_LINEs: rounds, verified and
#                                   uptime grew, mismatches=0,
#                                   clock_backwards=0; else prints why and
#                                   returns 1
#   pagecheck_assert_fresh [MAX_AGE_MS] the status file was rewritten
#                                   recently (a frozen guest timer stalls it)
#
# Needs send, wait_for and SESSION_LOG from lib.sh. Status lines travel over
# the console, so each request ends with a numbered marker and the answer is
# the last status line before that marker.
PC_SEQ=0
PC_STATUS_PATH=${PC_STATUS_PATH:-/run/pagecheck.status}

pagecheck_field() { # LINE KEY
    local kv
    for kv in $1; do
        case $kv in "$2="*) printf '%s\n' "${kv#*=}"; return 0 ;; esac
    done
    return 1
}

pagecheck_status() { # [SECS]
    local secs=${1:-30} marker line k v
    PC_SEQ=$((PC_SEQ + 1))
    marker="PCEND-$$-$PC_SEQ"
    send "pagecheck --print $PC_STATUS_PATH; echo $marker rc=\$?"$'\n'
    wait_for "^[0-9.]+ $marker rc=" "$secs" || return 1
    # The last status line before the (first) marker line of the answer.
    line=$(awk -v m="$marker rc=" '
        { sub(/\r$/, "") }
        index($0, m) == index($0, " ") + 1 { found = 1; exit }
        /^[0-9.]+ pagecheck seed=/ { l = $0 }
        END { if (found) print l }' "$SESSION_LOG")
    if [ -z "$line" ] || ! grep -qE "^[0-9.]+ $marker rc=0" "$SESSION_LOG"; then
        echo "---- console ----"; tail -n 10 "$SESSION_LOG"
        echo "pagecheck_status: no status line from the guest (is pagecheck running?)"
        return 1
    fi
    PC_LINE=${line#* }
    for k in seed mib rounds verified written mismatches clock_backwards uptime_ms ts age_ms procs; do
        v=$(pagecheck_field "$PC_LINE" "$k") || { echo "pagecheck_status: no $k= in '$PC_LINE'"; return 1; }
        case $v in ''|*[!0-9-]*) echo "pagecheck_status: bad $k=$v in '$PC_LINE'"; return 1 ;; esac
        printf -v "PC_${k^^}" '%s' "$v"
    done
    return 0
}

pagecheck_start() { # MIB [ARGS...]
    local mib=$1 i
    shift
    send "rm -f $PC_STATUS_PATH $PC_STATUS_PATH.*; pagecheck --mib $mib --status $PC_STATUS_PATH $* 2>/run/pagecheck.log &"$'\n'
    # The first status line comes after the region is filled.
    for ((i = 0; i < 60; i++)); do
        sleep 1
        pagecheck_status 20 >/dev/null 2>&1 && return 0
    done
    pagecheck_status 20
}

pagecheck_assert_progress() { # OLD NEW
    local old=$1 new=$2 k o n bad=0
    for k in rounds verified uptime_ms; do
        o=$(pagecheck_field "$old" "$k"); n=$(pagecheck_field "$new" "$k")
        if [ -z "$o" ] || [ -z "$n" ] || [ "$n" -le "$o" ]; then
            echo "pagecheck: $k did not grow: ${o:-?} -> ${n:-?}"; bad=1
        fi
    done
    for k in mismatches clock_backwards; do
        n=$(pagecheck_field "$new" "$k")
        if [ "${n:-x}" != 0 ]; then
            echo "pagecheck: $k=${n:-?} (expected 0)"; bad=1
        fi
    done
    if [ $bad = 1 ]; then
        echo "  old: $old"
        echo "  new: $new"
        send $'cat /run/pagecheck.log\n'
        sleep 1
        echo "---- console ----"; tail -n 15 "$SESSION_LOG"
        return 1
    fi
    return 0
}

pagecheck_assert_fresh() { # [MAX_AGE_MS]
    local max=${1:-5000}
    pagecheck_status || return 1
    if [ "$PC_AGE_MS" -gt "$max" ]; then
        echo "pagecheck: status is ${PC_AGE_MS} ms old (> $max ms): the workload is stalled (frozen guest timer?)"
        return 1
    fi
    return 0
}
