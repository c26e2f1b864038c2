"""Extreme values through every entry point (issue 15): images of 1e30 / 1e-30 / subnormals,
step size 0 and negative, zero-variance classes in the k-means initialisation, one class only,
a dataset smaller than a batch. Each call must return a correct (finite) result or raise
ASTError with a status and a message - never crash, hang, or hand back or write NaN."""

import json
import os
import struct

import numpy as np
import pytest

import libast
from libast import _raw

CFG = dict(channels=1, image_size=8, classes=3, width=4, depth=2)
SUBNORMAL = np.float32(1e-40)  # below float32's smallest normal (1.18e-38)
EXTREMES = {
    "1e30": 1e30,
    "-1e30": -1e30,
    "1e-30": 1e-30,
    "subnormal": SUBNORMAL,
    "max_float32": np.finfo(np.float32).max,
}
# What a value that cannot give a finite result may raise.
NUMERIC_FAILURES = (_raw.AST_ERR_NON_FINITE, _raw.AST_ERR_DIVERGED)


@pytest.fixture
def net():
    with libast.Network(**CFG) as n:
        yield n


def images_of(value, n=6, mixed=False):
    x = np.full((n, 1, 8, 8), value, dtype=np.float32)
    if mixed:  # alternate signs and a few ordinary pixels
        x[:, :, ::2, :] *= -1
        x[:, :, 0, 0] = 0.5
    return x


def finite_or_numeric_error(call):
    """The call's result when it is all finite; None when it raised a numeric ASTError."""
    try:
        result = call()
    except libast.ASTError as e:
        assert e.status in NUMERIC_FAILURES, f"status {e.status}: {e}"
        assert e.message, "an error must carry a message"
        return None
    values = result if isinstance(result, tuple) else (result,)
    for v in values:
        assert np.all(np.isfinite(np.asarray(v, dtype=np.float64))), f"non-finite result {v!r} returned as success"
    return result


LABELS = np.array([0, 1, 2, 0, 1, 2], np.int32)


@pytest.mark.parametrize("name", sorted(EXTREMES))
@pytest.mark.parametrize("mixed", [False, True])
def test_engine_calls_on_extreme_images(net, name, mixed):
    x = images_of(EXTREMES[name], mixed=mixed)
    theta = net.init_parameters(1)
    v = net.init_parameters(2)
    finite_or_numeric_error(lambda: net.logits(theta, x))
    finite_or_numeric_error(lambda: net.loss_gradient(theta, x, LABELS))
    finite_or_numeric_error(lambda: net.hessian_vector_product(theta, x, LABELS, v))
    finite_or_numeric_error(lambda: net.mixed_input_product(theta, x, LABELS, v))
    with libast.Dataset(x, LABELS, classes=3) as ds:
        finite_or_numeric_error(lambda: net.evaluate(theta, ds, batch_size=4, progress=False))
    r = finite_or_numeric_error(lambda: libast.matching_step(
        net, theta, v, x, LABELS, step_size=0.01, steps=3, inner_momentum=0.5, augmentation="color_crop"))
    if r is not None:
        for field in r:
            assert np.all(np.isfinite(np.asarray(field, dtype=np.float64)))
    # The network is still usable afterwards.
    assert np.all(np.isfinite(net.logits(theta, images_of(0.1))))


@pytest.mark.parametrize("name", ["1e30", "max_float32"])
def test_extreme_parameters(net, name):
    x = images_of(0.3)
    theta = np.full(net.parameter_count, EXTREMES[name], np.float32)
    finite_or_numeric_error(lambda: net.logits(theta, x))
    finite_or_numeric_error(lambda: net.loss_gradient(theta, x, LABELS))


def test_subnormal_images_give_the_loss_of_zero_images(net):
    """Subnormal pixels are tiny numbers, not garbage: finite results, and the loss (a
    continuous function of the pixels) equals that of zero images to float precision. (The
    gradients may differ: at exactly zero every pre-activation sits on ReLU's kink.)"""
    theta = net.init_parameters(3)
    loss_sub, grad_sub = net.loss_gradient(theta, images_of(SUBNORMAL), LABELS)
    loss_zero, _ = net.loss_gradient(theta, images_of(0.0), LABELS)
    assert np.isfinite(loss_sub) and np.all(np.isfinite(grad_sub))
    assert loss_sub == pytest.approx(loss_zero, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("step_size", [0.0, -0.01, -0.0, float("nan"), float("inf")])
def test_matching_step_size_zero_negative_nonfinite_is_an_error(net, step_size):
    theta, target = net.init_parameters(1), net.init_parameters(2)
    with pytest.raises(libast.ASTError) as e:
        libast.matching_step(net, theta, target, images_of(0.2), LABELS, step_size=step_size, steps=2)
    assert e.value.status in (_raw.AST_ERR_INVALID_ARGUMENT, _raw.AST_ERR_NON_FINITE)
    assert "step_size" in str(e.value) or "alpha" in str(e.value)


@pytest.mark.parametrize("key", ["distill.lr_init", "distill.lr_img", "distill.lr_lr", "eval.baseline_lr"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_step_size_settings_zero_or_negative_are_rejected(key, value):
    with libast.Config() as cfg:
        before = cfg.get(key)
        with pytest.raises(libast.ASTError) as e:
            cfg.set(key, value)
        assert e.value.status == _raw.AST_ERR_OUT_OF_RANGE
        assert cfg.get(key) == before


# --- runs on the caller's data --------------------------------------------------------------

RUN = dict(CFG, **{"experts.count": 1, "experts.epochs": 2, "experts.batch": 256,
                   "distill.syn_steps": 2, "distill.expert_epochs": 1, "distill.max_start_epoch": 1,
                   "distill.iterations": 2, "distill.checkpoint_every": 1, "eval.models": 1,
                   "eval.epochs": 2, "eval.batch": 256, "seed": 3})


def safetensors_floats(path):
    """Every float32 value of a safetensors file (standard library + numpy)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    out = []
    for t in header.values():
        if t["dtype"] == "F32":
            lo, hi = t["data_offsets"]
            out.append(np.frombuffer(data[lo:hi], dtype="<f4"))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def no_nan_on_disk(directory):
    for d, _, names in os.walk(directory):
        for name in names:
            if name.endswith(".safetensors") and not name.startswith("."):
                values = safetensors_floats(os.path.join(d, name))
                assert np.all(np.isfinite(values)), f"{name}: non-finite values written to disk"


def run_pipeline(tmp_path, train, test, **settings):
    """run_all on the caller's data: the Distilled set, or the ASTError it raised (with the
    output directory checked for non-finite files either way)."""
    out = tmp_path / "run"
    try:
        with libast.Run(dict(RUN, **settings), out, train=train, test=test) as run:
            result = run.run_all(progress=False)
    except libast.ASTError as e:
        assert e.message
        no_nan_on_disk(out)
        return e
    no_nan_on_disk(out)
    d = result["distilled"]
    assert np.all(np.isfinite(d.images)) and np.isfinite(d.step_size) and d.step_size > 0
    assert np.all(np.isfinite(d.loss_history))
    return d


def labelled(n_per_class, classes=3, seed=0, value=None):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes, dtype=np.int32), n_per_class)
    x = rng.random((y.size, 1, 8, 8), dtype=np.float32) if value is None else np.full((y.size, 1, 8, 8), value, np.float32)
    return x, y


def test_dataset_smaller_than_every_batch(tmp_path):
    """6 training images against batches of 256: a correct, finite result."""
    d = run_pipeline(tmp_path, labelled(2), labelled(2, seed=1))
    assert isinstance(d, libast.Distilled), d
    assert d.images.shape == (3, 1, 8, 8) and list(d.labels) == [0, 1, 2]


@pytest.mark.parametrize("ipc", [1, 2])
def test_zero_variance_class_in_kmeans_initialisation(tmp_path, ipc):
    """distill.init representative (k-means per class) on a class whose images are all the
    same: the centres are that image (no division by a zero spread, no empty cluster trap)."""
    x, y = labelled(4)
    x[y == 1] = 0.25  # class 1: every image identical
    d = run_pipeline(tmp_path, (x, y), labelled(2, seed=1), **{"distill.ipc": ipc, "distill.init": "representative"})
    assert isinstance(d, libast.Distilled), d
    assert d.images.shape[0] == 3 * ipc


def test_zero_variance_dataset(tmp_path):
    """Every training pixel the same: per-channel normalisation has a zero standard deviation.
    A clear error or a finite result, never NaN."""
    r = run_pipeline(tmp_path, labelled(3, value=0.5), labelled(2, value=0.5))
    if isinstance(r, libast.ASTError):
        assert r.status in (_raw.AST_ERR_INVALID_ARGUMENT, _raw.AST_ERR_NON_FINITE, _raw.AST_ERR_DIVERGED), r


@pytest.mark.parametrize("name", ["1e30", "1e-30", "subnormal"])
def test_extreme_training_images_in_a_run(tmp_path, name):
    x, y = labelled(3, value=EXTREMES[name])
    x[:, :, ::2, :] *= -1  # not constant
    r = run_pipeline(tmp_path, (x, y), labelled(2, seed=1))
    if isinstance(r, libast.ASTError):
        assert r.status in (_raw.AST_ERR_INVALID_ARGUMENT, _raw.AST_ERR_NON_FINITE, _raw.AST_ERR_DIVERGED), r


def test_one_class_only(tmp_path):
    """Training labels all 0 of 3 classes: distillation needs ipc images of every class - an
    error naming the problem, not a trap."""
    x, y = labelled(6)
    y[:] = 0
    with pytest.raises(libast.ASTError) as e:
        with libast.Run(RUN, tmp_path / "run", train=(x, y), test=labelled(2, seed=1)):
            pass
    assert e.value.status == _raw.AST_ERR_INVALID_ARGUMENT
    assert "class" in str(e.value)


def test_one_class_only_evaluates(net):
    """A dataset holding one class is a valid evaluation set."""
    x, y = labelled(4)
    y[:] = 2
    with libast.Dataset(x, y, classes=3) as ds:
        loss, acc = net.evaluate(net.init_parameters(0), ds, batch_size=256, progress=False)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0


def test_single_image_dataset_and_batch_larger_than_it(net):
    x, y = labelled(1)
    with libast.Dataset(x[:1], y[:1], classes=3) as ds:
        loss, acc = net.evaluate(net.init_parameters(0), ds, batch_size=1 << 20, progress=False)
    assert np.isfinite(loss) and acc in (0.0, 1.0)
