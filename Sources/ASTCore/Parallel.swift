import Dispatch

/// Splits 0..<count into contiguous ranges run on up to `Parallel.width` threads. OpenBLAS
/// parallelises the gemms; this parallelises the memory-bound loops between them (im2col,
/// col2im, the fused norm), which would otherwise leave the second core spinning.
package enum Parallel {
    /// Threads for the loops between gemms (the machine kind has 2 cores).
    package static let width = max(1, min(BLAS.threadCount, 8))

    /// body(range) for a partition of 0..<count; runs inline when the work is small.
    @inline(__always)
    package static func forRanges(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(width, count / max(minimumPerThread, 1))
        if parts <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let run = body
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                run((count * p / parts)..<(count * (p + 1) / parts))
            }
        }
    }
}
