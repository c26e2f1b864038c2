"""One trajectory-matching meta-gradient (matching_step) and the minibatches it draws."""

from __future__ import annotations

import ctypes
from ctypes import byref, c_float
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _raw
from ._common import _check, _fp, _int_arg, _ip, _labels, _seed_arg
from .network import Network


# ---------------------------------------------------------------------------------------------
# Trajectory matching, one step


class MatchingResult(NamedTuple):
    """What matching_step returns: the matching loss, its gradients with respect to the images
    and the step size, and the student's final parameters."""
    loss: float
    image_gradient: np.ndarray          # dL/dimages, shaped like the images
    step_size_gradient: float           # dL/dalpha
    final_parameters: np.ndarray        # theta_N


def matching_minibatches(count: int, batch_syn: int, steps: int, seed: int = 0) -> np.ndarray:
    """The (steps, b) int64 minibatch indices matching_step draws from `seed` (b =
    min(batch_syn, count), 0 = all; rows padded with -1 when a chunk is shorter)."""
    count, batch_syn, steps = (_int_arg(n, v) for n, v in
                               (("count", count), ("batch_syn", batch_syn), ("steps", steps)))
    seed = _seed_arg(seed)
    b = count if batch_syn == 0 else min(batch_syn, count)
    out = np.empty((max(steps, 0), max(b, 0)), np.int64)
    _check(_raw.ast_matching_minibatches(count, batch_syn, steps, int(seed),
                                         out.ctypes.data_as(_raw.c_int64_p), out.size))
    return out


def matching_step(network: Network, start: np.ndarray, target: np.ndarray, images: np.ndarray,
                  labels: np.ndarray, step_size: float, steps: int, batch_syn: int = 0,
                  seed: int = 0, minibatches: Optional[np.ndarray] = None,
                  inner_momentum: float = 0.0, inner_loss_weight: float = 1.0,
                  intermediate: Any = (), augmentation: Optional[str] = None,
                  activation_budget: int = 0) -> MatchingResult:
    """One trajectory-matching meta-gradient (ast_matching_step): unroll `steps` student steps
    from `start` on minibatches of `images` with step size alpha = `step_size` (momentum
    `inner_momentum` > 0: AST's inner loop), L = ||theta_N - target||^2 / ||start - target||^2
    (+ the `intermediate` terms, a sequence of (step, target_k, beta_k)), and its exact
    gradients with respect to the images and alpha.

    minibatches: None (drawn from `seed` like the distiller; see matching_minibatches) or a
    (steps, b) int array of indices with -1 paddings.
    activation_budget: bytes of step graphs kept from the forward unroll instead of
    recomputed (faster, same result; 0 keeps none)."""
    if not isinstance(network, Network):
        raise ValueError(f"network must be a libast.Network, got {type(network).__name__}")
    theta0 = network._parameters(start, "start")
    theta1 = network._parameters(target, "target")
    x = network._images(images)
    n = x.shape[0]
    y = _labels("labels", labels, n)
    steps, batch_syn = _int_arg("steps", steps), _int_arg("batch_syn", batch_syn)
    seed = _seed_arg(seed)
    if isinstance(step_size, bool) or not isinstance(step_size, (int, float, np.integer, np.floating)):
        raise ValueError(f"step_size must be a float, got {type(step_size).__name__}")
    mb_ptr, mb_len, mb = None, 0, None
    if minibatches is not None:
        if not isinstance(minibatches, np.ndarray) or minibatches.dtype.kind not in "iu":
            raise ValueError("minibatches must be a numpy integer array of shape (steps, b)")
        b = n if batch_syn == 0 else min(max(batch_syn, 0), n)
        if minibatches.shape != (steps, b):
            raise ValueError(f"minibatches must have shape ({steps}, {b}), got {minibatches.shape}")
        mb = np.ascontiguousarray(minibatches, dtype=np.int64)
        mb_ptr, mb_len = mb.ctypes.data_as(_raw.c_int64_p), mb.size
    opts = _raw.ast_matching_options()
    opts.struct_size = ctypes.sizeof(_raw.ast_matching_options)
    opts.inner_momentum = float(inner_momentum)
    opts.inner_loss_weight = float(inner_loss_weight)
    opts.activation_budget = _int_arg("activation_budget", activation_budget)
    keep = []  # arrays the options point to, alive during the call
    items = list(intermediate)
    if items:
        try:
            steps_k = np.array([int(s) for s, _, _ in items], np.int64)
            weights_k = np.array([float(w) for _, _, w in items], np.float32)
        except (TypeError, ValueError):
            raise ValueError("intermediate must be a sequence of (step, target, weight)") from None
        targets_k = np.ascontiguousarray(np.stack([network._parameters(t, "intermediate target")
                                                   for _, t, _ in items]))
        keep += [steps_k, weights_k, targets_k]
        opts.intermediate_count = len(items)
        opts.intermediate_targets = _fp(targets_k)
        opts.intermediate_steps = steps_k.ctypes.data_as(_raw.c_int64_p)
        opts.intermediate_weights = _fp(weights_k)
    if augmentation is not None:
        if not isinstance(augmentation, str):
            raise ValueError("augmentation must be a DSA strategy string or None")
        opts.augmentation = augmentation.encode("utf-8")
    loss, d_alpha = c_float(), c_float()
    d_images = np.empty_like(x)
    final = np.empty(network.parameter_count, np.float32)
    _check(_raw.ast_matching_step(network._handle, _fp(theta0), _fp(theta1), theta0.size, _fp(x),
                                  x.size, _ip(y), n, float(step_size), steps, batch_syn, int(seed),
                                  mb_ptr, mb_len, byref(opts), byref(loss), _fp(d_images),
                                  d_images.size, byref(d_alpha), _fp(final), final.size))
    del keep, mb
    return MatchingResult(float(loss.value), d_images, float(d_alpha.value), final)
