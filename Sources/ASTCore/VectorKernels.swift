#if canImport(Glibc)
import Glibc
#endif

/// Explicitly vectorised loops over contiguous blocks (4 lanes = one SSE register on the x86-64
/// baseline; scalar tail). Strict IEEE
/// ordering keeps LLVM from vectorising reductions and masked selects on its own.

typealias Lanes<S: TensorScalar> = SIMD4<S>

@inline(__always)
func loadLanes<S: TensorScalar>(_ p: UnsafePointer<S>, _ i: Int) -> Lanes<S> {
    UnsafeRawPointer(p + i).loadUnaligned(as: Lanes<S>.self)
}

@inline(__always)
func storeLanes<S: TensorScalar>(_ v: Lanes<S>, _ p: UnsafeMutablePointer<S>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Lanes<S>.self)
}

/// Σ p[i].
@inline(__always)
func blockSum<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int) -> S {
    var acc = Lanes<S>()
    var i = 0
    while i + 4 <= n { acc += loadLanes(p, i); i += 4 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Σ p[i] · (q[i] − shift).
@inline(__always)
func blockDot<S: TensorScalar>(_ p: UnsafePointer<S>, _ q: UnsafePointer<S>, _ n: Int, shift: S) -> S {
    var acc = Lanes<S>()
    let sh = Lanes<S>(repeating: shift)
    var i = 0
    while i + 4 <= n { acc += loadLanes(p, i) * (loadLanes(q, i) - sh); i += 4 }
    var s = acc.sum()
    while i < n { s += p[i] * (q[i] - shift); i += 1 }
    return s
}

/// Mean and biased variance of a contiguous block (two passes: no cancellation).
@inline(__always)
func planeMoments<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int) -> (mean: S, variance: S) {
    let mean = blockSum(p, n) / S(n)
    let m = Lanes<S>(repeating: mean)
    var acc = Lanes<S>()
    var i = 0
    while i + 4 <= n { let d = loadLanes(p, i) - m; acc += d * d; i += 4 }
    var s = acc.sum()
    while i < n { let d = p[i] - mean; s += d * d; i += 1 }
    return (mean, s / S(n))
}

/// The affine map of the fused norm on one plane: z = (x − mean)·scale + shift, where
/// scale = γ·s and shift = β.
struct PlaneAffine<S: TensorScalar> {
    let mean: S, scale: S, shift: S

    /// out[i] = max(z_i, 0).
    @inline(__always)
    func relu(_ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, _ n: Int) {
        let (m, a, b, zero) = (Lanes<S>(repeating: mean), Lanes<S>(repeating: scale), Lanes<S>(repeating: shift), Lanes<S>())
        var i = 0
        while i + 4 <= n {
            let z = (loadLanes(x, i) - m) * a + b
            storeLanes(z.replacing(with: zero, where: z .< zero), out, i)
            i += 4
        }
        while i < n { let z = (x[i] - mean) * scale + shift; out[i] = z > 0 ? z : 0; i += 1 }
    }

    /// out[i] = value[i] where z_i > 0, else 0 (value may be a broadcast constant via `constant`).
    @inline(__always)
    func mask(_ x: UnsafePointer<S>, _ value: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, _ n: Int) {
        let (m, a, b, zero) = (Lanes<S>(repeating: mean), Lanes<S>(repeating: scale), Lanes<S>(repeating: shift), Lanes<S>())
        var i = 0
        while i + 4 <= n {
            let z = (loadLanes(x, i) - m) * a + b
            storeLanes(loadLanes(value, i).replacing(with: zero, where: z .<= zero), out, i)
            i += 4
        }
        while i < n { out[i] = (x[i] - mean) * scale + shift > 0 ? value[i] : 0; i += 1 }
    }
}

/// out[i] = k·(a[i] − ma − (x[i] − mean)·s·mx): the normalisation's projection P, scaled.
@inline(__always)
func projectPlane<S: TensorScalar>(_ a: UnsafePointer<S>, _ x: UnsafePointer<S>, _ n: Int, mean: S, inverseStd s: S,
                                   meanA ma: S, meanAXhat mx: S, times k: S, into out: UnsafeMutablePointer<S>) {
    let (vk, vma, vm, vsmx) = (Lanes<S>(repeating: k), Lanes<S>(repeating: ma), Lanes<S>(repeating: mean), Lanes<S>(repeating: s * mx))
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
