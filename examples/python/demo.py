"""A tiny tour of libast from Python: network, dataset, logits, loss and gradient,
Hessian-vector product, evaluation with progress, and error handling.

    scripts/build-lib.sh && pip install -e bindings/python && python3 examples/python/demo.py
"""

import numpy as np

import libast


def main() -> None:
    print(f"python demo: libast {libast.version()} from {libast.library_path}")
    rng = np.random.default_rng(0)
    images = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 2, 1, 0], dtype=np.int64)

    with libast.Network(channels=1, image_size=8, classes=3, width=4, depth=2) as net, \
            libast.Dataset(images, labels, classes=3) as ds:
        print(f"python demo: {net.parameter_count} parameters: "
              + ", ".join(f"{t.name}{list(t.shape)}" for t in net.layout))
        theta = net.init_parameters(seed=42)
        logits = net.logits(theta, images[:2])
        print(f"python demo: logits[0] = {np.array2string(logits[0], precision=5)}")
        loss, grad = net.loss_gradient(theta, images, labels)
        print(f"python demo: loss {loss:.6f}, gradient norm {np.linalg.norm(grad):.6f}")
        v = grad / np.linalg.norm(grad)
        hv = net.hessian_vector_product(theta, images, labels, v)
        print(f"python demo: curvature along the gradient v.Hv = {float(v @ hv):.6f}")

        steps = []
        eval_loss, accuracy = net.evaluate(theta, ds, batch_size=4,
                                           progress=lambda p: steps.append(p.step))
        print(f"python demo: evaluate loss {eval_loss:.6f}, accuracy {accuracy:.3f}, progress at {steps}")

        try:
            net.loss_gradient(theta, images, np.array([0, 1, 2, 7, 1, 0]))
        except libast.ASTError as e:
            print(f"python demo: bad label -> ASTError status {e.status} ({libast.status_name(e.status)}): {e.message}")
        # Any real-valued array is converted (float64 here); a complex one is refused.
        assert np.array_equal(net.logits(theta.astype(np.float64), images), net.logits(theta, images))
        try:
            net.logits(theta, images.astype(np.complex64))
        except ValueError as e:
            print(f"python demo: wrong dtype -> ValueError: {e}")
        loss2, _ = net.loss_gradient(theta, images, labels)
        assert loss2 == loss
        print("python demo: network still usable after errors")
    print("python demo: done")


if __name__ == "__main__":
    main()
