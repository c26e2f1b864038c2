#!/usr/bin/env bash
# The MPI tests (README "MPI"), run by scripts/test.sh: builds ast-distill-mpi (the separate
# package in mpi/) and checks, with `mpirun --allow-run-as-root --oversubscribe -np 2` on a tiny
# Fashion-MNIST run (the quick preset on 600 images):
#   1. experts sharded over 2 ranks are byte-identical to one process's (`ast-distill experts`);
#   2. distillation on 2 ranks with distill.segments = 2 and 3 (an uneven split) is
#      byte-identical to `ast-distill distill` in one process (checkpoint, distilled set);
#   3. a rank killed (SIGKILL) mid-run makes mpirun exit non-zero (no hang); rerunning resumes
#      from the checkpoint and ends with the same bytes as the uninterrupted run;
#   4. bad input - ranks started with different settings, -np larger than the work, an output
#      directory locked by another job - is an error on every rank and writes nothing;
#   5. examples/python/mpi_distill.py (mpi4py, the step-level API) on 2 ranks equals one process.
# Installs libopenmpi-dev and openmpi-bin with apt when run as root and missing; mpi4py with pip.
#
# Environment: AST_TEST_SCRATCH (SwiftPM scratch path of the one-process ast-distill, as in
# scripts/test.sh; default .build), PYTHON (default python3), AST_MPI_SKIP_PYTHON=1 skips step 5.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
die() { echo "mpi-test.sh: FAIL: $*" >&2; exit 1; }
step() { printf '\n==> mpi: %s\n' "$*"; }

step "set-up: Open MPI"
if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin
    else
        die "Open MPI missing (run: sudo apt-get install -y libopenmpi-dev openmpi-bin)"
    fi
fi
mpirun --version | head -1

step "build ast-distill-mpi (swift build -c release --package-path mpi)"
swift build -c release --package-path mpi --product ast-distill-mpi
tool="$(swift build -c release --package-path mpi --show-bin-path)/ast-distill-mpi"
# The one-process CLI, built as scripts/test.sh builds it (same scratch path and flags: no rebuild).
scratch="${AST_TEST_SCRATCH:-$root/.build}"
swift build -c release -Xswiftc -enable-testing --scratch-path "$scratch" --product ast-distill
single="$(swift build -c release -Xswiftc -enable-testing --scratch-path "$scratch" --show-bin-path)/ast-distill"

export AST_NUM_THREADS=1
mpi=(mpirun --allow-run-as-root --oversubscribe -np 2)
work="$(mktemp -d /tmp/ast-mpi-test-XXXXXX)"
trap 'rm -rf "$work"' EXIT
base=(--preset quick --set data.train_limit=600 --set data.test_limit=200 --set experts.count=2
      --set experts.epochs=3 --set distill.max_start_epoch=2 --set distill.expert_epochs=1
      --set distill.syn_steps=4)
tiny=("${base[@]}" --set distill.iterations=6 --set distill.checkpoint_every=2)

same_files() {  # same_files <dir a> <dir b> <file>...: byte-identical
    local a="$1" b="$2" f
    shift 2
    for f in "$@"; do
        cmp -s "$a/$f" "$b/$f" || die "$a/$f and $b/$f differ"
    done
    echo "mpi-test.sh: identical: $*"
}

step "1. experts sharded over 2 ranks = one process"
"$single" experts "${tiny[@]}" --out "$work/one" >"$work/one-experts.log" 2>&1 || { cat "$work/one-experts.log"; die "ast-distill experts"; }
timeout 300 "${mpi[@]}" "$tool" experts "${tiny[@]}" --out "$work/two" >"$work/two-experts.log" 2>&1 \
    || { cat "$work/two-experts.log"; die "mpirun ast-distill-mpi experts"; }
grep -q 'rank 1: expert 1 epoch 3/3' "$work/two-experts.log" || { cat "$work/two-experts.log"; die "rank 1 did not train expert 1"; }
grep -q '2 complete experts' "$work/two-experts.log" || die "no summary line"
same_files "$work/one/experts" "$work/two/experts" expert_00000.safetensors expert_00001.safetensors

for segments in 2 3; do
    step "2. distill on 2 ranks = one process, distill.segments=$segments"
    rm -rf "$work/one/checkpoint.safetensors" "$work/one/distilled."* "$work/two/checkpoint.safetensors" "$work/two/distilled."*
    "$single" distill "${tiny[@]}" --set distill.segments=$segments --out "$work/one" >"$work/one-distill.log" 2>&1 \
        || { cat "$work/one-distill.log"; die "ast-distill distill"; }
    timeout 300 "${mpi[@]}" "$tool" distill "${tiny[@]}" --set distill.segments=$segments --out "$work/two" >"$work/two-distill.log" 2>&1 \
        || { cat "$work/two-distill.log"; die "mpirun ast-distill-mpi distill"; }
    grep -q "distilling: $segments segments per iteration over 2 ranks" "$work/two-distill.log" || die "no start line"
    grep -q 'iteration 6/6' "$work/two-distill.log" || die "no iteration 6"
    same_files "$work/one" "$work/two" checkpoint.safetensors distilled.safetensors distilled.png
done

step "3. a rank killed mid-run: non-zero exit, rerun resumes to the same bytes"
long=("${base[@]}" --set distill.iterations=40 --set distill.checkpoint_every=1)
rm -rf "$work/one/checkpoint.safetensors" "$work/one/distilled."*
"$single" distill "${long[@]}" --set distill.segments=2 --out "$work/one" >"$work/one-long.log" 2>&1 \
    || { cat "$work/one-long.log"; die "ast-distill distill (40 iterations)"; }
mkdir -p "$work/kill"
cp -r "$work/two/experts" "$work/kill/experts"
log="$work/kill.log"
timeout 300 "${mpi[@]}" "$tool" distill "${long[@]}" --set distill.segments=2 --out "$work/kill" >"$log" 2>&1 &
job=$!
victim=""
for _ in $(seq 1 600); do
    victim="$(sed -n 's/.*rank 1 of 2, pid \([0-9]*\).*/\1/p' "$log" | head -1)"
    if [ -n "$victim" ] && grep -q 'checkpoint after iteration 3:' "$log"; then break; fi
    sleep 0.1
done
[ -n "$victim" ] || { cat "$log"; die "rank 1's pid not printed"; }
grep -q 'checkpoint after iteration 3:' "$log" || { cat "$log"; die "no checkpoint at iteration 3"; }
kill -9 "$victim"
set +e
wait "$job"
status=$?
set -e
[ "$status" -ne 0 ] || { cat "$log"; die "mpirun exited 0 after rank 1 was killed"; }
[ "$status" -ne 124 ] || { cat "$log"; die "mpirun hung after rank 1 was killed (timeout)"; }
! grep -q 'iteration 40/40' "$log" || die "the run finished before the kill; nothing was tested"
echo "mpi-test.sh: rank 1 (pid $victim) killed after iteration $(grep -c '^ast-distill-mpi: iteration' "$log"): mpirun exited $status"
timeout 300 "${mpi[@]}" "$tool" distill "${long[@]}" --set distill.segments=2 --out "$work/kill" >"$work/rerun.log" 2>&1 \
    || { cat "$work/rerun.log"; die "rerun after the kill"; }
grep -q 'resuming distillation after iteration [0-9]' "$work/rerun.log" || { cat "$work/rerun.log"; die "the rerun did not resume"; }
grep -m1 'resuming distillation' "$work/rerun.log"
same_files "$work/one" "$work/kill" checkpoint.safetensors distilled.safetensors

step "4. bad input: an error on every rank, nothing written"
set +e
timeout 120 mpirun --allow-run-as-root --oversubscribe -np 1 "$tool" distill "${tiny[@]}" --set distill.segments=2 --out "$work/bad" \
    : -np 1 "$tool" distill "${tiny[@]}" --set distill.segments=2 --set distill.lr_img=50 --out "$work/bad" >"$work/bad1.log" 2>&1
status=$?
set -e
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || { cat "$work/bad1.log"; die "mismatched settings: status $status"; }
[ "$(grep -c 'error: the ranks were started with different settings' "$work/bad1.log")" = 2 ] || { cat "$work/bad1.log"; die "mismatched settings not reported by both ranks"; }
[ ! -e "$work/bad" ] || die "mismatched settings wrote $work/bad"
set +e
timeout 120 mpirun --allow-run-as-root --oversubscribe -np 3 "$tool" distill "${tiny[@]}" --set distill.segments=2 --out "$work/bad" >"$work/bad2.log" 2>&1
status=$?
set -e
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || { cat "$work/bad2.log"; die "-np 3 > 2 segments: status $status"; }
[ "$(grep -c 'error: -np 3 is larger than the work: distill.segments is 2' "$work/bad2.log")" = 3 ] || { cat "$work/bad2.log"; die "-np too large not reported by every rank"; }
[ ! -e "$work/bad" ] || die "-np too large wrote $work/bad"
rm -f "$work/two/checkpoint.safetensors"
flock -n "$work/two/.ast-distill-mpi.lock" sleep 60 &
holder=$!
sleep 0.5
set +e
timeout 120 "${mpi[@]}" "$tool" distill "${tiny[@]}" --set distill.segments=2 --out "$work/two" >"$work/bad3.log" 2>&1
status=$?
set -e
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || { cat "$work/bad3.log"; die "locked directory: status $status"; }
grep -q 'rank 0 of 2: error: .* is in use by another ast-distill-mpi job' "$work/bad3.log" \
    && grep -q 'rank 1 of 2: error: locking the output directory failed on rank 0' "$work/bad3.log" \
    || { cat "$work/bad3.log"; die "locked directory not reported by every rank"; }
[ ! -e "$work/two/checkpoint.safetensors" ] || die "a locked directory was written"
echo "mpi-test.sh: mismatched settings, -np 3 > 2 segments, locked directory: errors on every rank, nothing written"

if [ "${AST_MPI_SKIP_PYTHON:-0}" != 1 ]; then
    step "5. examples/python/mpi_distill.py (mpi4py) on 2 ranks = one process"
    "$python" -c 'import mpi4py' 2>/dev/null || "$python" -m pip install mpi4py
    timeout 300 "${mpi[@]}" "$python" examples/python/mpi_distill.py "$work/py" --check >"$work/py.log" 2>&1 \
        || { cat "$work/py.log"; die "mpi_distill.py"; }
    grep -q '^mpi_distill: one process equal to 2 ranks: yes' "$work/py.log" || { cat "$work/py.log"; die "mpi_distill.py: not equal"; }
    grep -q '^mpi_distill: done' "$work/py.log" || die "mpi_distill.py: no done line"
    grep '^mpi_distill: ' "$work/py.log" | tail -3
fi
printf '\nmpi-test.sh: all MPI tests passed\n'
