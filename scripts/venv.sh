#!/usr/bin/env bash
# The Python environment the scripts use: a venv under the build directory, made from the
# system's Python, with numpy and pytest in it. Prints the venv's python (the only line on
# stdout); progress goes to stderr. Reruns reuse the venv.
#
#   python="$(scripts/venv.sh)"      -> <build>/venv/bin/python
#
# Why a venv: Debian 12 / Ubuntu 24.04's /usr/bin/python3 refuses `pip install` outside one
# (PEP 668, "externally-managed-environment") and has no pip of its own; whichever python3
# comes first on PATH (pyenv, conda) is not what a fresh machine has.
#
# Environment: PYTHON (the interpreter the venv is made from, default /usr/bin/python3),
# AST_BUILD_DIR (default <repo>/build), AST_VENV (the venv's directory, default
# $AST_BUILD_DIR/venv). A venv made from another interpreter, or broken, is made again.
# Needs python3-venv on Debian/Ubuntu (scripts/install-system-packages.sh installs it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${AST_BUILD_DIR:-$root/build}"
venv="${AST_VENV:-$build/venv}"
base="${PYTHON:-/usr/bin/python3}"

say() { printf 'venv.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

base_path="$(command -v "$base")" || die "no Python interpreter '$base' (set PYTHON, or run scripts/install-system-packages.sh)"
base_real="$(readlink -f "$base_path")"
marker="$venv/.libast-base-python"

if [ -x "$venv/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" = "$base_real" ] \
        && "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; then
    : # reuse
else
    [ ! -e "$venv" ] || { say "replacing $venv (made from another interpreter, or incomplete)"; rm -rf "$venv"; }
    mkdir -p "$build"
    # The build directory is an artefact: keep it out of version control whatever .gitignore says.
    [ -e "$build/.gitignore" ] || printf '*\n' >"$build/.gitignore"
    say "creating $venv from $base_path ($("$base_path" --version 2>&1))"
    "$base_path" -m venv "$venv" >&2 \
        || die "'$base_path -m venv' failed: install python3-venv (scripts/install-system-packages.sh does, as root)"
    printf '%s\n' "$base_real" >"$marker"
fi

py="$venv/bin/python"
if ! "$py" -c 'import numpy, pytest' 2>/dev/null; then
    say "installing numpy and pytest into $venv"
    "$py" -m pip install --quiet numpy pytest >&2 || die "pip install numpy pytest failed in $venv"
fi
printf '%s\n' "$py"
