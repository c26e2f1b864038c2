"""PyTorch / MTT interop: MTT's expert replay buffers in and out of libast trajectory stores,
and distilled sets into torch. PyTorch is optional: it is imported only by the functions that
need it (`pip install torch`).

MTT (github.com/GeorgeCazenavette/mtt-distillation, buffer.py) saves experts with
`torch.save(trajectories, "replay_buffer_N.pt")`: a list of experts, each a list of the
parameters after every epoch (epoch 0 = the initial network), each a list of tensors in
`ConvNet.parameters()` order: per block conv weight (W, C, 3, 3), conv bias (W,), norm weight
(W,), norm bias (W,), then classifier weight (K, F) and bias (K,). libast's ConvNet has the
same parameters in the same order (Network.layout), so the numbers carry over unchanged.

    import libast, libast.mtt
    net = libast.Network(channels=3, image_size=32, classes=10, width=128, depth=3)
    libast.mtt.import_buffer("buffers/CIFAR10/ConvNet", "experts-mtt", net)   # all replay_buffer_*.pt
    cfg = libast.Config(preset="cifar10-ipc10", **{"experts.dir": "experts-mtt"})
    ...                                                                       # distil from them
    libast.mtt.export_buffer("out/experts", "replay_buffer_0.pt")             # and back

A distilled set into torch, in one line:

    images, labels, syn_lr, soft_labels = libast.mtt.load_distilled("out/distilled.safetensors")
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _safetensors
from .api import Config, Network

__all__ = ["import_buffer", "export_buffer", "load_distilled", "TorchDistilled", "store_network_description"]

STORE_FORMAT = "libast-trajectory/1"
IMPORTED_OPTIMIZER = "imported from an MTT replay buffer"

PathLike = Union[str, "os.PathLike[str]"]


def _torch() -> Any:
    try:
        import torch  # optional dependency, imported only here
    except ImportError:
        raise ImportError("libast.mtt needs PyTorch for .pt files and torch tensors: pip install torch") from None
    return torch


def _network(network: Union[Network, Config, dict]) -> Network:
    if isinstance(network, Network):
        return network
    if isinstance(network, Config):
        return Network(network)
    if isinstance(network, dict):
        return Network(**network)
    raise ValueError(f"network must be a libast.Network, Config or dict of network settings, got {type(network).__name__}")


def store_network_description(network: Union[Network, Config, dict]) -> str:
    """The "network" metadata a trajectory store holds for this network (what a run's network
    is compared with), e.g. "convnet channels=1 size=28 classes=10 width=16 depth=3
    norm=instance pool=average"."""
    net = _network(network)
    with net.config() as cfg:
        norm = ("none", "instance", "batch")[cfg["network.norm"]]
        pool = ("average", "max")[cfg["network.pool"]]
        return (f"convnet channels={cfg['network.channels']} size={cfg['network.image_size']} "
                f"classes={cfg['network.classes']} width={cfg['network.width']} depth={cfg['network.depth']} "
                f"norm={norm} pool={pool}")


def _layout_text(net: Network) -> str:
    return ",".join(f"{t.name}:{'x'.join(str(d) for d in t.shape)}" for t in net.layout)


def _buffer_paths(buffers: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    """A directory -> its replay_buffer_N.pt in N order; a file -> itself; a list -> each."""
    if isinstance(buffers, (str, os.PathLike)):
        path = os.fspath(buffers)
        if os.path.isdir(path):
            found = glob.glob(os.path.join(path, "replay_buffer_*.pt"))
            number = lambda p: int(re.findall(r"(\d+)\.pt$", p)[0]) if re.findall(r"(\d+)\.pt$", p) else -1  # noqa: E731
            found.sort(key=number)
            if not found:
                raise FileNotFoundError(f"{path}: no replay_buffer_*.pt files")
            return found
        return [path]
    return [os.fspath(p) for p in buffers]


def _load_pt(path: str) -> Any:
    torch = _torch()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def _complete_experts(store: str) -> List[Tuple[int, str]]:
    """(index, path) of the complete expert files of a store directory, by index."""
    if not os.path.isdir(store):
        return []
    found = []
    for name in os.listdir(store):
        m = re.fullmatch(r"expert_(\d+)\.safetensors", name)
        if m:
            found.append((int(m.group(1)), os.path.join(store, name)))
    return sorted(found)


def _flatten_expert(expert: Any, net: Network, where: str) -> np.ndarray:
    """One MTT expert (list of epochs, each a list of tensors) -> float32 (epochs + 1, P),
    checked against the network's layout."""
    torch = _torch()
    layout = net.layout
    if not isinstance(expert, (list, tuple)) or len(expert) < 2:
        raise ValueError(f"{where}: an expert must be a list of at least 2 epochs of parameters "
                         f"(got {type(expert).__name__}{' of length ' + str(len(expert)) if isinstance(expert, (list, tuple)) else ''})")
    rows = np.empty((len(expert), net.parameter_count), np.float32)
    for e, params in enumerate(expert):
        here = f"{where}, epoch {e}"
        if not isinstance(params, (list, tuple)) or not all(isinstance(p, torch.Tensor) for p in params):
            raise ValueError(f"{here}: expected a list of torch tensors (MTT's ConvNet.parameters()), got {type(params).__name__}")
        if len(params) != len(layout):
            raise ValueError(f"{here}: {len(params)} tensors, but the network ({store_network_description(net)}) has "
                             f"{len(layout)}: {', '.join(t.name for t in layout)}; "
                             f"set network.depth / network.norm to the buffer's (MTT's default: depth 3, instancenorm)")
        for t, p in zip(layout, params):
            shape = tuple(p.shape)
            if shape != t.shape:
                hint = ""
                if t.name == "conv0.weight" and len(shape) == 4:
                    hint = (f"; the buffer's network has width {shape[0]} and {shape[1]} input channels: "
                            f"set network.width={shape[0]}, network.channels={shape[1]}")
                elif t.name == "classifier.weight" and len(shape) == 2:
                    hint = (f"; the buffer's classifier has {shape[0]} classes and {shape[1]} features: "
                            f"check network.classes and network.image_size")
                raise ValueError(f"{here}: {t.name} has shape {shape}, the network expects {t.shape}{hint}")
            rows[e, t.offset:t.offset + t.count] = p.detach().to("cpu", torch.float32).reshape(-1).numpy()
    if not np.isfinite(rows).all():
        raise ValueError(f"{where}: holds NaN or infinite parameters")
    return rows


def import_buffer(buffers: Union[PathLike, Sequence[PathLike], list], store: PathLike,
                  network: Union[Network, Config, dict], *, source: str = "mtt") -> int:
    """Adds MTT experts to a libast trajectory store and returns the number of experts in it.

    buffers: a replay_buffer_N.pt path, a list of them, a directory (all its replay_buffer_*.pt
    in N order), or an already loaded list of experts. network: the libast network the experts
    belong to (a Network, a Config or a dict of network settings); every tensor's shape is
    checked against its layout, and a mismatch is a ValueError naming the tensor and the setting
    to change. New experts are numbered after those already in the store; the store's existing
    experts must be for the same network and number of epochs. `source` is recorded as the
    store's dataset fingerprint ("imported:<source>"). Point a run at the store with the
    setting experts.dir."""
    net = _network(network)
    store = os.fspath(store)
    if isinstance(buffers, list) and (not buffers or not isinstance(buffers[0], (str, os.PathLike))):
        loaded = [("experts", buffers)]
    else:
        loaded = [(p, _load_pt(p)) for p in _buffer_paths(buffers)]
    os.makedirs(store, exist_ok=True)
    existing = _complete_experts(store)
    identity = {"format": STORE_FORMAT, "network": store_network_description(net), "layout": _layout_text(net),
                "parameters": str(net.parameter_count)}
    epochs: Optional[int] = None
    if existing:
        _, first_meta = _safetensors.read(existing[0][1])
        for key, value in identity.items():
            if first_meta.get(key) != value:
                raise ValueError(f"{existing[0][1]}: the store's {key} is {first_meta.get(key)!r}, the network's is {value!r}; "
                                 f"import into another directory")
        epochs = int(first_meta.get("epochs", "0"))
        identity.update({k: first_meta[k] for k in ("dataset_fingerprint", "optimizer", "seed") if k in first_meta})
    else:
        identity.update({"dataset_fingerprint": f"imported:{source}", "optimizer": IMPORTED_OPTIMIZER, "seed": "0"})
    next_index = existing[-1][0] + 1 if existing else 0
    count = len(existing)
    for path, experts in loaded:
        if not isinstance(experts, (list, tuple)) or not experts:
            raise ValueError(f"{path}: an MTT replay buffer is a non-empty list of experts, got {type(experts).__name__}")
        for i, expert in enumerate(experts):
            rows = _flatten_expert(expert, net, f"{path}: expert {i}")
            if epochs is None:
                epochs = rows.shape[0] - 1
            if rows.shape[0] - 1 != epochs:
                raise ValueError(f"{path}: expert {i} has {rows.shape[0] - 1} epochs, the store's experts have {epochs}")
            metadata = dict(identity, epochs=str(epochs), expert_index=str(next_index),
                            completed_epochs=str(epochs), test_accuracies="[]")
            target = os.path.join(store, f"expert_{next_index:05d}.safetensors")
            _safetensors.write(target, [("trajectory", rows), ("test_accuracy", np.zeros(0, np.float64))], metadata)
            next_index += 1
            count += 1
    return count


def export_buffer(store: PathLike, path: PathLike, network: Union[Network, Config, dict, None] = None) -> int:
    """Writes a trajectory store's complete experts as one MTT replay buffer (torch.save of a
    list of experts, each a list of per-epoch lists of tensors in MTT's ConvNet order) and
    returns the number of experts. With `network`, the store's layout must be the network's."""
    torch = _torch()
    files = _complete_experts(os.fspath(store))
    if not files:
        raise FileNotFoundError(f"{os.fspath(store)}: no complete experts (expert_NNNNN.safetensors)")
    layout_text = None
    if network is not None:
        layout_text = _layout_text(_network(network))
    experts = []
    for _, file in files:
        tensors, meta = _safetensors.read(file)
        layout = meta.get("layout", "")
        if layout_text is not None and layout != layout_text:
            raise ValueError(f"{file}: the store's layout {layout!r} is not the network's {layout_text!r}")
        layout_text = layout_text or layout
        if layout != layout_text:
            raise ValueError(f"{file}: its layout differs from the store's other experts")
        slots = []
        for item in layout.split(","):
            name, _, dims = item.partition(":")
            slots.append((name, tuple(int(d) for d in dims.split("x"))))
        trajectory = tensors.get("trajectory")
        total = sum(int(np.prod(s)) for _, s in slots)
        if trajectory is None or trajectory.ndim != 2 or trajectory.shape[1] != total:
            raise ValueError(f"{file}: 'trajectory' must be [epochs + 1, {total}]")
        epochs = []
        for row in trajectory.astype(np.float32):
            params, at = [], 0
            for _, shape in slots:
                n = int(np.prod(shape))
                params.append(torch.from_numpy(row[at:at + n].reshape(shape).copy()))
                at += n
            epochs.append(params)
        experts.append(epochs)
    torch.save(experts, os.fspath(path))
    return len(experts)


class TorchDistilled(NamedTuple):
    """A distilled set as torch tensors (MTT's image_syn, label_syn, syn_lr)."""
    images: Any                 # torch.float32 (N, C, H, W), in the space it was distilled in
    labels: Any                 # torch.int64 (N,)
    syn_lr: float               # the learned step size alpha (the evaluation's learning rate)
    soft_labels: Optional[Any]  # torch.float32 (N, classes) or None


def load_distilled(path: PathLike, space: str = "training") -> TorchDistilled:
    """A distilled.safetensors as torch tensors: (images, labels, syn_lr, soft_labels).
    space "training": the images as distilled (normalised or ZCA-whitened, what the networks
    train on); "pixel": mapped back to pixel space (for viewing)."""
    torch = _torch()
    if space not in ("training", "pixel"):
        raise ValueError(f"space must be 'training' or 'pixel', got {space!r}")
    tensors, _ = _safetensors.read(os.fspath(path))
    key = "images" if space == "training" else "images_pixel_space"
    for needed in (key, "labels", "syn_lr"):
        if needed not in tensors:
            raise ValueError(f"{os.fspath(path)}: no {needed!r} tensor (is it a libast distilled.safetensors?)")
    soft = tensors.get("soft_labels")
    return TorchDistilled(torch.from_numpy(tensors[key].astype(np.float32)),
                          torch.from_numpy(tensors["labels"].astype(np.int64)),
                          float(tensors["syn_lr"].reshape(-1)[0]),
                          torch.from_numpy(soft.astype(np.float32)) if soft is not None else None)
