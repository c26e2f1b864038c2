#!/usr/bin/env python3
"""Writes the committed seed corpus fuzz/corpus/<target>/ (small valid files, a few near-misses).

    python3 fuzz/make-seeds.py            # needs numpy; deterministic output

The store target's seeds (a real expert trajectory file and checkpoint of the harness's tiny
network) come from the harness itself: fuzz/run.sh --seeds. Reproducers of findings are added by
hand as fuzz/corpus/<target>/crash-*.
"""
import gzip, io, json, os, struct, zlib
import numpy as np

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


# IDX --------------------------------------------------------------------------------------------
def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload

images = idx(8, [2, 4, 4], bytes(range(32)))
labels = idx(8, [2], bytes([3, 7]))
put("idx", "images-2x4x4", images)
put("idx", "labels-2", labels)
put("idx", "images-2x4x4.gz", gz(images))
put("idx", "labels-2.gz", gz(labels))
put("idx", "rank4", idx(8, [1, 1, 2, 2], bytes(4)))
put("idx", "float32-type", idx(0x0D, [2], bytes(8)))
put("idx", "empty-dim", idx(8, [0, 28, 28], b""))

# CIFAR binary -----------------------------------------------------------------------------------
pix = bytes((i * 7) % 256 for i in range(3072))
put("cifar", "cifar10-1-record", bytes([4]) + pix)
put("cifar", "cifar100-1-record", bytes([3, 42]) + pix)
put("cifar", "cifar10-bad-label", bytes([10]) + pix)

# npy ----------------------------------------------------------------------------------------------
def npy(a, **kw):
    b = io.BytesIO()
    np.lib.format.write_array(b, a, allow_pickle=False, **kw)
    return b.getvalue()

for dt in ["u1", "i1", "<i4", "<i8", "<f4", "<f8", "?"]:
    put("npy", "2x3-" + ("b1" if dt == "?" else dt.strip("<")), npy(np.arange(6).reshape(2, 3).astype(dt)))
put("npy", "scalar-f8", npy(np.array(2.5)))
put("npy", "empty-0x3-f4", npy(np.zeros((0, 3), np.float32)))
put("npy", "strings-U5", npy(np.array(["conv", "w", "bias"])))
put("npy", "fortran-2x2-f4", npy(np.asfortranarray(np.arange(4, dtype=np.float32).reshape(2, 2))))
put("npy", "big-endian-i4", npy(np.arange(3, dtype=">i4")))
put("npy", "version2-f4", npy(np.arange(3, dtype=np.float32), version=(2, 0)))

# npz ----------------------------------------------------------------------------------------------
def npz(compressed, **arrays):
    b = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(b, **arrays)
    return b.getvalue()

tiny = dict(theta=np.arange(6, dtype=np.float32).reshape(2, 3), labels=np.array([0, 1], np.int64),
            param_names=np.array(["conv0.w", "fc.b"]))
put("npz", "stored", npz(False, **tiny))
put("npz", "deflated", npz(True, **tiny))
put("npz", "one-scalar", npz(False, syn_lr=np.array(0.01, np.float32)))

# safetensors --------------------------------------------------------------------------------------
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data

f32 = np.arange(6, dtype="<f4").tobytes()
put("safetensors", "f32-with-metadata", safetensors(
    {"trajectory": ("F32", [2, 3], f32), "test_accuracy": ("F64", [1], np.array([0.5], "<f8").tobytes())},
    {"format": "libast-trajectory/1", "epochs": "1"}))
put("safetensors", "all-int-types", safetensors({
    "a": ("I64", [2], np.array([1, -2], "<i8").tobytes()), "b": ("I32", [1], np.array([3], "<i4").tobytes()),
    "c": ("U8", [3], bytes([1, 2, 3])), "d": ("I8", [1], bytes([255])), "e": ("BOOL", [2], bytes([0, 1])),
    "f": ("U16", [1], bytes([1, 0])), "g": ("I16", [1], bytes([0, 128])), "h": ("U32", [1], bytes(4)),
    "i": ("U64", [1], bytes(8))}))
put("safetensors", "half-types", safetensors({
    "h": ("F16", [2], np.array([1.5, -2], "<f2").tobytes()), "b": ("BF16", [2], bytes([0x80, 0x3f, 0, 0xc0])),
    "e5": ("F8_E5M2", [1], bytes([0x3c]))}))
put("safetensors", "scalar-and-empty", safetensors({"syn_lr": ("F32", [], np.array([0.01], "<f4").tobytes()),
                                                   "none": ("F32", [0, 4], b"")}))
put("safetensors", "empty-header", safetensors({}))

# JSON config files ------------------------------------------------------------------------------
for name, text in {
    "ipc10": '{"distill.ipc": 10}',
    "several": '{"data.train_limit": 600, "network.width": 4, "experts.count": 2, "distill.iterations": 10,'
               ' "experts.kind": "mtt", "distill.learn_soft_labels": true}',
    "wrong-type": '{"distill.ipc": [1, 2]}',
    "unknown-name": '{"no.such.setting": 1}',
    "escapes": '{"data.dir": "/tmp/\\u00e9\\ud83d\\ude00\\n\\"x\\""}',
    "numbers": '[0, -0, 1e308, -1.5E-7, 123456789012345678901234567890, 0.1]',
    "nested": '{"a": {"b": [null, true, false, {"c": []}]}}',
}.items():
    put("json", name + ".json", text.encode())

# gzip / zlib / raw deflate ----------------------------------------------------------------------
text = b"libast gzip seed " * 20
put("gzip", "gzip", gz(text))
put("gzip", "two-members", gz(b"first ") + gz(b"second"))
put("gzip", "zlib", zlib.compress(text))
raw = zlib.compressobj(6, zlib.DEFLATED, -15)
put("gzip", "raw-deflate", raw.compress(text) + raw.flush())
put("gzip", "gzip-padded", gz(text) + bytes(8))
put("gzip", "empty-gzip", gz(b""))
print("seeds written to", root)
