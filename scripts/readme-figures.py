"""Prints the README's quick-start table from a run's report.json, in README markdown, with the
line saying what made it (scripts/quick-start.sh calls it; standard library only).

    python3 scripts/readme-figures.py OUT/report.json [--seconds S] [--commit C] [--threads T]
    python3 scripts/readme-figures.py OUT/report.json --check README.md    (exit 1 if stale)
    python3 scripts/readme-figures.py OUT/report.json --update README.md   (rewrite the block)

--check compares the table rows with the block between the README's "quick-start figures"
markers (the line saying what made them may differ); .ci/run uses it. --update replaces the
block with this run's table and line.
"""

import argparse
import datetime
import json
import os
import platform
import re
import sys

BEGIN = "<!-- quick-start figures: begin"
END = "<!-- quick-start figures: end -->"
CORE = re.compile(r"core=(\S+)")


def run_core(report: dict, path: str) -> str:
    core = (report.get("runtime") or {}).get("blas_core")
    if not isinstance(core, str) or not core:
        sys.exit(f"readme-figures: {path} has no runtime.blas_core (made by a libast older than this script?)")
    return core


def cell(result: dict) -> str:
    return f"{100 * result['mean']:.2f} ± {100 * result['std']:.2f} %"


def block(report: dict, args: argparse.Namespace) -> list[str]:
    """The README block: the table, a blank line, the line saying what made it."""
    settings = report["settings"]
    evaluation = report["evaluation"]
    ipc = settings["distill.ipc"]
    distilled = evaluation["distilled"]
    models = len(distilled["accuracies"])
    lines = [f"| training set ({ipc} image{'' if ipc == 1 else 's'} per class) "
             f"| test accuracy, mean ± std over {models} networks |",
             "|---|---|"]
    if evaluation.get("random_real"):
        lines.append(f"| random real subset (lr {settings['eval.baseline_lr']:g}) | {cell(evaluation['random_real'])} |")
    ast_on = (settings["distill.inner_momentum"] > 0 or settings["distill.balanced_loss"]
              or settings["distill.intermediate"] != "off" or settings["distill.weight_perturbation"] > 0
              or settings["distill.init"] == "representative")
    lines.append(f"| distilled by {'AST' if ast_on else 'MTT'} on {settings['experts.kind'].upper()} experts "
                 f"(lr = learned α = {report['final_syn_lr']:.4f}) | {cell(distilled)} |")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = args.threads or f"default ({os.cpu_count()} cores)"
    wall = f", pipeline wall time {args.seconds // 60}m{args.seconds % 60:02d}s after the build" \
        if args.seconds is not None else ""
    commit = f" at commit {args.commit}" if args.commit else ""
    core = (report.get("runtime") or {}).get("blas_core", "?")
    lines += ["", f"Made by `scripts/quick-start.sh`{commit} on {when}: {platform.machine()}, "
                  f"{os.cpu_count()} cores, OpenBLAS {core} kernels, AST_NUM_THREADS {threads}{wall}; "
                  f"{settings['eval.epochs']} evaluation epochs per network, "
                  f"{report['iterations']:g} distillation iterations."]
    return lines


def readme_blocks(text: str, path: str) -> dict[str, tuple[int, int]]:
    """kernel family (lower case) -> line indices (begin marker, end marker) of its block."""
    lines = text.split("\n")
    blocks: dict[str, tuple[int, int]] = {}
    begin = None
    for i, line in enumerate(lines):
        if line.startswith(BEGIN):
            m = CORE.search(line)
            if begin is not None or not m:
                sys.exit(f"readme-figures: {path}:{i + 1}: want '{BEGIN} core=NAME ...' after the previous block's end")
            begin = (m.group(1).lower(), i)
        elif line.startswith(END):
            if begin is None or begin[0] in blocks:
                sys.exit(f"readme-figures: {path}:{i + 1}: an end marker without its begin marker, or a kernel twice")
            blocks[begin[0]] = (begin[1], i)
            begin = None
    if begin is not None or not blocks:
        sys.exit(f"readme-figures: {path}: want '{BEGIN} core=NAME ...' and '{END}' blocks")
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--seconds", type=int, help="wall time of the pipeline run")
    parser.add_argument("--commit", default="", help="git commit the binary was built from")
    parser.add_argument("--threads", default="", help="AST_NUM_THREADS in force (empty: the default)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", metavar="README", help="exit 1 if README's table differs from this run's")
    mode.add_argument("--update", metavar="README", help="replace README's block with this run's")
    args = parser.parse_args()

    with open(args.report, encoding="utf-8") as f:
        report = json.load(f)
    lines = block(report, args)
    if not (args.check or args.update):
        print("\n".join(lines))
        return
    path = args.check or args.update
    core = run_core(report, args.report)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    blocks = readme_blocks(text, path)
    readme_lines = text.split("\n")
    if args.update:
        if core.lower() in blocks:
            begin, end = blocks[core.lower()]
            readme_lines[begin + 1:end] = lines
        else:  # a new block after the last one
            last = max(end for _, end in blocks.values())
            marker = readme_lines[min(b for b, _ in blocks.values())]
            readme_lines[last + 1:last + 1] = ["", CORE.sub(f"core={core}", marker, count=1), *lines, END]
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(readme_lines))
        os.replace(path + ".tmp", path)
        print(f"readme-figures: updated the quick-start figures for OpenBLAS {core} kernels in {path}")
        return
    want = [line for line in lines if line.startswith("|")]
    if core.lower() not in blocks:
        print(f"readme-figures: {path} has no quick-start table for OpenBLAS {core} kernels (it has "
              f"{', '.join(sorted(blocks))}); not compared. This run's table:", file=sys.stderr)
        print("\n".join("  " + line for line in want), file=sys.stderr)
        return
    begin, end = blocks[core.lower()]
    have = [line for line in readme_lines[begin + 1:end] if line.startswith("|")]
    if have != want:
        print(f"readme-figures: {path}'s quick-start table for OpenBLAS {core} kernels is stale (or this "
              "run differs: same settings and AST_NUM_THREADS?). README has:", file=sys.stderr)
        print("\n".join("  " + line for line in have), file=sys.stderr)
        print("this run gives:", file=sys.stderr)
        print("\n".join("  " + line for line in want), file=sys.stderr)
        print(f"(scripts/readme-figures.py {args.report} --update {path} rewrites it)", file=sys.stderr)
        sys.exit(1)
    print(f"readme-figures: {path}'s quick-start table for OpenBLAS {core} kernels matches this run ({len(want)} rows)")

if __name__ == "__main__":
    main()
