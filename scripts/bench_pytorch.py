#!/usr/bin/env python3
"""The PyTorch side of scripts/bench-vs-pytorch.sh: the same work as `ast-bench --case NAME`
(Sources/ast-bench/Cases.swift), one case per process, printing
`RESULT <case> <seconds> <img/s> <peak RSS MiB>`.

The network is libast's ConvNet-3 as a pure function of one flat parameter vector in libast's
layout (per block: conv weight [W, Cin, 3, 3], conv bias [W], norm gamma [W], norm beta [W]; then
classifier weight [K, W*h*w], classifier bias [K]): conv3x3 (padding 1; 3 for a 1x28x28 input) ->
instance norm (group norm with one group per channel, eps 1e-5, affine) -> ReLU -> 2x2 average
pool, three times, then a linear layer. Augmentation is DSA as MTT uses it (one group of
color/crop/cutout/flip/scale/rotate per batch, parameters per sample), differentiable in the images.

    python scripts/bench_pytorch.py --case mtt-ipc10 [--threads 2]
"""
import argparse, math, resource, sys, time

import torch
import torch.nn.functional as F

CASES = ["train-step", "mtt-ipc1", "mtt-ipc1-kept", "mtt-ipc10", "ast-ipc1", "ast-ipc10",
         "expert-mtt", "expert-ast", "eval-10", "eval-100"]


class ConvNet:
    def __init__(self, channels, size, classes=10, width=128, depth=3):
        self.pad0 = 3 if channels == 1 and size == 28 else 1
        self.shapes, hw, cin = [], size, channels
        for d in range(depth):
            hw = (hw + 2 * (self.pad0 if d == 0 else 1) - 2) // 2
            self.shapes += [("conv", (width, cin, 3, 3)), ("bias", (width,)), ("gamma", (width,)), ("beta", (width,))]
            cin = width
        self.shapes += [("fc", (classes, width * hw * hw)), ("fcbias", (classes,))]
        self.numels = [math.prod(s) for _, s in self.shapes]
        self.P, self.width, self.depth = sum(self.numels), width, depth

    def init(self, gen):
        """PyTorch's default initialisation (uniform ±1/sqrt(fan_in); gamma 1, beta 0)."""
        out, fan_in = [], 0
        for kind, shape in self.shapes:
            if kind in ("conv", "fc"):
                fan_in = math.prod(shape[1:])
            if kind == "gamma":
                out.append(torch.ones(shape))
            elif kind == "beta":
                out.append(torch.zeros(shape))
            else:
                out.append((torch.rand(shape, generator=gen) * 2 - 1) / math.sqrt(fan_in))
        return torch.cat([t.reshape(-1) for t in out])

    def __call__(self, theta, x):
        ps = [t.view(s) for t, (_, s) in zip(theta.split(self.numels), self.shapes)]
        h = x
        for d in range(self.depth):
            w, b, g, beta = ps[4 * d:4 * d + 4]
            h = F.conv2d(h, w, b, padding=self.pad0 if d == 0 else 1)
            h = F.avg_pool2d(F.relu(F.group_norm(h, self.width, g, beta, eps=1e-5)), 2)
        return F.linear(h.flatten(1), ps[-2], ps[-1])

    def perturb_conv_kernels(self, theta, gen, strength=1.0):
        """AST's weight perturbation W += strength * (d / |d|) * W on every conv kernel."""
        theta, offset = theta.clone(), 0
        for (kind, _), n in zip(self.shapes, self.numels):
            if kind == "conv":
                w = theta[offset:offset + n]
                d = torch.randn(n, generator=gen)
                w += strength * d / d.norm() * w
            offset += n
        return theta


def dsa(x, gen):
    """DSA, single mode: one group drawn for the batch, parameters drawn per sample."""
    n, c, h, w = x.shape
    group = ["color", "crop", "cutout", "flip", "scale", "rotate"][int(torch.randint(6, (1,), generator=gen))]
    u = lambda: torch.rand(n, 1, 1, 1, generator=gen)
    if group == "color":
        x = x + (u() - 0.5)
        m = x.mean(dim=1, keepdim=True)
        x = (x - m) * (u() * 2) + m
        m = x.mean(dim=[1, 2, 3], keepdim=True)
        return (x - m) * (u() + 0.5) + m
    if group == "crop":
        s = int(h * 0.125 + 0.5)
        ty, tx = (torch.randint(-s, s + 1, (n, 1, 1), generator=gen) for _ in range(2))
        iy = (torch.arange(h).view(1, h, 1) + ty + s).expand(n, h, w)
        ix = (torch.arange(w).view(1, 1, w) + tx + s).expand(n, h, w)
        nb = torch.arange(n).view(n, 1, 1).expand(n, h, w)
        return F.pad(x, [s, s, s, s]).permute(0, 2, 3, 1)[nb, iy, ix].permute(0, 3, 1, 2)
    if group == "cutout":
        side = int(h * 0.5 + 0.5)
        oy = torch.randint(0, h + 1 - side % 2, (n, 1, 1), generator=gen) - side // 2
        ox = torch.randint(0, w + 1 - side % 2, (n, 1, 1), generator=gen) - side // 2
        ys, xs = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
        inside = (ys >= oy) & (ys < oy + side) & (xs >= ox) & (xs < ox + side)
        return x * (~inside).unsqueeze(1).to(x.dtype)
    if group == "flip":
        return torch.where(u() < 0.5, x.flip(3), x)
    if group == "scale":
        r = 1.2
        sx, sy = (torch.rand(n, generator=gen) * (r - 1 / r) + 1 / r for _ in range(2))
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([sx, zero, zero], 1), torch.stack([zero, sy, zero], 1)], 1)
    else:  # rotate
        a = (torch.rand(n, generator=gen) - 0.5) * 2 * 15 / 180 * math.pi
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([a.cos(), -a.sin(), zero], 1), torch.stack([a.sin(), a.cos(), zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)


def mtt_batches(n, batch, steps, gen):
    out, chunks = [], []
    while len(out) < steps:
        if not chunks:
            chunks = list(torch.randperm(n, generator=gen).split(batch))
        out.append(chunks.pop())
    return out


def median_seconds(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    k = len(ts)
    return ts[k // 2] if k % 2 else (ts[k // 2 - 1] + ts[k // 2]) / 2


def sgd(theta, grad, buf, lr, mom=0.0, wd=0.0):
    """PyTorch SGD semantics on the flat vector; returns (theta, momentum buffer)."""
    with torch.no_grad():
        d = grad + wd * theta if wd else grad
        buf = d if (buf is None or mom == 0) else buf.mul_(mom).add_(d)
        return (theta - lr * buf).detach(), buf


def distill_iteration(net, X, Y, lr, start, target, batches, gen, opt_x, opt_lr,
                      momentum=None, weight=1.0, intermediate=None, augment=False):
    """One outer iteration: N unrolled steps with create_graph, the matching loss, its backward
    pass and the SGD-with-momentum update of the images and the step size."""
    cur = start.detach().requires_grad_(True)
    direction, extra = None, 0.0
    for k, idx in enumerate(batches):
        x = dsa(X[idx], gen) if augment else X[idx]
        ce = F.cross_entropy(net(cur, x), Y[idx])
        g, = torch.autograd.grad(ce * weight if weight != 1 else ce, cur, create_graph=True)
        direction = g if (momentum is None or direction is None) else momentum * direction + g
        cur = cur - lr * direction
        if intermediate is not None and k + 1 == intermediate[0]:
            goal = intermediate[1]
            extra = (cur - goal).pow(2).sum() / (start - goal).pow(2).sum()
    loss = (cur - target).pow(2).sum() / (start - target).pow(2).sum() + extra
    opt_x.zero_grad()
    opt_lr.zero_grad()
    loss.backward()
    opt_x.step()
    opt_lr.step()
    return loss.item()


def run(case):
    gen = torch.Generator().manual_seed(0)
    cifar = ConvNet(3, 32)
    if case == "train-step":
        B = 256
        X, Y = torch.randn(B, 3, 32, 32, generator=gen), torch.arange(B) % 10
        st = {"theta": cifar.init(gen)}

        def step():
            th = st["theta"].requires_grad_(True)
            g, = torch.autograd.grad(F.cross_entropy(cifar(th, X), Y), th)
            st["theta"], _ = sgd(th, g, None, 0.01)
        return median_seconds(step, 1, 5), B

    if case in ("mtt-ipc1", "mtt-ipc1-kept", "mtt-ipc10", "ast-ipc1", "ast-ipc10"):
        # mtt-ipc1-kept is libast with every step graph kept; autograd always keeps them.
        ipc = 10 if case.endswith("ipc10") else 1
        n, steps = 10 * ipc, 50 if ipc == 1 else 30
        X = torch.randn(n, 3, 32, 32, generator=gen).requires_grad_(True)
        Y = torch.arange(10).repeat_interleave(ipc)
        lr = torch.tensor(0.01, requires_grad=True)
        start = cifar.init(gen)
        walk = [start]
        for _ in range(3):
            walk.append(walk[-1] + 0.01 * torch.randn(cifar.P, generator=gen))
        opt_x = torch.optim.SGD([X], lr=100.0, momentum=0.5)
        opt_lr = torch.optim.SGD([lr], lr=1e-7 if ipc == 1 else 1e-5, momentum=0.5)
        if case.startswith("mtt"):
            def it():
                distill_iteration(cifar, X, Y, lr, start, walk[1], mtt_batches(n, n, steps, gen), gen, opt_x, opt_lr)
        else:
            def it():
                # AST: start epoch t in {0, 1}, conv-kernel perturbation, momentum 0.9 inner loop,
                # balanced inner loss w(t), intermediate target at N/2 (epoch t+1), target t+2, DSA.
                t = int(torch.randint(2, (1,), generator=gen))
                w = 1 / math.log(1 - t + 8, 5) if t < 1 else math.log(t - 1 + 8, 5)
                s = cifar.perturb_conv_kernels(walk[t], gen)
                distill_iteration(cifar, X, Y, lr, s, walk[t + 2], mtt_batches(n, n, steps, gen), gen, opt_x, opt_lr,
                                  momentum=0.9, weight=w, intermediate=(steps // 2, walk[t + 1]), augment=True)
        # ipc 1: the median of 5 repetitions, as ast-bench times it.
        return median_seconds(it, 1 if ipc == 1 else 0, 5 if ipc == 1 else 1), n * steps

    if case in ("expert-mtt", "expert-ast"):
        fm = ConvNet(1, 28)
        n, B = 2560, 256
        X, Y = torch.randn(n, 1, 28, 28, generator=gen), torch.randint(10, (n,), generator=gen)
        ast = case == "expert-ast"
        lr, mom, wd = (0.003, 0.9, 1e-3) if ast else (0.01, 0.0, 0.0)
        st = {"theta": fm.init(gen), "buf": None}

        def batch_step(idx):
            th = st["theta"].requires_grad_(True)
            x = X[idx]
            loss = F.cross_entropy(fm(th, dsa(x, gen)), Y[idx])
            if ast:
                loss = 0.5 * loss  # loss scaling of epoch 0
                xc = x.detach().requires_grad_(True)
                G, = torch.autograd.grad(fm(th, xc).sum(), xc, create_graph=True)
                loss = loss + 2.0 * (G.pow(2).sum(1).sqrt() - 1).pow(2).mean()
            g, = torch.autograd.grad(loss, th)
            st["theta"], st["buf"] = sgd(th, g, st["buf"], lr, mom, wd)

        def epoch(count):
            perm = torch.randperm(count, generator=gen)
            for i in range(0, count, B):
                batch_step(perm[i:i + B])
        epoch(B)  # warm-up: one batch
        st.update(theta=fm.init(gen), buf=None)
        return median_seconds(lambda: epoch(n), 0, 1), n

    if case in ("eval-10", "eval-100"):
        n = 10 if case == "eval-10" else 100
        X, Y = torch.randn(n, 3, 32, 32, generator=gen), torch.arange(n) % 10

        def train():
            theta, buf = cifar.init(gen), None
            for e in range(300):
                lr = 0.01 * (0.1 if e >= 150 else 1)
                perm = torch.randperm(n, generator=gen)
                for i in range(0, n, 256):
                    idx = perm[i:i + 256]
                    th = theta.requires_grad_(True)
                    g, = torch.autograd.grad(F.cross_entropy(cifar(th, dsa(X[idx], gen)), Y[idx]), th)
                    theta, buf = sgd(th, g, buf, lr, 0.9, 5e-4)
        return median_seconds(train, 0, 1), n * 300
    raise SystemExit(f"bench_pytorch.py: unknown case {case!r} (known: {', '.join(CASES)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", required=True, choices=CASES)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seconds, images = run(a.case)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {a.case} {seconds} {images / seconds} {peak_mib}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
