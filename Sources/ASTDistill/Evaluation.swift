import ASTCore
import ASTData

/// The evaluation protocol (docs/evaluation.md): K fresh networks trained from scratch only on
/// a small training set (the distilled images, or a random real subset of the same size), judged
/// by their FINAL test accuracy — never the best accuracy seen on the test set.

public struct EvaluationSettings: Sendable, Equatable {
    /// K.
    public var models = 5
    public var epochs = 1000
    public var batchSize = 256
    public var augmentation = DSA.defaultStrategy
    public var seed: UInt64 = 0
    public init() {}
}

public struct EvaluationResult: Sendable, Equatable {
    /// Final test accuracy of each of the K networks.
    public var accuracies: [Double]
    public var mean: Double { accuracies.reduce(0, +) / Double(max(accuracies.count, 1)) }
    /// Sample standard deviation (0 for one model).
    public var standardDeviation: Double {
        guard accuracies.count > 1 else { return 0 }
        let m = mean
        return (accuracies.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(accuracies.count - 1)).squareRoot()
    }
}

public enum Evaluation {
    /// Trains `settings.models` networks of `network`'s architecture on `train` with SGD at
    /// `learningRate` (momentum 0.9, weight decay 5e-4, ×0.1 at half), and tests each at the end.
    /// `afterEpoch(model, epoch)` may throw to abort.
    public static func run(
        network: ConvNet, train: ImageDataset, test: ImageDataset, learningRate: Double,
        settings: EvaluationSettings, softLabels: [Float]? = nil,
        afterEpoch: (Int, Int) throws(ASTError) -> Void = { _, _ throws(ASTError) in }
    ) throws(ASTError) -> EvaluationResult {
        guard (1...1000).contains(settings.models) else {
            throw .invalid("evaluation models \(settings.models) is outside 1...1000")
        }
        var training = TrainingSettings.evaluation(
            epochs: settings.epochs, learningRate: learningRate,
            augmentation: try DSA(strategy: settings.augmentation))
        training.batchSize = settings.batchSize
        let trainer = try NetworkTrainer(network: network, settings: training, data: train, softLabels: softLabels)
        var accuracies: [Double] = []
        for k in 0..<settings.models {
            var init_ = SeededGenerator(seed: derivedSeed(settings.seed, 7, UInt64(k)))
            var state = TrainerState(parameters: network.initialParameters(using: &init_))
            let epochSeed = derivedSeed(settings.seed, 8, UInt64(k))
            while state.epoch < settings.epochs {
                _ = try trainer.runEpoch(&state, seed: epochSeed)
                try afterEpoch(k, state.epoch)
            }
            accuracies.append(try network.accuracy(parameters: state.parameters, on: test))
        }
        return EvaluationResult(accuracies: accuracies)
    }
}
