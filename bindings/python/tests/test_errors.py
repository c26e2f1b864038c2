"""Bad input: every mistake raises (ValueError in the binding, ASTError from the library) with a
message naming the argument; the process and the handle survive. Plus two threads."""

import ctypes
import gc
import threading
from ctypes import byref, c_float, c_int32, c_int64, c_void_p

import numpy as np
import pytest

import libast
from libast import _raw

CFG = dict(channels=1, image_size=8, classes=3, width=4, depth=2)


@pytest.fixture
def net():
    with libast.Network(**CFG) as n:
        yield n


@pytest.fixture
def batch(net):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 2], dtype=np.int32)
    return net.init_parameters(0), x, y


def still_usable(net, batch):
    theta, x, y = batch
    assert net.logits(theta, x).shape == (2, 3)


# --- raw layer: what C would see (NULL pointers, negative / overflowing sizes) ---------------

def test_raw_null_pointers_and_sizes(net, batch):
    theta, x, y = batch
    h = net._handle
    p = net.parameter_count
    out = np.empty(6, np.float32)
    fp = lambda a: a.ctypes.data_as(_raw.c_float_p)
    cases = [
        (lambda: _raw.ast_network_logits(h, None, p, fp(x), x.size, 2, fp(out), 6),
         _raw.AST_ERR_NULL_POINTER, "parameters is NULL"),
        (lambda: _raw.ast_network_logits(h, fp(theta), p, None, x.size, 2, fp(out), 6),
         _raw.AST_ERR_NULL_POINTER, "images is NULL"),
        (lambda: _raw.ast_network_logits(h, fp(theta), p, fp(x), x.size, 2, None, 6),
         _raw.AST_ERR_NULL_POINTER, "out_logits is NULL"),
        (lambda: _raw.ast_network_logits(None, fp(theta), p, fp(x), x.size, 2, fp(out), 6),
         _raw.AST_ERR_NULL_POINTER, "network is NULL"),
        (lambda: _raw.ast_network_logits(h, fp(theta), p, fp(x), x.size, -1, fp(out), 6),
         _raw.AST_ERR_INVALID_ARGUMENT, "count"),
        (lambda: _raw.ast_network_logits(h, fp(theta), p, fp(x), 2**62, 2**62, fp(out), 6),
         _raw.AST_ERR_INVALID_ARGUMENT, "count"),
        (lambda: _raw.ast_network_logits(h, fp(theta), -5, fp(x), x.size, 2, fp(out), 6),
         _raw.AST_ERR_SHAPE_MISMATCH, "parameters_len"),
        (lambda: _raw.ast_network_logits(h, fp(theta), p, fp(x), x.size, 2, fp(out), -6),
         _raw.AST_ERR_SHAPE_MISMATCH, "out_len"),
        (lambda: _raw.ast_network_loss_gradient(h, fp(theta), p, fp(x), x.size, None, 2,
                                                byref(c_float()), fp(theta.copy()), p),
         _raw.AST_ERR_NULL_POINTER, "labels is NULL"),
        (lambda: _raw.ast_dataset_create(fp(x), x.size, None, 1, 2, 2, 1, 8, 8, 3,
                                         byref(c_void_p())),
         _raw.AST_ERR_NULL_POINTER, "labels is NULL"),
        (lambda: _raw.ast_dataset_create(fp(x), x.size, y.ctypes.data_as(c_void_p), 1, 2,
                                         2**20, 2**14, 2**14, 2**14, 3, byref(c_void_p())),
         _raw.AST_ERR_OUT_OF_MEMORY, "count*channels*height*width"),
        (lambda: _raw.ast_dataset_create(fp(x), x.size, y.ctypes.data_as(c_void_p), 3, 2,
                                         2, 1, 8, 8, 3, byref(c_void_p())),
         _raw.AST_ERR_INVALID_ARGUMENT, "label_type"),
        (lambda: _raw.ast_config_create(None), _raw.AST_ERR_NULL_POINTER, "out is NULL"),
        (lambda: _raw.ast_network_tensor(h, 99, None, None, None, None, None, 0),
         _raw.AST_ERR_OUT_OF_RANGE, "index 99"),
    ]
    for call, expected, fragment in cases:
        status = call()
        assert status == expected, _raw.ast_last_error()
        assert fragment in _raw.ast_last_error().decode()
    assert "index 99" in net.last_error  # the last failure made with this handle
    still_usable(net, batch)


# --- Pythonic layer: ValueError for wrong numpy arguments --------------------------------

def test_wrong_dtypes_shapes_and_contiguity(net, batch):
    theta, x, y = batch
    with pytest.raises(ValueError, match="parameters must hold real numbers"):
        net.logits(theta.astype(np.complex128), x)
    with pytest.raises(ValueError, match=r"parameters must have shape"):
        net.logits(theta[:-1].copy(), x)
    with pytest.raises(ValueError, match="parameters must be a numpy.ndarray"):
        net.logits(None, x)
    with pytest.raises(ValueError, match="images must hold real numbers"):
        net.logits(theta, np.ones((2, 1, 8, 8), object))
    with pytest.raises(ValueError, match=r"images must have shape \(N, 1, 8, 8\)"):
        net.logits(theta, np.ones((2, 1, 7, 8), np.float32))
    with pytest.raises(ValueError, match="labels must have an integer dtype"):
        net.loss_gradient(theta, x, y.astype(np.float32))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        net.loss_gradient(theta, x, y[:1])
    with pytest.raises(ValueError, match="vector must have shape"):
        net.hessian_vector_product(theta, x, y, theta[:3].copy())
    with pytest.raises(ValueError, match="seed"):
        net.init_parameters(-1)
    still_usable(net, batch)


def test_library_errors_name_the_argument(net, batch):
    theta, x, y = batch
    with pytest.raises(libast.ASTError, match=r"labels\[1\] is 3") as e:
        net.loss_gradient(theta, x, np.array([0, 3], np.int32))
    assert e.value.status == _raw.AST_ERR_INVALID_ARGUMENT
    assert "labels[1]" in net.last_error
    bad = x.copy()
    bad[1, 0, 2, 3] = np.nan
    with pytest.raises(libast.ASTError, match=r"images\[83\] is nan") as e:
        net.logits(theta, bad)
    assert e.value.status == _raw.AST_ERR_NON_FINITE
    bad_theta = theta.copy()
    bad_theta[7] = np.inf
    with pytest.raises(libast.ASTError, match=r"parameters\[7\] is inf"):
        net.loss_gradient(bad_theta, x, y)
    vec = np.full(net.parameter_count, np.nan, np.float32)
    with pytest.raises(libast.ASTError, match=r"vector\[0\]"):
        net.hessian_vector_product(theta, x, y, vec)
    with pytest.raises(libast.ASTError, match="labels"):
        libast.Dataset(x, np.array([0, -1]), classes=3)
    with pytest.raises(libast.ASTError, match=r"images\[83\]"):
        libast.Dataset(bad, y, classes=3)
    with pytest.raises(libast.ASTError, match="batch_size"):
        with libast.Dataset(x, y, classes=3) as ds:
            net.evaluate(theta, ds, batch_size=0)
    with pytest.raises(libast.ASTError, match="shape mismatch|dataset images are 1x4x4"):
        with libast.Dataset(np.zeros((2, 1, 4, 4), np.float32), y, classes=3) as ds:
            net.evaluate(theta, ds)
    still_usable(net, batch)


def test_config_unknown_keys_and_out_of_range():
    with libast.Config() as cfg:
        assert dict(list(cfg.to_dict().items())[:8]) == dict(
            channels=3, image_size=32, classes=10, width=128, depth=3, norm=1, pool=0, seed=0)
        assert libast.Config.bounds("width") == libast.Bounds(4, "width", "int", 1, 4096, 128)
        with pytest.raises(libast.ASTError, match="unknown setting 'no_such_key'") as e:
            cfg["no_such_key"] = 1
        assert e.value.status == _raw.AST_ERR_UNKNOWN_KEY
        with pytest.raises(libast.ASTError) as e:
            cfg[999] = 1
        assert e.value.status == _raw.AST_ERR_UNKNOWN_KEY and "key 999" in e.value.message
        assert _raw.ast_config_set_int(cfg._handle, 999, 1) == _raw.AST_ERR_UNKNOWN_KEY
        assert "ast_config_set_int: key 999" in cfg.last_error
        with pytest.raises(libast.ASTError, match=r"'network.width' is outside 1...4096") as e:
            cfg["width"] = 5000
        assert e.value.status == _raw.AST_ERR_OUT_OF_RANGE
        assert cfg["width"] == 128  # unchanged
        with pytest.raises(libast.ASTError, match="norm"):
            cfg["norm"] = 7
        with pytest.raises(ValueError, match="takes an int"):
            cfg["depth"] = 2.5
        with pytest.raises(ValueError, match="not one of"):
            cfg["pool"] = "median"
        assert _raw.ast_config_set_float(cfg._handle, 4, 2.0) == _raw.AST_ERR_WRONG_TYPE
        cfg["norm"] = "batch"
        cfg["pool"] = "max"
        assert (cfg["norm"], cfg["pool"]) == (2, 1)
    with libast.Config(image_size=4, depth=8) as cfg:
        with pytest.raises(libast.ASTError, match="depth"):
            libast.Network(cfg)


def test_handles_close_idempotently_and_any_order(batch):
    cfg = libast.Config(**CFG)
    net = libast.Network(cfg)
    cfg.close()  # network copied the config
    ds = libast.Dataset(batch[1], batch[2], classes=3)
    theta = net.init_parameters(0)
    ds.close()
    ds.close()
    with pytest.raises(ValueError, match="Dataset is closed"):
        net.evaluate(theta, ds)
    assert net.logits(theta, batch[1]).shape == (2, 3)
    net.close()
    net.close()
    with pytest.raises(ValueError, match="Network is closed"):
        net.logits(theta, batch[1])
    # never closed: weakref.finalize frees it
    libast.Network(**CFG)
    gc.collect()


def test_callback_exception_cancels_and_is_reraised(net, batch):
    theta, x, y = batch
    with libast.Dataset(x, y, classes=3) as ds:
        def boom(p):
            raise KeyError("from callback")
        with pytest.raises(KeyError, match="from callback"):
            net.evaluate(theta, ds, batch_size=1, progress=boom)
        with pytest.raises(libast.ASTError, match="cancelled") as e:
            net.evaluate(theta, ds, batch_size=1, progress=lambda p: False)
        assert e.value.status == _raw.AST_ERR_CANCELLED
        still_usable(net, batch)


def test_two_threads_two_handles_match_sequential():
    cfgs = [dict(CFG, width=4), dict(CFG, width=6)]
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 0], np.int32)
    nets = [libast.Network(**c) for c in cfgs]
    thetas = [n.init_parameters(i) for i, n in enumerate(nets)]
    expected = [n.loss_gradient(t, x, y) for n, t in zip(nets, thetas)]
    results = [None, None]
    errors = []

    def work(i):
        try:
            for _ in range(20):
                got = nets[i].loss_gradient(thetas[i], x, y)
                assert got[0] == expected[i][0] and np.array_equal(got[1], expected[i][1])
                # an error on this thread carries this thread's message
                with pytest.raises(libast.ASTError, match=rf"labels\[{i}\]"):
                    bad = y.copy()
                    bad[i] = 9
                    nets[i].loss_gradient(thetas[i], x, bad)
            results[i] = True
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == [True, True]
    for n in nets:
        n.close()


def test_four_threads_sharing_one_network_and_dataset_match_sequential():
    """Networks and datasets are immutable: several threads may use one at once (logits,
    gradient, Hessian-vector product, evaluate) and get exactly the sequential results."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2], np.int32)
    with libast.Network(**dict(CFG, width=6)) as net, libast.Dataset(x, y, classes=3) as data:
        theta = net.init_parameters(5)
        v = rng.standard_normal(theta.shape).astype(np.float32)
        expected = (net.logits(theta, x), net.loss_gradient(theta, x, y),
                    net.hessian_vector_product(theta, x, y, v), net.evaluate(theta, data, batch_size=4))
        errors = []

        def work():
            try:
                for _ in range(10):
                    assert np.array_equal(net.logits(theta, x), expected[0])
                    loss, grad = net.loss_gradient(theta, x, y)
                    assert loss == expected[1][0] and np.array_equal(grad, expected[1][1])
                    assert np.array_equal(net.hessian_vector_product(theta, x, y, v), expected[2])
                    assert net.evaluate(theta, data, batch_size=4) == expected[3]
            except BaseException as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
