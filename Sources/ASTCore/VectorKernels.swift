#if canImport(Glibc)
import Glibc
#endif

/// Explicitly vectorised loops over contiguous blocks (4 lanes = one SSE register on the x86-64
/// baseline; scalar tail). Strict IEEE ordering keeps LLVM from vectorising reductions and
/// masked selects on its own. Reductions keep four independent accumulators (16 elements per
/// round), so they run at the adder's throughput instead of its latency; their summation order
/// is fixed, so results stay the same from run to run.

typealias Lanes<S: TensorScalar> = SIMD4<S>

@inline(__always)
func loadLanes<S: TensorScalar>(_ p: UnsafePointer<S>, _ i: Int) -> Lanes<S> {
    UnsafeRawPointer(p + i).loadUnaligned(as: Lanes<S>.self)
}

@inline(__always)
func storeLanes<S: TensorScalar>(_ v: Lanes<S>, _ p: UnsafeMutablePointer<S>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Lanes<S>.self)
}

/// Σ over i < n of term(i) for a vector term of lanes i…i+3 and a scalar term for the tail,
/// in four interleaved accumulators.
@inline(__always)
private func reduceLanes<S: TensorScalar>(_ n: Int, _ term: (Int) -> Lanes<S>, _ scalar: (Int) -> S) -> S {
    var (a0, a1, a2, a3) = (Lanes<S>(), Lanes<S>(), Lanes<S>(), Lanes<S>())
    var i = 0
    while i + 16 <= n {
        a0 += term(i); a1 += term(i + 4); a2 += term(i + 8); a3 += term(i + 12)
        i += 16
    }
    while i + 4 <= n { a0 += term(i); i += 4 }
    var s = ((a0 + a1) + (a2 + a3)).sum()
    while i < n { s += scalar(i); i += 1 }
    return s
}

/// Σ p[i].
@inline(__always)
func blockSum<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int) -> S {
    reduceLanes(n, { loadLanes(p, $0) }, { p[$0] })
}

/// Σ p[i] · (q[i] − shift).
@inline(__always)
func blockDot<S: TensorScalar>(_ p: UnsafePointer<S>, _ q: UnsafePointer<S>, _ n: Int, shift: S) -> S {
    let sh = Lanes<S>(repeating: shift)
    return reduceLanes(n, { loadLanes(p, $0) * (loadLanes(q, $0) - sh) }, { p[$0] * (q[$0] - shift) })
}

/// Σ (p[i] − q[i])².
@inline(__always)
func blockSquaredDistance<S: TensorScalar>(_ p: UnsafePointer<S>, _ q: UnsafePointer<S>, _ n: Int) -> S {
    reduceLanes(
        n,
        {
            let d = loadLanes(p, $0) - loadLanes(q, $0); return d * d
        },
        {
            let d = p[$0] - q[$0]; return d * d
        })
}

/// (Σ p[i], Σ p[i] · (q[i] − shift)) in one pass over p.
@inline(__always)
func blockSumAndDot<S: TensorScalar>(_ p: UnsafePointer<S>, _ q: UnsafePointer<S>, _ n: Int, shift: S) -> (S, S) {
    sumAndDotLanes(q, n, shift: shift, { loadLanes(p, $0) }, { p[$0] })
}

/// (Σ v_i, Σ v_i · (q[i] − shift)) for v given four elements at a time by `lanes(i)` and one
/// at a time by `scalar(i)` past the last whole vector, in two interleaved accumulators
/// (`blockSumAndDot`'s order, whatever makes v).
@inline(__always)
func sumAndDotLanes<S: TensorScalar>(
    _ q: UnsafePointer<S>, _ n: Int, shift: S, _ lanes: (Int) -> Lanes<S>, _ scalar: (Int) -> S
) -> (S, S) {
    let sh = Lanes<S>(repeating: shift)
    var (s0, s1, d0, d1) = (Lanes<S>(), Lanes<S>(), Lanes<S>(), Lanes<S>())
    var i = 0
    while i + 8 <= n {
        let (u, v) = (lanes(i), lanes(i + 4))
        s0 += u; s1 += v
        d0 += u * (loadLanes(q, i) - sh); d1 += v * (loadLanes(q, i + 4) - sh)
        i += 8
    }
    while i + 4 <= n { let u = lanes(i); s0 += u; d0 += u * (loadLanes(q, i) - sh); i += 4 }
    var (s, d) = ((s0 + s1).sum(), (d0 + d1).sum())
    while i < n { let v = scalar(i); s += v; d += v * (q[i] - shift); i += 1 }
    return (s, d)
}

/// Mean and biased variance of a contiguous block (two passes: no cancellation).
@inline(__always)
func planeMoments<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int) -> (mean: S, variance: S) {
    let mean = blockSum(p, n) / S(n)
    let m = Lanes<S>(repeating: mean)
    let s = reduceLanes(
        n,
        {
            let d = loadLanes(p, $0) - m; return d * d
        },
        {
            let d = p[$0] - mean; return d * d
        })
    return (mean, s / S(n))
}

/// The affine map of the fused norm on one plane: z = (x − mean)·scale + shift, where
/// scale = γ·s and shift = β.
struct PlaneAffine<S: TensorScalar> {
    let mean: S, scale: S, shift: S

    /// out[i] = max(z_i, 0): whole vectors (`reluLanes`), then the scalar tail (`reluTail`).
    @inline(__always)
    func relu(_ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, _ n: Int) {
        var i = 0
        while i + 4 <= n {
            storeLanes(reluLanes(x, i), out, i)
            i += 4
        }
        while i < n { out[i] = reluTail(x[i]); i += 1 }
    }

    /// max(z, 0) for elements i…i+3 (a −0 or NaN z is kept).
    @inline(__always)
    func reluLanes(_ x: UnsafePointer<S>, _ i: Int) -> Lanes<S> {
        let z = (loadLanes(x, i) - Lanes(repeating: mean)) * Lanes(repeating: scale) + Lanes(repeating: shift)
        return z.replacing(with: 0, where: z .< 0)
    }

    /// max(z, 0) for one element past the last whole vector (a −0 or NaN z gives +0).
    @inline(__always)
    func reluTail(_ x: S) -> S {
        let z = (x - mean) * scale + shift
        return z > 0 ? z : 0
    }

    /// Whether z > 0 for input element x, as the masks decide it (a NaN z counts as active).
    @inline(__always)
    func isActive(_ x: S) -> Bool { !((x - mean) * scale + shift <= 0) }

    /// out[i] = value[i] where z_i > 0, else 0 (value may be a broadcast constant via `constant`).
    @inline(__always)
    func mask(_ x: UnsafePointer<S>, _ value: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, _ n: Int) {
        let (m, a, b, zero) = (
            Lanes<S>(repeating: mean), Lanes<S>(repeating: scale), Lanes<S>(repeating: shift), Lanes<S>()
        )
        var i = 0
        while i + 4 <= n {
            let z = (loadLanes(x, i) - m) * a + b
            storeLanes(loadLanes(value, i).replacing(with: zero, where: z .<= zero), out, i)
            i += 4
        }
        while i < n { out[i] = isActive(x[i]) ? value[i] : 0; i += 1 }
    }

    /// `mask(x, value, out, n)` and `blockSumAndDot(out, x, n, shift: mean)` in one pass: the
    /// same values, summed in the same order.
    @inline(__always)
    func maskAndSums(
        _ x: UnsafePointer<S>, _ value: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, _ n: Int
    ) -> (sum: S, dot: S) {
        let (m, a, b, zero) = (
            Lanes<S>(repeating: mean), Lanes<S>(repeating: scale), Lanes<S>(repeating: shift), Lanes<S>()
        )
        return sumAndDotLanes(
            x, n, shift: mean,
            { i in
                let w = loadLanes(value, i).replacing(with: zero, where: (loadLanes(x, i) - m) * a + b .<= zero)
                storeLanes(w, out, i)
                return w
            },
            { i in
                out[i] = isActive(x[i]) ? value[i] : 0
                return out[i]
            })
    }

    /// out[i] = c where z_i > 0, else 0 (one pass).
    @inline(__always)
    func maskedConstant(_ x: UnsafePointer<S>, _ c: S, _ out: UnsafeMutablePointer<S>, _ n: Int) {
        let (m, a, b, zero, vc) = (
            Lanes<S>(repeating: mean), Lanes<S>(repeating: scale), Lanes<S>(repeating: shift), Lanes<S>(),
            Lanes<S>(repeating: c)
        )
        var i = 0
        while i + 4 <= n {
            let z = (loadLanes(x, i) - m) * a + b
            storeLanes(vc.replacing(with: zero, where: z .<= zero), out, i)
            i += 4
        }
        while i < n { out[i] = isActive(x[i]) ? c : 0; i += 1 }
    }
}

/// out[i] = k·(a[i] − ma − (x[i] − mean)·s·mx): the normalisation's projection P, scaled.
@inline(__always)
func projectPlane<S: TensorScalar>(
    _ a: UnsafePointer<S>, _ x: UnsafePointer<S>, _ n: Int, mean: S, inverseStd s: S,
    meanA ma: S, meanAXhat mx: S, times k: S, into out: UnsafeMutablePointer<S>
) {
    let (vk, vma, vm, vsmx) = (
        Lanes<S>(repeating: k), Lanes<S>(repeating: ma), Lanes<S>(repeating: mean), Lanes<S>(repeating: s * mx)
    )
    var i = 0
    while i + 4 <= n {
        storeLanes(vk * (loadLanes(a, i) - vma - (loadLanes(x, i) - vm) * vsmx), out, i)
        i += 4
    }
    while i < n { out[i] = k * (a[i] - ma - (x[i] - mean) * s * mx); i += 1 }
}

/// memcpy of n elements (the stdlib's generic pointer copies are not always specialised).
@inline(__always)
package func copyElements<S: TensorScalar>(_ dst: UnsafeMutablePointer<S>, _ src: UnsafePointer<S>, _ n: Int) {
    if n > 0 { memcpy(dst, src, n * MemoryLayout<S>.stride) }
}

@inline(__always)
package func copyElements<S: TensorScalar>(_ dst: UnsafeMutablePointer<S>, _ src: UnsafeMutablePointer<S>, _ n: Int) {
    copyElements(dst, UnsafePointer(src), n)
}

/// n zero elements (IEEE +0 is all zero bits).
@inline(__always)
package func zeroElements<S: TensorScalar>(_ dst: UnsafeMutablePointer<S>, _ n: Int) {
    if n > 0 { memset(dst, 0, n * MemoryLayout<S>.stride) }
}
