#!/usr/bin/env bash
# The kill -9 durability soak: tests/guest/qcow2_kill.sh with 20 runs.
QCOW2_KILL_RUNS=${QCOW2_KILL_RUNS:-20} exec bash "$(dirname "$0")/../../tests/guest/qcow2_kill.sh"
