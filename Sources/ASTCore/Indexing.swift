/// Selecting rows (minibatches) and contiguous ranges (parameter slices), with their adjoints.

/// x[indices[i], …] stacked.
// x: (N, …) -> (B, …)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func gatherRowsUnchecked<S>(_ x: Tensor<S>, _ indices: [Int]) -> Tensor<S> {
    let row = x.count / max(x.shape[0], 1)
    let out = TensorStorage<S>(uninitializedCount: indices.count * row)
    for (i, r) in indices.enumerated() { copyElements((out.base + i * row), x.storage.base + r * row, row) }
    let rows = x.shape[0]
    return makeResult([indices.count] + x.shape.dropFirst(), out, "gatherRows", [x]) { g, _, _, _ in
        [scatterRowsUnchecked(g, indices, rows: rows)]
    }
}

/// Rows of g added into a zero tensor of `rows` rows at `indices` (repeats accumulate).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func scatterRowsUnchecked<S>(_ g: Tensor<S>, _ indices: [Int], rows: Int) -> Tensor<S> {
    let row = g.count / max(g.shape[0], 1)
    let out = TensorStorage<S>(zeros: rows * row)
    for (i, r) in indices.enumerated() {
        let d = out.base + r * row, s = g.storage.base + i * row
        for k in 0..<row { d[k] += s[k] }
    }
    return makeResult([rows] + g.shape.dropFirst(), out, "scatterRows", [g]) { gg, _, _, _ in
        [gatherRowsUnchecked(gg, indices)]
    }
}

/// Flat elements offset..<offset+count of x, viewed as `shape`.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func sliceUnchecked<S>(_ x: Tensor<S>, offset: Int, shape: [Int]) -> Tensor<S> {
    let count = shapeProduct(shape)
    let out = TensorStorage<S>(uninitializedCount: count)
    copyElements(out.base, x.storage.base + offset, count)
    let inShape = x.shape
    // `gradients` collects the adjoints of all slices of one tensor and assembles them at once
    // (see Origin.sliceOffset); this rule is the same op for a single slice.
    return makeResult(shape, out, "slice", [x], sliceOffset: offset) { g, _, _, _ in
        [assembleSlicesUnchecked([(offset, g)], shape: inShape)]
    }
}

/// The adjoints of slices of one tensor, added into place in a zero tensor of `shape` (the
/// adjoint of slice; `gradients` passes all slices of a tensor at once instead of one
/// zero-padded full-size tensor per slice).
// pieces: (offset_k, g_k) -> (shape): zeros with each g_k added at offset_k
@_specialize(where S == Float)
@_specialize(where S == Double)
package func assembleSlicesUnchecked<S>(_ pieces: [(offset: Int, gradient: Tensor<S>)], shape: [Int]) -> Tensor<S> {
    let count = shapeProduct(shape)
    let out = TensorStorage<S>(uninitializedCount: count)
    let sorted = pieces.sorted { $0.offset < $1.offset }
    if zip(sorted, sorted.dropFirst()).allSatisfy({ $0.offset + $0.gradient.count <= $1.offset }) {
        // Disjoint (the parameter slices of one vector): copied in, zeros between.
        var end = 0
        for (offset, g) in sorted {
            zeroElements(out.base + end, offset - end)
            copyElements(out.base + offset, g.storage.base, g.count)
            end = offset + g.count
        }
        zeroElements(out.base + end, count - end)
    } else {
        zeroElements(out.base, count)
        for (offset, g) in pieces {
            let dst = out.base + offset, src = g.storage.base
            for i in 0..<g.count { dst[i] += src[i] }
        }
    }
    let placement = pieces.map { ($0.offset, $0.gradient.shape) }
    return makeResult(shape, out, "assembleSlices", pieces.map(\.gradient)) { gg, _, _, needs in
        placement.enumerated().map { k, p in needs[k] ? sliceUnchecked(gg, offset: p.0, shape: p.1) : nil }
    }
}

/// Flat concatenation of tensors (parameter gradients back into one vector).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func concatFlatUnchecked<S>(_ parts: [Tensor<S>]) -> Tensor<S> {
    let total = parts.reduce(0) { $0 + $1.count }
    let out = TensorStorage<S>(uninitializedCount: total)
    var offset = 0
    var offsets: [Int] = []
    for p in parts {
        offsets.append(offset)
        copyElements((out.base + offset), p.storage.base, p.count)
        offset += p.count
    }
    let shapes = parts.map(\.shape)
    return makeResult([total], out, "concat", parts) { g, _, _, needs in
        zip(offsets, shapes).enumerated().map { k, part in
            needs[k] ? sliceUnchecked(g, offset: part.0, shape: part.1) : nil
        }
    }
}

extension Tensor {
    /// Rows `indices` of a (N, …) tensor.
    public func gatherRows(_ indices: [Int]) throws(ASTError) -> Tensor {
        guard rank >= 1 else { throw .shape("gatherRows: input is a scalar") }
        if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= shape[0] }) {
            throw .invalid("gatherRows: index \(indices[bad]) at position \(bad) is outside [0, \(shape[0]))")
        }
        return gatherRowsUnchecked(self, indices)
    }

    /// Elements offset..<offset+count (flat) viewed as `shape`.
    public func slice(offset: Int, shape: [Int]) throws(ASTError) -> Tensor {
        let n = try Tensor.elementCount(shape, name: "slice")
        guard offset >= 0, offset <= count - n else {
            throw .shape("slice: \(n) elements at offset \(offset) exceed the \(count) of shape \(self.shape)")
        }
        return sliceUnchecked(self, offset: offset, shape: shape)
    }

    /// Tensors concatenated into one flat vector.
    public static func concatenated(_ parts: [Tensor]) -> Tensor { concatFlatUnchecked(parts) }
}
