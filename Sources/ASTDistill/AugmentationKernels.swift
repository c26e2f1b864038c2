import ASTCore

/// The DSA image maps as differentiable ops. Every map is affine in the image with a linear
/// part A; each op's backward rule is the op computing Aᵀ, whose own rule is A again, so
/// gradients of gradients flow through any number of levels. Per-sample parameters are
/// constants of the graph.

/// Zero-filled storage by a loop the specializer sees (`TensorStorage(zeros:)` initialises
/// through an unspecialised generic path: ~10x slower on these sizes).
@inline(__always)
private func zeroedStorage<S: TensorScalar>(_: S.Type, _ count: Int) -> TensorStorage<S> {
    let storage = TensorStorage<S>(uninitializedCount: count)
    let p = storage.base
    for i in 0..<count { p[i] = 0 }
    return storage
}

// MARK: - Color (brightness, saturation, contrast)

/// Brightness then saturation then contrast, per sample n, fused:
///   y = s·c·x + c·(1 − s)·mean_C(x) + (1 − c)·mean_CHW(x) + b
/// which equals contrast_c(saturation_s(x + b)), because the channel mean and the image mean
/// are nested projections (mean_CHW ∘ mean_C = mean_CHW) and both maps preserve constants.
/// The linear part is symmetric, so it is its own adjoint; `brightness` nil drops the shift.
// x: (N, C, H, W) -> (N, C, H, W); brightness, saturation, contrast: N values each
@_specialize(where S == Float)
@_specialize(where S == Double)
package func colorJitterUnchecked<S>(_ x: Tensor<S>, brightness: [S]?, saturation: [S], contrast: [S]) -> Tensor<S> {
    let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let sampleSize = c * plane
    let out = TensorStorage<S>(uninitializedCount: x.count)
    var channelMean = [S](repeating: 0, count: plane)
    let invC = 1 / S(c), invPlane = 1 / S(plane)
    channelMean.withUnsafeMutableBufferPointer { m in
        let mean = m.baseAddress!
        for i in 0..<n {
            let src = x.storage.base + i * sampleSize, dst = out.base + i * sampleSize
            // mean over channels at each pixel
            for p in 0..<plane { mean[p] = src[p] }
            for ch in 1..<max(c, 1) {
                let row = src + ch * plane
                for p in 0..<plane { mean[p] += row[p] }
            }
            var total: S = 0
            for p in 0..<plane {
                mean[p] *= invC
                total += mean[p]
            }
            let imageMean = total * invPlane
            let (s, k) = (saturation[i], contrast[i])
            let a = s * k, b = k * (1 - s)
            let constant = (1 - k) * imageMean + (brightness?[i] ?? 0)
            for ch in 0..<c {
                let row = src + ch * plane, target = dst + ch * plane
                for p in 0..<plane { target[p] = a * row[p] + b * mean[p] + constant }
            }
        }
    }
    return makeResult(x.shape, out, "colorJitter", [x]) { g, _, _, _ in
        [colorJitterUnchecked(g, brightness: nil, saturation: saturation, contrast: contrast)]
    }
}

// MARK: - Crop (integer translation with zero fill)

/// y[n, :, i, j] = x[n, :, i + rowShift[n], j + columnShift[n]], zero where that is outside.
/// Adjoint: the opposite translation.
// x: (N, C, H, W) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func translateUnchecked<S>(_ x: Tensor<S>, rowShift: [Int], columnShift: [Int]) -> Tensor<S> {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let out = zeroedStorage(S.self, x.count)
    for i in 0..<n {
        let dy = rowShift[i], dx = columnShift[i]
        // output rows r with 0 ≤ r + dy < h, columns q with 0 ≤ q + dx < w
        let r0 = max(0, -dy), r1 = min(h, h - dy)
        let q0 = max(0, -dx), q1 = min(w, w - dx)
        guard r0 < r1, q0 < q1 else { continue }
        for ch in 0..<c {
            let src = x.storage.base + (i * c + ch) * h * w, dst = out.base + (i * c + ch) * h * w
            for r in r0..<r1 {
                let d = dst + r * w, s = src + (r + dy) * w + dx
                for q in q0..<q1 { d[q] = s[q] }
            }
        }
    }
    return makeResult(x.shape, out, "translate", [x]) { g, _, _, _ in
        [translateUnchecked(g, rowShift: rowShift.map { -$0 }, columnShift: columnShift.map { -$0 })]
    }
}

// MARK: - Cutout (zero a rectangle)

/// x with rows top[n] ..< top[n] + height and columns left[n] ..< left[n] + width (clipped to
/// the image) set to zero in every channel. A mask: its own adjoint.
// x: (N, C, H, W) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func cutoutUnchecked<S>(_ x: Tensor<S>, top: [Int], left: [Int], height: Int, width: Int) -> Tensor<S> {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let out = TensorStorage<S>(uninitializedCount: x.count)
    out.base.initialize(from: x.storage.base, count: x.count)
    for i in 0..<n {
        let r0 = max(0, top[i]), r1 = min(h, top[i] + height)
        let q0 = max(0, left[i]), q1 = min(w, left[i] + width)
        guard r0 < r1, q0 < q1 else { continue }
        for ch in 0..<c {
            let dst = out.base + (i * c + ch) * h * w
            for r in r0..<r1 {
                let d = dst + r * w
                for q in q0..<q1 { d[q] = 0 }
            }
        }
    }
    return makeResult(x.shape, out, "cutout", [x]) { g, _, _, _ in
        [cutoutUnchecked(g, top: top, left: left, height: height, width: width)]
    }
}

// MARK: - Flip (horizontal, per sample)

/// Samples with `flipped[n]` mirrored left-right (column j <- W − 1 − j); a symmetric
/// permutation, so its own adjoint.
// x: (N, C, H, W) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func flipUnchecked<S>(_ x: Tensor<S>, flipped: [Bool]) -> Tensor<S> {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let sampleSize = c * h * w
    let out = TensorStorage<S>(uninitializedCount: x.count)
    for i in 0..<n {
        let src = x.storage.base + i * sampleSize, dst = out.base + i * sampleSize
        if !flipped[i] {
            dst.initialize(from: src, count: sampleSize)
            continue
        }
        for row in 0..<(c * h) {
            let s = src + row * w, d = dst + row * w
            for j in 0..<w { d[j] = s[w - 1 - j] }
        }
    }
    return makeResult(x.shape, out, "flip", [x]) { g, _, _, _ in [flipUnchecked(g, flipped: flipped)] }
}

// MARK: - Affine bilinear resampling (scale, rotate)

/// Where each output pixel reads from: PyTorch `affine_grid` + `grid_sample` (bilinear, zero
/// padding, align_corners = true) precomputed as four (source index, weight) corners per
/// output pixel and sample, shared by all channels. Index −1 marks a corner outside the image.
package struct AffineSamplingPlan<S: TensorScalar>: Sendable {
    package let height: Int
    package let width: Int
    /// (N, H·W, 4) flat indices into a sample's H·W plane.
    package let corners: [Int32]
    /// (N, H·W, 4) bilinear weights matching `corners`.
    package let weights: [S]

    /// `thetas[n]` is the 2x3 matrix [[t0, t1, t2], [t3, t4, t5]] mapping normalised output
    /// coordinates (x across the width, y down the height, both in [−1, 1]) to source ones.
    package init(thetas: [[Double]], height h: Int, width w: Int) {
        height = h
        width = w
        let plane = h * w, total = thetas.count * h * w * 4
        let xs = Self.normalisedCoordinates(w), ys = Self.normalisedCoordinates(h)
        let halfW = Double(w - 1) / 2, halfH = Double(h - 1) / 2
        let columnX = UnsafeMutablePointer<Double>.allocate(capacity: w)
        let columnY = UnsafeMutablePointer<Double>.allocate(capacity: w)
        defer { columnX.deallocate(); columnY.deallocate() }
        var corners: [Int32] = []
        let weights = [S](unsafeUninitializedCapacity: total) { weightBuffer, weightCount in
            corners = [Int32](unsafeUninitializedCapacity: total) { cornerBuffer, cornerCount in
                let idx = cornerBuffer.baseAddress!, wt = weightBuffer.baseAddress!
                for k in 0..<total {
                    idx[k] = -1
                    wt[k] = 0
                }
                for (n, t) in thetas.enumerated() {
                    let (t0, t1, t2, t3, t4, t5) = (t[0], t[1], t[2], t[3], t[4], t[5])
                    // Source pixel coordinates, affine in (i, j): ix = ((gx + 1) / 2)·(W − 1) with
                    // gx = t0·x_j + t1·y_i + t2, split into a per-column and a per-row part.
                    for j in 0..<w {
                        columnX[j] = t0 * xs[j] * halfW
                        columnY[j] = t3 * xs[j] * halfH
                    }
                    for i in 0..<h {
                        let rowX = (t1 * ys[i] + t2 + 1) * halfW, rowY = (t4 * ys[i] + t5 + 1) * halfH
                        for j in 0..<w {
                            let ix = columnX[j] + rowX, iy = columnY[j] + rowY
                            // Entirely outside (or not finite): all four corners are zero padding.
                            guard ix > -1, ix < Double(w), iy > -1, iy < Double(h) else { continue }
                            let (x0, fx) = Self.floorAndFraction(ix), (y0, fy) = Self.floorAndFraction(iy)
                            let base = ((n * plane) + i * w + j) * 4
                            // corners k = 0..3: (x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)
                            for k in 0..<4 {
                                let right = k & 1, below = k >> 1
                                let cx = x0 + right, cy = y0 + below
                                guard cx >= 0, cx < w, cy >= 0, cy < h else { continue }
                                idx[base + k] = Int32(cy * w + cx)
                                wt[base + k] = S((right == 1 ? fx : 1 - fx) * (below == 1 ? fy : 1 - fy))
                            }
                        }
                    }
                }
                cornerCount = total
            }
            weightCount = total
        }
        self.corners = corners
        self.weights = weights
    }

    /// ⌊v⌋ and v − ⌊v⌋ for v > −1. A fraction within 1e-9 of 0 or 1 is snapped to 0, so the
    /// identity map and quarter turns reproduce pixels exactly instead of mixing in 1e-16 of a
    /// neighbour.
    @inline(__always)
    private static func floorAndFraction(_ v: Double) -> (Int, Double) {
        var f = Int(v + 1) - 1  // truncation of a positive number is its floor
        var fraction = v - Double(f)
        if fraction < 1e-9 {
            fraction = 0
        } else if fraction > 1 - 1e-9 {
            f += 1
            fraction = 0
        }
        return (f, fraction)
    }

    /// torch.linspace(−1, 1, n) as `affine_grid` builds it (0 for a single step).
    private static func normalisedCoordinates(_ n: Int) -> [Double] {
        guard n > 1 else { return [0] }
        let step = 2 / Double(n - 1)
        return (0..<n).map { k in k < n / 2 ? -1 + Double(k) * step : 1 - Double(n - 1 - k) * step }
    }
}

/// y[n, c, p] = Σ_k weight[n, p, k] · x[n, c, corner[n, p, k]] (bilinear gather).
// x: (N, C, H, W) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func affineSampleUnchecked<S>(_ x: Tensor<S>, _ plan: AffineSamplingPlan<S>) -> Tensor<S> {
    let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let out = TensorStorage<S>(uninitializedCount: x.count)
    plan.corners.withUnsafeBufferPointer { cornerBuffer in
        plan.weights.withUnsafeBufferPointer { weightBuffer in
            for i in 0..<n {
                let idx = cornerBuffer.baseAddress! + i * plane * 4, wt = weightBuffer.baseAddress! + i * plane * 4
                for ch in 0..<c {
                    let src = x.storage.base + (i * c + ch) * plane, dst = out.base + (i * c + ch) * plane
                    for p in 0..<plane {
                        var acc: S = 0
                        for k in 0..<4 where idx[4 * p + k] >= 0 { acc += wt[4 * p + k] * src[Int(idx[4 * p + k])] }
                        dst[p] = acc
                    }
                }
            }
        }
    }
    return makeResult(x.shape, out, "affineSample", [x]) { g, _, _, _ in [affineSampleTransposeUnchecked(g, plan)] }
}

/// The adjoint of `affineSampleUnchecked`: each output gradient spread onto its four source
/// corners with the bilinear weights (scatter-add).
// g: (N, C, H, W) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func affineSampleTransposeUnchecked<S>(_ g: Tensor<S>, _ plan: AffineSamplingPlan<S>) -> Tensor<S> {
    let (n, c, plane) = (g.shape[0], g.shape[1], g.shape[2] * g.shape[3])
    let out = zeroedStorage(S.self, g.count)
    plan.corners.withUnsafeBufferPointer { cornerBuffer in
        plan.weights.withUnsafeBufferPointer { weightBuffer in
            for i in 0..<n {
                let idx = cornerBuffer.baseAddress! + i * plane * 4, wt = weightBuffer.baseAddress! + i * plane * 4
                for ch in 0..<c {
                    let src = g.storage.base + (i * c + ch) * plane, dst = out.base + (i * c + ch) * plane
                    for p in 0..<plane {
                        let v = src[p]
                        for k in 0..<4 where idx[4 * p + k] >= 0 { dst[Int(idx[4 * p + k])] += wt[4 * p + k] * v }
                    }
                }
            }
        }
    }
    return makeResult(g.shape, out, "affineSampleTranspose", [g]) { gg, _, _, _ in [affineSampleUnchecked(gg, plan)] }
}
