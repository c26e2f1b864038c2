import Testing
@testable import ASTCore
import TestSupport

/// The per-step cache of Winograd transforms: one kernel transform per weight storage, shape and
/// tile, one input or output-gradient transform per activation chunk, the same bits as
/// transforming at every call.
@Suite struct WinogradCacheTests {
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
        let cache = WinogradCache()
        let cached = WinogradCache.$current.withValue(cache) { calls() }
        #expect(cached == plain)
        // w at two tiles, other at one; w.detached() shares w's storage.
        #expect(cache.kernelCount == 3)
        #expect(WinogradCache.current == nil)
    }

    /// A reshaped view shares its weight's storage: read as another (O, C) it gets kernels of its own.
    @Test func reshapedWeightsAreTheirOwnEntry() throws {
        let w = randomTensor([32, 16, 3, 3], seed: 7), view = reshapeUnchecked(w, [16, 32, 3, 3])
        let (x16, x32) = (randomTensor([2, 16, 12, 12], seed: 8), randomTensor([2, 32, 12, 12], seed: 9))
        func calls() -> [[Double]] {
            [conv2dUnchecked(x16, w, padding: 1), conv2dUnchecked(x32, view, padding: 1)].map(\.scalars)
        }
        let plain = calls()
        let cache = WinogradCache()
        let cached = WinogradCache.$current.withValue(cache) { calls() }
        #expect(w.storage === view.storage)
        #expect(cached == plain)
        #expect(cache.kernelCount == 2)
    }

    /// Each conv input and incoming gradient is read by the forward, the input gradient and the
    /// weight gradient (and by their rules): transformed once per chunk, kept, read again with the
    /// same bits. A view of an activation as another shape is its own entry; past the capacity
    /// chunks are made again at each call, with the same bits.
    @Test func activationsAreTransformedOncePerChunk() throws {
        let w = randomTensor([16, 16, 3, 3], seed: 10), w32 = randomTensor([16, 32, 3, 3], seed: 11)
        func calls(_ side: Int) -> [[Double]] {
            let x = randomTensor([4, 16, side, side], seed: 12), dy = randomTensor([4, 16, side, side], seed: 13)
            // x as 32-channel images: the same storage read as another shape.
            let view = reshapeUnchecked(x, [2, 32, side, side])
            let results: [Tensor<Double>] = [
                conv2dUnchecked(x, w, padding: 1),
                convInputGradUnchecked(dy, w, height: side, width: side, padding: 1),
                convWeightGradUnchecked(x, dy, kernelH: 3, kernelW: 3, padding: 1),
                convWeightGradUnchecked(x, dy, kernelH: 3, kernelW: 3, padding: 1),
                conv2dUnchecked(view, w32, padding: 1),
                conv2dUnchecked(x, w, padding: 1)
            ]
            return results.map(\.scalars)
        }
        for side in [12, 8] {  // F(4×4), F(2×2)
            let plain = calls(side)
            #expect(plain[2] == plain[3] && plain[0] == plain[5])
            let cache = WinogradCache()
            let cached = WinogradCache.$current.withValue(cache) { calls(side) }
            #expect(cached == plain)
            // x, dy and the view, each in one or more chunks: at least one entry each, and no more
            // than one per image (4, 4 and 2).
            #expect(cache.chunkCount >= 3 && cache.chunkCount <= 4 + 4 + 2)
            #expect(cache.chunkBytes > 0)
            let before = cache.chunkCount
            let again = WinogradCache.$current.withValue(cache) { calls(side) }
            // New x and dy (new storages) are new entries; the results are the same bits.
            #expect(again == plain && cache.chunkCount == 2 * before)

            let full = WinogradCache(chunkCapacity: 0)
            let uncached = WinogradCache.$current.withValue(full) { calls(side) }
            #expect(uncached == plain)
            #expect(full.chunkCount == 0 && full.chunkBytes == 0)
            // Room for some chunks and not all of them.
            let some = WinogradCache(chunkCapacity: cache.chunkBytes / 4)
            let partly = WinogradCache.$current.withValue(some) { calls(side) }
            #expect(partly == plain)
            #expect(some.chunkCount < before && some.chunkBytes <= cache.chunkBytes / 4)
        }
    }

    /// The meta-gradient, which opens a cache per student step, against the same run with every
    /// transform made at every call: same bits.
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
        let uncached = try WinogradCache.$disabled.withValue(true) {
            try tm.run(images: images, start: start, target: target)
        }
        #expect(cached.imageGradient.scalars == uncached.imageGradient.scalars)
        #expect(cached.learningRateGradient == uncached.learningRateGradient)
        #expect(cached.loss == uncached.loss)
    }
}
