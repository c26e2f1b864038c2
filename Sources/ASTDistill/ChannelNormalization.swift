import ASTCore

/// Per-channel standardisation of images (N, C, H, W): (x − mean_c) / std_c, with the inverse
/// x·std_c + mean_c for viewing. Fitted on a set (mean and population standard deviation over
/// all N·H·W values of each channel, accumulated in Double) or given (e.g. MNIST's 0.1307 / 0.3081).
public struct ChannelNormalization: Sendable, Equatable {
    /// Per-channel means (C).
    public let mean: [Float]
    /// Per-channel standard deviations (C), all > 0.
    public let std: [Float]

    public var channelCount: Int { mean.count }

    public init(mean: [Float], std: [Float]) throws(ASTError) {
        guard !mean.isEmpty, mean.count == std.count else {
            throw .shape(
                "channel normalization: \(mean.count) means and \(std.count) standard deviations (want C ≥ 1 each)")
        }
        if let k = mean.firstIndex(where: { !$0.isFinite }) {
            throw ASTError(.nonFinite, "channel normalization: mean[\(k)] is \(mean[k])")
        }
        if let k = std.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw .invalid("channel normalization: std[\(k)] is \(std[k]) (want finite and > 0)")
        }
        self.mean = mean
        self.std = std
    }

    /// Fits on images (N, C, H, W), N ≥ 1; fails on non-finite values or a constant channel.
    public init(fitting images: Tensor<Float>) throws(ASTError) {
        guard images.rank == 4 else {
            throw .shape("channel normalization fit: images must be (N, C, H, W), got \(images.shape)")
        }
        let s = images.shape
        self = try images.withUnsafeBufferPointer { (buffer) throws(ASTError) -> ChannelNormalization in
            try ChannelNormalization(fitting: buffer, count: s[0], channels: s[1], pixelsPerChannel: s[2] * s[3])
        }
    }

    /// Fits on `count` images of `channels` planes of `pixelsPerChannel` values (NCHW, flat).
    public init(
        fitting images: UnsafeBufferPointer<Float>, count n: Int, channels c: Int, pixelsPerChannel plane: Int
    ) throws(ASTError) {
        guard n >= 1, c >= 1, plane >= 1 else {
            throw .shape("channel normalization fit: needs ≥ 1 image, channel and pixel, got \(n) x \(c) x \(plane)")
        }
        guard images.count == n * c * plane else {
            throw .shape("channel normalization fit: \(images.count) values for \(n) images of \(c) x \(plane)")
        }
        let x = images.baseAddress!
        var sums = [Double](repeating: 0, count: c)
        for i in 0..<n {
            for ch in 0..<c {
                let p = x + (i * c + ch) * plane
                var s = 0.0
                for k in 0..<plane {
                    guard p[k].isFinite else {
                        throw ASTError(
                            .nonFinite, "channel normalization fit: image \(i), channel \(ch), pixel \(k) is \(p[k])")
                    }
                    s += Double(p[k])
                }
                sums[ch] += s
            }
        }
        let total = Double(n * plane)
        let means = sums.map { $0 / total }
        var squares = [Double](repeating: 0, count: c)
        for i in 0..<n {
            for ch in 0..<c {
                let p = x + (i * c + ch) * plane, m = means[ch]
                var s = 0.0
                for k in 0..<plane { s += (Double(p[k]) - m) * (Double(p[k]) - m) }
                squares[ch] += s
            }
        }
        let stds = squares.map { ($0 / total).squareRoot() }
        if let k = stds.firstIndex(where: { !(Float($0) > 0) }) {
            throw .invalid("channel normalization fit: channel \(k) is constant (std \(stds[k]))")
        }
        try self.init(mean: means.map { Float($0) }, std: stds.map { Float($0) })
    }

    /// (x − mean_c) / std_c for images (N, C, H, W).
    public func apply(_ x: Tensor<Float>) throws(ASTError) -> Tensor<Float> {
        try map(x, "channel normalization apply") { v, m, s in (v - m) / s }
    }

    /// x·std_c + mean_c for images (N, C, H, W).
    public func inverse(_ x: Tensor<Float>) throws(ASTError) -> Tensor<Float> {
        try map(x, "channel normalization inverse") { v, m, s in v * s + m }
    }

    private func map(
        _ x: Tensor<Float>, _ op: String, _ f: (Float, Float, Float) -> Float
    ) throws(ASTError) -> Tensor<Float> {
        guard x.rank == 4, x.shape[1] == channelCount else {
            throw .shape("\(op): images must be (N, \(channelCount), H, W), got \(x.shape)")
        }
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        let out = TensorStorage<Float>(uninitializedCount: x.count)
        x.withUnsafeBufferPointer { buffer in
            let src = buffer.baseAddress!, dst = out.base
            for i in 0..<n {
                for ch in 0..<c {
                    let offset = (i * c + ch) * plane, m = mean[ch], s = std[ch]
                    for k in 0..<plane { dst[offset + k] = f(src[offset + k], m, s) }
                }
            }
        }
        return Tensor(shape: x.shape, storage: out)
    }
}
