"""The binding's constants are copied from include/ast.h by hand: this test reads the header and
fails when the two (or the loaded library's key list and version) disagree."""
import ctypes
import os
import re

import libast
from libast import _raw

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "ast.h")


def header_constants():
    """Every AST_* enum member and integer #define of the header, name -> value."""
    text = re.sub(r"/\*.*?\*/", "", open(HEADER).read(), flags=re.S)
    out = {}
    for body in re.findall(r"enum\s*\w*\s*\{(.*?)\}", text, flags=re.S):
        for name, value in re.findall(r"(AST_\w+)\s*=\s*(-?\d+)", body):
            out[name] = int(value)
    for name, value in re.findall(r"#define\s+(AST_\w+)\s+(-?\d+)\s*$", text, flags=re.M):
        out[name] = int(value)
    string = re.search(r'#define\s+AST_VERSION_STRING\s+"([^"]+)"', text)
    return out, string.group(1)


def test_header_parse_sees_the_whole_enum():
    constants, _ = header_constants()
    assert constants["AST_CONFIG_CHANNELS"] == 1 and constants["AST_ERR_UNKNOWN_KEY"] == 11
    assert len([n for n in constants if n.startswith("AST_CONFIG_")]) > 60


def test_every_header_constant_is_in_the_binding_with_its_value():
    constants, _ = header_constants()
    internal = {"AST_VERSION_MAJOR", "AST_VERSION_MINOR", "AST_VERSION_PATCH", "AST_MAX_TENSOR_RANK"}
    missing = sorted(n for n in constants if n not in internal and not hasattr(_raw, n))
    assert not missing, f"constants of include/ast.h missing from libast/_raw.py: {missing}"
    wrong = {n: (getattr(_raw, n), v) for n, v in constants.items() if hasattr(_raw, n) and getattr(_raw, n) != v}
    assert not wrong, f"_raw.py value != header value: {wrong}"


def test_the_binding_has_no_constant_the_header_lacks():
    constants, _ = header_constants()
    extra = sorted(n for n in dir(_raw) if re.fullmatch(r"AST_[A-Z0-9_]+", n) and n not in constants)
    assert not extra, f"libast/_raw.py defines constants include/ast.h does not: {extra}"


def test_the_librarys_keys_are_the_headers_keys():
    constants, _ = header_constants()
    header_keys = sorted(v for n, v in constants.items() if n.startswith("AST_CONFIG_"))
    count = ctypes.c_int32()
    assert _raw.ast_config_keys(None, 0, ctypes.byref(count)) == _raw.AST_OK
    keys = (ctypes.c_int32 * count.value)()
    assert _raw.ast_config_keys(keys, count.value, ctypes.byref(count)) == _raw.AST_OK
    assert list(keys) == header_keys


def test_versions_agree():
    constants, string = header_constants()
    assert string == f"{constants['AST_VERSION_MAJOR']}.{constants['AST_VERSION_MINOR']}.{constants['AST_VERSION_PATCH']}"
    assert libast.__version__ == string == libast.version()
    pyproject = open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml")).read()
    assert re.search(r'^version\s*=\s*"([^"]+)"', pyproject, flags=re.M).group(1) == string
    assert libast.abi_version() == constants["AST_ABI_VERSION"] == _raw.AST_ABI_VERSION
