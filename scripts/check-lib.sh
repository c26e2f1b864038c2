#!/usr/bin/env bash
# Checks a built libast.so: SONAME, NODELETE, no Swift runtime libraries needed, and only ast_*
# symbols exported, and every function declared in include/ast.h exported.
#
#   scripts/check-lib.sh build/lib/libast.so
set -euo pipefail

lib="${1:?usage: check-lib.sh path/to/libast.so}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { echo "check-lib: FAIL: $*" >&2; exit 1; }

dyn="$(readelf -d "$lib")"
grep -q 'Library soname: \[libast.so\]' <<<"$dyn" || fail "SONAME is not libast.so"
grep -Eq 'FLAGS_1.*NODELETE' <<<"$dyn" || fail "not linked with -z nodelete"
if grep -E 'NEEDED' <<<"$dyn" | grep -q 'libswift'; then
    grep -E 'NEEDED' <<<"$dyn" >&2
    fail "libast.so needs Swift runtime libraries (build with -Xswiftc -static-stdlib)"
fi
echo "check-lib: NEEDED: $(grep NEEDED <<<"$dyn" | sed -E 's/.*\[(.*)\]/\1/' | tr '\n' ' ')"

# Exported = global/weak defined dynamic symbols. (`nm -D --defined-only` also prints a few
# LOCAL dynsym entries, lower-case type letters, e.g. Swift type metadata the linker keeps for
# relocations, and the version node AST_1 (type A); the dynamic linker cannot bind to either.)
exported="$(nm -D --defined-only --extern-only "$lib" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort -u)"
local_count="$(nm -D --defined-only "$lib" | awk '$2 ~ /^[a-z]$/' | wc -l)"
others="$(grep -v '^ast_' <<<"$exported" || true)"
[ -z "$others" ] || fail "symbols other than ast_* exported: $(tr '\n' ' ' <<<"$others")"

declared="$(grep -oE 'AST_API[^(]*\bast_[a-z0-9_]+\(' "$root/include/ast.h" | grep -oE 'ast_[a-z0-9_]+\($' | tr -d '(' | sort -u)"
missing="$(comm -23 <(echo "$declared") <(echo "$exported"))"
extra="$(comm -13 <(echo "$declared") <(echo "$exported"))"
[ -z "$missing" ] || fail "declared in ast.h but not exported: $(tr '\n' ' ' <<<"$missing")"
[ -z "$extra" ] || fail "exported but not declared in ast.h: $(tr '\n' ' ' <<<"$extra")"
echo "check-lib: OK: $(wc -l <<<"$exported") exported symbols, all ast_* and declared in ast.h ($local_count local dynsym entries); no libswift* needed"
