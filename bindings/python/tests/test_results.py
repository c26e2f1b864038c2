"""Correct results through the binding: layout, forward, gradient (finite differences in
float64), Hessian-vector products (symmetry, finite differences), mixed product, evaluate."""

import numpy as np
import pytest

import libast
from reference import cross_entropy, forward, kink_margin, loss

CONFIGS = [
    dict(channels=1, image_size=8, classes=3, width=4, depth=2, norm="instance", pool="average"),
    dict(channels=2, image_size=6, classes=4, width=3, depth=1, norm="none", pool="average"),
    dict(channels=1, image_size=8, classes=3, width=3, depth=2, norm="batch", pool="average"),
]


def setup(cfg, n=3, seed=0, margin=0.0):
    """Network, parameters, images and labels. With margin > 0 the data seed is advanced until
    the forward pass stays at least `margin` away from every ReLU / max-pool kink, so finite
    differences are meaningful (deterministic: the same seeds every run)."""
    net = libast.Network(**cfg)
    theta = net.init_parameters(seed=seed)
    c = net.config().to_dict()
    layout = net.layout
    for data_seed in range(seed, seed + 100):
        rng = np.random.default_rng(data_seed)
        x = rng.standard_normal((n, cfg["channels"], cfg["image_size"], cfg["image_size"])).astype(np.float32)
        y = rng.integers(0, cfg["classes"], n).astype(np.int32)
        if margin <= 0 or kink_margin(theta, x, layout, c) >= margin:
            return net, theta, x, y, c
    raise AssertionError("no data seed keeps the network away from kinks")


def test_version():
    assert libast.version() == "0.2.0"
    assert libast.abi_version() == 1


def test_layout_is_contiguous_in_mtt_order():
    with libast.Network(channels=3, image_size=32, classes=10, width=8, depth=3) as net:
        names = [t.name for t in net.layout]
        assert names[:4] == ["conv0.weight", "conv0.bias", "norm0.weight", "norm0.bias"]
        assert names[-2:] == ["classifier.weight", "classifier.bias"]
        offset = 0
        for t in net.layout:
            assert t.offset == offset and t.count == int(np.prod(t.shape))
            offset += t.count
        assert offset == net.parameter_count
        assert net.layout[-2].shape == (10, 8 * 4 * 4)


def test_init_is_reproducible_and_pytorch_like():
    with libast.Network(channels=1, image_size=8, classes=3, width=4, depth=2) as net:
        a, b, c = net.init_parameters(1), net.init_parameters(1), net.init_parameters(2)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        for t in net.layout:
            v = a[t.offset:t.offset + t.count]
            if t.name.startswith("norm") and t.name.endswith("weight"):
                assert np.all(v == 1)
            elif t.name.startswith("norm"):
                assert np.all(v == 0)
            else:
                fan_in = int(np.prod(net.layout[[s.name for s in net.layout].index(t.name.replace("bias", "weight"))].shape[1:]))
                assert np.abs(v).max() <= 1 / np.sqrt(fan_in) + 1e-7


@pytest.mark.parametrize("cfg", CONFIGS)
def test_logits_and_loss_match_float64_reference(cfg):
    net, theta, x, y, c = setup(cfg)
    with net:
        ref = forward(theta, x, net.layout, c)
        np.testing.assert_allclose(net.logits(theta, x), ref, rtol=1e-4, atol=1e-5)
        l, _ = net.loss_gradient(theta, x, y)
        assert l == pytest.approx(cross_entropy(ref, y), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_gradient_matches_float64_finite_differences(cfg):
    net, theta, x, y, c = setup(cfg, margin=2e-3)
    with net:
        _, grad = net.loss_gradient(theta, x, y)
        layout = net.layout
        t64 = theta.astype(np.float64)
        rng = np.random.default_rng(1)
        # a few entries of every tensor, central differences in float64
        for t in layout:
            for i in rng.choice(t.count, size=min(4, t.count), replace=False):
                k = t.offset + int(i)
                h = 1e-5
                tp, tm = t64.copy(), t64.copy()
                tp[k] += h
                tm[k] -= h
                fd = (loss(tp, x, y, layout, c) - loss(tm, x, y, layout, c)) / (2 * h)
                # relative + absolute: float32 engine vs float64 differences
                assert grad[k] == pytest.approx(fd, rel=2e-3, abs=2e-5), (t.name, int(i))


def second_difference(f, e=1e-5):
    """(f(+,+) - f(+,-) - f(-,+) + f(-,-)) / 4e^2: a float64 mixed second derivative."""
    return (f(e, e) - f(e, -e) - f(-e, e) + f(-e, -e)) / (4 * e * e)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_hessian_vector_product_is_symmetric_and_matches_float64_reference(cfg):
    net, theta, x, y, c = setup(cfg, margin=2e-3)
    with net:
        rng = np.random.default_rng(2)
        u = rng.standard_normal(net.parameter_count)
        v = rng.standard_normal(net.parameter_count)
        u, v = (u / np.linalg.norm(u)).astype(np.float32), (v / np.linalg.norm(v)).astype(np.float32)
        hv = net.hessian_vector_product(theta, x, y, v)
        hu = net.hessian_vector_product(theta, x, y, u)
        a, b = float(u.astype(np.float64) @ hv), float(v.astype(np.float64) @ hu)
        assert a == pytest.approx(b, rel=1e-3, abs=1e-5)
        # u.Hv against second differences of the float64 numpy reference loss
        t64, u64, v64 = theta.astype(np.float64), u.astype(np.float64), v.astype(np.float64)
        layout = net.layout
        ref = second_difference(lambda s, t: loss(t64 + s * u64 + t * v64, x, y, layout, c))
        assert a == pytest.approx(ref, rel=1e-3, abs=1e-5)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_mixed_input_product_matches_float64_reference(cfg):
    net, theta, x, y, c = setup(cfg, margin=2e-3)
    with net:
        rng = np.random.default_rng(3)
        v = rng.standard_normal(net.parameter_count)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        d = rng.standard_normal(x.shape)
        d = (d / np.linalg.norm(d)).astype(np.float32)
        m = net.mixed_input_product(theta, x, y, v)
        assert m.shape == x.shape
        # d . d/dx (grad_theta L . v) against float64 second differences in (theta, x)
        t64, v64, x64, d64 = (a.astype(np.float64) for a in (theta, v, x, d))
        layout = net.layout
        ref = second_difference(lambda s, t: loss(t64 + s * v64, x64 + t * d64, y, layout, c))
        assert float((m.astype(np.float64) * d64).sum()) == pytest.approx(ref, rel=1e-3, abs=1e-5)


def test_dataset_round_trip_and_fingerprint():
    rng = np.random.default_rng(4)
    x = rng.random((5, 1, 8, 8), dtype=np.float32)
    y64 = np.array([0, 1, 2, 1, 0], dtype=np.int64)
    with libast.Dataset(x, y64, classes=3) as a, libast.Dataset(x, y64.astype(np.int32), classes=3) as b:
        assert a.shape == (5, 1, 8, 8) and len(a) == 5 and a.classes == 3
        assert np.array_equal(a.images(), x) and np.array_equal(a.labels(), y64)
        assert a.fingerprint == b.fingerprint
        x2 = x.copy()
        x2[0, 0, 0, 0] += 1
        with libast.Dataset(x2, y64, classes=3) as c:
            assert c.fingerprint != a.fingerprint


def test_evaluate_matches_logits_and_reports_progress():
    net, theta, _, _, _ = setup(CONFIGS[0])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 7).astype(np.int32)
    with net, libast.Dataset(x, y, classes=3) as ds:
        logits = net.logits(theta, x).astype(np.float64)
        seen = []
        l, acc = net.evaluate(theta, ds, batch_size=3, progress=seen.append)
        assert l == pytest.approx(cross_entropy(logits, y), rel=1e-5)
        assert acc == pytest.approx(float((logits.argmax(1) == y).mean()))
        assert [p.step for p in seen] == [3, 6, 7] and all(p.total == 7 for p in seen)
        # progress=True: a tqdm bar if tqdm is installed, silently nothing otherwise
        assert net.evaluate(theta, ds, batch_size=4, progress=True) == pytest.approx((l, acc))


def test_progress_true_drives_a_tqdm_bar(monkeypatch):
    """progress=True uses tqdm.auto.tqdm when importable (a stand-in module here)."""
    import sys
    import types

    bars = []

    class FakeBar:
        def __init__(self, **kwargs):
            self.kwargs, self.n, self.total, self.closed, self.postfix = kwargs, 0, None, False, None
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix(self, **kw):
            self.postfix = kw

        def close(self):
            self.closed = True

    fake = types.ModuleType("tqdm.auto")
    fake.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    net, theta, x, y, _ = setup(CONFIGS[0], n=5)
    with net, libast.Dataset(x, y, classes=3) as ds:
        net.evaluate(theta, ds, batch_size=2, progress=True)
    assert len(bars) == 1 and bars[0].n == 5 and bars[0].total == 5 and bars[0].closed
    assert "loss" in bars[0].postfix
