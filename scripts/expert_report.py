#!/usr/bin/env python3
"""Compares expert trajectory stores made with the same seeds (e.g. MTT vs AST experts):
final test accuracy and smoothness (per-epoch step length ||theta_{e+1} - theta_e||), as a
markdown table. Reads the safetensors files with numpy only (the binding's reader; no libast.so,
no safetensors package).

    python3 scripts/expert_report.py results/experts-mtt/experts results/experts-ast/experts
"""
import glob, importlib.util, os, sys
import numpy as np

# The binding's numpy-only safetensors reader, loaded by path (importing the libast package
# would need libast.so).
_spec = importlib.util.spec_from_file_location(
    "_safetensors", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python", "libast",
                                 "_safetensors.py"))
safetensors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(safetensors)

def summarize(directory):
    files = sorted(f for f in glob.glob(os.path.join(directory, "expert_*.safetensors")) if ".partial" not in f)
    steps, finals, meta = [], [], {}
    for f in files:
        t, meta = safetensors.read(f)
        traj = t["trajectory"].astype(np.float64)
        steps.append(np.linalg.norm(np.diff(traj, axis=0), axis=1))
        finals.append(t["test_accuracy"][-1])
    return np.array(steps), np.array(finals), meta, len(files)

if len(sys.argv) < 2:
    sys.exit(__doc__)
rows = []
for d in sys.argv[1:]:
    # A run's output directory holds its store in experts/: accept either.
    if not glob.glob(os.path.join(d, "expert_*.safetensors")) and os.path.isdir(os.path.join(d, "experts")):
        d = os.path.join(d, "experts")
    steps, finals, meta, n = summarize(d)
    if n == 0:
        sys.exit(f"expert_report.py: no finished expert_*.safetensors in {d}")
    rows.append((d, steps, finals, meta, n))
epochs = rows[0][1].shape[1]
print("| experts | n | final test accuracy | mean step ‖θ_{e+1} − θ_e‖ per epoch (1 … %d) | max/min step |" % epochs)
print("|---|---|---|---|---|")
for d, steps, finals, meta, n in rows:
    mean = steps.mean(axis=0)
    kind = meta.get("optimizer", "")
    label = "AST (smooth)" if "gradient_penalty=2" in kind else "MTT (plain SGD)" if "momentum=0.0" in kind else d
    print(f"| {label} | {n} | {100*finals.mean():.2f} ± {100*finals.std(ddof=1) if n > 1 else 0:.2f} % | "
          + " ".join(f"{v:.2f}" for v in mean) + f" | {mean.max()/mean.min():.2f} |")
