import Testing
@testable import ASTCore
@testable import ASTDistill
import ASTData

/// A tiny world: 3 classes of 8x8 one-channel images with class-dependent means.
func tinyData(perClass: Int, seed: UInt64) throws -> ImageDataset {
    var rng = SeededGenerator(seed: seed)
    var images: [Float] = [], labels: [Int32] = []
    for c in 0..<3 {
        for _ in 0..<perClass {
            images += (0..<64).map { p in Float(rng.nextNormal() * 0.5) + (p % 3 == c ? 1 : 0) }
            labels.append(Int32(c))
        }
    }
    return try ImageDataset(
        images: images, labels: labels, count: labels.count, channels: 1, height: 8, width: 8, classes: 3)
}

let tinyNet = try! ConvNet(ConvNetConfig(channels: 1, imageSize: 8, classes: 3, width: 4, depth: 2))

/// Two experts of 4 epochs trained on tinyData.
func tinyExperts(_ kind: ExpertKind) throws -> InMemoryExperts {
    let data = try DatasetPair(train: tinyData(perClass: 20, seed: 1), test: tinyData(perClass: 10, seed: 2))
    var settings = TrainingSettings.expert(kind, epochs: 4, augmentation: try DSA(strategy: "crop_flip"))
    settings.batchSize = 16
    settings.sgd.learningRate = 0.05
    let trainer = try ExpertTrainer(network: tinyNet, settings: settings, data: data, seed: 3)
    return try InMemoryExperts((0..<2).map { try trainer.train(from: trainer.initialProgress(index: $0)).snapshots })
}

@Suite struct Distillation {
    func settings(ast: Bool) -> DistillationSettings {
        var s = ast ? DistillationSettings.ast(ipc: 2) : DistillationSettings.mtt(ipc: 2)
        (s.syntheticSteps, s.expertEpochs, s.maxStartEpoch, s.iterations) = (4, 2, 2, 4)
        (s.imageLearningRate, s.learningRateLearningRate, s.initialStepSize) = (10, 1e-5, 0.01)
        s.syntheticBatch = 3
        s.augmentation = "color_crop_cutout_flip_scale_rotate"
        s.seed = 11
        return s
    }

    /// Stopping after any iteration and continuing from the saved state gives exactly the
    /// uninterrupted run.
    @Test(arguments: [false, true])
    func resumeIsIdentical(ast: Bool) throws {
        let experts = try tinyExperts(ast ? .ast : .mtt)
        let distiller = try Distiller(network: tinyNet, settings: settings(ast: ast), experts: experts)
        let initial = try distiller.initialState(
            from: SyntheticSet.initialize(
                .real, ipc: 2, from: tinyData(perClass: 20, seed: 1), network: tinyNet, seed: 5))
        var straight = initial
        for _ in 0..<4 { _ = try distiller.step(&straight) }
        var first = initial
        for _ in 0..<2 { _ = try distiller.step(&first) }
        var resumed = first  // a value copy stands in for the checkpoint round trip (tested in the store tests)
        for _ in 0..<2 { _ = try distiller.step(&resumed) }
        #expect(straight == resumed)
        #expect(straight.iteration == 4 && straight.lossHistory.allSatisfy(\.isFinite))
        #expect(straight.images != initial.images)
    }

    /// Replaying a segment's draws without the weight perturbation's directions (as `apply`
    /// does) skips exactly their draws: the same minibatches, queue and DSA generator after.
    @Test func replayWithoutPerturbationDrawsTheSame() throws {
        var s = settings(ast: true)
        s.segments = 2
        #expect((s.weightPerturbation ?? 0) > 0)
        let distiller = try Distiller(network: tinyNet, settings: s, experts: try tinyExperts(.ast))
        let state = try distiller.initialState(
            from: SyntheticSet.initialize(
                .real, ipc: 2, from: tinyData(perClass: 20, seed: 1), network: tinyNet, seed: 5))
        for segment in 0..<2 {
            var full = distiller.plan(state, segment: segment)
            var replay = distiller.plan(state, segment: segment, withPerturbation: false)
            #expect(full.perturbation.count == distiller.perturbedSlots.count && replay.perturbation.isEmpty)
            #expect(full.minibatches == replay.minibatches && full.pendingAfter == replay.pendingAfter)
            #expect((full.expert, full.startEpoch) == (replay.expert, replay.startEpoch))
            #expect(full.rng.next() == replay.rng.next())
        }
    }

    /// A learning rate for α that makes it negative stops with an error and keeps the last good state.
    @Test func collapsingStepSizeIsAnErrorAndKeepsState() throws {
        var s = settings(ast: false)
        s.learningRateLearningRate = 1e6
        let distiller = try Distiller(network: tinyNet, settings: s, experts: try tinyExperts(.mtt))
        var state = try distiller.initialState(
            from: SyntheticSet.initialize(
                .real, ipc: 2, from: tinyData(perClass: 20, seed: 1), network: tinyNet, seed: 5))
        let before = state
        var caught: ASTError?
        for _ in 0..<4 {
            do throws(ASTError) { _ = try distiller.step(&state) } catch { caught = error; break }
        }
        #expect(caught?.kind == .diverged)
        #expect(state.stepSize > 0 && state.stepSize.isFinite)
        #expect(state.iteration < 4 || state == before)
    }

    @Test func badSettingsFailBeforeWork() throws {
        var s = settings(ast: false)
        s.maxStartEpoch = 4  // 3 + M 2 = epoch 5 > 4 stored epochs
        #expect(throws: ASTError.self) { try Distiller(network: tinyNet, settings: s, experts: try tinyExperts(.mtt)) }
        s = settings(ast: false)
        s.imageLearningRate = .nan
        #expect(throws: ASTError.self) { try Distiller(network: tinyNet, settings: s, experts: try tinyExperts(.mtt)) }
        #expect(throws: ASTError.self) {
            try SyntheticSet.initialize(
                .real, ipc: 21, from: tinyData(perClass: 20, seed: 1), network: tinyNet, seed: 1)
        }
    }

    @Test func balancedInnerLossWeights() {
        var s = DistillationSettings()
        s.balancedInnerLoss = true
        s.maxStartEpoch = 20  // h = 10
        #expect(abs(s.innerLossWeight(startEpoch: 10) - 1.2920296742201793) < 1e-12)  // log5(8)
        #expect(abs(s.innerLossWeight(startEpoch: 0) - 1 / 1.7958889470453636) < 1e-12)  // 1/log5(18)
    }

    /// Representative initialisation picks the real point nearest each k-means centre.
    @Test func representativesAreNearestToCentres() throws {
        // Three tight clusters in 2-D; the point at each cluster's centre must be chosen.
        let points: [Float] = [
            0, 0, 0.1, 0, -0.1, 0, 0, 0.1, 0, -0.1,
            10, 10, 10.2, 10, 9.8, 10, 10, 10.2, 10, 9.8,
            -10, 5, -9.9, 5, -10.1, 5, -10, 5.1, -10, 4.9
        ]
        let picks = try SyntheticSet.representatives(of: points, dimension: 2, k: 3, seed: 1)
        #expect(Set(picks) == [0, 5, 10])
        let one = try SyntheticSet.representatives(of: points, dimension: 2, k: 1, seed: 1)
        #expect(one.count == 1)
        #expect(throws: ASTError.self) { try SyntheticSet.representatives(of: points, dimension: 2, k: 16, seed: 1) }
    }

    /// End to end on the tiny world: experts, AST distillation, evaluation of the result and of a
    /// random real subset with the same protocol.
    @Test func evaluationRunsEndToEnd() throws {
        let experts = try tinyExperts(.ast)
        let train = try tinyData(perClass: 20, seed: 1), test = try tinyData(perClass: 10, seed: 2)
        let start = try SyntheticSet.initialize(
            .representative, ipc: 2, from: train, network: tinyNet,
            expertParameters: experts.experts[0].last, seed: 5)
        #expect(start.labels == [0, 0, 1, 1, 2, 2])
        let distiller = try Distiller(network: tinyNet, settings: settings(ast: true), experts: experts)
        var state = try distiller.initialState(from: start)
        for _ in 0..<3 { _ = try distiller.step(&state) }
        var eval = EvaluationSettings()
        (eval.models, eval.epochs) = (2, 20)
        let distilled = try ImageDataset(
            images: state.images, labels: state.labels, count: 6, channels: 1, height: 8, width: 8, classes: 3)
        let result = try Evaluation.run(
            network: tinyNet, train: distilled, test: test, learningRate: Double(state.stepSize), settings: eval)
        #expect(result.accuracies.count == 2 && result.accuracies.allSatisfy { (0...1).contains($0) })
        let real = try Evaluation.run(network: tinyNet, train: start, test: test, learningRate: 0.01, settings: eval)
        #expect(real.mean >= 0 && real.standardDeviation >= 0)
    }
}
