#!/usr/bin/env bash
# Reproduces RESULTS.md: Fashion-MNIST at ipc 1 and ipc 10 — random real subset, MTT, AST, and
# AST with each component removed in turn — at a scale a 2-core machine finishes in about 15 minutes.
#
#   scripts/results.sh [output-dir]        (default results/; RESULTS.md table printed at the end)
#
# Experts are trained once per kind (AST and MTT) and shared by every distillation run through a
# symlink, so all variants match the same trajectories. Every step resumes if interrupted.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-results}"
scripts/install-system-packages.sh >/dev/null
# The report steps need numpy: the scripts' venv (made from /usr/bin/python3; scripts/venv.sh).
python="$(scripts/venv.sh)"
swift build -c release --product ast-distill >/dev/null
bin="$root/.build/release/ast-distill"
mkdir -p "$out"

# The scale (see RESULTS.md): ConvNet-3 width 16, 10 000 training images, 5 experts x 10 epochs.
common=(--preset fashion-ipc1
        --set network.width=16 --set data.train_limit=10000 --set data.test_limit=0
        --set experts.count=5 --set experts.epochs=10 --set seed=1
        --set distill.max_start_epoch=6 --set distill.expert_epochs=2
        --set eval.models=3 --set eval.epochs=300)
ipc1=(--set distill.ipc=1 --set distill.syn_steps=20 --set distill.iterations=200 --set distill.batch_syn=0)
ipc10=(--set distill.ipc=10 --set distill.syn_steps=15 --set distill.iterations=100 --set distill.batch_syn=50)
mtt_distill=(--set distill.inner_momentum=0 --set distill.balanced_loss=0 --set distill.intermediate=off
             --set distill.weight_perturbation=0 --set distill.init=real)

timed() {  # timed <log> <command...>: runs, records wall seconds in <log>.seconds
    local log="$1"; shift
    local start=$(date +%s)
    "$@" >"$log" 2>"$log.progress"
    echo $(( $(date +%s) - start )) >"$log.seconds"
}

for kind in ast mtt; do
    echo "experts: $kind"
    timed "$out/experts-$kind.log" "$bin" experts "${common[@]}" --set experts.kind=$kind --out "$out/experts-$kind"
done

# variant name | expert kind | extra settings
variants=(
  "MTT|mtt|${mtt_distill[*]}"
  "AST|ast|"
  "AST without smooth experts (MTT experts)|mtt|"
  "AST without momentum inner loop|ast|--set distill.inner_momentum=0"
  "AST without balanced inner loss|ast|--set distill.balanced_loss=0"
  "AST without intermediate matching|ast|--set distill.intermediate=off"
  "AST without weight perturbation|ast|--set distill.weight_perturbation=0"
  "AST without representative init (random real)|ast|--set distill.init=real"
)

for ipc in 1 10; do
    scale=ipc${ipc}[@]
    i=0
    for v in "${variants[@]}"; do
        IFS='|' read -r name kind extra <<<"$v"
        dir="$out/ipc$ipc-$i"
        mkdir -p "$dir"
        ln -sfn "$(cd "$out/experts-$kind" && pwd)/experts" "$dir/experts"
        baseline=0; [ "$i" -eq 0 ] && baseline=1
        echo "ipc $ipc: $name"
        # shellcheck disable=SC2086
        timed "$dir/run.log" "$bin" run "${common[@]}" "${!scale}" --set experts.kind=$kind $extra \
            --set eval.baseline=$baseline --out "$dir"
        echo "$name" >"$dir/name"
        i=$((i + 1))
    done
done

"$python" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def fmt(r): return f"{100*r['mean']:.2f} ± {100*r['std']:.2f}"
print("| method | ipc 1 | time | ipc 10 | time |")
print("|---|---|---|---|---|")
rows = {}
for ipc in (1, 10):
    i = 0
    while os.path.isdir(f"{out}/ipc{ipc}-{i}"):
        d = f"{out}/ipc{ipc}-{i}"
        rep = json.load(open(f"{d}/report.json"))
        secs = int(open(f"{d}/run.log.seconds").read())
        name = open(f"{d}/name").read().strip()
        ev = rep["evaluation"]
        if ev["random_real"]:
            rows.setdefault("random real subset", {})[ipc] = (fmt(ev["random_real"]), "")
        rows.setdefault(name, {})[ipc] = (fmt(ev["distilled"]), f"{secs // 60}m{secs % 60:02d}s")
        i += 1
for name, r in rows.items():
    a = r.get(1, ("–", "")); b = r.get(10, ("–", ""))
    print(f"| {name} | {a[0]} | {a[1]} | {b[0]} | {b[1]} |")
for kind in ("ast", "mtt"):
    secs = int(open(f"{out}/experts-{kind}.log.seconds").read())
    print(f"\n{kind.upper()} experts: {secs // 60}m{secs % 60:02d}s; {open(f'{out}/experts-{kind}.log').read().strip()}")
PY
echo
"$python" "$root/scripts/expert_report.py" "$out/experts-mtt/experts" "$out/experts-ast/experts"
