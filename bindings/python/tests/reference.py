"""A float64 numpy reference of the ConvNet (MTT's ConvNet), driven by the network's own
layout table, for checking libast's results from Python."""

from __future__ import annotations

import numpy as np

EPS = 1e-5  # GroupNorm / BatchNorm epsilon (PyTorch default)


def conv3x3(x, w, b, pad):
    # x: (N, C, H, W), w: (O, C, 3, 3), b: (O,) -> (N, O, H + 2 pad - 2, W + 2 pad - 2)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = xp.shape
    oh, ow = h - 2, wd - 2
    cols = np.empty((n, c, 3, 3, oh, ow))
    for i in range(3):
        for j in range(3):
            cols[:, :, i, j] = xp[:, :, i:i + oh, j:j + ow]
    return np.einsum("ncijhw,ocij->nohw", cols, w) + b[None, :, None, None]


def normalize(x, gamma, beta, axes):
    # x: (N, C, H, W); statistics over `axes` (biased variance), per-channel affine
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * gamma[None, :, None, None] + beta[None, :, None, None]


def pool2x2(x, kind):
    # x: (N, C, H, W) -> (N, C, H // 2, W // 2), floor like PyTorch
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    return x.mean(axis=(3, 5)) if kind == 0 else x.max(axis=(3, 5))


def forward(theta, images, layout, cfg, margins=None):
    """Logits (N, K) in float64. cfg: dict of the network's config (channels, image_size,
    depth, norm, pool). If `margins` is a list, the smallest distance to a kink of each block
    is appended to it (|pre-ReLU| values; for max pooling also the gap between the two
    largest entries of a window)."""
    theta = np.asarray(theta, dtype=np.float64)
    t = {s.name: theta[s.offset:s.offset + s.count].reshape(s.shape) for s in layout}
    h = np.asarray(images, dtype=np.float64)
    first_pad = 3 if (cfg["channels"] == 1 and cfg["image_size"] == 28) else 1
    for d in range(cfg["depth"]):
        h = conv3x3(h, t[f"conv{d}.weight"], t[f"conv{d}.bias"], first_pad if d == 0 else 1)
        if cfg["norm"] == 1:
            h = normalize(h, t[f"norm{d}.weight"], t[f"norm{d}.bias"], (2, 3))
        elif cfg["norm"] == 2:
            h = normalize(h, t[f"norm{d}.weight"], t[f"norm{d}.bias"], (0, 2, 3))
        if margins is not None:
            margins.append(float(np.abs(h).min()))
        h = np.maximum(h, 0)
        if margins is not None and cfg["pool"] == 1:
            n, c, hh, ww = h.shape
            w = h[:, :, : hh // 2 * 2, : ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2)
            w = np.sort(w.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, hh // 2, ww // 2, 4), axis=-1)
            top = w[..., -1]
            gap = (top - w[..., -2])[top > 0]  # ties at 0 (dead windows) do not move the result
            margins.append(float(gap.min()) if gap.size else np.inf)
        h = pool2x2(h, cfg["pool"])
    h = h.reshape(h.shape[0], -1)
    return h @ t["classifier.weight"].T + t["classifier.bias"]


def cross_entropy(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def loss(theta, images, labels, layout, cfg):
    return cross_entropy(forward(theta, images, layout, cfg), labels)


def kink_margin(theta, images, layout, cfg):
    """Distance of the forward pass to the nearest ReLU / max-pool kink (finite differences
    straddling a kink are meaningless, so tests pick inputs with a comfortable margin)."""
    margins = []
    forward(theta, images, layout, cfg, margins)
    return min(margins)
