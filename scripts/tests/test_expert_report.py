"""scripts/expert_report.py on a tiny hand-made trajectory store: step lengths, accuracy, and
the clear failure on a directory without experts."""
import importlib.util
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "expert_report.py")
# The binding's safetensors writer, loaded by path: the libast package itself needs libast.so.
_spec = importlib.util.spec_from_file_location(
    "_safetensors", os.path.join(HERE, "..", "..", "bindings", "python", "libast", "_safetensors.py"))
safetensors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(safetensors)


def write_expert(path, trajectory, accuracy):
    safetensors.write(str(path), [("trajectory", np.asarray(trajectory, np.float32)),
                                  ("test_accuracy", np.asarray(accuracy, np.float32))],
                      {"optimizer": "sgd lr=0.01 momentum=0.0"})


def test_step_lengths_and_accuracy_from_a_run_directory(tmp_path):
    store = tmp_path / "run" / "experts"
    store.mkdir(parents=True)
    # θ moves by (3, 4) then (0, 1): step lengths 5 and 1 in both experts
    write_expert(store / "expert_0.safetensors", [[0, 0], [3, 4], [3, 5]], [0.5, 0.7])
    write_expert(store / "expert_1.safetensors", [[1, 1], [4, 5], [4, 6]], [0.5, 0.9])
    r = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "run")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    line = r.stdout.splitlines()[-1]
    assert "| MTT (plain SGD) | 2 | 80.00 ± 14.14 % | 5.00 1.00 | 5.00 |" == line.strip(), line


def test_a_directory_without_experts_is_an_error(tmp_path):
    r = subprocess.run([sys.executable, SCRIPT, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode != 0 and "no finished expert_*.safetensors" in r.stderr
