#!/usr/bin/env python3
"""Checks for scripts/crash-test.sh: safetensors files read with the standard library only.

    crash-check.py verify DIR...     every *.safetensors under a final name (not a .tmp file)
                                     in DIR (recursively) is whole: 8-byte length, JSON header,
                                     offsets that tile the data exactly, file size = 8 + N + data
    crash-check.py compare A B [--settings-differ-in KEY,...]
                                     A and B (files, or directories compared file by file) hold
                                     the same tensors byte for byte (dtype, shape, data) and the
                                     same metadata; with --settings-differ-in, the metadata's
                                     "settings" JSON may differ in exactly those keys (and must
                                     be equal in every other)
    crash-check.py meta FILE KEY     prints metadata[KEY] (empty if the file is missing)
    crash-check.py temps DIR         lists leftover temporary files (.NAME.tmp.XXXXXX)

Exit status 1 with a message naming the file on any mismatch.
"""
import json, os, struct, sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
         "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}


class Bad(Exception):
    pass


def load(path):
    """(metadata, {name: (dtype, shape, bytes)}) of a complete safetensors file, or raise Bad."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise Bad(f"{path}: {len(blob)} bytes, shorter than the 8-byte prefix")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise Bad(f"{path}: header claims {n} bytes but the file has {len(blob)} (truncated)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Bad(f"{path}: header is not JSON ({e})")
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    tensors, spans = {}, []
    for name, t in header.items():
        dtype, shape, (lo, hi) = t["dtype"], t["shape"], t["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if hi - lo != count * SIZES[dtype] or hi > len(data):
            raise Bad(f"{path}: tensor {name} {dtype}{shape} has offsets [{lo}, {hi}) of {len(data)} data bytes")
        spans.append((lo, hi))
        tensors[name] = (dtype, shape, data[lo:hi])
    end = 0
    for lo, hi in sorted(spans):
        if lo != end:
            raise Bad(f"{path}: data offsets leave a gap or overlap at byte {end}")
        end = hi
    if end != len(data):
        raise Bad(f"{path}: {len(data) - end} trailing bytes after the last tensor (torn write?)")
    return meta, tensors


def final_files(root):
    for d, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith(".safetensors") and not name.startswith("."):
                yield os.path.join(d, name)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "verify":
        count = 0
        for root in args:
            for path in final_files(root):
                load(path)
                count += 1
        print(f"crash-check: {count} safetensors files whole")
    elif cmd == "compare":
        allowed = set()
        if len(args) == 4 and args[2] == "--settings-differ-in":
            allowed = set(args[3].split(","))
            args = args[:2]
        a, b = args
        if os.path.isdir(a):
            fa = sorted(os.path.relpath(p, a) for p in final_files(a))
            fb = sorted(os.path.relpath(p, b) for p in final_files(b))
            if fa != fb:
                raise Bad(f"{a} holds {fa}, {b} holds {fb}")
            pairs = [(os.path.join(a, f), os.path.join(b, f)) for f in fa]
        else:
            pairs = [(a, b)]
        for pa, pb in pairs:
            ma, ta = load(pa)
            mb, tb = load(pb)
            if ta.keys() != tb.keys():
                raise Bad(f"{pa} has tensors {sorted(ta)}, {pb} has {sorted(tb)}")
            for name in ta:
                if ta[name] != tb[name]:
                    raise Bad(f"{pa} and {pb} differ in tensor '{name}'")
            if allowed and "settings" in ma and "settings" in mb:
                sa, sb = json.loads(ma["settings"]), json.loads(mb["settings"])
                differ = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
                if not set(differ) <= allowed:
                    raise Bad(f"{pa} and {pb} differ in settings {differ}, expected only {sorted(allowed)}")
                ma, mb = dict(ma), dict(mb)
                del ma["settings"], mb["settings"]
            if ma != mb:
                keys = sorted(k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k))
                raise Bad(f"{pa} and {pb} differ in metadata {keys}")
        print(f"crash-check: {len(pairs)} file(s) equal byte for byte ({a} vs {b})")
    elif cmd == "meta":
        path, key = args
        print(load(path)[0].get(key, "") if os.path.exists(path) else "")
    elif cmd == "temps":
        for d, _, names in os.walk(args[0]):
            for name in names:
                if name.startswith(".") and ".tmp." in name:
                    print(os.path.join(d, name))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Bad as e:
        print(f"crash-check: FAIL: {e}", file=sys.stderr)
        sys.exit(1)
