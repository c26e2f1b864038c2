#!/usr/bin/env bash
# The README's main job: installs what is missing, builds the command-line tool in release mode
# and runs the `quick` pipeline on Fashion-MNIST (experts, distillation, evaluation against a
# random real subset with the same protocol). Prints the results table and writes
# <out>/distilled.png, <out>/distilled.safetensors and <out>/report.json.
#
#   scripts/quick-start.sh [out-dir]        (default out/quick; rerunning resumes)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-system-packages.sh
swift build -c release --product ast-distill
exec .build/release/ast-distill run --preset quick --out "${1:-out/quick}"
