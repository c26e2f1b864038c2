#!/usr/bin/env bash
# The README's main job, on a fresh machine:
#   1. installs what is missing (scripts/install-system-packages.sh; apt-get, as root),
#   2. builds, in one release build, the self-contained C library (scripts/build-lib.sh:
#      build/lib/libast.so + build/include/ast.h, for C and Python users) and the command-line
#      tool ast-distill,
#   3. runs the `quick` pipeline on Fashion-MNIST (experts, distillation, evaluation against a
#      random real subset with the same protocol: docs/evaluation.md), writing
#      <out>/distilled.png, <out>/distilled.safetensors and <out>/report.json,
#   4. prints the results table as the README shows it, with what made it (also written to
#      <out>/README-figures.md; scripts/readme-figures.py reads report.json).
#
#   scripts/quick-start.sh [out-dir]        (default out/quick; rerunning resumes)
#
# Environment: AST_BUILD_DIR (default build), AST_STATIC_SCRATCH (default .build-static),
# PYTHON (runs readme-figures.py, standard library only; default /usr/bin/python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-out/quick}"
build="${AST_BUILD_DIR:-$root/build}"
scratch="${AST_STATIC_SCRATCH:-$root/.build-static}"

scripts/install-system-packages.sh
scripts/build-lib.sh
# Same scratch path and flags as build-lib.sh: the modules are compiled once for both.
swift build -c release --product ast-distill --scratch-path "$scratch" -Xswiftc -static-stdlib
bin="$scratch/release/ast-distill"

start="$(date +%s)"
"$bin" run --preset quick --out "$out"
seconds=$(( $(date +%s) - start ))

commit="$(git -C "$root" describe --always --dirty --abbrev=10 2>/dev/null || true)"
"${PYTHON:-/usr/bin/python3}" scripts/readme-figures.py "$out/report.json" --seconds "$seconds" \
    --commit "$commit" --threads "${AST_NUM_THREADS:-}" >"$out/README-figures.md"
printf '\nquick-start: the README table (%s):\n\n' "$out/README-figures.md"
cat "$out/README-figures.md"
cat <<MSG

quick-start: built $build/lib/libast.so and $build/include/ast.h (C: README "Using it from C"),
and $bin. From Python (README "Using it from Python"):
  python3 -m venv ~/venvs/libast && ~/venvs/libast/bin/pip install ./bindings/python
  ~/venvs/libast/bin/python -c 'import libast; print(libast.version(), libast.library_path)'
MSG
