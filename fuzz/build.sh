#!/usr/bin/env bash
# Builds the libFuzzer harnesses in fuzz/harness/ into $AST_FUZZ_SCRATCH/bin/<target>-fuzzer.
#
#   fuzz/build.sh [target...]        (default: every fuzz/harness/*.swift except Support.swift)
#
# 1. `swift build -Xswiftc -sanitize=fuzzer,address --target ASTDistill` builds ASTCore, ASTData
#    and ASTDistill with coverage instrumentation and ASan into the scratch path (default
#    .build-fuzz), without linking any executable (libFuzzer supplies main). One combined flag:
#    swiftc 6.3 keeps only the last of several -sanitize= flags, and SwiftPM's
#    `--sanitize=fuzzer --sanitize=address` passes two in an order that changes from run to run,
#    so the modules had either coverage or ASan, never both. The build then checks both are in;
# 2. each harness is compiled with `swiftc -sanitize=fuzzer,address -parse-as-library` against
#    those modules and linked with their object files, OpenBLAS and zlib.
# Package.swift is not touched: the harnesses live outside the package.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scratch="${AST_FUZZ_SCRATCH:-$root/.build-fuzz}"
harness="$root/fuzz/harness"
bin="$scratch/bin"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    for f in "$harness"/*.swift; do
        name="$(basename "$f" .swift)"
        [ "$name" = Support ] || targets+=("$name")
    done
fi

echo "fuzz/build.sh: instrumented modules (scratch $scratch)"
swift build -c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address --target ASTDistill

rel="$scratch/release"
objects=()
for module in ASTCore ASTData ASTDistill; do
    objects+=("$rel/$module.build"/*.o)
    # Coverage counters (libFuzzer's guidance) and ASan calls in every module, or the harnesses
    # fuzz blind / unchecked.
    symbols="$(nm "$rel/$module.build"/*.o)"
    grep -q __sanitizer_cov_8bit_counters_init <<<"$symbols" && grep -q __asan_init <<<"$symbols" \
        || { echo "fuzz/build.sh: $module lacks coverage or ASan instrumentation" >&2; exit 1; }
done
blas_flags=($(pkg-config --libs openblas 2>/dev/null || echo -lopenblas))
mkdir -p "$bin"
# lld when the toolchain has it (gold prints hundreds of harmless ASan symbol warnings).
linker=()
command -v ld.lld >/dev/null 2>&1 && linker=(-use-ld=lld)
for t in "${targets[@]}"; do
    src="$harness/$t.swift"
    [ -f "$src" ] || { echo "fuzz/build.sh: no harness $src" >&2; exit 1; }
    out="$bin/$t-fuzzer"
    # Rebuild when the harness, the support file or any module object is newer than the binary.
    if [ -x "$out" ] && [ -z "$(find "$src" "$harness/Support.swift" "${objects[@]}" -newer "$out" -print -quit)" ]; then
        echo "fuzz/build.sh: $t-fuzzer up to date"
        continue
    fi
    echo "fuzz/build.sh: $t-fuzzer"
    swiftc -O -sanitize=fuzzer,address -parse-as-library -swift-version 6 "${linker[@]}" \
        -module-name "fuzz_$t" \
        -I "$rel/Modules" -I "$root/Sources/COpenBLAS" -I "$root/Sources/CZlib" \
        "$harness/Support.swift" "$src" "${objects[@]}" \
        "${blas_flags[@]}" -lz -lm -o "$out"
done
echo "fuzz/build.sh: built ${targets[*]} in $bin"
