"""fork(): a process that has used libast's worker threads and then forks (as multiprocessing's
default start method on Linux does) has a child that can use libast (it starts workers of its
own; the parent's did not survive the fork) and gets the same bits as the parent."""

import os
import select
import signal
import warnings

import numpy as np
import pytest

import libast

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform"),
    # ThreadSanitizer stops a forked child of a multi-threaded process that starts a thread
    # ("starting new threads after multi-threaded fork is not supported"); ASan runs this test.
    pytest.mark.skipif("tsan" in os.environ.get("LD_PRELOAD", ""), reason="not under ThreadSanitizer"),
]


def child_result(work, timeout=180.0):
    """Runs work() in a forked child; returns the bytes it produced (raises if it failed or hung)."""
    r, w = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() in a multi-threaded process: what is tested here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            data = work()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([r], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"the forked child produced nothing for {timeout} s (hung?)")
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
    return b"".join(chunks)


def test_forked_child_computes_the_parents_gradient():
    with libast.Network(channels=1, image_size=28, classes=10, width=32, depth=3) as net:
        theta = net.init_parameters(seed=1)
        x = np.random.default_rng(0).standard_normal((16, 1, 28, 28)).astype(np.float32)
        y = np.arange(16) % 10
        loss, grad = net.loss_gradient(theta, x, y)  # the parent's workers have run

        def work():
            for _ in range(3):  # the child's first call starts its workers; later ones reuse them
                child_loss, child_grad = net.loss_gradient(theta, x, y)
            return np.float32(child_loss).tobytes() + child_grad.tobytes()

        data = child_result(work)
        assert np.frombuffer(data[:4], dtype=np.float32)[0] == np.float32(loss)
        assert np.array_equal(np.frombuffer(data[4:], dtype=np.float32), grad)
        # And the parent still works after the fork.
        assert np.array_equal(net.loss_gradient(theta, x, y)[1], grad)
