#!/usr/bin/env python3
"""Accuracy studies over several seeds: named rows x seeds -> one table with confidence intervals.

    scripts/study.py check SPEC.json                     validate the spec, print the plan
    scripts/study.py run   SPEC.json [--seeds 1-5] [--rows A,B] [--shard I/N] [--out DIR] [--set K=V]
    scripts/study.py table SPEC.json [--out DIR] [--markdown FILE] [--json FILE]

A spec (see studies/*.json) names a preset, common settings, expert recipes (each a set of
experts.* settings) and rows (a recipe plus distillation settings, or the random-real baseline
of another row). For every seed s of the spec (1..S, or first_seed.. for fresh seeds) the study trains its own experts of each recipe the
rows need (`seed=s` drives experts, initialisation, the outer loop's draws and evaluation), and
all rows of that seed share them. Each row's value for a seed is the mean final test accuracy of
its evaluation networks; the table gives, per row, the mean, std and 95 % confidence interval
over seeds, and the paired difference to the reference row (same seeds) with its own interval;
the spec's optional "comparisons" ([["row A", "row B"], ...]) add paired differences A − B.
--set KEY=VALUE (repeatable) adds a setting to every row after the spec's own: for what belongs to
the machine rather than the study, such as data.dir (the spec's note says which).

Resuming: every finished (seed, row) leaves result.json and is never run again; an interrupted
row resumes from its distillation checkpoint; experts resume per epoch. Splitting: processes
started on the same spec and output each take the next seed nobody holds (a lock file per seed;
seeds passed over are revisited at the end, once free), or take a fixed share with --shard I/N
(seeds whose position mod N is I). Uses only the Python standard library and the `ast-distill`
command-line tool.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.path.join(ROOT, ".build", "release", "ast-distill")

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (then the normal's 1.96).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042]

# Settings that decide what the experts are; rows sharing a recipe must agree on all of them.
EXPERT_PREFIXES = ("experts.", "network.", "data.")


class StudyError(Exception):
    pass


def t975(df: int) -> float:
    return T975[df - 1] if 1 <= df <= len(T975) else 1.96


def summarize(values: list[float]) -> dict:
    """Mean, sample std and the 95 % t interval of the mean (no interval below two values)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    half = t975(n - 1) * std / math.sqrt(n) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def parse_seeds(text: str, valid: list[int]) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise StudyError(f"--seeds: '{part}' is not a seed or a range like 1-5")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo > hi:
            raise StudyError(f"--seeds: empty range {part}")
        seeds.extend(range(lo, hi + 1))
    bad = [s for s in seeds if s not in valid]
    if bad:
        raise StudyError(f"--seeds: {bad} outside {valid[0]}..{valid[-1]} (the spec's seeds)")
    return sorted(set(seeds))


class Study:
    def __init__(self, spec_path: str, out: str | None, binary: str, overrides: dict | None = None):
        try:
            with open(spec_path) as f:
                spec = json.load(f)
        except (OSError, ValueError) as e:
            raise StudyError(f"{spec_path}: {e}") from None
        self.spec = spec
        self.name = spec.get("name") or os.path.splitext(os.path.basename(spec_path))[0]
        self.out = os.path.abspath(out or os.path.join(ROOT, "studies", "out", self.name))
        self.binary = binary
        self.overrides = dict(overrides or {})
        self.seeds = int(spec.get("seeds", 5))
        if not 1 <= self.seeds <= 1000:
            raise StudyError(f"{spec_path}: seeds {self.seeds} outside 1..1000")
        # A confirmation study takes fresh seeds: first_seed .. first_seed + seeds − 1.
        self.first_seed = spec.get("first_seed", 1)
        if not isinstance(self.first_seed, int) or isinstance(self.first_seed, bool) or not 1 <= self.first_seed <= 1_000_000:
            raise StudyError(f"{spec_path}: first_seed {self.first_seed!r} is not a whole number in 1..1000000")
        self.seed_list = list(range(self.first_seed, self.first_seed + self.seeds))
        self.preset = spec.get("preset")
        self.common = spec.get("settings", {})
        self.recipes: dict = spec.get("experts", {})
        self.rows: list[dict] = spec.get("rows", [])
        self.reference = spec.get("reference")
        # Extra paired differences [A, B] (A − B by seed) beside each row's one reference.
        self.comparisons: list = spec.get("comparisons", [])
        self._validate_structure(spec_path)

    def _validate_structure(self, path: str) -> None:
        names = [r.get("name") for r in self.rows]
        if not self.rows or any(not isinstance(n, str) or not n for n in names):
            raise StudyError(f"{path}: every row needs a non-empty 'name'")
        if len(set(names)) != len(names) or len({slug(n) for n in names}) != len(names):
            raise StudyError(f"{path}: row names must be distinct")
        by_name = {r["name"]: r for r in self.rows}
        for r in self.rows:
            unknown = set(r) - {"name", "experts", "settings", "random_real_of", "seeds", "reference", "note"}
            if unknown:
                raise StudyError(f"{path}: row '{r['name']}': unknown fields {sorted(unknown)}")
            if "random_real_of" in r:
                src = by_name.get(r["random_real_of"])
                if src is None or "random_real_of" in src:
                    raise StudyError(f"{path}: row '{r['name']}': random_real_of names no distilled row")
            elif r.get("experts") not in self.recipes:
                raise StudyError(f"{path}: row '{r['name']}': experts '{r.get('experts')}' is not one of "
                                 f"{sorted(self.recipes)}")
            if not 1 <= int(r.get("seeds", self.seeds)) <= self.seeds:
                raise StudyError(f"{path}: row '{r['name']}': seeds outside 1..{self.seeds}")
        for ref in [self.reference] + [r.get("reference") for r in self.rows]:
            if ref is not None and ref not in by_name:
                raise StudyError(f"{path}: reference '{ref}' is not a row")
        if not isinstance(self.comparisons, list):
            raise StudyError(f"{path}: comparisons must be a list of [row A, row B] pairs")
        for pair in self.comparisons:
            if not (isinstance(pair, list) and len(pair) == 2 and all(p in by_name for p in pair) and pair[0] != pair[1]):
                raise StudyError(f"{path}: comparison {pair!r} is not a pair of two different rows")
        for recipe, settings in self.recipes.items():
            if not all(k.startswith("experts.") for k in settings):
                raise StudyError(f"{path}: recipe '{recipe}' may only set experts.* settings")

    # ---- settings ------------------------------------------------------------------------------

    def row(self, name: str) -> dict:
        return next(r for r in self.rows if r["name"] == name)

    def row_seeds(self, row: dict) -> int:
        return int(row.get("seeds", self.seeds))

    def row_takes(self, row: dict, seed: int) -> bool:
        """A row with "seeds": n runs the first n of the study's seeds."""
        return seed < self.first_seed + self.row_seeds(row)

    def distilled_row(self, row: dict) -> dict:
        return self.row(row["random_real_of"]) if "random_real_of" in row else row

    def needs_baseline(self, row: dict) -> bool:
        return any(r.get("random_real_of") == row["name"] for r in self.rows)

    def set_args(self, row: dict, seed: int) -> list[str]:
        """--preset/--set arguments of a distilled row for one seed (experts recipe included)."""
        settings = dict(self.common)
        settings.update(self.recipes[row["experts"]])
        settings.update(row.get("settings", {}))
        settings.update(self.overrides)
        settings["seed"] = seed
        settings["eval.baseline"] = 1 if self.needs_baseline(row) else 0
        args = ["--preset", self.preset] if self.preset else []
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        return args

    def resolved(self, row: dict, seed: int) -> dict:
        """Every setting of a row, as the tool resolves and validates them."""
        cmd = [self.binary, "settings", *self.set_args(row, seed), "--json"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise StudyError(f"row '{row['name']}': {(p.stderr or p.stdout).strip()}")
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise StudyError(f"row '{row['name']}': `ast-distill settings --json` printed no JSON") from None

    @staticmethod
    def expert_settings(settings: dict) -> dict:
        return {k: v for k, v in settings.items() if k.startswith(EXPERT_PREFIXES) or k == "seed"}

    @classmethod
    def expert_fingerprint(cls, settings: dict) -> str:
        return hashlib.sha256(json.dumps(cls.expert_settings(settings), sort_keys=True).encode()).hexdigest()[:16]

    @staticmethod
    def disagreement(a: dict, b: dict) -> list[str]:
        """Settings both sides know and set differently (a newer tool may know more settings)."""
        return sorted(k for k in set(a) & set(b) if a[k] != b[k])

    def check(self) -> dict[str, dict]:
        """Validates every row's settings with the tool and the recipes' consistency; returns
        recipe -> the expert settings of the first seed. Raises before any work starts."""
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise StudyError(f"{self.binary}: no ast-distill binary (build it: swift build -c release "
                             "--product ast-distill, or pass --bin)")
        recipes: dict[str, dict] = {}
        for row in self.rows:
            if "random_real_of" in row:
                continue
            s = self.resolved(row, self.first_seed)
            fp = self.expert_fingerprint(s)
            seen = recipes.get(row["experts"])
            if seen is not None and seen["fingerprint"] != fp:
                raise StudyError(f"row '{row['name']}' changes experts/network/data settings of recipe "
                                 f"'{row['experts']}' that other rows share; give it its own recipe")
            recipes[row["experts"]] = {"fingerprint": fp, "settings": s}
        return recipes

    # ---- running -------------------------------------------------------------------------------

    def seed_dir(self, seed: int) -> str:
        return os.path.join(self.out, f"seed-{seed}")

    def experts_dir(self, seed: int, recipe: str) -> str:
        return os.path.join(self.seed_dir(seed), f"experts-{recipe}")

    def row_dir(self, seed: int, row: dict) -> str:
        return os.path.join(self.seed_dir(seed), slug(row["name"]))

    def result_path(self, seed: int, row: dict) -> str:
        return os.path.join(self.row_dir(seed, self.distilled_row(row)), "result.json")

    def run_tool(self, args: list[str], log: str) -> float:
        start = time.monotonic()
        with open(log, "a") as f:
            f.write(f"\n$ {' '.join(args)}\n")
            f.flush()
            p = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise StudyError(f"`{' '.join(args[:2])} ...` exited {p.returncode}; see {log}")
        return time.monotonic() - start

    def ensure_experts(self, seed: int, recipe: str, row: dict) -> str:
        directory = self.experts_dir(seed, recipe)
        os.makedirs(directory, exist_ok=True)
        wanted = self.expert_settings(self.resolved(row, seed))
        marker = os.path.join(directory, "study-experts.json")
        if os.path.exists(marker):
            with open(marker) as f:
                info = json.load(f)
            differ = self.disagreement(info.get("settings", {}), wanted)
            if differ:
                raise StudyError(f"{directory} holds experts made with other settings than recipe '{recipe}' "
                                 f"now asks for ({', '.join(differ)}); remove it or use another --out")
            if info.get("complete"):
                return os.path.join(directory, "experts")
        else:
            write_json(marker, {"recipe": recipe, "seed": seed, "settings": wanted, "complete": False})
        print(f"[{self.name}] seed {seed}: experts '{recipe}'", flush=True)
        seconds = self.run_tool([self.binary, "experts", *self.set_args(row, seed), "--out", directory],
                                os.path.join(directory, "log.txt"))
        write_json(marker, {"recipe": recipe, "seed": seed, "settings": wanted, "complete": True,
                            "seconds": seconds})
        return os.path.join(directory, "experts")

    def run_row(self, seed: int, row: dict) -> None:
        if os.path.exists(self.result_path(seed, row)):
            return
        directory = self.row_dir(seed, row)
        os.makedirs(directory, exist_ok=True)
        experts = self.ensure_experts(seed, row["experts"], row)
        link = os.path.join(directory, "experts")
        if os.path.islink(link) or os.path.exists(link):
            if os.path.realpath(link) != os.path.realpath(experts):
                raise StudyError(f"{link} points to another store than {experts}")
        else:
            os.symlink(os.path.relpath(experts, directory), link)
        print(f"[{self.name}] seed {seed}: {row['name']}", flush=True)
        seconds = self.run_tool([self.binary, "run", *self.set_args(row, seed), "--out", directory],
                                os.path.join(directory, "log.txt"))
        with open(os.path.join(directory, "report.json")) as f:
            report = json.load(f)
        ev = report["evaluation"]
        result = {"row": row["name"], "seed": seed, "seconds": seconds,
                  "distilled": ev["distilled"], "random_real": ev.get("random_real"),
                  "final_syn_lr": report.get("final_syn_lr"), "binary": self.binary}
        write_json(self.result_path(seed, row), result)
        d = ev["distilled"]
        print(f"[{self.name}] seed {seed}: {row['name']}: {100 * d['mean']:.2f} % ({seconds:.0f} s)", flush=True)

    def run(self, seeds: list[int], rows: list[dict], by_row: bool = False) -> None:
        """Seed by seed (all rows of a seed, then the next), or with by_row row by row (every
        seed of a row, then the next: the first rows of the spec get all their seeds first)."""
        os.makedirs(self.out, exist_ok=True)
        distilled = []
        for r in rows:  # a random-real row is computed by the run of its source row
            d = self.distilled_row(r)
            if d not in distilled:
                distilled.append(d)
        if by_row:
            units = [(seed, [r]) for r in distilled for seed in seeds]
        else:
            units = [(seed, distilled) for seed in seeds]
        # A unit whose seed another process holds is passed over, then revisited once the pass is
        # done (waiting for that process's lock): what the other process's rows do not cover is
        # still run here. A waiting process holds no lock, so two cannot wait on each other.
        def pending(seed: int, group: list[dict]) -> list[dict]:
            return [r for r in group if self.row_takes(r, seed) and not os.path.exists(self.result_path(seed, r))]

        held = []
        for wait, queue in ((False, units), (True, held)):
            for seed, group in queue:
                if not pending(seed, group):
                    continue
                os.makedirs(self.seed_dir(seed), exist_ok=True)
                with open(os.path.join(self.seed_dir(seed), "lock"), "w") as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                    except BlockingIOError:
                        print(f"[{self.name}] seed {seed}: another process holds it; moving on", flush=True)
                        held.append((seed, group))
                        continue
                    for r in pending(seed, group):  # again under the lock: a holder may have run some
                        if os.path.exists(os.path.join(self.out, "STOP")):
                            print(f"[{self.name}] {self.out}/STOP exists: stopping between rows", flush=True)
                            return
                        self.run_row(seed, r)
            if held and not wait:
                print(f"[{self.name}] revisiting seeds {sorted({s for s, _ in held})} once their holders "
                      "let go", flush=True)

    # ---- the table -----------------------------------------------------------------------------

    def values(self, row: dict) -> dict[int, float]:
        """seed -> the row's accuracy in % for that seed (mean over its evaluation networks)."""
        out = {}
        for seed in self.seed_list:
            path = self.result_path(seed, row)
            if not os.path.exists(path):
                continue
            with open(path) as f:
                res = json.load(f)
            part = res["random_real"] if "random_real_of" in row else res["distilled"]
            if part is not None:
                out[seed] = 100 * part["mean"]
        return out

    def matching(self, row: dict) -> list[tuple[float, float]]:
        """Per finished seed of a distilled row: (mean matching loss over the last 100
        iterations, the learned step size α at the end), from its report.json."""
        out = []
        for seed in self.seed_list:
            path = os.path.join(self.row_dir(seed, row), "report.json")
            if "random_real_of" in row or not os.path.exists(self.result_path(seed, row)) or not os.path.exists(path):
                continue
            with open(path) as f:
                report = json.load(f)
            losses = report.get("loss_history") or []
            if losses and report.get("final_syn_lr") is not None:
                tail = losses[-100:]
                out.append((sum(tail) / len(tail), float(report["final_syn_lr"])))
        return out

    def seconds(self, row: dict) -> list[float]:
        out = []
        for seed in self.seed_list:
            path = self.result_path(seed, row)
            if os.path.exists(path) and "random_real_of" not in row:
                with open(path) as f:
                    out.append(json.load(f)["seconds"])
        return out

    def expert_seconds(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for seed in self.seed_list:
            for recipe in self.recipes:
                marker = os.path.join(self.experts_dir(seed, recipe), "study-experts.json")
                if os.path.exists(marker):
                    with open(marker) as f:
                        info = json.load(f)
                    if info.get("complete"):
                        out.setdefault(recipe, []).append(info["seconds"])
        return out

    def table(self) -> tuple[str, dict]:
        data = {"study": self.name, "rows": []}
        lines = ["| row | seeds | mean ± std (%) | 95 % CI | Δ vs reference, paired by seed | 95 % CI of Δ | "
                 "significant | time per seed |",
                 "|---|---|---|---|---|---|---|---|"]
        for row in self.rows:
            # A random-real row is compared with its source row unless it names another.
            default = row["random_real_of"] if "random_real_of" in row else self.reference
            ref_name = row["reference"] if "reference" in row else default
            ref = self.row(ref_name) if ref_name else None
            ref_values = self.values(ref) if ref else {}
            values = self.values(row)
            entry = {"name": row["name"], "values": values}
            if not values:
                lines.append(f"| {row['name']} | 0 | – | – | – | – | – | – |")
                data["rows"].append(entry)
                continue
            s = summarize(list(values.values()))
            entry["summary"] = s
            ci = f"[{s['ci_low']:.2f}, {s['ci_high']:.2f}]" if s["n"] > 1 else "–"
            diff_text, diff_ci, sig = "–", "–", "–"
            common = sorted(set(values) & set(ref_values))
            if ref is not None and row is not ref and common:
                d = summarize([values[k] - ref_values[k] for k in common])
                entry["difference"] = {**d, "seeds": common}
                entry["reference"] = ref_name
                diff_text = f"{d['mean']:+.2f} ± {d['std']:.2f} vs {ref_name}" if d["n"] > 1 else f"{d['mean']:+.2f} vs {ref_name}"
                if d["n"] > 1:
                    diff_ci = f"[{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]"
                    sig = "yes, better" if d["ci_low"] > 0 else "yes, worse" if d["ci_high"] < 0 else "no"
            secs = self.seconds(self.distilled_row(row))
            time_text = "(with its source row)" if "random_real_of" in row else \
                (f"{sum(secs) / len(secs) / 60:.1f} min" if secs else "–")
            std_text = f"{s['std']:.2f}" if s["n"] > 1 else "–"
            lines.append(f"| {row['name']} | {s['n']} | {s['mean']:.2f} ± {std_text} | {ci} | {diff_text} | {diff_ci} | "
                         f"{sig} | {time_text} |")
            data["rows"].append(entry)
        if self.comparisons:
            lines += ["", "| paired comparison (A − B, same seeds) | seeds | Δ ± std (points) | 95 % CI of Δ | significant |",
                      "|---|---|---|---|---|"]
            data["comparisons"] = []
            for a, b in self.comparisons:
                va, vb = self.values(self.row(a)), self.values(self.row(b))
                common = sorted(set(va) & set(vb))
                entry = {"a": a, "b": b, "seeds": common}
                if len(common) >= 2:
                    d = summarize([va[k] - vb[k] for k in common])
                    entry.update(d)
                    sig = "yes, A better" if d["ci_low"] > 0 else "yes, B better" if d["ci_high"] < 0 else "no"
                    lines.append(f"| {a} − {b} | {d['n']} | {d['mean']:+.2f} ± {d['std']:.2f} | "
                                 f"[{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] | {sig} |")
                else:
                    lines.append(f"| {a} − {b} | {len(common)} | – | – | – |")
                data["comparisons"].append(entry)
        matched = [(row["name"], self.matching(row)) for row in self.rows if "random_real_of" not in row]
        matched = [(name, m) for name, m in matched if m]
        if matched:
            lines += ["", "| row | seeds | matching loss, mean of the last 100 iterations | learned α at the end |",
                      "|---|---|---|---|"]
            data["matching"] = {}
            for name, m in matched:
                loss = sum(x for x, _ in m) / len(m)
                alpha = sum(a for _, a in m) / len(m)
                lines.append(f"| {name} | {len(m)} | {loss:.3f} | {alpha:.4f} ({min(a for _, a in m):.4f} … {max(a for _, a in m):.4f}) |")
                data["matching"][name] = {"seeds": len(m), "loss": loss, "alpha": alpha}
        expert_lines = [f"- experts '{k}': {sum(v) / len(v) / 60:.1f} min per seed ({len(v)} seeds)"
                        for k, v in self.expert_seconds().items()]
        data["expert_seconds"] = self.expert_seconds()
        text = "\n".join(lines) + ("\n\n" + "\n".join(expert_lines) if expert_lines else "") + "\n"
        return text, data


def write_json(path: str, value) -> None:
    """Atomic: a temporary file renamed over the target."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["check", "run", "table"])
    ap.add_argument("spec")
    ap.add_argument("--out", help="output directory (default studies/out/<name>)")
    ap.add_argument("--bin", default=os.environ.get("AST_DISTILL", DEFAULT_BIN), help="ast-distill binary")
    ap.add_argument("--seeds", help="seeds to run, e.g. 1-5 or 1,3 (default: all of the spec's)")
    ap.add_argument("--rows", help="comma-separated row names to run, in this order (default: all, in the spec's order)")
    ap.add_argument("--row", action="append", default=[], help="a row to run (repeatable; for names with commas)")
    ap.add_argument("--shard", help="I/N: run only seeds at positions ≡ I (mod N) of the selected seeds")
    ap.add_argument("--by-row", action="store_true",
                    help="run every seed of a row before the next row (default: every row of a seed before the next seed)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for every row, after the spec's (repeatable; e.g. data.dir=DIR)")
    ap.add_argument("--markdown", help="write the table here too")
    ap.add_argument("--json", help="write the table's numbers here too")
    a = ap.parse_args(argv)
    try:
        overrides = {}
        for item in a.set:
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise StudyError(f"--set {item!r}: expected KEY=VALUE")
            overrides[key.strip()] = value
        study = Study(a.spec, a.out, a.bin, overrides)
        seeds = parse_seeds(a.seeds, study.seed_list) if a.seeds else study.seed_list
        rows = study.rows
        if a.rows or a.row:
            wanted = [n.strip() for n in (a.rows or "").split(",") if n.strip()] + a.row
            known = {r["name"] for r in study.rows}
            unknown = [n for n in wanted if n not in known]
            if unknown:
                raise StudyError(f"--rows: unknown rows {unknown} (known: {sorted(known)})")
            # in the order given, so a caller can put the rows that matter most first
            by_name = {r["name"]: r for r in study.rows}
            rows = [by_name[n] for n in dict.fromkeys(wanted)]
        if a.shard:
            m = re.fullmatch(r"(\d+)/(\d+)", a.shard)
            if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
                raise StudyError(f"--shard: '{a.shard}' is not I/N with 0 <= I < N")
            i, n = int(m.group(1)), int(m.group(2))
            seeds = [s for k, s in enumerate(seeds) if k % n == i]
        if a.command == "check":
            recipes = study.check()
            print(f"{study.name}: {len(study.rows)} rows x up to {study.seeds} seeds; recipes "
                  + ", ".join(k + " (" + v["fingerprint"] + ")" for k, v in recipes.items()) + f"; seeds {seeds}; out {study.out}")
        elif a.command == "run":
            study.check()
            study.run(seeds, rows, by_row=a.by_row)
            print(study.table()[0])
        else:
            text, data = study.table()
            print(text)
            if a.markdown:
                with open(a.markdown, "w") as f:
                    f.write(text)
            if a.json:
                write_json(a.json, data)
    except StudyError as e:
        print(f"study: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
