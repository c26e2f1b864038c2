"""Run: the whole pipeline (experts, distillation, evaluation, outputs) over one output directory."""

from __future__ import annotations

import os
from ctypes import byref, c_double, c_float, c_int32, c_int64, c_void_p
from typing import Any, Dict, NamedTuple, Optional, Union

import numpy as np

from . import _raw
from ._common import _Handle, _check, _float32, _fp, _int_arg, _ip, _new_handle
from ._progress import ProgressArg, _ProgressBridge
from .config import Config
from .data import Dataset


# ---------------------------------------------------------------------------------------------
# Runs: the whole pipeline


class Distilled(NamedTuple):
    """The distilled set of a run."""
    images: np.ndarray         # (ipc * classes, C, H, W) float32, in `space`
    labels: np.ndarray         # (ipc * classes,) int32, class-major
    step_size: float           # the learned alpha (the evaluation's learning rate)
    iterations: int
    loss_history: np.ndarray   # (iterations,) float32 matching losses
    soft_labels: Optional[np.ndarray] = None  # (ipc * classes, classes) probabilities, if learned


def _as_dataset(name: str, data: Any, classes: int) -> tuple:
    """(Dataset, owned) from a Dataset or an (images, labels) pair of numpy arrays."""
    if isinstance(data, Dataset):
        return data, False
    if isinstance(data, tuple) and len(data) == 2:
        try:
            return Dataset(data[0], data[1], classes=classes), True
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    raise ValueError(f"{name} must be a libast.Dataset or an (images, labels) tuple of numpy arrays")


class Run(_Handle):
    """ast_run: the AST pipeline over one output directory, in resumable steps.

        with libast.Run(libast.Config(preset="quick"), "out") as run:      # data.dataset
            run.run_all()                          # experts, distillation, evaluation, outputs
        with libast.Run(cfg, "out", train=(x, y), test=(xt, yt)) as run:  # numpy arrays in
            run.generate_experts(); d = run.distill(); print(run.evaluate())

    Every step resumes (a rerun continues where the last one stopped); a progress callable
    receives Progress reports and cancels by returning False or raising (the exception is
    re-raised after the library saved its state); progress=True shows tqdm bars if installed.
    """

    _free = staticmethod(_raw.ast_run_free)
    _last_error_fn = staticmethod(_raw.ast_run_last_error)
    _kind = "Run"

    def __init__(self, config: Union[Config, dict, None] = None, output_dir: Union[str, os.PathLike] = "out",
                 *, train: Any = None, test: Any = None, **settings: Any):
        if (train is None) != (test is None):
            raise ValueError("pass both train and test, or neither (then data.dataset is used)")
        own_config = not isinstance(config, Config)
        if own_config:
            if config is not None and not isinstance(config, dict):
                raise ValueError(f"config must be a libast.Config or a dict, got {type(config).__name__}")
            cfg = Config(**(config or {}))
        else:
            cfg = config
        try:
            if own_config:
                cfg.update(settings)
            elif settings:
                raise ValueError("pass either a Config or keyword settings, not both")
            directory = os.fsencode(output_dir)
            if train is None:
                handle = _new_handle(lambda out: _raw.ast_run_create(cfg._handle, directory, out))
            else:
                classes = cfg["network.classes"]
                tr, own_tr = _as_dataset("train", train, classes)
                te, own_te = _as_dataset("test", test, classes)
                try:
                    handle = _new_handle(lambda out: _raw.ast_run_create_with_data(
                        cfg._handle, directory, tr._handle, te._handle, out))
                finally:  # the run copied them
                    if own_tr:
                        tr.close()
                    if own_te:
                        te.close()
        finally:
            if own_config:
                cfg.close()
        super().__init__(handle)
        self.output_dir = os.fsdecode(directory)

    def config(self) -> Config:
        """A new Config holding the run's settings."""
        h = c_void_p()
        _check(_raw.ast_run_get_config(self._handle, byref(h)))
        return Config(_handle=h)

    def generate_experts(self, first: int = 0, count: Optional[int] = None,
                         progress: ProgressArg = True) -> int:
        """Trains experts first ... first+count-1 (count None: up to experts.count - 1),
        skipping finished ones; returns the number of complete experts in the store."""
        first = _int_arg("first", first)
        count = -1 if count is None else _int_arg("count", count)
        bridge = _ProgressBridge(progress, "experts")
        bridge.finish(_raw.ast_run_generate_experts(self._handle, first, count, bridge.fn, None))
        return self.complete_experts

    @property
    def complete_experts(self) -> int:
        """Number of complete experts in the run's trajectory store (experts.dir or <out>/experts)."""
        n = c_int64()
        _check(_raw.ast_run_complete_experts(self._handle, byref(n)))
        return n.value

    def distill(self, progress: ProgressArg = True) -> Distilled:
        """Distils (or resumes from the checkpoint); returns the distilled set."""
        bridge = _ProgressBridge(progress, "distill")
        bridge.finish(_raw.ast_run_distill(self._handle, bridge.fn, None))
        return self.distilled()

    def evaluate(self, progress: ProgressArg = True) -> Dict[str, Any]:
        """The evaluation protocol on the distilled set (and the random-real baseline):
        {"distilled": {"mean", "std", "accuracies"}, "random_real": {...} or None}."""
        bridge = _ProgressBridge(progress, "evaluate")
        bridge.finish(_raw.ast_run_evaluate(self._handle, bridge.fn, None, None, None, None, None))
        return self.evaluation()

    def write_outputs(self) -> None:
        """distilled.safetensors, distilled.png and report.json in the output directory."""
        _check(_raw.ast_run_write_outputs(self._handle))

    def run_all(self, progress: ProgressArg = True) -> Dict[str, Any]:
        """The whole pipeline; returns {"distilled": Distilled, "evaluation": {...}}."""
        bridge = _ProgressBridge(progress, "run")
        bridge.finish(_raw.ast_run_all(self._handle, bridge.fn, None))
        return {"distilled": self.distilled(), "evaluation": self.evaluation()}

    def distilled(self, space: str = "training") -> Distilled:
        """The distilled set; space "training" (preprocessed, as distilled) or "pixel"."""
        spaces = {"training": _raw.AST_IMAGES_TRAINING, "pixel": _raw.AST_IMAGES_PIXEL}
        if space not in spaces:
            raise ValueError(f"space must be one of {', '.join(spaces)}, got {space!r}")
        v = [c_int64() for _ in range(5)]
        _check(_raw.ast_run_distilled_shape(self._handle, *(byref(x) for x in v)))
        n, c, h, w = (x.value for x in v[:4])
        images = np.empty((n, c, h, w), np.float32)
        _check(_raw.ast_run_copy_distilled_images(self._handle, spaces[space], _fp(images), images.size))
        labels = np.empty(n, np.int32)
        _check(_raw.ast_run_copy_distilled_labels(self._handle, _ip(labels), labels.size))
        alpha, iterations = c_float(), c_int64()
        _check(_raw.ast_run_step_size(self._handle, byref(alpha), byref(iterations)))
        count = c_int64()
        _check(_raw.ast_run_loss_history(self._handle, None, 0, byref(count)))
        history = np.empty(count.value, np.float32)
        _check(_raw.ast_run_loss_history(self._handle, _fp(history), history.size, byref(count)))
        classes = v[4].value
        soft = np.empty((n, classes), np.float32)
        present = c_int32()
        _check(_raw.ast_run_copy_soft_labels(self._handle, _fp(soft), soft.size, byref(present)))
        return Distilled(images, labels, float(alpha.value), iterations.value, history,
                         soft if present.value else None)

    def _result(self, which: int) -> Optional[dict]:
        mean, std, count = c_double(), c_double(), c_int64()
        status = _raw.ast_run_evaluation(self._handle, which, byref(mean), byref(std), None, 0,
                                         byref(count))
        if status != _raw.AST_OK:
            if which == _raw.AST_RESULT_RANDOM_REAL and "eval.baseline" in self.last_error:
                return None
            _check(status)
        acc = np.empty(count.value, np.float64)
        _check(_raw.ast_run_evaluation(self._handle, which, None, None,
                                       acc.ctypes.data_as(_raw.c_double_p), acc.size, byref(count)))
        return {"mean": mean.value, "std": std.value, "accuracies": acc}

    def evaluation(self) -> Dict[str, Any]:
        """Results of this run's last evaluate()."""
        return {"distilled": self._result(_raw.AST_RESULT_DISTILLED),
                "random_real": self._result(_raw.AST_RESULT_RANDOM_REAL)}

    # --- distributed distillation, one segment at a time (include/ast.h) ---------------------

    def distill_begin(self) -> tuple:
        """Prepares segment-wise distillation (checkpoint or initial set; writes nothing).
        Returns (iteration to compute next, segments R, gradient vector length)."""
        it, r, n = c_int64(), c_int64(), c_int64()
        _check(_raw.ast_run_distill_begin(self._handle, byref(it), byref(r), byref(n)))
        return it.value, r.value, n.value

    def segment_gradient(self, iteration: int, segment: int) -> np.ndarray:
        """Segment `segment` of iteration `iteration` (the current one) as one float32 vector
        [loss, dL/dalpha, dL/dimages..., dL/dsoft_labels...]; the run's state is unchanged."""
        _, _, n = self.distill_begin()
        out = np.empty(n, np.float32)
        _check(_raw.ast_run_segment_gradient(self._handle, _int_arg("iteration", iteration),
                                             _int_arg("segment", segment), _fp(out), out.size))
        return out

    def apply_gradient_sum(self, total: Any, write_checkpoint: bool = True) -> int:
        """Applies the sum of all R segment vectors of the current iteration (divided by R
        here); write_checkpoint in exactly one process. Returns the next iteration."""
        if not isinstance(write_checkpoint, (bool, np.bool_)):
            raise ValueError("write_checkpoint must be a bool")
        _, _, n = self.distill_begin()
        v = _float32("total", total, (n,))
        _check(_raw.ast_run_apply_gradient_sum(self._handle, _fp(v), v.size, int(bool(write_checkpoint))))
        return self.distill_begin()[0]
