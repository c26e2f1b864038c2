/// 2-D convolution (cross-correlation, stride 1, zero padding) by im2col + gemm, or Winograd
/// F(2×2, 3×3) for 3×3 kernels with padding 1 and enough channels (see `usesWinograd`), with its
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

// MARK: Winograd F(2×2, 3×3)

/// Which algorithm a 3×3, padding-1 convolution runs. `.automatic` picks by shape (see
/// `ConvGeometry.usesWinograd`); tests pin one with `ConvAlgorithm.$current.withValue(…)`, which
/// also reaches the backward closures run inside it.
package enum ConvAlgorithm: Sendable {
    case automatic, im2col, winograd
    @TaskLocal package static var current: ConvAlgorithm = .automatic
}

/// Winograd F(2×2, 3×3) (Lavin & Gray 2015): each 2×2 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A
/// for the 4×4 input tile d at stride 2, so the channel sum becomes 16 gemms [O×C]·[C×tiles]
/// with 16 multiplies per tile instead of 36: 2.25× fewer flops than im2col, plus transforms.
///   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
///   Aᵀ = [1 1 1 0; 0 1 −1 −1].
/// Transformed matrices are stored (16, rows, nb·T), k = 4i + j (i vertical, j horizontal), with
/// column b·T + ty·tw + tx for tile (ty, tx) of image b of the chunk. Odd sizes: the last tile
/// row/column runs over zero padding and its extra outputs are dropped (and zero in the adjoints).
extension ConvGeometry {
    var tilesH: Int { (outH + 1) / 2 }
    var tilesW: Int { (outW + 1) / 2 }
    var tiles: Int { tilesH * tilesW }
    /// Tile columns rounded up to whole vectors: the row length of the padded planes.
    var tileStride: Int { (tilesW + 3) & ~3 }

    /// Whether the Winograd path runs: 3×3 kernels with padding 1 (output = input size) and
    /// enough channels that the 16 gemms carry the work (see the measurements at `winogradMinChannels`).
    /// Any plane size works (odd sizes pad the last tile).
    var usesWinograd: Bool {
        guard kernelH == 3, kernelW == 3, padding == 1 else { return false }
        switch ConvAlgorithm.current {
        case .im2col: return false
        case .winograd: return true
        case .automatic: return min(channels, outChannels) >= winogradMinChannels
        }
    }

    /// Images per Winograd chunk: about `winogradColumns` tile columns per gemm.
    var winogradChunk: Int { max(1, min(batch, winogradColumns / tiles)) }
}

/// Smallest min(C, O) for which `.automatic` takes Winograd. Measured per call in Float on 2
/// workers (ms, im2col → Winograd, forward / input gradient / weight gradient):
///   C = O = 128, 16×16, N 10: 3.45/3.16/3.37 → 1.79/1.97/1.87; N 256: 87/83/89 → 45/50/47
///   C = O = 128, 8×8, N 10: 0.94/0.86/0.96 → 0.56/0.61/0.61; 7×7, N 10: 0.79/0.74/0.79 → 0.57/0.62/0.63
///   C = O = 32, 16×16, N 256: 7.7/6.9/8.4 → 4.4/5.6/5.3; C = O = 16, 8×8, N 256: 1.00/0.76/1.16 → 0.53/0.68/0.64
///   C = O = 16, 16×16, N 256: 2.68/2.33/2.99 → 1.71/2.44/2.36 (input gradient a tie)
///   C = O = 8, 16×16, N 256: 1.11/0.94/1.28 → 0.76/1.03/1.00 (input gradient ~10 % slower)
///   C = 3 → O = 128, 32×32, N 256: 9.8/13.4/14.2 → 19.4/37.1/33.5 (the first conv: im2col)
/// With few channels the transforms (O(C + O) per tile) outweigh the gemms (O(C·O) per tile).
let winogradMinChannels = 16
/// Tile columns per chunk of one worker (128, 256 and 512 measured within noise of each other
/// at C = O = 128; 1024 was slower at N 100 and 256).
let winogradColumns = 256

/// Distance between the 16 transformed planes of n elements: 32 elements more than n, so the 16
/// streams a transform writes (or reads) do not fall on the same cache sets when n is a power of 2
/// (C = O = 128: the kernel transform was the top of the profile without it; at N 10, 16×16 the
/// three primitives went from 2.7/2.9/2.4 ms to 1.8/2.0/1.9 ms with it).
@inline(__always)
func winogradPlane(_ n: Int) -> Int { n + 32 }

/// A worker's Winograd buffers: `inner` (16, C, nb·T), `outer` (16, O, nb·T), `plane` a padded
/// deinterleaved image plane (2·tilesH + 2 rows of 2·(tileStride + 1)) plus row scratch.
struct WinogradScratch<S: TensorScalar> {
    let inner, outer, plane: UnsafeMutablePointer<S>
}

/// Runs body(part, chunk, first, scratch) on each worker's contiguous share of the batch, chunk
/// by chunk of at most `winogradChunk` images in order (`first`: the share's first chunk), with
/// the worker's own Winograd buffers (allocated once per call; the chunks reuse them). An empty
/// share (batch 0) makes no call.
@inline(__always)
private func forEachWinogradChunk<S: TensorScalar>(
    _ g: ConvGeometry, _ type: S.Type, _ body: (Int, Range<Int>, Bool, WinogradScratch<S>) -> Void
) {
    Parallel.forParts(g.batch) { part, images in
        let columns = min(g.winogradChunk, images.count) * g.tiles
        // + 4: the output transforms load whole vectors past the last tile of a row.
        let inner = TensorStorage<S>(uninitializedCount: 16 * winogradPlane(g.channels * columns) + 4)
        let outer = TensorStorage<S>(uninitializedCount: 16 * winogradPlane(g.outChannels * columns) + 4)
        let plane = TensorStorage<S>(uninitializedCount: (2 * g.tilesH + 2) * 2 * (g.tileStride + 1) + 8 * g.tileStride)
        let scratch = WinogradScratch(inner: inner.base, outer: outer.base, plane: plane.base)
        var n0 = images.lowerBound
        while n0 < images.upperBound {
            let nb = min(g.winogradChunk, images.upperBound - n0)
            body(part, n0..<(n0 + nb), n0 == images.lowerBound, scratch)
            n0 += nb
        }
        withExtendedLifetime((inner, outer, plane)) {}
    }
}

/// Four vectors: one row or column of a transformed tile, for 4 neighbouring tiles.
typealias Quad<S: TensorScalar> = (Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>)

/// Lanes i..<i + count of p, zero beyond.
@inline(__always)
private func loadPartial<S: TensorScalar>(_ p: UnsafePointer<S>, _ i: Int, _ count: Int) -> Lanes<S> {
    if count >= 4 { return loadLanes(p, i) }
    var v = Lanes<S>()
    for l in 0..<count { v[l] = p[i + l] }
    return v
}

/// Stores the first `count` lanes of v at p + i.
@inline(__always)
private func storePartial<S: TensorScalar>(_ v: Lanes<S>, _ p: UnsafeMutablePointer<S>, _ i: Int, _ count: Int) {
    if count >= 4 {
        storeLanes(v, p, i)
    } else {
        for l in 0..<count { p[i + l] = v[l] }
    }
}

/// (d0 − d2, d1 + d2, d2 − d1, d1 − d3): one axis of Bᵀ d B.
@inline(__always)
private func inputTransform<S: TensorScalar>(_ d: Quad<S>) -> Quad<S> {
    (d.0 - d.2, d.1 + d.2, d.2 - d.1, d.1 - d.3)
}

/// (v0, v1 − v2 + v3, v1 + v2 − v0, −v3): one axis of B v Bᵀ, the transpose of `inputTransform`.
@inline(__always)
private func inputTransformAdjoint<S: TensorScalar>(_ v: Quad<S>) -> Quad<S> {
    (v.0, v.1 - v.2 + v.3, v.1 + v.2 - v.0, Lanes<S>() - v.3)
}

/// even[j] = src[2j] for j < ⌈n/2⌉ and odd[j] = src[2j + 1] for j < ⌊n/2⌋, 8 elements a step: the
/// vector stores let the transforms' vector loads that follow forward from them (scalar stores
/// made those loads stall, the largest cost of the two transforms that deinterleave).
@inline(__always)
private func deinterleave<S: TensorScalar>(
    _ src: UnsafePointer<S>, _ n: Int, even: UnsafeMutablePointer<S>, odd: UnsafeMutablePointer<S>
) {
    var j = 0
    while 2 * j + 8 <= n {
        let v = UnsafeRawPointer(src + 2 * j).loadUnaligned(as: SIMD8<S>.self)
        storeLanes(v.evenHalf, even, j)
        storeLanes(v.oddHalf, odd, j)
        j += 4
    }
    while 2 * j + 1 < n {
        (even[j], odd[j]) = (src[2 * j], src[2 * j + 1])
        j += 1
    }
    if 2 * j < n { even[j] = src[2 * j] }
}

/// Fills `plane` with the zero-padded plane src (h × w) in deinterleaved rows: padded row r holds
/// input row r − 1 as E[j] = column 2j − 1 (j ≤ tileStride), then O[j] = column 2j, so the
/// four columns 2tx − 1 … 2tx + 2 of the tiles tx…tx+3 are four contiguous vectors.
@inline(__always)
private func padDeinterleaved<S: TensorScalar>(
    _ src: UnsafePointer<S>, _ h: Int, _ w: Int, _ rows: Int, _ rowLength: Int, _ plane: UnsafeMutablePointer<S>
) {
    zeroElements(plane, rows * 2 * rowLength)
    for iy in 0..<min(h, rows - 1) {
        let e = plane + (iy + 1) * 2 * rowLength
        deinterleave(src + iy * w, w, even: e + rowLength, odd: e + 1)
    }
}

/// One axis of G g: (g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2).
@inline(__always)
private func kernelTransform<S: TensorScalar>(_ a: Lanes<S>, _ b: Lanes<S>, _ c: Lanes<S>) -> Quad<S> {
    let half = Lanes<S>(repeating: 0.5)
    return (a, half * (a + b + c), half * (a - b + c), c)
}

/// One axis of Gᵀ x, the transpose of `kernelTransform`: (x0 + ½(x1 + x2), ½(x1 − x2), ½(x1 + x2) + x3).
@inline(__always)
private func kernelTransformAdjoint<S: TensorScalar>(_ x: Quad<S>) -> (Lanes<S>, Lanes<S>, Lanes<S>) {
    let half = Lanes<S>(repeating: 0.5), s = half * (x.1 + x.2)
    return (x.0 + s, half * (x.1 - x.2), s + x.3)
}

/// Tap t of the n ≤ 4 kernels at g, g + 9, … (one per lane), zero beyond.
@inline(__always)
private func gatherTap<S: TensorScalar>(_ g: UnsafePointer<S>, _ t: Int, _ n: Int) -> Lanes<S> {
    var v = Lanes<S>()
    for l in 0..<n { v[l] = g[9 * l + t] }
    return v
}

/// U[k, o, c] = (G g Gᵀ)[k] for g = w[o, c], rows o in `range`; 4 channels per vector, so each
/// of the 16 planes is written contiguously.
// w: (O, C, 3, 3) -> u: (16, O, C)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradKernel<S: TensorScalar>(
    _ w: UnsafePointer<S>, _ outChannels: Int, _ channels: Int, _ range: Range<Int>, _ u: UnsafeMutablePointer<S>
) {
    let stride = winogradPlane(outChannels * channels)
    for o in range {
        var c = 0
        while c < channels {
            let n = min(4, channels - c), g = w + (o * channels + c) * 9
            // Each kernel row horizontally, then each column j vertically.
            let h0 = kernelTransform(gatherTap(g, 0, n), gatherTap(g, 1, n), gatherTap(g, 2, n))
            let h1 = kernelTransform(gatherTap(g, 3, n), gatherTap(g, 4, n), gatherTap(g, 5, n))
            let h2 = kernelTransform(gatherTap(g, 6, n), gatherTap(g, 7, n), gatherTap(g, 8, n))
            let out = u + o * channels
            storeColumn(kernelTransform(h0.0, h1.0, h2.0), out, stride, c, n)
            storeColumn(kernelTransform(h0.1, h1.1, h2.1), out + stride, stride, c, n)
            storeColumn(kernelTransform(h0.2, h1.2, h2.2), out + 2 * stride, stride, c, n)
            storeColumn(kernelTransform(h0.3, h1.3, h2.3), out + 3 * stride, stride, c, n)
            c += 4
        }
    }
}

/// Bᵀ-transform of the padded-plane row at e for the tiles tx…tx+3: (d0 − d2, d1 + d2, d2 − d1, d1 − d3)
/// of the columns 2tx − 1 … 2tx + 2.
@inline(__always)
private func transformedRow<S: TensorScalar>(_ e: UnsafePointer<S>, _ len: Int, _ tx: Int) -> Quad<S> {
    let o = e + len
    return inputTransform((loadLanes(e, tx), loadLanes(o, tx), loadLanes(e, tx + 1), loadLanes(o, tx + 1)))
}

/// Stores column j (p = base + j·stride) of a transformed 4×4 tile: entries k = j, 4 + j, 8 + j, 12 + j.
@inline(__always)
private func storeColumn<S: TensorScalar>(
    _ v: Quad<S>, _ p: UnsafeMutablePointer<S>, _ stride: Int, _ i: Int, _ n: Int
) {
    storePartial(v.0, p, i, n)
    storePartial(v.1, p + 4 * stride, i, n)
    storePartial(v.2, p + 8 * stride, i, n)
    storePartial(v.3, p + 12 * stride, i, n)
}

/// V[k, c, b·T + t] = (Bᵀ d B)[k] for the 4×4 zero-padded input tile d of tile t, image n0 + b,
/// channel c. Vectorised over 4 neighbouring tiles of a tile row.
// x: (N, C, H, W) -> v: (16, C, nb·T)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradInput<S: TensorScalar>(
    _ x: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ v: UnsafeMutablePointer<S>,
    _ plane: UnsafeMutablePointer<S>
) {
    let (th, tw, t) = (g.tilesH, g.tilesW, g.tiles)
    let len = g.tileStride + 1, rows = 2 * th + 2
    let ld = nb * t, stride = winogradPlane(g.channels * ld)
    for b in 0..<nb {
        for c in 0..<g.channels {
            let src = x + ((n0 + b) * g.channels + c) * g.height * g.width
            padDeinterleaved(src, g.height, g.width, rows, len, plane)
            let dst = v + c * ld + b * t
            for ty in 0..<th {
                let top = plane + 2 * ty * 2 * len, out = dst + ty * tw
                var tx = 0
                while tx < tw {
                    let n = tw - tx
                    // Horizontal transform of the 4 rows, then vertical per column j.
                    let d0 = transformedRow(top, len, tx), d1 = transformedRow(top + 2 * len, len, tx)
                    let d2 = transformedRow(top + 4 * len, len, tx), d3 = transformedRow(top + 6 * len, len, tx)
                    storeColumn(inputTransform((d0.0, d1.0, d2.0, d3.0)), out, stride, tx, n)
                    storeColumn(inputTransform((d0.1, d1.1, d2.1, d3.1)), out + stride, stride, tx, n)
                    storeColumn(inputTransform((d0.2, d1.2, d2.2, d3.2)), out + 2 * stride, stride, tx, n)
                    storeColumn(inputTransform((d0.3, d1.3, d2.3, d3.3)), out + 3 * stride, stride, tx, n)
                    tx += 4
                }
            }
        }
    }
}

/// (m0 + m1 + m2, m1 − m2 − m3) of column j (p = base + j·stride): one axis of Aᵀ m A.
@inline(__always)
private func outputColumn<S: TensorScalar>(_ p: UnsafePointer<S>, _ stride: Int, _ tx: Int) -> (Lanes<S>, Lanes<S>) {
    let (a, b, c, d) = (
        loadLanes(p, tx), loadLanes(p + 4 * stride, tx), loadLanes(p + 8 * stride, tx), loadLanes(p + 12 * stride, tx)
    )
    return (a + b + c, b - c - d)
}

/// p[i…i+7] = e0, o0, e1, o1, …: the even and odd output columns of 4 tiles.
@inline(__always)
private func storeInterleaved<S: TensorScalar>(_ e: Lanes<S>, _ o: Lanes<S>, _ p: UnsafeMutablePointer<S>, _ i: Int) {
    storeLanes(Lanes<S>(e[0], o[0], e[1], o[1]), p, i)
    storeLanes(Lanes<S>(e[2], o[2], e[3], o[3]), p, i + 4)
}

/// y[n0 + b, o] = Aᵀ m A per tile; the extra row/column of odd sizes is dropped. Whole vectors
/// are loaded past a row's last tile (into the next row or the buffer's slack) and discarded.
// m: (16, O, nb·T) -> y: (N, O, H, W), images n0..<n0+nb
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradOutput<S: TensorScalar>(
    _ m: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ y: UnsafeMutablePointer<S>,
    _ scratch: UnsafeMutablePointer<S>
) {
    let (th, tw, t, h, w) = (g.tilesH, g.tilesW, g.tiles, g.outH, g.outW)
    let ld = nb * t, stride = winogradPlane(g.outChannels * ld)
    let row0 = scratch, row1 = scratch + 2 * g.tileStride
    for b in 0..<nb {
        for o in 0..<g.outChannels {
            let src = m + o * ld + b * t
            let dst = y + ((n0 + b) * g.outChannels + o) * h * w
            for ty in 0..<th {
                let p = src + ty * tw
                var tx = 0
                while tx < tw {
                    let c0 = outputColumn(p, stride, tx), c1 = outputColumn(p + stride, stride, tx)
                    let c2 = outputColumn(p + 2 * stride, stride, tx), c3 = outputColumn(p + 3 * stride, stride, tx)
                    storeInterleaved(c0.0 + c1.0 + c2.0, c1.0 - c2.0 - c3.0, row0, 2 * tx)
                    storeInterleaved(c0.1 + c1.1 + c2.1, c1.1 - c2.1 - c3.1, row1, 2 * tx)
                    tx += 4
                }
                copyElements(dst + 2 * ty * w, row0, w)
                if 2 * ty + 1 < h { copyElements(dst + (2 * ty + 1) * w, row1, w) }
            }
        }
    }
}

/// (e, e + o, e − o, −o): one axis of A e Aᵀ for a 2-vector (e, o).
@inline(__always)
private func outputTransformAdjoint<S: TensorScalar>(_ e: Lanes<S>, _ o: Lanes<S>) -> Quad<S> {
    (e, e + o, e - o, Lanes<S>() - o)
}

/// m[k, o, b·T + t] = (A e Aᵀ)[k] for the 2×2 tile e of dy (zero past odd edges): the adjoint
/// of `winogradOutput`, used by both gradients.
// dy: (N, O, H, W) -> m: (16, O, nb·T)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradGradOutput<S: TensorScalar>(
    _ dy: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ m: UnsafeMutablePointer<S>,
    _ scratch: UnsafeMutablePointer<S>
) {
    let (th, tw, t, h, w, ts) = (g.tilesH, g.tilesW, g.tiles, g.outH, g.outW, g.tileStride)
    let ld = nb * t, stride = winogradPlane(g.outChannels * ld)
    // Rows 2ty and 2ty + 1 deinterleaved: even columns, odd columns.
    let (e0, o0, e1, o1) = (scratch, scratch + ts, scratch + 2 * ts, scratch + 3 * ts)
    for b in 0..<nb {
        for o in 0..<g.outChannels {
            let src = dy + ((n0 + b) * g.outChannels + o) * h * w
            let dst = m + o * ld + b * t
            for ty in 0..<th {
                zeroElements(scratch, 4 * ts)
                for a in 0..<min(2, h - 2 * ty) {
                    let e = scratch + 2 * a * ts
                    deinterleave(src + (2 * ty + a) * w, w, even: e, odd: e + ts)
                }
                let out = dst + ty * tw
                var tx = 0
                while tx < tw {
                    let n = tw - tx
                    // Vertical, then horizontal per row i.
                    let ve = outputTransformAdjoint(loadLanes(e0, tx), loadLanes(e1, tx))
                    let vo = outputTransformAdjoint(loadLanes(o0, tx), loadLanes(o1, tx))
                    let r0 = outputTransformAdjoint(ve.0, vo.0), r1 = outputTransformAdjoint(ve.1, vo.1)
                    let r2 = outputTransformAdjoint(ve.2, vo.2), r3 = outputTransformAdjoint(ve.3, vo.3)
                    storeColumn((r0.0, r1.0, r2.0, r3.0), out, stride, tx, n)
                    storeColumn((r0.1, r1.1, r2.1, r3.1), out + stride, stride, tx, n)
                    storeColumn((r0.2, r1.2, r2.2, r3.2), out + 2 * stride, stride, tx, n)
                    storeColumn((r0.3, r1.3, r2.3, r3.3), out + 3 * stride, stride, tx, n)
                    tx += 4
                }
            }
        }
    }
}

/// Column j (p = base + j·stride) of a transformed tile, lanes past the last tile zero.
@inline(__always)
private func loadColumn<S: TensorScalar>(_ p: UnsafePointer<S>, _ stride: Int, _ i: Int, _ n: Int) -> Quad<S> {
    (
        loadPartial(p, i, n), loadPartial(p + 4 * stride, i, n), loadPartial(p + 8 * stride, i, n),
        loadPartial(p + 12 * stride, i, n)
    )
}

/// p[i…i+3] += v.
@inline(__always)
private func addLanes<S: TensorScalar>(_ v: Lanes<S>, _ p: UnsafeMutablePointer<S>, _ i: Int) {
    storeLanes(loadLanes(p, i) + v, p, i)
}

/// Adds one row of 4 tiles' windows into the padded-plane row at e: columns 2tx − 1 … 2tx + 2
/// (E[tx], O[tx], E[tx + 1], O[tx + 1]); the two E (and O) adds overlap, so they run in turn.
@inline(__always)
private func addWindowRow<S: TensorScalar>(_ q: Quad<S>, _ e: UnsafeMutablePointer<S>, _ len: Int, _ tx: Int) {
    let o = e + len
    addLanes(q.0, e, tx)
    addLanes(q.1, o, tx)
    addLanes(q.2, e, tx + 1)
    addLanes(q.3, o, tx + 1)
}

/// dx[n0 + b, c] = Σ over tiles of B z Bᵀ added at the tiles' overlapping 4×4 input windows
/// (stride 2) in a padded plane, the padding then dropped: the adjoint of `winogradInput`.
// z: (16, C, nb·T) -> dx: (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradGradInput<S: TensorScalar>(
    _ z: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ dx: UnsafeMutablePointer<S>,
    _ plane: UnsafeMutablePointer<S>
) {
    let (th, tw, t, h, w) = (g.tilesH, g.tilesW, g.tiles, g.height, g.width)
    let len = g.tileStride + 1, rows = 2 * th + 2
    let ld = nb * t, stride = winogradPlane(g.channels * ld)
    for b in 0..<nb {
        for c in 0..<g.channels {
            zeroElements(plane, rows * 2 * len)
            let src = z + c * ld + b * t
            for ty in 0..<th {
                let top = plane + 2 * ty * 2 * len, p = src + ty * tw
                var tx = 0
                while tx < tw {
                    let n = tw - tx
                    // Vertical per column j (rows r of the window), then horizontal per row r.
                    let w0 = inputTransformAdjoint(loadColumn(p, stride, tx, n))
                    let w1 = inputTransformAdjoint(loadColumn(p + stride, stride, tx, n))
                    let w2 = inputTransformAdjoint(loadColumn(p + 2 * stride, stride, tx, n))
                    let w3 = inputTransformAdjoint(loadColumn(p + 3 * stride, stride, tx, n))
                    let s = (
                        inputTransformAdjoint((w0.0, w1.0, w2.0, w3.0)),
                        inputTransformAdjoint((w0.1, w1.1, w2.1, w3.1)),
                        inputTransformAdjoint((w0.2, w1.2, w2.2, w3.2)), inputTransformAdjoint((w0.3, w1.3, w2.3, w3.3))
                    )
                    addWindowRow(s.0, top, len, tx)
                    addWindowRow(s.1, top + 2 * len, len, tx)
                    addWindowRow(s.2, top + 4 * len, len, tx)
                    addWindowRow(s.3, top + 6 * len, len, tx)
                    tx += 4
                }
            }
            let out = dx + ((n0 + b) * g.channels + c) * h * w
            for iy in 0..<h {
                let e = plane + (iy + 1) * 2 * len, od = e + len, row = out + iy * w
                for j in 0..<(w / 2) { row[2 * j + 1] = e[j + 1] }
                for j in 0..<((w + 1) / 2) { row[2 * j] = od[j] }
            }
        }
    }
}

/// dw[o, c] = Gᵀ dU G, dU = Σ_p du[p][·, o, c] summed in part order (deterministic): the adjoint
/// of `winogradKernel`, rows o in `range`, 4 channels per vector.
// du: (parts, 16, O, C) -> dw: (O, C, 3, 3)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradKernelAdjoint<S: TensorScalar>(
    _ du: UnsafePointer<S>, _ parts: Int, _ outChannels: Int, _ channels: Int, _ range: Range<Int>,
    _ dw: UnsafeMutablePointer<S>
) {
    let stride = winogradPlane(outChannels * channels)
    for o in range {
        var c = 0
        while c < channels {
            let n = min(4, channels - c), at = o * channels + c
            func sum(_ k: Int) -> Lanes<S> {
                var v = loadPartial(du + k * stride, at, n)
                for p in 1..<max(parts, 1) { v += loadPartial(du + (16 * p + k) * stride, at, n) }
                return v
            }
            // Each column j vertically, then each row horizontally.
            let v0 = kernelTransformAdjoint((sum(0), sum(4), sum(8), sum(12)))
            let v1 = kernelTransformAdjoint((sum(1), sum(5), sum(9), sum(13)))
            let v2 = kernelTransformAdjoint((sum(2), sum(6), sum(10), sum(14)))
            let v3 = kernelTransformAdjoint((sum(3), sum(7), sum(11), sum(15)))
            let rows = (
                kernelTransformAdjoint((v0.0, v1.0, v2.0, v3.0)), kernelTransformAdjoint((v0.1, v1.1, v2.1, v3.1)),
                kernelTransformAdjoint((v0.2, v1.2, v2.2, v3.2))
            )
            let out = dw + at * 9
            for l in 0..<n {
                out[9 * l] = rows.0.0[l]; out[9 * l + 1] = rows.0.1[l]; out[9 * l + 2] = rows.0.2[l]
                out[9 * l + 3] = rows.1.0[l]; out[9 * l + 4] = rows.1.1[l]; out[9 * l + 5] = rows.1.2[l]
                out[9 * l + 6] = rows.2.0[l]; out[9 * l + 7] = rows.2.1[l]; out[9 * l + 8] = rows.2.2[l]
            }
            c += 4
        }
    }
}

/// U = G g Gᵀ for all (o, c), split over the workers by output channel.
// w: (O, C, 3, 3) -> (16, O, C)
private func winogradKernels<S: TensorScalar>(_ w: UnsafePointer<S>, _ g: ConvGeometry) -> TensorStorage<S> {
    let u = TensorStorage<S>(uninitializedCount: 16 * winogradPlane(g.outChannels * g.channels))
    let base = u.base
    Parallel.forRanges(g.outChannels) { winogradKernel(w, g.outChannels, g.channels, $0, base) }
    return u
}

/// The 16 per-point products of a chunk with the transformed kernels U (16, O, C): out[k] =
/// U[k]·in[k] (forward: in (16, C, cols) -> out (16, O, cols)) or, `transposed`, U[k]ᵀ·in[k]
/// (input gradient: in (16, O, cols) -> out (16, C, cols)). Planes are `winogradPlane` apart.
@inline(__always)
private func winogradPointProducts<S: TensorScalar>(
    _ u: UnsafePointer<S>, transposed: Bool, _ g: ConvGeometry, cols: Int, _ input: UnsafePointer<S>,
    _ output: UnsafeMutablePointer<S>
) {
    let (o, c) = (g.outChannels, g.channels)
    let (rows, depth) = transposed ? (c, o) : (o, c)
    for k in 0..<16 {
        S.gemm(
            transA: transposed, transB: false, m: rows, n: cols, k: depth, alpha: 1, a: u + k * winogradPlane(o * c),
            lda: c,
            b: input + k * winogradPlane(depth * cols), ldb: cols, beta: 0,
            c: output + k * winogradPlane(rows * cols), ldc: cols)
    }
}

/// y = conv(x, w): per chunk V = input transform, M[k] = U[k]·V[k], y = output transform.
// x: (N, C, H, W), w: (O, C, 3, 3) -> y: (N, O, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradConv<S: TensorScalar>(
    _ x: UnsafePointer<S>, _ w: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, _ g: ConvGeometry
) {
    let u = winogradKernels(w, g)
    forEachWinogradChunk(g, S.self) { _, chunk, _, s in
        let (n0, nb) = (chunk.lowerBound, chunk.count)
        winogradInput(x, g, n0, nb, s.inner, s.plane)
        winogradPointProducts(u.base, transposed: false, g, cols: nb * g.tiles, s.inner, s.outer)
        winogradOutput(s.outer, g, n0, nb, y, s.plane)
    }
    withExtendedLifetime(u) {}
}

/// dx = convᵀ(dy, w): per chunk M = A-transform of dy, Z[k] = U[k]ᵀ·M[k], dx = B-transform of Z
/// scatter-added.
// dy: (N, O, H, W), w: (O, C, 3, 3) -> dx: (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradInputGrad<S: TensorScalar>(
    _ dy: UnsafePointer<S>, _ w: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, _ g: ConvGeometry
) {
    let u = winogradKernels(w, g)
    forEachWinogradChunk(g, S.self) { _, chunk, _, s in
        let (n0, nb) = (chunk.lowerBound, chunk.count)
        winogradGradOutput(dy, g, n0, nb, s.outer, s.plane)
        winogradPointProducts(u.base, transposed: true, g, cols: nb * g.tiles, s.outer, s.inner)
        winogradGradInput(s.inner, g, n0, nb, dx, s.plane)
    }
    withExtendedLifetime(u) {}
}

/// dw = Σ dy ⊗ im2col(x): per chunk V = input transform of x, M = A-transform of dy,
/// dU[k] += M[k]·V[k]ᵀ into the worker's partial; then dw = Gᵀ (Σ partials in worker order) G.
// x: (N, C, H, W), dy: (N, O, H, W) -> dw: (O, C, 3, 3)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradWeightGrad<S: TensorScalar>(
    _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dw: UnsafeMutablePointer<S>, _ g: ConvGeometry
) {
    let (o, c) = (g.outChannels, g.channels)
    let parts = Parallel.partCount(g.batch), size = 16 * winogradPlane(o * c)
    let partials = TensorStorage<S>(uninitializedCount: parts * size)
    let du = partials.base
    // A share's first chunk overwrites its partial (beta 0): no zeroing pass, but for the one
    // empty share of an empty batch, which makes no call.
    if g.batch == 0 { zeroElements(du, parts * size) }
    forEachWinogradChunk(g, S.self) { part, chunk, first, s in
        let acc = du + part * size
        let (n0, nb) = (chunk.lowerBound, chunk.count), cols = chunk.count * g.tiles
        winogradInput(x, g, n0, nb, s.inner, s.plane)
        winogradGradOutput(dy, g, n0, nb, s.outer, s.plane)
        for k in 0..<16 {
            S.gemm(
                transA: false, transB: true, m: o, n: c, k: cols, alpha: 1,
                a: s.outer + k * winogradPlane(o * cols), lda: cols,
                b: s.inner + k * winogradPlane(c * cols), ldb: cols, beta: first ? 0 : 1,
                c: acc + k * winogradPlane(o * c), ldc: c)
        }
    }
    Parallel.forRanges(o) { winogradKernelAdjoint(du, parts, o, c, $0, dw) }
    withExtendedLifetime(partials) {}
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
    if g.usesWinograd {
        winogradConv(xs, ws, ys, g)
    } else {
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
    if g.usesWinograd {
        winogradInputGrad(dys, ws, dxs, g)
    } else {
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
    }
    return makeResult([g.batch, g.channels, height, width], out, "convInputGrad", [dy, w]) { z, inputs, _, needs in
        [
            needs[0] ? conv2dUnchecked(z, inputs[1], padding: padding) : nil,
            needs[1]
                ? convWeightGradUnchecked(z, inputs[0], kernelH: g.kernelH, kernelW: g.kernelW, padding: padding) : nil
        ]
    }
}

/// Whether a convolution weight gradient that becomes a graph node may leave its value out
/// (zeros) and record only the node. Trajectory matching sets it while it re-records a step graph
/// for a Hessian-vector product: the product differentiates through these nodes, whose rules read
/// their inputs and never their value, and the step's gradient itself was kept from the forward
/// unroll. That skips the weight-gradient convolutions, a third of a re-recorded step's work.
package enum WeightGradientValues {
    @TaskLocal package static var omitted = false
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
    if WeightGradientValues.omitted && (x.requiresGrad || dy.requiresGrad) {
        return weightGradResult(x, dy, TensorStorage(zeros: g.outChannels * g.kernelSize), g)
    }
    if g.usesWinograd {
        let out = TensorStorage<S>(uninitializedCount: g.outChannels * g.kernelSize)
        winogradWeightGrad(x.storage.base, dy.storage.base, out.base, g)
        return weightGradResult(x, dy, out, g)
    }
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
    return weightGradResult(x, dy, out, g)
}

/// The weight gradient's result and its backward rule (shared by both algorithms).
private func weightGradResult<S: TensorScalar>(
    _ x: Tensor<S>, _ dy: Tensor<S>, _ out: TensorStorage<S>, _ g: ConvGeometry
) -> Tensor<S> {
    let (kernelH, kernelW, padding) = (g.kernelH, g.kernelW, g.padding)
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
