"""libast: dataset distillation by trajectory matching (AST / MTT), Python binding.

Two layers: `libast._raw` declares the C functions of include/ast.h one to one (ctypes);
this package's classes wrap them with numpy arrays, context managers and one exception type.

    import numpy as np, libast
    with libast.Network(channels=1, image_size=8, classes=3, width=4, depth=2) as net:
        theta = net.init_parameters(seed=0)
        x = np.zeros((2, 1, 8, 8), np.float32)
        loss, grad = net.loss_gradient(theta, x, np.array([0, 2], np.int32))

    # The whole AST pipeline, numpy arrays in, distilled arrays out:
    cfg = libast.Config(preset="quick", **{"data.train_limit": 600})
    with libast.Run(cfg, "out", train=(x_train, y_train), test=(x_test, y_test)) as run:
        result = run.run_all()            # result["distilled"].images, ["evaluation"]

    # One meta-gradient for your own loop:
    r = libast.matching_step(net, theta_t, theta_t_plus_m, syn_images, syn_labels,
                             step_size=0.01, steps=20, inner_momentum=0.9)

    # PyTorch users (torch optional): MTT replay buffers in and out, distilled sets into torch
    import libast.mtt
    libast.mtt.import_buffer("replay_buffer_0.pt", "experts-mtt", net)     # then experts.dir
    images, labels, syn_lr, soft_labels = libast.mtt.load_distilled("out/distilled.safetensors")

Errors raise libast.ASTError(status, message) in Python's terms (settings by their dotted
names; an unknown name raises UnknownSettingError with suggestions); bad numpy arguments raise
ValueError. Any real-valued numpy array is accepted (converted to float32, a copy).

`library_path` is the libast.so this process loaded and `library_found_by` how it was found
($LIBAST_PATH, inside the package, the system loader, or the checkout's build directory).
"""

from ._raw import found_by as library_found_by, path as library_path
from . import mtt
from .api import (ASTError, UnknownSettingError, Bounds, Config, Dataset, Distilled, MatchingResult, Network,
                  Progress, Run, Tensor, abi_version, matching_minibatches, matching_step,
                  status_name, version)

__all__ = ["ASTError", "UnknownSettingError", "mtt", "Bounds", "Config", "Dataset", "Distilled", "MatchingResult", "Network",
           "Progress", "Run", "Tensor", "abi_version", "matching_minibatches", "matching_step",
           "status_name", "version", "library_path", "library_found_by"]
__version__ = "0.2.0"
