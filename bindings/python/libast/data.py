"""Dataset: a labelled image set copied into the library."""

from __future__ import annotations

from ctypes import byref, c_char_p, c_int64, c_void_p
from typing import Tuple

import numpy as np

from . import _raw
from ._common import _Handle, _check, _float32, _fp, _ip, _labels, _new_handle


class Dataset(_Handle):
    """ast_dataset: labelled images copied into the library.

        ds = Dataset(images, labels, classes=10)   # images (N, C, H, W) float32, labels (N,)
    """

    _free = staticmethod(_raw.ast_dataset_free)
    _last_error_fn = staticmethod(_raw.ast_dataset_last_error)
    _kind = "Dataset"

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: int):
        """images: (N, C, H, W) or (N, H, W) real numbers (any float or int dtype; converted to
        float32, a copy); labels: (N,) integers in [0, classes)."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = images[:, None, :, :]  # (N, H, W): one channel
        images = _float32("images", images)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W) or (N, H, W), got {images.shape}")
        labels = _labels("labels", labels, images.shape[0])
        label_type = _raw.AST_LABELS_INT32
        n, c, h, w = images.shape
        super().__init__(_new_handle(lambda out: _raw.ast_dataset_create(
            _fp(images), images.size, labels.ctypes.data_as(c_void_p), label_type, labels.size,
            n, c, h, w, int(classes), out)))

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """(count, channels, height, width)."""
        v = [c_int64() for _ in range(5)]
        _check(_raw.ast_dataset_shape(self._handle, *(byref(x) for x in v)))
        return tuple(x.value for x in v[:4])

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def classes(self) -> int:
        """Number of classes (labels are 0 ... classes - 1)."""
        k = c_int64()
        _check(_raw.ast_dataset_shape(self._handle, None, None, None, None, byref(k)))
        return k.value

    @property
    def fingerprint(self) -> str:
        """Content fingerprint: the same pixels, labels and shape give the same string."""
        s = c_char_p()
        _check(_raw.ast_dataset_fingerprint(self._handle, byref(s)))
        return s.value.decode()

    def images(self) -> np.ndarray:
        """A copy of the images, float32 (N, C, H, W)."""
        out = np.empty(self.shape, dtype=np.float32)
        _check(_raw.ast_dataset_copy_images(self._handle, _fp(out), out.size))
        return out

    def labels(self) -> np.ndarray:
        """A copy of the labels, int32 (N,)."""
        out = np.empty(self.shape[0], dtype=np.int32)
        _check(_raw.ast_dataset_copy_labels(self._handle, _ip(out), out.size))
        return out
