import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Splits work into contiguous ranges run on up to `Parallel.width` threads. libast does its own
/// threading: OpenBLAS is switched to one thread on first use, and each worker runs whole
/// chunks (im2col, gemm, the loops between) on its own share of the images. Parallel BLAS
/// would leave its second thread spinning between gemms while the glue runs on one core.
package enum Parallel {
    /// Threads libast computes on: AST_NUM_THREADS when set (1…64), else OpenBLAS's thread
    /// count when libast first runs (so OPENBLAS_NUM_THREADS limits it too), at most 64.
    /// Also replaces OpenBLAS's SSE3 fallback kernels by the AVX2/AVX-512 ones on CPUs newer
    /// than the installed OpenBLAS knows (see `ast_openblas_upgrade_fallback_core`).
    package static let width: Int = {
        _ = ast_openblas_upgrade_fallback_core()
        let blasThreads = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        if let text = getenv("AST_NUM_THREADS").map({ String(cString: $0) }), let n = Int(text), (1...64).contains(n) {
            return n
        }
        return max(1, min(blasThreads, 64))
    }()

    /// The `width − 1` threads that run parts besides the caller.
    private static let pool = WorkerPool(workers: width - 1, restartAfterFork: true)

    /// body(range) for a partition of 0..<count; runs inline when the work is small.
    @inline(__always)
    package static func forRanges(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        forParts(count, minimumPerThread: minimumPerThread) { _, range in body(range) }
    }

    /// Number of parts `forParts` splits `count` items into.
    @inline(__always)
    package static func partCount(_ count: Int, minimumPerThread: Int = 1) -> Int {
        max(1, min(width, count / max(minimumPerThread, 1)))
    }

    /// body(part, range) for part in 0..<partCount(count, minimumPerThread): ranges partition
    /// 0..<count in order, so per-part partial results can be combined deterministically.
    @inline(__always)
    package static func forParts(_ count: Int, minimumPerThread: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let parts = partCount(count, minimumPerThread: minimumPerThread)
        if parts <= 1 {
            body(0, 0..<count)
            return
        }
        pool.run(parts: parts) { p in body(p, (count * p / parts)..<(count * (p + 1) / parts)) }
    }
}
