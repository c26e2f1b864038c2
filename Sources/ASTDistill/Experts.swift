import ASTCore
import ASTData

/// Expert trajectories (docs/algorithm.md §2): networks trained on the real data with every
/// epoch's parameters kept. MTT experts are plain SGD; AST experts are smooth (momentum, weight
/// decay, a decayed rate, scaled early losses, a gradient penalty).

public enum ExpertKind: String, Sendable, CaseIterable {
    case mtt
    case ast
}

extension TrainingSettings {
    /// MTT experts: SGD lr 0.01, no momentum, no weight decay, no decay, DSA on every batch.
    public static func mttExpert(epochs: Int, augmentation: DSA?) -> TrainingSettings {
        TrainingSettings(
            epochs: epochs, batchSize: 256, sgd: SGDSettings(learningRate: 0.01), augmentation: augmentation)
    }

    /// AST experts: SGD lr 0.003, momentum 0.9, weight decay 1e-3, lr ×0.6 from epoch
    /// floor(epochs/2)+1 with a fresh momentum buffer, loss scaling λ_e, gradient penalty 2.
    public static func astExpert(epochs: Int, augmentation: DSA?) -> TrainingSettings {
        TrainingSettings(
            epochs: epochs, batchSize: 256,
            sgd: SGDSettings(
                learningRate: 0.003, momentum: 0.9, weightDecay: 1e-3,
                decayEpochs: [epochs / 2 + 1], decayFactor: 0.6, resetMomentumAtDecay: true),
            augmentation: augmentation, lossScaling: true, gradientPenalty: 2)
    }

    public static func expert(_ kind: ExpertKind, epochs: Int, augmentation: DSA?) -> TrainingSettings {
        kind == .mtt
            ? mttExpert(epochs: epochs, augmentation: augmentation)
            : astExpert(epochs: epochs, augmentation: augmentation)
    }

    /// The kind's recipe with the caller's changes applied.
    public static func expert(
        _ kind: ExpertKind, epochs: Int, augmentation: DSA?, recipe: ExpertRecipe
    ) -> TrainingSettings {
        recipe.applied(to: expert(kind, epochs: epochs, augmentation: augmentation))
    }

    /// The evaluation protocol (docs/evaluation.md): SGD lr = α, momentum 0.9, weight decay
    /// 5e-4, lr ×0.1 at half the epochs, batch 256, DSA on every batch.
    public static func evaluation(epochs: Int = 1000, learningRate: Double, augmentation: DSA?) -> TrainingSettings {
        TrainingSettings(
            epochs: epochs, batchSize: 256,
            sgd: SGDSettings(
                learningRate: learningRate, momentum: 0.9, weightDecay: 5e-4,
                decayEpochs: [epochs / 2], decayFactor: 0.1),
            augmentation: augmentation)
    }
}

/// Changes to an expert kind's training recipe; nil keeps the kind's value. MTT's and AST's
/// recipes are the two kinds; any other recipe is one of them with some of these set.
public struct ExpertRecipe: Sendable, Equatable {
    public var learningRate: Double?
    public var momentum: Double?
    public var weightDecay: Double?
    /// The epoch at whose start the rate is multiplied by `decayFactor`; 0 = no decay.
    public var decayEpoch: Int?
    public var decayFactor: Double?
    public var resetMomentumAtDecay: Bool?
    /// λ_0 of the loss-scaling ramp (1 = no scaling) and its length in epochs (0 = none).
    public var lossScaleStart: Double?
    public var lossScaleEpochs: Int?
    public var gradientPenalty: Double?

    public init() {}

    /// `resetMomentumAtDecay` as an optional 0/1, for the int settings table.
    public var resetMomentumAtDecayAsInt: Int? {
        get { resetMomentumAtDecay.map { $0 ? 1 : 0 } }
        set { resetMomentumAtDecay = newValue.map { $0 != 0 } }
    }

    public func applied(to base: TrainingSettings) -> TrainingSettings {
        var t = base
        if let v = learningRate { t.sgd.learningRate = v }
        if let v = momentum { t.sgd.momentum = v }
        if let v = weightDecay { t.sgd.weightDecay = v }
        if let v = decayEpoch { t.sgd.decayEpochs = v == 0 ? [] : [v] }
        if let v = decayFactor { t.sgd.decayFactor = v }
        if let v = resetMomentumAtDecay { t.sgd.resetMomentumAtDecay = v }
        if let v = lossScaleStart { t.lossScaleStart = v }
        if let v = lossScaleEpochs { t.lossScaleEpochs = v }
        if let v = gradientPenalty { t.gradientPenalty = v }
        return t
    }
}

/// One expert's trajectory so far: θ*_0 … θ*_e and the test accuracy after each epoch.
public struct ExpertProgress: Sendable, Equatable {
    public var index: Int
    public var snapshots: [[Float]]
    public var testAccuracies: [Double]
    public var state: TrainerState
    /// The epochs this expert trains for.
    public var totalEpochs: Int
    public var isComplete: Bool { state.epoch >= totalEpochs }

    public init(index: Int, snapshots: [[Float]], testAccuracies: [Double], state: TrainerState, totalEpochs: Int) {
        self.index = index
        self.snapshots = snapshots
        self.testAccuracies = testAccuracies
        self.state = state
        self.totalEpochs = totalEpochs
    }
}

public struct ExpertTrainer: Sendable {
    public let trainer: NetworkTrainer
    public let test: ImageDataset
    public let seed: UInt64

    public init(network: ConvNet, settings: TrainingSettings, data: DatasetPair, seed: UInt64) throws(ASTError) {
        trainer = try NetworkTrainer(network: network, settings: settings, data: data.train)
        test = data.test
        self.seed = seed
    }

    /// θ*_0 of expert `index` (PyTorch-default init from a seed derived from the run's seed).
    public func initialProgress(index: Int) -> ExpertProgress {
        var g = SeededGenerator(seed: derivedSeed(seed, 1, UInt64(index)))
        let theta = trainer.network.initialParameters(using: &g)
        return ExpertProgress(
            index: index, snapshots: [theta], testAccuracies: [],
            state: TrainerState(parameters: theta), totalEpochs: trainer.settings.epochs)
    }

    /// Trains expert `progress.index` from where `progress` stands to the last epoch, calling
    /// `afterEpoch` with the progress after every epoch (persist it there; throw to stop).
    public func train(
        from progress: ExpertProgress,
        afterEpoch: (ExpertProgress) throws(ASTError) -> Void = { _ throws(ASTError) in }
    ) throws(ASTError) -> ExpertProgress {
        var p = progress
        let epochSeed = derivedSeed(seed, 2, UInt64(p.index))
        while p.state.epoch < trainer.settings.epochs {
            _ = try trainer.runEpoch(&p.state, seed: epochSeed)
            p.snapshots.append(p.state.parameters)
            p.testAccuracies.append(try trainer.network.accuracy(parameters: p.state.parameters, on: test))
            try afterEpoch(p)
        }
        return p
    }
}
