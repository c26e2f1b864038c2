// ast_run: the AST pipeline (ASTDistill.Pipeline) over one output directory, on the configured
// dataset or on caller memory (ast_dataset handles), in resumable steps with progress events.

import ASTCore
import ASTData
import ASTDistill
import CAst
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class RunBox: HandleBox {
    override class var staticTypeName: StaticString { "ast_run" }
    let pipeline: Pipeline
    /// The caller's data (ast_run_create_with_data), or nil for data.dataset.
    let memoryData: DatasetPair?
    /// Loaded and preprocessed at the first step that needs it.
    var prepared: PreparedData?
    /// The distilled set: from ast_run_distill, or the checkpoint.
    var state: DistillationState?
    var evaluation: (distilled: EvaluationResult, baseline: EvaluationResult?)?
    /// The distiller of segment-wise distillation (ast_run_distill_begin), once prepared.
    var segmentRunner: Distiller?
    private let busy = Mutex<Bool>(false)

    init(pipeline: Pipeline, memoryData: DatasetPair?) {
        self.pipeline = pipeline
        self.memoryData = memoryData
    }

    var config: RunConfiguration { pipeline.config }

    /// Runs `body` unless another call on this run is running (other thread or re-entrant).
    func exclusive(_ args: Arguments, _ body: () throws(CFailure) -> Void) throws(CFailure) {
        let acquired = busy.withLock { flag in
            if flag { return false }
            flag = true
            return true
        }
        guard acquired else {
            throw args.fail(
                Status.invalidArgument,
                "run is busy: another call on this run is in progress (calls on one ast_run must not overlap, e.g. "
                    + "from its own progress callback)"
            )
        }
        defer { busy.withLock { $0 = false } }
        try body()
    }

    /// The prepared data, loaded once; checks the classes against ipc before any training.
    func data(_ args: Arguments) throws(CFailure) -> PreparedData {
        if let prepared { return prepared }
        let c = config
        let d: PreparedData
        do throws(ASTError) {
            if let pair = memoryData {
                d = try PreparedData(
                    pair, preprocessing: c.preprocessing, trainLimit: c.trainLimit > 0 ? c.trainLimit : nil,
                    testLimit: c.testLimit > 0 ? c.testLimit : nil, seed: c.seed)
            } else {
                d = try pipeline.loadData()
            }
        } catch {
            throw args.engine(error)
        }
        try checkClassCounts(
            d.data.train, c, args,
            what: "the training set\(c.trainLimit > 0 ? " (after data.train_limit \(c.trainLimit))" : "")")
        prepared = d
        return d
    }

    /// The distilled set of this run, else the checkpoint's.
    func distilledState(_ args: Arguments, loadCheckpoint: Bool) throws(CFailure) -> DistillationState {
        if let state { return state }
        if loadCheckpoint {
            do throws(ASTError) {
                if let saved = try pipeline.loadCheckpoint() {
                    state = saved
                    return saved
                }
            } catch {
                throw args.engine(error)
            }
        }
        throw args.fail(
            Status.invalidArgument,
            "no distilled set yet: distil first (ast_run_distill, Python Run.distill(); it returns at once when "
                + "\(pipeline.checkpointPath) is complete)"
        )
    }

    /// After a failed or cancelled distillation: show the checkpointed (last good) state.
    func reloadCheckpointQuietly() {
        if let saved = try? pipeline.loadCheckpoint() { state = saved }
    }
}

/// ipc real images per class are needed by real/representative initialisation and by the
/// random-real baseline.
func checkClassCounts(_ train: ImageDataset, _ c: RunConfiguration, _ args: Arguments, what: String) throws(CFailure) {
    let counts = train.classCounts
    if let last = counts.lastIndex(where: { $0 > 0 }), last < counts.count - 1 {
        throw args.fail(
            Status.invalidArgument,
            "network.classes is \(c.network.classes) but the labels of \(what) go up to \(last) (\(last + 1) "
                + "classes): set network.classes=\(last + 1)"
        )
    }
    if let empty = counts.firstIndex(of: 0) {
        throw args.fail(
            Status.invalidArgument,
            "class \(empty) has no images in \(what); every class 0...\(counts.count - 1) of network.classes "
                + "\(c.network.classes) needs images"
        )
    }
    guard c.distillation.initialization != .noise || c.evaluateBaseline else { return }
    if let k = counts.firstIndex(where: { $0 < c.distillation.ipc }) {
        throw args.fail(
            Status.invalidArgument,
            "distill.ipc \(c.distillation.ipc) is larger than the \(counts[k]) images of class \(k) in \(what)")
    }
}

/// Checks of ast_run_create that need no data: the network, the size limits.
private func checkRunLimits(_ c: RunConfiguration, _ network: ConvNet, _ args: Arguments) throws(CFailure) {
    let n = c.network
    guard network.parameterCount <= maxElements else {
        throw args.fail(
            Status.outOfMemory, "the network would have \(network.parameterCount) parameters, more than \(maxElements)")
    }
    let imageElements = n.channels * n.imageSize * n.imageSize
    let synthetic = c.distillation.ipc * n.classes
    _ = try args.product([synthetic, imageElements], "the synthetic set (distill.ipc*classes*channels*image_size^2)")
    let evaluationWidth = c.evaluationArchitecture.width
    let batches: [(String, Int, Int)] = [
        ("experts.batch", c.expertBatch, n.width),
        ("eval.batch", min(c.evaluation.batchSize, synthetic), evaluationWidth),
        ("distill.batch_syn", min(c.distillation.syntheticBatch ?? synthetic, synthetic), n.width)
    ]
    for (name, batch, width) in batches {
        guard batchFitsActivationLimit(batch, width: width, imageSize: n.imageSize) else {
            throw args.fail(
                Status.outOfMemory,
                "\(name) \(batch): one layer would hold more than \(maxActivations) activations (width \(width), "
                    + "\(n.imageSize)x\(n.imageSize) images); use smaller batches"
            )
        }
    }
    let (stored, overflow) = (2 * c.distillation.syntheticSteps + 1).multipliedReportingOverflow(
        by: network.parameterCount)
    guard !overflow, stored <= maxElements else {
        throw args.fail(
            Status.outOfMemory,
            "distill.syn_steps \(c.distillation.syntheticSteps) with \(network.parameterCount) parameters would keep "
                + "more than \(maxElements) floats per iteration"
        )
    }
}

/// Shared body of the two create functions.
private func createRun(
    _ function: StaticString, _ config: OpaquePointer?, _ outputDirectory: UnsafePointer<CChar>?,
    _ train: OpaquePointer?, _ test: OpaquePointer?, withData: Bool,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> ast_status {
    out?.pointee = nil
    let args = Arguments(function)
    return entry(function, config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let directoryPointer = try args.required(outputDirectory, "output_directory")
        var pair: DatasetPair? = nil
        if withData {
            let trainSet = try unbox(train, as: DatasetBox.self, function: function, argument: "train").dataset
            let testSet = try unbox(test, as: DatasetBox.self, function: function, argument: "test").dataset
            pair = try memoryPair(trainSet, testSet, box.run, args)
        }
        let out = try args.required(out, "out")
        let directory = try utf8String(directoryPointer, "output_directory", args)
        guard !directory.isEmpty else { throw args.fail(Status.invalidArgument, "output_directory is empty") }
        let c = box.run
        if !withData {
            if c.dataDirectory.isEmpty && c.dataset != .fashionMNIST && c.dataset != .npz {
                throw args.fail(
                    Status.invalidArgument,
                    "data.dataset \(c.dataset.rawValue) needs data.dir: the directory of its files (only "
                        + "fashion-mnist has a default location)"
                )
            }
            let n = c.network
            if let e = c.dataset.imageShape,
                n.channels != e.channels || n.imageSize != e.side || n.classes != e.classes
            {
                throw args.fail(
                    Status.invalidArgument,
                    "data.dataset \(c.dataset.rawValue) has \(e.channels)x\(e.side)x\(e.side) images of \(e.classes) "
                        + "classes but network.channels/image_size/classes are "
                        + "\(n.channels)/\(n.imageSize)/\(n.classes): set them or load a preset"
                )
            }
        }
        let pipeline: Pipeline
        do throws(ASTError) {
            pipeline = try Pipeline(config: c, outputDirectory: directory)
        } catch {
            throw args.engine(error)
        }
        try checkRunLimits(c, pipeline.network, args)
        if let pair {
            let limit = c.trainLimit > 0 ? " (before data.train_limit)" : ""
            try checkClassCounts(pair.train, c, args, what: "train\(limit)")
        }
        out.pointee = retainedHandle(RunBox(pipeline: pipeline, memoryData: pair))
    }
}

/// The caller's train/test sets, checked against the network.
private func memoryPair(
    _ train: ImageDataset, _ test: ImageDataset, _ c: RunConfiguration,
    _ args: Arguments
) throws(CFailure) -> DatasetPair {
    let n = c.network
    for (name, d) in [("train", train), ("test", test)] {
        guard d.channels == n.channels, d.height == n.imageSize, d.width == n.imageSize else {
            throw args.fail(
                Status.shapeMismatch,
                "\(name) images are \(d.channels)x\(d.height)x\(d.width), the network takes "
                    + "\(n.channels)x\(n.imageSize)x\(n.imageSize) (network.channels, network.image_size)"
            )
        }
        guard d.classes == n.classes else {
            throw args.fail(
                Status.shapeMismatch, "\(name) has \(d.classes) classes, the network \(n.classes) (network.classes)")
        }
    }
    do throws(ASTError) {
        return try DatasetPair(train: train, test: test)
    } catch {
        throw args.engine(error)
    }
}

/// Runs a step of the pipeline with the bridge as its progress closure; maps engine errors.
private func step<T>(
    _ args: Arguments, _ bridge: ProgressBridge,
    _ body: (PipelineProgress) throws(ASTError) -> T
) throws(CFailure) -> T {
    do throws(ASTError) {
        return try body(bridge.handle)
    } catch {
        throw args.engine(error)
    }
}

private func cancelledAfterCompletion(_ args: Arguments, _ what: String) -> CFailure {
    args.fail(
        Status.cancelled, "cancel requested by the progress callback; \(what) had already finished (results kept)")
}

// MARK: - Exports

@c @implementation
public func ast_run_create(
    _ config: OpaquePointer!, _ outputDirectory: UnsafePointer<CChar>!,
    _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> ast_status {
    createRun("ast_run_create", config, outputDirectory, nil, nil, withData: false, out)
}

@c @implementation
public func ast_run_create_with_data(
    _ config: OpaquePointer!, _ outputDirectory: UnsafePointer<CChar>!,
    _ train: OpaquePointer!, _ test: OpaquePointer!,
    _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> ast_status {
    createRun("ast_run_create_with_data", config, outputDirectory, train, test, withData: true, out)
}

@c @implementation
public func ast_run_free(_ run: OpaquePointer!) {
    releaseHandle(run)
}

@c @implementation
public func ast_run_last_error(_ run: OpaquePointer!) -> UnsafePointer<CChar>! {
    handleLastError(run, as: RunBox.self, nullMessage: "ast_run_last_error: run is NULL")
}

@c @implementation
public func ast_run_get_config(_ run: OpaquePointer!, _ out: UnsafeMutablePointer<OpaquePointer?>!) -> ast_status {
    out?.pointee = nil
    let args = Arguments("ast_run_get_config")
    return entry("ast_run_get_config", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let out = try args.required(out, "out")
        try box.exclusive(args) { () throws(CFailure) in
            out.pointee = retainedHandle(ConfigBox(box.config))
        }
    }
}

@c @implementation
public func ast_run_generate_experts(
    _ run: OpaquePointer!, _ first: Int64, _ count: Int64,
    _ progress: ast_progress_fn!, _ userData: UnsafeMutableRawPointer!
) -> ast_status {
    let args = Arguments("ast_run_generate_experts")
    return entry("ast_run_generate_experts", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let lower = try args.integer(first, "first", in: 0...Int64(Int32.max))
        let n = try args.integer(count, "count", in: -1...Int64(Int32.max))
        let upper = n == -1 ? max(lower, box.config.expertCount) : lower + n
        guard upper <= Int(Int32.max) else {
            throw args.fail(Status.invalidArgument, "first + count = \(upper) exceeds \(Int32.max)")
        }
        try box.exclusive(args) { () throws(CFailure) in
            guard upper > lower else { return }
            try generate(box, lower..<upper, ProgressBridge(progress, userData), args)
        }
    }
}

private func generate(_ box: RunBox, _ range: Range<Int>, _ bridge: ProgressBridge, _ args: Arguments) throws(CFailure)
{
    let data = try box.data(args)
    bridge.expertsInCall = Int64(range.count)
    _ = try step(args, bridge) { progress throws(ASTError) in
        try box.pipeline.generateExperts(data: data, range: range, progress: progress)
    }
    if bridge.cancelRequested { throw cancelledAfterCompletion(args, "expert generation") }
}

private func distill(_ box: RunBox, _ bridge: ProgressBridge, _ args: Arguments) throws(CFailure) {
    let data = try box.data(args)
    bridge.totalIterations = box.config.distillation.iterations
    do throws(CFailure) {
        let state = try step(args, bridge) { progress throws(ASTError) in
            try box.pipeline.distill(data: data, progress: progress)
        }
        if box.state != state { box.evaluation = nil }
        box.state = state
    } catch {
        box.reloadCheckpointQuietly()
        box.evaluation = nil
        throw error
    }
    if bridge.cancelRequested { throw cancelledAfterCompletion(args, "distillation") }
}

private func evaluate(_ box: RunBox, _ bridge: ProgressBridge, _ args: Arguments) throws(CFailure) {
    let data = try box.data(args)
    let state = try box.distilledState(args, loadCheckpoint: true)
    let result = try step(args, bridge) { progress throws(ASTError) in
        try box.pipeline.evaluate(data: data, state: state, progress: progress)
    }
    box.evaluation = result
    if bridge.cancelRequested { throw cancelledAfterCompletion(args, "evaluation") }
}

private func writeOutputs(_ box: RunBox, _ args: Arguments) throws(CFailure) {
    let data = try box.data(args)
    let state = try box.distilledState(args, loadCheckpoint: true)
    let p = box.pipeline
    let store = try? p.openStore(data: data)
    do throws(ASTError) {
        _ = try p.writeOutputs(data: data, state: state, store: store, evaluation: box.evaluation)
    } catch {
        throw args.engine(error)
    }
}

@c @implementation
public func ast_run_distill(
    _ run: OpaquePointer!, _ progress: ast_progress_fn!, _ userData: UnsafeMutableRawPointer!
) -> ast_status {
    let args = Arguments("ast_run_distill")
    return entry("ast_run_distill", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try box.exclusive(args) { () throws(CFailure) in
            try distill(box, ProgressBridge(progress, userData), args)
        }
    }
}

@c @implementation
public func ast_run_evaluate(
    _ run: OpaquePointer!, _ progress: ast_progress_fn!, _ userData: UnsafeMutableRawPointer!,
    _ outDistilledMean: UnsafeMutablePointer<Double>!, _ outDistilledStd: UnsafeMutablePointer<Double>!,
    _ outBaselineMean: UnsafeMutablePointer<Double>!, _ outBaselineStd: UnsafeMutablePointer<Double>!
) -> ast_status {
    let args = Arguments("ast_run_evaluate")
    return entry("ast_run_evaluate", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try box.exclusive(args) { () throws(CFailure) in
            try evaluate(box, ProgressBridge(progress, userData), args)
            guard let e = box.evaluation else { return }
            outDistilledMean?.pointee = e.distilled.mean
            outDistilledStd?.pointee = e.distilled.standardDeviation
            outBaselineMean?.pointee = e.baseline?.mean ?? .nan
            outBaselineStd?.pointee = e.baseline?.standardDeviation ?? .nan
        }
    }
}

@c @implementation
public func ast_run_write_outputs(_ run: OpaquePointer!) -> ast_status {
    let args = Arguments("ast_run_write_outputs")
    return entry("ast_run_write_outputs", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try box.exclusive(args) { () throws(CFailure) in
            try writeOutputs(box, args)
        }
    }
}

@c @implementation
public func ast_run_all(
    _ run: OpaquePointer!, _ progress: ast_progress_fn!, _ userData: UnsafeMutableRawPointer!
) -> ast_status {
    let args = Arguments("ast_run_all")
    return entry("ast_run_all", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try box.exclusive(args) { () throws(CFailure) in
            let bridge = ProgressBridge(progress, userData)
            let data = try box.data(args)
            _ = bridge.handle(
                .message(
                    "data: \(data.data.train.count) training / \(data.data.test.count) test images, preprocessing "
                        + "\(data.preprocessing.rawValue)"
                ))
            try generate(box, 0..<box.config.expertCount, bridge, args)
            try distill(box, bridge, args)
            try evaluate(box, bridge, args)
            try writeOutputs(box, args)
        }
    }
}

@c @implementation
public func ast_run_complete_experts(_ run: OpaquePointer!, _ out: UnsafeMutablePointer<Int64>!) -> ast_status {
    let args = Arguments("ast_run_complete_experts")
    return entry("ast_run_complete_experts", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let out = try args.required(out, "out")
        try box.exclusive(args) { () throws(CFailure) in
            let p = box.pipeline
            guard (try? TrajectoryStore.completeExpertIndices(in: p.storeDirectory))?.isEmpty == false else {
                out.pointee = 0
                return
            }
            do throws(ASTError) {
                out.pointee = Int64(try TrajectoryStore(readingFrom: p.storeDirectory, network: p.network).expertCount)
            } catch {
                throw args.engine(error)
            }
        }
    }
}

@c @implementation
public func ast_run_distilled_shape(
    _ run: OpaquePointer!, _ outCount: UnsafeMutablePointer<Int64>!,
    _ outChannels: UnsafeMutablePointer<Int64>!, _ outHeight: UnsafeMutablePointer<Int64>!,
    _ outWidth: UnsafeMutablePointer<Int64>!, _ outClasses: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_run_distilled_shape")
    return entry("ast_run_distilled_shape", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try box.exclusive(args) { () throws(CFailure) in
            let state = try box.distilledState(args, loadCheckpoint: false)
            let n = box.config.network
            outCount?.pointee = Int64(state.labels.count)
            outChannels?.pointee = Int64(n.channels)
            outHeight?.pointee = Int64(n.imageSize)
            outWidth?.pointee = Int64(n.imageSize)
            outClasses?.pointee = Int64(n.classes)
        }
    }
}

@c @implementation
public func ast_run_copy_distilled_images(
    _ run: OpaquePointer!, _ space: Int32, _ out: UnsafeMutablePointer<Float>!,
    _ outLen: Int64
) -> ast_status {
    let args = Arguments("ast_run_copy_distilled_images")
    return entry("ast_run_copy_distilled_images", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let out = try args.required(out, "out")
        guard space == Int32(AST_IMAGES_TRAINING) || space == Int32(AST_IMAGES_PIXEL) else {
            throw args.fail(
                Status.invalidArgument, "space must be AST_IMAGES_TRAINING (0) or AST_IMAGES_PIXEL (1), got \(space)")
        }
        try box.exclusive(args) { () throws(CFailure) in
            let state = try box.distilledState(args, loadCheckpoint: false)
            try args.outputLength(outLen, "out_len", atLeast: state.images.count, "count*channels*height*width")
            var images = state.images
            if space == Int32(AST_IMAGES_PIXEL) {
                let data = try box.data(args)
                do throws(ASTError) {
                    images = try data.viewable(state.images, count: state.labels.count)
                } catch {
                    throw args.engine(error)
                }
            }
            try args.write(images, to: out, expected: state.images.count, "images")
        }
    }
}

@c @implementation
public func ast_run_copy_distilled_labels(
    _ run: OpaquePointer!, _ out: UnsafeMutablePointer<Int32>!, _ outLen: Int64
) -> ast_status {
    let args = Arguments("ast_run_copy_distilled_labels")
    return entry("ast_run_copy_distilled_labels", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let out = try args.required(out, "out")
        try box.exclusive(args) { () throws(CFailure) in
            let labels = try box.distilledState(args, loadCheckpoint: false).labels
            try args.outputLength(outLen, "out_len", atLeast: labels.count, "count")
            labels.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { out.update(from: base, count: labels.count) }
            }
        }
    }
}

@c @implementation
public func ast_run_copy_soft_labels(
    _ run: OpaquePointer!, _ out: UnsafeMutablePointer<Float>!, _ outLen: Int64,
    _ outPresent: UnsafeMutablePointer<Int32>!
) -> ast_status {
    let args = Arguments("ast_run_copy_soft_labels")
    return entry("ast_run_copy_soft_labels", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let out = try args.required(out, "out")
        let present = try args.required(outPresent, "out_present")
        try box.exclusive(args) { () throws(CFailure) in
            guard
                let soft = try box.distilledState(args, loadCheckpoint: false).softLabels(
                    classes: box.config.network.classes)
            else {
                present.pointee = 0
                return
            }
            try args.outputLength(outLen, "out_len", atLeast: soft.count, "count*classes")
            soft.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { out.update(from: base, count: soft.count) }
            }
            present.pointee = 1
        }
    }
}

@c @implementation
public func ast_run_step_size(
    _ run: OpaquePointer!, _ outStepSize: UnsafeMutablePointer<Float>!,
    _ outIterations: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_run_step_size")
    return entry("ast_run_step_size", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try box.exclusive(args) { () throws(CFailure) in
            let state = try box.distilledState(args, loadCheckpoint: false)
            outStepSize?.pointee = state.stepSize
            outIterations?.pointee = Int64(state.iteration)
        }
    }
}

/// Writes min(capacity, values.count) values and the count (the ast_config_keys convention).
private func writeValues<T>(
    _ values: [T], to out: UnsafeMutablePointer<T>?, _ name: StaticString, capacity: Int64,
    outCount: UnsafeMutablePointer<Int64>?, _ args: Arguments
) throws(CFailure) {
    let outCount = try args.required(outCount, "out_count")
    guard capacity >= 0 else { throw args.fail(Status.invalidArgument, "capacity must be >= 0, got \(capacity)") }
    if capacity > 0 {
        let out = try args.required(out, name)
        let n = Int(min(capacity, Int64(values.count)))
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { out.update(from: base, count: n) }
        }
    }
    outCount.pointee = Int64(values.count)
}

@c @implementation
public func ast_run_loss_history(
    _ run: OpaquePointer!, _ out: UnsafeMutablePointer<Float>!, _ capacity: Int64,
    _ outCount: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_run_loss_history")
    return entry("ast_run_loss_history", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try writeValues([Float](), to: out, "out", capacity: capacity, outCount: outCount, args)  // argument checks
        try box.exclusive(args) { () throws(CFailure) in
            let history = try box.distilledState(args, loadCheckpoint: false).lossHistory
            try writeValues(history, to: out, "out", capacity: capacity, outCount: outCount, args)
        }
    }
}

@c @implementation
public func ast_run_evaluation(
    _ run: OpaquePointer!, _ which: Int32, _ outMean: UnsafeMutablePointer<Double>!,
    _ outStd: UnsafeMutablePointer<Double>!, _ accuracies: UnsafeMutablePointer<Double>!,
    _ capacity: Int64, _ outCount: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_run_evaluation")
    return entry("ast_run_evaluation", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        guard which == Int32(AST_RESULT_DISTILLED) || which == Int32(AST_RESULT_RANDOM_REAL) else {
            throw args.fail(
                Status.invalidArgument,
                "which must be AST_RESULT_DISTILLED (0) or AST_RESULT_RANDOM_REAL (1), got \(which)")
        }
        // The argument checks of the output buffer, before any work.
        try writeValues([Double](), to: accuracies, "accuracies", capacity: capacity, outCount: outCount, args)
        try box.exclusive(args) { () throws(CFailure) in
            guard let e = box.evaluation else {
                throw args.fail(
                    Status.invalidArgument,
                    "not evaluated yet: evaluate first (ast_run_evaluate, Python Run.evaluate())")
            }
            let result: EvaluationResult
            if which == Int32(AST_RESULT_DISTILLED) {
                result = e.distilled
            } else {
                guard let baseline = e.baseline else {
                    throw args.fail(Status.invalidArgument, "no random-real baseline: eval.baseline was 0")
                }
                result = baseline
            }
            try writeValues(
                result.accuracies, to: accuracies, "accuracies", capacity: capacity, outCount: outCount, args)
            outMean?.pointee = result.mean
            outStd?.pointee = result.standardDeviation
        }
    }
}
