#!/usr/bin/env python3
"""Writes a small .npz dataset cut from Fashion-MNIST (standard library only, no numpy):

    scripts/small-npz.py OUT.npz [TRAIN TEST] [IDX_DIR]

the first TRAIN (default 600) training and TEST (default 500) test images as uint8 N×28×28 and
their labels, under the names the npz loader reads (train_images, train_labels, test_images,
test_labels). For runs where loading the whole dataset would dominate, such as
examples/c/pipeline.c under valgrind (scripts/valgrind.sh)."""
import gzip
import os
import struct
import sys
import zipfile

STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_idx(directory: str, stem: str) -> tuple[list[int], bytes]:
    for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = list(struct.unpack(f">{dims}I", data[4:4 + 4 * dims]))
            return shape, data[4 + 4 * dims:]
    raise SystemExit(f"small-npz: {stem}(.gz) not in {directory}")


def npy(shape: list[int], payload: bytes) -> bytes:
    """The .npy v1.0 encoding of a C-ordered uint8 array."""
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({dims}), }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    train, test = (int(argv[1]), int(argv[2])) if len(argv) > 2 else (600, 500)
    directory = argv[3] if len(argv) > 3 else "/usr/share/datasets/fashion-mnist"
    arrays = {}
    for name, stem, count in (("train_images", STEMS[0], train), ("train_labels", STEMS[1], train),
                              ("test_images", STEMS[2], test), ("test_labels", STEMS[3], test)):
        shape, data = read_idx(directory, stem)
        if count > shape[0]:
            raise SystemExit(f"small-npz: {stem} has {shape[0]} items, asked for {count}")
        item = 1
        for d in shape[1:]:
            item *= d
        arrays[name] = npy([count] + shape[1:], data[:count * item])
    tmp = f"{out}.tmp{os.getpid()}"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for name, blob in arrays.items():
            z.writestr(name + ".npy", blob)
    os.replace(tmp, out)
    print(f"small-npz: {out}: {train} training and {test} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
