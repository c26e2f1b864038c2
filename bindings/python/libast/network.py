"""Network: the ConvNet as a pure function of a flat float32 parameter vector."""

from __future__ import annotations

from ctypes import byref, c_char_p, c_double, c_float, c_int32, c_int64, c_void_p
from typing import Any, List, NamedTuple, Optional, Tuple

import numpy as np

from . import _raw
from ._common import _Handle, _check, _float32, _fp, _ip, _labels, _new_handle, _seed_arg
from ._progress import ProgressArg, _ProgressBridge
from .config import Config
from .data import Dataset


class Tensor(NamedTuple):
    """One parameter tensor inside the flat parameter vector."""
    name: str
    shape: tuple
    offset: int
    count: int


class Network(_Handle):
    """ast_network: the ConvNet of a configuration, a pure function of flat float32 parameters.

        with Network(channels=1, image_size=28, classes=10, width=32, depth=2) as net:
            theta = net.init_parameters(seed=0)
            logits = net.logits(theta, images)          # (N, classes)
    """

    _free = staticmethod(_raw.ast_network_free)
    _last_error_fn = staticmethod(_raw.ast_network_last_error)
    _kind = "Network"

    def __init__(self, config: Optional[Config] = None, **values: Any):
        if config is not None and values:
            raise ValueError("pass either a Config or keyword settings, not both")
        if config is None:
            with Config(**values) as cfg:
                handle = _new_handle(lambda out: _raw.ast_network_create(cfg._handle, out))
        else:
            if not isinstance(config, Config):
                raise ValueError(f"config must be a libast.Config, got {type(config).__name__}")
            handle = _new_handle(lambda out: _raw.ast_network_create(config._handle, out))
        super().__init__(handle)
        p = c_int64()
        _check(_raw.ast_network_parameter_count(self._handle, byref(p)))
        self.parameter_count: int = p.value
        cfg = self.config()
        self.channels = cfg["channels"]
        self.image_size = cfg["image_size"]
        self.classes = cfg["classes"]
        cfg.close()

    def config(self) -> Config:
        """A new Config with this network's settings."""
        h = c_void_p()
        _check(_raw.ast_network_get_config(self._handle, byref(h)))
        return Config(_handle=h)

    @property
    def layout(self) -> List["Tensor"]:
        """[Tensor(name, shape, offset, count), ...] in parameter order."""
        n = c_int64()
        _check(_raw.ast_network_tensor_count(self._handle, byref(n)))
        out = []
        for i in range(n.value):
            name, offset, count, rank = c_char_p(), c_int64(), c_int64(), c_int32()
            shape = (c_int64 * _raw.AST_MAX_TENSOR_RANK)()
            _check(_raw.ast_network_tensor(self._handle, i, byref(name), byref(offset),
                                           byref(count), byref(rank), shape,
                                           _raw.AST_MAX_TENSOR_RANK))
            out.append(Tensor(name.value.decode(), tuple(shape[:rank.value]), offset.value,
                              count.value))
        return out

    def init_parameters(self, seed: int = 0) -> np.ndarray:
        """PyTorch-default initial parameters drawn from `seed` (float32, parameter_count)."""
        seed = _seed_arg(seed)
        out = np.empty(self.parameter_count, dtype=np.float32)
        _check(_raw.ast_network_init_parameters(self._handle, int(seed), _fp(out), out.size))
        return out

    def _images(self, images: Any) -> np.ndarray:
        images = _float32("images", images)
        expect = (self.channels, self.image_size, self.image_size)
        if images.ndim != 4 or images.shape[1:] != expect or images.shape[0] < 1:
            raise ValueError(f"images must have shape (N, {expect[0]}, {expect[1]}, {expect[2]}) "
                             f"with N >= 1, got {images.shape}")
        return images

    def _parameters(self, parameters: Any, name: str = "parameters") -> np.ndarray:
        return _float32(name, parameters, (self.parameter_count,))

    def logits(self, parameters: np.ndarray, images: np.ndarray) -> np.ndarray:
        """Forward pass: logits of shape (N, classes)."""
        theta, x = self._parameters(parameters), self._images(images)
        n = x.shape[0]
        out = np.empty((n, self.classes), dtype=np.float32)
        _check(_raw.ast_network_logits(self._handle, _fp(theta), theta.size, _fp(x), x.size, n,
                                       _fp(out), out.size))
        return out

    def loss_gradient(self, parameters: np.ndarray, images: np.ndarray,
                      labels: np.ndarray) -> Tuple[float, np.ndarray]:
        """(mean cross-entropy, its gradient with respect to the parameters)."""
        theta, x = self._parameters(parameters), self._images(images)
        n = x.shape[0]
        y = _labels("labels", labels, n)
        loss = c_float()
        grad = np.empty(self.parameter_count, dtype=np.float32)
        _check(_raw.ast_network_loss_gradient(self._handle, _fp(theta), theta.size, _fp(x),
                                              x.size, _ip(y), n, byref(loss), _fp(grad),
                                              grad.size))
        return float(loss.value), grad

    def _second(self, fn, parameters, images, labels, vector, out_like_images: bool):
        theta, x = self._parameters(parameters), self._images(images)
        n = x.shape[0]
        y = _labels("labels", labels, n)
        v = self._parameters(vector, "vector")
        out = np.empty(x.shape if out_like_images else (self.parameter_count,), dtype=np.float32)
        _check(fn(self._handle, _fp(theta), theta.size, _fp(x), x.size, _ip(y), n, _fp(v),
                  v.size, _fp(out), out.size))
        return out

    def hessian_vector_product(self, parameters: np.ndarray, images: np.ndarray, labels: np.ndarray,
                               vector: np.ndarray) -> np.ndarray:
        """(d^2 L / d theta^2) @ vector, shape (parameter_count,)."""
        return self._second(_raw.ast_network_hessian_vector_product, parameters, images,
                            labels, vector, False)

    def mixed_input_product(self, parameters: np.ndarray, images: np.ndarray, labels: np.ndarray,
                            vector: np.ndarray) -> np.ndarray:
        """d/d images (grad_theta L . vector), shaped like images."""
        return self._second(_raw.ast_network_mixed_input_product, parameters, images, labels,
                            vector, True)

    def evaluate(self, parameters: np.ndarray, dataset: Dataset, batch_size: int = 256,
                 progress: ProgressArg = True) -> Tuple[float, float]:
        """(mean cross-entropy, accuracy) of `parameters` on `dataset`.

        progress: True shows a tqdm bar when tqdm is installed; a callable receives a Progress
        after every batch and cancels by returning False (ASTError with status
        AST_ERR_CANCELLED); an exception raised in it cancels and is re-raised."""
        theta = self._parameters(parameters)
        if not isinstance(dataset, Dataset):
            raise ValueError(f"dataset must be a libast.Dataset, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if not (-(2**63) <= int(batch_size) < 2**63):
            raise ValueError("batch_size does not fit in int64")
        bridge = _ProgressBridge(progress, "evaluate")
        loss, acc = c_double(), c_double()
        status = _raw.ast_network_evaluate(self._handle, _fp(theta), theta.size,
                                           dataset._handle, int(batch_size), bridge.fn, None,
                                           byref(loss), byref(acc))
        bridge.finish(status)
        return loss.value, acc.value
