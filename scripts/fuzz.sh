#!/usr/bin/env bash
# Fuzzes every parser with libFuzzer for a bounded time; fails on any finding.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default 60 s, every target)
#   scripts/fuzz.sh --seeds                              (regenerate fuzz/corpus/, then exit)
#
# Targets (fuzz/harness/<target>.swift): idx, cifar, npy, npz, safetensors, store (trajectory
# store + checkpoint files), json (config files), gzip. Each starts from the committed seed corpus
# fuzz/corpus/<target>/ (copied to a working corpus under the scratch path, so the committed one
# only changes by hand) and runs for the given time with these limits, each a failure when hit:
#   -rss_limit_mb=2048      the process's memory (ASan overhead included)
#   -malloc_limit_mb=256    any single allocation: inputs are at most 64 KiB (-max_len=65536), so
#                           256 MiB is a >4000x blow-up from a hostile file
#   -timeout=10             seconds for one input (a hang)
# plus every ASan report (out-of-bounds, use-after-free, ...), Swift traps (overflow, bad
# index, force-unwrap, precondition in the harness's oracles) and leaks (LeakSanitizer).
# Crashing inputs are saved to $AST_FUZZ_SCRATCH/findings/<target>/; a summary line per target
# gives executions, exec/s, coverage and corpus size. Environment: AST_FUZZ_SCRATCH (default
# .build-fuzz), AST_FUZZ_JOBS (parallel targets, default 1).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scratch="${AST_FUZZ_SCRATCH:-$root/.build-fuzz}"
export AST_FUZZ_SCRATCH="$scratch"
all_targets=(idx cifar npy npz safetensors store json gzip)

if [ "${1:-}" = "--seeds" ]; then
    "$(scripts/venv.sh)" fuzz/make-seeds.py   # needs numpy: the scripts' venv
    fuzz/build.sh store
    mkdir -p fuzz/corpus/store
    tmp="$(mktemp -d)"
    LIBAST_FUZZ_TMP="$tmp" LIBAST_FUZZ_WRITE_SEEDS="$root/fuzz/corpus/store" "$scratch/bin/store-fuzzer"
    rm -rf "$tmp"
    exit 0
fi

seconds="${1:-60}"
[ "$#" -gt 0 ] && shift
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")

fuzz/build.sh "${targets[@]}"

# Scratch files on tmpfs when there is one: the path-based parsers rewrite a file per input.
tmpbase="${TMPDIR:-/tmp}"
[ -d /dev/shm ] && [ -w /dev/shm ] && tmpbase=/dev/shm
tmp="$(mktemp -d "$tmpbase/libast-fuzz.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export LIBAST_FUZZ_TMP="$tmp"
logs="$scratch/logs"
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    work="$scratch/corpus/$t"
    findings="$scratch/findings/$t"
    mkdir -p "$work" "$findings"
    log="$logs/$t.log"
    echo "scripts/fuzz.sh: $t for ${seconds}s (log $log)"
        status=0
    # SWIFT_BACKTRACE=enable=no: let libFuzzer, not Swift's crash handler, report traps.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0:abort_on_error=0:symbolize=1" \
    "$scratch/bin/$t-fuzzer" "$work" "fuzz/corpus/$t" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" \
        >"$log" 2>&1 || status=$?
    execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo 0)"
    rate="$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo 0)"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)"
    line="$t: ${execs} execs, ${rate} exec/s, ${cov:-no coverage line}, exit $status"
    summary+=("$line")
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        echo "scripts/fuzz.sh: FINDING in $t (exit $status):"
        grep -E -A25 '==[0-9]+==ERROR|Fatal error|SUMMARY|deadly signal|out-of-memory|timeout' "$log" | head -60
        ls "$findings"
    fi
done

printf '\nscripts/fuzz.sh: summary (%ss per target)\n' "$seconds"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "scripts/fuzz.sh: FAIL: findings in ${failed[*]} (inputs in $scratch/findings/)" >&2
    exit 1
fi
echo "scripts/fuzz.sh: no findings"
