#!/bin/sh
# Run libFuzzer targets one after the other, each for FUZZ_SECONDS, seeded
# from fuzz/corpus/<target> and fuzz/regressions/<target>.
#
#   fuzz/run.sh <fuzz build dir> [target...]     (no target: all of them)
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_WORK     where the growing corpora, logs and crashes go
#                 (default <build dir>/fuzz-work; never inside fuzz/)
#   FUZZ_ARGS     extra libFuzzer flags, e.g. "-jobs=2 -workers=2"
# New inputs land in $FUZZ_WORK/<target>/corpus, crashes in
# $FUZZ_WORK/<target>/crash-*, the log in $FUZZ_WORK/<target>.log. The last
# line per target says how long it ran, how many executions, cov and ft.
# Exit status: 1 when any target found a crash (the file is named), else 0.
set -eu

build=${1:?usage: fuzz/run.sh <fuzz build dir> [target...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-60}
work=${FUZZ_WORK:-$build/fuzz-work}
targets=${*:-"eio eio_query sio http_query http_head ws_frame rest_json config server"}
found=0

max_len() {
    case $1 in
        eio_query) echo 512 ;;
        http_query) echo 1024 ;;
        config) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

for t in $targets; do
    bin=$build/bin/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin is missing (build with -DPARLEY_FUZZ=ON, or run make fuzz)" >&2
        exit 2
    fi
    mkdir -p "$work/$t/corpus"
    extra=""
    # The server's own thread allocates while an input runs: libFuzzer's
    # per-input leak check would blame the input for it.
    [ "$t" = server ] && extra="-detect_leaks=0"
    dict=""
    [ -f "$here/dict/$t.dict" ] && dict="-dict=$here/dict/$t.dict"
    log=$work/$t.log
    echo "fuzz: $t for ${seconds}s (log $log)"
    rc=0
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$work/$t/" $dict $extra ${FUZZ_ARGS:-} \
        "$work/$t/corpus" "$here/corpus/$t" "$here/regressions/$t" >"$log" 2>&1 || rc=$?
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$rc" -ne 0 ]; then
        found=1
        echo "fuzz: $t: FOUND A PROBLEM (exit $rc): $(ls "$work/$t"/crash-* "$work/$t"/leak-* \
            "$work/$t"/timeout-* "$work/$t"/oom-* 2>/dev/null | tr '\n' ' ')"
        grep -E 'ERROR|oracle|SUMMARY' "$log" | head -n 5
    else
        echo "fuzz: $t: no finding in ${seconds}s, ${execs:-?} execs; last: $stats"
    fi
done
exit $found
