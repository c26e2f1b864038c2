#!/usr/bin/env bash
# Crash safety of `ast-distill experts` and `ast-distill distill`, tested by killing them.
#
#   scripts/crash-test.sh [--kills N] [--seed S] [--quick]
#
# 1. Reference: experts then distill, uninterrupted, on a shrunk `quick` preset (3 experts x 5
#    epochs, width 4, 60 distillation iterations, a checkpoint every iteration).
# 2. For each step, in a fresh output directory: start it, SIGKILL it after a random delay
#    (uniform in [0, the reference run's work time], from a seeded generator, counted from the
#    run's first progress line so kills land in the work, not the data loading; halved after a
#    round that finished before any kill), and restart it,
#    until it completes; rounds repeat until N kills per step (default 15) have happened.
#    After every kill: every *.safetensors under a final name (complete experts, partial experts,
#    checkpoint, distilled set) parses completely (scripts/crash-check.py verify). On every
#    restart: the run resumes from what the killed one saved ("expert i: resuming after epoch
#    e" with e = the partial file's completed_epochs; "resuming distillation after iteration k"
#    with k = the checkpoint's iteration). After each round: the trajectories, checkpoint and
#    distilled set equal the reference byte for byte (tensors and metadata).
# 3. Read-only output directory (a read-only tmpfs, or chmod when not root): experts and distill
#    fail with status 1 and a message naming the path and the reason; earlier outputs intact.
# 4. Full disk (a small tmpfs; skipped when mounting is not permitted): the same, and the last
#    good checkpoint survives the failed write.
# --quick: 3 kills per step (the variant .ci/run runs, ~2-3 minutes).
#
# Environment: AST_DISTILL (a built ast-distill; otherwise built here with test.sh's flags into
# $AST_TEST_SCRATCH, default .build, so CI reuses test.sh's build), PYTHON (default python3).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
kills=15
seed=12345
while [ "$#" -gt 0 ]; do
    case "$1" in
        --kills) kills="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --quick) kills=3; shift ;;
        *) echo "usage: $0 [--kills N] [--seed S] [--quick]" >&2; exit 2 ;;
    esac
done

# say, die, check and $bin (scripts/test-preamble.sh)
source "$root/scripts/test-preamble.sh"

settings=(--preset quick --set data.train_limit=600 --set data.test_limit=300 --set network.width=4
          --set experts.count=3 --set experts.epochs=5 --set distill.iterations=60
          --set distill.checkpoint_every=1 --set distill.syn_steps=4 --set distill.max_start_epoch=1
          --set eval.models=1 --set eval.epochs=3 --set seed=7)

work="$(mktemp -d "${TMPDIR:-/tmp}/libast-crash.XXXXXX")"
mounts=()
cleanup() {
    local m
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Seeded uniform random numbers in [0, 1): a linear congruential generator in awk.
rng_state="$seed"
random_unit() {
    rng_state=$(( (rng_state * 1103515245 + 12345) % 2147483648 ))
    awk -v s="$rng_state" 'BEGIN { printf "%.4f", s / 2147483648 }'
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------------------------------------
ref="$work/reference"
declare -A ref_time
# started_work <pid> <log>: waits for the run's first progress line (data loaded, work begun).
progress_pattern='^(expert [0-9]+|distill [0-9]+/|resuming)'
started_work() {
    while kill -0 "$1" 2>/dev/null && ! grep -Eq "$progress_pattern" "$2"; do sleep 0.05; done
}
for step in experts distill; do
    "$bin" "$step" "${settings[@]}" --out "$ref" >"$work/ref-$step.log" 2>&1 &
    pid=$!
    started_work "$pid" "$work/ref-$step.log"
    start="$(now)"
    wait "$pid" || { cat "$work/ref-$step.log"; die "reference $step failed"; }
    # The work's wall time, from the first progress line to the exit: the range of kill delays.
    ref_time[$step]="$(elapsed "$start")"
    say "reference $step: ${ref_time[$step]} s of work after loading the data"
done
check verify "$ref" >/dev/null

# expected_resume <step> <out>: the log line the next start must print, from the saved state.
expected_resume() {
    local step="$1" out="$2" f e i
    if [ "$step" = distill ]; then
        i="$(check meta "$out/checkpoint.safetensors" iteration)"
        [ -n "$i" ] && echo "resuming distillation after iteration $i"
    else
        for f in "$out"/experts/expert_*.partial.safetensors; do
            [ -e "$f" ] || continue
            e="$(check meta "$f" completed_epochs)"
            i="$(basename "$f" | sed -E 's/^expert_0*([0-9]+)\..*/\1/')"
            echo "expert $i: resuming after epoch $e"
            return
        done
    fi
    return 0
}

# One step, killed and restarted until it completes; kills counted in $step_kills.
killed_round() {
    local step="$1" out="$2" log="$work/run.log" pid delay expect status n=0
    while :; do
        expect="$(expected_resume "$step" "$out")"
        "$bin" "$step" "${settings[@]}" --out "$out" >"$log" 2>&1 &
        pid=$!
        if [ "$step_kills" -lt "$kills" ]; then
            # Count from the first progress line (data loaded, work started) so that the kills
            # land in the work and the writes, not in the data loading, however busy the machine.
            started_work "$pid" "$log"
            delay="$(awk -v u="$(random_unit)" -v t="${ref_time[$step]}" -v f="$scale" 'BEGIN { printf "%.3f", u * t * f }')"
            sleep "$delay"
            if kill -KILL "$pid" 2>/dev/null; then
                wait "$pid" 2>/dev/null || true
                step_kills=$((step_kills + 1)); n=$((n + 1))
                check verify "$out" >/dev/null || die "$step: a file under a final name is partial after kill $step_kills (at ${delay}s)"
                [ -n "$expect" ] && grep -qF "$expect" "$log" && resumed=$((resumed + 1))
                [ -z "$expect" ] || grep -qF "$expect" "$log" || ! grep -q "resuming" "$log" \
                    || die "$step: restart printed $(grep resuming "$log" | head -1), expected '$expect'"
                continue
            fi
        fi
        status=0
        wait "$pid" || status=$?
        [ "$status" -eq 0 ] || { cat "$log"; die "$step exited $status after $n kills"; }
        if [ -n "$expect" ]; then
            grep -qF "$expect" "$log" || { cat "$log"; die "$step: the final restart did not print '$expect'"; }
            resumed=$((resumed + 1))
        fi
        return 0
    done
}

for step in experts distill; do
    step_kills=0
    resumed=0
    scale=1
    round=0
    while [ "$step_kills" -lt "$kills" ]; do
        round=$((round + 1))
        out="$work/$step-$round"
        mkdir -p "$out"
        # distill starts from the reference experts.
        [ "$step" = distill ] && cp -r "$ref/experts" "$out/experts"
        before="$step_kills"
        killed_round "$step" "$out"
        # A round the process finished before any kill: the machine is faster than during the
        # reference run; aim the next round's delays earlier.
        [ "$step_kills" -gt "$before" ] || scale="$(awk -v f="$scale" 'BEGIN { print f / 2 }')"
        check verify "$out" >/dev/null
        check compare "$ref/experts" "$out/experts" >/dev/null || die "$step round $round: experts differ from the reference"
        if [ "$step" = distill ]; then
            for f in checkpoint.safetensors distilled.safetensors; do
                check compare "$ref/$f" "$out/$f" >/dev/null || die "distill round $round: $f differs from the reference"
            done
        fi
        temps="$(check temps "$out" | wc -l)"
        say "$step round $round: $((step_kills - before)) kills, outputs equal the reference byte for byte" \
            "($temps leftover temporary files)"
        rm -rf "$out"
    done
    say "$step: $step_kills kills in $round rounds; $resumed restarts resumed from saved state (the others were" \
        "killed before their first save or before printing); no partial file under a final name"
done

# ---------------------------------------------------------------------------------------------
# expect_failure <what> <log> <pattern>: the command failed with status 1 and a clear message.
expect_failure() {
    local what="$1" status="$2" log="$3" pattern="$4"
    [ "$status" -eq 1 ] || { cat "$log"; die "$what: exit status $status, expected 1"; }
    grep -Eq "^ast-distill: error: .*$pattern" "$log" || { cat "$log"; die "$what: no 'ast-distill: error: ... $pattern' message"; }
    say "$what: $(grep -E '^ast-distill: error:' "$log" | head -1)"
}

# Read-only output directory holding finished experts.
ro="$work/readonly"
mkdir -p "$ro"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=4m tmpfs "$ro" 2>/dev/null; then
    mounts+=("$ro")
    cp -r "$ref/experts" "$ro/experts"
    mount -o remount,ro "$ro"
    reason="Read-only file system"
else
    cp -r "$ref/experts" "$ro/experts"
    chmod -R a-w "$ro"
    reason="permission denied"
    [ "$(id -u)" -ne 0 ] || say "read-only: cannot mount a tmpfs; root ignores chmod, so this check is weak"
fi
status=0; "$bin" experts "${settings[@]}" --out "$ro" --first 3 --count 1 >"$work/ro.log" 2>&1 || status=$?
expect_failure "read-only dir, new expert" "$status" "$work/ro.log" "$reason"
status=0; "$bin" distill "${settings[@]}" --out "$ro" >"$work/ro.log" 2>&1 || status=$?
expect_failure "read-only dir, distill" "$status" "$work/ro.log" "$reason"
check compare "$ref/experts" "$ro/experts" >/dev/null || die "read-only dir: experts changed"

# Full disk: room for the experts and one checkpoint, not for the next checkpoint's temporary
# file (tmpfs counts whole 4 KiB pages).
kib() { echo $(( ($(stat -c %s "$1") + 4095) / 4096 * 4 )); }
expert_kib="$(kib "$ref/experts/expert_00000.safetensors")"
checkpoint_kib="$(kib "$ref/checkpoint.safetensors")"
full="$work/full"
mkdir -p "$full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=$((3 * expert_kib + checkpoint_kib + checkpoint_kib / 2))k tmpfs "$full" 2>/dev/null; then
    mounts+=("$full")
    cp -r "$ref/experts" "$full/experts"
    status=0; "$bin" distill "${settings[@]}" --out "$full" >"$work/full.log" 2>&1 || status=$?
    expect_failure "full disk, distill" "$status" "$work/full.log" "No space left on device"
    check verify "$full" >/dev/null || die "full disk: a file under a final name is partial"
    check compare "$ref/experts" "$full/experts" >/dev/null || die "full disk: experts changed"
    it="$(check meta "$full/checkpoint.safetensors" iteration)"
    [ -n "$it" ] || die "full disk: the checkpoint written before the disk filled is gone"
    [ -z "$(check temps "$full")" ] || die "full disk: temporary files left behind: $(check temps "$full")"
    say "full disk, distill: checkpoint of iteration $it intact, no temporary files left"
    # Experts filling the disk: the complete experts written before stay whole.
    umount "$full"; mounts=("${mounts[@]/$full}")
    # Room for expert 0 (its last partial file and the final file at once), not for expert 1.
    mount -t tmpfs -o size=$((5 * expert_kib / 2))k tmpfs "$full"; mounts+=("$full")
    status=0; "$bin" experts "${settings[@]}" --out "$full" >"$work/full.log" 2>&1 || status=$?
    expect_failure "full disk, experts" "$status" "$work/full.log" "No space left on device"
    check verify "$full" >/dev/null || die "full disk: a file under a final name is partial"
    for f in "$full"/experts/expert_?????.safetensors; do
        [ -e "$f" ] || continue
        check compare "$ref/experts/$(basename "$f")" "$f" >/dev/null || die "full disk: $f differs from the reference"
    done
    say "full disk, experts: $(ls "$full"/experts | grep -c '^expert_[0-9]*\.safetensors$' || true) complete experts intact"
else
    say "full disk: skipped (mounting a tmpfs needs root)"
fi

say "OK ($kills kills per step, seed $seed)"
