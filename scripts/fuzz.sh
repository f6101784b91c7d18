#!/usr/bin/env bash
# libFuzzer targets of Waybill (fuzz/, docs/RELIABILITY.md).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]   fuzz one target for SECONDS
#   scripts/fuzz.sh --ci [SECONDS]                         every target, ~SECONDS each as a fixed number of runs
#                                                          from -seed=1 (default 25); fails on a finding
#   scripts/fuzz.sh --build                                build the targets only
#   scripts/fuzz.sh --seeds                                rewrite fuzz/corpus/request from examples/ (the request seeds)
#   scripts/fuzz.sh --replay TARGET FILE...                run inputs once (a crash reproduces here)
#   Options, before the command: --debug (the -Onone build: compiles in about half the time, runs
#   at about half the speed; what CI uses), --no-build (use the binaries already built).
#
# Targets: frame request erp-drop erp-extract policy scenario.
# The fuzz package (fuzz/Package.swift) is built in release (or debug) with AddressSanitizer and libFuzzer
# into fuzz/.build: never into .build, never into the product. New interesting inputs go to
# fuzz/.build/corpus/TARGET (not committed); the committed seeds in fuzz/corpus/TARGET are only
# read. A crash, leak-free timeout or out-of-memory input is written to fuzz/crashes/TARGET-*:
# fix the product, then commit the input to fuzz/regressions/TARGET/ with a regression test (found
# before its fix: commit it to fuzz/regressions/pending/TARGET/, which the test suite does not replay).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

targets=(frame request erp-drop erp-extract policy scenario)

# Options before the command: --no-build (use the binaries already built), --debug (build and run
# the -Onone build: compiles faster, runs slower; same instrumentation).
no_build=0
configuration=release
while :; do
    case "${1:-}" in
        --no-build) no_build=1; shift ;;
        --debug) configuration=debug; shift ;;
        *) break ;;
    esac
done

executable() {
    case "$1" in
        frame) echo FuzzFrame ;;
        request) echo FuzzRequest ;;
        erp-drop) echo FuzzErpDrop ;;
        erp-extract) echo FuzzErpExtract ;;
        policy) echo FuzzPolicy ;;
        scenario) echo FuzzScenario ;;
        *) echo "unknown fuzz target '$1' (targets: ${targets[*]})" >&2; exit 2 ;;
    esac
}

# Largest input per target: a few times the largest seed, small enough to keep executions fast.
max_len() {
    case "$1" in
        frame) echo 4096 ;;
        request) echo 8192 ;;
        *) echo 8192 ;;
    esac
}

build() {
    # Same dependency versions as the root package.
    if [ -f Package.resolved ] && [ ! -f fuzz/Package.resolved ]; then cp Package.resolved fuzz/Package.resolved; fi
    echo "== building fuzz targets ($configuration, -sanitize=fuzzer,address) into fuzz/.build"
    # One -sanitize= flag with both: `swift build --sanitize=fuzzer --sanitize=address` passes two
    # flags, swiftc keeps the last, and the Swift code is then built without coverage instrumentation
    # (libFuzzer runs blind: "no interesting inputs were found").
    (cd fuzz && swift build -c "$configuration" --scratch-path .build -Xswiftc -sanitize=fuzzer,address)
}

bin() { echo "$root/fuzz/.build/$configuration/$(executable "$1")"; }

# Leaks are not findings here: the request target's server lives until exit by design.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
# libFuzzer reports a crash (stack, input, artifact) itself. Swift's own backtracer would start
# swift-backtrace on the same signal, which can sit on the terminal/pipe for minutes.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
export WAYBILL_ROOT="$root"

# The JSON targets start from a dictionary of JSON syntax and boundary numbers.
dictionary() {
    case "$1" in
        erp-drop|erp-extract|policy|scenario) echo "-dict=fuzz/dictionaries/json.dict" ;;
    esac
}

# Executions per second of CI's fixed runs: about 80% of what each target did on the 2-core
# development machine (docs/RELIABILITY.md), per build configuration.
ci_runs_per_second() {
    if [ "$configuration" = debug ]; then
        case "$1" in frame) echo 3500 ;; request) echo 300 ;; erp-drop) echo 1400 ;; erp-extract) echo 2800 ;; policy) echo 2200 ;; scenario) echo 2800 ;; esac
    else
        case "$1" in frame) echo 6000 ;; request) echo 1200 ;; erp-drop) echo 2500 ;; erp-extract) echo 5800 ;; policy) echo 5500 ;; scenario) echo 3300 ;; esac
    fi
}

# One line from a run's log: executions, exec/s, coverage and corpus at the end.
summary() {
    local last stats
    last=$(grep -E '^#[0-9]+' "$1" | tail -1 | sed -E 's/^#([0-9]+)\s+\S+\s+/runs: \1 /; s/ lim: [0-9]+//; s/ (exec\/s|rss): [0-9a-zA-Z]+//g')
    stats=$(grep -E 'stat::average_exec_per_sec' "$1" | awk '{print $2}')
    echo "${last:-no executions}, ${stats:-?} exec/s"
}

run() {
    local target=$1 seconds=$2
    shift 2
    local work="${WORK_CORPUS:-fuzz/.build/corpus/$target}"
    mkdir -p "$work" fuzz/crashes
    echo "== fuzz $target for ${seconds}s"
    "$(bin "$target")" "$work" "fuzz/corpus/$target" \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=3072 \
        -detect_leaks=0 -print_final_stats=1 -artifact_prefix="fuzz/crashes/$target-" $(dictionary "$target") "$@"
}

case "${1:-}" in
    --build)
        build ;;
    --ci)
        # CI: every target from a fixed seed for a fixed number of executions (SECONDS times the
        # target's measured rate, ci_runs_per_second), from the committed seeds only, so that a run
        # does the same work on a fast or a loaded machine and a finding does not come and go with
        # timing (the request target's server threads stay nondeterministic). -max_total_time caps
        # a very slow machine at 4 x SECONDS. Any crash, sanitizer report, timeout or out-of-memory
        # fails the step. Each target's log is fuzz/.build/logs/TARGET.log; on a finding its end is
        # printed and the input is in fuzz/crashes/TARGET-*.
        seconds=${2:-25}
        [ "$no_build" = 1 ] || build
        mkdir -p fuzz/.build/logs
        failed=()
        for target in "${targets[@]}"; do
            log="fuzz/.build/logs/$target.log"
            started=$(date +%s)
            rm -rf "fuzz/.build/ci-corpus/$target"
            if WORK_CORPUS="fuzz/.build/ci-corpus/$target" run "$target" $(( seconds * 4 )) -seed=1 \
                -runs=$(( seconds * $(ci_runs_per_second "$target") )) >"$log" 2>&1; then
                echo "== $target: $(summary "$log") ($(( $(date +%s) - started )) s)"
            else
                echo "== $target: FINDING ($(( $(date +%s) - started )) s); the end of $log:"
                tail -120 "$log"
                failed+=("$target")
            fi
        done
        if [ ${#failed[@]} -gt 0 ]; then
            echo "fuzzing found crashes in: ${failed[*]} (inputs in fuzz/crashes/)" >&2
            exit 1
        fi
        echo "fuzzing: no findings" ;;
    --seeds)
        build
        rm -f fuzz/corpus/request/request-*
        WAYBILL_FUZZ_WRITE_SEEDS="$root/fuzz/corpus/request" "$(bin request)"
        ls fuzz/corpus/request | wc -l ;;
    --replay)
        target=${2:?--replay TARGET FILE...}
        shift 2
        "$(bin "$target")" "$@" ;;
    ""|-h|--help)
        sed -n '2,19p' "$0" ;;
    *)
        target=$1
        seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
        shift 2
        executable "$target" >/dev/null
        [ "$no_build" = 1 ] || build
        run "$target" "$seconds" "$@" ;;
esac
