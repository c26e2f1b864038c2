/// 2x2 average and max pooling (stride 2, floor), and their linear adjoints.

/// Mean of each 2x2 window; a trailing odd row/column is dropped.
// x: (N, C, H, W) -> (N, C, H/2, W/2)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func avgPoolUnchecked<S>(_ x: Tensor<S>) -> Tensor<S> {
    let (nc, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (ho, wo) = (h / 2, w / 2)
    let out = TensorStorage<S>(uninitializedCount: nc * ho * wo)
    let src = x.storage.base, dst = out.base
    Parallel.forRanges(nc, minimumPerThread: max(1, parallelElementwiseMinimum / max(h * w, 1))) { planes in
        for p in planes { avgPoolPlane(src + p * h * w, height: h, width: w, into: dst + p * ho * wo) }
    }
    return makeResult([x.shape[0], x.shape[1], ho, wo], out, "avgPool", [x]) { g, _, _, _ in
        [avgPoolGradUnchecked(g, height: h, width: w)]
    }
}

/// Each pooled gradient spread as a quarter over its window (zeros on a dropped row/column).
// g: (N, C, H/2, W/2) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func avgPoolGradUnchecked<S>(_ g: Tensor<S>, height h: Int, width w: Int) -> Tensor<S> {
    let (nc, ho, wo) = (g.shape[0] * g.shape[1], g.shape[2], g.shape[3])
    let out = TensorStorage<S>(uninitializedCount: nc * h * w)
    let src = g.storage.base, dst = out.base
    Parallel.forRanges(nc, minimumPerThread: max(1, parallelElementwiseMinimum / max(h * w, 1))) { planes in
        for p in planes { avgPoolGradPlane(src + p * ho * wo, height: h, width: w, into: dst + p * h * w) }
    }
    return makeResult([g.shape[0], g.shape[1], h, w], out, "avgPoolGrad", [g]) { gg, _, _, _ in
        [avgPoolUnchecked(gg)]
    }
}

/// Maximum of each 2x2 window (first maximum wins). The argmax positions are constants of the
/// graph: the adjoint routes gradients to them, and the adjoint's adjoint gathers from them.
// x: (N, C, H, W) -> (N, C, H/2, W/2)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func maxPoolUnchecked<S>(_ x: Tensor<S>) -> Tensor<S> {
    let (nc, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (ho, wo) = (h / 2, w / 2)
    let out = TensorStorage<S>(uninitializedCount: nc * ho * wo)
    var argmax = [Int32](repeating: 0, count: nc * ho * wo)
    let src = x.storage.base, dst = out.base
    argmax.withUnsafeMutableBufferPointer { am in
        for p in 0..<nc {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let base = p * h * w + 2 * oy * w + 2 * ox
                    var best = base
                    for cand in [base + 1, base + w, base + w + 1] where src[cand] > src[best] { best = cand }
                    dst[(p * ho + oy) * wo + ox] = src[best]
                    am[(p * ho + oy) * wo + ox] = Int32(best - p * h * w)
                }
            }
        }
    }
    let positions = argmax
    return makeResult([x.shape[0], x.shape[1], ho, wo], out, "maxPool", [x]) { g, _, _, _ in
        [maxPoolGradUnchecked(g, positions, height: h, width: w)]
    }
}

/// Scatter of pooled gradients to the argmax positions.
// g: (N, C, H/2, W/2) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func maxPoolGradUnchecked<S>(_ g: Tensor<S>, _ positions: [Int32], height h: Int, width w: Int) -> Tensor<S> {
    let (nc, plane) = (g.shape[0] * g.shape[1], g.shape[2] * g.shape[3])
    let out = TensorStorage<S>(zeros: nc * h * w)
    let src = g.storage.base, dst = out.base
    positions.withUnsafeBufferPointer { pos in
        for p in 0..<nc { for i in 0..<plane { dst[p * h * w + Int(pos[p * plane + i])] += src[p * plane + i] } }
    }
    let pooledShape = g.shape
    return makeResult([g.shape[0], g.shape[1], h, w], out, "maxPoolGrad", [g]) { gg, _, _, _ in
        [gatherPooledUnchecked(gg, positions, pooledShape: pooledShape)]
    }
}

/// Values at the argmax positions (the adjoint of maxPoolGrad).
@_specialize(where S == Float)
@_specialize(where S == Double)
package func gatherPooledUnchecked<S>(_ x: Tensor<S>, _ positions: [Int32], pooledShape: [Int]) -> Tensor<S> {
    let (nc, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let plane = pooledShape[2] * pooledShape[3]
    let out = TensorStorage<S>(uninitializedCount: nc * plane)
    let src = x.storage.base, dst = out.base
    positions.withUnsafeBufferPointer { pos in
        for p in 0..<nc { for i in 0..<plane { dst[p * plane + i] = src[p * h * w + Int(pos[p * plane + i])] } }
    }
    return makeResult(pooledShape, out, "gatherPooled", [x]) { g, _, _, _ in
        [maxPoolGradUnchecked(g, positions, height: h, width: w)]
    }
}

extension Tensor {
    public func avgPool2x2() throws(ASTError) -> Tensor {
        guard rank == 4, shape[2] >= 2, shape[3] >= 2 else {
            throw .shape("avgPool2x2: input must be (N, C, H≥2, W≥2), got \(shape)")
        }
        return avgPoolUnchecked(self)
    }
    public func maxPool2x2() throws(ASTError) -> Tensor {
        guard rank == 4, shape[2] >= 2, shape[3] >= 2 else {
            throw .shape("maxPool2x2: input must be (N, C, H≥2, W≥2), got \(shape)")
        }
        return maxPoolUnchecked(self)
    }
}

/// One plane's 2×2 window means, each summed ((a + b) + c) + d then × ¼; a trailing odd
/// row/column is dropped.
// s: (h, w) -> d: (h/2, w/2)
@inline(__always)
func avgPoolPlane<S: TensorScalar>(
    _ s: UnsafePointer<S>, height h: Int, width w: Int, into d: UnsafeMutablePointer<S>
) {
    let wo = w / 2
    for oy in 0..<h / 2 {
        let r0 = s + 2 * oy * w, r1 = r0 + w, out = d + oy * wo
        var ox = 0
        while ox + 4 <= wo {  // 4 windows a round, summed in the scalar loop's order
            let (a, b) = (loadPairs(r0, 2 * ox), loadPairs(r1, 2 * ox))
            storeLanes((((a.evenHalf + a.oddHalf) + b.evenHalf) + b.oddHalf) * 0.25, out, ox)
            ox += 4
        }
        while ox < wo {
            out[ox] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * 0.25
            ox += 1
        }
    }
}

/// One plane's pooled gradient spread as a quarter over each window, zeros on a dropped
/// row/column: every element of d is written.
// s: (h/2, w/2) -> d: (h, w)
@inline(__always)
func avgPoolGradPlane<S: TensorScalar>(
    _ s: UnsafePointer<S>, height h: Int, width w: Int, into d: UnsafeMutablePointer<S>
) {
    let wo = w / 2
    for oy in 0..<h / 2 {
        let r0 = d + 2 * oy * w, r1 = r0 + w, row = s + oy * wo
        var ox = 0
        while ox + 4 <= wo {  // 4 windows a round
            let v = loadLanes(row, ox) * 0.25
            let pairs = SIMD8(v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3])
            storePairs(pairs, r0, 2 * ox)
            storePairs(pairs, r1, 2 * ox)
            ox += 4
        }
        while ox < wo {
            let v = row[ox] * 0.25
            r0[2 * ox] = v; r0[2 * ox + 1] = v; r1[2 * ox] = v; r1[2 * ox + 1] = v
            ox += 1
        }
        if w % 2 == 1 { r0[w - 1] = 0; r1[w - 1] = 0 }
    }
    if h % 2 == 1 { (d + (h - 1) * w).initialize(repeating: 0, count: w) }
}

/// Elements i…i+7 (4 windows' columns of a row).
@inline(__always)
private func loadPairs<S: TensorScalar>(_ p: UnsafePointer<S>, _ i: Int) -> SIMD8<S> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<S>.self)
}

@inline(__always)
private func storePairs<S: TensorScalar>(_ v: SIMD8<S>, _ p: UnsafeMutablePointer<S>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<S>.self)
}
