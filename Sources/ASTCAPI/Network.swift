// ast_network: the ConvNet as a pure function of caller-owned parameter buffers.

import ASTCore
import ASTDistill
import CAst
#if canImport(Glibc)
import Glibc
#endif

/// Largest number of activations of one conv layer a single call may create (about 8 GiB).
let maxActivations = Int(Int32.max)

/// Whether `batch` images fit a network of this width and image size under maxActivations. The
/// largest layer output is the first conv's: `width` channels of at most (image_size + 4)²
/// pixels (padding up to 3 for 28x28 MNIST), per image.
func batchFitsActivationLimit(_ batch: Int, width: Int, imageSize: Int) -> Bool {
    let side = imageSize + 4
    let (activations, overflow) = batch.multipliedReportingOverflow(by: width * side * side)
    return !overflow && activations <= maxActivations
}

final class NetworkBox: HandleBox {
    override class var staticTypeName: StaticString { "ast_network" }
    let network: ConvNet
    /// The whole configuration the network was made from (ast_network_get_config).
    let run: RunConfiguration
    let names: CStringTable

    init(_ network: ConvNet, run: RunConfiguration) {
        self.network = network
        self.run = run
        self.names = CStringTable(network.layout.map(\.name))
    }

    var parameterCount: Int { network.parameterCount }
    var config: ConvNetConfig { network.config }
}

/// Validated inputs shared by the engine calls.
struct Batch {
    var images: [Float]
    var count: Int
    var parameters: [Float]
}

extension Arguments {
    /// Checks theta and the images of a batch for `box`'s network and copies them.
    func batch(
        _ box: NetworkBox, _ parameters: UnsafePointer<Float>?, _ parametersLen: Int64,
        _ images: UnsafePointer<Float>?, _ imagesLen: Int64,
        _ count: Int64
    ) throws(CFailure) -> Batch {
        let parameters = try required(parameters, "parameters")
        let images = try required(images, "images")
        let n = try integer(count, "count", in: 1...Int64(Int32.max))
        let cfg = box.config
        try inputLength(parametersLen, "parameters_len", equals: box.parameterCount, "the network's parameter count")
        let total = try product([n, cfg.channels, cfg.imageSize, cfg.imageSize], "count*channels*image_size^2")
        try inputLength(
            imagesLen, "images_len", equals: total,
            "count*channels*image_size^2 (\(n)*\(cfg.channels)*\(cfg.imageSize)^2)")
        guard batchFitsActivationLimit(n, width: cfg.width, imageSize: cfg.imageSize) else {
            throw fail(
                Status.outOfMemory,
                "count \(n) is too large for this network: one layer would hold more than \(maxActivations) "
                    + "activations; use smaller batches"
            )
        }
        let theta = try finiteFloats(parameters, count: box.parameterCount, "parameters")
        let pixels = try finiteFloats(images, count: total, "images")
        return Batch(images: pixels, count: n, parameters: theta)
    }

    /// Checks a parameter-space vector (e.g. of a Hessian-vector product) and copies it.
    fileprivate func vector(
        _ box: NetworkBox, _ vector: UnsafePointer<Float>?, _ vectorLen: Int64
    ) throws(CFailure) -> [Float] {
        let vector = try required(vector, "vector")
        try inputLength(vectorLen, "vector_len", equals: box.parameterCount, "the network's parameter count")
        return try finiteFloats(vector, count: box.parameterCount, "vector")
    }
}

// MARK: - Exports

@c @implementation
public func ast_network_create(_ config: OpaquePointer!, _ out: UnsafeMutablePointer<OpaquePointer?>!) -> ast_status {
    out?.pointee = nil
    let args = Arguments("ast_network_create")
    return entry("ast_network_create", config, as: ConfigBox.self, argument: "config") { cfg throws(CFailure) in
        let out = try args.required(out, "out")
        let network: ConvNet
        do throws(ASTError) {
            network = try ConvNet(cfg.run.network)
        } catch {
            throw args.engine(error)
        }
        guard network.parameterCount <= maxElements else {
            throw args.fail(
                Status.outOfMemory,
                "the network would have \(network.parameterCount) parameters, more than \(maxElements)")
        }
        out.pointee = retainedHandle(NetworkBox(network, run: cfg.run))
    }
}

@c @implementation
public func ast_network_free(_ network: OpaquePointer!) {
    releaseHandle(network)
}

@c @implementation
public func ast_network_last_error(_ network: OpaquePointer!) -> UnsafePointer<CChar>! {
    handleLastError(network, as: NetworkBox.self, nullMessage: "ast_network_last_error: network is NULL")
}

@c @implementation
public func ast_network_get_config(
    _ network: OpaquePointer!, _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> ast_status {
    out?.pointee = nil
    return entry("ast_network_get_config", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let out = try Arguments("ast_network_get_config").required(out, "out")
        out.pointee = retainedHandle(ConfigBox(box.run))
    }
}

@c @implementation
public func ast_network_parameter_count(_ network: OpaquePointer!, _ out: UnsafeMutablePointer<Int64>!) -> ast_status {
    entry("ast_network_parameter_count", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let out = try Arguments("ast_network_parameter_count").required(out, "out")
        out.pointee = Int64(box.parameterCount)
    }
}

@c @implementation
public func ast_network_tensor_count(_ network: OpaquePointer!, _ out: UnsafeMutablePointer<Int64>!) -> ast_status {
    entry("ast_network_tensor_count", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let out = try Arguments("ast_network_tensor_count").required(out, "out")
        out.pointee = Int64(box.network.layout.count)
    }
}

@c @implementation
public func ast_network_tensor(
    _ network: OpaquePointer!, _ index: Int64,
    _ outName: UnsafeMutablePointer<UnsafePointer<CChar>?>!,
    _ outOffset: UnsafeMutablePointer<Int64>!,
    _ outCount: UnsafeMutablePointer<Int64>!,
    _ outRank: UnsafeMutablePointer<Int32>!,
    _ outShape: UnsafeMutablePointer<Int64>!,
    _ shapeCapacity: Int32
) -> ast_status {
    entry("ast_network_tensor", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let args = Arguments("ast_network_tensor")
        let layout = box.network.layout
        guard index >= 0, index < Int64(layout.count) else {
            throw args.fail(
                Status.outOfRange,
                "index \(index) is outside [0, \(layout.count)) (the network has \(layout.count) tensors)")
        }
        let capacity = try args.integer(Int64(shapeCapacity), "shape_capacity", in: 0...Int64(Int32.max))
        let shapeOut = capacity > 0 ? try args.required(outShape, "out_shape") : nil
        let slot = layout[Int(index)]
        outName?.pointee = box.names[Int(index)]
        outOffset?.pointee = Int64(slot.offset)
        outCount?.pointee = Int64(slot.count)
        outRank?.pointee = Int32(slot.shape.count)
        if let shapeOut {
            for (i, d) in slot.shape.prefix(capacity).enumerated() { shapeOut[i] = Int64(d) }
        }
    }
}

@c @implementation
public func ast_network_init_parameters(
    _ network: OpaquePointer!, _ seed: UInt64,
    _ out: UnsafeMutablePointer<Float>!, _ outLen: Int64
) -> ast_status {
    entry("ast_network_init_parameters", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let args = Arguments("ast_network_init_parameters")
        let out = try args.required(out, "out")
        try args.outputLength(outLen, "out_len", atLeast: box.parameterCount, "the network's parameter count")
        let theta = box.network.initialParameters(seed: seed)
        try args.write(theta, to: out, expected: box.parameterCount, "parameters")
    }
}

@c @implementation
public func ast_network_logits(
    _ network: OpaquePointer!,
    _ parameters: UnsafePointer<Float>!, _ parametersLen: Int64,
    _ images: UnsafePointer<Float>!, _ imagesLen: Int64, _ count: Int64,
    _ outLogits: UnsafeMutablePointer<Float>!, _ outLen: Int64
) -> ast_status {
    entry("ast_network_logits", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let args = Arguments("ast_network_logits")
        let out = try args.required(outLogits, "out_logits")
        let batch = try args.batch(box, parameters, parametersLen, images, imagesLen, count)
        let needed = batch.count * box.config.classes
        try args.outputLength(outLen, "out_len", atLeast: needed, "count*classes")
        let logits: [Float]
        do throws(ASTError) {
            logits = try box.network.logits(images: batch.images, count: batch.count, parameters: batch.parameters)
        } catch {
            throw args.engine(error)
        }
        try args.write(logits, to: out, expected: needed, "logits")
    }
}

@c @implementation
public func ast_network_loss_gradient(
    _ network: OpaquePointer!,
    _ parameters: UnsafePointer<Float>!, _ parametersLen: Int64,
    _ images: UnsafePointer<Float>!, _ imagesLen: Int64,
    _ labels: UnsafePointer<Int32>!, _ count: Int64,
    _ outLoss: UnsafeMutablePointer<Float>!,
    _ outGradient: UnsafeMutablePointer<Float>!,
    _ gradientLen: Int64
) -> ast_status {
    entry("ast_network_loss_gradient", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let args = Arguments("ast_network_loss_gradient")
        let outLoss = try args.required(outLoss, "out_loss")
        let outGradient = try args.required(outGradient, "out_gradient")
        let labelsPointer = try args.required(labels, "labels")
        let batch = try args.batch(box, parameters, parametersLen, images, imagesLen, count)
        try args.outputLength(gradientLen, "gradient_len", atLeast: box.parameterCount, "the network's parameter count")
        let classLabels = try args.labels(labelsPointer, count: batch.count, classes: box.config.classes, "labels")
        let result: (loss: Float, gradient: [Float])
        do throws(ASTError) {
            result = try box.network.crossEntropyGradient(
                images: batch.images, labels: classLabels,
                count: batch.count, parameters: batch.parameters)
        } catch {
            throw args.engine(error)
        }
        guard result.loss.isFinite else {
            throw args.fail(
                Status.nonFinite,
                "the loss is \(result.loss): the computation overflowed float32; inputs of this magnitude cannot be "
                    + "used"
            )
        }
        try args.write(result.gradient, to: outGradient, expected: box.parameterCount, "gradient")
        outLoss.pointee = result.loss
    }
}

/// Shared body of the two second-order products.
private func secondOrder(
    _ function: StaticString, _ network: OpaquePointer?,
    _ parameters: UnsafePointer<Float>?, _ parametersLen: Int64,
    _ images: UnsafePointer<Float>?, _ imagesLen: Int64,
    _ labels: UnsafePointer<Int32>?, _ count: Int64,
    _ vector: UnsafePointer<Float>?, _ vectorLen: Int64,
    _ out: UnsafeMutablePointer<Float>?, _ outLen: Int64,
    wantImages: Bool
) -> ast_status {
    entry(function, network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let args = Arguments(function)
        let out = try args.required(out, "out")
        let labelsPointer = try args.required(labels, "labels")
        let batch = try args.batch(box, parameters, parametersLen, images, imagesLen, count)
        let v = try args.vector(box, vector, vectorLen)
        let needed = wantImages ? batch.images.count : box.parameterCount
        try args.outputLength(
            outLen, "out_len", atLeast: needed,
            wantImages ? "images_len" : "the network's parameter count")
        let classLabels = try args.labels(labelsPointer, count: batch.count, classes: box.config.classes, "labels")
        let result: [Float]
        do throws(ASTError) {
            if wantImages {
                result = try box.network.mixedInputProduct(
                    images: batch.images, labels: classLabels, count: batch.count,
                    parameters: batch.parameters, vector: v)
            } else {
                result = try box.network.hessianVectorProduct(
                    images: batch.images, labels: classLabels, count: batch.count,
                    parameters: batch.parameters, vector: v)
            }
        } catch {
            throw args.engine(error)
        }
        try args.write(result, to: out, expected: needed, "out")
    }
}

@c @implementation
public func ast_network_hessian_vector_product(
    _ network: OpaquePointer!,
    _ parameters: UnsafePointer<Float>!, _ parametersLen: Int64,
    _ images: UnsafePointer<Float>!, _ imagesLen: Int64,
    _ labels: UnsafePointer<Int32>!, _ count: Int64,
    _ vector: UnsafePointer<Float>!, _ vectorLen: Int64,
    _ out: UnsafeMutablePointer<Float>!, _ outLen: Int64
) -> ast_status {
    secondOrder(
        "ast_network_hessian_vector_product", network, parameters, parametersLen, images, imagesLen,
        labels, count, vector, vectorLen, out, outLen, wantImages: false)
}

@c @implementation
public func ast_network_mixed_input_product(
    _ network: OpaquePointer!,
    _ parameters: UnsafePointer<Float>!, _ parametersLen: Int64,
    _ images: UnsafePointer<Float>!, _ imagesLen: Int64,
    _ labels: UnsafePointer<Int32>!, _ count: Int64,
    _ vector: UnsafePointer<Float>!, _ vectorLen: Int64,
    _ out: UnsafeMutablePointer<Float>!, _ outLen: Int64
) -> ast_status {
    secondOrder(
        "ast_network_mixed_input_product", network, parameters, parametersLen, images, imagesLen,
        labels, count, vector, vectorLen, out, outLen, wantImages: true)
}

@c @implementation
public func ast_network_evaluate(
    _ network: OpaquePointer!,
    _ parameters: UnsafePointer<Float>!, _ parametersLen: Int64,
    _ dataset: OpaquePointer!, _ batchSize: Int64,
    _ progress: ast_progress_fn!, _ userData: UnsafeMutableRawPointer!,
    _ outLoss: UnsafeMutablePointer<Double>!,
    _ outAccuracy: UnsafeMutablePointer<Double>!
) -> ast_status {
    entry("ast_network_evaluate", network, as: NetworkBox.self, argument: "network") { box throws(CFailure) in
        let function: StaticString = "ast_network_evaluate"
        let args = Arguments(function)
        let start = monotonicSeconds()
        let parametersPointer = try args.required(parameters, "parameters")
        let data = try unbox(dataset, as: DatasetBox.self, function: function, argument: "dataset").dataset
        let cfg = box.config
        guard data.channels == cfg.channels, data.height == cfg.imageSize, data.width == cfg.imageSize else {
            throw args.fail(
                Status.shapeMismatch,
                "dataset images are \(data.channels)x\(data.height)x\(data.width), the network takes "
                    + "\(cfg.channels)x\(cfg.imageSize)x\(cfg.imageSize)"
            )
        }
        guard data.classes <= cfg.classes else {
            throw args.fail(
                Status.shapeMismatch, "dataset has \(data.classes) classes, the network only \(cfg.classes)")
        }
        try args.inputLength(
            parametersLen, "parameters_len", equals: box.parameterCount, "the network's parameter count")
        let theta = try args.finiteFloats(parametersPointer, count: box.parameterCount, "parameters")
        let batch = try args.integer(batchSize, "batch_size", in: 1...Int64(Int32.max))
        guard batchFitsActivationLimit(min(batch, data.count), width: cfg.width, imageSize: cfg.imageSize) else {
            throw args.fail(
                Status.outOfMemory, "batch_size \(batch) is too large for this network; use smaller batches")
        }

        let score: (loss: Double, accuracy: Double, firstNonFiniteImage: Int?)
        do throws(ASTError) {
            score = try box.network.score(parameters: theta, on: data, batchSize: batch) {
                done, lossSum throws(ASTError) in
                guard let progress else { return }
                var report = ast_progress(
                    struct_size: Int32(MemoryLayout<ast_progress>.size), stage: Int32(AST_STAGE_EVALUATE),
                    step: Int64(done), total: Int64(data.count), loss: lossSum / Double(done),
                    elapsed_seconds: monotonicSeconds() - start, index: 0, count: 0, accuracy: .nan,
                    accuracy_std: .nan, step_size: .nan, start_epoch: 0, message: nil)
                if progress(&report, userData) != 0 {
                    throw ASTError(
                        .cancelled, "cancelled by the progress callback after \(done) of \(data.count) images")
                }
            }
        } catch {
            throw args.engine(error)
        }
        if let i = score.firstNonFiniteImage {
            throw args.fail(Status.nonFinite, "logits of image \(i) are not finite")
        }
        outLoss?.pointee = score.loss
        outAccuracy?.pointee = score.accuracy
    }
}
