/// 2-D convolution (cross-correlation, stride 1, zero padding) by im2col + gemm, with its
/// input-gradient and weight-gradient as differentiable ops of their own, so the three
/// differentiate into each other and second derivatives are exact.

/// Sizes of one convolution; `kernel` rows are C·kh·kw long.
struct ConvGeometry: Equatable {
    let batch, channels, height, width: Int
    let outChannels, kernelH, kernelW, padding: Int
    var outH: Int { height + 2 * padding - kernelH + 1 }
    var outW: Int { width + 2 * padding - kernelW + 1 }
    var kernelSize: Int { channels * kernelH * kernelW }
    var outPlane: Int { outH * outW }

    /// Images per im2col chunk of one worker: keeps its column buffer near 1 M elements
    /// (4 MiB in Float), large enough for an efficient gemm, small enough to stay in cache.
    var chunk: Int { max(1, min(batch, (1 << 20) / max(1, kernelSize * outPlane))) }

    /// Whether gemms run image by image on NCHW planes in place (no packing copy): when a plane
    /// is wide enough for an efficient gemm on its own.
    var gemmPerImage: Bool { outPlane >= 128 }
}

/// Runs body(part, images) on each worker's contiguous share of the batch, handing it its own
/// column buffer (kernelSize × chunk·plane) and packing buffer (outChannels × chunk·plane).
/// The gemms inside run single-threaded (see `Parallel`), so both cores stay busy throughout.
@inline(__always)
private func forEachWorker<S: TensorScalar>(
    _ g: ConvGeometry, _ type: S.Type,
    _ body: (Int, Range<Int>, UnsafeMutablePointer<S>, UnsafeMutablePointer<S>) -> Void
) {
    Parallel.forParts(g.batch) { part, images in
        let nb = min(g.chunk, images.count)
        let colBuffer = TensorStorage<S>(uninitializedCount: g.kernelSize * nb * g.outPlane)
        let tmpBuffer = TensorStorage<S>(
            uninitializedCount: nb > 1 && !g.gemmPerImage ? g.outChannels * nb * g.outPlane : 1)
        body(part, images, colBuffer.base, tmpBuffer.base)
        withExtendedLifetime((colBuffer, tmpBuffer)) {}
    }
}

/// col[(c·kh + ky)·kw + kx, b·Ho·Wo + oy·Wo + ox] = x[n0 + b, c, oy + ky − p, ox + kx − p] (0 outside).
// x: (N, C, H, W) -> col: (C·kh·kw, nb·Ho·Wo)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func im2col<S: TensorScalar>(
    _ x: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int,
    _ col: UnsafeMutablePointer<S>
) {
    let (ho, wo, h, w, p) = (g.outH, g.outW, g.height, g.width, g.padding)
    let plane = ho * wo, ld = nb * plane
    let taps = g.kernelH * g.kernelW
    for r in 0..<g.kernelSize {
        let (c, ky, kx) = (r / taps, (r % taps) / g.kernelW, r % g.kernelW)
        let row = col + r * ld
        let lo = max(0, p - kx), hi = max(lo, min(wo, w + p - kx))
        for b in 0..<nb {
            let image = x + ((n0 + b) * g.channels + c) * h * w
            for oy in 0..<ho {
                let dst = row + b * plane + oy * wo
                let iy = oy + ky - p
                if iy < 0 || iy >= h {
                    zeroElements(dst, wo)
                    continue
                }
                if lo > 0 { zeroElements(dst, lo) }
                if hi > lo { copyElements(dst.advanced(by: lo), image + iy * w + lo + kx - p, hi - lo) }
                if hi < wo { zeroElements(dst.advanced(by: hi), wo - hi) }
            }
        }
    }
}

/// dx[n0 + b, c, iy, ix] += col[...] — the adjoint of im2col.
// col: (C·kh·kw, nb·Ho·Wo) -> dx: (N, C, H, W), accumulated
@_specialize(where S == Float)
@_specialize(where S == Double)
private func col2im<S: TensorScalar>(
    _ col: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int,
    _ dx: UnsafeMutablePointer<S>
) {
    let (ho, wo, h, w, p) = (g.outH, g.outW, g.height, g.width, g.padding)
    let plane = ho * wo, ld = nb * plane
    for c in 0..<g.channels {
        for ky in 0..<g.kernelH {
            for kx in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ky) * g.kernelW + kx) * ld
                let lo = max(0, p - kx), hi = max(lo, min(wo, w + p - kx))
                guard hi > lo else { continue }
                for b in 0..<nb {
                    let image = dx + ((n0 + b) * g.channels + c) * h * w
                    for oy in 0..<ho {
                        let iy = oy + ky - p
                        if iy < 0 || iy >= h { continue }
                        let src = row + b * plane + oy * wo + lo
                        let dst = image + iy * w + lo + kx - p
                        for i in 0..<(hi - lo) { dst[i] += src[i] }
                    }
                }
            }
        }
    }
}

/// Copies between NCHW planes of nb images and the gemm layout (O, nb·Ho·Wo).
@_specialize(where S == Float)
@_specialize(where S == Double)
private func gatherPlanes<S: TensorScalar>(
    _ y: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ out: UnsafeMutablePointer<S>
) {
    let plane = g.outPlane
    for b in 0..<nb {
        for o in 0..<g.outChannels {
            let packed: Int = (o * nb + b) * plane, image: Int = ((n0 + b) * g.outChannels + o) * plane
            copyElements(out + packed, y + image, plane)
        }
    }
}

/// Images n0..<n0+nb of y in the gemm layout (O, nb·Ho·Wo): y itself for one image, else
/// packed into `scratch`.
@inline(__always)
private func packedChunk<S: TensorScalar>(
    _ y: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int,
    _ scratch: UnsafeMutablePointer<S>
) -> UnsafePointer<S> {
    if nb == 1 { return y + n0 * g.outChannels * g.outPlane }
    gatherPlanes(y, g, n0, nb, scratch)
    return UnsafePointer(scratch)
}

@_specialize(where S == Float)
@_specialize(where S == Double)
private func scatterPlanes<S: TensorScalar>(
    _ t: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ y: UnsafeMutablePointer<S>
) {
    let plane = g.outPlane
    for b in 0..<nb {
        for o in 0..<g.outChannels {
            let packed: Int = (o * nb + b) * plane, image: Int = ((n0 + b) * g.outChannels + o) * plane
            copyElements(y + image, t + packed, plane)
        }
    }
}

/// y = conv(x, w).
// x: (N, C, H, W), w: (O, C, kh, kw) -> y: (N, O, Ho, Wo)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func conv2dUnchecked<S>(_ x: Tensor<S>, _ w: Tensor<S>, padding: Int) -> Tensor<S> {
    let g = ConvGeometry(
        batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3],
        outChannels: w.shape[0], kernelH: w.shape[2], kernelW: w.shape[3], padding: padding)
    let out = TensorStorage<S>(uninitializedCount: g.batch * g.outChannels * g.outPlane)
    let (xs, ws, ys) = (x.storage.base, w.storage.base, out.base)
    forEachWorker(g, S.self) { _, images, col, tmp in
        var n0 = images.lowerBound
        while n0 < images.upperBound {
            let m = min(g.chunk, images.upperBound - n0)
            im2col(xs, g, n0, m, col)
            if m == 1 || g.gemmPerImage {
                for b in 0..<m {
                    S.gemm(
                        transA: false, transB: false, m: g.outChannels, n: g.outPlane, k: g.kernelSize, alpha: 1,
                        a: ws, lda: g.kernelSize, b: col + b * g.outPlane, ldb: m * g.outPlane,
                        beta: 0, c: ys + (n0 + b) * g.outChannels * g.outPlane, ldc: g.outPlane)
                }
            } else {
                S.gemm(
                    transA: false, transB: false, m: g.outChannels, n: m * g.outPlane, k: g.kernelSize, alpha: 1,
                    a: ws, lda: g.kernelSize, b: col, ldb: m * g.outPlane,
                    beta: 0, c: tmp, ldc: m * g.outPlane)
                scatterPlanes(tmp, g, n0, m, ys)
            }
            n0 += m
        }
    }
    return makeResult([g.batch, g.outChannels, g.outH, g.outW], out, "conv2d", [x, w]) { dy, inputs, _, needs in
        [
            needs[0] ? convInputGradUnchecked(dy, inputs[1], height: g.height, width: g.width, padding: padding) : nil,
            needs[1]
                ? convWeightGradUnchecked(inputs[0], dy, kernelH: g.kernelH, kernelW: g.kernelW, padding: padding) : nil
        ]
    }
}

/// dx = convᵀ(dy, w): the gradient of conv with respect to its input.
// dy: (N, O, Ho, Wo), w: (O, C, kh, kw) -> dx: (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func convInputGradUnchecked<S>(
    _ dy: Tensor<S>, _ w: Tensor<S>, height: Int, width: Int, padding: Int
) -> Tensor<S> {
    let g = ConvGeometry(
        batch: dy.shape[0], channels: w.shape[1], height: height, width: width,
        outChannels: w.shape[0], kernelH: w.shape[2], kernelW: w.shape[3], padding: padding)
    let imageSize = g.channels * height * width
    let out = TensorStorage<S>(uninitializedCount: g.batch * imageSize)
    let (dys, ws, dxs) = (dy.storage.base, w.storage.base, out.base)
    forEachWorker(g, S.self) { _, images, col, tmp in
        zeroElements(dxs + images.lowerBound * imageSize, images.count * imageSize)
        var n0 = images.lowerBound
        while n0 < images.upperBound {
            let m = min(g.chunk, images.upperBound - n0)
            if g.gemmPerImage {
                for b in 0..<m {
                    S.gemm(
                        transA: true, transB: false, m: g.kernelSize, n: g.outPlane, k: g.outChannels, alpha: 1,
                        a: ws, lda: g.kernelSize, b: dys + (n0 + b) * g.outChannels * g.outPlane, ldb: g.outPlane,
                        beta: 0, c: col + b * g.outPlane, ldc: m * g.outPlane)
                }
            } else {
                let dyChunk = packedChunk(dys, g, n0, m, tmp)
                S.gemm(
                    transA: true, transB: false, m: g.kernelSize, n: m * g.outPlane, k: g.outChannels, alpha: 1,
                    a: ws, lda: g.kernelSize, b: dyChunk, ldb: m * g.outPlane,
                    beta: 0, c: col, ldc: m * g.outPlane)
            }
            col2im(col, g, n0, m, dxs)
            n0 += m
        }
    }
    return makeResult([g.batch, g.channels, height, width], out, "convInputGrad", [dy, w]) { z, inputs, _, needs in
        [
            needs[0] ? conv2dUnchecked(z, inputs[1], padding: padding) : nil,
            needs[1]
                ? convWeightGradUnchecked(z, inputs[0], kernelH: g.kernelH, kernelW: g.kernelW, padding: padding) : nil
        ]
    }
}

/// dw = Σ_n dy[n] · im2col(x[n])ᵀ: the gradient of conv with respect to its kernel. Each worker
/// sums its images into its own partial; the partials are added in worker order (deterministic
/// for a given thread count).
// x: (N, C, H, W), dy: (N, O, Ho, Wo) -> dw: (O, C, kh, kw)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func convWeightGradUnchecked<S>(
    _ x: Tensor<S>, _ dy: Tensor<S>, kernelH: Int, kernelW: Int, padding: Int
) -> Tensor<S> {
    let g = ConvGeometry(
        batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3],
        outChannels: dy.shape[1], kernelH: kernelH, kernelW: kernelW, padding: padding)
    let size = g.outChannels * g.kernelSize
    let parts = Parallel.partCount(g.batch)
    let out = TensorStorage<S>(zeros: size)
    let partials = TensorStorage<S>(zeros: parts > 1 ? (parts - 1) * size : 1)
    let (xs, dys, dws, extra) = (x.storage.base, dy.storage.base, out.base, partials.base)
    forEachWorker(g, S.self) { part, images, col, tmp in
        let dw = part == 0 ? dws : extra + (part - 1) * size
        var n0 = images.lowerBound
        while n0 < images.upperBound {
            let m = min(g.chunk, images.upperBound - n0)
            im2col(xs, g, n0, m, col)
            if g.gemmPerImage {
                for b in 0..<m {
                    S.gemm(
                        transA: false, transB: true, m: g.outChannels, n: g.kernelSize, k: g.outPlane, alpha: 1,
                        a: dys + (n0 + b) * g.outChannels * g.outPlane, lda: g.outPlane, b: col + b * g.outPlane,
                        ldb: m * g.outPlane, beta: 1, c: dw, ldc: g.kernelSize)
                }
            } else {
                let dyChunk = packedChunk(dys, g, n0, m, tmp)
                S.gemm(
                    transA: false, transB: true, m: g.outChannels, n: g.kernelSize, k: m * g.outPlane, alpha: 1,
                    a: dyChunk, lda: m * g.outPlane, b: col, ldb: m * g.outPlane,
                    beta: 1, c: dw, ldc: g.kernelSize)
            }
            n0 += m
        }
    }
    for part in 1..<max(parts, 1) {
        let partial = extra + (part - 1) * size
        for i in 0..<size { dws[i] += partial[i] }
    }
    withExtendedLifetime(partials) {}
    return makeResult([g.outChannels, g.channels, kernelH, kernelW], out, "convWeightGrad", [x, dy]) {
        wbar, inputs, _, needs in
        [
            needs[0]
                ? convInputGradUnchecked(inputs[1], wbar, height: g.height, width: g.width, padding: padding) : nil,
            needs[1] ? conv2dUnchecked(inputs[0], wbar, padding: padding) : nil
        ]
    }
}

/// x[n, c, …] · scale[c] + shift[c] (either optional): conv bias and norm affine.
// x: (N, C, H, W) or (N, C), scale/shift: (C)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func channelAffineUnchecked<S>(_ x: Tensor<S>, scale: Tensor<S>?, shift: Tensor<S>?) -> Tensor<S> {
    let n = x.shape[0], c = x.shape[1], plane = x.shape.dropFirst(2).reduce(1, *)
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let src = x.storage.base, dst = out.base
    let sc = scale?.storage.base, sh = shift?.storage.base
    for b in 0..<n {
        for ch in 0..<c {
            let a = sc?[ch] ?? 1, t = sh?[ch] ?? 0
            let base = (b * c + ch) * plane
            for i in base..<(base + plane) { dst[i] = src[i] * a + t }
        }
    }
    let channelShape = [1, c] + [Int](repeating: 1, count: x.rank - 2)
    var inputs = [x]
    if let scale { inputs.append(scale) }
    if let shift { inputs.append(shift) }
    let hasScale = scale != nil
    return makeResult(x.shape, out, "channelAffine", inputs) { g, ins, _, needs in
        var grads: [Tensor<S>?] = [
            needs[0] ? (hasScale ? channelAffineUnchecked(g, scale: ins[1], shift: nil) : g) : nil
        ]
        if hasScale {
            grads.append(needs[1] ? reshapeUnchecked(sumToUnchecked(mulUnchecked(g, ins[0]), channelShape), [c]) : nil)
        }
        if ins.count > grads.count {
            grads.append(needs[grads.count] ? reshapeUnchecked(sumToUnchecked(g, channelShape), [c]) : nil)
        }
        return grads
    }
}

extension Tensor {
    /// Cross-correlation with `weight` (O, C, kh, kw), stride 1, zero `padding`, optional `bias` (O).
    // self: (N, C, H, W) -> (N, O, H + 2p − kh + 1, W + 2p − kw + 1)
    public func conv2d(weight: Tensor, bias: Tensor? = nil, padding: Int) throws(ASTError) -> Tensor {
        guard rank == 4 else { throw .shape("conv2d: input must be (N, C, H, W), got \(shape)") }
        guard weight.rank == 4, weight.shape[1] == shape[1] else {
            throw .shape("conv2d: weight \(weight.shape) does not match input \(shape) (want (O, \(shape[1]), kh, kw))")
        }
        guard padding >= 0, shape[2] + 2 * padding >= weight.shape[2], shape[3] + 2 * padding >= weight.shape[3] else {
            throw .shape("conv2d: kernel \(weight.shape) with padding \(padding) does not fit input \(shape)")
        }
        if let bias, bias.shape != [weight.shape[0]] {
            throw .shape("conv2d: bias \(bias.shape) does not match weight \(weight.shape)")
        }
        let y = conv2dUnchecked(self, weight, padding: padding)
        return bias.map { channelAffineUnchecked(y, scale: nil, shift: $0) } ?? y
    }

    /// The input gradient of conv2d as an op: convᵀ(self = dy, weight) with input size (height, width).
    public func conv2dInputGradient(weight: Tensor, height: Int, width: Int, padding: Int) throws(ASTError) -> Tensor {
        guard rank == 4, weight.rank == 4, shape[1] == weight.shape[0], padding >= 0,
            height + 2 * padding - weight.shape[2] + 1 == shape[2],
            width + 2 * padding - weight.shape[3] + 1 == shape[3]
        else {
            throw .shape(
                "conv2dInputGradient: dy \(shape) does not match weight \(weight.shape), input \(height)x\(width), "
                    + "padding \(padding)"
            )
        }
        return convInputGradUnchecked(self, weight, height: height, width: width, padding: padding)
    }

    /// The weight gradient of conv2d as an op: self = x, dy given.
    public func conv2dWeightGradient(
        outputGradient dy: Tensor, kernelH: Int, kernelW: Int, padding: Int
    ) throws(ASTError) -> Tensor {
        guard rank == 4, dy.rank == 4, dy.shape[0] == shape[0], padding >= 0, kernelH > 0, kernelW > 0,
            shape[2] + 2 * padding - kernelH + 1 == dy.shape[2], shape[3] + 2 * padding - kernelW + 1 == dy.shape[3]
        else {
            throw .shape(
                "conv2dWeightGradient: x \(shape) does not match dy \(dy.shape) for a \(kernelH)x\(kernelW) kernel, "
                    + "padding \(padding)"
            )
        }
        return convWeightGradUnchecked(self, dy, kernelH: kernelH, kernelW: kernelW, padding: padding)
    }

    /// self[n, c, …] · scale[c] + shift[c].
    public func channelAffine(scale: Tensor?, shift: Tensor?) throws(ASTError) -> Tensor {
        guard rank >= 2 else { throw .shape("channelAffine: input must be (N, C, …), got \(shape)") }
        for (name, t) in [("scale", scale), ("shift", shift)] {
            if let t, t.shape != [shape[1]] {
                throw .shape("channelAffine: \(name) \(t.shape) does not match input \(shape)")
            }
        }
        return channelAffineUnchecked(self, scale: scale, shift: shift)
    }
}
