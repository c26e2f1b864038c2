"""scripts/readme-figures.py: one README table per OpenBLAS kernel family, checked against the
run's kernels; a run on kernels without a table is reported, not compared."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "readme-figures.py")


def report(tmp_path, core, mean, name="report.json"):
    r = {
        "settings": {"distill.ipc": 1, "distill.inner_momentum": 0.9, "distill.balanced_loss": 1,
                     "distill.intermediate": "off", "distill.weight_perturbation": 1, "distill.init": "real",
                     "experts.kind": "ast", "eval.baseline_lr": 0.01, "eval.epochs": 200},
        "iterations": 60, "final_syn_lr": 0.0088,
        "evaluation": {"distilled": {"accuracies": [mean] * 3, "mean": mean, "std": 0.01},
                       "random_real": {"accuracies": [0.4] * 3, "mean": 0.4, "std": 0.03}},
    }
    if core is not None:
        r["runtime"] = {"blas_core": core, "threads": 2}
    path = tmp_path / name
    path.write_text(json.dumps(r))
    return str(path)


def figures(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def test_tables_per_kernel_family(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n\n<!-- quick-start figures: begin core=SkylakeX (x) -->\nold\n"
                      "<!-- quick-start figures: end -->\n\nafter\n")
    skx = report(tmp_path, "SkylakeX", 0.6943, "skx.json")
    assert figures(skx, "--check", str(readme)).returncode == 1  # stale
    assert figures(skx, "--update", str(readme)).returncode == 0
    assert figures(skx, "--check", str(readme)).returncode == 0
    # a run on other kernels is not compared until the README has their table; then it is
    haswell = report(tmp_path, "Haswell", 0.6927, "haswell.json")
    r = figures(haswell, "--check", str(readme))
    assert r.returncode == 0 and "no quick-start table for OpenBLAS Haswell" in r.stderr and "69.27" in r.stderr
    assert figures(haswell, "--update", str(readme)).returncode == 0
    text = readme.read_text()
    assert text.index("core=SkylakeX") < text.index("core=Haswell") < text.index("after")
    assert "69.43 ± 1.00 %" in text and "69.27 ± 1.00 %" in text and "OpenBLAS Haswell kernels" in text
    assert figures(haswell, "--check", str(readme)).returncode == 0
    assert figures(skx, "--check", str(readme)).returncode == 0
    r = figures(report(tmp_path, "haswell", 0.70, "other.json"), "--check", str(readme))
    assert r.returncode == 1 and "for OpenBLAS haswell kernels is stale" in r.stderr


def test_a_report_without_its_kernels_or_a_readme_without_blocks_is_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- quick-start figures: begin core=SkylakeX -->\n<!-- quick-start figures: end -->\n")
    r = figures(report(tmp_path, None, 0.69), "--check", str(readme))
    assert r.returncode != 0 and "no runtime.blas_core" in r.stderr
    readme.write_text("<!-- quick-start figures: begin (no core) -->\n<!-- quick-start figures: end -->\n")
    r = figures(report(tmp_path, "Haswell", 0.69), "--check", str(readme))
    assert r.returncode != 0 and "core=NAME" in r.stderr
