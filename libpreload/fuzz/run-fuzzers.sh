#!/usr/bin/env bash
# Runs every libFuzzer harness of a fuzz build for a bounded time, one after
# the other (the machine's cores are shared), and fails on the first crash.
#
#   libpreload/fuzz/run-fuzzers.sh BUILD_DIR [SECONDS] [TARGET...]
#
# Each harness first replays its seed corpus (libpreload/fuzz/corpus/<t>/,
# crash regressions included), then mutates for SECONDS (default 30).  New
# interesting inputs go to BUILD_DIR/fuzz-corpus/<t>/ (kept between runs,
# never into the repository); a crashing input is written to
# BUILD_DIR/fuzz-crashes/<t>-crash-<sha1> and its path printed: copy it into
# corpus/<t>/ once fixed, so it stays a regression input.
set -euo pipefail

build=${1:?usage: run-fuzzers.sh BUILD_DIR [SECONDS] [TARGET...]}
seconds=${2:-30}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xml_list xml_error config cred uri manifest peer_request bc_settings)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
for t in "${targets[@]}"; do
    exe=$build/libpreload/fuzz/fuzz_$t
    [ -x "$exe" ] || { echo "run-fuzzers: $exe is missing (ninja -C $build?)" >&2; exit 2; }
    work=$build/fuzz-corpus/$t
    crashes=$build/fuzz-crashes
    mkdir -p "$work" "$crashes"
    case $t in config|cred|bc_settings) d=json ;; *) d=$t ;; esac
    dict=()
    [ -f "$here/dict/$d.dict" ] && dict=(-dict="$here/dict/$d.dict")
    echo "== fuzz_$t: ${seconds}s"
    # -timeout: an input that runs 10 s counts as a hang (a failure);
    # -rss_limit_mb: so does one that needs 2 GiB.
    if ! "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -print_final_stats=1 -artifact_prefix="$crashes/$t-" "${dict[@]}" \
            "$work" "$here/corpus/$t" > "$build/fuzz-$t.log" 2>&1; then
        tail -n 60 "$build/fuzz-$t.log" >&2
        echo "run-fuzzers: fuzz_$t FAILED (log: $build/fuzz-$t.log, input in $crashes/)" >&2
        failed+=("$t")
        continue
    fi
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$build/fuzz-$t.log" | tail -n 1
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "run-fuzzers: failed: ${failed[*]}" >&2
    exit 1
fi
echo "run-fuzzers: all ${#targets[@]} fuzzers passed (${seconds}s each)"
