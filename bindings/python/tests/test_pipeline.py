"""The run configuration, the pipeline (libast.Run) and the step-level matching API
(libast.matching_step): results, resumption after cancelling, and bad input."""

import json
import math

import numpy as np
import pytest

import libast
from libast import _raw
from reference import kink_margin, loss

NET = dict(channels=1, image_size=8, classes=3, width=4, depth=2)


# --- configuration ---------------------------------------------------------------------------

def test_config_names_presets_and_json(tmp_path):
    with libast.Config(preset="quick", width=8, distill_ipc=2, **{"data.train_limit": 600}) as cfg:
        assert cfg.distill.ipc == 2 and cfg["network.width"] == 8 and cfg.width == 8
        assert cfg.data.dataset == "fashion-mnist" and cfg["data.train_limit"] == 600
        cfg.eval.models = 2
        cfg["distill.lr_img"] = 250
        cfg["experts.kind"] = "mtt"
        cfg["distill.balanced_loss"] = False
        assert (cfg["eval.models"], cfg["distill.lr_img"], cfg.experts.kind) == (2, 250.0, "mtt")
        assert cfg["distill.balanced_loss"] == 0
        text = cfg.to_json()
        assert json.loads(text)["network.width"] == 8
        path = tmp_path / "settings.json"
        path.write_text(text)
        with libast.Config.from_json(str(path)) as again:
            assert again.to_json() == text
        with libast.Config() as other:
            other.update({"distill.ipc": 3}, eval_models=4)
            assert (other.distill.ipc, other.eval.models) == (3, 4)
    assert "quick" in libast.Config.presets() and "cifar10-ipc50" in libast.Config.presets()
    assert "distill.ipc" in libast.Config.keys() and "width" in libast.Config.keys()
    assert libast.Config.describe("distill.intermediate")[2] == ("off", "uniform", "adaptive")
    b = libast.Config.bounds("distill.lr_lr")
    assert b.type == "float" and b.min == 1e-15 and b.max == 1e6


def test_config_bad_input_is_reported_and_leaves_the_config_unchanged(tmp_path):
    with libast.Config() as cfg:
        before = cfg.to_json()
        with pytest.raises(libast.ASTError) as e:
            cfg["distill.no_such_key"] = 1
        assert e.value.status == _raw.AST_ERR_UNKNOWN_KEY
        with pytest.raises(AttributeError):
            cfg.distill.no_such_key  # noqa: B018
        with pytest.raises(libast.ASTError) as e:
            cfg["distill.ipc"] = 0
        assert e.value.status == _raw.AST_ERR_OUT_OF_RANGE and "distill.ipc" in e.value.message
        with pytest.raises(libast.ASTError) as e:
            cfg["distill.lr_img"] = math.nan
        assert e.value.status == _raw.AST_ERR_NON_FINITE
        with pytest.raises(libast.ASTError) as e:
            cfg["distill.inner_momentum"] = math.inf
        assert e.value.status == _raw.AST_ERR_NON_FINITE
        with pytest.raises(libast.ASTError) as e:
            cfg["experts.kind"] = "adam"
        assert e.value.status == _raw.AST_ERR_OUT_OF_RANGE and "mtt, ast" in e.value.message
        with pytest.raises(libast.ASTError) as e:
            cfg["distill.augmentation"] = "flip_warp"
        assert e.value.status == _raw.AST_ERR_INVALID_ARGUMENT and "warp" in e.value.message
        with pytest.raises(ValueError, match="takes a str"):
            cfg["data.dir"] = 3
        with pytest.raises(ValueError, match="takes an int"):
            cfg["distill.ipc"] = 1.5
        with pytest.raises(ValueError, match="not one of: numbers only"):
            cfg["distill.lr_img"] = "fast"
        with pytest.raises(ValueError, match="takes a float"):
            cfg["distill.lr_img"] = [1.0]
        with pytest.raises(libast.ASTError) as e:
            cfg.load_preset("cifar11-ipc1")
        assert e.value.status == _raw.AST_ERR_INVALID_ARGUMENT and "quick" in e.value.message
        with pytest.raises(libast.ASTError) as e:
            cfg.update({"distill.ipc": 4, "network.width": 100000})
        assert e.value.status == _raw.AST_ERR_OUT_OF_RANGE
        with pytest.raises(libast.ASTError) as e:
            cfg.update({"distill.ipc": 4, "no.such": 1})
        assert e.value.status == _raw.AST_ERR_UNKNOWN_KEY and "no.such" in e.value.message
        bad = tmp_path / "bad.json"
        bad.write_text('{"distill.ipc": ')
        with pytest.raises(libast.ASTError) as e:
            cfg.load_json(str(bad))
        assert e.value.status == _raw.AST_ERR_FORMAT and "bad.json" in e.value.message
        with pytest.raises(libast.ASTError) as e:
            cfg.load_json(str(tmp_path / "missing.json"))
        assert e.value.status == _raw.AST_ERR_IO
        assert cfg.to_json() == before  # every failure left it unchanged
        # raw layer: NULL, wrong type, invalid UTF-8
        h = cfg._handle
        assert _raw.ast_config_set_string(h, _raw.AST_CONFIG_DATA_DIR, None) == _raw.AST_ERR_NULL_POINTER
        assert _raw.ast_config_set_string(h, _raw.AST_CONFIG_WIDTH, b"8") == _raw.AST_ERR_WRONG_TYPE
        assert _raw.ast_config_set_string(h, _raw.AST_CONFIG_DATA_DIR, b"\xff\xfe") == _raw.AST_ERR_INVALID_ARGUMENT
        assert "UTF-8" in cfg.last_error
        assert _raw.ast_config_load_preset(h, None) == _raw.AST_ERR_NULL_POINTER
        assert _raw.ast_config_to_json(h, None, 4, ctypes_int64()) == _raw.AST_ERR_NULL_POINTER


def ctypes_int64():
    import ctypes
    return ctypes.byref(ctypes.c_int64())


# --- runs on numpy arrays --------------------------------------------------------------------

def tiny_data(n, seed):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3).astype(np.int64)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    for i in range(n):
        x[i, 0, 2 * y[i], :] += 2.0  # a class-dependent stripe
    return x, y


def tiny_config(**extra):
    settings = dict(NET, seed=3, experts_count=2, experts_epochs=3, experts_batch=10,
                    distill_syn_steps=4, distill_max_start_epoch=2, distill_iterations=6,
                    distill_checkpoint_every=2, distill_lr_img=10.0, eval_models=2, eval_epochs=3)
    settings.update(extra)
    return libast.Config(**settings)


def test_run_on_numpy_arrays_cancel_and_resume_gives_the_uninterrupted_result(tmp_path):
    train, test = tiny_data(30, 1), tiny_data(12, 2)
    with tiny_config() as cfg:
        with libast.Run(cfg, tmp_path / "a", train=train, test=test) as run:
            events = []
            result = run.run_all(progress=events.append)
        kinds = {e.kind for e in events}
        assert {"expert_epoch", "distill_iteration", "checkpoint", "evaluation_epoch", "evaluated"} <= kinds
        iterations = [e for e in events if e.kind == "distill_iteration"]
        assert [e.step for e in iterations] == [1, 2, 3, 4, 5, 6]
        assert all(math.isfinite(e.loss) and e.step_size > 0 for e in iterations)
        d = result["distilled"]
        assert d.images.shape == (3, 1, 8, 8) and d.images.dtype == np.float32
        assert list(d.labels) == [0, 1, 2] and d.iterations == 6 and d.loss_history.shape == (6,)
        ev = result["evaluation"]
        assert 0 <= ev["distilled"]["mean"] <= 1 and ev["distilled"]["accuracies"].shape == (2,)
        assert ev["random_real"] is not None
        for f in ("distilled.safetensors", "distilled.png", "report.json"):
            assert (tmp_path / "a" / f).exists()

        # cancel from the callback (returning False) during distillation, then resume
        with libast.Run(cfg, tmp_path / "b", train=train, test=test) as run:
            assert run.generate_experts(progress=None) == 2
            with pytest.raises(libast.ASTError) as e:
                run.distill(progress=lambda p: not (p.kind == "distill_iteration" and p.step == 3))
            assert e.value.status == _raw.AST_ERR_CANCELLED
            assert run.distilled().iterations == 3  # the checkpointed state
        # a new handle (a new process would do the same) resumes from the checkpoint
        with libast.Run(cfg, tmp_path / "b", train=train, test=test) as run:
            resumed = run.distill(progress=None)
        np.testing.assert_array_equal(resumed.images, d.images)
        assert resumed.step_size == d.step_size

        # an exception in the callback cancels too and is re-raised; the state is saved
        with libast.Run(cfg, tmp_path / "c", train=train, test=test) as run:
            run.generate_experts(progress=None)

            def boom(p):
                if p.kind == "distill_iteration" and p.step == 2:
                    raise KeyError("stop here")
            with pytest.raises(KeyError, match="stop here"):
                run.distill(progress=boom)
            assert run.distilled().iterations == 2
            assert run.distill(progress=None).iterations == 6


def test_learned_soft_labels_come_back_as_probabilities(tmp_path):
    train, test = tiny_data(30, 1), tiny_data(12, 2)
    with tiny_config(distill_soft_labels=1, eval_baseline=0) as cfg:
        with libast.Run(cfg, tmp_path / "s", train=train, test=test) as run:
            run.generate_experts(progress=None)
            d = run.distill(progress=None)
    assert d.soft_labels is not None and d.soft_labels.shape == (3, 3)
    np.testing.assert_allclose(d.soft_labels.sum(axis=1), 1, rtol=1e-5)
    with tiny_config() as cfg:  # hard labels: no soft labels
        with libast.Run(cfg, tmp_path / "h", train=train, test=test) as run:
            run.generate_experts(progress=None)
            assert run.distill(progress=None).soft_labels is None


def test_run_rejects_bad_data_and_settings(tmp_path):
    x, y = tiny_data(30, 1)
    with tiny_config() as cfg:
        with pytest.raises(ValueError, match="both train and test"):
            libast.Run(cfg, tmp_path, train=(x, y))
        with pytest.raises(ValueError, match="train: images must hold real numbers"):
            libast.Run(cfg, tmp_path, train=(x.astype(np.complex64), y), test=(x, y))
        with pytest.raises(ValueError, match="labels must have shape"):
            libast.Run(cfg, tmp_path, train=(x, y[:-1]), test=(x, y))
        with pytest.raises(libast.ASTError) as e:
            libast.Run(cfg, tmp_path, train=(x[:, :, :4, :4].copy(), y), test=(x, y))
        assert e.value.status == _raw.AST_ERR_SHAPE_MISMATCH
        bad = x.copy()
        bad[3, 0, 1, 1] = np.nan
        with pytest.raises(libast.ASTError) as e:
            libast.Run(cfg, tmp_path, train=(bad, y), test=(x, y))
        assert e.value.status == _raw.AST_ERR_NON_FINITE
        with pytest.raises(libast.ASTError, match="labels"):
            libast.Run(cfg, tmp_path, train=(x, y + 1), test=(x, y))
        # a network that does not fit the default dataset (Fashion-MNIST, 1x28x28)
        with pytest.raises(libast.ASTError, match="data.dataset fashion-mnist has 1x28x28"):
            libast.Run(cfg, tmp_path)
        cfg["distill.ipc"] = 11
        with pytest.raises(libast.ASTError, match="larger than the 10 images of class 0"):
            libast.Run(cfg, tmp_path, train=(x, y), test=(x, y))
        cfg["distill.ipc"] = 1
        cfg["distill.max_start_epoch"] = 3
        with pytest.raises(libast.ASTError, match="stored epochs"):
            libast.Run(cfg, tmp_path, train=(x, y), test=(x, y))
        cfg["distill.max_start_epoch"] = 2
        with libast.Run(cfg, tmp_path / "r", train=(x, y), test=(x, y)) as run:
            with pytest.raises(libast.ASTError, match="no distilled set"):
                run.distilled()
            with pytest.raises(libast.ASTError, match="trajectory store"):
                run.distill(progress=None)
            with pytest.raises(ValueError, match="space"):
                run.distilled(space="rgb")
            with pytest.raises(ValueError, match="first must be an int"):
                run.generate_experts(first=0.5)
            with pytest.raises(libast.ASTError, match="first"):
                run.generate_experts(first=-1)
        run.close()
        with pytest.raises(ValueError, match="Run is closed"):
            run.distill()


# --- the step-level API ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def problem():
    """A tiny matching problem whose images keep every ReLU input at least 1e-3 from 0 at
    theta (deterministic: the first image seed that does)."""
    net = libast.Network(**NET)
    theta = net.init_parameters(3)
    rng = np.random.default_rng(4)
    target = (theta + 0.05 * rng.standard_normal(theta.shape)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2], np.int32)
    layout, cfg = net.layout, net.config().to_dict()
    for seed in range(100):
        images = np.random.default_rng(seed).standard_normal((6, 1, 8, 8)).astype(np.float32)
        if kink_margin(theta, images, layout, cfg) > 5e-3:
            break
    yield net, theta, target, images, labels
    net.close()


def unroll64(net, layout, cfg, theta, target, images, labels, alpha, batches, momentum=0.0,
             weight=1.0, intermediate=()):
    """The matching loss in float64 numpy, independent of libast's autodiff: the inner
    gradients by central differences of the float64 reference loss. Returns (loss, the smallest
    distance of any inner forward pass to a ReLU kink)."""
    t = theta.astype(np.float64)
    t0, b, seen, margin = t.copy(), None, {0: t.copy()}, np.inf
    for i, rows in enumerate(batches):
        rows = rows[rows >= 0]
        x, y = images[rows].astype(np.float64), labels[rows]
        margin = min(margin, kink_margin(t, x, layout, cfg))
        g = np.empty_like(t)
        for j in range(t.size):
            e = np.zeros_like(t)
            e[j] = 1e-7
            g[j] = (loss(t + e, x, y, layout, cfg) - loss(t - e, x, y, layout, cfg)) / 2e-7
        g *= weight
        b = g if (b is None or momentum == 0) else momentum * b + g
        t = t - alpha * b
        seen[i + 1] = t

    def term(step, goal, beta):
        goal = goal.astype(np.float64)
        return beta * np.sum((seen[step] - goal) ** 2) / np.sum((t0 - goal) ** 2)
    return term(len(batches), target, 1.0) + sum(term(s, g, w) for s, g, w in intermediate), margin


@pytest.mark.parametrize("momentum,weight,with_intermediate", [(0.0, 1.0, False), (0.9, 1.3, True)])
def test_matching_step_against_float64_finite_differences(problem, momentum, weight, with_intermediate):
    net, theta, target, images, labels = problem
    layout, cfg = net.layout, net.config().to_dict()
    alpha, steps, batch = 0.1, 3, 4
    mid = [(1, (0.5 * (theta + target)).astype(np.float32), 0.7)] if with_intermediate else []
    batches = libast.matching_minibatches(6, batch, steps, seed=11)
    assert batches.shape == (3, 4) and (batches == -1).sum() == 4  # chunks of 2, 4, 2
    r = libast.matching_step(net, theta, target, images, labels, alpha, steps, batch, seed=11,
                             inner_momentum=momentum, inner_loss_weight=weight, intermediate=mid)
    f = lambda a=alpha, x=images: unroll64(net, layout, cfg, theta, target, x, labels, a, batches,
                                            momentum, weight, mid)
    ref, margin = f()
    assert r.loss == pytest.approx(ref, rel=1e-4, abs=1e-7)
    # Differences small enough not to cross a ReLU kink anywhere along the unroll (the
    # matching loss depends on inner gradients, which jump at kinks).
    h = margin / 50
    assert h > 1e-7
    fd_alpha = (f(a=alpha + h)[0] - f(a=alpha - h)[0]) / (2 * h)
    assert r.step_size_gradient == pytest.approx(fd_alpha, rel=1e-2, abs=1e-5)
    v = np.random.default_rng(5).standard_normal(images.shape)
    v /= np.abs(v).max()
    eps = margin / 50
    fd_images = (f(x=images + eps * v)[0] - f(x=images - eps * v)[0]) / (2 * eps)
    assert float(np.sum(r.image_gradient.astype(np.float64) * v)) == pytest.approx(fd_images, rel=1e-2, abs=1e-5)
    # explicit minibatches = the drawn ones
    r2 = libast.matching_step(net, theta, target, images, labels, alpha, steps, batch, seed=999,
                              minibatches=batches, inner_momentum=momentum,
                              inner_loss_weight=weight, intermediate=mid)
    assert r2.loss == r.loss and np.array_equal(r2.image_gradient, r.image_gradient)
    assert r2.final_parameters.shape == theta.shape
    # step graphs kept instead of recomputed: the same result
    r3 = libast.matching_step(net, theta, target, images, labels, alpha, steps, batch, seed=11,
                              inner_momentum=momentum, inner_loss_weight=weight, intermediate=mid,
                              activation_budget=1 << 30)
    assert r3.loss == r.loss and np.array_equal(r3.image_gradient, r.image_gradient)
    assert r3.step_size_gradient == r.step_size_gradient


def test_matching_step_bad_input(problem):
    net, theta, target, images, labels = problem
    call = lambda **kw: libast.matching_step(**{**dict(network=net, start=theta, target=target,
                                                        images=images, labels=labels,
                                                        step_size=0.01, steps=3), **kw})
    with pytest.raises(ValueError, match="start must hold real numbers"):
        call(start=theta.astype(np.complex64))
    assert call(start=theta.astype(np.float64)).loss == call().loss  # converted
    with pytest.raises(ValueError, match="target must have shape"):
        call(target=target[:-1].copy())
    with pytest.raises(ValueError, match=r"images must have shape \(N, 1, 8, 8\)"):
        call(images=images[:, :, :4].copy())
    with pytest.raises(ValueError, match="labels must have shape"):
        call(labels=labels[:2])
    with pytest.raises(ValueError, match="minibatches must have shape"):
        call(minibatches=np.zeros((2, 6), np.int64))
    with pytest.raises(ValueError, match="network must be"):
        call(network="net")
    for kw, status, fragment in [
            (dict(step_size=math.nan), _raw.AST_ERR_NON_FINITE, "step_size"),
            (dict(step_size=-1.0), _raw.AST_ERR_INVALID_ARGUMENT, "step_size"),
            (dict(steps=0), _raw.AST_ERR_INVALID_ARGUMENT, "steps"),
            (dict(batch_syn=-3), _raw.AST_ERR_INVALID_ARGUMENT, "batch_syn"),
            (dict(labels=np.array([0, 1, 5, 0, 1, 2], np.int32)), _raw.AST_ERR_INVALID_ARGUMENT, "labels[2]"),
            (dict(target=theta), _raw.AST_ERR_INVALID_ARGUMENT, "coincide"),
            (dict(inner_momentum=1.0), _raw.AST_ERR_INVALID_ARGUMENT, "inner_momentum"),
            (dict(inner_loss_weight=math.nan), _raw.AST_ERR_NON_FINITE, "inner_loss_weight"),
            (dict(activation_budget=-1), _raw.AST_ERR_INVALID_ARGUMENT, "activation_budget"),
            (dict(intermediate=[(5, target, 1.0)]), _raw.AST_ERR_INVALID_ARGUMENT, "intermediate"),
            (dict(intermediate=[(1, target, -1.0)]), _raw.AST_ERR_INVALID_ARGUMENT, "intermediate_weights[0]"),
            (dict(augmentation="warp"), _raw.AST_ERR_INVALID_ARGUMENT, "augmentation"),
            (dict(minibatches=np.array([[0, 1, 2, 3, 4, 9]] * 3)), _raw.AST_ERR_INVALID_ARGUMENT, "minibatches[5]"),
    ]:
        with pytest.raises(libast.ASTError) as e:
            call(**kw)
        assert e.value.status == status and fragment in e.value.message, (kw, e.value)
    bad = images.copy()
    bad[0, 0, 0, 1] = np.inf
    with pytest.raises(libast.ASTError, match=r"images\[1\]"):
        call(images=bad)
    assert math.isfinite(call().loss)  # still usable


def test_expert_recipe_settings_and_the_evaluation_curve(tmp_path):
    with libast.Config(experts_kind="mtt", experts_epochs=8) as cfg:
        # reading gives the recipe in effect: MTT's plain SGD
        assert (cfg["experts.lr"], cfg["experts.momentum"], cfg["experts.gradient_penalty"]) == (0.01, 0.0, 0.0)
        cfg["experts.kind"] = "ast"
        assert (cfg["experts.lr"], cfg["experts.decay_epoch"], cfg["experts.loss_scale_epochs"]) == (0.003, 5, 10)
        cfg.update(experts_loss_scale_epochs=2, experts_gradient_penalty=0.5, experts_lr=0.005)
        assert (cfg["experts.loss_scale_epochs"], cfg["experts.gradient_penalty"], cfg["experts.lr"]) == (2, 0.5, 0.005)
        cfg["experts.lr"] = -1  # back to the kind's value
        assert cfg["experts.lr"] == 0.003
        before = cfg.to_json()
        for name, value in [("experts.lr", 0.0), ("experts.momentum", 1.0), ("experts.loss_scale_start", 0.0),
                            ("experts.decay_epoch", -2), ("eval.every", -1)]:
            with pytest.raises(libast.ASTError) as e:
                cfg[name] = value
            assert name in e.value.message
        assert cfg.to_json() == before

    train, test = tiny_data(30, 1), tiny_data(12, 2)
    with tiny_config(eval_every=2, experts_kind="ast", experts_gradient_penalty=0.0,
                     experts_loss_scale_start=1.0) as cfg:
        with libast.Run(cfg, tmp_path / "curve", train=train, test=test) as run:
            result = run.run_all(progress=None)
    report = json.loads((tmp_path / "curve" / "report.json").read_text())
    curve = report["evaluation_curve"]
    assert [p["iteration"] for p in curve] == [2, 4, 6] and all(len(p["accuracies"]) == 2 for p in curve)
    assert curve[-1]["mean"] == pytest.approx(result["evaluation"]["distilled"]["mean"])
    assert len(report["syn_lr_history"]) == 6
    assert report["settings"]["experts.gradient_penalty"] == 0 and report["settings"]["experts.loss_scale_start"] == 1


def test_segment_steps_equal_distill_with_two_segments(tmp_path):
    """The step-level API (what examples/python/mpi_distill.py spreads over ranks): segments
    summed in segment order and applied equal Run.distill with distill.segments = 2."""
    train, test = tiny_data(30, 1), tiny_data(12, 2)
    with tiny_config(distill_segments=2, distill_soft_labels=1, eval_baseline=0) as cfg:
        assert cfg["distill.segments"] == 2
        with libast.Run(cfg, tmp_path / "a", train=train, test=test) as run:
            run.generate_experts(progress=None)
            whole = run.distill(progress=None)
        with libast.Run(cfg, tmp_path / "b", train=train, test=test) as run:
            run.generate_experts(progress=None)
            iteration, segments, length = run.distill_begin()
            assert (iteration, segments, length) == (0, 2, 2 + 3 * 64 + 3 * 3)
            while iteration < 6:
                g1 = run.segment_gradient(iteration, 1)
                g0 = run.segment_gradient(iteration, 0)
                assert g0.shape == (length,) and not np.array_equal(g0, g1)
                with pytest.raises(libast.ASTError):
                    run.segment_gradient(iteration + 1, 0)
                with pytest.raises(ValueError):
                    run.apply_gradient_sum(g0[:-1])
                iteration = run.apply_gradient_sum(g0 + g1, write_checkpoint=True)
            stepped = run.distilled()
    np.testing.assert_array_equal(stepped.images, whole.images)
    np.testing.assert_array_equal(stepped.soft_labels, whole.soft_labels)
    assert stepped.step_size == whole.step_size and stepped.iterations == 6
