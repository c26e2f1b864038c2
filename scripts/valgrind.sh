#!/usr/bin/env bash
# valgrind memcheck over the C examples, against the shipped libast.so (scripts/build-lib.sh:
# release, Swift runtime linked in statically, exactly what C and Python users load).
#
#   scripts/valgrind.sh
#
# Installs valgrind when missing (apt-get, as root), compiles examples/c/{demo,threads,misuse,
# pipeline,soak}.c with -O1 -g and runs each under (the pipeline example on 200 training and
# 100 test images cut from Fashion-MNIST into an .npz by scripts/small-npz.py: with the whole
# dataset loaded and its 600 + 500-image subset it took 25 minutes on 2 busy cores)
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
#            --suppressions=scripts/valgrind.supp
# Each must exit 0 with "ERROR SUMMARY: 0 errors" (no invalid read or write, no use of
# uninitialised memory, no bad free) and 0 bytes definitely and indirectly lost. "Possibly lost"
# and "still reachable" blocks are printed, not failed: they are the Swift runtime's metadata
# caches and libast's worker threads' state, made once per process and kept on purpose until
# exit (README "Leaks"). The soak runs AST_VALGRIND_SOAK="cycles threads" (default "3 2") with
# its RSS check off (valgrind's allocator decides the RSS).
#
# Environment: AST_BUILD_DIR (default build; libast.so is built there when missing),
# AST_VALGRIND_PROGRAMS (default "demo threads misuse pipeline soak"), AST_VALGRIND_SOAK.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${AST_BUILD_DIR:-$root/build}"
programs="${AST_VALGRIND_PROGRAMS:-demo threads misuse pipeline soak}"
soak="${AST_VALGRIND_SOAK:-3 2}"

say() { printf 'valgrind.sh: %s\n' "$*"; }
die() { printf 'valgrind.sh: FAIL: %s\n' "$*" >&2; exit 1; }

if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind
    else
        die "valgrind missing (run: sudo apt-get install -y valgrind)"
    fi
fi
say "$(valgrind --version)"
[ -f "$build/lib/libast.so" ] || scripts/build-lib.sh

bin="$build/valgrind-bin"
mkdir -p "$bin"
work="$(mktemp -d "${TMPDIR:-/tmp}/libast-valgrind.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
for prog in $programs; do
    gcc -std=c99 -Wall -Wextra -pedantic -Werror -O1 -g -Iinclude "examples/c/$prog.c" \
        -L"$build/lib" -last -lm -lpthread -Wl,-rpath,"$build/lib" -o "$bin/$prog"
    args=()
    case "$prog" in
        pipeline)
            python3 scripts/small-npz.py "$work/small.npz" 200 100 >/dev/null
            args=("$work/pipeline" "$work/small.npz") ;;
        soak) read -r cycles threads <<<"$soak"; args=("$cycles" "$threads" 1 0) ;;
    esac
    log="$work/$prog.log"
    t=$(date +%s)
    status=0
    env AST_NUM_THREADS=2 valgrind --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=40 \
        --suppressions="$root/scripts/valgrind.supp" "$bin/$prog" "${args[@]}" >"$log" 2>&1 || status=$?
    [ "$prog" != misuse ] || rm -rf "$(sed -n 's/^misuse: run directory //p' "$log")"
    [ "$status" -eq 0 ] || { tail -n 120 "$log"; die "$prog: exit status $status under memcheck"; }
    grep -Eq '== ERROR SUMMARY: 0 errors' "$log" || { cat "$log"; die "$prog: memcheck errors"; }
    for kind in definitely indirectly; do
        ! grep -Eq "== +$kind lost: [1-9]" "$log" || { cat "$log"; die "$prog: bytes $kind lost"; }
    done
    summary="$(grep -Eo '(definitely|indirectly|possibly) lost: [0-9,]+ bytes' "$log" | paste -sd';' - | sed 's/;/; /g')"
    say "$prog clean in $(( $(date +%s) - t )) s: 0 errors; ${summary:-no leaks at all}; $(grep -E '^[a-z]+: ' "$log" | grep -v '^==' | tail -n 1)"
done
say "all passed ($programs) in $(( $(date +%s) - start )) s"
