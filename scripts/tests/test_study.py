"""The study harness (scripts/study.py) against a stand-in tool: statistics, resume, splitting
and the spec errors that must stop a study before any work starts."""
import fcntl
import json
import math
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
STUDY = os.path.join(os.path.dirname(HERE), "study.py")
FAKE = os.path.join(HERE, "fake_ast_distill.py")
sys.path.insert(0, os.path.dirname(HERE))
import study  # noqa: E402


def spec(tmp_path, **changes):
    s = {
        "name": "t", "seeds": 4, "reference": "MTT",
        "settings": {"network.width": 32},
        "experts": {"mtt": {"experts.kind": "mtt"}, "ast": {"experts.kind": "ast"}},
        "rows": [
            {"name": "random real", "random_real_of": "MTT"},
            {"name": "MTT", "experts": "mtt"},
            {"name": "AST", "experts": "ast", "settings": {"distill.inner_momentum": 0.9}},
            {"name": "AST on MTT experts", "experts": "mtt", "settings": {"distill.inner_momentum": 0.9}, "seeds": 3},
        ],
    }
    s.update(changes)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(s))
    return str(path)


def run(tmp_path, *args, fail=None):
    env = dict(os.environ, FAKE_AST_CALLS=str(tmp_path / "calls.txt"))
    if fail is not None:
        env["FAKE_AST_FAIL"] = str(fail)
    return subprocess.run([sys.executable, STUDY, *args, "--bin", FAKE, "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env)


def calls(tmp_path, command):
    path = tmp_path / "calls.txt"
    return [l for l in path.read_text().splitlines() if l.startswith(command)] if path.exists() else []


def test_summary_statistics():
    s = study.summarize([70.0, 72.0, 74.0])
    assert s["mean"] == 72.0 and math.isclose(s["std"], 2.0)
    half = 4.303 * 2.0 / math.sqrt(3)  # t(0.975, 2)
    assert math.isclose(s["ci_low"], 72.0 - half) and math.isclose(s["ci_high"], 72.0 + half)
    assert math.isnan(study.summarize([1.0])["std"])
    assert study.t975(4) == 2.776 and study.t975(100) == 1.96


def test_study_table_paired_differences_and_resume(tmp_path):
    p = spec(tmp_path)
    r = run(tmp_path, "run", p)
    assert r.returncode == 0, r.stderr
    # each seed trains each recipe's experts once; rows of one seed share them
    assert len(calls(tmp_path, "experts")) == 2 * 4
    assert len(calls(tmp_path, "run")) == 4 + 4 + 3
    r = run(tmp_path, "table", p, "--json", str(tmp_path / "table.json"))
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads((tmp_path / "table.json").read_text())["rows"]}
    # MTT: 50 + s + 1 for s = 1..4 -> mean 53.5; AST: 50 + s + 2 -> +1 vs MTT on every seed
    assert math.isclose(rows["MTT"]["summary"]["mean"], 53.5)
    assert rows["AST"]["difference"]["n"] == 4 and math.isclose(rows["AST"]["difference"]["mean"], 1.0)
    assert math.isclose(rows["AST"]["difference"]["std"], 0, abs_tol=1e-9)
    assert rows["AST on MTT experts"]["summary"]["n"] == 3
    assert math.isclose(rows["AST on MTT experts"]["difference"]["mean"], 2.0)
    assert math.isclose(rows["random real"]["summary"]["mean"], 30 + 0.2 * 2.5)
    assert rows["random real"]["reference"] == "MTT" and "difference" not in rows["MTT"]
    assert "| AST | 4 |" in r.stdout and "yes, better" in r.stdout
    # an extra comparison between two non-reference rows, paired on the seeds both have (1..3)
    (cmp := json.loads(open(p).read()))["comparisons"] = [["AST on MTT experts", "AST"]]
    open(p, "w").write(json.dumps(cmp))
    r = run(tmp_path, "table", p, "--json", str(tmp_path / "table2.json"))
    c = json.loads((tmp_path / "table2.json").read_text())["comparisons"][0]
    assert c["seeds"] == [1, 2, 3] and math.isclose(c["mean"], 1.0) and c["n"] == 3
    assert "| AST on MTT experts − AST | 3 | +1.00 ± 0.00 |" in r.stdout
    # matching loss (last 100 iterations) and α of every distilled row, averaged over its seeds
    m = json.loads((tmp_path / "table2.json").read_text())["matching"]
    assert m["AST on MTT experts"] == {"seeds": 3, "loss": 2.0, "alpha": pytest.approx(0.012)}
    assert "| MTT | 4 | 2.500 | 0.0125 (0.0110 … 0.0140) |" in r.stdout
    # a second run does nothing: every (seed, row) is finished
    before = len(calls(tmp_path, ""))
    assert run(tmp_path, "run", p).returncode == 0
    assert [c for c in calls(tmp_path, "") if not c.startswith("settings")] == \
        [c for c in calls(tmp_path, "")[:before] if not c.startswith("settings")]


def test_a_failed_row_stops_and_the_rerun_resumes(tmp_path):
    p = spec(tmp_path)
    r = run(tmp_path, "run", p, fail=2)
    assert r.returncode == 2 and "exited 1" in r.stderr
    done = len(calls(tmp_path, "run"))
    r = run(tmp_path, "run", p)
    assert r.returncode == 0, r.stderr
    # seed 1's rows are not run again; seed 2 onwards are
    assert len(calls(tmp_path, "run")) == done + (4 + 4 + 3) - 3


def test_by_row_runs_every_seed_of_a_row_first(tmp_path):
    p = spec(tmp_path)
    assert run(tmp_path, "run", p, "--by-row").returncode == 0
    order = [(c.split()[1], c.split()[2].split("/")[-1]) for c in calls(tmp_path, "run")]
    assert [o[1] for o in order[:4]] == ["mtt"] * 4 and [o[0] for o in order[:4]] == [f"seed={s}" for s in range(1, 5)]
    assert len(order) == 4 + 4 + 3


def test_rows_run_in_the_order_given(tmp_path):
    p = spec(tmp_path)
    assert run(tmp_path, "run", p, "--by-row", "--seeds", "1", "--row", "AST on MTT experts", "--row", "MTT").returncode == 0
    outs = [c.split("out=")[1] for c in calls(tmp_path, "run")]
    assert len(outs) == 2 and "ast-on-mtt-experts" in outs[0] and outs[1].rstrip("/").endswith("mtt")


def test_shards_split_seeds(tmp_path):
    p = spec(tmp_path)
    assert run(tmp_path, "run", p, "--shard", "0/2").returncode == 0
    seeds = {c.split()[1] for c in calls(tmp_path, "run")}
    assert seeds == {"seed=1", "seed=3"}
    assert run(tmp_path, "run", p, "--shard", "1/2", "--row", "MTT").returncode == 0
    assert {c.split()[1] for c in calls(tmp_path, "run")} == {"seed=1", "seed=2", "seed=3", "seed=4"}


def test_first_seed_gives_a_study_fresh_seeds(tmp_path):
    p = spec(tmp_path, first_seed=6, seeds=3)
    r = run(tmp_path, "run", p, "--json", str(tmp_path / "t.json"))
    assert r.returncode == 0, r.stderr
    # seeds 6..8 everywhere; the 3-seed row takes all three, and --seeds speaks the same numbers
    assert {c.split()[1] for c in calls(tmp_path, "run")} == {"seed=6", "seed=7", "seed=8"}
    assert len(calls(tmp_path, "run")) == 3 * 3
    r = run(tmp_path, "table", p, "--json", str(tmp_path / "t.json"))
    rows = {row["name"]: row for row in json.loads((tmp_path / "t.json").read_text())["rows"]}
    assert sorted(int(k) for k in rows["MTT"]["values"]) == [6, 7, 8]
    assert rows["AST"]["difference"]["seeds"] == [6, 7, 8]
    r = run(tmp_path, "run", p, "--seeds", "1-2")
    assert r.returncode == 2 and "outside 6..8" in r.stderr


@pytest.mark.parametrize("args,changes,message", [
    ([], {"first_seed": 0}, "first_seed 0 is not a whole number"),
    ([], {"first_seed": "6"}, "first_seed '6' is not a whole number"),
    (["--rows", "MTT,nope"], {}, "unknown rows ['nope']"),
    (["--seeds", "0-2"], {}, "outside 1..4"),
    (["--seeds", "3-1"], {}, "empty range"),
    (["--shard", "2/2"], {}, "not I/N"),
    ([], {"reference": "nope"}, "reference 'nope' is not a row"),
    ([], {"rows": [{"name": "a", "experts": "zzz"}]}, "experts 'zzz' is not one of"),
    ([], {"rows": [{"name": "a", "random_real_of": "b"}]}, "random_real_of names no distilled row"),
    ([], {"rows": [{"name": "a", "experts": "mtt", "colour": 1}]}, "unknown fields ['colour']"),
    ([], {"rows": [{"name": "a", "experts": "mtt"}, {"name": "a", "experts": "ast"}]}, "distinct"),
    ([], {"rows": [{"name": "a", "experts": "mtt", "seeds": 9}]}, "seeds outside 1..4"),
    ([], {"reference": "a", "rows": [{"name": "a", "experts": "mtt", "settings": {"distill.nope": 1}}]},
     "unknown setting 'distill.nope'"),
    ([], {"reference": "a", "rows": [{"name": "a", "experts": "mtt"},
                                     {"name": "b", "experts": "mtt", "settings": {"network.width": 64}}]},
     "changes experts/network/data settings of recipe 'mtt'"),
    ([], {"experts": {"mtt": {"distill.ipc": 2}, "ast": {}}}, "may only set experts.* settings"),
    ([], {"comparisons": [["MTT", "nope"]]}, "is not a pair of two different rows"),
    ([], {"comparisons": [["MTT", "MTT"]]}, "is not a pair of two different rows"),
])
def test_bad_specs_fail_before_any_work(tmp_path, args, changes, message):
    r = run(tmp_path, "run", spec(tmp_path, **changes), *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert calls(tmp_path, "experts") == [] and calls(tmp_path, "run") == []


def test_a_store_made_with_other_settings_is_refused(tmp_path):
    p = spec(tmp_path)
    assert run(tmp_path, "run", p, "--seeds", "1", "--rows", "MTT").returncode == 0
    changed = spec(tmp_path, settings={"network.width": 64})
    r = run(tmp_path, "run", changed, "--seeds", "1", "--rows", "AST on MTT experts")
    assert r.returncode == 2 and "holds experts made with other settings" in r.stderr and "network.width" in r.stderr


def test_set_adds_a_setting_to_every_row(tmp_path):
    p = spec(tmp_path)
    assert run(tmp_path, "run", p, "--seeds", "1", "--rows", "MTT,AST", "--set", "network.width=64").returncode == 0
    for recipe in ("mtt", "ast"):
        marker = json.loads((tmp_path / "out" / "seed-1" / f"experts-{recipe}" / "study-experts.json").read_text())
        assert marker["settings"]["network.width"] == 64
    r = run(tmp_path, "run", p, "--set", "network.width")
    assert r.returncode == 2 and "expected KEY=VALUE" in r.stderr


def test_a_seed_held_by_another_process_is_revisited_after_the_pass(tmp_path):
    p = spec(tmp_path)
    seed_dir = tmp_path / "out" / "seed-1"
    seed_dir.mkdir(parents=True)
    with open(seed_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # "another process" holds seed 1
        env = dict(os.environ, FAKE_AST_CALLS=str(tmp_path / "calls.txt"))
        proc = subprocess.Popen([sys.executable, STUDY, "run", p, "--by-row", "--seeds", "1-2", "--rows", "MTT",
                                 "--bin", FAKE, "--out", str(tmp_path / "out")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 60
        while not (tmp_path / "out" / "seed-2" / "mtt" / "result.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, "the run ended while seed 1 was still held"
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "seed 1: another process holds it" in out and "revisiting seeds [1]" in out
    assert (tmp_path / "out" / "seed-1" / "mtt" / "result.json").exists()
