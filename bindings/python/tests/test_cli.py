"""The command-line tool ast-distill: --version, one error format on standard error with exit
status 1 (failure) or 2 (wrong command line), the no-preset message, the user's own data
(data.dataset=npz, data.path), a shared expert store (experts.dir) and `render --scale`.

The binary is built (or found up to date) with `swift build -c release -Xswiftc -enable-testing
--product ast-distill` in the SwiftPM scratch path of scripts/test.sh (AST_TEST_SCRATCH,
default <repo>/.build); $AST_DISTILL names a binary to use instead."""

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

import libast

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "ast-distill: error: "


@pytest.fixture(scope="module")
def cli():
    if os.environ.get("AST_DISTILL"):
        return os.environ["AST_DISTILL"]
    if shutil.which("swift") is None:
        pytest.skip("no swift toolchain to build ast-distill (set AST_DISTILL)")
    scratch = os.environ.get("AST_TEST_SCRATCH", str(ROOT / ".build"))
    cmd = ["swift", "build", "-c", "release", "-Xswiftc", "-enable-testing", "--product", "ast-distill",
           "--scratch-path", scratch]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    path = subprocess.run(cmd + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return os.path.join(path, "ast-distill")


def run(cli, *args, cwd=None):
    return subprocess.run([cli, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def failed(result, status, fragment):
    """Exit status, one prefixed message on stderr, nothing on stdout."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith(PREFIX), result.stderr
    assert fragment in result.stderr, result.stderr
    assert result.stdout == "", result.stdout
    assert "error: error:" not in result.stderr and "Error:" not in result.stderr


def test_version(cli):
    r = run(cli, "--version")
    assert r.returncode == 0 and r.stdout.strip() == libast.version()


@pytest.mark.parametrize("command", ["run", "experts", "distill", "evaluate"])
def test_no_preset_lists_the_presets_instead_of_starting_a_default_job(cli, command, tmp_path):
    r = run(cli, command, "--out", tmp_path / "out")
    failed(r, 2, "no --preset given")
    assert "quick" in r.stderr and "cifar10-ipc50" in r.stderr and "ast-distill presets" in r.stderr
    assert len(r.stderr.splitlines()) <= 3
    assert not (tmp_path / "out").exists()


def test_command_line_mistakes_exit_2(cli, tmp_path):
    failed(run(cli, "run", "--bogus"), 2, "Unknown option '--bogus'")
    failed(run(cli, "frobnicate"), 2, "frobnicate")
    failed(run(cli, "run", "--preset", "quik"), 2, "unknown preset 'quik'")
    failed(run(cli, "run", "--preset", "quick", "--set", "distill.ipcc=2"), 2, "did you mean 'distill.ipc'")
    failed(run(cli, "run", "--preset", "quick", "--set", "distill.ipc"), 2, "expected name=value")
    failed(run(cli, "run", "--preset", "quick", "--set", "distill.ipc=0"), 2, "distill.ipc: 0 is outside")
    failed(run(cli, "render", "a.safetensors", "b.png", "--scale", "0"), 2, "--scale 0 is outside 1...32")
    failed(run(cli, "inspect"), 2, "Missing expected argument")


def test_failures_exit_1(cli, tmp_path):
    failed(run(cli, "inspect", tmp_path / "missing.safetensors"), 1, "missing.safetensors")
    failed(run(cli, "render", tmp_path / "missing.safetensors", tmp_path / "x.png"), 1, "missing.safetensors")
    failed(run(cli, "run", "--config", tmp_path / "none.json"), 1, "none.json")
    (tmp_path / "bad.json").write_text('{"distill.ipc": "ten"}')
    failed(run(cli, "run", "--config", tmp_path / "bad.json"), 1, "bad.json")
    failed(run(cli, "run", "--preset", "quick", "--set", "data.dataset=npz", "--out", tmp_path / "o"), 1,
           "needs data.path")
    failed(run(cli, "run", "--preset", "quick", "--set", "data.dataset=npz", "--set",
               f"data.path={tmp_path / 'none.npz'}", "--out", tmp_path / "o"), 1, "none.npz")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    failed(run(cli, "distill", "--preset", "quick", "--set", "data.dataset=npz", "--set",
               f"data.path={tmp_path / 'x.npz'}", "--out", tmp_path / "o"), 1, "x.npz")


TINY = {"network.channels": 1, "network.image_size": 8, "network.classes": 3, "network.width": 4,
        "network.depth": 2, "experts.count": 2, "experts.epochs": 3, "experts.batch": 10,
        "distill.syn_steps": 4, "distill.max_start_epoch": 2, "distill.iterations": 2,
        "distill.lr_img": 10.0, "eval.models": 1, "eval.epochs": 2, "data.dataset": "npz"}


def npz_data(path, n=36, seed=4):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 120, (n, 8, 8)).astype(np.uint8)
    for i in range(n):
        x[i, 2 * y[i], :] = 255
    np.savez(path, x_train=x, y_train=y.astype(np.int64), x_test=x[:12], y_test=y[:12])


def png_pixels(path):
    """(width, height, channels, rows) of an 8-bit gray/RGB PNG whose rows use filter 0."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, header = 8, b"", None
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, color = header[:4]
    channels = {0: 1, 2: 3}[color]
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    rows = [raw[r * stride:(r + 1) * stride] for r in range(height)]
    if any(row[0] != 0 for row in rows):
        return width, height, channels, None
    return width, height, channels, np.array([list(row[1:]) for row in rows], np.uint8).reshape(height, width, channels)


def test_own_data_shared_store_and_labelled_grid(cli, tmp_path):
    npz_data(tmp_path / "mine.npz")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(dict(TINY, **{"data.path": str(tmp_path / "mine.npz")})))
    first = run(cli, "run", "--config", config, "--out", tmp_path / "a")
    assert first.returncode == 0, first.stderr
    assert "expert 1" in first.stderr and "distilled" in first.stdout
    assert (tmp_path / "a" / "experts" / "expert_00001.safetensors").exists()
    # A second run on the first one's experts: nothing trained again, no store of its own.
    second = run(cli, "run", "--config", config, "--set", f"experts.dir={tmp_path / 'a' / 'experts'}",
                 "--out", tmp_path / "b")
    assert second.returncode == 0, second.stderr
    assert "expert 0" not in second.stderr and not (tmp_path / "b" / "experts").exists()
    assert (tmp_path / "b" / "distilled.png").exists()
    # ... and one for another network is refused, naming the setting.
    failed(run(cli, "distill", "--config", config, "--set", f"experts.dir={tmp_path / 'a' / 'experts'}",
               "--set", "network.width=6", "--out", tmp_path / "c"), 1, "network.width is 4 there, 6 in this run")
    # render --scale: nearest-neighbour upscaling plus a label column and a legend row.
    distilled = tmp_path / "b" / "distilled.safetensors"
    for scale in (1, 3):
        r = run(cli, "render", distilled, tmp_path / f"grid{scale}.png", "--scale", scale)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        width, height, channels, pixels = png_pixels(tmp_path / f"grid{scale}.png")
        t = max(1, (8 * scale) // 24)
        label_width, legend = 5 * 4 * t + 4 * t, 5 * t + 4 * t  # "CLASS" is the widest label
        assert (width, height) == (label_width + 10 * scale, legend + 28 * scale), (scale, width, height)
        assert f"({width}x{height})" in r.stdout
        if pixels is not None:
            cells = pixels[legend:, label_width:, 0]
            assert np.array_equal(cells, np.repeat(np.repeat(cells[::scale, ::scale], scale, 0), scale, 1))
            assert pixels[:legend, :label_width].max() == 255  # the legend's text
            assert pixels[legend:, :label_width].max() == 255  # the class labels
    failed(run(cli, "render", tmp_path / "a" / "experts" / "expert_00000.safetensors", tmp_path / "e.png"), 1,
           "images")
