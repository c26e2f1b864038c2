/// Log-softmax and cross-entropy with hard or soft (probability) labels.

/// z − logsumexp(z) over the last axis.
// z: (B, K) -> (B, K)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func logSoftmaxUnchecked<S>(_ z: Tensor<S>) -> Tensor<S> {
    let (rows, k) = (z.shape[0], z.shape[1])
    let out = TensorStorage<S>(uninitializedCount: z.count)
    let src = z.storage.base, dst = out.base
    for r in 0..<rows {
        let row = src + r * k
        var m = row[0]
        for j in 1..<k where row[j] > m { m = row[j] }
        var s: S = 0
        for j in 0..<k { s += S.exponential(row[j] - m) }
        let lse = m + S.logarithm(s)
        for j in 0..<k { dst[r * k + j] = row[j] - lse }
    }
    return makeResult(z.shape, out, "logSoftmax", [z]) { g, _, y, _ in
        // dz = g − softmax(z) · Σ_j g_j, with softmax = exp(y) kept differentiable.
        [subUnchecked(g, mulUnchecked(unaryUnchecked(.exp, y), sumUnchecked(g, axes: [1], keepDims: true)))]
    }
}

/// −(1/B) Σ_b Σ_k p[b,k] · log softmax(z)[b,k].
// logits: (B, K), targets: (B, K) -> ()
@_specialize(where S == Float)
@_specialize(where S == Double)
package func softCrossEntropyUnchecked<S>(_ logits: Tensor<S>, _ targets: Tensor<S>) -> Tensor<S> {
    let batch = logits.shape[0]
    let picked = sumUnchecked(mulUnchecked(logSoftmaxUnchecked(logits), targets), axes: [0, 1], keepDims: false)
    return scaleUnchecked(picked, -1 / S(batch))
}

/// One-hot rows for `labels` (already validated against `classes`).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func oneHot<S>(_ labels: [Int32], classes: Int) -> Tensor<S> {
    let out = TensorStorage<S>(zeros: labels.count * classes)
    for (b, y) in labels.enumerated() { out.base[b * classes + Int(y)] = 1 }
    return Tensor(shape: [labels.count, classes], storage: out)
}

extension Tensor {
    /// Mean cross-entropy of logits (B, K) against hard labels in [0, K).
    public func crossEntropy(labels: [Int32]) throws(ASTError) -> Tensor {
        guard rank == 2, shape[0] == labels.count, shape[0] > 0, shape[1] > 0 else {
            throw .shape("crossEntropy: logits \(shape) do not match \(labels.count) labels")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= shape[1] }) {
            throw .invalid("crossEntropy: label \(labels[bad]) at index \(bad) is outside [0, \(shape[1]))")
        }
        return softCrossEntropyUnchecked(self, oneHot(labels, classes: shape[1]))
    }

    /// Mean cross-entropy of logits (B, K) against probability rows `targets` (B, K).
    public func crossEntropy(probabilities targets: Tensor) throws(ASTError) -> Tensor {
        guard rank == 2, targets.shape == shape, shape[0] > 0, shape[1] > 0 else {
            throw .shape("crossEntropy: logits \(shape) and targets \(targets.shape) differ")
        }
        return softCrossEntropyUnchecked(self, targets)
    }

    public func logSoftmax() throws(ASTError) -> Tensor {
        guard rank == 2, shape[1] > 0 else { throw .shape("logSoftmax: input must be (B, K), got \(shape)") }
        return logSoftmaxUnchecked(self)
    }
}
