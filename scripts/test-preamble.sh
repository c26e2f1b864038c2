# Sourced by crash-test.sh and determinism-test.sh (after they cd to the repository and set
# $python): say/die messages prefixed with the script's name, check = scripts/crash-check.py,
# and $bin = $AST_DISTILL, or the release -enable-testing ast-distill of scripts/test.sh's
# scratch path ($AST_TEST_SCRATCH, default .build), built here when not given.
script_name="$(basename "$0" .sh)"
say() { printf '%s: %s\n' "$script_name" "$*"; }
die() { printf '%s: FAIL: %s\n' "$script_name" "$*" >&2; exit 1; }
check() { "$python" scripts/crash-check.py "$@"; }

if [ -z "${AST_DISTILL:-}" ]; then
    scratch="${AST_TEST_SCRATCH:-$PWD/.build}"
    swift build -c release -Xswiftc -enable-testing --scratch-path "$scratch" --product ast-distill >/dev/null
    AST_DISTILL="$scratch/release/ast-distill"
fi
bin="$AST_DISTILL"
[ -x "$bin" ] || die "no ast-distill at $bin"
