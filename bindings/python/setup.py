"""Build hook of the libast binding (metadata is in pyproject.toml).

A non-editable install (`pip install bindings/python`) copies the built library into the
package, so the installed package finds it wherever it is imported from: the first of
$AST_BUILD_DIR/lib/libast.so and <repository>/build/lib/libast.so (scripts/build-lib.sh writes
the latter). The wheel is then platform-specific (it holds a Linux shared library). Without a
built library the package is installed without one and looks for it at import time
($LIBAST_PATH, then the system loader: see libast/_raw.py). Editable installs never copy: they
find <repository>/build/lib from the source tree.
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
LIBRARY = "libast.so"


def built_library():
    """The libast.so to ship in the package, or None."""
    candidates = []
    if os.environ.get("AST_BUILD_DIR"):
        candidates.append(Path(os.environ["AST_BUILD_DIR"]) / "lib" / LIBRARY)
    candidates.append(HERE.parent.parent / "build" / "lib" / LIBRARY)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


class build_py(_build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = built_library()
        target = Path(self.build_lib) / "libast" / LIBRARY
        if source is None:
            target.unlink(missing_ok=True)  # never ship a copy left by an earlier build
            print(f"libast setup: no built {LIBRARY} (run scripts/build-lib.sh first); the package "
                  "will look for it at import time ($LIBAST_PATH, then the system loader)",
                  file=sys.stderr)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        print(f"libast setup: copied {source} into the package", file=sys.stderr)


class LibraryDistribution(Distribution):
    """Platform wheel (not py3-none-any) when it carries the shared library."""

    def has_ext_modules(self):
        return built_library() is not None


setup(cmdclass={"build_py": build_py}, distclass=LibraryDistribution)
