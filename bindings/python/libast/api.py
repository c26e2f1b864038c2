"""Pythonic layer over libast._raw: handles as context-managed objects, numpy in and out."""

from __future__ import annotations

import ctypes
import weakref
from ctypes import byref, c_char_p, c_double, c_float, c_int32, c_int64, c_void_p
from typing import Any, Callable, NamedTuple, Optional, Union

import numpy as np

from . import _raw

__all__ = ["ASTError", "Config", "Dataset", "Network", "Tensor", "Bounds", "Progress",
           "version", "abi_version", "status_name"]


# ---------------------------------------------------------------------------------------------
# Errors


class ASTError(Exception):
    """A libast call failed. `status` is the AST_ERR_* code, `message` the library's text
    (it names the function and the argument)."""

    def __init__(self, status: int, message: str):
        self.status = int(status)
        self.message = message
        super().__init__(f"[{status_name(status)} ({status})] {message}")


def status_name(status: int) -> str:
    """ast_status_string(status), e.g. 'null pointer'."""
    return _raw.ast_status_string(int(status)).decode()


def _check(status: int) -> None:
    """The one error funnel: nonzero status -> ASTError with this thread's last message."""
    if status != _raw.AST_OK:
        raise ASTError(status, _raw.ast_last_error().decode("utf-8", "replace"))


def version() -> str:
    """Version string of the loaded libast.so."""
    return _raw.ast_version_string().decode()


def abi_version() -> int:
    return int(_raw.ast_abi_version())


# ---------------------------------------------------------------------------------------------
# numpy boundary


def _float32(name: str, a: Any, shape: Optional[tuple] = None) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray of float32, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise ValueError(f"{name} must have dtype float32, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


def _labels(name: str, a: Any, count: int) -> np.ndarray:
    """int32 labels, C-contiguous, shape (count,); int64 is accepted and converted."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray of int32 or int64, got {type(a).__name__}")
    if a.dtype not in (np.int32, np.int64):
        raise ValueError(f"{name} must have dtype int32 or int64, got {a.dtype}")
    if a.shape != (count,):
        raise ValueError(f"{name} must have shape ({count},), got {a.shape}")
    if a.dtype == np.int64:
        if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
            raise ValueError(f"{name} has values outside the int32 range")
        a = a.astype(np.int32)
    return np.ascontiguousarray(a)


def _fp(a: np.ndarray):
    return a.ctypes.data_as(_raw.c_float_p)


def _ip(a: np.ndarray):
    return a.ctypes.data_as(_raw.c_int32_p)


# ---------------------------------------------------------------------------------------------
# Handles


class _Handle:
    """Owns one C handle: close() is idempotent; weakref.finalize frees it if close() is never
    called; `with` closes it."""

    _free: Callable = None  # type: ignore[assignment]
    _last_error_fn: Callable = None  # type: ignore[assignment]
    _kind = "handle"

    def __init__(self, handle: c_void_p):
        self._h = handle
        self._finalizer = weakref.finalize(self, type(self)._free, handle)

    @property
    def _handle(self) -> c_void_p:
        if self._h is None:
            raise ValueError(f"{self._kind} is closed")
        return self._h

    def close(self) -> None:
        """Frees the C handle now (idempotent)."""
        if self._h is not None:
            self._h = None
            self._finalizer()

    @property
    def closed(self) -> bool:
        return self._h is None

    @property
    def last_error(self) -> str:
        """Message of the last failed call made with this handle ("" if none)."""
        return type(self)._last_error_fn(self._handle).decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _new_handle(create: Callable[[Any], int]) -> c_void_p:
    h = c_void_p()
    _check(create(byref(h)))
    return h


class Bounds(NamedTuple):
    key: int
    name: str
    type: str  # "int" or "float"
    min: Union[int, float]
    max: Union[int, float]
    default: Union[int, float]


KeyLike = Union[str, int]


class Config(_Handle):
    """ast_config: typed settings with defaults and bounds.

        cfg = Config(channels=1, image_size=28, classes=10, width=64)
        cfg["depth"] = 2; cfg["norm"] = "instance"   # enum keys accept names too
    """

    _free = staticmethod(_raw.ast_config_free)
    _last_error_fn = staticmethod(_raw.ast_config_last_error)
    _kind = "Config"

    NORMS = {"none": _raw.AST_NORM_NONE, "instance": _raw.AST_NORM_INSTANCE,
             "batch": _raw.AST_NORM_BATCH}
    POOLS = {"average": _raw.AST_POOL_AVERAGE, "avg": _raw.AST_POOL_AVERAGE,
             "max": _raw.AST_POOL_MAX}

    def __init__(self, _handle: Optional[c_void_p] = None, **values: Any):
        super().__init__(_handle if _handle is not None else _new_handle(_raw.ast_config_create))
        for name, value in values.items():
            self.set(name, value)

    @staticmethod
    def key(key: KeyLike) -> int:
        """Key number of a key name (or a key number, returned as is)."""
        if isinstance(key, str):
            out = c_int32()
            _check(_raw.ast_config_key_by_name(key.encode(), byref(out)))
            return out.value
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return int(key)
        raise ValueError(f"key must be a key name (str) or number (int), got {type(key).__name__}")

    @staticmethod
    def bounds(key: KeyLike) -> Bounds:
        b = _raw.ast_bounds()
        _check(_raw.ast_config_bounds(Config.key(key), byref(b)))
        if b.type == _raw.AST_TYPE_INT:
            return Bounds(b.key, b.name.decode(), "int", b.int_min, b.int_max, b.int_default)
        return Bounds(b.key, b.name.decode(), "float", b.float_min, b.float_max, b.float_default)

    @staticmethod
    def keys() -> list:
        """Names of all keys, in key order."""
        n = c_int32()
        _check(_raw.ast_config_keys(None, 0, byref(n)))
        arr = (c_int32 * n.value)()
        _check(_raw.ast_config_keys(arr, n.value, byref(n)))
        return [Config.bounds(k).name for k in arr]

    def set(self, key: KeyLike, value: Any) -> "Config":
        k = self.key(key)
        b = self.bounds(k)
        if isinstance(value, str):
            table = {"norm": self.NORMS, "pool": self.POOLS}.get(b.name)
            if table is None or value not in table:
                choices = ", ".join(table) if table else "numbers only"
                raise ValueError(f"value {value!r} for key {b.name!r} is not one of: {choices}")
            value = table[value]
        if b.type == "int":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"key {b.name!r} takes an int, got {type(value).__name__}")
            if not (-(2**63) <= int(value) < 2**63):
                raise ValueError(f"value {value} for key {b.name!r} does not fit in int64")
            _check(_raw.ast_config_set_int(self._handle, k, int(value)))
        else:
            _check(_raw.ast_config_set_float(self._handle, k, float(value)))
        return self

    def get(self, key: KeyLike) -> Union[int, float]:
        k = self.key(key)
        if self.bounds(k).type == "int":
            out = c_int64()
            _check(_raw.ast_config_get_int(self._handle, k, byref(out)))
            return out.value
        out_f = c_double()
        _check(_raw.ast_config_get_float(self._handle, k, byref(out_f)))
        return out_f.value

    __getitem__ = get

    def __setitem__(self, key: KeyLike, value: Any) -> None:
        self.set(key, value)

    def to_dict(self) -> dict:
        return {name: self.get(name) for name in self.keys()}

    def clone(self) -> "Config":
        h = c_void_p()
        _check(_raw.ast_config_clone(self._handle, byref(h)))
        return Config(_handle=h)

    def __repr__(self) -> str:
        if self.closed:
            return "Config(<closed>)"
        return "Config(" + ", ".join(f"{k}={v}" for k, v in self.to_dict().items()) + ")"


class Dataset(_Handle):
    """ast_dataset: labelled images copied into the library.

        ds = Dataset(images, labels, classes=10)   # images (N, C, H, W) float32, labels (N,)
    """

    _free = staticmethod(_raw.ast_dataset_free)
    _last_error_fn = staticmethod(_raw.ast_dataset_last_error)
    _kind = "Dataset"

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: int):
        images = _float32("images", images)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {images.shape}")
        if not isinstance(labels, np.ndarray) or labels.dtype not in (np.int32, np.int64):
            raise ValueError("labels must be a numpy.ndarray of int32 or int64")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
        labels = np.ascontiguousarray(labels)
        label_type = _raw.AST_LABELS_INT32 if labels.dtype == np.int32 else _raw.AST_LABELS_INT64
        n, c, h, w = images.shape
        super().__init__(_new_handle(lambda out: _raw.ast_dataset_create(
            _fp(images), images.size, labels.ctypes.data_as(c_void_p), label_type, labels.size,
            n, c, h, w, int(classes), out)))

    @property
    def shape(self) -> tuple:
        """(count, channels, height, width)."""
        v = [c_int64() for _ in range(5)]
        _check(_raw.ast_dataset_shape(self._handle, *(byref(x) for x in v)))
        return tuple(x.value for x in v[:4])

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def classes(self) -> int:
        k = c_int64()
        _check(_raw.ast_dataset_shape(self._handle, None, None, None, None, byref(k)))
        return k.value

    @property
    def fingerprint(self) -> str:
        s = c_char_p()
        _check(_raw.ast_dataset_fingerprint(self._handle, byref(s)))
        return s.value.decode()

    def images(self) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.float32)
        _check(_raw.ast_dataset_copy_images(self._handle, _fp(out), out.size))
        return out

    def labels(self) -> np.ndarray:
        out = np.empty(self.shape[0], dtype=np.int32)
        _check(_raw.ast_dataset_copy_labels(self._handle, _ip(out), out.size))
        return out


class Tensor(NamedTuple):
    """One parameter tensor inside the flat parameter vector."""
    name: str
    shape: tuple
    offset: int
    count: int


class Progress(NamedTuple):
    stage: int
    step: int
    total: int
    loss: float
    elapsed_seconds: float


ProgressArg = Union[None, bool, Callable[[Progress], Optional[bool]]]


class _ProgressBridge:
    """Turns `progress=` into an ast_progress_fn. Python exceptions raised by a user callback
    cancel the C call and are re-raised after it returns; the CFUNCTYPE object is kept alive
    for the whole call."""

    def __init__(self, progress: ProgressArg, description: str):
        self.error: Optional[BaseException] = None
        self.bar = None
        self.user = None
        if progress is True:
            try:
                from tqdm.auto import tqdm  # optional dependency
                self.bar = tqdm(desc=description, unit="img", leave=False)
            except ImportError:
                pass
        elif callable(progress):
            self.user = progress
        elif progress not in (None, False):
            raise ValueError("progress must be None, a bool or a callable")
        self.fn = (_raw.ast_progress_fn(self._call) if (self.bar is not None or self.user is not None)
                   else ctypes.cast(None, _raw.ast_progress_fn))

    def _call(self, report, _user_data) -> int:
        try:
            r = report.contents
            p = Progress(r.stage, r.step, r.total, r.loss, r.elapsed_seconds)
            if self.bar is not None:
                self.bar.total = p.total
                self.bar.update(p.step - self.bar.n)
                self.bar.set_postfix(loss=f"{p.loss:.4f}")
            if self.user is not None and self.user(p) is False:
                return 1
            return 0
        except BaseException as e:  # never let an exception unwind through the library
            self.error = e
            return 1

    def finish(self, status: int) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.error is not None:
            raise self.error
        _check(status)


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
    def layout(self) -> list:
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
        if not isinstance(seed, (int, np.integer)) or not (0 <= int(seed) < 2**64):
            raise ValueError(f"seed must be an int in [0, 2^64), got {seed!r}")
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
                      labels: np.ndarray) -> tuple:
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

    def hessian_vector_product(self, parameters, images, labels, vector) -> np.ndarray:
        """(d^2 L / d theta^2) @ vector, shape (parameter_count,)."""
        return self._second(_raw.ast_network_hessian_vector_product, parameters, images,
                            labels, vector, False)

    def mixed_input_product(self, parameters, images, labels, vector) -> np.ndarray:
        """d/d images (grad_theta L . vector), shaped like images."""
        return self._second(_raw.ast_network_mixed_input_product, parameters, images, labels,
                            vector, True)

    def evaluate(self, parameters: np.ndarray, dataset: Dataset, batch_size: int = 256,
                 progress: ProgressArg = True) -> tuple:
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
