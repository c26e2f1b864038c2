#if canImport(Glibc)
import Glibc
#endif

/// Elementwise arithmetic (with broadcasting), unary functions, ReLU and reshape.

package enum BinaryOp { case add, subtract, multiply, divide }

/// Elementwise loops shorter than this per thread run on one thread (splitting costs ≈ 10 µs).
let parallelElementwiseMinimum = 1 << 16

/// a ∘ b for same-shape operands: tight loop over contiguous buffers.
@inline(__always)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func elementwise<S: TensorScalar>(
    _ op: BinaryOp, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>,
    _ out: UnsafeMutablePointer<S>, _ n: Int
) {
    switch op {
    case .add: for i in 0..<n { out[i] = a[i] + b[i] }
    case .subtract: for i in 0..<n { out[i] = a[i] - b[i] }
    case .multiply: for i in 0..<n { out[i] = a[i] * b[i] }
    case .divide: for i in 0..<n { out[i] = a[i] / b[i] }
    }
}

/// x ∘ c (or c ∘ x) for a scalar c repeated over a run.
@inline(__always)
private func elementwiseScalar<S: TensorScalar>(
    _ op: BinaryOp, _ x: UnsafePointer<S>, _ c: S, scalarOnRight: Bool,
    _ out: UnsafeMutablePointer<S>, _ n: Int
) {
    switch (op, scalarOnRight) {
    case (.add, _): for i in 0..<n { out[i] = x[i] + c }
    case (.multiply, _): for i in 0..<n { out[i] = x[i] * c }
    case (.subtract, true): for i in 0..<n { out[i] = x[i] - c }
    case (.subtract, false): for i in 0..<n { out[i] = c - x[i] }
    case (.divide, true): for i in 0..<n { out[i] = x[i] / c }
    case (.divide, false): for i in 0..<n { out[i] = c / x[i] }
    }
}

/// a ∘ b with broadcasting; shapes already checked. When one operand already has the result's
/// shape the other is walked in place (a repeated scalar or block per run), not materialised.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func binaryUnchecked<S>(_ op: BinaryOp, _ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S> {
    let shape = a.shape == b.shape ? a.shape : broadcastShapeUnchecked(a.shape, b.shape)
    let count = shapeProduct(shape)
    let out = TensorStorage<S>(uninitializedCount: count)
    if a.shape == b.shape {
        let (pa, pb, po) = (a.storage.base, b.storage.base, out.base)
        Parallel.forRanges(count, minimumPerThread: parallelElementwiseMinimum) { r in
            elementwise(op, pa + r.lowerBound, pb + r.lowerBound, po + r.lowerBound, r.count)
        }
    } else if a.shape == shape || b.shape == shape {
        let bIsSmall = a.shape == shape
        let dense = bIsSmall ? a.storage.base : b.storage.base
        let small = bIsSmall ? b.storage.base : a.storage.base
        let dst = out.base
        forEachRun(shape, broadcastStrides(bIsSmall ? b.shape : a.shape, into: shape)) { d, o, n, st in
            if st != 0 {
                if bIsSmall {
                    elementwise(op, dense + d, small + o, dst + d, n)
                } else {
                    elementwise(op, small + o, dense + d, dst + d, n)
                }
            } else {
                elementwiseScalar(op, dense + d, small[o], scalarOnRight: bIsSmall, dst + d, n)
            }
        }
    } else {
        let av = broadcastUnchecked(a.detached(), to: shape), bv = broadcastUnchecked(b.detached(), to: shape)
        elementwise(op, av.storage.base, bv.storage.base, out.base, count)
    }
    let aShape = a.shape, bShape = b.shape
    return makeResult(shape, out, "binary", [a, b]) { g, inputs, output, needs in
        let (x, y) = (inputs[0], inputs[1])
        switch op {
        case .add:
            return [needs[0] ? sumToUnchecked(g, aShape) : nil, needs[1] ? sumToUnchecked(g, bShape) : nil]
        case .subtract:
            return [
                needs[0] ? sumToUnchecked(g, aShape) : nil, needs[1] ? sumToUnchecked(negateUnchecked(g), bShape) : nil
            ]
        case .multiply:
            return [
                needs[0] ? sumToUnchecked(binaryUnchecked(.multiply, g, y), aShape) : nil,
                needs[1] ? sumToUnchecked(binaryUnchecked(.multiply, g, x), bShape) : nil
            ]
        case .divide:
            let ga = binaryUnchecked(.divide, g, y)
            return [
                needs[0] ? sumToUnchecked(ga, aShape) : nil,
                needs[1] ? sumToUnchecked(negateUnchecked(binaryUnchecked(.multiply, ga, output)), bShape) : nil
            ]
        }
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
package func addUnchecked<S>(_ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S> { binaryUnchecked(.add, a, b) }
@_specialize(where S == Float)
@_specialize(where S == Double)
package func subUnchecked<S>(_ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S> { binaryUnchecked(.subtract, a, b) }
@_specialize(where S == Float)
@_specialize(where S == Double)
package func mulUnchecked<S>(_ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S> { binaryUnchecked(.multiply, a, b) }
@_specialize(where S == Float)
@_specialize(where S == Double)
package func divUnchecked<S>(_ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S> { binaryUnchecked(.divide, a, b) }

/// c · x.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func scaleUnchecked<S>(_ x: Tensor<S>, _ c: S) -> Tensor<S> {
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let src = x.storage.base, dst = out.base
    Parallel.forRanges(x.count, minimumPerThread: parallelElementwiseMinimum) { r in
        for i in r { dst[i] = c * src[i] }
    }
    return makeResult(x.shape, out, "scale", [x]) { g, _, _, _ in [scaleUnchecked(g, c)] }
}

/// x + c.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func shiftUnchecked<S>(_ x: Tensor<S>, _ c: S) -> Tensor<S> {
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let src = x.storage.base, dst = out.base
    for i in 0..<x.count { dst[i] = src[i] + c }
    return makeResult(x.shape, out, "shift", [x]) { g, _, _, _ in [g] }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
package func negateUnchecked<S>(_ x: Tensor<S>) -> Tensor<S> { scaleUnchecked(x, -1) }

package enum UnaryOp { case exp, log, sqrt, rsqrt }

/// f(x) elementwise; each rule uses the output where that is cheaper (exp, sqrt, rsqrt).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func unaryUnchecked<S>(_ op: UnaryOp, _ x: Tensor<S>) -> Tensor<S> {
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let src = x.storage.base, dst = out.base
    switch op {
    case .exp: for i in 0..<x.count { dst[i] = S.exponential(src[i]) }
    case .log: for i in 0..<x.count { dst[i] = S.logarithm(src[i]) }
    case .sqrt: for i in 0..<x.count { dst[i] = src[i].squareRoot() }
    case .rsqrt: for i in 0..<x.count { dst[i] = 1 / src[i].squareRoot() }
    }
    return makeResult(x.shape, out, "unary", [x]) { g, inputs, y, _ in
        switch op {
        case .exp: return [mulUnchecked(g, y)]
        case .log: return [divUnchecked(g, inputs[0])]
        // At 0 the derivative is taken as 0 (PyTorch's norm convention), not inf·0 = NaN.
        case .sqrt: return [divUnchecked(scaleUnchecked(g, 0.5), infinityAtZeroUnchecked(y))]
        case .rsqrt: return [mulUnchecked(g, scaleUnchecked(mulUnchecked(y, mulUnchecked(y, y)), -0.5))]
        }
    }
}

/// x where x > 0, +∞ where x ≤ 0 (x ≥ 0 here: a square root). 1 / this is 1/x with 0 at 0.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func infinityAtZeroUnchecked<S>(_ x: Tensor<S>) -> Tensor<S> {
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let src = x.storage.base, dst = out.base
    for i in 0..<x.count { dst[i] = src[i] > 0 ? src[i] : .infinity }
    let mask = x.storage
    return makeResult(x.shape, out, "infinityAtZero", [x]) { g, _, _, _ in [maskedUnchecked(g, by: mask)] }
}

/// max(x, 0). Its derivative is a step: the mask is a constant of the graph (zero curvature a.e.).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func reluUnchecked<S>(_ x: Tensor<S>) -> Tensor<S> {
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let src = x.storage.base, dst = out.base
    for i in 0..<x.count { dst[i] = src[i] > 0 ? src[i] : 0 }
    let mask = x.storage
    return makeResult(x.shape, out, "relu", [x]) { g, _, _, _ in [maskedUnchecked(g, by: mask)] }
}

/// g where mask > 0, else 0. Linear in g; its adjoint is itself.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func maskedUnchecked<S>(_ g: Tensor<S>, by mask: TensorStorage<S>) -> Tensor<S> {
    let out = TensorStorage<S>(uninitializedCount: g.count)
    let src = g.storage.base, m = mask.base, dst = out.base
    for i in 0..<g.count { dst[i] = m[i] > 0 ? src[i] : 0 }
    return makeResult(g.shape, out, "masked", [g]) { gg, _, _, _ in [maskedUnchecked(gg, by: mask)] }
}

/// Same values, new shape (shares storage).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func reshapeUnchecked<S>(_ x: Tensor<S>, _ shape: [Int]) -> Tensor<S> {
    if x.shape == shape { return x }
    let inShape = x.shape
    return makeResult(shape, x.storage, "reshape", [x]) { g, _, _, _ in [reshapeUnchecked(g, inShape)] }
}

// MARK: - Public, checked API

extension Tensor {
    private func binary(_ op: BinaryOp, _ other: Tensor, _ name: String) throws(ASTError) -> Tensor {
        _ = try broadcastShape(shape, other.shape, op: name)
        return binaryUnchecked(op, self, other)
    }
    public func adding(_ other: Tensor) throws(ASTError) -> Tensor { try binary(.add, other, "add") }
    public func subtracting(_ other: Tensor) throws(ASTError) -> Tensor { try binary(.subtract, other, "subtract") }
    public func multiplying(_ other: Tensor) throws(ASTError) -> Tensor { try binary(.multiply, other, "multiply") }
    public func dividing(_ other: Tensor) throws(ASTError) -> Tensor { try binary(.divide, other, "divide") }
    public func scaled(by c: Scalar) -> Tensor { scaleUnchecked(self, c) }
    public func shifted(by c: Scalar) -> Tensor { shiftUnchecked(self, c) }
    public func exp() -> Tensor { unaryUnchecked(.exp, self) }
    public func log() -> Tensor { unaryUnchecked(.log, self) }
    public func sqrt() -> Tensor { unaryUnchecked(.sqrt, self) }
    public func rsqrt() -> Tensor { unaryUnchecked(.rsqrt, self) }
    public func relu() -> Tensor { reluUnchecked(self) }

    /// Same values viewed with another shape; one dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) throws(ASTError) -> Tensor {
        var shape = newShape
        let inferred = shape.indices.filter { shape[$0] == -1 }
        guard inferred.count <= 1 else { throw .shape("reshape: more than one -1 in \(newShape)") }
        if let k = inferred.first {
            let known = shape.enumerated().filter { $0.offset != k }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0 else {
                throw .shape("reshape: cannot view shape \(self.shape) as \(newShape)")
            }
            shape[k] = count / known
        }
        guard try Tensor.elementCount(shape, name: "reshape") == count else {
            throw .shape("reshape: cannot view shape \(self.shape) (\(count) elements) as \(newShape)")
        }
        return reshapeUnchecked(self, shape)
    }

    /// (N, …) -> (N, product of the rest).
    public func flattened() -> Tensor {
        reshapeUnchecked(self, [shape.first ?? 1, shape.dropFirst().reduce(1, *)])
    }

    /// Σ self · other over all elements (same shapes).
    public func dot(_ other: Tensor) throws(ASTError) -> Tensor {
        guard shape == other.shape else { throw .shape("dot: shapes \(shape) and \(other.shape) differ") }
        return sumUnchecked(mulUnchecked(self, other), axes: Array(0..<rank), keepDims: false)
    }
}
