#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages libast's scripts need when they are missing (as root;
# otherwise prints the command to run). On top of Swift's own documented prerequisites:
#   libopenblas-dev zlib1g-dev    what libast links against
#   python3-dev python3-venv      the system Python and its venv module (the scripts' Python
#                                 steps run in a venv made from /usr/bin/python3: scripts/venv.sh)
#   g++                           the C++ compatibility check of include/ast.h (test.sh)
#   dataset-fashion-mnist         the default dataset (/usr/share/datasets/fashion-mnist)
set -euo pipefail
packages=(libopenblas-dev zlib1g-dev python3-dev python3-venv g++ dataset-fashion-mnist)
missing=()
for pkg in "${packages[@]}"; do
    # "install ok installed", not just known to dpkg (a removed package keeps its record).
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
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
echo "system packages present: ${packages[*]}"
