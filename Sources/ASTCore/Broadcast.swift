/// Broadcasting (NumPy rules) and its adjoint, summing back to a shape. Both walk a collapsed
/// loop nest so the innermost loop runs over a contiguous block or a repeated scalar.

/// The broadcast shape of `a` and `b`, or an error naming both shapes.
func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws(ASTError) -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard da == db || da == 1 || db == 1 else {
            throw .shape("\(op): shapes \(a) and \(b) cannot be broadcast together")
        }
        out[i] = da == 1 ? db : da
    }
    return out
}

/// The broadcast shape of shapes already known to be compatible.
package func broadcastShapeUnchecked(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = max(a.count, b.count)
    return (0..<rank).map { i in
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        return da == 1 ? db : da
    }
}

/// Strides of `small` (right-aligned, size-1 dims broadcast) inside the iteration space `big`.
func broadcastStrides(_ small: [Int], into big: [Int]) -> [Int] {
    var strides = [Int](repeating: 0, count: big.count)
    var step = 1
    for i in stride(from: big.count - 1, through: 0, by: -1) {
        let j = i - (big.count - small.count)
        if j >= 0 {
            strides[i] = small[j] == 1 ? 0 : step
            step *= small[j]
        }
    }
    return strides
}

/// Loop nest over `dims` (row-major, contiguous for the "dense" operand) with the strides of
/// the other operand; adjacent dims merge when the other operand's layout allows it.
private func collapsedNest(_ dims: [Int], _ strides: [Int]) -> (dims: [Int], strides: [Int]) {
    var d: [Int] = [], s: [Int] = []
    for (n, st) in zip(dims, strides) where n != 1 {
        if let lastN = d.last, let lastS = s.last, lastS == st * n {
            d[d.count - 1] = lastN * n
            s[s.count - 1] = st
        } else {
            d.append(n); s.append(st)
        }
    }
    if d.isEmpty { d = [1]; s = [0] }
    return (d, s)
}

/// Calls `run(denseOffset, otherOffset, length, otherStride)` for each innermost run.
@inline(__always)
func forEachRun(_ dims: [Int], _ strides: [Int], _ run: (Int, Int, Int, Int) -> Void) {
    let (d, s) = collapsedNest(dims, strides)
    let inner = d.count - 1
    let n = d[inner], st = s[inner]
    if inner == 0 { run(0, 0, n, st); return }
    var index = [Int](repeating: 0, count: inner)
    var dense = 0, other = 0
    while true {
        run(dense, other, n, st)
        dense += n
        var k = inner - 1
        while k >= 0 {
            index[k] += 1
            other += s[k]
            if index[k] < d[k] { break }
            other -= s[k] * d[k]
            index[k] = 0
            k -= 1
        }
        if k < 0 { return }
    }
}

/// x broadcast to `shape` (materialised). Adjoint: sumTo.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func broadcastUnchecked<S>(_ x: Tensor<S>, to shape: [Int]) -> Tensor<S> {
    if x.shape == shape { return x }
    let count = shapeProduct(shape)
    let out = TensorStorage<S>(uninitializedCount: count)
    let src = x.storage.base, dst = out.base
    forEachRun(shape, broadcastStrides(x.shape, into: shape)) { o, i, n, st in
        if st == 0 {
            let v = src[i]
            for k in 0..<n { dst[o + k] = v }
        } else {
            copyElements((dst + o), src + i, n)
        }
    }
    let inShape = x.shape
    return makeResult(shape, out, "broadcast", [x]) { g, _, _, _ in [sumToUnchecked(g, inShape)] }
}

/// x summed over the broadcast dimensions down to `shape` (the adjoint of broadcasting).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func sumToUnchecked<S>(_ x: Tensor<S>, _ shape: [Int]) -> Tensor<S> {
    if x.shape == shape { return x }
    let count = shapeProduct(shape)
    let out = TensorStorage<S>(zeros: count)
    let src = x.storage.base, dst = out.base
    forEachRun(x.shape, broadcastStrides(shape, into: x.shape)) { i, o, n, st in
        if st == 0 {
            var acc: S = 0
            for k in 0..<n { acc += src[i + k] }
            dst[o] += acc
        } else {
            for k in 0..<n { dst[o + k] += src[i + k] }
        }
    }
    let inShape = x.shape
    return makeResult(shape, out, "sumTo", [x]) { g, _, _, _ in [broadcastUnchecked(g, to: inShape)] }
}

extension Tensor {
    /// This tensor broadcast to `shape` (NumPy rules).
    public func broadcast(to shape: [Int]) throws(ASTError) -> Tensor {
        guard try broadcastShape(self.shape, shape, op: "broadcast") == shape else {
            throw .shape("broadcast: shape \(self.shape) cannot be broadcast to \(shape)")
        }
        return broadcastUnchecked(self, to: shape)
    }

    /// Sum over `axes`; the summed axes are kept with size 1 when `keepDims`.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws(ASTError) -> Tensor {
        let axes = try normalizedAxes(axes, op: "sum")
        return sumUnchecked(self, axes: axes, keepDims: keepDims)
    }

    /// Mean over `axes`.
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws(ASTError) -> Tensor {
        let axes = try normalizedAxes(axes, op: "mean")
        return meanUnchecked(self, axes: axes, keepDims: keepDims)
    }

    func normalizedAxes(_ axes: [Int]?, op: String) throws(ASTError) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        var seen = Set<Int>()
        for a in axes {
            let k = a < 0 ? a + rank : a
            guard k >= 0, k < rank, seen.insert(k).inserted else {
                throw .invalid("\(op): axis \(a) is invalid or repeated for shape \(shape)")
            }
        }
        return seen.sorted()
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
package func sumUnchecked<S>(_ x: Tensor<S>, axes: [Int], keepDims: Bool) -> Tensor<S> {
    var kept = x.shape
    for a in axes { kept[a] = 1 }
    let summed = sumToUnchecked(x, kept)
    return keepDims
        ? summed : reshapeUnchecked(summed, kept.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
}

@_specialize(where S == Float)
@_specialize(where S == Double)
package func meanUnchecked<S>(_ x: Tensor<S>, axes: [Int], keepDims: Bool) -> Tensor<S> {
    let n = axes.reduce(1) { $0 * x.shape[$1] }
    return scaleUnchecked(sumUnchecked(x, axes: axes, keepDims: keepDims), 1 / S(max(n, 1)))
}
