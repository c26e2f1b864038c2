"""The whole AST pipeline from Python on a small Fashion-MNIST subset: numpy arrays in (read
from the IDX files with numpy), distilled numpy arrays out. Well under a minute on 2 cores.

    scripts/build-lib.sh && pip install -e bindings/python
    python3 examples/python/pipeline.py [output-directory]     (needs dataset-fashion-mnist)
"""

import gzip
import sys
import tempfile
from pathlib import Path

import numpy as np

import libast

FASHION = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split: str, limit: int) -> tuple:
    """The first `limit` images of a split as (N, 1, 28, 28) float32 in [0, 1], int64 labels."""
    images = read_idx(FASHION / f"{split}-images-idx3-ubyte.gz")[:limit]
    labels = read_idx(FASHION / f"{split}-labels-idx1-ubyte.gz")[:limit]
    return (images.astype(np.float32)[:, None] / 255.0), labels.astype(np.int64)


def main() -> None:
    if not FASHION.is_dir():
        sys.exit(f"python pipeline: {FASHION} not found: apt-get install dataset-fashion-mnist")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="ast-py-"))
    train, test = load("train", 3000), load("t10k", 500)
    print(f"python pipeline: numpy in: train {train[0].shape} {train[0].dtype}, test {test[0].shape}")

    # The `quick` preset made tiny; the library picks a class-balanced 600-image subset.
    cfg = libast.Config(preset="quick", width=8, experts_count=2, experts_epochs=3,
                        distill_syn_steps=10, distill_max_start_epoch=2, distill_iterations=10,
                        distill_checkpoint_every=5, eval_models=2, eval_epochs=30,
                        **{"data.train_limit": 600, "data.test_limit": 500})
    print(f"python pipeline: settings: ipc {cfg.distill.ipc}, N {cfg.distill.syn_steps}, "
          f"{cfg.experts.count} {cfg.experts.kind} experts, inner momentum {cfg.distill.inner_momentum}")

    events = []
    with libast.Run(cfg, out, train=train, test=test) as run:
        # Experts in two ranges (two processes could do one each), then the rest of the job.
        run.generate_experts(first=0, count=1, progress=events.append)
        print(f"python pipeline: {run.complete_experts} expert(s) after the first range")

        # Cancel the distillation from the callback after iteration 4; the rerun resumes.
        try:
            run.distill(progress=lambda p: not (p.kind == "distill_iteration" and p.step == 4))
        except libast.ASTError as e:
            print(f"python pipeline: cancelled -> ASTError status {e.status} "
                  f"({libast.status_name(e.status)}), checkpoint at iteration {run.distilled().iterations}")
        result = run.run_all(progress=events.append)  # finishes experts, resumes distillation

    d = result["distilled"]
    print(f"python pipeline: distilled arrays out: images {d.images.shape} {d.images.dtype}, "
          f"labels {d.labels.tolist()}, alpha {d.step_size:.5f}, {d.iterations} iterations")
    losses = [e.loss for e in events if e.kind == "distill_iteration"]
    print(f"python pipeline: matching loss {losses[0]:.4f} -> {losses[-1]:.4f} over iterations "
          f"{[e.step for e in events if e.kind == 'distill_iteration']}")
    ev = result["evaluation"]
    print(f"python pipeline: evaluation: distilled {100 * ev['distilled']['mean']:.2f} +- "
          f"{100 * ev['distilled']['std']:.2f} %, random real {100 * ev['random_real']['mean']:.2f} +- "
          f"{100 * ev['random_real']['std']:.2f} %")
    assert d.images.shape == (10, 1, 28, 28) and np.isfinite(d.images).all()
    print(f"python pipeline: outputs: {sorted(p.name for p in out.iterdir() if p.is_file())}")

    # One meta-gradient with the step-level API, on the distilled images.
    with libast.Network(channels=1, image_size=28, classes=10, width=8, depth=3) as net:
        theta = net.init_parameters(seed=1)
        target = (theta * 1.01).astype(np.float32)
        r = libast.matching_step(net, theta, target, d.images, d.labels, step_size=d.step_size,
                                 steps=5, inner_momentum=0.9)
        print(f"python pipeline: matching_step: loss {r.loss:.6f}, |dL/dimages| "
              f"{np.linalg.norm(r.image_gradient):.6f}, dL/dalpha {r.step_size_gradient:.6f}")
    print("python pipeline: done")


if __name__ == "__main__":
    main()
