import Testing
@testable import ASTCore
@testable import ASTDistill
import ASTData
import TestSupport

@Suite struct Training {
    /// The trainer's SGD (momentum, weight decay, batches in the given order, last partial batch
    /// kept) against the PyTorch oracle's expert trajectory, without augmentation.
    @Test func expertSGDMatchesOracle() throws {
        let o = try loadFixture("oracle_tiny")
        let cfg = try o.array("cfg").int64s().map(Int.init)
        let net = try ConvNet(
            ConvNetConfig(channels: cfg[0], imageSize: cfg[1], classes: cfg[2], width: cfg[3], depth: cfg[4]))
        let hp = try o.array("expert_hp").doubles()
        let x = try o.array("real_x")
        let labels = try o.array("real_y").int64s().map { Int32($0) }
        let data = try ImageDataset(
            images: x.floats(), labels: labels, count: labels.count, channels: cfg[0],
            height: cfg[1], width: cfg[1], classes: cfg[2])
        let settings = TrainingSettings(
            epochs: 3, batchSize: Int(hp[3]),
            sgd: SGDSettings(learningRate: hp[0], momentum: hp[1], weightDecay: hp[2]))
        let trainer = try NetworkTrainer(network: net, settings: settings, data: data)
        let reference = try o.array("expert_traj").doubles()
        let perms = try o.array("expert_perm").int64s().map(Int.init)
        let p = net.parameterCount, n = labels.count
        var state = TrainerState(parameters: reference[0..<p].map(Float.init))
        for epoch in 0..<3 {
            _ = try trainer.runEpoch(&state, seed: 0, order: Array(perms[(epoch * n)..<((epoch + 1) * n)]))
            let ref = reference[((epoch + 1) * p)..<((epoch + 2) * p)]
            let scale = ref.map(abs).max()!
            let err = zip(state.parameters, ref).map { abs(Double($0) - $1) }.max()!
            #expect(err < 1e-4 * scale, "epoch \(epoch): max error \(err) (scale \(scale))")
        }
    }

    /// AST's gradient penalty: its gradient with respect to θ (a double backward through the
    /// input gradient) against finite differences, in Double on a tiny network.
    @Test(arguments: [NormKind.instance, .none])
    func gradientPenaltyMatchesFiniteDifferences(norm: NormKind) throws {
        let net = try ConvNet(ConvNetConfig(channels: 2, imageSize: 6, classes: 3, width: 3, depth: 1, norm: norm))
        let theta = try Tensor<Double>(
            shape: [net.parameterCount], scalars: net.initialParameters(seed: 4).map(Double.init))
        let x = randomTensor([2, 2, 6, 6], seed: 5)
        let value = try net.gradientPenalty(x, theta, weight: 2).item
        #expect(value > 0 && value.isFinite)
        let r = try checkGradients(inputs: [theta]) { try net.gradientPenalty(x, $0[0], weight: 2) }
        #expect(r.firstOrder < 1e-6, "\(r)")
        #expect(r.secondOrder < 1e-5, "\(r)")
    }

    @Test func astScheduleDecaysAndScales() {
        let s = TrainingSettings.astExpert(epochs: 20, augmentation: nil)
        #expect(s.learningRate(epoch: 10) == 0.003)
        #expect(abs(s.learningRate(epoch: 11) - 0.0018) < 1e-12)
        #expect(s.lossScale(epoch: 0) == 0.5)
        #expect(abs(s.lossScale(epoch: 9) - 0.95) < 1e-12)
        #expect(s.lossScale(epoch: 10) == 1)
    }
}
