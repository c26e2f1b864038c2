"""Config: every setting of a run (the library's one settings table), by dotted name, key or keyword."""

from __future__ import annotations

import ctypes
import json
import difflib
import math
import os
from ctypes import byref, c_char_p, c_double, c_int32, c_int64, c_void_p
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import _raw
from ._common import ASTError, UnknownSettingError, _Handle, _check, _new_handle


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
        return [Config._raw_bounds(k).name.decode() for k in Config._key_numbers()]

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
