/// 2-D convolution (cross-correlation, stride 1, zero padding) by im2col + gemm, or Winograd
/// F(2×2, 3×3) / F(4×4, 3×3) for 3×3 kernels with padding 1 and enough channels (see
/// `usesWinograd`, `winogradVariant`), with its input-gradient and weight-gradient as
/// differentiable ops of their own, so the three differentiate into each other and second
/// derivatives are exact.
import Synchronization

/// Sizes of one convolution; `kernel` rows are C·kh·kw long.
struct ConvGeometry: Equatable {
    let batch, channels, height, width: Int
    let outChannels, kernelH, kernelW, padding: Int
    /// Output tile side of the Winograd path: 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3)); see `winogradVariant`.
    var winogradTile = 2
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
    /// `.winograd`: F(2×2, 3×3); `.winograd4`: F(4×4, 3×3).
    case automatic, im2col, winograd, winograd4
    @TaskLocal package static var current: ConvAlgorithm = .automatic
    /// Set false by tests: the Winograd point products then always run by image (see `splitsPointsOverWorkers`).
    @TaskLocal package static var pointSplit = true
}

/// Winograd F(2×2, 3×3) (Lavin & Gray 2015): each 2×2 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A
/// for the 4×4 input tile d at stride 2, so the channel sum becomes 16 gemms [O×C]·[C×tiles]
/// with 16 multiplies per tile instead of 36: 2.25× fewer flops than im2col, plus transforms.
///   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
///   Aᵀ = [1 1 1 0; 0 1 −1 −1].
/// Transformed matrices are stored (16, rows, ld), k = 4i + j (i vertical, j horizontal), with
/// column b·T + ty·tw + tx for tile (ty, tx) of image b of the chunk (F(4×4, 3×3), below: 36
/// planes, k = 6i + j). A chunk fills a buffer of its own (ld = nb·T) or, when the workers split
/// the point products of the whole batch (`splitsPointsOverWorkers`), its share of the batch's
/// buffer (ld = N·T, the transforms given a pointer to the chunk's first column). Sizes not a
/// multiple of the tile: the last tile row/column runs over zero padding and its extra outputs
/// are dropped (and zero in the adjoints).
extension ConvGeometry {
    var tilesH: Int { (outH + winogradTile - 1) / winogradTile }
    var tilesW: Int { (outW + winogradTile - 1) / winogradTile }
    var tiles: Int { tilesH * tilesW }
    /// Points of the transformed tiles: 16 for F(2×2), 36 for F(4×4).
    var winogradPoints: Int { (winogradTile + 2) * (winogradTile + 2) }
    /// Tile columns rounded up to whole vectors: the row length of the padded planes.
    var tileStride: Int { (tilesW + 3) & ~3 }

    /// Whether the Winograd path runs: 3×3 kernels with padding 1 (output = input size) and
    /// enough channels that the 16 gemms carry the work (see the measurements at `winogradMinChannels`).
    /// Any plane size works (odd sizes pad the last tile).
    var usesWinograd: Bool {
        guard kernelH == 3, kernelW == 3, padding == 1 else { return false }
        switch ConvAlgorithm.current {
        case .im2col: return false
        case .winograd, .winograd4: return true
        case .automatic: return min(channels, outChannels) >= winogradMinChannels
        }
    }

    /// The geometry with `winogradTile` set to the variant that runs: pinned by `ConvAlgorithm`,
    /// else F(4×4) when `prefersWinograd4`.
    var winogradVariant: ConvGeometry {
        var g = self
        switch ConvAlgorithm.current {
        case .winograd: g.winogradTile = 2
        case .winograd4: g.winogradTile = 4
        case .automatic, .im2col: g.winogradTile = prefersWinograd4 ? 4 : 2
        }
        return g
    }

    /// Whether `.automatic` takes F(4×4, 3×3) over F(2×2, 3×3) (see the measurements at `winograd4MinSide`).
    var prefersWinograd4: Bool { min(outH, outW) >= winograd4MinSide }

    /// Elements of a worker's `WinogradScratch.plane`.
    var winogradPlaneScratch: Int {
        let m = winogradTile
        return (m * tilesH + 2) * m * (tileStride + 1) + 4 * m * tileStride
    }

    /// Whether the batch runs as one chunk whose point products the workers share out by point
    /// rather than each taking its images' products: at most `pointSplitColumns` tile columns
    /// over the batch, where a worker's share of the images would make narrow gemms. Each worker
    /// then packs half the kernels U[k] (with 2 workers), its gemms are twice as wide, and the
    /// weight gradient needs no per-worker partial sums; the transforms still run by image.
    var splitsPointsOverWorkers: Bool {
        ConvAlgorithm.pointSplit && Parallel.partCount(batch) > 1 && batch * tiles <= pointSplitColumns
    }

    /// Images per Winograd chunk: about `winogradColumns` (F(4×4): `winograd4Columns`) tile columns per gemm.
    var winogradChunk: Int { max(1, min(batch, (winogradTile == 4 ? winograd4Columns : winogradColumns) / tiles)) }
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
/// Smallest min(Ho, Wo) for which `.automatic` takes F(4×4, 3×3) over F(2×2, 3×3) whatever the
/// batch and channels. Measured per call in Float on 2 workers (ms, F(2×2) → F(4×4), forward /
/// input gradient / weight gradient), C = O = 128:
///   16×16, N 10: 1.93/2.15/2.18 → 1.21/1.36/1.32; N 100: 19.3/20.8/19.6 → 12.2/13.7/13.2;
///     N 256: 48.8/53.0/52.1 → 32.1/39.0/34.3
///   12×12, N 10: 1.19/1.22/1.21 → 0.87/1.01/0.90; 32×32, N 10: 7.2/7.9/7.4 → 5.2/5.7/5.1
/// and, before the output transform's fix (its F(4×4) forwards ~15 % slower than now):
///   11×11, N 10: 1.07/1.22/1.15 → 0.94/1.07/0.87; 32×32, N 256: 184/201/191 → 139/146/128
///   C = O = 64, 16×16, N 10: 0.54/0.61/0.57 → 0.40/0.45/0.38
///   C = O = 32, 16×16, N 256: 4.85/6.04/5.65 → 4.98/5.00/3.68
///   C = O = 16, 16×16, N 256: 1.63/2.23/2.08 → 1.42/1.77/1.31 (so no channel threshold of its own)
/// Below, the 4×4 tiles are few per row (2 or 3 in a vector of 4), the last one largely over
/// padding (9×9, 10×10: 12×12 computed), and the gemms narrow unless the batch is large:
///   10×10, N 10: 0.82/0.93/0.86 → 0.81/0.91/0.85; N 100: 8.9/8.7/7.9 → 7.8/8.6/8.5
///   9×9, N 10: 0.82/0.93/0.85 → 0.93/0.94/0.83; N 100: 8.5/9.1/8.2 → 8.7/9.1/8.3
///   8×8, N 10: 0.50/0.55/0.55 → 0.47/0.57/0.53; N 100: 4.6–4.8/5.1–5.3/4.9 → 4.0–4.1/4.4–4.6/4.3–4.7;
///     N 256: 12.1–12.4/13.4/12.6–13.8 → 10.5/12.1–12.2/11.4–11.5
///   7×7, N 10: 0.63/0.67/0.80 → 0.84/0.92/0.72; N 100: 5.3/5.9/5.3 → 4.5/5.1/4.3
///   6×6, N 100: 3.9/4.5/3.9 → 4.1/5.2/4.9
///   C = O = 64, 8×8, N 10: 0.22/0.21/0.21 → 0.26/0.31/0.25; N 100: 1.49/1.67/1.62 → 1.39/1.79/1.43;
///     N 256: 3.56/4.10/3.85 → 3.27/4.15/3.41
///   C = O = 32, 8×8, N 100: 0.52/0.70/0.66 → 0.59/0.68/0.62; N 256: 1.43/1.68/1.70 → 1.32/1.73/1.43
///   C = O = 16, 8×8, N 256: 0.44/0.58/0.54 → 0.52/0.71/0.56
/// Below 11 F(4×4) is a tie at N 10 and ~10 % faster per call only at large batches and channel
/// counts; taking it there (7×7 and up with min(C, O) ≥ 64 and ≥ 256 4×4 tiles over the batch) was
/// within noise end to end (whole process, F(4×4) on the 8×8 layer / F(2×2): mtt-ipc1 0.98×,
/// train-step 1.00×, mtt-ipc10 1.01×), so the small planes keep F(2×2) and its 10–20× smaller Float
/// error (see the Float test in ConvolutionTests).
let winograd4MinSide = 11
/// Tile columns per chunk of one worker (128, 256 and 512 measured within noise of each other
/// at C = O = 128; 1024 was slower at N 100 and 256).
let winogradColumns = 256
/// The same for F(4×4), whose 36 planes make a chunk's buffers 2.25× larger. C = O = 128, ms per
/// call (forward / input gradient / weight gradient) at 64, 128, 256 columns:
///   16×16, N 100: 12.7–13.0/13.8–14.0/11.6 | 12.6–13.1/13.6–14.1/11.7–12.3 | 12.9–13.8/14.4–15.1/12.8–13.8
///   16×16, N 256: 31.7–32.1/35.0/29.0–29.5 | 32.4–33.4/34.8–36.0/29.5–31.0 | 34.6–37.8/37.4–38.9/32.2–36.6
///   32×32, N 100: 48.2–48.3/52.7–53.0/45.8–46.8 | 49.4–54.4/52.8–54.2/45.3–48.0 | 52.6–54.8/57.9–60.1/50.8–52.1
///   16×16, N 10: 1.33–1.35/1.43–1.46/1.28–1.30 | 1.32–1.34/1.36–1.41/1.25 | 1.28–1.32/1.37–1.42/1.24–1.27
/// (at 64 columns a worker's 5 images at N 10 run as 4 + 1).
let winograd4Columns = 128

/// Most tile columns over the batch for which the workers split the Winograd point products by
/// point (`splitsPointsOverWorkers`). The 16 or 36 gemms [128×128]·[128×cols] on 2 workers,
/// µs, by image (cols/2 each) → by point (half the points each), OpenBLAS alone:
///   cols 160: F(4×4) 1094 → 1019, F(2×2) 498 → 477;
///     weight gradient F(4×4) 1063–1203 → 1074–1099, F(2×2) 542–563 → 479–486
///   cols 256: 1595 → 1605, 751 → 731; cols 320: 2257 → 2180, 925 → 939
let pointSplitColumns = 256

/// Distance between the 16 transformed planes of n elements: 32 elements more than n, so the 16
/// streams a transform writes (or reads) do not fall on the same cache sets when n is a power of 2
/// (C = O = 128: the kernel transform was the top of the profile without it; at N 10, 16×16 the
/// three primitives went from 2.7/2.9/2.4 ms to 1.8/2.0/1.9 ms with it).
@inline(__always)
func winogradPlane(_ n: Int) -> Int { n + 32 }

/// A worker's Winograd buffers: `inner` (P, C, nb·T), `outer` (P, O, nb·T) for P = 16 or 36 points,
/// `plane` a padded deinterleaved image plane (m·tilesH + 2 rows of m·(tileStride + 1) for tile side
/// m) plus row scratch (4m·tileStride).
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
        let points = g.winogradPoints
        let inner = TensorStorage<S>(uninitializedCount: points * winogradPlane(g.channels * columns) + 4)
        let outer = TensorStorage<S>(uninitializedCount: points * winogradPlane(g.outChannels * columns) + 4)
        let plane = TensorStorage<S>(uninitializedCount: g.winogradPlaneScratch)
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
// x: (N, C, H, W) -> v: (16, C, ld), images n0..<n0+nb
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradInput<S: TensorScalar>(
    _ x: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ v: UnsafeMutablePointer<S>,
    _ plane: UnsafeMutablePointer<S>, ld: Int
) {
    let (th, tw, t) = (g.tilesH, g.tilesW, g.tiles)
    let len = g.tileStride + 1, rows = 2 * th + 2
    let stride = winogradPlane(g.channels * ld)
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
// m: (16, O, ld) -> y: (N, O, H, W), images n0..<n0+nb
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradOutput<S: TensorScalar>(
    _ m: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ y: UnsafeMutablePointer<S>,
    _ scratch: UnsafeMutablePointer<S>, ld: Int
) {
    let (th, tw, t, h, w) = (g.tilesH, g.tilesW, g.tiles, g.outH, g.outW)
    let stride = winogradPlane(g.outChannels * ld)
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
// dy: (N, O, H, W) -> m: (16, O, ld), images n0..<n0+nb
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradGradOutput<S: TensorScalar>(
    _ dy: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ m: UnsafeMutablePointer<S>,
    _ scratch: UnsafeMutablePointer<S>, ld: Int
) {
    let (th, tw, t, h, w, ts) = (g.tilesH, g.tilesW, g.tiles, g.outH, g.outW, g.tileStride)
    let stride = winogradPlane(g.outChannels * ld)
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
// z: (16, C, ld), images n0..<n0+nb -> dx: (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradGradInput<S: TensorScalar>(
    _ z: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ dx: UnsafeMutablePointer<S>,
    _ plane: UnsafeMutablePointer<S>, ld: Int
) {
    let (th, tw, t, h, w) = (g.tilesH, g.tilesW, g.tiles, g.height, g.width)
    let len = g.tileStride + 1, rows = 2 * th + 2
    let stride = winogradPlane(g.channels * ld)
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

// MARK: Winograd F(4×4, 3×3)

/// Winograd F(4×4, 3×3) (Lavin & Gray 2015), interpolation points 0, 1, −1, 2, −2, ∞: each 4×4
/// output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 6×6 input tile d at stride 4: 36 multiplies
/// per 4×4 tile (2.25 per output, against 4 for F(2×2) and 9 for im2col), plus transforms.
///        ⎡4  0 −5  0  1  0⎤        ⎡ 1/4    0     0 ⎤
///        ⎢0 −4 −4  1  1  0⎥        ⎢−1/6 −1/6  −1/6 ⎥        ⎡1 1  1 1  1 0⎤
///   Bᵀ = ⎢0  4 −4 −1  1  0⎥,  G =  ⎢−1/6  1/6  −1/6 ⎥,  Aᵀ = ⎢0 1 −1 2 −2 0⎥
///        ⎢0 −2 −1  2  1  0⎥        ⎢1/24 1/12   1/6 ⎥        ⎢0 1  1 4  4 0⎥
///        ⎢0  2 −1 −2  1  0⎥        ⎢1/24 −1/12  1/6 ⎥        ⎣0 1 −1 8 −8 1⎦
///        ⎣0  4  0 −5  0  1⎦        ⎣  0    0     1  ⎦
/// Derivation (Toom-Cook on the points pᵢ = 0, 1, −1, 2, −2 and ∞): the 1-D output y = Aᵀ[(G g) ⊙
/// (Bᵀ d)] evaluates the kernel polynomial g(x) = g0 + g1·x + g2·x² and the input polynomial at the
/// points, multiplies, and interpolates the product back (Lagrange, the point ∞ taking the leading
/// coefficient). Aᵀ row r holds pᵢʳ (and 1 for ∞ in the last row); G row i is g(pᵢ) scaled by
/// 1/Πⱼ≠ᵢ(pᵢ − pⱼ) (4, −6, −6, 24, 24 for the finite points: the 1/4, −1/6, 1/24 above); Bᵀ holds
/// the coefficients of the Lagrange numerators Πⱼ≠ᵢ(x − pⱼ) = x(x² − 1)(x² − 4)/(x − pᵢ), transposed
/// for the correlation (row 0: (x² − 1)(x² − 4) = x⁴ − 5x² + 4, …, row 5 for ∞: the full product
/// x(x² − 1)(x² − 4) = x⁵ − 5x³ + 4x).
/// Layout as for F(2×2) with 36 planes, k = 6i + j. The tiles start at input column 4tx − 1, so a
/// padded row split into 4 phases (column 4j + q − 1 in phase q) holds the 6 columns of 4
/// neighbouring tiles as 6 contiguous vectors.

/// Six vectors: one row or column of a transformed 6×6 tile, for 4 neighbouring tiles.
typealias Hex<S: TensorScalar> = (Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>, Lanes<S>)

/// One axis of Bᵀ d B: (4d0 − 5d2 + d4, (d3 + d4) − 4(d1 + d2), (d4 − d3) + 4(d1 − d2),
/// (d4 − d2) + 2(d3 − d1), (d4 − d2) − 2(d3 − d1), 4d1 − 5d3 + d5).
@inline(__always)
private func inputTransform4<S: TensorScalar>(_ d: Hex<S>) -> Hex<S> {
    let two = Lanes<S>(repeating: 2), four = Lanes<S>(repeating: 4), five = Lanes<S>(repeating: 5)
    let a = d.4 - d.2, b = two * (d.3 - d.1)
    return (
        four * d.0 - five * d.2 + d.4, (d.3 + d.4) - four * (d.1 + d.2), (d.4 - d.3) + four * (d.1 - d.2),
        a + b, a - b, four * d.1 - five * d.3 + d.5
    )
}

/// One axis of B v Bᵀ, the transpose of `inputTransform4`: (4v0, 4(v2 − v1 + v5) + 2(v4 − v3),
/// −5v0 − 4(v1 + v2) − (v3 + v4), (v1 − v2) + 2(v3 − v4) − 5v5, v0 + v1 + v2 + v3 + v4, v5).
@inline(__always)
private func inputTransform4Adjoint<S: TensorScalar>(_ v: Hex<S>) -> Hex<S> {
    let two = Lanes<S>(repeating: 2), four = Lanes<S>(repeating: 4), five = Lanes<S>(repeating: 5)
    let s12 = v.1 + v.2, d21 = v.2 - v.1, s34 = v.3 + v.4, d43 = v.4 - v.3
    return (
        four * v.0, four * (d21 + v.5) + two * d43, Lanes<S>() - five * v.0 - four * s12 - s34,
        Lanes<S>() - d21 - two * d43 - five * v.5, v.0 + s12 + s34, v.5
    )
}

/// One axis of Aᵀ m A: (m0 + (m1 + m2) + (m3 + m4), (m1 − m2) + 2(m3 − m4), (m1 + m2) + 4(m3 + m4),
/// (m1 − m2) + 8(m3 − m4) + m5).
@inline(__always)
private func outputTransform4<S: TensorScalar>(_ m: Hex<S>) -> Quad<S> {
    let s12 = m.1 + m.2, d12 = m.1 - m.2, s34 = m.3 + m.4, d34 = m.3 - m.4
    return (
        m.0 + s12 + s34, d12 + Lanes<S>(repeating: 2) * d34, s12 + Lanes<S>(repeating: 4) * s34,
        d12 + Lanes<S>(repeating: 8) * d34 + m.5
    )
}

/// One axis of A e Aᵀ, the transpose of `outputTransform4`: (e0, (e0 + e2) ± (e1 + e3),
/// (e0 + 4e2) ± (2e1 + 8e3), e3).
@inline(__always)
private func outputTransform4Adjoint<S: TensorScalar>(_ e: Quad<S>) -> Hex<S> {
    let p = e.0 + e.2, q = e.1 + e.3
    let r = e.0 + Lanes<S>(repeating: 4) * e.2, s = Lanes<S>(repeating: 2) * e.1 + Lanes<S>(repeating: 8) * e.3
    return (e.0, p + q, p - q, r + s, r - s, e.3)
}

/// One axis of G g: (g0/4, −(g0 + g1 + g2)/6, −(g0 − g1 + g2)/6, (g0/24 + g2/6) ± g1/12, g2).
@inline(__always)
private func kernelTransform4<S: TensorScalar>(_ a: Lanes<S>, _ b: Lanes<S>, _ c: Lanes<S>) -> Hex<S> {
    let sixth = Lanes<S>(repeating: 1 / 6 as S), twelfth = Lanes<S>(repeating: 1 / 12 as S)
    let quarter = Lanes<S>(repeating: 0.25), twentyfourth = Lanes<S>(repeating: 1 / 24 as S)
    let ac = a + c, e = twentyfourth * a + sixth * c, f = twelfth * b
    return (quarter * a, Lanes<S>() - sixth * (ac + b), Lanes<S>() - sixth * (ac - b), e + f, e - f, c)
}

/// One axis of Gᵀ x, the transpose of `kernelTransform4`: (x0/4 − (x1 + x2)/6 + (x3 + x4)/24,
/// (x2 − x1)/6 + (x3 − x4)/12, (x3 + x4 − x1 − x2)/6 + x5).
@inline(__always)
private func kernelTransform4Adjoint<S: TensorScalar>(_ x: Hex<S>) -> (Lanes<S>, Lanes<S>, Lanes<S>) {
    let sixth = Lanes<S>(repeating: 1 / 6 as S), twelfth = Lanes<S>(repeating: 1 / 12 as S)
    let quarter = Lanes<S>(repeating: 0.25), twentyfourth = Lanes<S>(repeating: 1 / 24 as S)
    let s12 = x.1 + x.2, s34 = x.3 + x.4
    return (
        quarter * x.0 - sixth * s12 + twentyfourth * s34, sixth * (x.2 - x.1) + twelfth * (x.3 - x.4),
        sixth * (s34 - s12) + x.5
    )
}

/// The 4×4 transpose: lane l of the result's vector q is lane q of vector l.
@inline(__always)
private func transpose4<S: TensorScalar>(_ a: Lanes<S>, _ b: Lanes<S>, _ c: Lanes<S>, _ d: Lanes<S>) -> Quad<S> {
    (
        Lanes<S>(a[0], b[0], c[0], d[0]), Lanes<S>(a[1], b[1], c[1], d[1]), Lanes<S>(a[2], b[2], c[2], d[2]),
        Lanes<S>(a[3], b[3], c[3], d[3])
    )
}

/// pq[j] = src[4j + q] for 4j + q < n, 16 elements a step.
@inline(__always)
private func deinterleave4<S: TensorScalar>(
    _ src: UnsafePointer<S>, _ n: Int, _ p0: UnsafeMutablePointer<S>, _ p1: UnsafeMutablePointer<S>,
    _ p2: UnsafeMutablePointer<S>, _ p3: UnsafeMutablePointer<S>
) {
    var j = 0
    while 4 * j + 16 <= n {
        let t = transpose4(
            loadLanes(src, 4 * j), loadLanes(src, 4 * j + 4), loadLanes(src, 4 * j + 8), loadLanes(src, 4 * j + 12))
        storeLanes(t.0, p0, j)
        storeLanes(t.1, p1, j)
        storeLanes(t.2, p2, j)
        storeLanes(t.3, p3, j)
        j += 4
    }
    while 4 * j + 4 <= n {
        (p0[j], p1[j], p2[j], p3[j]) = (src[4 * j], src[4 * j + 1], src[4 * j + 2], src[4 * j + 3])
        j += 1
    }
    let rest = n - 4 * j
    if rest > 0 { p0[j] = src[4 * j] }
    if rest > 1 { p1[j] = src[4 * j + 1] }
    if rest > 2 { p2[j] = src[4 * j + 2] }
}

/// dst[4j + q] = pq[j] for 4j + q < n: the inverse of `deinterleave4`.
@inline(__always)
private func interleave4<S: TensorScalar>(
    _ p0: UnsafePointer<S>, _ p1: UnsafePointer<S>, _ p2: UnsafePointer<S>, _ p3: UnsafePointer<S>, _ n: Int,
    _ dst: UnsafeMutablePointer<S>
) {
    var j = 0
    while 4 * j + 16 <= n {
        let t = transpose4(loadLanes(p0, j), loadLanes(p1, j), loadLanes(p2, j), loadLanes(p3, j))
        storeLanes(t.0, dst, 4 * j)
        storeLanes(t.1, dst, 4 * j + 4)
        storeLanes(t.2, dst, 4 * j + 8)
        storeLanes(t.3, dst, 4 * j + 12)
        j += 4
    }
    while 4 * j + 4 <= n {
        (dst[4 * j], dst[4 * j + 1], dst[4 * j + 2], dst[4 * j + 3]) = (p0[j], p1[j], p2[j], p3[j])
        j += 1
    }
    let rest = n - 4 * j
    if rest > 0 { dst[4 * j] = p0[j] }
    if rest > 1 { dst[4 * j + 1] = p1[j] }
    if rest > 2 { dst[4 * j + 2] = p2[j] }
}

/// Fills `plane` with the zero-padded plane src (h × w) in 4-phase rows: padded row r (4·len
/// long) holds input row r − 1 as Pq[j] = column 4j + q − 1 (Pq at q·len, j ≤ tileStride), so the
/// columns 4tx − 1 … 4tx + 4 of the tiles tx…tx+3 are P0[tx], P1[tx], P2[tx], P3[tx], P0[tx + 1],
/// P1[tx + 1].
@inline(__always)
private func padDeinterleaved4<S: TensorScalar>(
    _ src: UnsafePointer<S>, _ h: Int, _ w: Int, _ rows: Int, _ len: Int, _ plane: UnsafeMutablePointer<S>
) {
    zeroElements(plane, rows * 4 * len)
    for iy in 0..<min(h, rows - 1) {
        let r = plane + (iy + 1) * 4 * len
        deinterleave4(src + iy * w, w, r + len, r + 2 * len, r + 3 * len, r + 1)
    }
}

/// The six window columns of the tiles tx…tx+3 in the 4-phase padded row at r.
@inline(__always)
private func windowRow4<S: TensorScalar>(_ r: UnsafePointer<S>, _ len: Int, _ tx: Int) -> Hex<S> {
    (
        loadLanes(r, tx), loadLanes(r + len, tx), loadLanes(r + 2 * len, tx), loadLanes(r + 3 * len, tx),
        loadLanes(r, tx + 1), loadLanes(r + len, tx + 1)
    )
}

/// Adds one row of 4 tiles' windows into the 4-phase padded row at r; the two P0 (and P1) adds
/// overlap, so they run in turn.
@inline(__always)
private func addWindowRow4<S: TensorScalar>(_ v: Hex<S>, _ r: UnsafeMutablePointer<S>, _ len: Int, _ tx: Int) {
    addLanes(v.0, r, tx)
    addLanes(v.1, r + len, tx)
    addLanes(v.2, r + 2 * len, tx)
    addLanes(v.3, r + 3 * len, tx)
    addLanes(v.4, r, tx + 1)
    addLanes(v.5, r + len, tx + 1)
}

/// Stores column j (p = base + j·stride) of a transformed 6×6 tile: entries k = j, 6 + j, …, 30 + j.
@inline(__always)
private func storeColumn6<S: TensorScalar>(
    _ v: Hex<S>, _ p: UnsafeMutablePointer<S>, _ stride: Int, _ i: Int, _ n: Int
) {
    storePartial(v.0, p, i, n)
    storePartial(v.1, p + 6 * stride, i, n)
    storePartial(v.2, p + 12 * stride, i, n)
    storePartial(v.3, p + 18 * stride, i, n)
    storePartial(v.4, p + 24 * stride, i, n)
    storePartial(v.5, p + 30 * stride, i, n)
}

/// Stores a transformed 6×6 tile given by its rows r.0…r.5: column j, (r.0.j, …, r.5.j) through
/// `f` (one axis of the transform, or none), at out + j·stride (`storeColumn6`).
@inline(__always)
private func storeTile6<S: TensorScalar>(
    _ r: (Hex<S>, Hex<S>, Hex<S>, Hex<S>, Hex<S>, Hex<S>), through f: (Hex<S>) -> Hex<S>,
    _ out: UnsafeMutablePointer<S>, _ stride: Int, _ i: Int, _ n: Int
) {
    storeColumn6(f((r.0.0, r.1.0, r.2.0, r.3.0, r.4.0, r.5.0)), out, stride, i, n)
    storeColumn6(f((r.0.1, r.1.1, r.2.1, r.3.1, r.4.1, r.5.1)), out + stride, stride, i, n)
    storeColumn6(f((r.0.2, r.1.2, r.2.2, r.3.2, r.4.2, r.5.2)), out + 2 * stride, stride, i, n)
    storeColumn6(f((r.0.3, r.1.3, r.2.3, r.3.3, r.4.3, r.5.3)), out + 3 * stride, stride, i, n)
    storeColumn6(f((r.0.4, r.1.4, r.2.4, r.3.4, r.4.4, r.5.4)), out + 4 * stride, stride, i, n)
    storeColumn6(f((r.0.5, r.1.5, r.2.5, r.3.5, r.4.5, r.5.5)), out + 5 * stride, stride, i, n)
}

/// Column j (p = base + j·stride) of a transformed 6×6 tile, whole vectors with the lanes in `zero`
/// (past the last tile) zeroed.
@inline(__always)
private func loadColumn6<S: TensorScalar>(
    _ p: UnsafePointer<S>, _ stride: Int, _ i: Int, _ zero: SIMDMask<Lanes<S>.MaskStorage>
) -> Hex<S> {
    @inline(__always) func load(_ q: UnsafePointer<S>) -> Lanes<S> { loadLanes(q, i).replacing(with: 0, where: zero) }
    return (
        load(p), load(p + 6 * stride), load(p + 12 * stride), load(p + 18 * stride), load(p + 24 * stride),
        load(p + 30 * stride)
    )
}

/// Column j of a transformed 6×6 tile, whole vectors (lanes past the last tile are garbage).
@inline(__always)
private func loadColumn6<S: TensorScalar>(_ p: UnsafePointer<S>, _ stride: Int, _ i: Int) -> Hex<S> {
    (
        loadLanes(p, i), loadLanes(p + 6 * stride, i), loadLanes(p + 12 * stride, i), loadLanes(p + 18 * stride, i),
        loadLanes(p + 24 * stride, i), loadLanes(p + 30 * stride, i)
    )
}

/// Tap-row r (taps 3r…3r+2) of n ≤ 4 kernels, transformed horizontally.
@inline(__always)
private func kernelRow4<S: TensorScalar>(_ g: UnsafePointer<S>, _ r: Int, _ n: Int) -> Hex<S> {
    kernelTransform4(gatherTap(g, 3 * r, n), gatherTap(g, 3 * r + 1, n), gatherTap(g, 3 * r + 2, n))
}

/// U[k, o, c] = (G g Gᵀ)[k] (F(4×4)) for g = w[o, c], rows o in `range`; 4 channels per vector,
/// whole vectors but for a last partial one (one loop for both let LLVM scalarise a third of the
/// arithmetic for the partial stores).
// w: (O, C, 3, 3) -> u: (36, O, C)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winograd4Kernel<S: TensorScalar>(
    _ w: UnsafePointer<S>, _ outChannels: Int, _ channels: Int, _ range: Range<Int>, _ u: UnsafeMutablePointer<S>
) {
    let stride = winogradPlane(outChannels * channels)
    // Kernels c…c+n−1 of row o: each kernel row horizontally, then each column j vertically.
    @inline(__always) func block(_ o: Int, _ c: Int, _ n: Int) {
        let g = w + (o * channels + c) * 9, out = u + o * channels
        let h0 = kernelRow4(g, 0, n), h1 = kernelRow4(g, 1, n), h2 = kernelRow4(g, 2, n)
        storeColumn6(kernelTransform4(h0.0, h1.0, h2.0), out, stride, c, n)
        storeColumn6(kernelTransform4(h0.1, h1.1, h2.1), out + stride, stride, c, n)
        storeColumn6(kernelTransform4(h0.2, h1.2, h2.2), out + 2 * stride, stride, c, n)
        storeColumn6(kernelTransform4(h0.3, h1.3, h2.3), out + 3 * stride, stride, c, n)
        storeColumn6(kernelTransform4(h0.4, h1.4, h2.4), out + 4 * stride, stride, c, n)
        storeColumn6(kernelTransform4(h0.5, h1.5, h2.5), out + 5 * stride, stride, c, n)
    }
    for o in range {
        var c = 0
        while c + 4 <= channels {
            block(o, c, 4)
            c += 4
        }
        if c < channels { block(o, c, channels - c) }
    }
}

/// dw[o, c] = Gᵀ dU G (F(4×4)), dU = Σ_p du[p][·, o, c] summed in part order: the adjoint of
/// `winograd4Kernel`, rows o in `range`, 4 channels per vector. A row's 9 taps go out through a
/// tap-major scratch row (9 × C, one allocation per call): scattering the lanes straight from
/// the registers let LLVM scalarise much of the arithmetic.
// du: (parts, 36, O, C) -> dw: (O, C, 3, 3)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winograd4KernelAdjoint<S: TensorScalar>(
    _ du: UnsafePointer<S>, _ parts: Int, _ outChannels: Int, _ channels: Int, _ range: Range<Int>,
    _ dw: UnsafeMutablePointer<S>
) {
    let stride = winogradPlane(outChannels * channels), ldt = channels + 4
    let taps = TensorStorage<S>(uninitializedCount: 9 * ldt)
    let tap = taps.base
    @inline(__always) func block(_ o: Int, _ c: Int, _ n: Int) {
        let at = o * channels + c
        @inline(__always) func sum(_ k: Int) -> Lanes<S> {
            var v = loadPartial(du + k * stride, at, n)
            for p in 1..<max(parts, 1) { v += loadPartial(du + (36 * p + k) * stride, at, n) }
            return v
        }
        @inline(__always) func column(_ j: Int) -> (Lanes<S>, Lanes<S>, Lanes<S>) {
            kernelTransform4Adjoint((sum(j), sum(6 + j), sum(12 + j), sum(18 + j), sum(24 + j), sum(30 + j)))
        }
        // Each column j vertically, then each row horizontally.
        let v0 = column(0), v1 = column(1), v2 = column(2), v3 = column(3), v4 = column(4), v5 = column(5)
        let r0 = kernelTransform4Adjoint((v0.0, v1.0, v2.0, v3.0, v4.0, v5.0))
        let r1 = kernelTransform4Adjoint((v0.1, v1.1, v2.1, v3.1, v4.1, v5.1))
        let r2 = kernelTransform4Adjoint((v0.2, v1.2, v2.2, v3.2, v4.2, v5.2))
        storeLanes(r0.0, tap, c)
        storeLanes(r0.1, tap + ldt, c)
        storeLanes(r0.2, tap + 2 * ldt, c)
        storeLanes(r1.0, tap + 3 * ldt, c)
        storeLanes(r1.1, tap + 4 * ldt, c)
        storeLanes(r1.2, tap + 5 * ldt, c)
        storeLanes(r2.0, tap + 6 * ldt, c)
        storeLanes(r2.1, tap + 7 * ldt, c)
        storeLanes(r2.2, tap + 8 * ldt, c)
    }
    for o in range {
        var c = 0
        while c + 4 <= channels {
            block(o, c, 4)
            c += 4
        }
        if c < channels { block(o, c, channels - c) }
        let out = dw + o * channels * 9
        for c in 0..<channels {
            for t in 0..<9 { out[9 * c + t] = tap[t * ldt + c] }
        }
    }
    withExtendedLifetime(taps) {}
}

/// V[k, c, b·T + t] = (Bᵀ d B)[k] (F(4×4)) for the 6×6 zero-padded input tile d of tile t, image
/// n0 + b, channel c. Vectorised over 4 neighbouring tiles of a tile row.
// x: (N, C, H, W) -> v: (36, C, ld), images n0..<n0+nb
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winograd4Input<S: TensorScalar>(
    _ x: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ v: UnsafeMutablePointer<S>,
    _ plane: UnsafeMutablePointer<S>, ld: Int, wholeVectors: Bool
) {
    let (th, tw, t) = (g.tilesH, g.tilesW, g.tiles)
    let len = g.tileStride + 1, rows = 4 * th + 2, row = 4 * len
    let stride = winogradPlane(g.channels * ld)
    // With `wholeVectors`, whole vectors are stored past a row's last tile: into the tiles that
    // follow in the plane row (written next: the next tile row, the next image, the next channel)
    // or the plane's padding. Without, only the row's own lanes (the columns that follow belong to
    // another worker's images).
    for c in 0..<g.channels {
        for b in 0..<nb {
            let src = x + ((n0 + b) * g.channels + c) * g.height * g.width
            padDeinterleaved4(src, g.height, g.width, rows, len, plane)
            let dst = v + c * ld + b * t
            for ty in 0..<th {
                let top = plane + 4 * ty * row, out = dst + ty * tw
                var tx = 0
                while tx < tw {
                    // Horizontal transform of the 6 rows, then vertical per column j.
                    let d0 = inputTransform4(windowRow4(top, len, tx))
                    let d1 = inputTransform4(windowRow4(top + row, len, tx))
                    let d2 = inputTransform4(windowRow4(top + 2 * row, len, tx))
                    let d3 = inputTransform4(windowRow4(top + 3 * row, len, tx))
                    let d4 = inputTransform4(windowRow4(top + 4 * row, len, tx))
                    let d5 = inputTransform4(windowRow4(top + 5 * row, len, tx))
                    let n = wholeVectors ? 4 : tw - tx
                    storeTile6((d0, d1, d2, d3, d4, d5), through: inputTransform4, out, stride, tx, n)
                    tx += 4
                }
            }
        }
    }
}

/// y[n0 + b, o] = Aᵀ m A per tile (F(4×4)); the extra rows/columns past the plane are dropped.
/// Whole vectors are loaded past a row's last tile (into the next row or the buffer's slack) and
/// discarded. A tile row's 4 output rows go out through 4-phase scratch rows (column 4tx + q of
/// row r in phase q at tx) and `interleave4`: transposing the transform's results in registers
/// made LLVM push the shuffles back into the arithmetic (a third of it scalar, 2× slower).
// m: (36, O, ld) -> y: (N, O, H, W), images n0..<n0+nb
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winograd4Output<S: TensorScalar>(
    _ m: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ y: UnsafeMutablePointer<S>,
    _ scratch: UnsafeMutablePointer<S>, ld: Int
) {
    let (th, tw, t, h, w, ts) = (g.tilesH, g.tilesW, g.tiles, g.outH, g.outW, g.tileStride)
    let stride = winogradPlane(g.outChannels * ld)
    // Output row r (of 4), phase q at (4r + q)·tileStride.
    @inline(__always) func phase(_ r: Int, _ q: Int) -> UnsafeMutablePointer<S> { scratch + (4 * r + q) * ts }
    @inline(__always) func storePhases(_ v: Quad<S>, _ r: Int, _ tx: Int) {
        storeLanes(v.0, phase(r, 0), tx)
        storeLanes(v.1, phase(r, 1), tx)
        storeLanes(v.2, phase(r, 2), tx)
        storeLanes(v.3, phase(r, 3), tx)
    }
    for b in 0..<nb {
        for o in 0..<g.outChannels {
            let src = m + o * ld + b * t
            let dst = y + ((n0 + b) * g.outChannels + o) * h * w
            for ty in 0..<th {
                let p = src + ty * tw
                var tx = 0
                while tx < tw {
                    // Vertical per column j, then horizontal per output row r.
                    let c0 = outputTransform4(loadColumn6(p, stride, tx))
                    let c1 = outputTransform4(loadColumn6(p + stride, stride, tx))
                    let c2 = outputTransform4(loadColumn6(p + 2 * stride, stride, tx))
                    let c3 = outputTransform4(loadColumn6(p + 3 * stride, stride, tx))
                    let c4 = outputTransform4(loadColumn6(p + 4 * stride, stride, tx))
                    let c5 = outputTransform4(loadColumn6(p + 5 * stride, stride, tx))
                    storePhases(outputTransform4((c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)), 0, tx)
                    storePhases(outputTransform4((c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)), 1, tx)
                    storePhases(outputTransform4((c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)), 2, tx)
                    storePhases(outputTransform4((c0.3, c1.3, c2.3, c3.3, c4.3, c5.3)), 3, tx)
                    tx += 4
                }
                let out = dst + 4 * ty * w
                for r in 0..<min(4, h - 4 * ty) {
                    interleave4(phase(r, 0), phase(r, 1), phase(r, 2), phase(r, 3), w, out + r * w)
                }
            }
        }
    }
}

/// m[k, o, b·T + t] = (A e Aᵀ)[k] (F(4×4)) for the 4×4 tile e of dy (zero past the edges): the
/// adjoint of `winograd4Output`, used by both gradients.
// dy: (N, O, H, W) -> m: (36, O, ld), images n0..<n0+nb
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winograd4GradOutput<S: TensorScalar>(
    _ dy: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ m: UnsafeMutablePointer<S>,
    _ scratch: UnsafeMutablePointer<S>, ld: Int, wholeVectors: Bool
) {
    let (th, tw, t, h, w, ts) = (g.tilesH, g.tilesW, g.tiles, g.outH, g.outW, g.tileStride)
    let stride = winogradPlane(g.outChannels * ld)
    // Rows 4ty + a (a = 0…3) in 4 phases: row a's phase q (columns 4j + q) at (4a + q)·tileStride.
    @inline(__always) func phase(_ a: Int, _ q: Int) -> UnsafeMutablePointer<S> { scratch + (4 * a + q) * ts }
    // Whole vectors past a row's last tile with `wholeVectors`, as in `winograd4Input`.
    for o in 0..<g.outChannels {
        for b in 0..<nb {
            let src = dy + ((n0 + b) * g.outChannels + o) * h * w
            let dst = m + o * ld + b * t
            for ty in 0..<th {
                let rowsHere = min(4, h - 4 * ty)
                if rowsHere < 4 || w < 4 * tw { zeroElements(scratch, 16 * ts) }
                for a in 0..<rowsHere {
                    deinterleave4(src + (4 * ty + a) * w, w, phase(a, 0), phase(a, 1), phase(a, 2), phase(a, 3))
                }
                let out = dst + ty * tw
                var tx = 0
                while tx < tw {
                    // Vertical per column q, then horizontal per row i.
                    func column(_ q: Int) -> Hex<S> {
                        outputTransform4Adjoint(
                            (
                                loadLanes(phase(0, q), tx), loadLanes(phase(1, q), tx), loadLanes(phase(2, q), tx),
                                loadLanes(phase(3, q), tx)
                            ))
                    }
                    let v0 = column(0), v1 = column(1), v2 = column(2), v3 = column(3)
                    let r0 = outputTransform4Adjoint((v0.0, v1.0, v2.0, v3.0))
                    let r1 = outputTransform4Adjoint((v0.1, v1.1, v2.1, v3.1))
                    let r2 = outputTransform4Adjoint((v0.2, v1.2, v2.2, v3.2))
                    let r3 = outputTransform4Adjoint((v0.3, v1.3, v2.3, v3.3))
                    let r4 = outputTransform4Adjoint((v0.4, v1.4, v2.4, v3.4))
                    let r5 = outputTransform4Adjoint((v0.5, v1.5, v2.5, v3.5))
                    let n = wholeVectors ? 4 : tw - tx
                    storeTile6((r0, r1, r2, r3, r4, r5), through: { $0 }, out, stride, tx, n)
                    tx += 4
                }
            }
        }
    }
}

/// dx[n0 + b, c] = Σ over tiles of B z Bᵀ (F(4×4)) added at the tiles' overlapping 6×6 input
/// windows (stride 4) in a 4-phase padded plane, the padding then dropped: the adjoint of
/// `winograd4Input`.
// z: (36, C, ld), images n0..<n0+nb -> dx: (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winograd4GradInput<S: TensorScalar>(
    _ z: UnsafePointer<S>, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ dx: UnsafeMutablePointer<S>,
    _ plane: UnsafeMutablePointer<S>, ld: Int
) {
    let (th, tw, t, h, w) = (g.tilesH, g.tilesW, g.tiles, g.height, g.width)
    let len = g.tileStride + 1, rows = 4 * th + 2, row = 4 * len
    let stride = winogradPlane(g.channels * ld)
    let lane = Lanes<S>(0, 1, 2, 3)
    // Tiles tx…tx+3 of the tile row at p into the padded rows from top; `partial`: lanes past the
    // last tile zero (they would add into the last window's columns), a separate copy of the code
    // so that whole blocks run without the mask.
    @inline(__always) func block(_ p: UnsafePointer<S>, _ top: UnsafeMutablePointer<S>, _ tx: Int, partial: Bool) {
        let past = partial ? lane .>= Lanes<S>(repeating: S(tw - tx)) : SIMDMask(repeating: false)
        // Vertical per column j (rows r of the window), then horizontal per row r.
        let w0 = inputTransform4Adjoint(loadColumn6(p, stride, tx, past))
        let w1 = inputTransform4Adjoint(loadColumn6(p + stride, stride, tx, past))
        let w2 = inputTransform4Adjoint(loadColumn6(p + 2 * stride, stride, tx, past))
        let w3 = inputTransform4Adjoint(loadColumn6(p + 3 * stride, stride, tx, past))
        let w4 = inputTransform4Adjoint(loadColumn6(p + 4 * stride, stride, tx, past))
        let w5 = inputTransform4Adjoint(loadColumn6(p + 5 * stride, stride, tx, past))
        addWindowRow4(inputTransform4Adjoint((w0.0, w1.0, w2.0, w3.0, w4.0, w5.0)), top, len, tx)
        addWindowRow4(inputTransform4Adjoint((w0.1, w1.1, w2.1, w3.1, w4.1, w5.1)), top + row, len, tx)
        addWindowRow4(inputTransform4Adjoint((w0.2, w1.2, w2.2, w3.2, w4.2, w5.2)), top + 2 * row, len, tx)
        addWindowRow4(inputTransform4Adjoint((w0.3, w1.3, w2.3, w3.3, w4.3, w5.3)), top + 3 * row, len, tx)
        addWindowRow4(inputTransform4Adjoint((w0.4, w1.4, w2.4, w3.4, w4.4, w5.4)), top + 4 * row, len, tx)
        addWindowRow4(inputTransform4Adjoint((w0.5, w1.5, w2.5, w3.5, w4.5, w5.5)), top + 5 * row, len, tx)
    }
    for b in 0..<nb {
        for c in 0..<g.channels {
            zeroElements(plane, rows * row)
            let src = z + c * ld + b * t
            for ty in 0..<th {
                let top = plane + 4 * ty * row, p = src + ty * tw
                var tx = 0
                while tx + 4 <= tw {
                    block(p, top, tx, partial: false)
                    tx += 4
                }
                if tx < tw { block(p, top, tx, partial: true) }
            }
            // Input column i is padded column i + 1: P1[j], P2[j], P3[j], P0[j + 1] for i = 4j…4j+3.
            let out = dx + ((n0 + b) * g.channels + c) * h * w
            for iy in 0..<h {
                let r = plane + (iy + 1) * row
                interleave4(r + len, r + 2 * len, r + 3 * len, r + 1, w, out + iy * w)
            }
        }
    }
}

/// The Winograd transforms made within one scope, so the convolutions of a student step transform
/// each weight and each activation once: the kernels U of a weight (the forward, the input
/// gradient, and their rules in the second-order pass: four per weight in a recomputed step), and
/// chunk by chunk the input transform V of a convolution input and the output-gradient transform
/// M of an incoming gradient (in a recomputed step each layer's input and output gradient are
/// read three times, their adjoints twice). Keyed by the source's storage, which an entry keeps
/// alive, so a key is not reused while the scope lasts; the sources must not change in it.
/// Transformed activations stop being kept past `chunkCapacity` bytes (they are 2.25× (F(4×4))
/// or 4× (F(2×2) on 8×8) their source). Trajectory matching opens one per student step
/// (`withWinogradCache`). Only the thread that binds it sees it (a task-local), and a lock
/// guards it all the same, as the workers fill it.
package final class WinogradCache: Sendable {
    /// A weight's kernels: the storage and the shape it is read as (a reshaped view shares the storage).
    private struct KernelKey: Hashable {
        let weights: ObjectIdentifier
        let outChannels, channels, tile: Int
    }
    /// A chunk of a transformed activation: its source, which transform, the geometry the source
    /// is read as, the chunk's first image and its size (chunks depend on the batch and thread
    /// count only; the size keeps a buffer from being read as a longer chunk all the same).
    private struct ChunkKey: Hashable {
        let source: ObjectIdentifier
        let gradOutput: Bool
        let batch, channels, height, width, tile, firstImage, count: Int
    }
    private struct Entry: @unchecked Sendable {
        let source: AnyObject
        let value: AnyObject
    }
    private struct Entries {
        var kernels: [KernelKey: Entry] = [:]
        var chunks: [ChunkKey: Entry] = [:]
        var chunkBytes = 0
    }
    private let entries = Mutex(Entries())
    /// Bytes of transformed activations kept at most (a recomputed step of the 128-wide ConvNet
    /// at ipc 1 keeps 16 MiB; at ipc 10, ten times the images, it would keep ten times that).
    package let chunkCapacity: Int
    package static let defaultChunkCapacity = 64 << 20

    @TaskLocal package static var current: WinogradCache? = nil
    /// Set by tests: `withWinogradCache` then binds none (every call transforms).
    @TaskLocal package static var disabled = false

    package init(chunkCapacity: Int = WinogradCache.defaultChunkCapacity) {
        self.chunkCapacity = chunkCapacity
    }

    /// Kernels made so far (one per weight storage, shape and tile).
    package var kernelCount: Int { entries.withLock { $0.kernels.count } }
    /// Transformed activation chunks kept so far, and their bytes.
    package var chunkCount: Int { entries.withLock { $0.chunks.count } }
    package var chunkBytes: Int { entries.withLock { $0.chunkBytes } }

    fileprivate func kernels<S: TensorScalar>(
        _ w: TensorStorage<S>, _ g: ConvGeometry, make: () -> TensorStorage<S>
    ) -> TensorStorage<S> {
        let key = KernelKey(
            weights: ObjectIdentifier(w), outChannels: g.outChannels, channels: g.channels, tile: g.winogradTile)
        if let hit = entries.withLock({ $0.kernels[key] })?.value as? TensorStorage<S> { return hit }
        let u = make()
        entries.withLock { $0.kernels[key] = Entry(source: w, value: u) }
        return u
    }

    /// The chunk (images n0..<n0+nb) of `source` transformed by `make` into a buffer of `count`
    /// elements: the kept one, or a new one kept now; nil when keeping it would pass `chunkCapacity`.
    fileprivate func chunk<S: TensorScalar>(
        _ source: TensorStorage<S>, gradOutput: Bool, _ g: ConvGeometry, channels: Int, _ n0: Int, count: Int,
        make: (UnsafeMutablePointer<S>) -> Void
    ) -> TensorStorage<S>? {
        let key = ChunkKey(
            source: ObjectIdentifier(source), gradOutput: gradOutput, batch: g.batch, channels: channels,
            height: g.height, width: g.width, tile: g.winogradTile, firstImage: n0, count: count)
        let bytes = count * MemoryLayout<S>.stride
        // A hit, or room reserved for the new chunk (the workers fill the cache at once).
        let (hit, fits) = entries.withLock { e -> (AnyObject?, Bool) in
            if let hit = e.chunks[key] { return (hit.value, true) }
            guard e.chunkBytes + bytes <= chunkCapacity else { return (nil, false) }
            e.chunkBytes += bytes
            return (nil, true)
        }
        if let hit = hit as? TensorStorage<S> { return hit }
        guard fits else { return nil }
        let v = TensorStorage<S>(uninitializedCount: count)
        make(v.base)
        entries.withLock { $0.chunks[key] = Entry(source: source, value: v) }
        return v
    }
}

/// Runs body with a fresh `WinogradCache` bound (dropped, with what it holds, at the end).
package func withWinogradCache<R>(_ body: () throws(ASTError) -> R) throws(ASTError) -> R {
    if WinogradCache.disabled { return try body() }
    return try withTaskLocal(WinogradCache.$current, WinogradCache(), body)
}

/// U = G g Gᵀ for all (o, c), split over the workers by output channel; from the scope's
/// `WinogradCache` when one is bound.
// w: (O, C, 3, 3) -> (16 or 36, O, C)
private func winogradKernels<S: TensorScalar>(_ w: TensorStorage<S>, _ g: ConvGeometry) -> TensorStorage<S> {
    guard let cache = WinogradCache.current else { return transformedKernels(w.base, g) }
    return cache.kernels(w, g) { transformedKernels(w.base, g) }
}

// w: (O, C, 3, 3) -> (16 or 36, O, C)
private func transformedKernels<S: TensorScalar>(_ w: UnsafePointer<S>, _ g: ConvGeometry) -> TensorStorage<S> {
    let u = TensorStorage<S>(uninitializedCount: g.winogradPoints * winogradPlane(g.outChannels * g.channels))
    let base = u.base
    if g.winogradTile == 4 {
        Parallel.forRanges(g.outChannels) { winograd4Kernel(w, g.outChannels, g.channels, $0, base) }
    } else {
        Parallel.forRanges(g.outChannels) { winogradKernel(w, g.outChannels, g.channels, $0, base) }
    }
    return u
}

/// Images n0..<n0+nb of `source` transformed into `out` (a buffer of rows `ld` long, pointer at
/// the chunk's first column): the input transform V, or with `gradOutput` the output-gradient
/// transform M. `wholeVectors`: the columns past the chunk's rows are this call's own (or slack).
// source: (N, C or O, H, W) -> out: (P, C or O, ld), planes `winogradPlane` apart
@inline(__always)
private func transform<S: TensorScalar>(
    _ x: UnsafePointer<S>, gradOutput: Bool, _ g: ConvGeometry, _ n0: Int, _ nb: Int,
    _ out: UnsafeMutablePointer<S>, ld: Int, wholeVectors: Bool, plane: UnsafeMutablePointer<S>
) {
    switch (gradOutput, g.winogradTile == 4) {
    case (false, true): winograd4Input(x, g, n0, nb, out, plane, ld: ld, wholeVectors: wholeVectors)
    case (false, false): winogradInput(x, g, n0, nb, out, plane, ld: ld)
    case (true, true): winograd4GradOutput(x, g, n0, nb, out, plane, ld: ld, wholeVectors: wholeVectors)
    case (true, false): winogradGradOutput(x, g, n0, nb, out, plane, ld: ld)
    }
}

/// Elements of a transformed buffer of nb images with `channels` rows (+ 4: the output
/// transforms load whole vectors past the end).
@inline(__always)
private func transformedCount(_ g: ConvGeometry, channels: Int, images nb: Int) -> Int {
    g.winogradPoints * winogradPlane(channels * nb * g.tiles) + 4
}

/// Chunk n0..<n0+nb of `source` transformed for the point products: its input transform V
/// (P, C, nb·T), or with `gradOutput` its output-gradient transform M (P, O, nb·T). From `cache`
/// when it holds the chunk or can keep it (`kept` then holds it while the pointer is in use),
/// else made into `scratch`.
// source: (N, C or O, H, W) -> (P, C or O, nb·T), planes `winogradPlane` apart
@inline(__always)
private func transformedChunk<S: TensorScalar>(
    _ source: TensorStorage<S>, gradOutput: Bool, _ g: ConvGeometry, _ n0: Int, _ nb: Int, _ cache: WinogradCache?,
    scratch: UnsafeMutablePointer<S>, plane: UnsafeMutablePointer<S>, kept: inout TensorStorage<S>?
) -> UnsafeMutablePointer<S> {
    let x = UnsafePointer(source.base), ld = nb * g.tiles
    func make(_ out: UnsafeMutablePointer<S>) {
        transform(x, gradOutput: gradOutput, g, n0, nb, out, ld: ld, wholeVectors: true, plane: plane)
    }
    let channels = gradOutput ? g.outChannels : g.channels
    let count = transformedCount(g, channels: channels, images: nb)
    if let cache,
        let v = cache.chunk(source, gradOutput: gradOutput, g, channels: channels, n0, count: count, make: make)
    {
        kept = v
        return v.base
    }
    make(scratch)
    return scratch
}

/// The whole batch of `source` transformed into one buffer, the workers taking contiguous shares
/// of the images (`splitsPointsOverWorkers`); from `cache` when it holds it or can keep it.
// source: (N, C or O, H, W) -> (P, C or O, N·T), planes `winogradPlane` apart
private func transformedBatch<S: TensorScalar>(
    _ source: TensorStorage<S>, gradOutput: Bool, _ g: ConvGeometry, _ cache: WinogradCache?
) -> TensorStorage<S> {
    let x = UnsafePointer(source.base), ld = g.batch * g.tiles
    func make(_ out: UnsafeMutablePointer<S>) {
        forEachWorkerShare(g, S.self) { n0, nb, plane in
            transform(
                x, gradOutput: gradOutput, g, n0, nb, out + n0 * g.tiles, ld: ld, wholeVectors: false, plane: plane)
        }
    }
    let channels = gradOutput ? g.outChannels : g.channels
    let count = transformedCount(g, channels: channels, images: g.batch)
    // The whole batch is the chunk (0, N): the layout a single worker's chunk of it would have.
    if let cache,
        let v = cache.chunk(source, gradOutput: gradOutput, g, channels: channels, 0, count: count, make: make)
    {
        return v
    }
    let v = TensorStorage<S>(uninitializedCount: count)
    make(v.base)
    return v
}

/// Runs body(n0, nb, plane scratch) on each worker's contiguous share n0..<n0+nb of the batch:
/// the transforms when the workers split the point products (`splitsPointsOverWorkers`).
@inline(__always)
private func forEachWorkerShare<S: TensorScalar>(
    _ g: ConvGeometry, _ type: S.Type, _ body: (Int, Int, UnsafeMutablePointer<S>) -> Void
) {
    Parallel.forParts(g.batch) { _, images in
        let plane = TensorStorage<S>(uninitializedCount: g.winogradPlaneScratch)
        body(images.lowerBound, images.count, plane.base)
        withExtendedLifetime(plane) {}
    }
}

/// The per-point products out[k] = U[k]·in[k] (forward: in (P, C, cols) -> out (P, O, cols)) or,
/// `transposed`, U[k]ᵀ·in[k] (input gradient: in (P, O, cols) -> out (P, C, cols)) with U
/// (P, O, C), for k in `points`. Planes are `winogradPlane` apart.
@inline(__always)
private func winogradPointProducts<S: TensorScalar>(
    _ u: UnsafePointer<S>, transposed: Bool, _ g: ConvGeometry, points: Range<Int>, cols: Int,
    _ input: UnsafePointer<S>, _ output: UnsafeMutablePointer<S>
) {
    let (o, c) = (g.outChannels, g.channels)
    let (rows, depth) = transposed ? (c, o) : (o, c)
    for k in points {
        S.gemm(
            transA: transposed, transB: false, m: rows, n: cols, k: depth, alpha: 1, a: u + k * winogradPlane(o * c),
            lda: c,
            b: input + k * winogradPlane(depth * cols), ldb: cols, beta: 0,
            c: output + k * winogradPlane(rows * cols), ldc: cols)
    }
}

/// With `splitsPointsOverWorkers`: the per-point products (`winogradPointProducts`) of the whole
/// batch's transformed `input`, the workers taking shares of the points, then
/// finish(products, n0, nb, ld, plane scratch) on each worker's share of the images.
// input: (P, C or O, N·T) -> products: (P, O or C, N·T)
private func batchPointProducts<S: TensorScalar>(
    _ u: TensorStorage<S>, transposed: Bool, _ g: ConvGeometry, _ input: TensorStorage<S>,
    finish: (UnsafePointer<S>, Int, Int, Int, UnsafeMutablePointer<S>) -> Void
) {
    let cols = g.batch * g.tiles, rows = transposed ? g.channels : g.outChannels
    let out = TensorStorage<S>(uninitializedCount: transformedCount(g, channels: rows, images: g.batch))
    Parallel.forRanges(g.winogradPoints) {
        winogradPointProducts(u.base, transposed: transposed, g, points: $0, cols: cols, input.base, out.base)
    }
    forEachWorkerShare(g, S.self) { n0, nb, plane in finish(out.base + n0 * g.tiles, n0, nb, cols, plane) }
    withExtendedLifetime((u, input, out)) {}
}

/// y = conv(x, w): per chunk V = input transform, M[k] = U[k]·V[k], y = output transform; or,
/// `transposed`, dx = convᵀ(dy, w) (the input gradient): per chunk M = A-transform of dy,
/// Z[k] = U[k]ᵀ·M[k], dx = B-transform of Z scatter-added.
// x: (N, C, H, W), w: (O, C, 3, 3) -> y: (N, O, H, W); transposed: dy (N, O, H, W) -> dx (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradConv<S: TensorScalar>(
    _ source: TensorStorage<S>, _ w: TensorStorage<S>, _ out: UnsafeMutablePointer<S>, _ g: ConvGeometry,
    transposed: Bool
) {
    let g = g.winogradVariant, u = winogradKernels(w, g), cache = WinogradCache.current
    // From the point products (P, O or C, ld) at images n0..<n0+nb to `out`.
    func finish(_ p: UnsafePointer<S>, _ n0: Int, _ nb: Int, ld: Int, _ plane: UnsafeMutablePointer<S>) {
        switch (transposed, g.winogradTile == 4) {
        case (false, true): winograd4Output(p, g, n0, nb, out, plane, ld: ld)
        case (false, false): winogradOutput(p, g, n0, nb, out, plane, ld: ld)
        case (true, true): winograd4GradInput(p, g, n0, nb, out, plane, ld: ld)
        case (true, false): winogradGradInput(p, g, n0, nb, out, plane, ld: ld)
        }
    }
    if g.splitsPointsOverWorkers {
        let v = transformedBatch(source, gradOutput: transposed, g, cache)
        batchPointProducts(u, transposed: transposed, g, v) { finish($0, $1, $2, ld: $3, $4) }
        return
    }
    forEachWinogradChunk(g, S.self) { _, chunk, _, s in
        let (n0, nb) = (chunk.lowerBound, chunk.count), cols = nb * g.tiles
        // The forward transforms into `inner` (C rows), multiplies into `outer` (O rows); the transpose the other way.
        let (transformed, products) = transposed ? (s.outer, s.inner) : (s.inner, s.outer)
        var kept: TensorStorage<S>? = nil
        let v = transformedChunk(
            source, gradOutput: transposed, g, n0, nb, cache, scratch: transformed, plane: s.plane, kept: &kept)
        winogradPointProducts(u.base, transposed: transposed, g, points: 0..<g.winogradPoints, cols: cols, v, products)
        withExtendedLifetime(kept) {}
        finish(products, n0, nb, ld: cols, s.plane)
    }
    withExtendedLifetime(u) {}
}

/// dw = Σ dy ⊗ im2col(x): per chunk V = input transform of x, M = A-transform of dy,
/// dU[k] += M[k]·V[k]ᵀ into the worker's partial; then dw = Gᵀ (Σ partials in worker order) G.
/// With `splitsPointsOverWorkers`, dU[k] = M[k]·V[k]ᵀ over the whole batch, the workers taking
/// shares of the points: one partial.
// x: (N, C, H, W), dy: (N, O, H, W) -> dw: (O, C, 3, 3)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func winogradWeightGrad<S: TensorScalar>(
    _ x: TensorStorage<S>, _ dy: TensorStorage<S>, _ dw: UnsafeMutablePointer<S>, _ g: ConvGeometry
) {
    let g = g.winogradVariant, points = g.winogradPoints, cache = WinogradCache.current
    let (o, c) = (g.outChannels, g.channels)
    let byPoint = g.splitsPointsOverWorkers
    let parts = byPoint ? 1 : Parallel.partCount(g.batch), size = points * winogradPlane(o * c)
    let partials = TensorStorage<S>(uninitializedCount: parts * size)
    let du = partials.base
    // dU[k] (+)= M[k]·V[k]ᵀ over `cols` tile columns.
    @inline(__always) func accumulate(
        _ acc: UnsafeMutablePointer<S>, _ m: UnsafePointer<S>, _ v: UnsafePointer<S>, cols: Int, _ ks: Range<Int>,
        first: Bool
    ) {
        for k in ks {
            S.gemm(
                transA: false, transB: true, m: o, n: c, k: cols, alpha: 1,
                a: m + k * winogradPlane(o * cols), lda: cols,
                b: v + k * winogradPlane(c * cols), ldb: cols, beta: first ? 0 : 1,
                c: acc + k * winogradPlane(o * c), ldc: c)
        }
    }
    if byPoint {
        let cols = g.batch * g.tiles
        let v = transformedBatch(x, gradOutput: false, g, cache), m = transformedBatch(dy, gradOutput: true, g, cache)
        Parallel.forRanges(points) { accumulate(du, m.base, v.base, cols: cols, $0, first: true) }
        withExtendedLifetime((v, m)) {}
    } else {
        // A share's first chunk overwrites its partial (beta 0): no zeroing pass, but for the one
        // empty share of an empty batch, which makes no call.
        if g.batch == 0 { zeroElements(du, parts * size) }
        forEachWinogradChunk(g, S.self) { part, chunk, first, s in
            let (n0, nb) = (chunk.lowerBound, chunk.count)
            var kept: (TensorStorage<S>?, TensorStorage<S>?) = (nil, nil)
            let v = transformedChunk(
                x, gradOutput: false, g, n0, nb, cache, scratch: s.inner, plane: s.plane, kept: &kept.0)
            let m = transformedChunk(
                dy, gradOutput: true, g, n0, nb, cache, scratch: s.outer, plane: s.plane, kept: &kept.1)
            accumulate(du + part * size, m, v, cols: nb * g.tiles, 0..<points, first: first)
            withExtendedLifetime(kept) {}
        }
    }
    if g.winogradTile == 4 {
        Parallel.forRanges(o) { winograd4KernelAdjoint(du, parts, o, c, $0, dw) }
    } else {
        Parallel.forRanges(o) { winogradKernelAdjoint(du, parts, o, c, $0, dw) }
    }
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
        winogradConv(x.storage, w.storage, ys, g, transposed: false)
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
        winogradConv(dy.storage, w.storage, dxs, g, transposed: true)
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
        winogradWeightGrad(x.storage, dy.storage, out.base, g)
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
