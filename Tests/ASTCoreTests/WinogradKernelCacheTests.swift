import Testing
@testable import ASTCore
import TestSupport

/// The per-step cache of transformed Winograd kernels: one transform per weight storage, shape and tile,
/// the same bits as transforming at every call.
@Suite struct WinogradKernelCacheTests {
    @Test func oneTransformPerWeightAndTheSameBits() throws {
        // 12×12 takes F(4×4), 8×8 F(2×2) (see winograd4MinSide).
        let w = randomTensor([16, 16, 3, 3], seed: 1), other = randomTensor([16, 16, 3, 3], seed: 2)
        let (x12, dy12) = (randomTensor([2, 16, 12, 12], seed: 3), randomTensor([2, 16, 12, 12], seed: 4))
        let (x8, dy8) = (randomTensor([2, 16, 8, 8], seed: 5), randomTensor([2, 16, 8, 8], seed: 6))
        func calls() -> [[Double]] {
            [
                conv2dUnchecked(x12, w, padding: 1), convInputGradUnchecked(dy12, w, height: 12, width: 12, padding: 1),
                conv2dUnchecked(x8, w, padding: 1), convInputGradUnchecked(dy8, w, height: 8, width: 8, padding: 1),
                conv2dUnchecked(x12, other, padding: 1), conv2dUnchecked(x12, w.detached(), padding: 1)
            ].map(\.scalars)
        }
        let plain = calls()
        let cache = WinogradKernelCache()
        let cached = WinogradKernelCache.$current.withValue(cache) { calls() }
        #expect(cached == plain)
        // w at two tiles, other at one; w.detached() shares w's storage.
        #expect(cache.count == 3)
        #expect(WinogradKernelCache.current == nil)
    }

    /// A reshaped view shares its weight's storage: read as another (O, C) it gets kernels of its own.
    @Test func reshapedWeightsAreTheirOwnEntry() throws {
        let w = randomTensor([32, 16, 3, 3], seed: 7), view = reshapeUnchecked(w, [16, 32, 3, 3])
        let (x16, x32) = (randomTensor([2, 16, 12, 12], seed: 8), randomTensor([2, 32, 12, 12], seed: 9))
        func calls() -> [[Double]] {
            [conv2dUnchecked(x16, w, padding: 1), conv2dUnchecked(x32, view, padding: 1)].map(\.scalars)
        }
        let plain = calls()
        let cache = WinogradKernelCache()
        let cached = WinogradKernelCache.$current.withValue(cache) { calls() }
        #expect(w.storage === view.storage)
        #expect(cached == plain)
        #expect(cache.count == 2)
    }

    /// The meta-gradient, which opens a cache per student step, against the same run with the
    /// kernels transformed at every call: same bits.
    @Test func trajectoryMatchingUnchanged() throws {
        let net = try ConvNet(ConvNetConfig(channels: 3, imageSize: 12, classes: 3, width: 16, depth: 2))
        let p = net.parameterCount
        let start = try Tensor<Double>(shape: [p], scalars: net.initialParameters(seed: 1).map(Double.init))
        let target = try start.adding(randomTensor([p], seed: 2, scale: 0.02))
        let images = randomTensor([6, 3, 12, 12], seed: 3)
        let tm = TrajectoryMatching<Double>(
            network: net, labels: [0, 1, 2, 0, 1, 2], learningRate: 0.05,
            minibatches: (0..<4).map { i in (0..<4).map { (i + $0) % 6 } })
        let cached = try tm.run(images: images, start: start, target: target)
        let uncached = try WinogradKernelCache.$disabled.withValue(true) {
            try tm.run(images: images, start: start, target: target)
        }
        #expect(cached.imageGradient.scalars == uncached.imageGradient.scalars)
        #expect(cached.learningRateGradient == uncached.learningRateGradient)
        #expect(cached.loss == uncached.loss)
    }
}
