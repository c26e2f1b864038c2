"""Where the binding finds libast.so, in order: $LIBAST_PATH, a copy inside the package, the
system loader (LD_LIBRARY_PATH, ldconfig), the checkout's build directory; `library_path` and
`library_found_by` say which. Each case imports a copy of the package in a fresh interpreter, from
a directory outside the repository."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import libast

PACKAGE = Path(libast.__file__).resolve().parent
LIBRARY = Path(libast.library_path)

PROBE = ("import sys; sys.path.insert(0, sys.argv[1]); import libast; "
         "assert libast.__file__.startswith(sys.argv[1]), libast.__file__; "
         "print(libast.library_found_by); print(libast.library_path); print(libast.version())")


def package_copy(tmp_path: Path, with_library: bool) -> Path:
    """A copy of the libast package under tmp_path/site (outside any checkout)."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "libast", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    if with_library:
        shutil.copy2(LIBRARY, site / "libast" / "libast.so")
    return site


def probe(site: Path, cwd: Path, **env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LIBAST_PATH", "LD_LIBRARY_PATH", "AST_BUILD_DIR", "PYTHONPATH")}
    env.update(env_changes)
    result = subprocess.run([sys.executable, "-c", PROBE, str(site)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    return result


def test_this_process_reports_an_existing_library():
    assert LIBRARY.is_absolute() and LIBRARY.is_file()
    assert libast.library_found_by in ("$LIBAST_PATH", "inside the package", "system loader",
                                       "build directory")


def test_copy_inside_the_package_is_found(tmp_path):
    site = package_copy(tmp_path, with_library=True)
    r = probe(site, tmp_path)
    assert r.returncode == 0, r.stderr
    found_by, path, _ = r.stdout.splitlines()
    assert found_by == "inside the package"
    assert path == str((site / "libast" / "libast.so").resolve())


@pytest.mark.parametrize("as_directory", [False, True])
def test_environment_variable_comes_first(tmp_path, as_directory):
    site = package_copy(tmp_path, with_library=True)  # would be found second
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy2(LIBRARY, other / "libast.so")
    r = probe(site, tmp_path, LIBAST_PATH=str(other if as_directory else other / "libast.so"))
    assert r.returncode == 0, r.stderr
    found_by, path, _ = r.stdout.splitlines()
    assert (found_by, path) == ("$LIBAST_PATH", str((other / "libast.so").resolve()))


def test_wrong_environment_variable_is_an_error_not_skipped(tmp_path):
    site = package_copy(tmp_path, with_library=True)
    r = probe(site, tmp_path, LIBAST_PATH=str(tmp_path / "missing.so"))
    assert r.returncode != 0
    assert "LIBAST_PATH=" in r.stderr and "missing.so (no such file)" in r.stderr


def test_system_loader_honours_ld_library_path(tmp_path):
    site = package_copy(tmp_path, with_library=False)
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy2(LIBRARY, libdir / "libast.so")
    r = probe(site, tmp_path, LD_LIBRARY_PATH=str(libdir))
    assert r.returncode == 0, r.stderr
    found_by, path, _ = r.stdout.splitlines()
    assert (found_by, path) == ("system loader", str((libdir / "libast.so").resolve()))


def test_not_found_lists_every_place_tried(tmp_path):
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if os.path.exists(ldconfig) and "libast.so" in subprocess.run(
            [ldconfig, "-p"], capture_output=True, text=True).stdout:
        pytest.skip("a libast.so is installed system-wide")
    site = package_copy(tmp_path, with_library=False)
    r = probe(site, tmp_path, LD_LIBRARY_PATH=str(tmp_path))
    assert r.returncode != 0
    message = r.stderr
    assert "libast.so not found" in message and "scripts/build-lib.sh" in message
    assert f"inside the package: {site / 'libast' / 'libast.so'} (no such file)" in message
    assert f"system loader: dlopen(\"libast.so\") with LD_LIBRARY_PATH='{tmp_path}'" in message
    assert "build directory: none (this package is not inside a libast checkout)" in message
