#!/usr/bin/env bash
# Prints every performance figure of the README (run on an otherwise idle machine):
# sgemm, convolutions and a training step at ConvNet-3 sizes, expert-epoch throughput on
# Fashion-MNIST, seconds per distillation iteration, and peak memory against the unroll length N.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
swift build -c release --product ast-bench >/dev/null
bench=.build/release/ast-bench
echo "== engine: sgemm, conv, training step, MTT iteration (ipc 10, batch 100, N 10)"
$bench
echo "== expert epochs (Fashion-MNIST, width 128)"
$bench --experts-only
echo "== distillation iterations (3x32x32, width 128): ipc 1 (N 50), ipc 10 (batch 100, N 30)"
$bench --mtt-only --mtt 1,10,50 --mtt 10,100,30
echo "== ipc 1 with every step graph kept (distill.activation_mib=2048) and with none (0)"
$bench --mtt-only --mtt 1,10,50 --keep-mib 2048 | grep "MTT iteration"
$bench --mtt-only --mtt 1,10,50 --keep-mib 0 | grep "MTT iteration"
echo "== peak memory of one iteration against N (ipc 10, batch 100), one process each"
for n in 10 20 40 80; do
    $bench --mtt-only --once --mtt 10,100,$n | grep "MTT iteration"
done
