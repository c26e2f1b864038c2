#!/usr/bin/env python3
"""Plots of a run and of a study (matplotlib, an optional dependency: pip install matplotlib).

    scripts/plot_report.py run   OUT/report.json [more report.json ...] [-o run.png]
        matching loss, learned step size α and the evaluation curve (eval.every) against the
        iteration, one line per report (label: its directory name)
    scripts/plot_report.py study TABLE.json [-o study.png]
        the rows of a study (scripts/study.py table --json) as bars with their 95 % intervals,
        and each row's paired difference to its reference with that interval
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        sys.exit("plot_report.py: matplotlib is not installed (pip install matplotlib)")


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average: the matching loss is noisy from iteration to iteration."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_runs(paths: list[str], output: str) -> None:
    plt = _pyplot()
    fig, (ax_loss, ax_lr, ax_acc) = plt.subplots(1, 3, figsize=(15, 4.2))
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        label = os.path.basename(os.path.dirname(os.path.abspath(path)))
        loss = report.get("loss_history", [])
        if loss:
            iterations = range(1, len(loss) + 1)
            ax_loss.plot(iterations, smooth(loss, max(1, len(loss) // 40)), label=label)
        lr = report.get("syn_lr_history", [])
        if lr:
            ax_lr.plot(range(1, len(lr) + 1), lr, label=label)
        curve = report.get("evaluation_curve", [])
        if curve:
            its = [p["iteration"] for p in curve]
            means = [100 * p["mean"] for p in curve]
            stds = [100 * p["std"] for p in curve]
            ax_acc.errorbar(its, means, yerr=stds, marker="o", capsize=3, label=label)
        rr = (report.get("evaluation") or {}).get("random_real")
        if rr:
            ax_acc.axhline(100 * rr["mean"], linestyle=":", color="grey", label=f"{label}: random real")
    ax_loss.set(title="matching loss (moving average)", xlabel="iteration", ylabel="normalised distance")
    ax_lr.set(title="learned step size α", xlabel="iteration", ylabel="α")
    ax_acc.set(title="test accuracy of the distilled set", xlabel="iteration", ylabel="%")
    for ax in (ax_loss, ax_lr, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    print(f"plot_report.py: wrote {output}")


def plot_study(path: str, output: str) -> None:
    plt = _pyplot()
    with open(path) as f:
        table = json.load(f)
    rows = [r for r in table["rows"] if "summary" in r]
    if not rows:
        sys.exit(f"plot_report.py: {path} has no finished rows")
    names = [r["name"] for r in rows]
    means = [r["summary"]["mean"] for r in rows]
    half = [(r["summary"]["ci_high"] - r["summary"]["ci_low"]) / 2 if r["summary"]["n"] > 1 else 0 for r in rows]
    fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(14, 0.45 * len(rows) + 1.8), sharey=True)
    y = list(range(len(rows)))
    ax.barh(y, means, xerr=half, capsize=3, color="tab:blue", alpha=0.75)
    ax.set_yticks(y, [f"{n} (n={r['summary']['n']})" for n, r in zip(names, rows)], fontsize=8)
    ax.invert_yaxis()
    lo = min(m - h for m, h in zip(means, half))
    ax.set_xlim(max(0, lo - 5), min(100, max(m + h for m, h in zip(means, half)) + 2))
    ax.set(title=f"{table['study']}: test accuracy, mean and 95 % CI over seeds", xlabel="%")
    diffs = [r.get("difference") for r in rows]
    d_mean = [d["mean"] if d else 0 for d in diffs]
    d_half = [(d["ci_high"] - d["ci_low"]) / 2 if d and d["n"] > 1 else 0 for d in diffs]
    colors = ["tab:green" if d and d["n"] > 1 and d["ci_low"] > 0 else "tab:red" if d and d["n"] > 1 and d["ci_high"] < 0
              else "tab:grey" for d in diffs]
    ax_d.barh(y, d_mean, xerr=d_half, capsize=3, color=colors, alpha=0.75)
    ax_d.axvline(0, color="black", linewidth=0.8)
    ax_d.set(title="paired difference to the row's reference (points)", xlabel="Δ %")
    for ax_ in (ax, ax_d):
        ax_.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    print(f"plot_report.py: wrote {output}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["run", "study"])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("-o", "--output")
    a = ap.parse_args(argv)
    if a.what == "run":
        plot_runs(a.inputs, a.output or "run.png")
    else:
        if len(a.inputs) != 1:
            ap.error("study takes one table JSON")
        plot_study(a.inputs[0], a.output or "study.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
