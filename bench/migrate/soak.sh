#!/usr/bin/env bash
# Migration soak: 100 pre-copy migrations back and forth of
# tests/guest/migrate_precopy.sh (6 run in make test), pagecheck verified
# after each. MIGRATE_ROUNDS overrides the count.
HERE=$(cd "$(dirname "$0")" && pwd)
MIGRATE_ROUNDS=${MIGRATE_ROUNDS:-100} exec bash "$HERE/../../tests/guest/migrate_precopy.sh"
