import ASTCore
import COpenBLAS

/// ZCA whitening of flattened images, as kornia's `ZCAWhitening(eps=0.1, compute_inv=True)`
/// that MTT fits on the whole training set:
///   μ = mean of the rows, C = (X − μ)ᵀ(X − μ) / (N − 1)  (unbiased), C = U S Uᵀ,
///   T = U (S + ε)^(−1/2) Uᵀ,  T⁻¹ = U (S + ε)^(1/2) Uᵀ,
///   whiten(x) = (x − μ) T,  unwhiten(x_w) = x_w T⁻¹ + μ.
/// Mean, covariance and eigendecomposition (LAPACK dsyevd) are computed in Double; the fitted
/// mean and matrices are kept in Float (what the images are) and applied with sgemm.
/// Eigenvalues within rounding of 0 (D·ulp of the largest, or negative) are taken as 0.
///
/// The test set must be whitened with the transform fitted on the training set.
public struct ZCAWhitening: Sendable, Equatable {
    public static let defaultEpsilon = 0.1

    /// D, the number of features (C·H·W for images).
    public let featureCount: Int
    /// μ (D).
    public let mean: [Float]
    /// T (D × D, row-major).
    public let transform: [Float]
    /// T⁻¹ (D × D, row-major).
    public let inverseTransform: [Float]

    /// Fits on `count` rows of `featureCount` features (row-major N × D), count ≥ 2.
    public init(
        fitting data: UnsafeBufferPointer<Float>, count n: Int, featureCount d: Int,
        epsilon: Double = ZCAWhitening.defaultEpsilon
    ) throws(ASTError) {
        guard n >= 2 else { throw .invalid("ZCA fit: needs at least 2 samples, got \(n)") }
        guard d >= 1 else { throw .invalid("ZCA fit: feature count \(d) must be ≥ 1") }
        // dsyevd's workspace (1 + 6D + 2D² doubles) must be addressable with a 32-bit LAPACK integer.
        guard d <= 32_000 else { throw ASTError(.unsupported, "ZCA fit: \(d) features exceed the supported 32000") }
        guard data.count == n * d else {
            throw .shape("ZCA fit: \(data.count) values given for \(n) samples of \(d) features")
        }
        guard epsilon.isFinite, epsilon >= 0 else {
            throw .invalid("ZCA fit: epsilon \(epsilon) must be finite and ≥ 0")
        }
        let x = data.baseAddress!
        for i in 0..<(n * d) where !x[i].isFinite {
            throw ASTError(.nonFinite, "ZCA fit: sample \(i / d), feature \(i % d) is \(x[i])")
        }

        // Mean in Double.
        var mu = [Double](repeating: 0, count: d)
        for r in 0..<n {
            let row = x + r * d
            for k in 0..<d { mu[k] += Double(row[k]) }
        }
        for k in 0..<d { mu[k] /= Double(n) }

        // Covariance: Σ over row blocks of AᵀA, A the centred block in Double (upper triangle).
        _ = BLAS.threadCount  // OpenBLAS single-threaded from here on, whatever ran before
        var cov = [Double](repeating: 0, count: d * d)
        let block = max(1, min(n, (1 << 22) / d))
        var centred = [Double](repeating: 0, count: block * d)
        var start = 0
        while start < n {
            let rows = min(block, n - start)
            for r in 0..<rows {
                let row = x + (start + r) * d
                for k in 0..<d { centred[r * d + k] = Double(row[k]) - mu[k] }
            }
            cblas_dsyrk(
                CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(rows), 1, centred, Int32(d), 1, &cov, Int32(d))
            start += rows
        }
        centred = []
        let scale = 1 / Double(n - 1)
        for i in 0..<d {
            for j in i..<d {
                let v = cov[i * d + j] * scale
                cov[i * d + j] = v
                cov[j * d + i] = v
            }
        }

        // C = U S Uᵀ. On return the rows of `cov` (row-major) are the eigenvectors: V = Uᵀ.
        let eigenvalues = try Self.symmetricEigen(&cov, d)
        // Eigenvalues within rounding of zero (relative to the largest) are zero: a singular
        // covariance must not turn into a 1/sqrt(1e-18) blow-up when ε = 0.
        let roundingFloor = max(eigenvalues.last ?? 0, 0) * Double(d) * Double.ulpOfOne
        var forward = [Double](repeating: 0, count: d), backward = forward
        for j in 0..<d {
            let s = (eigenvalues[j] > roundingFloor ? eigenvalues[j] : 0) + epsilon
            guard s > 0 else {
                throw .invalid("ZCA fit: the covariance is singular (eigenvalue \(eigenvalues[j])); use epsilon > 0")
            }
            forward[j] = 1 / s.squareRoot()
            backward[j] = s.squareRoot()
        }
        featureCount = d
        mean = mu.map { Float($0) }
        transform = Self.reconstruct(cov, forward, d)
        inverseTransform = Self.reconstruct(cov, backward, d)
    }

    /// Fits on images or feature rows x (N, …): each sample flattened to D = product of the rest.
    public init(fitting x: Tensor<Float>, epsilon: Double = ZCAWhitening.defaultEpsilon) throws(ASTError) {
        guard x.rank >= 2 else { throw .shape("ZCA fit: data must be (N, …) with N samples, got \(x.shape)") }
        let d = x.shape.dropFirst().reduce(1, *)
        self = try x.withUnsafeBufferPointer { (buffer) throws(ASTError) -> ZCAWhitening in
            try ZCAWhitening(fitting: buffer, count: x.shape[0], featureCount: d, epsilon: epsilon)
        }
    }

    /// A stored whitening: mean (D), transform and inverse (D × D each, row-major).
    public init(mean: [Float], transform: [Float], inverse: [Float]) throws(ASTError) {
        let d = mean.count
        guard d >= 1 else { throw .invalid("ZCA: empty mean") }
        guard transform.count == d * d, inverse.count == d * d else {
            throw .shape(
                "ZCA: transform (\(transform.count) values) and inverse (\(inverse.count)) must be \(d)x\(d) for a "
                    + "mean of \(d)"
            )
        }
        for (name, values) in [("mean", mean), ("transform", transform), ("inverse", inverse)] {
            if let k = values.firstIndex(where: { !$0.isFinite }) {
                throw ASTError(.nonFinite, "ZCA: \(name)[\(k)] is \(values[k])")
            }
        }
        featureCount = d
        self.mean = mean
        self.transform = transform
        inverseTransform = inverse
    }

    // MARK: Applying

    /// (x − μ) T for `count` rows of D features, written to `output` (count × D).
    public func apply(
        _ input: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(ASTError) {
        try map(input, count, output, "ZCA apply", inverse: false)
    }

    /// x_w T⁻¹ + μ for `count` rows of D features, written to `output` (count × D).
    public func inverse(
        _ input: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(ASTError) {
        try map(input, count, output, "ZCA inverse", inverse: true)
    }

    /// Whitened x (N, …), same shape; each sample is flattened to D features.
    public func apply(_ x: Tensor<Float>) throws(ASTError) -> Tensor<Float> { try map(x, "ZCA apply", inverse: false) }

    /// Un-whitened x_w (N, …), same shape (for viewing images).
    public func inverse(_ x: Tensor<Float>) throws(ASTError) -> Tensor<Float> {
        try map(x, "ZCA inverse", inverse: true)
    }

    private func map(_ x: Tensor<Float>, _ op: String, inverse: Bool) throws(ASTError) -> Tensor<Float> {
        guard x.rank >= 1, x.count == x.shape[0] * featureCount else {
            throw .shape("\(op): data \(x.shape) is not (N, …) with \(featureCount) features per sample")
        }
        let out = TensorStorage<Float>(uninitializedCount: x.count)
        try x.withUnsafeBufferPointer { (buffer) throws(ASTError) in
            try map(
                buffer, x.shape[0], UnsafeMutableBufferPointer(start: out.base, count: x.count), op, inverse: inverse)
        }
        return Tensor(shape: x.shape, storage: out)
    }

    private func map(
        _ input: UnsafeBufferPointer<Float>, _ n: Int, _ output: UnsafeMutableBufferPointer<Float>,
        _ op: String, inverse: Bool
    ) throws(ASTError) {
        let d = featureCount
        guard n >= 0, input.count == n * d, output.count == n * d else {
            throw .shape(
                "\(op): \(input.count) input and \(output.count) output values for \(n) samples of \(d) features")
        }
        guard n > 0 else { return }
        let src = input.baseAddress!, dst = output.baseAddress!
        for i in 0..<(n * d) where !src[i].isFinite {
            throw ASTError(.nonFinite, "\(op): sample \(i / d), feature \(i % d) is \(src[i])")
        }
        let matrix = inverse ? inverseTransform : transform
        if inverse {
            // dst = src · T⁻¹ + μ: start from μ in every row, accumulate the product (beta 1).
            for r in 0..<n { (dst + r * d).update(from: mean, count: d) }
            Float.gemm(
                transA: false, transB: false, m: n, n: d, k: d, alpha: 1, a: src, lda: d,
                b: matrix, ldb: d, beta: 1, c: dst, ldc: d)
            return
        }
        // dst = (src − μ) · T, centring a block of rows at a time.
        let block = max(1, min(n, (1 << 20) / d))
        var centred = [Float](repeating: 0, count: block * d)
        var start = 0
        while start < n {
            let rows = min(block, n - start)
            for r in 0..<rows {
                let row = src + (start + r) * d
                for k in 0..<d { centred[r * d + k] = row[k] - mean[k] }
            }
            Float.gemm(
                transA: false, transB: false, m: rows, n: d, k: d, alpha: 1, a: centred, lda: d,
                b: matrix, ldb: d, beta: 0, c: dst + start * d, ldc: d)
            start += rows
        }
    }

    // MARK: Linear algebra

    /// Eigenvalues (ascending) of the symmetric `a` (D × D); `a` is overwritten with the
    /// eigenvectors as its rows.
    private static func symmetricEigen(_ a: inout [Double], _ d: Int) throws(ASTError) -> [Double] {
        var w = [Double](repeating: 0, count: d)
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        var n = Int32(d), lda = Int32(d), info: Int32 = 0
        // Workspace query.
        var workSize = 0.0, iworkSize: Int32 = 0, query: Int32 = -1
        dsyevd_(&jobz, &uplo, &n, &a, &lda, &w, &workSize, &query, &iworkSize, &query, &info)
        guard info == 0 else {
            throw ASTError(.internal, "ZCA fit: LAPACK dsyevd workspace query failed (info \(info))")
        }
        var lwork = Int32(max(workSize.rounded(.up), Double(1 + 6 * d + 2 * d * d)))
        var liwork = max(iworkSize, Int32(3 + 5 * d))
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &n, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        if info < 0 { throw ASTError(.internal, "ZCA fit: LAPACK dsyevd rejected argument \(-info)") }
        if info > 0 { throw ASTError(.internal, "ZCA fit: LAPACK dsyevd did not converge (info \(info))") }
        if let k = w.firstIndex(where: { !$0.isFinite }) {
            throw ASTError(.nonFinite, "ZCA fit: eigenvalue \(k) is \(w[k])")
        }
        return w
    }

    /// Vᵀ diag(f) V in Float, V (D × D, rows = eigenvectors).
    private static func reconstruct(_ v: [Double], _ f: [Double], _ d: Int) -> [Float] {
        var scaled = v
        for j in 0..<d {
            for k in 0..<d { scaled[j * d + k] *= f[j] }
        }
        var product = [Double](repeating: 0, count: d * d)
        Double.gemm(
            transA: true, transB: false, m: d, n: d, k: d, alpha: 1, a: v, lda: d,
            b: scaled, ldb: d, beta: 0, c: &product, ldc: d)
        return product.map { Float($0) }
    }
}
