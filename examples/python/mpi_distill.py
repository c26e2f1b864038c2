"""Distillation spread over MPI ranks with mpi4py and libast's step-level API: every rank
computes its share of each iteration's segments (distill.segments = R), the gradients are
gathered on every rank and summed in segment order, and every rank applies the same sum; rank
0 alone writes the checkpoint and the outputs. With --check, rank 0 then distils the same
settings in one process (Run.distill, segments one after another) and compares the bytes.

    apt-get install python3-mpi4py openmpi-bin        (or: pip install mpi4py)
    mpirun -np 2 python3 examples/python/mpi_distill.py OUT [--check] [name=value ...]

Settings: the `quick` preset on a 600-image Fashion-MNIST subset, 2 experts x 3 epochs,
distill.segments = 2, 4 iterations (seconds), then any name=value overrides.
"""

import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

import libast


def settings(overrides: list) -> dict:
    s = {"data.train_limit": 600, "data.test_limit": 200, "experts.count": 2, "experts.epochs": 3,
         "distill.max_start_epoch": 2, "distill.expert_epochs": 1, "distill.syn_steps": 4,
         "distill.iterations": 4, "distill.checkpoint_every": 2, "distill.segments": 2}
    for item in overrides:
        name, _, value = item.partition("=")
        for kind in (int, float, str):
            try:
                s[name] = kind(value)
                break
            except ValueError:
                pass
    return s


def distributed(comm, out: Path, values: dict) -> libast.Distilled:
    rank, size = comm.Get_rank(), comm.Get_size()
    run = libast.Run(libast.Config(preset="quick", **values), out)
    # Experts: rank q trains the experts i with i % size == q into the one store.
    for i in range(rank, values["experts.count"], size):
        run.generate_experts(first=i, count=1, progress=False)
    comm.Barrier()
    iteration, segments, length = run.distill_begin()
    if size > segments:
        raise SystemExit(f"mpi_distill: -np {size} is larger than distill.segments {segments}")
    iterations = values["distill.iterations"]
    while iteration < iterations:
        mine = {r: run.segment_gradient(iteration, r) for r in range(rank, segments, size)}
        gathered = {}
        for part in comm.allgather(mine):
            gathered.update(part)
        total = gathered[0].copy()
        for r in range(1, segments):  # segment order, float32: the bytes of one process
            total += gathered[r]
        iteration = run.apply_gradient_sum(total, write_checkpoint=(rank == 0))
        if rank == 0:
            print(f"mpi_distill: iteration {iteration}/{iterations}: mean loss {total[0] / segments:.6f}", flush=True)
    if rank == 0:
        run.write_outputs()
    return run.distilled()


def main() -> None:
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    args = [a for a in sys.argv[1:] if a != "--check"]
    if not args:
        raise SystemExit(__doc__)
    out, values = Path(args[0]), settings(args[1:])
    try:
        result = distributed(comm, out / "mpi", values)
    except BaseException as e:  # one failing rank must not leave the others waiting
        print(f"mpi_distill: rank {rank}: {e}", file=sys.stderr, flush=True)
        comm.Abort(1)
    if rank != 0:
        return
    print(f"mpi_distill: {size} ranks, {values['distill.segments']} segments: {result.iterations} iterations, "
          f"alpha {result.step_size:.6g}, images {result.images.shape}", flush=True)
    if "--check" in sys.argv:
        single = libast.Run(libast.Config(preset="quick", **values), out / "single")
        single.generate_experts(progress=False)
        one = single.distill(progress=False)
        same = (one.images.tobytes() == result.images.tobytes() and one.step_size == result.step_size
                and one.loss_history.tobytes() == result.loss_history.tobytes())
        print(f"mpi_distill: one process equal to {size} ranks: {'yes' if same else 'NO'}", flush=True)
        if not same:
            comm.Abort(1)
    print("mpi_distill: done", flush=True)


if __name__ == "__main__":
    main()
