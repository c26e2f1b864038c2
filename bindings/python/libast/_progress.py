"""Progress reports of long calls, to a callback or a tqdm bar, with cancellation."""

from __future__ import annotations

import ctypes
import math
from typing import Callable, NamedTuple, Optional, Union


from . import _raw
from ._common import _check


_STAGE_NAMES = {_raw.AST_STAGE_EVALUATE: "evaluate", _raw.AST_STAGE_EXPERT_EPOCH: "expert_epoch",
                _raw.AST_STAGE_DISTILL_ITERATION: "distill_iteration",
                _raw.AST_STAGE_CHECKPOINT: "checkpoint",
                _raw.AST_STAGE_EVALUATION_EPOCH: "evaluation_epoch",
                _raw.AST_STAGE_EVALUATED: "evaluated", _raw.AST_STAGE_MESSAGE: "message"}


class Progress(NamedTuple):
    """One ast_progress report. `kind` names the stage ("expert_epoch", "distill_iteration",
    "checkpoint", "evaluation_epoch", "evaluated", "message", "evaluate"); the fields a stage
    does not describe are 0, NaN or None (see include/ast.h, AST_STAGE_*)."""
    stage: int
    step: int
    total: int
    loss: float
    elapsed_seconds: float
    index: int = 0
    count: int = 0
    accuracy: float = math.nan
    accuracy_std: float = math.nan
    step_size: float = math.nan
    start_epoch: int = 0
    message: Optional[str] = None

    @property
    def kind(self) -> str:
        """The stage's name, e.g. "expert_epoch" or "distill_iteration"."""
        return _STAGE_NAMES.get(self.stage, f"stage {self.stage}")


ProgressArg = Union[None, bool, Callable[[Progress], Optional[bool]]]


def _tqdm():
    try:
        from tqdm.auto import tqdm  # optional dependency
        return tqdm
    except ImportError:
        return None


class _ProgressBridge:
    """Turns `progress=` into an ast_progress_fn. Python exceptions raised by a user callback
    cancel the C call and are re-raised after it returns; the CFUNCTYPE object is kept alive
    for the whole call. progress=True shows tqdm bars (one per expert, distillation and
    evaluation model) when tqdm is installed."""

    def __init__(self, progress: ProgressArg, description: str):
        self.error: Optional[BaseException] = None
        self.bar = None
        self.bar_key = None
        self.tqdm = None
        self.user = None
        self.description = description
        if progress is True:
            self.tqdm = _tqdm()
        elif callable(progress):
            self.user = progress
        elif progress not in (None, False):
            raise ValueError("progress must be None, a bool or a callable")
        self.fn = (_raw.ast_progress_fn(self._call) if (self.tqdm is not None or self.user is not None)
                   else ctypes.cast(None, _raw.ast_progress_fn))

    def _show(self, p: Progress) -> None:
        if p.stage in (_raw.AST_STAGE_MESSAGE, _raw.AST_STAGE_EVALUATED, _raw.AST_STAGE_CHECKPOINT):
            if p.stage == _raw.AST_STAGE_EVALUATED:
                self.tqdm.write(f"{p.message}: {100 * p.accuracy:.2f} +- {100 * p.accuracy_std:.2f} %")
            elif p.stage == _raw.AST_STAGE_MESSAGE:
                self.tqdm.write(p.message or "")
            return
        key = {_raw.AST_STAGE_EXPERT_EPOCH: ("expert", p.index),
               _raw.AST_STAGE_DISTILL_ITERATION: ("distill", 0),
               _raw.AST_STAGE_EVALUATION_EPOCH: (p.message, p.index)}.get(p.stage, (self.description, 0))
        if key != self.bar_key:
            if self.bar is not None:
                self.bar.close()
            name = f"{key[0]} {key[1]}" if p.stage != _raw.AST_STAGE_DISTILL_ITERATION else "distill"
            self.bar = self.tqdm(desc=name if p.stage != _raw.AST_STAGE_EVALUATE else self.description,
                                 total=p.total, leave=False)
            self.bar_key = key
        self.bar.total = p.total
        self.bar.update(p.step - self.bar.n)
        if p.stage == _raw.AST_STAGE_DISTILL_ITERATION:
            self.bar.set_postfix(loss=f"{p.loss:.4f}", alpha=f"{p.step_size:.4g}")
        elif p.stage == _raw.AST_STAGE_EXPERT_EPOCH:
            self.bar.set_postfix(test_acc=f"{p.accuracy:.3f}")
        elif p.stage == _raw.AST_STAGE_EVALUATE:
            self.bar.set_postfix(loss=f"{p.loss:.4f}")

    def _call(self, report, _user_data) -> int:
        try:
            r = report.contents
            extended = r.struct_size >= ctypes.sizeof(_raw.ast_progress)
            p = Progress(r.stage, r.step, r.total, r.loss, r.elapsed_seconds,
                         *((r.index, r.count, r.accuracy, r.accuracy_std, r.step_size, r.start_epoch,
                            r.message.decode("utf-8", "replace") if r.message else None)
                           if extended else ()))
            if self.tqdm is not None:
                self._show(p)
            if self.user is not None and self.user(p) is False:
                return 1
            return 0
        except BaseException as e:  # never let an exception unwind through the library
            self.error = e
            return 1

    def finish(self, status: int) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.error is not None:
            raise self.error
        _check(status)
