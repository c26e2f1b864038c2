// ast_matching_step: one exact, constant-memory trajectory-matching meta-gradient
// (ASTCore.TrajectoryMatching<Float>) for researchers' own loops; ast_matching_minibatches: the
// minibatches it draws, as the distiller does (both through ASTDistill's drawMinibatches).

import ASTCore
import ASTDistill
import CAst
#if canImport(Glibc)
import Glibc
#endif

/// Largest N (student steps), as distill.syn_steps.
private let maxSteps: Int64 = 10_000

/// The effective minibatch size: batch_syn 0 = all, larger than count = count.
private func effectiveBatch(_ batchSyn: Int64, count n: Int, _ args: Arguments) throws(CFailure) -> Int {
    guard batchSyn >= 0 else {
        throw args.fail(Status.invalidArgument, "batch_syn must be >= 0 (0: all images), got \(batchSyn)")
    }
    return batchSyn == 0 ? n : Int(min(batchSyn, Int64(n)))
}

@c @implementation
public func ast_matching_minibatches(
    _ count: Int64, _ batchSyn: Int64, _ steps: Int64, _ seed: UInt64,
    _ out: UnsafeMutablePointer<Int64>!, _ outLen: Int64
) -> ast_status {
    entry { () throws(CFailure) in
        let args = Arguments("ast_matching_minibatches")
        let out = try args.required(out, "out")
        let n = try args.integer(count, "count", in: 1...Int64(Int32.max))
        let stepCount = try args.integer(steps, "steps", in: 1...maxSteps)
        let b = try effectiveBatch(batchSyn, count: n, args)
        let total = try args.product([stepCount, b], "steps*batch")
        try args.outputLength(outLen, "out_len", atLeast: total, "steps*min(batch_syn, count)")
        var rng = SeededGenerator(seed: seed)
        var pending: [[Int]] = []
        for (s, row) in drawMinibatches(count: n, batch: b, steps: stepCount, pending: &pending, using: &rng)
            .enumerated()
        {
            for j in 0..<b { out[s * b + j] = j < row.count ? Int64(row[j]) : -1 }
        }
    }
}

/// The options a caller passed, validated and copied.
private struct MatchingOptions {
    var momentum: Float? = nil
    var innerLossWeight: Float = 1
    var intermediate: [IntermediateTarget<Float>] = []
    var dsa: DSA? = nil
    var activationBudget = 0
}

/// sizeof(ast_matching_options) before `activation_budget` was appended (still accepted).
private let matchingOptionsSizeV1 = MemoryLayout<ast_matching_options>.offset(
    of: \ast_matching_options.activation_budget)!

private func readOptions(
    _ pointer: UnsafePointer<ast_matching_options>?, parameterCount p: Int, steps: Int,
    _ args: Arguments
) throws(CFailure) -> MatchingOptions {
    var result = MatchingOptions()
    guard let pointer else { return result }
    let size = Int(pointer.pointee.struct_size)
    let known = MemoryLayout<ast_matching_options>.size
    guard size <= known else {
        throw args.fail(
            Status.unsupported, "options->struct_size is \(size), larger than this library's \(known) (a newer header?)"
        )
    }
    guard size == known || size == matchingOptionsSizeV1 else {
        throw args.fail(
            Status.invalidArgument,
            "options->struct_size is \(size), expected \(known) (initialise with AST_MATCHING_OPTIONS_INIT)")
    }
    // Read only the fields the caller's struct has.
    var o = ast_matching_options()
    withUnsafeMutableBytes(of: &o) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: size)) }
    if size == known {
        result.activationBudget = Int(
            try args.integer(o.activation_budget, "options->activation_budget", in: 0...(Int64(1) << 50)))
    }
    guard o.inner_momentum.isFinite else {
        throw args.fail(Status.nonFinite, "options->inner_momentum is \(o.inner_momentum)")
    }
    guard o.inner_momentum >= 0, o.inner_momentum < 1 else {
        throw args.fail(Status.invalidArgument, "options->inner_momentum must be in [0, 1), got \(o.inner_momentum)")
    }
    if o.inner_momentum > 0 { result.momentum = Float(o.inner_momentum) }
    guard o.inner_loss_weight.isFinite else {
        throw args.fail(Status.nonFinite, "options->inner_loss_weight is \(o.inner_loss_weight)")
    }
    guard o.inner_loss_weight > 0, o.inner_loss_weight <= 1e6 else {
        throw args.fail(
            Status.invalidArgument, "options->inner_loss_weight must be in (0, 1e6], got \(o.inner_loss_weight)")
    }
    result.innerLossWeight = Float(o.inner_loss_weight)
    let k = try args.integer(Int64(o.intermediate_count), "options->intermediate_count", in: 0...Int64(steps - 1))
    if k > 0 {
        let targets = try args.required(o.intermediate_targets, "options->intermediate_targets")
        let stepsPointer = try args.required(o.intermediate_steps, "options->intermediate_steps")
        let total = try args.product([k, p], "intermediate_count*parameters_len")
        let values = try args.finiteFloats(targets, count: total, "options->intermediate_targets")
        for i in 0..<k {
            let s = stepsPointer[i]
            guard s >= 1, s < Int64(steps) else {
                throw args.fail(
                    Status.invalidArgument,
                    "options->intermediate_steps[\(i)] is \(s), outside [1, \(steps)) (steps = \(steps))")
            }
            var beta: Float = 1
            if let weights = o.intermediate_weights {
                beta = weights[i]
                guard beta.isFinite else {
                    throw args.fail(Status.nonFinite, "options->intermediate_weights[\(i)] is \(beta)")
                }
                guard beta > 0 else {
                    throw args.fail(
                        Status.invalidArgument, "options->intermediate_weights[\(i)] must be > 0, got \(beta)")
                }
            }
            let slice = Array(values[(i * p)..<((i + 1) * p)])
            do throws(ASTError) {
                result.intermediate.append(
                    IntermediateTarget(step: Int(s), target: try Tensor(shape: [p], scalars: slice), weight: beta))
            } catch {
                throw args.engine(error)
            }
        }
    }
    if let strategy = o.augmentation {
        let text = try utf8String(strategy, "options->augmentation", args, maxBytes: 256)
        do throws(ASTError) {
            let dsa = try DSA(strategy: text)
            if !dsa.groups.isEmpty { result.dsa = dsa }
        } catch {
            throw args.fail(Status.invalidArgument, "options->augmentation: \(error.message)")
        }
    }
    return result
}

@c @implementation
public func ast_matching_step(
    _ network: OpaquePointer!,
    _ start: UnsafePointer<Float>!, _ target: UnsafePointer<Float>!, _ parametersLen: Int64,
    _ images: UnsafePointer<Float>!, _ imagesLen: Int64,
    _ labels: UnsafePointer<Int32>!, _ count: Int64,
    _ stepSize: Float, _ steps: Int64, _ batchSyn: Int64, _ seed: UInt64,
    _ minibatches: UnsafePointer<Int64>!, _ minibatchesLen: Int64,
    _ options: UnsafePointer<ast_matching_options>!,
    _ outLoss: UnsafeMutablePointer<Float>!, _ outImageGradient: UnsafeMutablePointer<Float>!,
    _ imageGradientLen: Int64, _ outStepSizeGradient: UnsafeMutablePointer<Float>!,
    _ outFinalParameters: UnsafeMutablePointer<Float>!, _ finalParametersLen: Int64
) -> ast_status {
    entry("ast_matching_step", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let args = Arguments("ast_matching_step")
        let startPointer = try args.required(start, "start")
        let targetPointer = try args.required(target, "target")
        let imagesPointer = try args.required(images, "images")
        let labelsPointer = try args.required(labels, "labels")
        let outLoss = try args.required(outLoss, "out_loss")
        let outImageGradient = try args.required(outImageGradient, "out_image_gradient")
        let outStepSizeGradient = try args.required(outStepSizeGradient, "out_step_size_gradient")

        let net = box.network
        let cfg = box.config
        let p = box.parameterCount
        let n = try args.integer(count, "count", in: 1...Int64(Int32.max))
        let stepCount = try args.integer(steps, "steps", in: 1...maxSteps)
        let b = try effectiveBatch(batchSyn, count: n, args)
        guard stepSize.isFinite else { throw args.fail(Status.nonFinite, "step_size is \(stepSize)") }
        guard stepSize > 0 else { throw args.fail(Status.invalidArgument, "step_size must be > 0, got \(stepSize)") }
        try args.inputLength(parametersLen, "parameters_len", equals: p, "the network's parameter count")
        let total = try args.product([n, cfg.channels, cfg.imageSize, cfg.imageSize], "count*channels*image_size^2")
        try args.inputLength(
            imagesLen, "images_len", equals: total,
            "count*channels*image_size^2 (\(n)*\(cfg.channels)*\(cfg.imageSize)^2)")
        try args.outputLength(imageGradientLen, "image_gradient_len", atLeast: total, "images_len")
        if outFinalParameters != nil {
            try args.outputLength(
                finalParametersLen, "final_parameters_len", atLeast: p, "the network's parameter count")
        }
        // One minibatch's largest layer, and the per-step parameter vectors kept.
        guard batchFitsActivationLimit(b, width: cfg.width, imageSize: cfg.imageSize) else {
            throw args.fail(
                Status.outOfMemory,
                "a minibatch of \(b) images is too large for this network: one layer would hold more than "
                    + "\(maxActivations) activations; use a smaller batch_syn"
            )
        }
        _ = try args.product([2 * stepCount + 1, p], "(2*steps+1)*parameters_len")

        let options = try readOptions(options, parameterCount: p, steps: stepCount, args)
        let theta0 = try args.finiteFloats(startPointer, count: p, "start")
        let thetaTarget = try args.finiteFloats(targetPointer, count: p, "target")
        let pixels = try args.finiteFloats(imagesPointer, count: total, "images")
        let classLabels = try args.labels(labelsPointer, count: n, classes: cfg.classes, "labels")

        var rng = SeededGenerator(seed: seed)
        var batches: [[Int]]
        if let minibatches {
            let expected = try args.product([stepCount, b], "steps*batch")
            try args.inputLength(
                minibatchesLen, "minibatches_len", equals: expected, "steps*min(batch_syn, count) (\(stepCount)*\(b))")
            batches = []
            batches.reserveCapacity(stepCount)
            for s in 0..<stepCount {
                var row: [Int] = []
                row.reserveCapacity(b)
                for j in 0..<b {
                    let index = minibatches[s * b + j]
                    if index == -1 { continue }  // padding
                    guard index >= 0, index < Int64(n) else {
                        throw args.fail(
                            Status.invalidArgument,
                            "minibatches[\(s * b + j)] is \(index), outside [0, \(n)) (count = \(n)) and not the "
                                + "padding -1"
                        )
                    }
                    row.append(Int(index))
                }
                guard !row.isEmpty else {
                    throw args.fail(
                        Status.invalidArgument, "minibatches row \(s) (step \(s)) holds no index, only -1 paddings")
                }
                batches.append(row)
            }
        } else {
            guard minibatchesLen == 0 else {
                throw args.fail(
                    Status.shapeMismatch, "minibatches is NULL but minibatches_len is \(minibatchesLen) (must be 0)")
            }
            var pending: [[Int]] = []
            batches = drawMinibatches(count: n, batch: b, steps: stepCount, pending: &pending, using: &rng)
        }

        let transform = options.dsa.flatMap {
            augmentationTransform($0, minibatches: batches, imageSize: cfg.imageSize, using: &rng)
        }
        var matching = TrajectoryMatching<Float>(
            network: net, labels: classLabels, learningRate: stepSize, minibatches: batches,
            momentum: options.momentum, innerLossWeight: options.innerLossWeight,
            intermediateTargets: options.intermediate, transform: transform)
        matching.activationBudget = options.activationBudget
        let result: MatchingResult<Float>
        do throws(ASTError) {
            result = try matching.run(
                images: Tensor(shape: [n] + net.imageShape, scalars: pixels),
                start: Tensor(shape: [p], scalars: theta0),
                target: Tensor(shape: [p], scalars: thetaTarget))
        } catch {
            throw args.engine(error)
        }
        guard result.learningRateGradient.isFinite else {
            throw args.fail(Status.diverged, "dL/dalpha is \(result.learningRateGradient)")
        }
        guard result.loss.isFinite else {
            throw args.fail(Status.diverged, "the matching loss is \(result.loss)")
        }
        try args.write(result.imageGradient.scalars, to: outImageGradient, expected: total, "image gradient")
        if let outFinalParameters {
            try args.write(result.finalParameters.scalars, to: outFinalParameters, expected: p, "final parameters")
        }
        outLoss.pointee = result.loss
        outStepSizeGradient.pointee = result.learningRateGradient
    }
}
