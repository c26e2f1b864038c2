"""Errors, status names, argument conversion and the handle base shared by every module of the binding."""

from __future__ import annotations

import re
import weakref
from ctypes import byref, c_void_p
from typing import Any, Callable, Optional, Tuple, TypeVar

import numpy as np

from . import _raw


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
