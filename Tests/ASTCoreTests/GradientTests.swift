import Testing
@testable import ASTCore
import TestSupport

/// Every op, first and second order, against central finite differences in Double
/// (step 1e-6; tolerance 1e-6 relative to the largest finite-difference value).
@Suite struct OpGradients {
    let tolerance = 1e-6

    func expectExact(
        _ name: String, _ inputs: [Tensor<Double>], _ f: ([Tensor<Double>]) throws -> Tensor<Double>
    ) throws {
        let r = try checkGradients(inputs: inputs, f)
        #expect(r.firstOrder < tolerance, "\(name): \(r)")
        #expect(r.secondOrder < tolerance, "\(name): \(r)")
    }

    @Test func arithmeticWithBroadcasting() throws {
        let a = randomTensor([2, 3, 4], seed: 1), b = randomTensor([3, 1], seed: 2)
        let positive = randomTensor([3, 1], seed: 3, scale: 0.2, offset: 2)
        try expectExact("add", [a, b]) { try $0[0].adding($0[1]) }
        try expectExact("subtract", [a, b]) { try $0[0].subtracting($0[1]) }
        try expectExact("multiply", [a, b]) { try $0[0].multiplying($0[1]) }
        try expectExact("multiply same shape", [a, randomTensor([2, 3, 4], seed: 9)]) {
            try $0[0].multiplying($0[1]).multiplying($0[0])
        }
        try expectExact("divide", [a, positive]) { try $0[0].dividing($0[1]) }
        try expectExact("divide reversed", [positive, a]) {
            try $0[0].dividing($0[1].multiplying($0[1]).shifted(by: 1))
        }
        try expectExact("scale, shift", [a]) { $0[0].scaled(by: -1.7).shifted(by: 0.3) }
    }

    @Test func unaryFunctions() throws {
        let x = randomTensor([3, 5], seed: 4)
        let positive = randomTensor([3, 5], seed: 5, scale: 0.3, offset: 1.5)
        try expectExact("exp", [x]) { $0[0].exp() }
        try expectExact("log", [positive]) { $0[0].log() }
        try expectExact("sqrt", [positive]) { $0[0].sqrt() }
        try expectExact("rsqrt", [positive]) { $0[0].rsqrt() }
        try expectExact("relu (times x for curvature)", [x]) { try $0[0].relu().multiplying($0[0]) }
    }

    @Test func reductionsAndShapes() throws {
        let x = randomTensor([2, 3, 4, 5], seed: 6)
        try expectExact("sum axes", [x]) { try $0[0].sum(axes: [1, 3]).multiplying($0[0].sum(axes: [1, 3])) }
        try expectExact("mean keepDims", [x]) { try $0[0].mean(axes: [2, 3], keepDims: true).exp() }
        try expectExact("sum all", [x]) { try $0[0].multiplying($0[0]).sum() }
        try expectExact("broadcast", [randomTensor([3, 1, 5], seed: 7)]) { try $0[0].broadcast(to: [2, 3, 4, 5]).exp() }
        try expectExact("reshape", [x]) { try $0[0].reshaped([6, -1]).exp() }
        try expectExact("gather rows (repeats)", [x]) { try $0[0].gatherRows([1, 0, 1]).exp() }
        try expectExact("slice + concat", [randomTensor([20], seed: 8)]) {
            let a = try $0[0].slice(offset: 3, shape: [2, 3]), b = try $0[0].slice(offset: 10, shape: [4])
            return try Tensor.concatenated([a.exp(), b.multiplying(b)])
        }
    }

    @Test func matrixProducts() throws {
        let a = randomTensor([3, 4], seed: 10), b = randomTensor([4, 5], seed: 11)
        try expectExact("matmul", [a, b]) { try $0[0].matmul($0[1]) }
        try expectExact("matmul Aᵀ", [randomTensor([4, 3], seed: 12), b]) {
            try $0[0].matmul($0[1], transposeSelf: true)
        }
        try expectExact("matmul Bᵀ", [a, randomTensor([5, 4], seed: 13)]) {
            try $0[0].matmul($0[1], transposeOther: true)
        }
        try expectExact("matmul AᵀBᵀ", [randomTensor([4, 3], seed: 14), randomTensor([5, 4], seed: 15)]) {
            try $0[0].matmul($0[1], transposeSelf: true, transposeOther: true)
        }
        try expectExact("linear", [a, randomTensor([2, 4], seed: 16), randomTensor([2], seed: 17)]) {
            try $0[0].linear(weight: $0[1], bias: $0[2]).exp()
        }
    }

    @Test func convolution() throws {
        let x = randomTensor([2, 2, 5, 6], seed: 20), w = randomTensor([3, 2, 3, 3], seed: 21)
        try expectExact("conv2d 3x3 pad 1 + bias", [x, w, randomTensor([3], seed: 22)]) {
            try $0[0].conv2d(weight: $0[1], bias: $0[2], padding: 1)
        }
        try expectExact("conv2d 3x3 pad 3", [x, w]) { try $0[0].conv2d(weight: $0[1], padding: 3) }
        try expectExact("conv2d 2x3 pad 0, squared", [x, randomTensor([3, 2, 2, 3], seed: 23)]) {
            let y = try $0[0].conv2d(weight: $0[1], padding: 0)
            return try y.multiplying(y)
        }
        try expectExact("conv input gradient op", [randomTensor([2, 3, 5, 6], seed: 24), w]) {
            try $0[0].conv2dInputGradient(weight: $0[1], height: 5, width: 6, padding: 1)
        }
        try expectExact("conv weight gradient op", [x, randomTensor([2, 3, 7, 8], seed: 25)]) {
            try $0[0].conv2dWeightGradient(outputGradient: $0[1], kernelH: 3, kernelW: 3, padding: 2)
        }
        // Many images: exercises the chunked im2col path with several images per gemm.
        try expectExact("conv2d batch 9", [randomTensor([9, 1, 4, 4], seed: 26), randomTensor([2, 1, 3, 3], seed: 27)])
        {
            let y = try $0[0].conv2d(weight: $0[1], padding: 1)
            return try y.multiplying(y)
        }
        // Output planes of 12x12 = 144 ≥ 128: the gemms run image by image on the NCHW planes.
        let wide = randomTensor([3, 1, 12, 12], seed: 28), wideKernel = randomTensor([2, 1, 3, 3], seed: 29)
        #expect(
            ConvGeometry(
                batch: 3, channels: 1, height: 12, width: 12, outChannels: 2, kernelH: 3, kernelW: 3, padding: 1
            ).gemmPerImage)
        try expectExact("conv2d, planes of 144, squared", [wide, wideKernel]) {
            let y = try $0[0].conv2d(weight: $0[1], padding: 1)
            return try y.multiplying(y)
        }
        try expectExact("conv input gradient op, planes of 144", [randomTensor([3, 2, 12, 12], seed: 31), wideKernel]) {
            try $0[0].conv2dInputGradient(weight: $0[1], height: 12, width: 12, padding: 1)
        }
    }

    @Test func pooling() throws {
        let x = randomTensor([2, 2, 5, 4], seed: 30)
        try expectExact("avg pool (odd height)", [x]) { try $0[0].avgPool2x2().exp() }
        try expectExact("max pool (odd height)", [x]) { try $0[0].maxPool2x2().exp() }
        // 5 and 9 windows a row: the 4-window vector rounds, a scalar tail, an odd column dropped.
        for shape in [[2, 2, 7, 11], [1, 3, 6, 18]] {
            let y = randomTensor(shape, seed: 32)
            try expectExact("avg pool \(shape)", [y]) { try $0[0].avgPool2x2().exp() }
            // The window means written out, bit for bit.
            let (h, w, v) = (shape[2], shape[3], y.scalars)
            var expected: [Double] = []
            for p in 0..<(shape[0] * shape[1]) {
                for oy in 0..<(h / 2) {
                    for ox in 0..<(w / 2) {
                        let b = p * h * w + 2 * oy * w + 2 * ox
                        expected.append((v[b] + v[b + 1] + v[b + w] + v[b + w + 1]) * 0.25)
                    }
                }
            }
            #expect(try y.avgPool2x2().scalars == expected)
        }
    }

    @Test func normalization() throws {
        let x = randomTensor([3, 2, 4, 4], seed: 40)
        let gamma = randomTensor([2], seed: 41, scale: 0.3, offset: 1), beta = randomTensor([2], seed: 42)
        try expectExact("instance norm", [x, gamma, beta]) { try $0[0].instanceNorm(gamma: $0[1], beta: $0[2]) }
        try expectExact("batch norm", [x, gamma, beta]) { try $0[0].batchNorm(gamma: $0[1], beta: $0[2]) }
        try expectExact("channel affine", [x, gamma, beta]) { try $0[0].channelAffine(scale: $0[1], shift: $0[2]) }
    }

    @Test func losses() throws {
        let z = randomTensor([4, 3], seed: 50)
        try expectExact("log softmax", [z]) { try $0[0].logSoftmax() }
        try expectExact("cross-entropy, hard labels", [z]) { try $0[0].crossEntropy(labels: [2, 0, 1, 2]) }
        let p = try Tensor<Double>(shape: [4, 3], scalars: [0.2, 0.3, 0.5, 1, 0, 0, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4])
        try expectExact("cross-entropy, soft labels (logits and targets)", [z, p]) {
            try $0[0].crossEntropy(probabilities: $0[1])
        }
    }

    @Test(arguments: [(NormKind.instance, PoolKind.average), (.batch, .max), (.none, .average)])
    func convNet(norm: NormKind, pool: PoolKind) throws {
        let net = try ConvNet(
            ConvNetConfig(channels: 2, imageSize: 6, classes: 3, width: 3, depth: 2, norm: norm, pool: pool))
        let theta = try Tensor<Double>(
            shape: [net.parameterCount], scalars: net.initialParameters(seed: 3).map(Double.init))
        let x = randomTensor([3, 2, 6, 6], seed: 60)
        try expectExact("ConvNet \(norm) \(pool) CE", [x, theta]) {
            try net.forward($0[0], parameters: $0[1]).crossEntropy(labels: [0, 2, 1])
        }
    }
}

@Suite struct FusedOps {
    /// Planes of 20 (the 16-wide and 4-wide loops of the reductions) and 35 (also a scalar tail).
    @Test(arguments: [[2, 3, 4, 5], [1, 3, 5, 7]])
    func instanceNormReluMatchesComposition(shape: [Int]) throws {
        let x = randomTensor(shape, seed: 70)
        let b = randomTensor([3], seed: 71), gamma = randomTensor([3], seed: 72, scale: 0.3, offset: 1),
            beta = randomTensor([3], seed: 73)
        let r = try checkGradients(inputs: [x, b, gamma, beta]) {
            try $0[0].instanceNormRelu(bias: $0[1], gamma: $0[2], beta: $0[3])
        }
        #expect(r.firstOrder < 1e-6, "\(r)")
        #expect(r.secondOrder < 1e-6, "\(r)")
        let fused = try x.instanceNormRelu(bias: b, gamma: gamma, beta: beta).scalars
        let composed = try x.channelAffine(scale: nil, shift: b).instanceNorm(gamma: gamma, beta: beta).relu().scalars
        #expect(zip(fused, composed).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    /// normReluPool against avgPool(normRelu(·)), on planes with a dropped row or column, scalar
    /// tails, a last row pair past normRelu's vector loop ([1, 2, 6, 9]) and whole vectors
    /// ([2, 3, 8, 8]): with a constant incoming gradient r, the same bits forward, first and
    /// second order. With r + 2y (which depends on the inputs, so the backward ops' pooled ∂g is
    /// reached) first order bit for bit, second within rounding (the extra avgPoolGrad node of
    /// the reference changes the order in which the paths' contributions to y are added) and
    /// third (the composed fallback) within rounding too; and finite differences.
    @Test(arguments: [[2, 3, 4, 5], [1, 3, 5, 7], [2, 3, 8, 8], [1, 2, 6, 9], [1, 2, 6, 10]])
    func normReluPoolIsNormReluThenPool(shape: [Int]) throws {
        let c = shape[1]
        let x = randomTensor(shape, seed: 90), b = randomTensor([c], seed: 91)
        let gamma = randomTensor([c], seed: 92, scale: 0.3, offset: 1), beta = randomTensor([c], seed: 93)
        let r = randomTensor([shape[0], c, shape[2] / 2, shape[3] / 2], seed: 94)
        func values(fused: Bool, selfTerm: Bool) throws -> [[[Double]]] {
            let v = [x, b, gamma, beta].map { $0.variable() }
            let y =
                fused
                ? normReluPoolUnchecked(v[0], bias: v[1], gamma: v[2], beta: v[3])
                : avgPoolUnchecked(normReluUnchecked(v[0], bias: v[1], gamma: v[2], beta: v[3]))
            let g = try gradients(of: selfTerm ? y.dot(r).adding(y.dot(y)) : y.dot(r), wrt: v, createGraph: true)
            let second = try gradients(of: g[0].dot(g[0]).adding(g[2].dot(g[3])), wrt: v, createGraph: true)
            let third = try gradients(of: second[0].dot(second[0]).adding(second[2].dot(second[2])), wrt: v)
            return [[y.scalars] + g.map(\.scalars), second.map(\.scalars), third.map(\.scalars)]
        }
        func close(_ a: [[Double]], _ e: [[Double]], _ tolerance: Double) -> Bool {
            zip(a.joined(), e.joined()).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
        }
        let (fused, reference) = (try values(fused: true, selfTerm: false), try values(fused: false, selfTerm: false))
        #expect(fused[0] == reference[0] && fused[1] == reference[1])
        #expect(close(fused[2], reference[2], 1e-9))
        let fusedSelf = try values(fused: true, selfTerm: true)
        let referenceSelf = try values(fused: false, selfTerm: true)
        #expect(fusedSelf[0] == referenceSelf[0])
        #expect(close(fusedSelf[1], referenceSelf[1], 1e-13) && close(fusedSelf[2], referenceSelf[2], 1e-9))
        let fd = try checkGradients(inputs: [x, b, gamma, beta]) {
            normReluPoolUnchecked($0[0], bias: $0[1], gamma: $0[2], beta: $0[3])
        }
        #expect(fd.firstOrder < 1e-6 && fd.secondOrder < 1e-6, "\(fd)")
    }

    /// The blocked reductions of the fused kernels against plain Double sums, for every length
    /// through two rounds of 16 plus a tail.
    @Test func blockReductions() {
        let p = (0..<40).map { Float(($0 * 7919) % 23) / 7 - 1.5 },
            q = (0..<40).map { Float(($0 * 104_729) % 19) / 5 - 1 }
        p.withUnsafeBufferPointer { pp in
            q.withUnsafeBufferPointer { qq in
                let (a, c) = (pp.baseAddress!, qq.baseAddress!)
                for n in 0...40 {
                    let sum = (0..<n).reduce(0.0) { $0 + Double(p[$1]) }
                    let dot = (0..<n).reduce(0.0) { $0 + Double(p[$1]) * (Double(q[$1]) - 0.25) }
                    #expect(abs(Double(blockSum(a, n)) - sum) < 1e-4, "blockSum n \(n)")
                    #expect(abs(Double(blockDot(a, c, n, shift: 0.25)) - dot) < 1e-4, "blockDot n \(n)")
                    let (s, d) = blockSumAndDot(a, c, n, shift: 0.25)
                    #expect(abs(Double(s) - sum) < 1e-4 && abs(Double(d) - dot) < 1e-4, "blockSumAndDot n \(n)")
                    guard n > 0 else { continue }
                    let mean = sum / Double(n)
                    let variance =
                        (0..<n).reduce(0.0) { $0 + (Double(p[$1]) - mean) * (Double(p[$1]) - mean) } / Double(n)
                    let m = planeMoments(a, n)
                    #expect(
                        abs(Double(m.mean) - mean) < 1e-5 && abs(Double(m.variance) - variance) < 1e-4,
                        "planeMoments n \(n)")
                }
            }
        }
    }

    /// The norm's fused mask-and-sums pass gives the bits of `mask` then `blockSumAndDot`, for
    /// every length through two rounds of 8 plus a tail, with some z exactly 0 and a NaN.
    @Test func maskAndSumsIsMaskThenSums() {
        var x = (0..<40).map { Float(($0 * 7919) % 23) / 7 - 1.5 }
        x[13] = .nan
        let g = (0..<40).map { Float(($0 * 104_729) % 19) / 5 - 1 }
        let affine = PlaneAffine<Float>(mean: 0.5, scale: 2, shift: -1)  // z = 0 at x = 1
        x.withUnsafeBufferPointer { xb in
            g.withUnsafeBufferPointer { gb in
                let (xp, gp) = (xb.baseAddress!, gb.baseAddress!)
                for n in 0...40 {
                    var (masked, fused) = ([Float](repeating: 7, count: n), [Float](repeating: 7, count: n))
                    masked.withUnsafeMutableBufferPointer { affine.mask(xp, gp, $0.baseAddress!, n) }
                    let expected = masked.withUnsafeBufferPointer { blockSumAndDot($0.baseAddress!, xp, n, shift: 0.5) }
                    let got = fused.withUnsafeMutableBufferPointer { affine.maskAndSums(xp, gp, $0.baseAddress!, n) }
                    #expect(fused.map(\.bitPattern) == masked.map(\.bitPattern), "n \(n)")
                    #expect(got.sum.bitPattern == expected.0.bitPattern, "n \(n)")
                    let sameDot = got.dot.bitPattern == expected.1.bitPattern || (got.dot.isNaN && expected.1.isNaN)
                    #expect(sameDot, "n \(n)")
                }
            }
        }
    }

    /// The fused backward ops on their own: first order checks the hand-derived adjoint kernels,
    /// second order the composed fallback.
    @Test(arguments: [NormReluGradient.input, .gamma, .beta])
    func instanceNormReluBackwardOps(which: NormReluGradient) throws {
        let g = randomTensor([2, 3, 4, 5], seed: 74), x = randomTensor([2, 3, 4, 5], seed: 75)
        let gamma = randomTensor([3], seed: 76, scale: 0.3, offset: 1), beta = randomTensor([3], seed: 77, scale: 0.3)
        let r = try checkGradients(inputs: [g, x, gamma, beta]) {
            normReluGradUnchecked(which, $0[0], $0[1], $0[2], $0[3])
        }
        #expect(r.firstOrder < 1e-6, "\(which): \(r)")
        #expect(r.secondOrder < 1e-6, "\(which): \(r)")
    }
}

/// The fused norm's backward outputs (dx, dγ, dβ) take their second-order adjoints together
/// (`SiblingOutputs`): against the composed reference for every subset of outputs a loss reads,
/// in both orders of the loss's terms (the walk reaches the outputs in either order).
@Suite struct JointSecondOrder {
    @Test(arguments: [[0], [1], [2], [0, 1, 2], [1, 2], [0, 2]])
    func normReluGradientsTogether(outputs: [Int]) throws {
        let x = randomTensor([2, 3, 4, 5], seed: 80), r = randomTensor([2, 3, 4, 5], seed: 81)
        let b = randomTensor([3], seed: 82), gamma = randomTensor([3], seed: 83, scale: 0.3, offset: 1)
        let beta = randomTensor([3], seed: 84, scale: 0.3)
        let weights = [randomTensor([2, 3, 4, 5], seed: 85), randomTensor([3], seed: 86), randomTensor([3], seed: 87)]
        func hvp(fused: Bool, reversed: Bool) throws -> ([[Double]], Int) {
            let vars = [x, b, gamma, beta].map { $0.variable() }
            let y =
                fused
                ? try vars[0].instanceNormRelu(bias: vars[1], gamma: vars[2], beta: vars[3])
                : try vars[0].channelAffine(scale: nil, shift: vars[1]).instanceNorm(gamma: vars[2], beta: vars[3])
                    .relu()
            // First order with its graph: d⟨y, r⟩ / d(x, γ, β) = the fused op's dx, dγ, dβ.
            let wrt = [vars[0], vars[2], vars[3]]
            let g = try gradients(of: y.dot(r), wrt: wrt, createGraph: true)
            var terms = try outputs.map { try g[$0].dot(weights[$0]).adding(g[$0].dot(g[$0])) }
            if reversed { terms.reverse() }
            var h = terms[0]
            for t in terms.dropFirst() { h = try h.adding(t) }
            let second = try gradients(of: h, wrt: vars)
            let joint = outputs.compactMap { g[$0].origin?.siblings?.jointCalls.load(ordering: .relaxed) }.max() ?? 0
            return (second.map(\.scalars), joint)
        }
        let (reference, _) = try hvp(fused: false, reversed: false)
        var joints: [Int] = []
        for reversed in [false, true] {
            let (second, joint) = try hvp(fused: true, reversed: reversed)
            joints.append(joint)
            for (a, e) in zip(second, reference) {
                #expect(zip(a, e).allSatisfy { abs($0 - $1) < 1e-9 * max(1, abs($1)) }, "reversed \(reversed)")
            }
        }
        #expect(joints == [1, 1])
    }
}

@Suite struct SquareRootAtZero {
    /// d sqrt(x)/dx at x = 0 is taken as 0 (PyTorch's norm convention), so a zero input
    /// gradient in the gradient penalty cannot turn the loss's gradient into NaN.
    @Test func sqrtGradientAtZeroIsZero() throws {
        let x = try Tensor<Double>(shape: [3], scalars: [0, 4, 0]).variable()
        let g = try gradients(of: x.sqrt().sum(), wrt: [x])[0].scalars
        #expect(g == [0, 0.25, 0])
    }
}
