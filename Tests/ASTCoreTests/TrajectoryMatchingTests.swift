import Testing
@testable import ASTCore
import TestSupport

/// The constant-memory meta-gradient against central finite differences of the whole unrolled
/// loss, in Double on a tiny network (step 1e-6; relative tolerance 1e-5).
@Suite struct TrajectoryMatchingFiniteDifferences {
    let net = try! ConvNet(ConvNetConfig(channels: 1, imageSize: 6, classes: 2, width: 3, depth: 1))

    func problem(
        momentum: Double?, weight: Double, intermediate: Bool, lr: Double
    ) -> (TrajectoryMatching<Double>, Tensor<Double>, Tensor<Double>) {
        let start = try! Tensor<Double>(
            shape: [net.parameterCount], scalars: net.initialParameters(seed: 1).map(Double.init))
        let target = try! start.adding(randomTensor([net.parameterCount], seed: 2, scale: 0.05))
        let mid = try! start.adding(randomTensor([net.parameterCount], seed: 3, scale: 0.03))
        let tm = TrajectoryMatching<Double>(
            network: net, labels: [0, 0, 1, 1], learningRate: lr,
            minibatches: [[0, 2], [1, 3], [3, 0], [2, 1]], momentum: momentum, innerLossWeight: weight,
            intermediateTargets: intermediate ? [IntermediateTarget(step: 2, target: mid, weight: 0.5)] : [])
        return (tm, start, target)
    }

    func check(momentum: Double?, weight: Double, intermediate: Bool) throws {
        let lr = 0.3
        let images = randomTensor([4, 1, 6, 6], seed: 4)
        let (tm, start, target) = problem(momentum: momentum, weight: weight, intermediate: intermediate, lr: lr)
        let result = try tm.run(images: images, start: start, target: target)
        let eps = 1e-6
        var worst = 0.0, scale = 0.0
        let base = images.scalars
        for k in stride(from: 0, to: base.count, by: 5) {
            var plus = base, minus = base
            plus[k] += eps; minus[k] -= eps
            let lp = try tm.run(images: Tensor(shape: images.shape, scalars: plus), start: start, target: target).loss
            let lm = try tm.run(images: Tensor(shape: images.shape, scalars: minus), start: start, target: target).loss
            let fd = (lp - lm) / (2 * eps)
            worst = max(worst, abs(fd - result.imageGradient.scalars[k]))
            scale = max(scale, abs(fd))
        }
        #expect(worst / scale < 1e-5, "dL/dimages error \(worst / scale)")
        var up = tm, down = tm
        up.learningRate = lr + eps
        down.learningRate = lr - eps
        let fdLR =
            (try up.run(images: images, start: start, target: target).loss
                - down.run(images: images, start: start, target: target).loss) / (2 * eps)
        #expect(
            abs(fdLR - result.learningRateGradient) / abs(fdLR) < 1e-5,
            "dL/dα \(result.learningRateGradient) vs \(fdLR)")
    }

    /// dL/d soft labels (the learnable-label option) against finite differences.
    @Test func softLabelGradient() throws {
        let images = randomTensor([4, 1, 6, 6], seed: 4)
        var (tm, start, target) = problem(momentum: 0.9, weight: 1, intermediate: false, lr: 0.3)
        let probabilities: [Double] = [0.8, 0.2, 0.6, 0.4, 0.3, 0.7, 0.1, 0.9]
        tm.labels = nil
        tm.softLabels = try Tensor(shape: [4, 2], scalars: probabilities)
        let result = try tm.run(images: images, start: start, target: target)
        let analytic = try #require(result.softLabelGradient).scalars
        let eps = 1e-6
        for k in 0..<probabilities.count {
            var plus = probabilities, minus = probabilities
            plus[k] += eps; minus[k] -= eps
            var up = tm, down = tm
            up.softLabels = try Tensor(shape: [4, 2], scalars: plus)
            down.softLabels = try Tensor(shape: [4, 2], scalars: minus)
            let fd =
                (try up.run(images: images, start: start, target: target).loss
                    - down.run(images: images, start: start, target: target).loss) / (2 * eps)
            #expect(abs(fd - analytic[k]) <= 1e-5 * max(1, abs(fd)), "soft label \(k): \(analytic[k]) vs \(fd)")
        }
    }

    @Test func plainSGD() throws { try check(momentum: nil, weight: 1, intermediate: false) }
    @Test func momentumInnerLoop() throws { try check(momentum: 0.9, weight: 1, intermediate: false) }
    @Test func balancedLossAndIntermediateMatching() throws {
        try check(momentum: 0.9, weight: 1.3, intermediate: true)
    }
}

/// Keeping step graphs within `activationBudget` changes only the speed: bit-identical results
/// with none, some and all steps kept (Float, with tensors large enough to be counted).
@Suite struct ActivationBudget {
    /// Kept graphs (every value computed) and re-recorded ones (weight-gradient values left out)
    /// give the same bits, with the momentum loop and with plain SGD (whose step-size gradient
    /// then comes from the kept update directions).
    @Test(arguments: [Float(0.5), nil]) func keptGraphsGiveTheSameResult(momentum: Float?) throws {
        let net = try ConvNet(ConvNetConfig(channels: 3, imageSize: 16, classes: 4, width: 16, depth: 2))
        let p = net.parameterCount
        let start = try Tensor<Float>(shape: [p], scalars: net.initialParameters(seed: 1))
        let target = try start.adding(
            Tensor<Float>(shape: [p], scalars: randomTensor([p], seed: 2, scale: 0.02).scalars.map(Float.init)))
        let mid = try start.adding(
            Tensor<Float>(shape: [p], scalars: randomTensor([p], seed: 3, scale: 0.01).scalars.map(Float.init)))
        let images = try Tensor<Float>(
            shape: [12, 3, 16, 16], scalars: randomTensor([12, 3, 16, 16], seed: 4).scalars.map(Float.init))
        let soft = try Tensor<Float>(shape: [12, 4], scalars: (0..<48).map { Float(($0 * 7) % 5 + 1) / 15 })
        let batches = (0..<6).map { i in (0..<8).map { (i * 5 + $0) % 12 } }
        var tm = TrajectoryMatching<Float>(
            network: net, labels: nil, softLabels: soft, learningRate: 0.05,
            minibatches: batches, momentum: momentum, innerLossWeight: 1.2,
            intermediateTargets: [IntermediateTarget(step: 3, target: mid, weight: 0.5)],
            transform: { x, i in scaleUnchecked(x, 1 + Float(i) / 10) })
        let reference = try tm.run(images: images, start: start, target: target)
        #expect(reference.keptStepGraphs == 0)
        // One step's graph at this size is around a MiB: budgets from 64 KiB up keep none, some
        // and finally all steps.
        var kept: [Int] = []
        for budget in (0..<8).map({ 64 << (10 + $0) }) + [1 << 30] {
            tm.activationBudget = budget
            let r = try tm.run(images: images, start: start, target: target)
            kept.append(r.keptStepGraphs)
            #expect(r.loss == reference.loss)
            #expect(r.learningRateGradient == reference.learningRateGradient)
            #expect(r.imageGradient.scalars == reference.imageGradient.scalars)
            #expect(r.softLabelGradient?.scalars == reference.softLabelGradient?.scalars)
            #expect(r.finalParameters.scalars == reference.finalParameters.scalars)
        }
        #expect(kept.contains { $0 > 0 && $0 < batches.count }, "steps kept per budget: \(kept)")
        #expect(kept.last == batches.count)
    }

    /// A weight gradient recorded with `WeightGradientValues.omitted` is zeros with the same
    /// graph: differentiating through it gives the same bits as through the computed one.
    @Test func omittedWeightGradientValuesKeepTheGraph() throws {
        let x = randomTensor([3, 16, 6, 6], seed: 80), dy = randomTensor([3, 16, 6, 6], seed: 81)
        let v = randomTensor([16, 16, 3, 3], seed: 82)
        func hvp(omitted: Bool) throws -> (value: [Double], second: [[Double]]) {
            let vars = [x.variable(), dy.variable()]
            let dw = WeightGradientValues.$omitted.withValue(omitted) {
                convWeightGradUnchecked(vars[0], vars[1], kernelH: 3, kernelW: 3, padding: 1)
            }
            let second = try gradients(of: try dw.dot(v), wrt: vars)
            return (dw.scalars, second.map(\.scalars))
        }
        let (computed, omitted) = (try hvp(omitted: false), try hvp(omitted: true))
        #expect(computed.value.contains { $0 != 0 })
        #expect(omitted.value.allSatisfy { $0 == 0 })
        #expect(omitted.second == computed.second)
        // Without a graph the value is all there is: it is computed regardless.
        let plain = WeightGradientValues.$omitted.withValue(true) {
            convWeightGradUnchecked(x, dy, kernelH: 3, kernelW: 3, padding: 1)
        }
        #expect(plain.scalars == computed.value)
    }
}
