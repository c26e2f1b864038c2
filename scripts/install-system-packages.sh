#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages libast needs when they are missing (as root; otherwise
# prints the command to run): OpenBLAS, zlib and Python headers, and the Fashion-MNIST dataset.
set -euo pipefail
missing=()
for pkg in libopenblas-dev python3-dev zlib1g-dev dataset-fashion-mnist; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    else
        echo "missing packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2
        exit 1
    fi
fi
echo "system packages present: libopenblas-dev python3-dev zlib1g-dev dataset-fashion-mnist"
