#!/usr/bin/env bash
# libast under AddressSanitizer (+ UndefinedBehaviorSanitizer in the C code) and under
# ThreadSanitizer, where its users meet it: libast.so from C and from Python, and ast-distill.
#
#   scripts/sanitizers.sh [address|thread]... [-- swift-test-args...]   (default: address thread)
#
# Per sanitizer, in its own scratch path (AST_SANITIZER_SCRATCH_PREFIX, default <repo>/.build-,
# + asan / tsan), release builds (-c release, as shipped; the Swift runtime is the toolchain's
# shared one, so the sanitizer sees its allocations):
#  a. libast.so (`--product ast --sanitize=KIND`) and every C example compiled by the
#     toolchain's clang with -fsanitize=KIND (address: also undefined, -fno-sanitize-recover):
#     demo, threads, misuse, pipeline (Fashion-MNIST subset) and soak (threads x cycles of
#     every handle type, random cancellation; AST_SANITIZER_SOAK="cycles threads", default
#     "20 8" for address and "4 8" for thread);
#  b. the Python binding's pytest suite against that libast.so (LIBAST_PATH) with the
#     sanitizer's runtime preloaded (LD_PRELOAD). Not tests/test_cli.py: it runs the
#     ast-distill binary (step c) and would build it under the preload;
#  c. ast-distill (same scratch, so only its own module is added): `experts` + `distill` on a
#     tiny run (data loading, parallel training loops, safetensors writes, checkpoints);
#  d. `swift test` under the sanitizer, only with AST_SANITIZE_SWIFT_TEST=1: with Swift 6.3.1 on
#     Linux it aborts inside the toolchain before any test runs (swift-testing's test
#     enumeration -> swift_getTypeName: ASan "bad-free", TSan "CHECK failed:
#     sanitizer_allocator_secondary.h:297"; README "Sanitizers").
#
# Every report fails the run: halt_on_error=1 (and for UBSan -fno-sanitize-recover), so the
# program exits non-zero with the report and stack; the suppression files
# scripts/sanitizers/{lsan,tsan}.supp say, line by line, why each entry is not libast's bug.
# - address: leak detection on in the C programs (every handle freed: any leak is libast's).
#   Off under Python (detect_leaks=0): CPython, numpy and PyTorch do not free their heaps at
#   exit (thousands of reports from the interpreter and pybind11, none through libast); libast's
#   leaks are the C programs' job, here and under valgrind (scripts/valgrind.sh).
# - thread: AST_NUM_THREADS=2 so libast's parallel loops run on every machine. OpenBLAS is not
#   instrumented, but libast never uses its threads (one OpenBLAS thread; libast's own workers,
#   ASTCore/Parallel.swift).
# UndefinedBehaviorSanitizer does not exist for Swift on Linux (`-sanitize=undefined` is
# rejected); Swift's own checks (overflow, bounds, unwrapping: traps, kept in release builds)
# cover the library, and the C side (examples, headers' inline use) runs under UBSan.
#
# Environment: AST_SANITIZER_SCRATCH_PREFIX, AST_SANITIZER_SOAK, AST_SANITIZER_STEPS (any of
# "c python cli", default all three), AST_SANITIZER_C_PROGRAMS (default "demo threads misuse
# pipeline soak"), AST_SANITIZER_PYTHON (a Python with numpy and pytest; default: the venv of
# scripts/venv.sh, made from $PYTHON), AST_SANITIZE_SWIFT_TEST.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
prefix="${AST_SANITIZER_SCRATCH_PREFIX:-$root/.build-}"
steps="${AST_SANITIZER_STEPS:-c python cli}"
programs="${AST_SANITIZER_C_PROGRAMS:-demo threads misuse pipeline soak}"
swift_lib="$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")/lib/swift/linux"
clang="$(dirname "$(readlink -f "$(command -v swift)")")/clang"
runtime_dir="$("$clang" -print-resource-dir)/lib/linux"
[ -d "$swift_lib" ] && [ -x "$clang" ] && [ -d "$runtime_dir" ] \
    || { echo "sanitizers.sh: cannot find the Swift toolchain's runtime ($swift_lib), clang or sanitizer runtimes" >&2; exit 1; }

kinds=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do kinds+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ "${#kinds[@]}" -gt 0 ] || kinds=(address thread)

say() { printf 'sanitizers.sh: %s\n' "$*"; }
die() { printf 'sanitizers.sh: FAIL: %s\n' "$*" >&2; exit 1; }
has_step() { case " $steps " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
has_program() { case " $programs " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# run_logged <name> <log> <cmd...>: runs it; on failure prints the log (with the report).
run_logged() {
    local name="$1" log="$2"
    shift 2
    "$@" >"$log" 2>&1 || { tail -n 80 "$log"; die "$name exited non-zero under $kind (log above)"; }
    ! grep -Eq '^(==[0-9]+==ERROR|WARNING: ThreadSanitizer|SUMMARY: (Address|Thread|UndefinedBehavior)Sanitizer)|runtime error:' "$log" \
        || { cat "$log"; die "$name: sanitizer report under $kind"; }
}

for kind in "${kinds[@]}"; do
    case "$kind" in
        address)
            scratch="${prefix}asan"
            cflags=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
            preload="$runtime_dir/libclang_rt.asan-x86_64.so"
            soak="${AST_SANITIZER_SOAK:-20 8}"
            c_env=(ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0"
                   LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0"
                   UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
            py_env=(ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=0") ;;
        thread)
            scratch="${prefix}tsan"
            # The toolchain's static TSan runtime has libdispatch interceptors (Swift's
            # concurrency runtime uses libdispatch), so it links against it.
            cflags=(-fsanitize=thread -L"$swift_lib" -ldispatch -lBlocksRuntime)
            # (its shared runtime needs libdispatch and BlocksRuntime too, as the static one)
            preload="$runtime_dir/libclang_rt.tsan-x86_64.so $swift_lib/libdispatch.so $swift_lib/libBlocksRuntime.so"
            soak="${AST_SANITIZER_SOAK:-4 8}"
            c_env=(TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$root/scripts/sanitizers/tsan.supp")
            py_env=("${c_env[@]}") ;;
        *) echo "sanitizers.sh: unknown sanitizer '$kind' (address, thread)" >&2; exit 2 ;;
    esac
    common_env=(AST_NUM_THREADS=2 SWIFT_BACKTRACE=enable=no)
    start=$(date +%s)
    printf '\n==> libast.so under --sanitize=%s (scratch %s)\n' "$kind" "$scratch"
    swift build -c release --sanitize="$kind" --scratch-path "$scratch" --product ast
    lib="$scratch/release"
    say "$kind: libast.so built ($(( $(date +%s) - start )) s so far)"

    if has_step c; then
        bin="$scratch/c-examples"
        mkdir -p "$bin"
        for prog in demo threads misuse pipeline soak; do
            "$clang" -fuse-ld=lld -std=c99 -Wall -Wextra -pedantic -Werror -O1 -g -fno-omit-frame-pointer "${cflags[@]}" \
                -Iinclude "examples/c/$prog.c" -L"$lib" -last -lm -lpthread \
                -Wl,-rpath,"$lib" -Wl,-rpath,"$swift_lib" -o "$bin/$prog"
        done
        log="$(mktemp)"
        out="$(mktemp -d "${TMPDIR:-/tmp}/libast-sanitize.XXXXXX")"
        for prog in demo threads misuse; do
            has_program "$prog" || continue
            t=$(date +%s)
            run_logged "$prog" "$log" env "${common_env[@]}" "${c_env[@]}" "$bin/$prog"
            [ "$prog" != misuse ] || rm -rf "$(sed -n 's/^misuse: run directory //p' "$log")"
            say "$kind: C $prog clean ($(( $(date +%s) - t )) s): $(tail -n 1 "$log")"
        done
        if has_program pipeline; then
            t=$(date +%s)
            run_logged pipeline "$log" env "${common_env[@]}" "${c_env[@]}" "$bin/pipeline" "$out/pipeline"
            say "$kind: C pipeline clean ($(( $(date +%s) - t )) s): $(grep -c '^pipeline:' "$log") lines, $(tail -n 1 "$log")"
        fi
        if has_program soak; then
            t=$(date +%s)
            # rss-check 0: the sanitizer's allocator (quarantine, shadow) decides the RSS here.
            read -r soak_cycles soak_threads <<<"$soak"
            run_logged soak "$log" env "${common_env[@]}" "${c_env[@]}" "$bin/soak" "$soak_cycles" "$soak_threads" 1 0
            say "$kind: C soak clean ($(( $(date +%s) - t )) s): $(grep -E '^soak: [0-9]+ cycles' "$log")"
        fi
        rm -rf "$out" "$log"
    fi

    if has_step python; then
        t=$(date +%s)
        python="${AST_SANITIZER_PYTHON:-$("$root/scripts/venv.sh")}"
        log="$(mktemp)"
        # The binding must have loaded the sanitized library, not another libast.so. It comes
        # from this checkout (PYTHONPATH), so the step needs no install of it in the venv.
        run_logged "python import" "$log" env "${common_env[@]}" "${py_env[@]}" LD_PRELOAD="$preload" \
            LD_LIBRARY_PATH="$swift_lib" LIBAST_PATH="$lib/libast.so" PYTHONDONTWRITEBYTECODE=1 \
            PYTHONPATH="$root/bindings/python" \
            "$python" -c 'import libast; print(libast.library_path)'
        [ "$(tail -n 1 "$log")" = "$(readlink -f "$lib/libast.so")" ] || [ "$(tail -n 1 "$log")" = "$lib/libast.so" ] \
            || { cat "$log"; die "the binding loaded $(tail -n 1 "$log"), not $lib/libast.so"; }
        (cd bindings/python && run_logged pytest "$log" env "${common_env[@]}" "${py_env[@]}" LD_PRELOAD="$preload" \
            LD_LIBRARY_PATH="$swift_lib" LIBAST_PATH="$lib/libast.so" PYTHONDONTWRITEBYTECODE=1 \
            PYTHONPATH="$root/bindings/python" "$python" -m pytest -q -p no:cacheprovider tests --ignore tests/test_cli.py)
        say "$kind: Python pytest clean ($(( $(date +%s) - t )) s): $(tail -n 1 "$log")"
        rm -f "$log"
    fi

    if has_step cli; then
        t=$(date +%s)
        swift build -c release --sanitize="$kind" --scratch-path "$scratch" --product ast-distill
        out="$(mktemp -d "${TMPDIR:-/tmp}/libast-sanitize.XXXXXX")"
        tiny=(--preset quick --set data.train_limit=300 --set data.test_limit=100 --set network.width=4
              --set experts.count=2 --set experts.epochs=2 --set distill.iterations=4 --set distill.checkpoint_every=2
              --set distill.syn_steps=3 --set distill.max_start_epoch=1 --set distill.expert_epochs=1)
        log="$(mktemp)"
        for step in experts distill; do
            run_logged "ast-distill $step" "$log" env "${common_env[@]}" "${c_env[@]}" \
                "$scratch/release/ast-distill" "$step" "${tiny[@]}" --out "$out"
        done
        rm -rf "$out" "$log"
        say "$kind: ast-distill experts + distill clean ($(( $(date +%s) - t )) s with its build)"
    fi
    say "$kind: all steps ($steps) clean in $(( $(date +%s) - start )) s"

    if [ "${AST_SANITIZE_SWIFT_TEST:-0}" = 1 ]; then
        printf '\n==> swift test --sanitize=%s (scratch %s)\n' "$kind" "$scratch"
        t=$(date +%s)
        env "${common_env[@]}" swift test -c release -Xswiftc -enable-testing --sanitize="$kind" --scratch-path "$scratch" "$@"
        say "$kind: swift test passed in $(( $(date +%s) - t )) s"
    fi
done
say "all passed (${kinds[*]})"
