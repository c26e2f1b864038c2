"""PyTorch / MTT interop (libast.mtt): replay buffers written with torch in MTT's format are
imported into a trajectory store that a run distils from, exported back unchanged, and checked
against the network; a distilled set loads into torch. Skipped when torch is not installed."""

import numpy as np
import pytest

import libast
import libast.mtt

torch = pytest.importorskip("torch")
nn = torch.nn

NET = dict(channels=1, image_size=8, classes=3, width=4, depth=2)


class MTTConvNet(nn.Module):
    """MTT's ConvNet (networks.py) written out: depth x [conv 3x3 (padding 1, or 3 for 28x28
    one-channel input), GroupNorm(width, width) = instance norm, ReLU, 2x2 average pooling],
    then a linear classifier. Its parameters() order is the replay buffer's order."""

    def __init__(self, channels, image_size, classes, width, depth):
        super().__init__()
        layers, side = [], (32 if image_size == 28 else image_size)
        for d in range(depth):
            layers += [nn.Conv2d(channels if d == 0 else width, width, 3,
                                 padding=3 if channels == 1 and image_size == 28 and d == 0 else 1),
                       nn.GroupNorm(width, width, affine=True), nn.ReLU(inplace=True), nn.AvgPool2d(2, 2)]
            side //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * side * side, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def mtt_buffer(experts, epochs, seed, **net):
    """A replay buffer as MTT's buffer.py saves it: per expert, per epoch, the list of
    parameters (here: a network perturbed a little more at each epoch)."""
    torch.manual_seed(seed)
    buffer = []
    for _ in range(experts):
        model = MTTConvNet(**net)
        timestamps = [[p.detach().clone() for p in model.parameters()]]
        for _ in range(epochs):
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.01 * torch.randn_like(p))
            timestamps.append([p.detach().clone() for p in model.parameters()])
        buffer.append(timestamps)
    return buffer


def tiny_data(n, seed):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3).astype(np.int64)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    for i in range(n):
        x[i, 0, 2 * y[i], :] += 2.0
    return x, y


def test_the_parameter_order_is_mtts():
    """The same numbers give the same logits in MTT's ConvNet and in libast's network."""
    for net_settings in (NET, dict(channels=1, image_size=28, classes=10, width=8, depth=3)):
        model = MTTConvNet(**net_settings)
        with libast.Network(**net_settings) as net:
            assert [tuple(p.shape) for p in model.parameters()] == [t.shape for t in net.layout]
            theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
            side = net_settings["image_size"]
            x = np.random.default_rng(0).standard_normal((5, net_settings["channels"], side, side)).astype(np.float32)
            want = model(torch.from_numpy(x)).detach().numpy()
            np.testing.assert_allclose(net.logits(theta, x), want, rtol=1e-4, atol=1e-4)


def test_import_distil_and_export_round_trip(tmp_path):
    buffer = mtt_buffer(experts=2, epochs=3, seed=0, **NET)
    torch.save(buffer, tmp_path / "replay_buffer_0.pt")
    torch.save(mtt_buffer(experts=1, epochs=3, seed=1, **NET), tmp_path / "replay_buffer_1.pt")
    store = tmp_path / "store"
    with libast.Network(**NET) as net:
        assert libast.mtt.import_buffer(tmp_path, store, net) == 3  # both files, in order
        # The store is what libast itself writes: a run on it distils (experts.dir).
        x, y = tiny_data(30, 1)
        settings = {**{f"network.{k}": v for k, v in NET.items()}, "seed": 3, "experts.count": 3,
                    "experts.epochs": 3, "distill.syn_steps": 4, "distill.max_start_epoch": 2,
                    "distill.iterations": 2, "distill.lr_img": 10.0, "eval.models": 1, "eval.epochs": 2,
                    "experts.dir": str(store)}
        messages = []
        with libast.Run(settings, tmp_path / "run", train=(x, y), test=(x, y)) as run:
            assert run.complete_experts == 3
            run.generate_experts(progress=lambda p: messages.append(p))
            assert not any(p.kind == "expert_epoch" for p in messages)  # imported, not trained
            d = run.distill(progress=lambda p: messages.append(p))
            assert d.iterations == 2 and np.isfinite(d.loss_history).all()
            run.write_outputs()
        assert any("imported:mtt" in (p.message or "") for p in messages)  # other data: said, not refused
        # Back to MTT's format: the same tensors, bit for bit, in the same structure.
        assert libast.mtt.export_buffer(store, tmp_path / "back.pt", net) == 3
    back = torch.load(tmp_path / "back.pt")
    original = buffer + torch.load(tmp_path / "replay_buffer_1.pt")
    assert len(back) == 3 and all(len(e) == 4 for e in back)
    for e_back, e_orig in zip(back, original):
        for params_back, params_orig in zip(e_back, e_orig):
            assert len(params_back) == len(params_orig)
            for a, b in zip(params_back, params_orig):
                assert a.shape == b.shape and torch.equal(a, b)
    # The distilled set into torch, in one line.
    images, labels, syn_lr, soft_labels = libast.mtt.load_distilled(tmp_path / "run" / "distilled.safetensors")
    assert images.dtype == torch.float32 and tuple(images.shape) == (3, 1, 8, 8)
    assert labels.tolist() == [0, 1, 2] and syn_lr > 0 and soft_labels is None
    np.testing.assert_array_equal(images.numpy(), d.images)
    model = MTTConvNet(**NET)
    loss = nn.functional.cross_entropy(model(images), labels)  # trains like MTT's image_syn
    assert torch.isfinite(loss)


def test_a_buffer_for_another_network_is_refused_with_the_setting_to_change(tmp_path):
    torch.save(mtt_buffer(experts=1, epochs=2, seed=0, **dict(NET, width=6)), tmp_path / "replay_buffer_0.pt")
    with libast.Network(**NET) as net:
        with pytest.raises(ValueError, match=r"conv0.weight has shape \(6, 1, 3, 3\).*set network.width=6"):
            libast.mtt.import_buffer(tmp_path / "replay_buffer_0.pt", tmp_path / "store", net)
    torch.save(mtt_buffer(experts=1, epochs=2, seed=0, **dict(NET, depth=3, image_size=16)), tmp_path / "deep.pt")
    with libast.Network(**NET) as net:
        with pytest.raises(ValueError, match=r"14 tensors, but the network .* has 10"):
            libast.mtt.import_buffer(tmp_path / "deep.pt", tmp_path / "store", net)
    torch.save(mtt_buffer(experts=1, epochs=2, seed=0, **dict(NET, classes=5)), tmp_path / "classes.pt")
    with libast.Network(**NET) as net:
        with pytest.raises(ValueError, match=r"classifier.weight has shape \(5, 16\).*network.classes"):
            libast.mtt.import_buffer(tmp_path / "classes.pt", tmp_path / "store", net)
    torch.save({"not": "a list"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="non-empty list of experts"):
        libast.mtt.import_buffer(tmp_path / "bad.pt", tmp_path / "store", NET)
    torch.save([[[torch.zeros(3)]]], tmp_path / "short.pt")
    with pytest.raises(ValueError, match="at least 2 epochs"):
        libast.mtt.import_buffer(tmp_path / "short.pt", tmp_path / "store", NET)
    with pytest.raises(FileNotFoundError, match="no replay_buffer"):
        libast.mtt.import_buffer(tmp_path / "store", tmp_path / "store2", NET)
    # A store holds one network and one number of epochs.
    torch.save(mtt_buffer(experts=1, epochs=2, seed=0, **NET), tmp_path / "ok.pt")
    libast.mtt.import_buffer(tmp_path / "ok.pt", tmp_path / "store", NET)
    torch.save(mtt_buffer(experts=1, epochs=3, seed=0, **NET), tmp_path / "longer.pt")
    with pytest.raises(ValueError, match="has 3 epochs, the store's experts have 2"):
        libast.mtt.import_buffer(tmp_path / "longer.pt", tmp_path / "store", NET)
    with pytest.raises(ValueError, match="the store's network is"):
        libast.mtt.import_buffer(tmp_path / "ok.pt", tmp_path / "store", dict(NET, width=6))
    with pytest.raises(ValueError, match="layout"):
        libast.mtt.export_buffer(tmp_path / "store", tmp_path / "x.pt", dict(NET, width=6))
    # A run whose network is not the store's is refused by libast, naming the setting.
    x, y = tiny_data(30, 1)
    settings = {**{f"network.{k}": v for k, v in NET.items()}, "network.width": 8, "experts.epochs": 2,
                "distill.max_start_epoch": 1, "experts.dir": str(tmp_path / "store")}
    with libast.Run(settings, tmp_path / "run", train=(x, y), test=(x, y)) as run:
        with pytest.raises(libast.ASTError, match="network.width is 4 there, 8 in this run"):
            run.distill(progress=None)


def test_the_store_description_is_libasts_own(tmp_path):
    """import_buffer writes the network description libast writes for its own experts."""
    x, y = tiny_data(30, 1)
    settings = {**{f"network.{k}": v for k, v in NET.items()}, "experts.count": 1, "experts.epochs": 1,
                "distill.max_start_epoch": 1, "distill.expert_epochs": 1}
    with libast.Run(settings, tmp_path / "run", train=(x, y), test=(x, y)) as run:
        run.generate_experts(progress=None)
    from libast import _safetensors
    _, meta = _safetensors.read(str(tmp_path / "run" / "experts" / "expert_00000.safetensors"))
    with libast.Network(**NET) as net:
        assert meta["network"] == libast.mtt.store_network_description(net)
        assert meta["layout"] == ",".join(f"{t.name}:{'x'.join(map(str, t.shape))}" for t in net.layout)
