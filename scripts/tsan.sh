#!/usr/bin/env bash
# ThreadSanitizer runs (`make tsan`), on a build configured with
# -Db_sanitize=thread (default build-tsan/):
#   1. the live engine test (tests/test_c_engine_live.py) with the TSan-built
#      live_engine against the emulator, v1 and v4 signing;
#   2. the node-wide model cache read by several processes x threads through
#      the TSan-built libossc_preload.so (tests/tsan/).
# Any TSan report fails the run; reports are summarised in pytest's output.
set -euo pipefail

build=${1:-build-tsan}
PY=${PYTHON:-python3}
lib=$build/libpreload/libossc_preload.so
[ -f "$lib" ] || { echo "tsan.sh: $lib is missing (ninja -C $build)" >&2; exit 2; }
tsan_rt=$(ldd "$lib" | awk '/libtsan/ { print $3 }')
[ -n "$tsan_rt" ] || { echo "tsan.sh: $lib is not linked with libtsan (-Db_sanitize=thread?)" >&2; exit 2; }

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1}
status=0
OSSC_LIVE_ENGINE_BINS=$build/libpreload/tests/live_engine \
    $PY -m pytest -q tests/test_c_engine_live.py || status=1
OSSC_TSAN_PRELOAD=$(realpath "$lib") \
    $PY -m pytest -q tests/tsan || status=1
exit $status
