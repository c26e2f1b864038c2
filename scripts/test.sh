#!/usr/bin/env bash
# All of libast's tests: the README's test command (and what .ci/run calls).
#
#   ./scripts/test.sh
#
# 1. installs what is missing: apt packages when run as root (scripts/install-system-packages.sh),
#    then a venv under the build directory made from /usr/bin/python3 (scripts/venv.sh) with
#    numpy, pytest and the binding (editable) in it: every Python step below runs in that venv,
#    never in whichever python3 comes first on PATH,
# 2. checks the Swift files' layout (swift-format lint with .swift-format), runs the Swift
#    tests (release build with -enable-testing: the numeric tests are too slow in debug), the
#    Swift example and the determinism test (scripts/determinism-test.sh: two
#    small ast-distill runs give the same bytes; activation budget and resume points do not
#    change them),
# 3. builds the self-contained libast.so (scripts/build-lib.sh) and checks it (readelf, nm),
# 4. compiles the C examples with -std=c99 -Wall -Wextra -pedantic -Werror and runs them
#    (demo, threads, misuse, pipeline: the whole pipeline on a Fashion-MNIST subset, and soak:
#    8 threads x 200 cycles of every handle type, RSS checked),
# 5. runs the Python binding's tests (pytest), the study harness's tests (scripts/tests), checks
#    every shipped study spec (studies/*.json) against the built tool and runs the Python
#    examples (demo, pipeline),
# 6. installs the binding non-editable into a second, fresh venv and imports it from another
#    directory: the package must carry and load its own copy of libast.so,
# 7. runs the MPI tests (scripts/mpi-test.sh: installs Open MPI when root, builds the separate
#    package mpi/, runs ast-distill-mpi and examples/python/mpi_distill.py with mpirun -np 2).
# Every example's output is checked. Exits non-zero on the first failure.
#
# Environment: AST_TEST_SCRATCH (SwiftPM scratch path for tests, default .build),
# AST_BUILD_DIR (output of build-lib.sh and home of the venvs, default build), PYTHON (the
# interpreter the venvs are made from, default /usr/bin/python3),
# AST_SKIP_SWIFT_TESTS=1 (skip step 2's `swift test`, e.g. while iterating on bindings).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scratch="${AST_TEST_SCRATCH:-$root/.build}"
build="${AST_BUILD_DIR:-$root/build}"
export AST_BUILD_DIR="$build"

step() { printf '\n==> %s\n' "$*"; }
die() { echo "test.sh: FAIL: $*" >&2; exit 1; }

# expect_output <name> <log> <pattern>... : every pattern (grep -E) must occur in the log
expect_output() {
    local name="$1" log="$2"
    shift 2
    local pattern
    for pattern in "$@"; do
        grep -Eq -- "$pattern" "$log" || { cat "$log"; die "$name: expected output /$pattern/ missing"; }
    done
    echo "test.sh: $name: output OK ($# patterns)"
}

# ---------------------------------------------------------------------------------------------
step "set-up: system packages"
"$root/scripts/install-system-packages.sh" || die "system packages missing"

step "set-up: Python venv (numpy, pytest, the binding)"
python="$("$root/scripts/venv.sh")" || die "could not set up the Python venv"
# Install the binding (editable) unless this checkout's bindings/python is what `import libast`
# finds. find_spec does not import: importing needs libast.so, which is built below.
if ! "$python" -c "import importlib.util as u, sys; s = u.find_spec('libast'); sys.exit(0 if s and s.origin and s.origin.startswith('$root/bindings/python/') else 1)"; then
    # Offline fallback: --no-build-isolation uses the venv's own setuptools.
    "$python" -m pip install --quiet -e bindings/python \
        || "$python" -m pip install --quiet --no-build-isolation -e bindings/python \
        || die "pip install -e bindings/python failed"
fi
"$python" -c 'import importlib.util as u, sys; print("test.sh: Python", sys.version.split()[0], "venv", sys.prefix, "(base", sys.base_prefix + "); libast binding at", u.find_spec("libast").origin)'
# PyTorch for libast.mtt's tests (optional for users; tests/test_mtt.py skips without it). The
# CPU-only wheel when the machine keeps one for this Python (a fraction of PyPI's default wheel,
# which carries CUDA), else PyPI's.
if ! "$python" -c 'import torch' 2>/dev/null; then
    tag="$("$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
    cpu_wheel="$(ls /opt/wheels/torch-*+cpu-"$tag"-"$tag"-*x86_64.whl 2>/dev/null | tail -n 1 || true)"
    "$python" -m pip install ${cpu_wheel:-torch} || die "PyTorch could not be installed (needed by the MTT interop tests)"
fi

# ---------------------------------------------------------------------------------------------
# Layout: every Swift file as swift-format (in the toolchain since Swift 6) lays it out with
# .swift-format (120 columns, 4 spaces, layout only: no rule rewrites code). To fix:
#   swift-format format --in-place --configuration .swift-format $(git ls-files '*.swift')
if command -v swift-format >/dev/null; then
    step "swift-format lint (.swift-format)"
    mapfile -t swift_files < <(git ls-files '*.swift' 2>/dev/null || find Sources Tests -name '*.swift')
    swift-format lint --strict --configuration .swift-format --parallel "${swift_files[@]}" \
        || die "Swift files not laid out as .swift-format says (see the fix above this step in scripts/test.sh)"
    # The formatter cannot break a string literal, so it lets long ones through: split them by hand.
    # Characters, not bytes (the files hold σ, ≤, …): grep counts in a UTF-8 locale.
    if long_lines=$(LC_ALL=C.UTF-8 grep -n '.\{121,\}' "${swift_files[@]}"); then
        echo "$long_lines" | cut -c1-160
        die "Swift lines over 120 columns (split long string literals with +)"
    fi
else
    echo "test.sh: swift-format not in this toolchain; layout check skipped"
fi

if [ "${AST_SKIP_SWIFT_TESTS:-0}" != 1 ]; then
    step "swift test (release, -enable-testing)"
    swift test -c release -Xswiftc -enable-testing --scratch-path "$scratch"
fi

step "Swift example (imports ASTCore directly)"
log="$(mktemp)"
swift run -c release -Xswiftc -enable-testing --scratch-path "$scratch" ast-swift-example >"$log" 2>&1 \
    || { cat "$log"; die "ast-swift-example exited non-zero"; }
expect_output "swift example" "$log" '^swift example: [0-9]+ parameters in [0-9]+ tensors' \
    '^swift example: loss [0-9.]+, gradient norm' '^swift example: wrong image count -> shapeMismatch' \
    '^swift example: done$'

step "Determinism: same settings, seed and threads -> same bytes (scripts/determinism-test.sh)"
AST_TEST_SCRATCH="$scratch" PYTHON="$python" scripts/determinism-test.sh

# ---------------------------------------------------------------------------------------------
step "self-contained libast.so"
scripts/build-lib.sh
lib="$build/lib"

step "C header: C99 and C++ compatible"
gcc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only -x c -Iinclude include/ast.h
g++ -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only -x c++ -Iinclude include/ast.h

step "C examples"
mkdir -p "$build/bin"
for prog in demo threads misuse pipeline soak; do
    gcc -std=c99 -Wall -Wextra -pedantic -Werror -O2 -Iinclude "examples/c/$prog.c" \
        -L"$lib" -last -lm -lpthread -Wl,-rpath,'$ORIGIN/../lib' -o "$build/bin/$prog"
done
# env -i: no LD_LIBRARY_PATH, no Swift toolchain paths; the rpath ($ORIGIN/../lib) suffices.
log="$(mktemp)"
env -i "$build/bin/demo" >"$log" 2>&1 || { cat "$log"; die "demo exited non-zero"; }
expect_output "C demo" "$log" '^demo: libast 0\.2\.0' '^demo: network with [0-9]+ parameters' \
    '^demo: loss [0-9.]+, gradient norm [0-9.]+' '^demo: evaluate: loss [0-9.]+, accuracy' \
    '^demo: cancelled evaluate -> cancelled \(6\)' '^demo: bad label -> invalid argument \(1\): .*labels\[3\]' \
    '^demo: after the error the network still works' '^demo: done$'
env -i "$build/bin/threads" >"$log" 2>&1 || { cat "$log"; die "threads exited non-zero"; }
expect_output "C threads" "$log" '^threads: OK: 2 threads'
env -i "$build/bin/misuse" >"$log" 2>&1 || { cat "$log"; die "misuse exited non-zero"; }
expect_output "C misuse" "$log" '^misuse: handle still usable' '^misuse: ([0-9]+)/\1 bad calls reported correctly, process alive' \
    '^misuse: ok +ast_run_generate_experts\(NULL' '^misuse: ok +ast_matching_step\(NULL' \
    '^misuse: ok +ast_config_set_string\(cfg, AST_CONFIG_EXPERTS_KIND, "adam"\) -> out of range' \
    '^misuse: ok +ast_run_apply_gradient_sum\(run, g, glen, 0\) -> non-finite' \
    '^misuse: matching step still works: loss [0-9.]+'
grep -E -m 3 '^misuse: (ok|FAIL)' "$log"
rm -rf "$(sed -n 's/^misuse: run directory //p' "$log")"
# Soak: 8 threads x 200 cycles creating, using and freeing every handle type in seeded random
# order with random cancellation; results identical to a reference, RSS within 10 % (~40 s).
env -i "$build/bin/soak" 200 8 1 1 >"$log" 2>&1 || { cat "$log"; die "soak exited non-zero"; }
expect_output "C soak" "$log" '^soak: 200 cycles x 8 threads: 1600 runs completed through [0-9]+ random cancellations.*identical to the reference' \
    '^soak: RSS [0-9]+ KiB at start, [0-9]+ KiB after the first cycle, [0-9]+ KiB at the end' '^soak: OK$'
grep -E '^soak: (RSS|[0-9]+ cycles)' "$log"
# The whole pipeline on a small Fashion-MNIST subset (experts, cancelled + resumed distillation,
# evaluation, outputs) through the header.
out="$(mktemp -d)"
env -i "$build/bin/pipeline" "$out/run" >"$log" 2>&1 || { cat "$log"; rm -rf "$out"; die "pipeline exited non-zero"; }
rm -rf "$out"
expect_output "C pipeline" "$log" '^pipeline: expert 1 epoch 3/3: test accuracy 0\.[0-9]+' \
    '^pipeline: 2 complete experts \(6 epochs trained\)' \
    '^pipeline: cancelled distill -> cancelled \(6\)' '^pipeline: checkpoint holds 4 iterations' \
    '^pipeline: message: resuming distillation after iteration 4' \
    '^pipeline: resumed and finished: 10 iterations, learned alpha [0-9.]+' \
    '^pipeline: distilled [0-9.]+ \+- [0-9.]+ %, random real [0-9.]+ \+- [0-9.]+ % \(2 models' \
    '^pipeline: wrote distilled.safetensors yes, distilled.png yes, report.json yes' \
    '^pipeline: distilled set 10 x 1 x 28 x 28, 10 classes, labels 0 1 2 3 4 5 6 7 8 9' \
    '^pipeline: small buffer -> shape mismatch' '^pipeline: done$'

# ---------------------------------------------------------------------------------------------
step "Python binding: pytest"
# No LIBAST_PATH: the binding must find build/lib/libast.so on its own.
(cd bindings/python && env -u LIBAST_PATH "$python" -m pytest -q -p no:cacheprovider tests)

step "Study harness (scripts/study.py) against a stand-in tool: statistics, resume, spec errors"
"$python" -m pytest -q -p no:cacheprovider scripts/tests

step "Shipped study specs (studies/*.json) are valid for this build's ast-distill"
for spec in studies/*.json; do
    "$python" scripts/study.py check "$spec" --bin "${AST_DISTILL:-$scratch/release/ast-distill}" --out "$build/study-check" \
        || die "study spec $spec does not check against ast-distill"
done

step "Python example"
env -u LIBAST_PATH "$python" examples/python/demo.py >"$log" 2>&1 || { cat "$log"; die "Python example exited non-zero"; }
expect_output "Python example" "$log" '^python demo: libast 0\.2\.0' '^python demo: loss [0-9.]+' \
    '^python demo: bad label -> ASTError status 1' '^python demo: wrong dtype -> ValueError' \
    '^python demo: network still usable after errors' '^python demo: done$'

step "Python pipeline example (Fashion-MNIST subset, numpy in, distilled arrays out)"
out="$(mktemp -d)"
env -u LIBAST_PATH "$python" examples/python/pipeline.py "$out/run" >"$log" 2>&1 \
    || { cat "$log"; rm -rf "$out"; die "Python pipeline example exited non-zero"; }
rm -rf "$out"
expect_output "Python pipeline" "$log" '^python pipeline: numpy in: train \(3000, 1, 28, 28\) float32' \
    '^python pipeline: 1 expert\(s\) after the first range' \
    '^python pipeline: cancelled -> ASTError status 6 \(cancelled\), checkpoint at iteration 4' \
    '^python pipeline: distilled arrays out: images \(10, 1, 28, 28\) float32, labels \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\], alpha [0-9.]+, 10 iterations' \
    '^python pipeline: matching loss [0-9.]+ -> [0-9.]+ over iterations \[5, 6, 7, 8, 9, 10\]' \
    '^python pipeline: evaluation: distilled [0-9.]+ \+- [0-9.]+ %, random real [0-9.]+ \+- [0-9.]+ %' \
    "^python pipeline: outputs: \\['checkpoint.safetensors', 'distilled.png', 'distilled.safetensors', 'report.json'\\]" \
    '^python pipeline: matching_step: loss [0-9.]+' '^python pipeline: done$'

# ---------------------------------------------------------------------------------------------
step "Python binding: non-editable install into a fresh venv, imported from elsewhere"
# What a Python user does after README command one: pip install bindings/python (not -e). The
# installed package must hold its own copy of build/lib/libast.so and load it, with no
# LIBAST_PATH, from a directory outside the repository.
fresh="$build/venv-install-check"
rm -rf "$fresh"
"${PYTHON:-/usr/bin/python3}" -m venv "$fresh" || die "could not create $fresh"
"$fresh/bin/python" -m pip install --quiet "$root/bindings/python" \
    || "$fresh/bin/python" -m pip install --quiet --no-build-isolation "$root/bindings/python" \
    || die "pip install bindings/python (non-editable) failed"
away="$(mktemp -d)"
(cd "$away" && env -u LIBAST_PATH -u LD_LIBRARY_PATH -u PYTHONPATH "$fresh/bin/python" -c \
    'import libast; print("installed package:", libast.__file__); print("found by:", libast.library_found_by); print("library:", libast.library_path); print("version:", libast.version())') \
    >"$log" 2>&1 || { cat "$log"; rm -rf "$away"; die "import libast from the non-editable install failed"; }
rm -rf "$away"
cat "$log"
site="$("$fresh/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
expect_output "non-editable install" "$log" "^installed package: $site/libast/__init__.py\$" \
    '^found by: inside the package$' "^library: $site/libast/libast.so\$" '^version: 0\.2\.0'
cmp -s "$site/libast/libast.so" "$build/lib/libast.so" || die "the installed libast.so differs from $build/lib/libast.so"
rm -rf "$fresh"
rm -f "$log"

# ---------------------------------------------------------------------------------------------
step "MPI: ast-distill-mpi and examples/python/mpi_distill.py under mpirun -np 2 (scripts/mpi-test.sh)"
AST_TEST_SCRATCH="$scratch" PYTHON="$python" scripts/mpi-test.sh

printf '\ntest.sh: all tests passed\n'
