#!/usr/bin/env bash
# bench-vs-pytorch.sh: libast against PyTorch (CPU, 2 threads each) doing the same work, side by
# side in one run. A benchmark (a program that prints figures), not a test.
#
#   scripts/bench-vs-pytorch.sh
#
# Installs CPU PyTorch (the default wheel from PyPI) into a venv made from /usr/bin/python3
# (apt-get installs python3-venv first when it is missing and we are root), builds ast-bench,
# then runs every case once per round on each side, interleaved (libast first in odd rounds,
# PyTorch first in even rounds), and prints each figure and the ratio PyTorch time / libast time
# of the same round. The cases are listed in Sources/ast-bench/Cases.swift; the PyTorch side is
# scripts/bench_pytorch.py. Nothing is printed as a table unless every case ran on both sides.
#
# Environment:
#   BENCH_ROUNDS   rounds (default 2, at least 2; from 6 on, each case's median ratio gets a 95 %
#                  interval)
#   BENCH_CASES    space-separated subset of the cases (default all)
#   BENCH_VENV     the venv (default .build/bench-venv)
#   BENCH_WRAP     a command prefix for each measuring process, e.g. a script that pauses other
#                  work on the machine while it runs (default none)
#   BENCH_THREADS  threads on both sides (default 2)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${BENCH_ROUNDS:-2}"
threads="${BENCH_THREADS:-2}"
venv="${BENCH_VENV:-$root/.build/bench-venv}"
read -r -a wrap <<< "${BENCH_WRAP:-}"
all_cases="train-step mtt-ipc1 mtt-ipc1-kept mtt-ipc10 ast-ipc1 ast-ipc10 expert-mtt expert-ast eval-10 eval-100"
read -r -a cases <<< "${BENCH_CASES:-$all_cases}"
fail() { echo "bench-vs-pytorch: $*" >&2; exit 1; }
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 2 ]] || fail "BENCH_ROUNDS=$rounds: need at least 2 rounds"
for c in "${cases[@]}"; do [[ " $all_cases " == *" $c "* ]] || fail "unknown case '$c' (known: $all_cases)"; done

# --- PyTorch into a venv ------------------------------------------------------------------
python=/usr/bin/python3
[ -x "$python" ] || fail "$python not found (install python3)"
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing python3-venv" >&2
        apt-get install -y -q python3-venv >&2 || fail "apt-get install python3-venv failed"
    else
        fail "python3 has no venv/ensurepip; install python3-venv (as root: apt-get install python3-venv)"
    fi
fi
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "== installing PyTorch (CPU, default wheel from PyPI) into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "could not create the venv $venv"
    if ! "$venv/bin/pip" install -q torch >&2; then
        fail "could not install PyTorch from PyPI into $venv (network? disk space?); no figures printed"
    fi
    "$venv/bin/python" -c 'import torch' || fail "PyTorch was installed into $venv but does not import"
fi
torch_version="$("$venv/bin/python" -c 'import torch; print(torch.__version__)')"

# --- libast --------------------------------------------------------------------------------
echo "== building ast-bench (release)" >&2
swift build -c release --product ast-bench >&2 || fail "swift build of ast-bench failed"
bench="$root/.build/release/ast-bench"
libast_version="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
blas_info="$(AST_NUM_THREADS="$threads" "$bench" --case info)" || fail "ast-bench --case info failed"

# --- measuring ------------------------------------------------------------------------------
declare -A lib torch
# One case on one side: prints the RESULT line's seconds, images/s and peak RSS ("s ips mib").
measure() {
    local side="$1" case="$2" out
    if [ "$side" = libast ]; then
        out="$(AST_NUM_THREADS="$threads" "${wrap[@]}" "$bench" --case "$case")" || fail "ast-bench --case $case failed"
    else
        out="$("${wrap[@]}" "$venv/bin/python" "$root/scripts/bench_pytorch.py" --case "$case" --threads "$threads")" \
            || fail "bench_pytorch.py --case $case failed"
    fi
    local line
    line="$(grep "^RESULT $case " <<< "$out")" || fail "$side $case printed no RESULT line: $out"
    awk '{ print $3, $4, $5 }' <<< "$line"
}
sgemm=()
for ((r = 1; r <= rounds; r++)); do
    sides=(libast torch)
    ((r % 2 == 0)) && sides=(torch libast)
    read -r _ rate _ < <(measure libast sgemm)
    sgemm+=("$rate")
    echo "round $r: sgemm 2048 on $threads workers $rate GFLOP/s" >&2
    for c in "${cases[@]}"; do
        for side in "${sides[@]}"; do
            v="$(measure "$side" "$c")"
            if [ "$side" = libast ]; then lib[$c,$r]="$v"; else torch[$c,$r]="$v"; fi
            echo "round $r: $side $c: $v (seconds, images/s, peak RSS MiB)" >&2
        done
    done
done

# --- the table --------------------------------------------------------------------------------
describe() {
    case "$1" in
        train-step) echo "training step, ConvNet-3 w128, 3x32x32, batch 256 (img/s)";;
        mtt-ipc1) echo "MTT iteration, 3x32x32 w128, ipc 1 (batch 10, N 50) (s)";;
        mtt-ipc1-kept) echo "  the same, libast keeping all 50 step graphs (activation_mib 2048) (s)";;
        mtt-ipc10) echo "MTT iteration, 3x32x32 w128, ipc 10 (batch 100, N 30) (s)";;
        ast-ipc1) echo "AST iteration (momentum, intermediate target, DSA), ipc 1, N 50 (s)";;
        ast-ipc10) echo "AST iteration (momentum, intermediate target, DSA), ipc 10, N 30 (s)";;
        expert-mtt) echo "MTT expert epoch, Fashion-MNIST 28x28 w128, batch 256, DSA (img/s)";;
        expert-ast) echo "AST expert epoch (+ gradient penalty), Fashion-MNIST w128, DSA (img/s)";;
        eval-10) echo "evaluation training, 300 epochs on 10 images, DSA (s)";;
        eval-100) echo "evaluation training, 300 epochs on 100 images, DSA (s)";;
    esac
}
echo
echo "libast $libast_version vs PyTorch $torch_version, $threads threads each, $rounds rounds interleaved; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "libast: $blas_info"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo
# Column widths: a figure or a ratio ("1.23x") per round.
fw=$((rounds * 7 > 21 ? rounds * 7 : 21)) rw=$((rounds * 6 > 13 ? rounds * 6 : 13))
dashes() { printf -- '-%.0s' $(seq 1 "$1"); }
printf "| %-72s | %-${fw}s | %-${fw}s | %-${rw}s | %-17s |\n" "work (figure per round)" "libast" "PyTorch" "ratio" "peak RSS MiB"
printf '|%s|%s|%s|%s|%s|\n' "$(dashes 74)" "$(dashes $((fw + 2)))" "$(dashes $((fw + 2)))" "$(dashes $((rw + 2)))" "$(dashes 19)"
for c in "${cases[@]}"; do
    l="" t="" q="" lm=0 tm=0
    for ((r = 1; r <= rounds; r++)); do
        read -r ls li lmib <<< "${lib[$c,$r]}"
        read -r ts ti tmib <<< "${torch[$c,$r]}"
        if [[ "$(describe "$c")" == *"(img/s)" ]]; then
            l+="$(awk -v v="$li" 'BEGIN { printf "%.0f", v }') "; t+="$(awk -v v="$ti" 'BEGIN { printf "%.0f", v }') "
        else
            l+="$(awk -v v="$ls" 'BEGIN { printf "%.2f", v }') "; t+="$(awk -v v="$ts" 'BEGIN { printf "%.2f", v }') "
        fi
        q+="$(awk -v a="$ts" -v b="$ls" 'BEGIN { printf "%.2f", a / b }')x "
        lm="$(awk -v a="$lm" -v b="$lmib" 'BEGIN { printf "%.0f", (b > a ? b : a) }')"
        tm="$(awk -v a="$tm" -v b="$tmib" 'BEGIN { printf "%.0f", (b > a ? b : a) }')"
    done
    printf "| %-72s | %-${fw}s | %-${fw}s | %-${rw}s | %-17s |\n" "$(describe "$c")" "${l% }" "${t% }" "${q% }" "$lm / $tm"
done
echo
echo "ratio = PyTorch time / libast time in the same round (above 1: libast faster); peak RSS: the"
echo "largest over the rounds of the measuring process's peak resident memory, libast / PyTorch."
# On a shared machine other load slows single rounds (and the two sides unevenly): the median of
# the per-round ratios, with a distribution-free interval (order statistics of the sorted ratios;
# needs at least 6 rounds for 95 %), is the figure to quote.
echo
echo "median ratio over the $rounds rounds [interval of the median, its coverage]:"
for c in "${cases[@]}"; do
    ratios=""
    for ((r = 1; r <= rounds; r++)); do
        read -r ls _ <<< "${lib[$c,$r]}"
        read -r ts _ <<< "${torch[$c,$r]}"
        ratios+="$(awk -v a="$ts" -v b="$ls" 'BEGIN { printf "%.6f", a / b }') "
    done
    summary="$(tr ' ' '\n' <<< "$ratios" | grep . | sort -g | awk '
        { x[NR] = $1 }
        END {
            n = NR
            median = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
            # Largest k with P(Binomial(n, 1/2) <= k - 1) <= 0.025: [x_k, x_(n+1-k)] covers the
            # median with probability 1 - 2 P(B <= k - 1).
            p = 0.5 ^ n; cdf = 0; k = 0
            for (j = 0; j < n; j++) { if (cdf + p > 0.025) break; cdf += p; k = j + 1; p = p * (n - j) / (j + 1) }
            if (k >= 1) printf "%.2fx [%.2fx, %.2fx; %.1f %%]", median, x[k], x[n + 1 - k], 100 * (1 - 2 * cdf)
            else printf "%.2fx [no 95 %% interval from %d rounds]", median, n
        }')"
    printf "  %-72s %s\n" "$(describe "$c")" "$summary"
done
echo "sgemm 2048x2048x2048 split over libast's $threads workers: ${sgemm[*]} GFLOP/s"
if [[ " ${cases[*]} " == *" mtt-ipc10 "* ]]; then
    # Work of one ipc-10 iteration: N·B·(9F − 3F0), F = forward FLOPs per 3x32x32 image of
    # ConvNet-3 w128 (convs and the classifier), F0 = the first convolution's share.
    for ((r = 1; r <= rounds; r++)); do
        read -r ls _ <<< "${lib[mtt-ipc10,$r]}"
        awk -v s="$ls" -v g="${sgemm[$((r - 1))]}" -v r="$r" 'BEGIN {
            f0 = 2 * 32 * 32 * 128 * 27; f1 = 2 * 16 * 16 * 128 * 1152; f2 = 2 * 8 * 8 * 128 * 1152; fc = 2 * 2048 * 10
            work = 30 * 100 * (9 * (f0 + f1 + f2 + fc) - 3 * f0)
            printf "MTT ipc 10 iteration, round %d: %.2f TFLOP in %.2f s = %.1f GFLOP/s = %.0f %% of the sgemm rate %.1f\n", r, work / 1e12, s, work / s / 1e9, 100 * work / s / 1e9 / g, g
        }'
    done
fi
