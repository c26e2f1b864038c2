import ASTCore
import ASTData

/// Preparing real data for the pipeline: an optional training subset (CPU-sized runs), then
/// per-channel normalisation or ZCA whitening fitted on the training set and applied to both
/// sets (docs/algorithm.md §5). Keeps the inverse so distilled images can be viewed.

public enum Preprocessing: String, Sendable, CaseIterable {
    case none
    /// Per-channel mean/std of the training set.
    case normalize
    /// ZCA whitening (eps 0.1) fitted on the training set.
    case zca
}

public struct PreparedData: Sendable {
    public let data: DatasetPair
    public let preprocessing: Preprocessing
    public let normalization: ChannelNormalization?
    public let whitening: ZCAWhitening?
    /// Identifies the raw data, the subset and the preprocessing: what trajectories were made from.
    public let fingerprint: String

    /// `trainLimit` keeps a class-balanced random subset of that many training images;
    /// `testLimit` keeps the first that many test images.
    public init(
        _ raw: DatasetPair, preprocessing: Preprocessing, trainLimit: Int? = nil, testLimit: Int? = nil,
        seed: UInt64 = 0
    ) throws(ASTError) {
        var train = raw.train, test = raw.test
        if let limit = trainLimit, limit < train.count {
            guard limit >= train.classes else { throw .invalid("train limit \(limit) is below one image per class") }
            var rng = SeededGenerator(seed: derivedSeed(seed, 9))
            let perClass = limit / train.classes
            var picks: [Int] = []
            for c in 0..<train.classes {
                let pool = train.indices(ofClass: c)
                picks += rng.permutation(pool.count).prefix(perClass).map { pool[$0] }
            }
            train = try train.subset(picks.sorted())
        }
        if let limit = testLimit, limit < test.count {
            guard limit >= 1 else { throw .invalid("test limit \(limit) must be positive") }
            test = try test.subset(Array(0..<limit))
        }
        let shape = [train.count, train.channels, train.height, train.width]
        let trainTensor = try Tensor<Float>(shape: shape, scalars: train.images)
        let testTensor = try Tensor<Float>(
            shape: [test.count, test.channels, test.height, test.width], scalars: test.images)
        var normalization: ChannelNormalization? = nil, whitening: ZCAWhitening? = nil
        switch preprocessing {
        case .none: break
        case .normalize:
            let n = try ChannelNormalization(fitting: trainTensor)
            train = try train.replacingImages(n.apply(trainTensor).scalars)
            test = try test.replacingImages(n.apply(testTensor).scalars)
            normalization = n
        case .zca:
            let z = try ZCAWhitening(fitting: trainTensor)
            train = try train.replacingImages(z.apply(trainTensor).scalars)
            test = try test.replacingImages(z.apply(testTensor).scalars)
            whitening = z
        }
        data = try DatasetPair(train: train, test: test)
        self.preprocessing = preprocessing
        self.normalization = normalization
        self.whitening = whitening
        fingerprint = "\(raw.train.fingerprint)-\(trainLimit.map(String.init) ?? "all")-\(preprocessing.rawValue)"
    }

    /// Images in the preprocessed space mapped back to pixel space (for PNGs).
    public func viewable(_ images: [Float], count: Int) throws(ASTError) -> [Float] {
        let t = data.train
        let x = try Tensor<Float>(shape: [count, t.channels, t.height, t.width], scalars: images)
        if let z = whitening { return try z.inverse(x).scalars }
        if let n = normalization { return try n.inverse(x).scalars }
        return images
    }
}

extension ImageDataset {
    /// The same labels and shape with other pixels.
    public func replacingImages(_ images: [Float]) throws(ASTError) -> ImageDataset {
        try ImageDataset(
            images: images, labels: labels, count: count, channels: channels, height: height, width: width,
            classes: classes)
    }
}
