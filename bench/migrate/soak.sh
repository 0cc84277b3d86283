#!/usr/bin/env bash
# Migration soak: tests/guest/migrate_back_forth.sh with 100 pre-copy and
# 100 post-copy moves back and forth (20 each in make test), pagecheck
# verified after each; then tests/guest/migrate_precopy.sh with 100 moves
# through its ways of sending less (5 in make test). MIGRATE_MOVES and
# MIGRATE_ROUNDS override the counts.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
MIGRATE_MOVES=${MIGRATE_MOVES:-100} bash "$HERE/../../tests/guest/migrate_back_forth.sh"
MIGRATE_ROUNDS=${MIGRATE_ROUNDS:-100} bash "$HERE/../../tests/guest/migrate_precopy.sh"
