"""Pythonic layer over libast._raw: handles as context-managed objects, numpy in and out."""

from __future__ import annotations

import ctypes
import json
import difflib
import math
import os
import re
import weakref
from ctypes import byref, c_char_p, c_double, c_float, c_int32, c_int64, c_void_p
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, TypeVar, Union

import numpy as np

from . import _raw

__all__ = ["ASTError", "UnknownSettingError", "Config", "Dataset", "Network", "Tensor", "Bounds", "Progress", "Run",
           "Distilled", "MatchingResult", "matching_step", "matching_minibatches",
           "version", "abi_version", "status_name"]


# ---------------------------------------------------------------------------------------------
# Errors


class ASTError(Exception):
    """A libast call failed. `status` is the AST_ERR_* code (see status_name), `message` the
    library's text in Python's terms (settings by their dotted names, methods by their Python
    names); `c_message` is the C library's own text, as include/ast.h documents it."""

    def __init__(self, status: int, message: str, c_message: Optional[str] = None):
        self.status = int(status)
        self.message = message
        self.c_message = message if c_message is None else c_message
        super().__init__(f"[{status_name(status)} ({status})] {message}")


class UnknownSettingError(ASTError, LookupError):
    """A setting name that no key has (status AST_ERR_UNKNOWN_KEY); the message suggests the
    closest names. Also a LookupError, so `except KeyError` style code can catch LookupError."""


def status_name(status: int) -> str:
    """The library's name of a status code, e.g. 'null pointer' (ast_status_string)."""
    return _raw.ast_status_string(int(status)).decode()


# C wording -> Python wording, applied to every library message raised as ASTError.
_C_FUNCTION_PREFIX = re.compile(r"^ast_[a-z0-9_]+: ")
_C_PHRASES = [
    (re.compile(r"\bkey (\d+) \(([a-z_.]+)\)"), r"'\2'"),
    (re.compile(r"\(see ast_config_keys(?: and ast_config_describe| / ast_config_describe)?\)"),
     "(see libast.Config.keys())"),
    (re.compile(r"ast_config_set_(int|float|string)/get_\w+"), "a value of that type"),
    (re.compile(r"ast_run_distill\b(?:, Python Run\.distill\(\))?"), "Run.distill()"),
    (re.compile(r"ast_run_evaluate\b(?:, Python Run\.evaluate\(\))?"), "Run.evaluate()"),
    (re.compile(r"ast_run_generate_experts\b"), "Run.generate_experts()"),
    (re.compile(r"ast_config_load_preset\b"), "Config(preset=...)"),
    (re.compile(r" ?\(?AST_CONFIG_[A-Z_]+(?:, AST_CONFIG_[A-Z_]+)*\)?"), ""),
    (re.compile(r"\bAST_(NORM|POOL)_([A-Z]+)"), lambda m: repr(m.group(2).lower())),
]


def _pythonic(message: str) -> str:
    """The library's message with its C vocabulary replaced by the binding's."""
    text = _C_FUNCTION_PREFIX.sub("", message)
    for pattern, replacement in _C_PHRASES:
        text = pattern.sub(replacement, text)
    return text


def _check(status: int) -> None:
    """The one error funnel: nonzero status -> ASTError with this thread's last message."""
    if status != _raw.AST_OK:
        raw = _raw.ast_last_error().decode("utf-8", "replace")
        raise ASTError(status, _pythonic(raw), raw)


def version() -> str:
    """Version string of the loaded libast.so."""
    return _raw.ast_version_string().decode()


def abi_version() -> int:
    """ABI version of the loaded libast.so (AST_ABI_VERSION; changes only on incompatible
    changes of the C interface)."""
    return int(_raw.ast_abi_version())


# ---------------------------------------------------------------------------------------------
# numpy boundary


def _float32(name: str, a: Any, shape: Optional[Tuple[int, ...]] = None) -> np.ndarray:
    """A C-contiguous float32 view or copy of a real-valued numpy array (float16/32/64, ints,
    unsigned ints, bool); complex, object and string arrays and wrong shapes are ValueErrors."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray of real numbers, got {type(a).__name__}")
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers (float or int), got dtype {a.dtype}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float32)  # a copy; the caller's array is untouched
    return a


def _labels(name: str, a: Any, count: int) -> np.ndarray:
    """int32 labels, C-contiguous, shape (count,); any integer dtype is accepted and converted."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray of integers, got {type(a).__name__}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must have an integer dtype (class numbers 0, 1, ...), got {a.dtype}")
    if a.shape != (count,):
        raise ValueError(f"{name} must have shape ({count},), got {a.shape}")
    if a.size and (int(a.min()) < np.iinfo(np.int32).min or int(a.max()) > np.iinfo(np.int32).max):
        raise ValueError(f"{name} has values outside the int32 range")
    return np.ascontiguousarray(a, dtype=np.int32)


def _fp(a: np.ndarray):
    return a.ctypes.data_as(_raw.c_float_p)


def _ip(a: np.ndarray):
    return a.ctypes.data_as(_raw.c_int32_p)


# ---------------------------------------------------------------------------------------------
# Handles


_H = TypeVar("_H", bound="_Handle")


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
        """Whether close() was called."""
        return self._h is None

    @property
    def last_error(self) -> str:
        """Message of the last failed call made with this handle ("" if none)."""
        return type(self)._last_error_fn(self._handle).decode("utf-8", "replace")

    def __enter__(self: "_H") -> "_H":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _new_handle(create: Callable[[Any], int]) -> c_void_p:
    h = c_void_p()
    _check(create(byref(h)))
    return h


class Bounds(NamedTuple):
    """What one setting accepts (Config.bounds): its key number, name, type ("int", "float" or
    "string"), range of numbers, default, and allowed strings of a choice setting."""
    key: int
    name: str
    type: str  # "int", "float" or "string"
    min: Union[int, float, None]
    max: Union[int, float, None]
    default: Union[int, float, str]
    choices: tuple = ()  # allowed values of a string key (empty: any / a DSA strategy)


KeyLike = Union[str, int]

# First segment of a dotted name: `distill_ipc=3` means "distill.ipc".
_SECTIONS = ("network", "experts", "distill", "eval", "data")


def _read_string(fn, *args) -> str:
    """Calls a ...(args, char *buffer, int64_t capacity, int64_t *out_length) function twice."""
    n = c_int64()
    _check(fn(*args, None, 0, byref(n)))
    buf = ctypes.create_string_buffer(n.value + 1)
    _check(fn(*args, buf, len(buf), byref(n)))
    return buf.value.decode("utf-8", "replace")


class _Section:
    """`cfg.distill.ipc` / `cfg.distill.ipc = 3`: attribute access by dotted name."""

    def __init__(self, config: "Config", prefix: str):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._config.get(f"{self._prefix}.{name}")
        except ASTError as e:
            if e.status == _raw.AST_ERR_UNKNOWN_KEY:
                raise AttributeError(e.message) from None
            raise

    def __setattr__(self, name: str, value: Any) -> None:
        self._config.set(f"{self._prefix}.{name}", value)

    def __dir__(self):
        return [n.split(".", 1)[1] for n in json.loads(self._config.to_json()) if n.startswith(self._prefix + ".")]


class Config(_Handle):
    """ast_config: every setting of a run, typed, with defaults and bounds.

        cfg = Config(preset="quick", width=8, distill_ipc=1, **{"data.train_limit": 600})
        cfg["distill.iterations"] = 20; cfg.eval.models = 2; cfg["norm"] = "batch"
        cfg.to_json(); Config.from_json("settings.json"); Config.presets()

    Names are the dotted names of the command-line tool ("distill.ipc"); the network keys also
    take their short names ("width"); keyword arguments may write the first dot as "_".
    """

    _free = staticmethod(_raw.ast_config_free)
    _last_error_fn = staticmethod(_raw.ast_config_last_error)
    _kind = "Config"

    NORMS = {"none": _raw.AST_NORM_NONE, "instance": _raw.AST_NORM_INSTANCE,
             "batch": _raw.AST_NORM_BATCH}
    POOLS = {"average": _raw.AST_POOL_AVERAGE, "avg": _raw.AST_POOL_AVERAGE,
             "max": _raw.AST_POOL_MAX}

    def __init__(self, _handle: Optional[c_void_p] = None, *, preset: Optional[str] = None,
                 **values: Any):
        super().__init__(_handle if _handle is not None else _new_handle(_raw.ast_config_create))
        if preset is not None:
            self.load_preset(preset)
        for name, value in values.items():
            self.set(self._kwarg_name(name), value)

    @staticmethod
    def _kwarg_name(name: str) -> str:
        head, _, rest = name.partition("_")
        if head in _SECTIONS and rest:
            dotted = f"{head}.{rest}"
            out = c_int32()
            if _raw.ast_config_key_by_name(dotted.encode(), byref(out)) == _raw.AST_OK:
                return dotted
        return name

    @staticmethod
    def names() -> List[str]:
        """Every setting's dotted name ("distill.ipc"), in key order."""
        return [Config.describe(k)[0] for k in Config._key_numbers()]

    @staticmethod
    def _key_numbers() -> List[int]:
        n = c_int32()
        _check(_raw.ast_config_keys(None, 0, byref(n)))
        arr = (c_int32 * n.value)()
        _check(_raw.ast_config_keys(arr, n.value, byref(n)))
        return list(arr)

    @staticmethod
    def _unknown(name: str) -> "UnknownSettingError":
        """The error for a name no key has, with did-you-mean suggestions (difflib)."""
        dotted = Config._kwarg_spelling(name)
        known = Config.names()
        leaf = [n for n in known if n.rsplit(".", 1)[-1] == dotted]
        close = leaf or difflib.get_close_matches(dotted, known, n=3, cutoff=0.6)
        hint = (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close
                else " (libast.Config.names() lists them)")
        return UnknownSettingError(_raw.AST_ERR_UNKNOWN_KEY, f"unknown setting {name!r}{hint}")

    @staticmethod
    def _kwarg_spelling(name: str) -> str:
        """"distill_ipc" -> "distill.ipc" (keyword arguments write the first dot as "_")."""
        head, sep, rest = name.partition("_")
        return f"{head}.{rest}" if sep and head in _SECTIONS and "." not in name else name

    @staticmethod
    def key(key: KeyLike) -> int:
        """Key number of a setting name (or a key number, returned as is). An unknown name
        raises UnknownSettingError naming the closest settings."""
        if isinstance(key, str):
            out = c_int32()
            if len(key.encode()) > 256 or _raw.ast_config_key_by_name(key.encode(), byref(out)) != _raw.AST_OK:
                raise Config._unknown(key)
            return out.value
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return int(key)
        raise ValueError(f"key must be a key name (str) or number (int), got {type(key).__name__}")

    @staticmethod
    def describe(key: KeyLike) -> Tuple[str, str, Tuple[str, ...]]:
        """(dotted name, help text, allowed values of a string key as a tuple)."""
        name, help_, choices = c_char_p(), c_char_p(), c_char_p()
        _check(_raw.ast_config_describe(Config.key(key), byref(name), byref(help_), byref(choices)))
        c = choices.value.decode()
        return name.value.decode(), help_.value.decode(), tuple(c.split("|")) if c else ()

    @staticmethod
    def bounds(key: KeyLike) -> Bounds:
        """Type, range and default of a setting, e.g. Config.bounds("distill.ipc")."""
        b = _raw.ast_bounds()
        _check(_raw.ast_config_bounds(Config.key(key), byref(b)))
        if b.type == _raw.AST_TYPE_INT:
            return Bounds(b.key, b.name.decode(), "int", b.int_min, b.int_max, b.int_default)
        if b.type == _raw.AST_TYPE_FLOAT:
            return Bounds(b.key, b.name.decode(), "float", b.float_min, b.float_max, b.float_default)
        with Config() as fresh:
            default = fresh.get(b.key)
        return Bounds(b.key, b.name.decode(), "string", None, None, default,
                      Config.describe(b.key)[2])

    @staticmethod
    def keys() -> List[str]:
        """Names of all keys in key order, as in ast_bounds.name: the short names of the
        network keys ("width", as in release 0.1), the dotted names of the others."""
        n = c_int32()
        _check(_raw.ast_config_keys(None, 0, byref(n)))
        arr = (c_int32 * n.value)()
        _check(_raw.ast_config_keys(arr, n.value, byref(n)))
        return [Config._raw_bounds(k).name.decode() for k in arr]

    @staticmethod
    def presets() -> List[str]:
        """Names of the presets (ast_config_presets)."""
        n = c_int32()
        _check(_raw.ast_config_presets(None, 0, byref(n)))
        arr = (c_char_p * n.value)()
        _check(_raw.ast_config_presets(arr, n.value, byref(n)))
        return [v.decode() for v in arr]

    @classmethod
    def from_json(cls, path: str) -> "Config":
        """Defaults + the settings of a JSON file (as written by to_json / the CLI's --config)."""
        cfg = cls()
        try:
            cfg.load_json(path)
        except BaseException:
            cfg.close()
            raise
        return cfg

    def load_preset(self, name: str) -> "Config":
        """Replaces every value by the named preset's (Config.presets())."""
        if not isinstance(name, str):
            raise ValueError(f"preset must be a str, got {type(name).__name__}")
        _check(_raw.ast_config_load_preset(self._handle, name.encode()))
        return self

    def load_json(self, path: str) -> "Config":
        """Applies the settings of a JSON file (all or nothing)."""
        _check(_raw.ast_config_load_json(self._handle, os.fsencode(path)))
        return self

    def update(self, settings: Optional[Dict[str, Any]] = None, **values: Any) -> "Config":
        """Sets several settings at once, all or nothing: `update({"distill.ipc": 10})`,
        `update(distill_ipc=10)`."""
        merged = dict(settings or {})
        merged.update({self._kwarg_name(k): v for k, v in values.items()})
        for k, v in merged.items():
            self.key(k)  # an unknown name raises UnknownSettingError with suggestions
            if isinstance(v, float) and not math.isfinite(v):
                self.set(k, v)  # raises the library's non-finite error naming the key
        _check(_raw.ast_config_apply_json(self._handle, json.dumps(merged).encode()))
        return self

    def to_json(self) -> str:
        """Every setting as JSON text (dotted name -> value)."""
        return _read_string(_raw.ast_config_to_json, self._handle)

    def set(self, key: KeyLike, value: Any) -> "Config":
        """Sets one setting (`cfg.set("distill.ipc", 10)`, also `cfg["distill.ipc"] = 10`);
        norm and pool also take their names ("batch", "max"). A wrong type is a ValueError, a
        value out of bounds an ASTError naming the setting; the config is unchanged then."""
        k = self.key(key)
        b = self._raw_bounds(k)
        name = b.name.decode()
        if b.type == _raw.AST_TYPE_STRING:
            if not isinstance(value, str):
                raise ValueError(f"key {name!r} takes a str, got {type(value).__name__}")
            _check(_raw.ast_config_set_string(self._handle, k, value.encode("utf-8")))
            return self
        if isinstance(value, str):
            table = {_raw.AST_CONFIG_NORM: self.NORMS, _raw.AST_CONFIG_POOL: self.POOLS}.get(k)
            if table is None or value not in table:
                choices = ", ".join(table) if table else "numbers only"
                raise ValueError(f"value {value!r} for key {name!r} is not one of: {choices}")
            value = table[value]
        if b.type == _raw.AST_TYPE_INT:
            if isinstance(value, (bool, np.bool_)) and (b.int_min, b.int_max) == (0, 1):
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"key {name!r} takes an int, got {type(value).__name__}")
            if not (-(2**63) <= int(value) < 2**63):
                raise ValueError(f"value {value} for key {name!r} does not fit in int64")
            _check(_raw.ast_config_set_int(self._handle, k, int(value)))
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"key {name!r} takes a float, got {type(value).__name__}")
            _check(_raw.ast_config_set_float(self._handle, k, float(value)))
        return self

    @staticmethod
    def _raw_bounds(key: int):
        b = _raw.ast_bounds()
        _check(_raw.ast_config_bounds(key, byref(b)))
        return b

    def get(self, key: KeyLike) -> Union[int, float, str]:
        """The value of one setting (`cfg.get("distill.ipc")`, also `cfg["distill.ipc"]`)."""
        k = self.key(key)
        t = self._raw_bounds(k).type
        if t == _raw.AST_TYPE_INT:
            out = c_int64()
            _check(_raw.ast_config_get_int(self._handle, k, byref(out)))
            return out.value
        if t == _raw.AST_TYPE_FLOAT:
            out_f = c_double()
            _check(_raw.ast_config_get_float(self._handle, k, byref(out_f)))
            return out_f.value
        return _read_string(_raw.ast_config_get_string, self._handle, k)

    __getitem__ = get

    def __setitem__(self, key: KeyLike, value: Any) -> None:
        self.set(key, value)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _SECTIONS:
            return _Section(self, name)
        out = c_int32()
        if _raw.ast_config_key_by_name(name.encode(), byref(out)) == _raw.AST_OK:
            return self.get(name)
        raise AttributeError(f"Config has no setting or section {name!r}: {Config._unknown(name).message}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            self.set(name, value)

    def to_dict(self) -> Dict[str, Union[int, float, str]]:
        """Every setting, name (as in keys()) -> value (norm/pool as their int codes); the
        dotted-name view is json.loads(cfg.to_json())."""
        return {name: self.get(name) for name in self.keys()}

    def clone(self) -> "Config":
        """An independent copy of this configuration."""
        h = c_void_p()
        _check(_raw.ast_config_clone(self._handle, byref(h)))
        return Config(_handle=h)

    def __repr__(self) -> str:
        if self.closed:
            return "Config(<closed>)"
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in json.loads(self.to_json()).items()) + ")"


class Dataset(_Handle):
    """ast_dataset: labelled images copied into the library.

        ds = Dataset(images, labels, classes=10)   # images (N, C, H, W) float32, labels (N,)
    """

    _free = staticmethod(_raw.ast_dataset_free)
    _last_error_fn = staticmethod(_raw.ast_dataset_last_error)
    _kind = "Dataset"

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: int):
        """images: (N, C, H, W) or (N, H, W) real numbers (any float or int dtype; converted to
        float32, a copy); labels: (N,) integers in [0, classes)."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = images[:, None, :, :]  # (N, H, W): one channel
        images = _float32("images", images)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W) or (N, H, W), got {images.shape}")
        labels = _labels("labels", labels, images.shape[0])
        label_type = _raw.AST_LABELS_INT32
        n, c, h, w = images.shape
        super().__init__(_new_handle(lambda out: _raw.ast_dataset_create(
            _fp(images), images.size, labels.ctypes.data_as(c_void_p), label_type, labels.size,
            n, c, h, w, int(classes), out)))

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """(count, channels, height, width)."""
        v = [c_int64() for _ in range(5)]
        _check(_raw.ast_dataset_shape(self._handle, *(byref(x) for x in v)))
        return tuple(x.value for x in v[:4])

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def classes(self) -> int:
        """Number of classes (labels are 0 ... classes - 1)."""
        k = c_int64()
        _check(_raw.ast_dataset_shape(self._handle, None, None, None, None, byref(k)))
        return k.value

    @property
    def fingerprint(self) -> str:
        """Content fingerprint: the same pixels, labels and shape give the same string."""
        s = c_char_p()
        _check(_raw.ast_dataset_fingerprint(self._handle, byref(s)))
        return s.value.decode()

    def images(self) -> np.ndarray:
        """A copy of the images, float32 (N, C, H, W)."""
        out = np.empty(self.shape, dtype=np.float32)
        _check(_raw.ast_dataset_copy_images(self._handle, _fp(out), out.size))
        return out

    def labels(self) -> np.ndarray:
        """A copy of the labels, int32 (N,)."""
        out = np.empty(self.shape[0], dtype=np.int32)
        _check(_raw.ast_dataset_copy_labels(self._handle, _ip(out), out.size))
        return out


class Tensor(NamedTuple):
    """One parameter tensor inside the flat parameter vector."""
    name: str
    shape: tuple
    offset: int
    count: int


_STAGE_NAMES = {_raw.AST_STAGE_EVALUATE: "evaluate", _raw.AST_STAGE_EXPERT_EPOCH: "expert_epoch",
                _raw.AST_STAGE_DISTILL_ITERATION: "distill_iteration",
                _raw.AST_STAGE_CHECKPOINT: "checkpoint",
                _raw.AST_STAGE_EVALUATION_EPOCH: "evaluation_epoch",
                _raw.AST_STAGE_EVALUATED: "evaluated", _raw.AST_STAGE_MESSAGE: "message"}


class Progress(NamedTuple):
    """One ast_progress report. `kind` names the stage ("expert_epoch", "distill_iteration",
    "checkpoint", "evaluation_epoch", "evaluated", "message", "evaluate"); the fields a stage
    does not describe are 0, NaN or None (see include/ast.h, AST_STAGE_*)."""
    stage: int
    step: int
    total: int
    loss: float
    elapsed_seconds: float
    index: int = 0
    count: int = 0
    accuracy: float = math.nan
    accuracy_std: float = math.nan
    step_size: float = math.nan
    start_epoch: int = 0
    message: Optional[str] = None

    @property
    def kind(self) -> str:
        """The stage's name, e.g. "expert_epoch" or "distill_iteration"."""
        return _STAGE_NAMES.get(self.stage, f"stage {self.stage}")


ProgressArg = Union[None, bool, Callable[[Progress], Optional[bool]]]


def _tqdm():
    try:
        from tqdm.auto import tqdm  # optional dependency
        return tqdm
    except ImportError:
        return None


class _ProgressBridge:
    """Turns `progress=` into an ast_progress_fn. Python exceptions raised by a user callback
    cancel the C call and are re-raised after it returns; the CFUNCTYPE object is kept alive
    for the whole call. progress=True shows tqdm bars (one per expert, distillation and
    evaluation model) when tqdm is installed."""

    def __init__(self, progress: ProgressArg, description: str):
        self.error: Optional[BaseException] = None
        self.bar = None
        self.bar_key = None
        self.tqdm = None
        self.user = None
        self.description = description
        if progress is True:
            self.tqdm = _tqdm()
        elif callable(progress):
            self.user = progress
        elif progress not in (None, False):
            raise ValueError("progress must be None, a bool or a callable")
        self.fn = (_raw.ast_progress_fn(self._call) if (self.tqdm is not None or self.user is not None)
                   else ctypes.cast(None, _raw.ast_progress_fn))

    def _show(self, p: Progress) -> None:
        if p.stage in (_raw.AST_STAGE_MESSAGE, _raw.AST_STAGE_EVALUATED, _raw.AST_STAGE_CHECKPOINT):
            if p.stage == _raw.AST_STAGE_EVALUATED:
                self.tqdm.write(f"{p.message}: {100 * p.accuracy:.2f} +- {100 * p.accuracy_std:.2f} %")
            elif p.stage == _raw.AST_STAGE_MESSAGE:
                self.tqdm.write(p.message or "")
            return
        key = {_raw.AST_STAGE_EXPERT_EPOCH: ("expert", p.index),
               _raw.AST_STAGE_DISTILL_ITERATION: ("distill", 0),
               _raw.AST_STAGE_EVALUATION_EPOCH: (p.message, p.index)}.get(p.stage, (self.description, 0))
        if key != self.bar_key:
            if self.bar is not None:
                self.bar.close()
            name = f"{key[0]} {key[1]}" if p.stage != _raw.AST_STAGE_DISTILL_ITERATION else "distill"
            self.bar = self.tqdm(desc=name if p.stage != _raw.AST_STAGE_EVALUATE else self.description,
                                 total=p.total, leave=False)
            self.bar_key = key
        self.bar.total = p.total
        self.bar.update(p.step - self.bar.n)
        if p.stage == _raw.AST_STAGE_DISTILL_ITERATION:
            self.bar.set_postfix(loss=f"{p.loss:.4f}", alpha=f"{p.step_size:.4g}")
        elif p.stage == _raw.AST_STAGE_EXPERT_EPOCH:
            self.bar.set_postfix(test_acc=f"{p.accuracy:.3f}")
        elif p.stage == _raw.AST_STAGE_EVALUATE:
            self.bar.set_postfix(loss=f"{p.loss:.4f}")

    def _call(self, report, _user_data) -> int:
        try:
            r = report.contents
            extended = r.struct_size >= ctypes.sizeof(_raw.ast_progress)
            p = Progress(r.stage, r.step, r.total, r.loss, r.elapsed_seconds,
                         *((r.index, r.count, r.accuracy, r.accuracy_std, r.step_size, r.start_epoch,
                            r.message.decode("utf-8", "replace") if r.message else None)
                           if extended else ()))
            if self.tqdm is not None:
                self._show(p)
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


# ---------------------------------------------------------------------------------------------
# Runs: the whole pipeline


class Distilled(NamedTuple):
    """The distilled set of a run."""
    images: np.ndarray         # (ipc * classes, C, H, W) float32, in `space`
    labels: np.ndarray         # (ipc * classes,) int32, class-major
    step_size: float           # the learned alpha (the evaluation's learning rate)
    iterations: int
    loss_history: np.ndarray   # (iterations,) float32 matching losses
    soft_labels: Optional[np.ndarray] = None  # (ipc * classes, classes) probabilities, if learned


def _as_dataset(name: str, data: Any, classes: int) -> tuple:
    """(Dataset, owned) from a Dataset or an (images, labels) pair of numpy arrays."""
    if isinstance(data, Dataset):
        return data, False
    if isinstance(data, tuple) and len(data) == 2:
        try:
            return Dataset(data[0], data[1], classes=classes), True
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    raise ValueError(f"{name} must be a libast.Dataset or an (images, labels) tuple of numpy arrays")


class Run(_Handle):
    """ast_run: the AST pipeline over one output directory, in resumable steps.

        with libast.Run(libast.Config(preset="quick"), "out") as run:      # data.dataset
            run.run_all()                          # experts, distillation, evaluation, outputs
        with libast.Run(cfg, "out", train=(x, y), test=(xt, yt)) as run:  # numpy arrays in
            run.generate_experts(); d = run.distill(); print(run.evaluate())

    Every step resumes (a rerun continues where the last one stopped); a progress callable
    receives Progress reports and cancels by returning False or raising (the exception is
    re-raised after the library saved its state); progress=True shows tqdm bars if installed.
    """

    _free = staticmethod(_raw.ast_run_free)
    _last_error_fn = staticmethod(_raw.ast_run_last_error)
    _kind = "Run"

    def __init__(self, config: Union[Config, dict, None] = None, output_dir: Union[str, os.PathLike] = "out",
                 *, train: Any = None, test: Any = None, **settings: Any):
        if (train is None) != (test is None):
            raise ValueError("pass both train and test, or neither (then data.dataset is used)")
        own_config = not isinstance(config, Config)
        if own_config:
            if config is not None and not isinstance(config, dict):
                raise ValueError(f"config must be a libast.Config or a dict, got {type(config).__name__}")
            cfg = Config(**(config or {}))
        else:
            cfg = config
        try:
            if own_config:
                cfg.update(settings)
            elif settings:
                raise ValueError("pass either a Config or keyword settings, not both")
            directory = os.fsencode(output_dir)
            if train is None:
                handle = _new_handle(lambda out: _raw.ast_run_create(cfg._handle, directory, out))
            else:
                classes = cfg["network.classes"]
                tr, own_tr = _as_dataset("train", train, classes)
                te, own_te = _as_dataset("test", test, classes)
                try:
                    handle = _new_handle(lambda out: _raw.ast_run_create_with_data(
                        cfg._handle, directory, tr._handle, te._handle, out))
                finally:  # the run copied them
                    if own_tr:
                        tr.close()
                    if own_te:
                        te.close()
        finally:
            if own_config:
                cfg.close()
        super().__init__(handle)
        self.output_dir = os.fsdecode(directory)

    def config(self) -> Config:
        """A new Config holding the run's settings."""
        h = c_void_p()
        _check(_raw.ast_run_get_config(self._handle, byref(h)))
        return Config(_handle=h)

    def generate_experts(self, first: int = 0, count: Optional[int] = None,
                         progress: ProgressArg = True) -> int:
        """Trains experts first ... first+count-1 (count None: up to experts.count - 1),
        skipping finished ones; returns the number of complete experts in the store."""
        first = _int_arg("first", first)
        count = -1 if count is None else _int_arg("count", count)
        bridge = _ProgressBridge(progress, "experts")
        bridge.finish(_raw.ast_run_generate_experts(self._handle, first, count, bridge.fn, None))
        return self.complete_experts

    @property
    def complete_experts(self) -> int:
        """Number of complete experts in the run's trajectory store (experts.dir or <out>/experts)."""
        n = c_int64()
        _check(_raw.ast_run_complete_experts(self._handle, byref(n)))
        return n.value

    def distill(self, progress: ProgressArg = True) -> Distilled:
        """Distils (or resumes from the checkpoint); returns the distilled set."""
        bridge = _ProgressBridge(progress, "distill")
        bridge.finish(_raw.ast_run_distill(self._handle, bridge.fn, None))
        return self.distilled()

    def evaluate(self, progress: ProgressArg = True) -> Dict[str, Any]:
        """The evaluation protocol on the distilled set (and the random-real baseline):
        {"distilled": {"mean", "std", "accuracies"}, "random_real": {...} or None}."""
        bridge = _ProgressBridge(progress, "evaluate")
        bridge.finish(_raw.ast_run_evaluate(self._handle, bridge.fn, None, None, None, None, None))
        return self.evaluation()

    def write_outputs(self) -> None:
        """distilled.safetensors, distilled.png and report.json in the output directory."""
        _check(_raw.ast_run_write_outputs(self._handle))

    def run_all(self, progress: ProgressArg = True) -> Dict[str, Any]:
        """The whole pipeline; returns {"distilled": Distilled, "evaluation": {...}}."""
        bridge = _ProgressBridge(progress, "run")
        bridge.finish(_raw.ast_run_all(self._handle, bridge.fn, None))
        return {"distilled": self.distilled(), "evaluation": self.evaluation()}

    def distilled(self, space: str = "training") -> Distilled:
        """The distilled set; space "training" (preprocessed, as distilled) or "pixel"."""
        spaces = {"training": _raw.AST_IMAGES_TRAINING, "pixel": _raw.AST_IMAGES_PIXEL}
        if space not in spaces:
            raise ValueError(f"space must be one of {', '.join(spaces)}, got {space!r}")
        v = [c_int64() for _ in range(5)]
        _check(_raw.ast_run_distilled_shape(self._handle, *(byref(x) for x in v)))
        n, c, h, w = (x.value for x in v[:4])
        images = np.empty((n, c, h, w), np.float32)
        _check(_raw.ast_run_copy_distilled_images(self._handle, spaces[space], _fp(images), images.size))
        labels = np.empty(n, np.int32)
        _check(_raw.ast_run_copy_distilled_labels(self._handle, _ip(labels), labels.size))
        alpha, iterations = c_float(), c_int64()
        _check(_raw.ast_run_step_size(self._handle, byref(alpha), byref(iterations)))
        count = c_int64()
        _check(_raw.ast_run_loss_history(self._handle, None, 0, byref(count)))
        history = np.empty(count.value, np.float32)
        _check(_raw.ast_run_loss_history(self._handle, _fp(history), history.size, byref(count)))
        classes = v[4].value
        soft = np.empty((n, classes), np.float32)
        present = c_int32()
        _check(_raw.ast_run_copy_soft_labels(self._handle, _fp(soft), soft.size, byref(present)))
        return Distilled(images, labels, float(alpha.value), iterations.value, history,
                         soft if present.value else None)

    def _result(self, which: int) -> Optional[dict]:
        mean, std, count = c_double(), c_double(), c_int64()
        status = _raw.ast_run_evaluation(self._handle, which, byref(mean), byref(std), None, 0,
                                         byref(count))
        if status != _raw.AST_OK:
            if which == _raw.AST_RESULT_RANDOM_REAL and "eval.baseline" in self.last_error:
                return None
            _check(status)
        acc = np.empty(count.value, np.float64)
        _check(_raw.ast_run_evaluation(self._handle, which, None, None,
                                       acc.ctypes.data_as(_raw.c_double_p), acc.size, byref(count)))
        return {"mean": mean.value, "std": std.value, "accuracies": acc}

    def evaluation(self) -> Dict[str, Any]:
        """Results of this run's last evaluate()."""
        return {"distilled": self._result(_raw.AST_RESULT_DISTILLED),
                "random_real": self._result(_raw.AST_RESULT_RANDOM_REAL)}

    # --- distributed distillation, one segment at a time (include/ast.h) ---------------------

    def distill_begin(self) -> tuple:
        """Prepares segment-wise distillation (checkpoint or initial set; writes nothing).
        Returns (iteration to compute next, segments R, gradient vector length)."""
        it, r, n = c_int64(), c_int64(), c_int64()
        _check(_raw.ast_run_distill_begin(self._handle, byref(it), byref(r), byref(n)))
        return it.value, r.value, n.value

    def segment_gradient(self, iteration: int, segment: int) -> np.ndarray:
        """Segment `segment` of iteration `iteration` (the current one) as one float32 vector
        [loss, dL/dalpha, dL/dimages..., dL/dsoft_labels...]; the run's state is unchanged."""
        _, _, n = self.distill_begin()
        out = np.empty(n, np.float32)
        _check(_raw.ast_run_segment_gradient(self._handle, _int_arg("iteration", iteration),
                                             _int_arg("segment", segment), _fp(out), out.size))
        return out

    def apply_gradient_sum(self, total: Any, write_checkpoint: bool = True) -> int:
        """Applies the sum of all R segment vectors of the current iteration (divided by R
        here); write_checkpoint in exactly one process. Returns the next iteration."""
        if not isinstance(write_checkpoint, (bool, np.bool_)):
            raise ValueError("write_checkpoint must be a bool")
        _, _, n = self.distill_begin()
        v = _float32("total", total, (n,))
        _check(_raw.ast_run_apply_gradient_sum(self._handle, _fp(v), v.size, int(bool(write_checkpoint))))
        return self.distill_begin()[0]


def _seed_arg(seed: Any) -> int:
    """A seed as the C API takes it (uint64), or ValueError."""
    if not isinstance(seed, (int, np.integer)) or not (0 <= int(seed) < 2**64):
        raise ValueError(f"seed must be an int in [0, 2^64), got {seed!r}")
    return int(seed)


def _int_arg(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if not (-(2**63) <= int(value) < 2**63):
        raise ValueError(f"{name} does not fit in int64")
    return int(value)


# ---------------------------------------------------------------------------------------------
# Trajectory matching, one step


class MatchingResult(NamedTuple):
    """What matching_step returns: the matching loss, its gradients with respect to the images
    and the step size, and the student's final parameters."""
    loss: float
    image_gradient: np.ndarray          # dL/dimages, shaped like the images
    step_size_gradient: float           # dL/dalpha
    final_parameters: np.ndarray        # theta_N


def matching_minibatches(count: int, batch_syn: int, steps: int, seed: int = 0) -> np.ndarray:
    """The (steps, b) int64 minibatch indices matching_step draws from `seed` (b =
    min(batch_syn, count), 0 = all; rows padded with -1 when a chunk is shorter)."""
    count, batch_syn, steps = (_int_arg(n, v) for n, v in
                               (("count", count), ("batch_syn", batch_syn), ("steps", steps)))
    seed = _seed_arg(seed)
    b = count if batch_syn == 0 else min(batch_syn, count)
    out = np.empty((max(steps, 0), max(b, 0)), np.int64)
    _check(_raw.ast_matching_minibatches(count, batch_syn, steps, int(seed),
                                         out.ctypes.data_as(_raw.c_int64_p), out.size))
    return out


def matching_step(network: Network, start: np.ndarray, target: np.ndarray, images: np.ndarray,
                  labels: np.ndarray, step_size: float, steps: int, batch_syn: int = 0,
                  seed: int = 0, minibatches: Optional[np.ndarray] = None,
                  inner_momentum: float = 0.0, inner_loss_weight: float = 1.0,
                  intermediate: Any = (), augmentation: Optional[str] = None,
                  activation_budget: int = 0) -> MatchingResult:
    """One trajectory-matching meta-gradient (ast_matching_step): unroll `steps` student steps
    from `start` on minibatches of `images` with step size alpha = `step_size` (momentum
    `inner_momentum` > 0: AST's inner loop), L = ||theta_N - target||^2 / ||start - target||^2
    (+ the `intermediate` terms, a sequence of (step, target_k, beta_k)), and its exact
    gradients with respect to the images and alpha.

    minibatches: None (drawn from `seed` like the distiller; see matching_minibatches) or a
    (steps, b) int array of indices with -1 paddings.
    activation_budget: bytes of step graphs kept from the forward unroll instead of
    recomputed (faster, same result; 0 keeps none)."""
    if not isinstance(network, Network):
        raise ValueError(f"network must be a libast.Network, got {type(network).__name__}")
    theta0 = network._parameters(start, "start")
    theta1 = network._parameters(target, "target")
    x = network._images(images)
    n = x.shape[0]
    y = _labels("labels", labels, n)
    steps, batch_syn = _int_arg("steps", steps), _int_arg("batch_syn", batch_syn)
    seed = _seed_arg(seed)
    if isinstance(step_size, bool) or not isinstance(step_size, (int, float, np.integer, np.floating)):
        raise ValueError(f"step_size must be a float, got {type(step_size).__name__}")
    mb_ptr, mb_len, mb = None, 0, None
    if minibatches is not None:
        if not isinstance(minibatches, np.ndarray) or minibatches.dtype.kind not in "iu":
            raise ValueError("minibatches must be a numpy integer array of shape (steps, b)")
        b = n if batch_syn == 0 else min(max(batch_syn, 0), n)
        if minibatches.shape != (steps, b):
            raise ValueError(f"minibatches must have shape ({steps}, {b}), got {minibatches.shape}")
        mb = np.ascontiguousarray(minibatches, dtype=np.int64)
        mb_ptr, mb_len = mb.ctypes.data_as(_raw.c_int64_p), mb.size
    opts = _raw.ast_matching_options()
    opts.struct_size = ctypes.sizeof(_raw.ast_matching_options)
    opts.inner_momentum = float(inner_momentum)
    opts.inner_loss_weight = float(inner_loss_weight)
    opts.activation_budget = _int_arg("activation_budget", activation_budget)
    keep = []  # arrays the options point to, alive during the call
    items = list(intermediate)
    if items:
        try:
            steps_k = np.array([int(s) for s, _, _ in items], np.int64)
            weights_k = np.array([float(w) for _, _, w in items], np.float32)
        except (TypeError, ValueError):
            raise ValueError("intermediate must be a sequence of (step, target, weight)") from None
        targets_k = np.ascontiguousarray(np.stack([network._parameters(t, "intermediate target")
                                                   for _, t, _ in items]))
        keep += [steps_k, weights_k, targets_k]
        opts.intermediate_count = len(items)
        opts.intermediate_targets = _fp(targets_k)
        opts.intermediate_steps = steps_k.ctypes.data_as(_raw.c_int64_p)
        opts.intermediate_weights = _fp(weights_k)
    if augmentation is not None:
        if not isinstance(augmentation, str):
            raise ValueError("augmentation must be a DSA strategy string or None")
        opts.augmentation = augmentation.encode("utf-8")
    loss, d_alpha = c_float(), c_float()
    d_images = np.empty_like(x)
    final = np.empty(network.parameter_count, np.float32)
    _check(_raw.ast_matching_step(network._handle, _fp(theta0), _fp(theta1), theta0.size, _fp(x),
                                  x.size, _ip(y), n, float(step_size), steps, batch_syn, int(seed),
                                  mb_ptr, mb_len, byref(opts), byref(loss), _fp(d_images),
                                  d_images.size, byref(d_alpha), _fp(final), final.size))
    del keep, mb
    return MatchingResult(float(loss.value), d_images, float(d_alpha.value), final)
