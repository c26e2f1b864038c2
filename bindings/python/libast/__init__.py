"""libast: dataset distillation by trajectory matching (AST / MTT), Python binding.

Two layers: `libast._raw` declares the C functions of include/ast.h one to one (ctypes);
this package's classes wrap them with numpy arrays, context managers and one exception type.

    import numpy as np, libast
    with libast.Network(channels=1, image_size=8, classes=3, width=4, depth=2) as net:
        theta = net.init_parameters(seed=0)
        x = np.zeros((2, 1, 8, 8), np.float32)
        loss, grad = net.loss_gradient(theta, x, np.array([0, 2], np.int32))

Errors raise libast.ASTError(status, message); bad numpy arguments raise ValueError.
"""

from ._raw import path as library_path
from .api import (ASTError, Bounds, Config, Dataset, Network, Progress, Tensor, abi_version,
                  status_name, version)

__all__ = ["ASTError", "Bounds", "Config", "Dataset", "Network", "Progress", "Tensor",
           "abi_version", "status_name", "version", "library_path"]
__version__ = "0.1.0"
