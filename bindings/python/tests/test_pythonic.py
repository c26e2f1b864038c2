"""Errors in Python's terms, numpy conversion, resuming under changed settings, the user's own
data (data.dataset=npz) and a shared store (experts.dir), and the public API's documentation."""

import inspect
import re

import numpy as np
import pytest

import libast
from libast import _raw

NET = dict(channels=1, image_size=8, classes=3, width=4, depth=2)

C_WORDING = re.compile(r"ast_[a-z_]+:|AST_CONFIG_|AST_ERR_|ast_run_distill|ast_config_")


def tiny_data(n, seed, classes=3):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % classes).astype(np.int64)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    for i in range(n):
        x[i, 0, 2 * (y[i] % 4), :] += 2.0
    return x, y


def tiny_settings(**extra):
    settings = {"network.channels": 1, "network.image_size": 8, "network.classes": 3, "network.width": 4,
                "network.depth": 2, "seed": 3, "experts.count": 2, "experts.epochs": 3, "experts.batch": 10,
                "distill.syn_steps": 4, "distill.max_start_epoch": 2, "distill.iterations": 2,
                "distill.checkpoint_every": 1, "distill.lr_img": 10.0, "eval.models": 1, "eval.epochs": 2}
    settings.update(extra)
    return settings


def pythonic(e):
    text = str(e.value)
    assert not C_WORDING.search(text), text
    return text


# --- names ----------------------------------------------------------------------------------

def test_unknown_setting_names_suggest_the_closest():
    with libast.Config() as cfg:
        with pytest.raises(libast.UnknownSettingError) as e:
            cfg["distill.ipcc"] = 1
        assert isinstance(e.value, libast.ASTError) and isinstance(e.value, LookupError)
        assert e.value.status == _raw.AST_ERR_UNKNOWN_KEY
        assert "did you mean 'distill.ipc'" in pythonic(e)
        with pytest.raises(libast.UnknownSettingError, match="did you mean 'distill.ipc'"):
            cfg["ipc"]
        with pytest.raises(libast.UnknownSettingError, match="did you mean 'distill.lr_img'"):
            libast.Config(distill_lr_imgs=3.0)
        with pytest.raises(libast.UnknownSettingError, match="did you mean 'eval.models'"):
            cfg.update({"eval.model": 2})
        with pytest.raises(AttributeError, match="did you mean 'distill.iterations'"):
            cfg.distill.iteration  # noqa: B018
        with pytest.raises(libast.UnknownSettingError, match=r"Config.names\(\) lists them"):
            cfg["zzzzzz"] = 1
        assert "distill.ipc" in libast.Config.names() and "data.path" in libast.Config.names()


def test_library_messages_speak_python():
    with libast.Config() as cfg:
        with pytest.raises(libast.ASTError) as e:
            cfg["network.width"] = 5000
        assert "'network.width'" in pythonic(e) and "1...4096" in str(e.value)
        assert e.value.c_message.startswith("ast_config_set_int: ")  # the C text stays available
        with pytest.raises(libast.ASTError) as e:
            cfg[999] = 1
        assert "key 999" in pythonic(e) and "Config.keys()" in str(e.value)
        with pytest.raises(libast.ASTError) as e:
            cfg["distill.lr_img"] = float("nan")
        pythonic(e)
    with libast.Config(image_size=4, depth=8) as cfg:
        with pytest.raises(libast.ASTError, match="depth") as e:
            libast.Network(cfg)
        pythonic(e)


def test_no_distilled_set_yet_names_the_python_method(tmp_path):
    x, y = tiny_data(30, 1)
    with libast.Run(tiny_settings(), tmp_path / "run", train=(x, y), test=(x, y)) as run:
        with pytest.raises(libast.ASTError) as e:
            run.distilled()
        assert "Run.distill()" in pythonic(e)
        with pytest.raises(libast.ASTError) as e:
            run.distill(progress=None)  # no experts yet
        pythonic(e)


def test_network_classes_larger_than_the_data_says_which_setting(tmp_path):
    x, y = tiny_data(30, 1)
    settings = tiny_settings(**{"network.classes": 10})
    with pytest.raises(libast.ASTError) as e:
        libast.Run(settings, tmp_path / "run", train=(x, y), test=(x, y))
    text = pythonic(e)
    assert "network.classes is 10" in text and "set network.classes=3" in text, text
    assert "ipc 1 is larger" not in text


# --- numpy ----------------------------------------------------------------------------------

def test_any_real_array_is_converted_as_a_copy():
    with libast.Network(**NET) as net:
        theta = net.init_parameters(seed=1)
        x, y = tiny_data(4, 2)
        want = net.logits(theta, x)
        x64, theta64 = x.astype(np.float64), theta.astype(np.float64)
        before = x64.copy()
        assert np.array_equal(net.logits(theta64, x64), want)
        assert np.array_equal(x64, before)  # the caller's array is not touched
        fortran = np.asfortranarray(x)
        assert np.array_equal(net.logits(theta, fortran), want)
        ints = (x * 0).astype(np.int16)
        assert net.logits(theta, ints).shape == (4, 3)
        for labels in (y.astype(np.int8), y.astype(np.uint8), y.astype(np.int64), y.astype(np.uint32)):
            loss, _ = net.loss_gradient(theta, x, labels)
            assert loss == net.loss_gradient(theta, x, y.astype(np.int32))[0]
        with pytest.raises(ValueError, match="real numbers"):
            net.logits(theta, x.astype(np.complex64))
        with pytest.raises(ValueError, match=r"images must have shape \(N, 1, 8, 8\)"):
            net.logits(theta, np.ones((2, 1, 7, 8)))
        with pytest.raises(ValueError, match=r"parameters must have shape"):
            net.logits(theta64[:-1], x)
        with pytest.raises(ValueError, match="integer dtype"):
            net.loss_gradient(theta, x, y.astype(np.float32))
    ds = libast.Dataset(x[:, 0].astype(np.float64) * 255, y.astype(np.uint8), classes=3)  # (N, H, W)
    assert ds.shape == (4, 1, 8, 8) and ds.images().dtype == np.float32
    ds.close()


# --- resuming ---------------------------------------------------------------------------------

def test_resume_names_the_changed_setting_and_continues_with_more_iterations(tmp_path):
    x, y = tiny_data(30, 1)
    out = tmp_path / "run"
    with libast.Run(tiny_settings(), out, train=(x, y), test=(x, y)) as run:
        run.generate_experts(progress=None)
        assert run.distill(progress=None).iterations == 2
    with pytest.raises(libast.ASTError) as e:
        with libast.Run(tiny_settings(**{"distill.lr_img": 20.0}), out, train=(x, y), test=(x, y)) as run:
            run.distill(progress=None)
    text = pythonic(e)
    assert "distill.lr_img = 10" in text and "this run has 20" in text, text
    messages = []
    with libast.Run(tiny_settings(**{"distill.iterations": 4, "eval.epochs": 3}), out,
                    train=(x, y), test=(x, y)) as run:
        d = run.distill(progress=lambda p: messages.append(p.message))
        assert d.iterations == 4 and len(d.loss_history) == 4
    assert "resuming distillation after iteration 2" in messages
    with pytest.raises(libast.ASTError) as e:
        with libast.Run(tiny_settings(), out, train=(x, y), test=(x, y)) as run:
            run.distill(progress=None)
    assert "beyond distill.iterations 2" in pythonic(e)


# --- the user's own data and a shared store ---------------------------------------------------

def test_npz_dataset_and_a_shared_expert_store(tmp_path):
    x, y = tiny_data(36, 4)
    path = tmp_path / "mine.npz"
    np.savez(path, train_images=x[:, 0] * 40 + 100, train_labels=y.astype(np.uint8),
             test_images=x[:12, 0], test_labels=y[:12])
    settings = tiny_settings(**{"data.dataset": "npz", "data.path": str(path), "eval.baseline": 0})
    with libast.Run(settings, tmp_path / "a") as run:
        result = run.run_all(progress=None)
        assert result["distilled"].images.shape == (3, 1, 8, 8)
    store = tmp_path / "a" / "experts"
    messages = []
    shared = dict(settings, **{"experts.dir": str(store)})
    with libast.Run(shared, tmp_path / "b") as run:
        assert run.complete_experts == 2
        run.generate_experts(progress=lambda p: messages.append(p))
        assert not any(p.kind == "expert_epoch" for p in messages)  # nothing trained again
        assert run.distill(progress=None).iterations == 2
    assert not (tmp_path / "b" / "experts").exists()
    with pytest.raises(libast.ASTError) as e:
        with libast.Run(dict(shared, **{"network.width": 6}), tmp_path / "c") as run:
            run.distill(progress=None)
    assert "network.width is 4 there, 6 in this run" in pythonic(e)


@pytest.mark.parametrize("arrays, fragment", [
    (dict(train_images=np.zeros((6, 8, 8)), train_labels=np.arange(6) % 3), "missing test_images, test_labels"),
    (dict(train_images=np.zeros((6, 8, 9)), train_labels=np.arange(6) % 3, test_images=np.zeros((3, 8, 9)),
          test_labels=np.arange(3)), "square images"),
    (dict(train_images=np.zeros((6, 8, 8)), train_labels=np.arange(5) % 3, test_images=np.zeros((3, 8, 8)),
          test_labels=np.arange(3)), "train_labels has shape [5]"),
    (dict(train_images=np.zeros((6, 8, 8)), train_labels=np.array([0, 0, 2, 2, 0, 2]), test_images=np.zeros((3, 8, 8)),
          test_labels=np.arange(3)), "class 1 has no training images"),
    (dict(train_images=np.zeros((6, 8, 8)), train_labels=np.arange(6) % 3 * 1.0, test_images=np.zeros((3, 8, 8)),
          test_labels=np.arange(3)), "labels must be integers"),
    (dict(train_images=np.zeros((6, 8, 8)), train_labels=np.arange(6) % 3, test_images=np.zeros((3, 8, 8)),
          test_labels=np.array([0, 1, 5])), "test_labels[2] = 5"),
    (dict(train_images=np.zeros((6, 1, 8, 8)), train_labels=np.arange(6) % 3 - 1, test_images=np.zeros((3, 8, 8)),
          test_labels=np.arange(3)), "train_labels[0] = -1"),
    (dict(train_images=np.full((6, 8, 8), np.nan), train_labels=np.arange(6) % 3, test_images=np.zeros((3, 8, 8)),
          test_labels=np.arange(3)), "not finite"),
    (dict(train_images=np.zeros((6, 8, 8)), train_labels=np.arange(6) % 2, test_images=np.zeros((3, 8, 8)),
          test_labels=np.arange(3) % 2), "set network.classes=2"),
    (dict(train_images=np.zeros((6, 8, 8, 3)), train_labels=np.arange(6) % 3, test_images=np.zeros((3, 8, 8, 3)),
          test_labels=np.arange(3)), "square images"),
])
def test_bad_npz_files_are_explained(tmp_path, arrays, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with libast.Run(tiny_settings(**{"data.dataset": "npz", "data.path": str(path)}), tmp_path / "run") as run:
        with pytest.raises(libast.ASTError) as e:
            run.generate_experts(progress=None)
    assert fragment in pythonic(e), str(e.value)


def test_npz_needs_a_path_and_only_npz_reads_one(tmp_path):
    with pytest.raises(libast.ASTError, match="needs data.path") as e:
        libast.Run(tiny_settings(**{"data.dataset": "npz"}), tmp_path / "run")
    pythonic(e)
    with pytest.raises(libast.ASTError, match="only read with data.dataset=npz"):
        libast.Run(tiny_settings(**{"data.path": "x.npz", "network.image_size": 28, "network.classes": 10}),
                   tmp_path / "run")
    with libast.Run(tiny_settings(**{"data.dataset": "npz", "data.path": str(tmp_path / "none.npz")}),
                    tmp_path / "run") as run:
        with pytest.raises(libast.ASTError, match="none.npz") as e:
            run.generate_experts(progress=None)
    pythonic(e)


# --- documentation ----------------------------------------------------------------------------

def public_callables():
    for name in libast.__all__:
        obj = getattr(libast, name)
        if inspect.ismodule(obj) or isinstance(obj, str):
            continue
        yield name, obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    member = member.fget
                if callable(member) and getattr(member, "__module__", "").startswith("libast"):
                    yield f"{name}.{attr}", member
    for name in libast.mtt.__all__:
        yield f"mtt.{name}", getattr(libast.mtt, name)


def test_every_public_name_has_a_docstring_and_type_hints():
    missing = []
    for name, obj in public_callables():
        if not name.endswith("__init__") and not (inspect.getdoc(obj) or "").strip():
            missing.append(f"{name}: no docstring")
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            for p in sig.parameters.values():
                if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty:
                    missing.append(f"{name}: parameter {p.name} has no type hint")
            if not name.endswith("__init__") and sig.return_annotation is inspect.Signature.empty:
                missing.append(f"{name}: no return type hint")
    assert not missing, "\n".join(missing)
    import importlib.resources
    assert importlib.resources.files("libast").joinpath("py.typed").is_file()
