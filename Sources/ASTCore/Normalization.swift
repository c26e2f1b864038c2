/// Instance norm (GroupNorm with one group per channel) and training-mode batch norm, composed
/// from differentiable ops so their second derivatives come for free.

let normEpsilon = 1e-5

/// (x − mean) / sqrt(var + eps) over `axes` (biased variance), then per-channel affine.
@_specialize(where S == Float)
@_specialize(where S == Double)
func standardizeUnchecked<S>(_ x: Tensor<S>, axes: [Int], gamma: Tensor<S>?, beta: Tensor<S>?) -> Tensor<S> {
    let mean = meanUnchecked(x, axes: axes, keepDims: true)
    let centered = subUnchecked(x, mean)
    let variance = meanUnchecked(mulUnchecked(centered, centered), axes: axes, keepDims: true)
    let inverseStd = unaryUnchecked(.rsqrt, shiftUnchecked(variance, S(normEpsilon)))
    let normalized = mulUnchecked(centered, inverseStd)
    if gamma == nil && beta == nil { return normalized }
    return channelAffineUnchecked(normalized, scale: gamma, shift: beta)
}

extension Tensor {
    /// Per sample and channel over H×W, eps 1e-5, affine gamma/beta (C) — MTT's "instancenorm".
    public func instanceNorm(gamma: Tensor?, beta: Tensor?) throws(ASTError) -> Tensor {
        try checkNormArguments("instanceNorm", gamma, beta)
        return standardizeUnchecked(self, axes: [2, 3], gamma: gamma, beta: beta)
    }

    /// Training-mode batch norm: statistics over N×H×W per channel, eps 1e-5, affine.
    public func batchNorm(gamma: Tensor?, beta: Tensor?) throws(ASTError) -> Tensor {
        try checkNormArguments("batchNorm", gamma, beta)
        return standardizeUnchecked(self, axes: [0, 2, 3], gamma: gamma, beta: beta)
    }

    fileprivate func checkNormArguments(_ op: String, _ gamma: Tensor?, _ beta: Tensor?) throws(ASTError) {
        guard rank == 4 else { throw .shape("\(op): input must be (N, C, H, W), got \(shape)") }
        for (name, t) in [("gamma", gamma), ("beta", beta)] {
            if let t, t.shape != [shape[1]] { throw .shape("\(op): \(name) \(t.shape) does not match input \(shape)") }
        }
    }
}

/// relu(instanceNorm(x + bias) · γ + β), fused: one pass over each (n, c) plane forward and one
/// backward, instead of ~10 full-tensor passes. First-order gradients use the fused backward
/// kernel; when the gradient itself must be differentiable (inputs carry a graph) the rule
/// differentiates the composed reference instead, so second derivatives stay exact.
// x: (N, C, H, W), bias/gamma/beta: (C) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
func normReluUnchecked<S>(_ x: Tensor<S>, bias: Tensor<S>, gamma: Tensor<S>, beta: Tensor<S>) -> Tensor<S> {
    let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let src = x.storage.base, dst = out.base
    let g = gamma.storage.base, be = beta.storage.base
    let eps = S(normEpsilon)
    for p in 0..<(n * c) {
        let ch = p % c
        let xs = src + p * plane, ys = dst + p * plane
        let (mean, variance) = planeMoments(xs, plane)
        let scale = g[ch] / (variance + eps).squareRoot(), shift = be[ch]
        for i in 0..<plane {
            let z = (xs[i] - mean) * scale + shift
            ys[i] = z > 0 ? z : 0
        }
    }
    return makeResult(x.shape, out, "normRelu", [x, bias, gamma, beta]) { grad, inputs, _, needs in
        if grad.requiresGrad || inputs.contains(where: { $0.requiresGrad }) {
            return composedGradients(grad, inputs, needs) {
                reluUnchecked(standardizeUnchecked(channelAffineUnchecked($0[0], scale: nil, shift: $0[1]),
                                                   axes: [2, 3], gamma: $0[2], beta: $0[3]))
            }
        }
        return normReluBackward(grad, inputs[0], gamma: inputs[2], beta: inputs[3])
    }
}

/// The fused first-order backward of normRelu: [dx, dbias, dgamma, dbeta] as constants.
@_specialize(where S == Float)
@_specialize(where S == Double)
private func normReluBackward<S>(_ grad: Tensor<S>, _ x: Tensor<S>, gamma: Tensor<S>, beta: Tensor<S>) -> [Tensor<S>?] {
    let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let dx = TensorStorage<S>(uninitializedCount: x.count)
    let dbias = TensorStorage<S>(zeros: c), dgamma = TensorStorage<S>(zeros: c), dbeta = TensorStorage<S>(zeros: c)
    let src = x.storage.base, gs = grad.storage.base, out = dx.base
    let g = gamma.storage.base, be = beta.storage.base
    let invPlane = 1 / S(plane), eps = S(normEpsilon)
    for p in 0..<(n * c) {
        let ch = p % c
        let xs = src + p * plane, gp = gs + p * plane, dxs = out + p * plane
        let (mean, variance) = planeMoments(xs, plane)
        let inverseStd = 1 / (variance + eps).squareRoot()
        // gz = g · [z > 0]; sums for the affine parameters and the normalisation's projection.
        for i in 0..<plane {
            let z = (xs[i] - mean) * inverseStd * g[ch] + be[ch]
            dxs[i] = z > 0 ? gp[i] : 0  // gz, kept for the second pass
        }
        let sumGz = blockSum(dxs, plane)
        let sumGzXhat = blockDot(dxs, xs, plane, shift: mean) * inverseStd
        dbeta.base[ch] += sumGz
        dgamma.base[ch] += sumGzXhat
        // dx = γσ⁻¹ (gz − mean(gz) − x̂ · mean(gz · x̂))
        let k = g[ch] * inverseStd, meanGz = sumGz * invPlane, meanGzXhat = sumGzXhat * invPlane
        for i in 0..<plane {
            let xhat = (xs[i] - mean) * inverseStd
            dxs[i] = k * (dxs[i] - meanGz - xhat * meanGzXhat)
        }
        dbias.base[ch] += blockSum(dxs, plane)
    }
    return [Tensor(shape: x.shape, storage: dx), Tensor(shape: [c], storage: dbias),
            Tensor(shape: [c], storage: dgamma), Tensor(shape: [c], storage: dbeta)]
}

/// Σ p[i], with four accumulators so the loop pipelines and vectorises.
@inline(__always)
func blockSum<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int) -> S {
    var (a, b, c, d): (S, S, S, S) = (0, 0, 0, 0)
    var i = 0
    while i + 4 <= n { a += p[i]; b += p[i + 1]; c += p[i + 2]; d += p[i + 3]; i += 4 }
    while i < n { a += p[i]; i += 1 }
    return (a + b) + (c + d)
}

/// Σ p[i] · (q[i] − shift).
@inline(__always)
func blockDot<S: TensorScalar>(_ p: UnsafePointer<S>, _ q: UnsafePointer<S>, _ n: Int, shift: S) -> S {
    var (a, b, c, d): (S, S, S, S) = (0, 0, 0, 0)
    var i = 0
    while i + 4 <= n {
        a += p[i] * (q[i] - shift); b += p[i + 1] * (q[i + 1] - shift)
        c += p[i + 2] * (q[i + 2] - shift); d += p[i + 3] * (q[i + 3] - shift)
        i += 4
    }
    while i < n { a += p[i] * (q[i] - shift); i += 1 }
    return (a + b) + (c + d)
}

/// Mean and biased variance of a contiguous block (two passes: no cancellation).
@inline(__always)
func planeMoments<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int) -> (mean: S, variance: S) {
    let mean = blockSum(p, n) / S(n)
    var (a, b, c, d): (S, S, S, S) = (0, 0, 0, 0)
    var i = 0
    while i + 4 <= n {
        let (e0, e1, e2, e3) = (p[i] - mean, p[i + 1] - mean, p[i + 2] - mean, p[i + 3] - mean)
        a += e0 * e0; b += e1 * e1; c += e2 * e2; d += e3 * e3
        i += 4
    }
    while i < n { let e = p[i] - mean; a += e * e; i += 1 }
    return (mean, ((a + b) + (c + d)) / S(n))
}

/// Gradients of a composed reference `f` at `inputs` with seed `grad`, keeping the graph: the
/// differentiable rule of a fused op.
func composedGradients<S>(_ grad: Tensor<S>, _ inputs: [Tensor<S>], _ needs: [Bool],
                          _ f: ([Tensor<S>]) -> Tensor<S>) -> [Tensor<S>?] {
    // Inputs that carry no graph become fresh leaves so they can be differentiated against.
    let leaves = inputs.map { $0.requiresGrad ? $0 : $0.variable() }
    let y = f(leaves)
    let targets = leaves.enumerated().filter { needs[$0.offset] }.map(\.element)
    // Shapes match by construction, so this cannot throw.
    guard let grads = try? gradients(of: y, wrt: targets, seed: grad, createGraph: true) else {
        return inputs.map { _ in nil }
    }
    var it = grads.makeIterator()
    return needs.map { $0 ? it.next() : nil }
}

extension Tensor {
    /// relu(instanceNorm(self + bias) · gamma + beta), fused (ConvNet's conv → norm → ReLU).
    public func instanceNormRelu(bias: Tensor, gamma: Tensor, beta: Tensor) throws(ASTError) -> Tensor {
        try checkNormArguments("instanceNormRelu", gamma, beta)
        guard bias.shape == [shape[1]] else { throw .shape("instanceNormRelu: bias \(bias.shape) does not match input \(shape)") }
        return normReluUnchecked(self, bias: bias, gamma: gamma, beta: beta)
    }
}
