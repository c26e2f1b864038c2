/// Instance norm (GroupNorm with one group per channel) and training-mode batch norm, composed
/// from differentiable ops so their second derivatives come for free.

let normEpsilon = 1e-5

/// (x − mean) / sqrt(var + eps) over `axes` (biased variance), then per-channel affine.
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

    private func checkNormArguments(_ op: String, _ gamma: Tensor?, _ beta: Tensor?) throws(ASTError) {
        guard rank == 4 else { throw .shape("\(op): input must be (N, C, H, W), got \(shape)") }
        for (name, t) in [("gamma", gamma), ("beta", beta)] {
            if let t, t.shape != [shape[1]] { throw .shape("\(op): \(name) \(t.shape) does not match input \(shape)") }
        }
    }
}
