#!/usr/bin/env python3
"""A stand-in for ast-distill with the three subcommands study.py calls, for testing the harness
without training anything: `settings --json` echoes the settings (unknown names fail like the real
tool), `experts` writes an empty store, `run` writes a report.json whose accuracy is a known
function of the seed and the settings. Every call is appended to $FAKE_AST_CALLS."""
import json
import os
import sys

KNOWN = {"seed", "experts.kind", "experts.lr", "experts.count", "network.width", "distill.ipc",
         "distill.inner_momentum", "eval.baseline", "eval.models"}

def main(argv):
    command, args = argv[0], argv[1:]
    settings, out = {"experts.kind": "ast", "network.width": 32, "experts.lr": 0.003}, None
    i = 0
    while i < len(args):
        if args[i] == "--set":
            name, value = args[i + 1].split("=", 1)
            if name not in KNOWN:
                print(f"error: unknown setting '{name}'", file=sys.stderr)
                return 1
            settings[name] = json.loads(value) if value.replace(".", "").replace("-", "").isdigit() else value
            i += 2
        elif args[i] == "--out":
            out, i = args[i + 1], i + 2
        elif args[i] == "--preset":
            i += 2
        else:
            i += 1
    with open(os.environ["FAKE_AST_CALLS"], "a") as f:
        f.write(f"{command} seed={settings.get('seed')} out={out}\n")
    if command == "settings":
        print(json.dumps(settings))
    elif command == "experts":
        os.makedirs(os.path.join(out, "experts"), exist_ok=True)
        open(os.path.join(out, "experts", "expert_0.safetensors"), "w").close()
    elif command == "run":
        if os.environ.get("FAKE_AST_FAIL") == str(settings["seed"]):
            print("error: diverged", file=sys.stderr)
            return 1
        seed = settings["seed"]
        bonus = 0.02 * float(settings.get("distill.inner_momentum", 0)) / 0.9 + (0.01 if settings["experts.kind"] == "mtt" else 0)
        mean = 0.5 + 0.01 * seed + bonus
        summary = lambda m: {"accuracies": [m - 0.01, m + 0.01], "mean": m, "std": 0.0141}
        report = {"evaluation": {"distilled": summary(mean),
                                 "random_real": summary(0.3 + 0.002 * seed) if settings.get("eval.baseline") == 1 else None},
                  "final_syn_lr": 0.01 + 0.001 * seed,
                  "loss_history": [5.0] * 10 + [float(seed)] * 100}
        with open(os.path.join(out, "report.json"), "w") as f:
            json.dump(report, f)
    return 0

sys.exit(main(sys.argv[1:]))
