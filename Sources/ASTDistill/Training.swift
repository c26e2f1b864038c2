import ASTCore
import ASTData
#if canImport(Glibc)
import Glibc
#endif

/// Training a ConvNet from scratch with SGD (PyTorch semantics): the expert trainer
/// (docs/algorithm.md §2) and the evaluation protocol (docs/evaluation.md) are both this loop
/// with different settings.

/// SGD with PyTorch semantics: g += wd·θ; buf = g (first step) else μ·buf + g; θ −= lr·buf.
public struct SGDSettings: Sendable, Equatable {
    public var learningRate: Double
    public var momentum: Double
    public var weightDecay: Double
    /// Epoch indices at whose start the learning rate is multiplied by `decayFactor`.
    public var decayEpochs: [Int]
    public var decayFactor: Double
    /// Start a fresh momentum buffer at each decay (AST experts re-create their optimizer).
    public var resetMomentumAtDecay: Bool

    public init(
        learningRate: Double, momentum: Double = 0, weightDecay: Double = 0, decayEpochs: [Int] = [],
        decayFactor: Double = 0.1, resetMomentumAtDecay: Bool = false
    ) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.decayEpochs = decayEpochs
        self.decayFactor = decayFactor
        self.resetMomentumAtDecay = resetMomentumAtDecay
    }

    func validate() throws(ASTError) {
        guard learningRate.isFinite, learningRate > 0 else {
            throw .invalid("SGD learning rate \(learningRate) must be positive and finite")
        }
        guard momentum.isFinite, (0..<1).contains(momentum) else {
            throw .invalid("SGD momentum \(momentum) is outside [0, 1)")
        }
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw .invalid("SGD weight decay \(weightDecay) must be ≥ 0")
        }
        guard decayFactor.isFinite, decayFactor > 0 else {
            throw .invalid("SGD decay factor \(decayFactor) must be positive")
        }
    }
}

public struct TrainingSettings: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var sgd: SGDSettings
    /// DSA on every batch; nil trains on the images as they are.
    public var augmentation: DSA?
    /// AST's "clipping loss": the CE of epoch e is scaled by λ_e = s + (1 − s)/L · e for e < L
    /// (s = `lossScaleStart`, L = `lossScaleEpochs`; AST's 0.5 and 10), 1 afterwards. Off is
    /// s 1 or L 0, so the two numbers alone say what a recipe does (a kind without the ramp has 1 and 0).
    public var lossScaleStart: Double
    public var lossScaleEpochs: Int
    public var lossScaling: Bool { lossScaleStart < 1 && lossScaleEpochs > 0 }
    /// λ of AST's gradient penalty on clean inputs; 0 switches it off.
    public var gradientPenalty: Double

    public init(
        epochs: Int, batchSize: Int = 256, sgd: SGDSettings, augmentation: DSA? = nil,
        lossScaling: Bool = false, gradientPenalty: Double = 0
    ) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.sgd = sgd
        self.augmentation = augmentation
        (lossScaleStart, lossScaleEpochs) = lossScaling ? (0.5, 10) : (1, 0)
        self.gradientPenalty = gradientPenalty
    }

    public func validate() throws(ASTError) {
        guard (1...100_000).contains(epochs) else { throw .invalid("epochs \(epochs) is outside 1...100000") }
        guard (1...1_000_000).contains(batchSize) else {
            throw .invalid("batch size \(batchSize) is outside 1...1000000")
        }
        guard gradientPenalty.isFinite, gradientPenalty >= 0 else {
            throw .invalid("gradient penalty \(gradientPenalty) must be ≥ 0")
        }
        guard lossScaleStart.isFinite, lossScaleStart > 0, lossScaleStart <= 1 else {
            throw .invalid("loss-scaling start \(lossScaleStart) is outside (0, 1]")
        }
        guard lossScaleEpochs >= 0 else { throw .invalid("loss-scaling ramp \(lossScaleEpochs) epochs must be ≥ 0") }
        try sgd.validate()
    }

    /// λ_e of the loss scaling for epoch e.
    public func lossScale(epoch: Int) -> Double {
        // (1 − s)/L first, so AST's 0.5 and 10 give exactly 0.5 + 0.05·e.
        lossScaling && epoch < lossScaleEpochs
            ? lossScaleStart + (1 - lossScaleStart) / Double(lossScaleEpochs) * Double(epoch) : 1
    }

    /// The learning rate in effect during epoch e.
    public func learningRate(epoch: Int) -> Double {
        sgd.decayEpochs.filter { $0 <= epoch }.reduce(sgd.learningRate) { lr, _ in lr * sgd.decayFactor }
    }
}

/// Where a training run is: resumable exactly from this value.
public struct TrainerState: Sendable, Equatable {
    public var parameters: [Float]
    public var momentumBuffer: [Float]?
    /// Epochs completed.
    public var epoch: Int

    public init(parameters: [Float], momentumBuffer: [Float]? = nil, epoch: Int = 0) {
        self.parameters = parameters
        self.momentumBuffer = momentumBuffer
        self.epoch = epoch
    }
}

/// Seeds derived from one caller seed, so each (purpose, index, epoch) draws independently and a
/// resumed run draws exactly what an uninterrupted one would.
public func derivedSeed(_ seed: UInt64, _ parts: UInt64...) -> UInt64 {
    var g = SeededGenerator(seed: seed)
    var h = g.next()
    for p in parts {
        var mix = SeededGenerator(seed: h ^ (p &* 0x9E37_79B9_7F4A_7C15))
        h = mix.next()
    }
    return h
}

public struct NetworkTrainer: Sendable {
    public let network: ConvNet
    public let settings: TrainingSettings
    let images: Tensor<Float>
    let labels: [Int32]
    /// Probability rows (n, K) instead of hard labels (evaluating learned soft labels).
    let softLabels: Tensor<Float>?

    public init(
        network: ConvNet, settings: TrainingSettings, data: ImageDataset, softLabels: [Float]? = nil
    ) throws(ASTError) {
        try settings.validate()
        guard data.channels == network.config.channels, data.height == network.config.imageSize,
            data.width == network.config.imageSize, data.classes <= network.config.classes
        else {
            throw .shape(
                "training data (\(data.channels)x\(data.height)x\(data.width), \(data.classes) classes) does not fit "
                    + "the network \(network.config)"
            )
        }
        self.network = network
        self.settings = settings
        images = try Tensor(shape: [data.count, data.channels, data.height, data.width], scalars: data.images)
        labels = data.labels
        if let softLabels {
            guard softLabels.count == data.count * network.config.classes, softLabels.allSatisfy(\.isFinite) else {
                throw .shape(
                    "soft labels: \(softLabels.count) values for \(data.count) images × \(network.config.classes) "
                        + "classes (all finite)"
                )
            }
            self.softLabels = try Tensor(shape: [data.count, network.config.classes], scalars: softLabels)
        } else {
            self.softLabels = nil
        }
    }

    /// One epoch: a permutation (or `order`), batches in order (last partial kept), SGD.
    /// Returns the mean training loss. Draws come from `derivedSeed(seed, epoch)`.
    public func runEpoch(_ state: inout TrainerState, seed: UInt64, order: [Int]? = nil) throws(ASTError) -> Double {
        let epoch = state.epoch
        var rng = SeededGenerator(seed: derivedSeed(seed, UInt64(epoch)))
        let permutation = order ?? rng.permutation(labels.count)
        guard permutation.count == labels.count, permutation.allSatisfy({ (0..<labels.count).contains($0) }) else {
            throw .invalid("epoch order must be a permutation of 0..<\(labels.count)")
        }
        if settings.sgd.resetMomentumAtDecay, settings.sgd.decayEpochs.contains(epoch) { state.momentumBuffer = nil }
        let lr = Float(settings.learningRate(epoch: epoch))
        let (mu, wd) = (Float(settings.sgd.momentum), Float(settings.sgd.weightDecay))
        let scale = Float(settings.lossScale(epoch: epoch))
        var lossSum = 0.0
        var start = 0
        while start < permutation.count {
            let batch = Array(permutation[start..<min(start + settings.batchSize, permutation.count)])
            start += batch.count
            let theta = try Tensor<Float>(shape: [state.parameters.count], scalars: state.parameters).variable()
            let x = gatherRowsUnchecked(images, batch)
            let input = try settings.augmentation.map { dsa throws(ASTError) in try dsa.augment(x, using: &rng) } ?? x
            let logits = network.forwardUnchecked(input, theta)
            let targets: Tensor<Float> =
                softLabels.map { gatherRowsUnchecked($0, batch) }
                ?? oneHot(batch.map { labels[$0] }, classes: network.config.classes)
            var loss = softCrossEntropyUnchecked(logits, targets)
            if scale != 1 { loss = scaleUnchecked(loss, scale) }
            if settings.gradientPenalty > 0 {
                loss = addUnchecked(loss, try gradientPenalty(x, theta, weight: Float(settings.gradientPenalty)))
            }
            guard loss.item.isFinite else {
                throw ASTError(.diverged, "training loss is \(loss.item) in epoch \(epoch)")
            }
            lossSum += Double(loss.item) * Double(batch.count)
            let g = try gradients(of: loss, wrt: [theta])[0]
            // The momentum buffer is taken out of the state while it is updated, so it stays
            // uniquely referenced (no copy per step); the loop runs on raw pointers.
            var buffer = state.momentumBuffer ?? []
            state.momentumBuffer = nil
            let fresh = buffer.isEmpty
            if fresh { buffer = [Float](repeating: 0, count: g.count) }
            g.withUnsafeBufferPointer { gp in
                buffer.withUnsafeMutableBufferPointer { b in
                    state.parameters.withUnsafeMutableBufferPointer { p in
                        for i in 0..<gp.count {
                            let d = gp[i] + wd * p[i]
                            b[i] = fresh || mu == 0 ? d : mu * b[i] + d
                            p[i] -= lr * b[i]
                        }
                    }
                }
            }
            state.momentumBuffer = mu == 0 ? nil : buffer
        }
        state.epoch += 1
        return lossSum / Double(labels.count)
    }

    /// AST's gradient penalty λ · mean_{b,h,w} (‖G[b,:,h,w]‖₂ − 1)², G = ∂(Σ_k f_θ(x)_k)/∂x on the
    /// clean batch x; differentiable with respect to θ (double backward).
    public func gradientPenalty(
        _ x: Tensor<Float>, _ theta: Tensor<Float>, weight: Float
    ) throws(ASTError) -> Tensor<Float> {
        try network.gradientPenalty(x, theta, weight: weight)
    }
}

extension ConvNet {
    /// λ · mean_{b,h,w} (‖∂(Σ_k f_θ(x)_k)/∂x [b,:,h,w]‖₂ − 1)²; differentiable in θ.
    public func gradientPenalty<S>(_ x: Tensor<S>, _ theta: Tensor<S>, weight: S) throws(ASTError) -> Tensor<S> {
        let xv = x.detached().variable()
        let total = sumUnchecked(forwardUnchecked(xv, theta), axes: [0, 1], keepDims: false)
        let g = try gradients(of: total, wrt: [xv], createGraph: true)[0]
        let norms = unaryUnchecked(.sqrt, sumUnchecked(mulUnchecked(g, g), axes: [1], keepDims: false))
        let deviation = shiftUnchecked(norms, -1)
        return scaleUnchecked(
            meanUnchecked(mulUnchecked(deviation, deviation), axes: [0, 1, 2], keepDims: false), weight)
    }

    /// Top-1 accuracy of θ on a dataset, in batches (no graph).
    public func accuracy(parameters: [Float], on data: ImageDataset, batchSize: Int = 500) throws(ASTError) -> Double {
        try score(parameters: parameters, on: data, batchSize: batchSize).accuracy
    }

    /// Mean cross-entropy and top-1 accuracy of θ on a dataset, in batches of `batchSize` (no
    /// graph; the first largest logit wins a tie). `afterBatch(imagesDone, lossSumSoFar)` runs
    /// after every batch and may throw to stop. `firstNonFiniteImage` is the first image whose
    /// largest logit is NaN or infinite (its loss is then not finite either); the accuracy
    /// counts it as a miss unless class 0 is its label.
    public func score(
        parameters: [Float], on data: ImageDataset, batchSize: Int,
        afterBatch: (Int, Double) throws(ASTError) -> Void = { _, _ in }
    )
        throws(ASTError) -> (loss: Double, accuracy: Double, firstNonFiniteImage: Int?)
    {
        guard data.count > 0 else { return (0, 0, nil) }
        let theta = try Tensor<Float>(shape: [parameterCount], scalars: parameters)
        let images = try Tensor<Float>(
            shape: [data.count, data.channels, data.height, data.width], scalars: data.images)
        try checkImages(images.shape, "evaluation images")
        var correct = 0
        var lossSum = 0.0
        var firstNonFinite: Int? = nil
        var start = 0
        let k = config.classes
        while start < data.count {
            let batch = Array(start..<min(start + max(1, batchSize), data.count))
            let logits = forwardUnchecked(gatherRowsUnchecked(images, batch), theta)
            logits.withUnsafeBufferPointer { z in
                for (row, i) in batch.enumerated() {
                    let zi = z[(row * k)..<((row + 1) * k)]
                    var best = zi.startIndex
                    for j in zi.indices.dropFirst() where zi[j] > zi[best] { best = j }
                    let label = Int(data.labels[i])
                    if best - zi.startIndex == label { correct += 1 }
                    let top = zi[best]
                    guard top.isFinite else {
                        if firstNonFinite == nil { firstNonFinite = i }
                        lossSum = .nan
                        continue
                    }
                    var sumExp = 0.0
                    for v in zi { sumExp += exp(Double(v - top)) }
                    lossSum += log(sumExp) - Double(zi[zi.startIndex + label] - top)
                }
            }
            start += batch.count
            try afterBatch(start, lossSum)
        }
        return (lossSum / Double(data.count), Double(correct) / Double(data.count), firstNonFinite)
    }
}
