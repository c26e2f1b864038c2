/// Matrix products on BLAS gemm, and the linear layer built from them.

/// gemm (same contract as `TensorScalar.gemm`) split by rows of C across libast's workers, each
/// a single-threaded BLAS call; small products run inline.
// a: (m, k) or (k, m) when transA; b: (k, n) or (n, k) when transB; c: (m, n)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func parallelGemm<S: TensorScalar>(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: S,
    a: UnsafePointer<S>, lda: Int, b: UnsafePointer<S>, ldb: Int,
    beta: S, c: UnsafeMutablePointer<S>, ldc: Int
) {
    // ≥ 16 rows and ≈ 4 MFLOP per worker, or the split costs more than it saves.
    let rowsPerWorker = max(16, (1 << 21) / max(1, n * k))
    Parallel.forRanges(m, minimumPerThread: rowsPerWorker) { rows in
        guard !rows.isEmpty else { return }
        let r0 = rows.lowerBound
        S.gemm(
            transA: transA, transB: transB, m: rows.count, n: n, k: k, alpha: alpha,
            a: transA ? a + r0 : a + r0 * lda, lda: lda, b: b, ldb: ldb,
            beta: beta, c: c + r0 * ldc, ldc: ldc)
    }
}

/// op(a) · op(b) for 2-D tensors; shapes already checked.
// a: (m, k) or (k, m) when transA; b: (k, n) or (n, k) when transB; out: (m, n)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func matmulUnchecked<S>(_ a: Tensor<S>, _ b: Tensor<S>, transA: Bool = false, transB: Bool = false) -> Tensor<S>
{
    let m = transA ? a.shape[1] : a.shape[0]
    let k = transA ? a.shape[0] : a.shape[1]
    let n = transB ? b.shape[0] : b.shape[1]
    let out = TensorStorage<S>(uninitializedCount: m * n)
    if k == 0 {
        zeroElements(out.base, m * n)
    } else if m > 0 && n > 0 {
        parallelGemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1,
            a: a.storage.base, lda: a.shape[1], b: b.storage.base, ldb: b.shape[1],
            beta: 0, c: out.base, ldc: n)
    }
    return makeResult([m, n], out, "matmul", [a, b]) { g, inputs, _, needs in
        let (x, y) = (inputs[0], inputs[1])
        let da =
            !needs[0]
            ? nil
            : transA
                ? matmulUnchecked(y, g, transA: transB, transB: true)
                : matmulUnchecked(g, y, transA: false, transB: !transB)
        let db =
            !needs[1]
            ? nil
            : transB
                ? matmulUnchecked(g, x, transA: true, transB: transA)
                : matmulUnchecked(x, g, transA: !transA, transB: false)
        return [da, db]
    }
}

extension Tensor {
    /// op(self) · op(other) for matrices.
    public func matmul(
        _ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false
    ) throws(ASTError) -> Tensor {
        guard rank == 2, other.rank == 2 else {
            throw .shape("matmul: operands must be matrices, got shapes \(shape) and \(other.shape)")
        }
        let k1 = transposeSelf ? shape[0] : shape[1]
        let k2 = transposeOther ? other.shape[1] : other.shape[0]
        guard k1 == k2 else {
            throw .shape(
                "matmul: inner dimensions differ: \(shape)\(transposeSelf ? "ᵀ" : "") · "
                    + "\(other.shape)\(transposeOther ? "ᵀ" : "")"
            )
        }
        return matmulUnchecked(self, other, transA: transposeSelf, transB: transposeOther)
    }

    /// x · Wᵀ + b for x (B, F), W (K, F), b (K).
    public func linear(weight: Tensor, bias: Tensor?) throws(ASTError) -> Tensor {
        guard rank == 2, weight.rank == 2, shape[1] == weight.shape[1] else {
            throw .shape("linear: input \(shape) does not match weight \(weight.shape) (want (B, F) and (K, F))")
        }
        if let bias, bias.shape != [weight.shape[0]] {
            throw .shape("linear: bias \(bias.shape) does not match weight \(weight.shape)")
        }
        return linearUnchecked(self, weight, bias)
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
package func linearUnchecked<S>(_ x: Tensor<S>, _ w: Tensor<S>, _ b: Tensor<S>?) -> Tensor<S> {
    let y = matmulUnchecked(x, w, transA: false, transB: true)
    return b.map { addUnchecked(y, $0) } ?? y
}
