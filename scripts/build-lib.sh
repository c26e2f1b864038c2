#!/usr/bin/env bash
# Builds the self-contained libast.so (Swift runtime linked in statically) and checks it.
#
#   scripts/build-lib.sh            -> build/lib/libast.so + build/include/ast.h
#
# Output directory: $AST_BUILD_DIR (default: <repo>/build). The library needs only
# libopenblas, libstdc++, libgcc_s, libm and libc at run time; no Swift toolchain.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${AST_BUILD_DIR:-$root/build}"
scratch="${AST_STATIC_SCRATCH:-$root/.build-static}"
cd "$root"

# -static-stdlib must stay on the command line: in Package.swift it breaks `swift test`.
swift build -c release --product ast --scratch-path "$scratch" -Xswiftc -static-stdlib

mkdir -p "$out/lib" "$out/include"
# The build directory is an artefact: keep it out of version control whatever .gitignore says.
printf '*\n' > "$out/.gitignore"
cp "$scratch/release/libast.so" "$out/lib/libast.so"
cp include/ast.h "$out/include/ast.h"

"$root/scripts/check-lib.sh" "$out/lib/libast.so"
echo "built $out/lib/libast.so"
