import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The element types the engine computes in: Float for speed, Double for tight checks
/// (finite differences, float64 reference fixtures). Each maps to its BLAS routines.
public protocol TensorScalar: BinaryFloatingPoint, SIMDScalar, Codable, Sendable, CustomStringConvertible {
    /// C(m×n) = alpha · op(A)(m×k) · op(B)(k×n) + beta · C, row-major, leading dimensions given.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
}

extension Float: TensorScalar {
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = Parallel.width
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    @inline(__always) public static func exponential(_ x: Float) -> Float { expf(x) }
    @inline(__always) public static func logarithm(_ x: Float) -> Float { logf(x) }
}

extension Double: TensorScalar {
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        _ = Parallel.width
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    @inline(__always) public static func exponential(_ x: Double) -> Double { exp(x) }
    @inline(__always) public static func logarithm(_ x: Double) -> Double { log(x) }
}

/// OpenBLAS facts.
public enum BLAS {
    /// The kernels OpenBLAS runs (after libast's first use, which may replace a fallback core).
    public static var coreName: String {
        _ = Parallel.width
        return String(cString: openblas_get_corename())
    }
    public static var configuration: String { String(cString: openblas_get_config()) }
    /// Threads libast computes on (OpenBLAS's own count when libast first ran; OpenBLAS itself
    /// then runs single-threaded inside libast's workers). Reading it fixes that setting, so call
    /// it before using OpenBLAS directly: results must not depend on what ran first.
    public static var threadCount: Int { Parallel.width }
}
