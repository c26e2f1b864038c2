"""Prints the README's quick-start table from a run's report.json, in README markdown, with the
line saying what made it (scripts/quick-start.sh calls it; standard library only).

    python3 scripts/readme-figures.py OUT/report.json [--seconds S] [--commit C] [--threads T]
"""

import argparse
import datetime
import json
import os
import platform


def cell(result: dict) -> str:
    return f"{100 * result['mean']:.2f} ± {100 * result['std']:.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--seconds", type=int, help="wall time of the pipeline run")
    parser.add_argument("--commit", default="", help="git commit the binary was built from")
    parser.add_argument("--threads", default="", help="AST_NUM_THREADS in force (empty: the default)")
    args = parser.parse_args()

    with open(args.report, encoding="utf-8") as f:
        report = json.load(f)
    settings = report["settings"]
    evaluation = report["evaluation"]
    ipc = settings["distill.ipc"]
    distilled = evaluation["distilled"]
    models = len(distilled["accuracies"])

    print(f"| training set ({ipc} image{'' if ipc == 1 else 's'} per class) "
          f"| test accuracy, mean ± std over {models} networks |")
    print("|---|---|")
    if evaluation.get("random_real"):
        print(f"| random real subset (lr {settings['eval.baseline_lr']:g}) | {cell(evaluation['random_real'])} |")
    print(f"| distilled, {settings['experts.kind'].upper()} experts "
          f"(lr = learned α = {report['final_syn_lr']:.4f}) | {cell(distilled)} |")
    print()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = args.threads or f"default ({os.cpu_count()} cores)"
    wall = f", pipeline wall time {args.seconds // 60}m{args.seconds % 60:02d}s after the build" \
        if args.seconds is not None else ""
    commit = f" at commit {args.commit}" if args.commit else ""
    print(f"Made by `scripts/quick-start.sh`{commit} on {when}: {platform.machine()}, "
          f"{os.cpu_count()} cores, AST_NUM_THREADS {threads}{wall}; "
          f"{settings['eval.epochs']} evaluation epochs per network, "
          f"{report['iterations']:g} distillation iterations.")


if __name__ == "__main__":
    main()
