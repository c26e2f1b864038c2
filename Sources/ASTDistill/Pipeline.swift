import ASTCore
import ASTData
#if canImport(Glibc)
import Glibc
#endif

/// The whole job as resumable steps over one output directory:
///
///     <out>/experts/               trajectory store (TrajectoryStore)
///     <out>/checkpoint.safetensors distillation state, every `checkpointEvery` iterations
///     <out>/distilled.safetensors  images, labels, α, settings and provenance
///     <out>/distilled.png          one row per class, in pixel space
///     <out>/report.json            settings, expert accuracies, losses, evaluation results
///
/// Rerunning any step continues where it stopped. A progress callback returning false stops a
/// step cleanly (after saving what it has) with `.cancelled`.
public enum PipelineEvent: Sendable {
    case message(String)
    case expertEpoch(expert: Int, epoch: Int, epochs: Int, testAccuracy: Double)
    case distillIteration(IterationReport, total: Int)
    case checkpoint(iteration: Int, path: String)
    case evaluationEpoch(what: String, model: Int, models: Int, epoch: Int, epochs: Int)
    case evaluated(what: String, result: EvaluationResult)
}

public typealias PipelineProgress = (PipelineEvent) -> Bool

public struct PipelineReport: Sendable {
    public var distilled: EvaluationResult?
    public var baseline: EvaluationResult?
    public var finalStepSize: Float
    public var iterations: Int
    public var json: JSONValue
}

public struct Pipeline {
    public let config: RunConfiguration
    public let outputDirectory: String
    public var network: ConvNet

    public init(config: RunConfiguration, outputDirectory: String) throws(ASTError) {
        try config.validate()
        guard !outputDirectory.isEmpty else { throw .invalid("output directory is empty") }
        self.config = config
        self.outputDirectory = outputDirectory
        network = try ConvNet(config.network)
    }

    /// `experts.dir` when set (a shared or imported store), else `<out>/experts`.
    public var storeDirectory: String {
        config.expertsDirectory.isEmpty ? outputDirectory + "/experts" : config.expertsDirectory
    }
    /// Whether the run uses a store of its own choosing (experts.dir) rather than its own.
    public var usesSharedStore: Bool { !config.expertsDirectory.isEmpty }
    public var checkpointPath: String { outputDirectory + "/checkpoint.safetensors" }

    // MARK: Data

    /// The configured dataset, checked against the network, subset and preprocessed.
    public func loadData() throws(ASTError) -> PreparedData {
        let dir = config.dataDirectory
        let raw: DatasetPair
        switch config.dataset {
        case .fashionMNIST: raw = dir.isEmpty ? try loadFashionMNIST() : try loadFashionMNIST(directory: dir)
        case .mnist:
            guard !dir.isEmpty else {
                throw .invalid("MNIST needs data.dir: a directory with the four MNIST IDX files (see README, 'Data')")
            }
            raw = try loadMNIST(directory: dir)
        case .cifar10:
            guard !dir.isEmpty else { throw .invalid("CIFAR-10 needs data.dir: the directory of cifar-10-batches-bin") }
            raw = try loadCIFAR10(directory: dir)
        case .cifar100:
            guard !dir.isEmpty else { throw .invalid("CIFAR-100 needs data.dir: the directory of cifar-100-binary") }
            raw = try loadCIFAR100(directory: dir)
        case .npz:
            raw = try loadNPZDataset(path: config.dataPath)
        }
        try checkDataAgainstNetwork(raw.train, what: config.dataset == .npz ? config.dataPath : config.dataset.rawValue)
        return try PreparedData(
            raw, preprocessing: config.preprocessing,
            trainLimit: config.trainLimit > 0 ? config.trainLimit : nil,
            testLimit: config.testLimit > 0 ? config.testLimit : nil, seed: config.seed)
    }

    /// The data's image shape and classes must be the network's; the error names the settings
    /// to change (network.classes 10 on 3-class data says so, instead of failing later).
    public func checkDataAgainstNetwork(_ train: ImageDataset, what: String) throws(ASTError) {
        let n = config.network
        var wrong: [String] = []
        if train.channels != n.channels { wrong.append("network.channels=\(train.channels) (it is \(n.channels))") }
        if train.height != n.imageSize || train.width != n.imageSize {
            wrong.append(
                train.height == train.width
                    ? "network.image_size=\(train.height) (it is \(n.imageSize))"
                    : "square images (the data is \(train.height)x\(train.width))")
        }
        if train.classes != n.classes { wrong.append("network.classes=\(train.classes) (it is \(n.classes))") }
        guard wrong.isEmpty else {
            throw .invalid(
                "\(what) has \(train.channels)x\(train.height)x\(train.width) images of \(train.classes) classes, "
                    + "the network expects \(n.channels)x\(n.imageSize)x\(n.imageSize) with \(n.classes): "
                    + "set \(wrong.joined(separator: ", "))"
            )
        }
    }

    // MARK: Experts

    /// Trains experts `range` (default 0..<experts.count) into the store, skipping finished ones
    /// and resuming a partial one from its last saved epoch.
    @discardableResult
    public func generateExperts(
        data: PreparedData, range: Range<Int>? = nil,
        progress: PipelineProgress = { _ in true }
    ) throws(ASTError) -> TrajectoryStore {
        let settings = try config.expertTraining
        let indices = range ?? 0..<config.expertCount
        guard indices.lowerBound >= 0 else { throw .invalid("expert range \(indices) starts below 0") }
        if usesSharedStore, let present = try? TrajectoryStore.completeExpertIndices(in: storeDirectory),
            Set(indices).isSubset(of: Set(present))
        {
            // Every expert asked for is in the shared (or imported) store already: use it as it is.
            return try openStore(data: data, progress: progress)
        }
        try makeDirectory(outputDirectory)
        let store = try TrajectoryStore(
            directory: storeDirectory, network: network, datasetFingerprint: data.fingerprint,
            settings: settings, seed: config.seed)
        let trainer = try ExpertTrainer(network: network, settings: settings, data: data.data, seed: config.seed)
        for index in indices {
            // This process owns these experts' files: clear what a killed earlier run left mid-write.
            removeStaleTemporaryFiles(of: store.path(index, partial: true))
            removeStaleTemporaryFiles(of: store.path(index, partial: false))
            var start =
                try store.progress(of: index, totalEpochs: settings.epochs) ?? trainer.initialProgress(index: index)
            if start.isComplete { continue }
            if start.state.epoch > 0 {
                _ = progress(.message("expert \(index): resuming after epoch \(start.state.epoch)"))
            }
            start = try trainer.train(from: start) { p throws(ASTError) in
                try store.save(p, optimizer: settings)
                guard
                    progress(
                        .expertEpoch(
                            expert: index, epoch: p.state.epoch, epochs: settings.epochs,
                            testAccuracy: p.testAccuracies.last ?? 0))
                else {
                    throw ASTError(
                        .cancelled,
                        "expert generation stopped after expert \(index) epoch \(p.state.epoch) (saved; rerun to "
                            + "resume)"
                    )
                }
            }
        }
        return store
    }

    /// The store for reading (distillation, reports). Its network must be the run's. The run's
    /// own store must also come from the run's data; a shared one (experts.dir) may come from
    /// other data (an imported MTT buffer, another subset): that is reported, not refused.
    public func openStore(
        data: PreparedData, progress: PipelineProgress = { _ in true }
    ) throws(ASTError) -> TrajectoryStore {
        guard usesSharedStore else {
            return try TrajectoryStore(
                readingFrom: storeDirectory, network: network, datasetFingerprint: data.fingerprint)
        }
        let store = try TrajectoryStore(readingFrom: storeDirectory, network: network)
        if let made = store.identity["dataset_fingerprint"], made != data.fingerprint {
            _ = progress(
                .message(
                    "experts.dir \(storeDirectory): \(store.expertCount) experts made from data \(made); this run's "
                        + "data is \(data.fingerprint) (used as they are)"
                ))
        }
        return store
    }

    // MARK: Distillation

    /// Runs (or resumes from the checkpoint) the distillation; returns the final state.
    public func distill(
        data: PreparedData, progress: PipelineProgress = { _ in true }
    ) throws(ASTError) -> DistillationState {
        var (distiller, state) = try prepareDistillation(data: data, progress: progress)
        let total = config.distillation.iterations
        guard state.iteration <= total else {
            throw .invalid(
                "\(checkpointPath) is at iteration \(state.iteration), beyond distill.iterations \(total); raise "
                    + "distill.iterations to continue, or use another output directory"
            )
        }
        while state.iteration < total {
            let report: IterationReport
            do throws(ASTError) {
                report = try distiller.step(&state)
            } catch {
                try saveCheckpoint(state)  // the last good state
                throw error
            }
            var keepGoing = progress(.distillIteration(report, total: total))
            if keepGoing, config.evaluateEvery > 0, state.iteration % config.evaluateEvery == 0, state.iteration < total
            {
                // The final iteration is evaluated by `evaluate` (with the baseline); this is the curve before it.
                do throws(ASTError) {
                    let point = try evaluateDistilled(data: data, state: state, progress: progress)
                    state.evaluationCurve.append(EvaluationPoint(iteration: state.iteration, result: point))
                } catch  where error.kind == .cancelled {
                    keepGoing = false
                }
            }
            if checkpointDue(after: state.iteration) || !keepGoing {
                try saveCheckpoint(state)
                _ = progress(.checkpoint(iteration: state.iteration, path: checkpointPath))
            }
            if !keepGoing {
                throw ASTError(
                    .cancelled,
                    "distillation stopped after iteration \(state.iteration) (checkpoint saved; rerun to resume)")
            }
        }
        return state
    }

    /// The distiller of this run over the experts in the store, and the state to continue from:
    /// the checkpoint's, else the initial synthetic set. `writer` false (other processes of a
    /// distributed run) leaves files alone; the one writer removes a killed run's temporary files.
    public func prepareDistillation(
        data: PreparedData, writer: Bool = true,
        progress: PipelineProgress = { _ in true }
    ) throws(ASTError) -> (Distiller, DistillationState) {
        let store = try openStore(data: data, progress: progress)
        var settings = config.distillation
        settings.seed = derivedSeed(config.seed, 12)  // the run's seed drives every distillation draw
        let distiller = try Distiller(network: network, settings: settings, experts: store)
        if writer { removeStaleTemporaryFiles(of: checkpointPath) }  // one writer per output directory
        if let saved = try loadCheckpoint() {
            _ = progress(.message("resuming distillation after iteration \(saved.iteration)"))
            return (distiller, saved)
        }
        let expertTheta =
            config.distillation.initialization == .representative
            ? try store.snapshots(expert: 0, epochs: [store.snapshotCount - 1])[0] : nil
        let start = try SyntheticSet.initialize(
            config.distillation.initialization, ipc: config.distillation.ipc,
            from: data.data.train, network: network,
            expertParameters: expertTheta, seed: config.seed)
        return (distiller, try distiller.initialState(from: start))
    }

    /// Whether a checkpoint is written after `iteration` (every distill.checkpoint_every and at the end).
    public func checkpointDue(after iteration: Int) -> Bool {
        iteration % config.checkpointEvery == 0 || iteration == config.distillation.iterations
    }

    /// The settings as checkpoints record them (sorted JSON of every setting).
    public var settingsFingerprint: String {
        get throws(ASTError) { try config.json.serialized(sortedKeys: true) }
    }

    /// The checkpoint, or nil when there is none. One made with other settings is an error.
    public func loadCheckpoint() throws(ASTError) -> DistillationState? {
        guard BinaryFile.exists(checkpointPath) else { return nil }
        let file = try SafeTensorsFile(path: checkpointPath)
        try checkResumable(savedSettings: file.metadata["settings"] ?? "", source: checkpointPath)
        let classes = Int64(network.config.classes)
        let rawLabels = try file.tensor("labels").int64s()
        guard !rawLabels.isEmpty, rawLabels.allSatisfy({ (0..<classes).contains($0) }) else {
            throw ASTError(.format, "\(checkpointPath): labels must be in [0, \(classes))")
        }
        let n = rawLabels.count
        let chunks = try readChunks(file, sizes: "pending_chunk_sizes", indices: "pending_chunks", count: n)
        // Segments 1..<R (distill.segments > 1): their queues, one after another.
        var segmentChunks: [[[Int]]] = []
        if file.contains("segment_chunk_counts") {
            let all = try readChunks(file, sizes: "segment_chunk_sizes", indices: "segment_chunks", count: n)
            var at = 0
            for count in try file.tensor("segment_chunk_counts").int64s() {
                guard count >= 0, count <= Int64(all.count - at) else {
                    throw ASTError(.format, "\(checkpointPath): bad segment chunk counts")
                }
                segmentChunks.append(Array(all[at..<(at + Int(count))]))
                at += Int(count)
            }
        }
        guard segmentChunks.count == (segmentChunks.isEmpty ? 0 : config.distillation.segments - 1) else {
            throw ASTError(
                .format,
                "\(checkpointPath): queues of \(segmentChunks.count + 1) segments, distill.segments is "
                    + "\(config.distillation.segments)"
            )
        }
        let scalars = try file.floats("scalars")
        guard scalars.count == 2, scalars[0].isFinite, scalars[0] > 0, scalars[1].isFinite else {
            throw ASTError(
                .format, "\(checkpointPath): 'scalars' must hold a positive finite α and its finite velocity")
        }
        guard let iteration = Int(file.metadata["iteration"] ?? ""), iteration >= 0 else {
            throw ASTError(.format, "\(checkpointPath): no valid iteration")
        }
        var state = DistillationState(
            images: try file.floats("images"), labels: rawLabels.map { Int32($0) },
            stepSize: scalars[0], imageVelocity: try file.floats("image_velocity"),
            stepSizeVelocity: scalars[1], iteration: iteration, pendingChunks: chunks,
            lossHistory: try file.floats("loss_history"))
        state.segmentPendingChunks = segmentChunks
        guard state.images.allSatisfy(\.isFinite), state.imageVelocity.allSatisfy(\.isFinite) else {
            throw ASTError(.format, "\(checkpointPath): images or their velocity are not finite")
        }
        if file.contains("label_logits") {
            state.labelLogits = try file.floats("label_logits")
            state.labelVelocity = try file.floats("label_velocity")
            guard state.labelLogits?.count == state.labels.count * network.config.classes,
                state.labelVelocity?.count == state.labelLogits?.count
            else {
                throw ASTError(.format, "\(checkpointPath): soft label sizes disagree with the labels")
            }
        }
        if file.contains("syn_lr_history") {
            state.stepSizeHistory = try file.floats("syn_lr_history")
            guard state.stepSizeHistory.count <= iteration, state.stepSizeHistory.allSatisfy(\.isFinite) else {
                throw ASTError(.format, "\(checkpointPath): 'syn_lr_history' is longer than the run or not finite")
            }
        }
        if file.contains("eval_iterations") {
            let iterations = try file.tensor("eval_iterations").int64s()
            let accuracies = try file.tensor("eval_accuracies").doubles()
            let models = iterations.isEmpty ? 0 : accuracies.count / iterations.count
            guard models > 0, accuracies.count == models * iterations.count,
                iterations.allSatisfy({ (1...Int64(iteration)).contains($0) }),
                accuracies.allSatisfy({ $0.isFinite && (0...1).contains($0) })
            else {
                throw ASTError(.format, "\(checkpointPath): the evaluation curve is malformed")
            }
            state.evaluationCurve = iterations.indices.map { i in
                EvaluationPoint(
                    iteration: Int(iterations[i]),
                    result: EvaluationResult(accuracies: Array(accuracies[(i * models)..<((i + 1) * models)])))
            }
        }
        guard state.images.count == state.labels.count * network.imageElementCount,
            state.imageVelocity.count == state.images.count
        else {
            throw ASTError(.format, "\(checkpointPath): image, label and velocity sizes disagree")
        }
        return state
    }

    /// A list of chunks of indices in [0, count): their sizes in one tensor, the indices in another.
    private func readChunks(
        _ file: SafeTensorsFile, sizes: String, indices: String, count n: Int
    ) throws(ASTError) -> [[Int]] {
        let chunkSizes = try file.tensor(sizes).int64s()
        let chunkFlat = try file.tensor(indices).int64s()
        var chunks: [[Int]] = []
        var at = 0
        for size in chunkSizes {
            guard size >= 0, size <= Int64(chunkFlat.count - at) else {
                throw ASTError(.format, "\(checkpointPath): bad \(sizes)")
            }
            let chunk = chunkFlat[at..<(at + Int(size))]
            guard chunk.allSatisfy({ (0..<Int64(n)).contains($0) }) else {
                throw ASTError(.format, "\(checkpointPath): \(indices) index outside [0, \(n))")
            }
            chunks.append(chunk.map { Int($0) })
            at += Int(size)
        }
        return chunks
    }

    /// A checkpoint continues only under the settings it was made with, except those that do not
    /// change what was distilled so far (`RunConfiguration.resumableSettings`: raising
    /// distill.iterations continues the run). The error names the first setting that differs.
    func checkResumable(savedSettings: String, source: String) throws(ASTError) {
        guard savedSettings != (try config.json.serialized(sortedKeys: true)) else { return }
        guard var saved = (try? JSONValue.parse(savedSettings, source: source))?.object, let now = config.json.object
        else {
            throw ASTError(.format, "\(source): unreadable 'settings' metadata")
        }
        // A setting added after the file was written counts as its default (older checkpoints resume).
        let defaults = RunConfiguration().json
        for p in RunConfiguration.parameters where saved[p.name] == nil { saved[p.name] = defaults[p.name] }
        let names = (saved.keys + now.keys.filter { !saved.keys.contains($0) })
        for name in names where !RunConfiguration.resumableSettings(name) && saved[name] != now[name] {
            func show(_ v: JSONValue?) -> String { v.flatMap { try? $0.serialized() } ?? "(not set)" }
            throw .invalid(
                "\(source) was made with \(name) = \(show(saved[name])), this run has \(show(now[name])); "
                    + "use the same value to resume, or another output directory to start afresh")
        }
    }

    public func saveCheckpoint(_ state: DistillationState) throws(ASTError) {
        try makeDirectory(outputDirectory)
        var w = SafeTensorsWriter()
        w.setMetadata("libast-checkpoint/1", forKey: "format")
        w.setMetadata(try config.json.serialized(sortedKeys: true), forKey: "settings")
        w.setMetadata(String(state.iteration), forKey: "iteration")
        let shape = [state.labels.count] + network.imageShape
        try w.add("images", shape: shape, floats: state.images)
        try w.add("image_velocity", shape: shape, floats: state.imageVelocity)
        try w.add("labels", NDArray(shape: [state.labels.count], int64: state.labels.map(Int64.init)))
        try w.add("scalars", shape: [2], floats: [state.stepSize, state.stepSizeVelocity])
        try w.add(
            "pending_chunk_sizes",
            NDArray(shape: [state.pendingChunks.count], int64: state.pendingChunks.map { Int64($0.count) }))
        let flat = state.pendingChunks.flatMap { $0 }.map(Int64.init)
        try w.add("pending_chunks", NDArray(shape: [flat.count], int64: flat))
        if !state.segmentPendingChunks.isEmpty {
            let counts = state.segmentPendingChunks.map { Int64($0.count) }
            try w.add("segment_chunk_counts", NDArray(shape: [counts.count], int64: counts))
            let chunks = state.segmentPendingChunks.flatMap { $0 }
            try w.add("segment_chunk_sizes", NDArray(shape: [chunks.count], int64: chunks.map { Int64($0.count) }))
            let flatSegments = chunks.flatMap { $0 }.map(Int64.init)
            try w.add("segment_chunks", NDArray(shape: [flatSegments.count], int64: flatSegments))
        }
        try w.add("loss_history", shape: [state.lossHistory.count], floats: state.lossHistory)
        try w.add("syn_lr_history", shape: [state.stepSizeHistory.count], floats: state.stepSizeHistory)
        if !state.evaluationCurve.isEmpty {
            let curve = state.evaluationCurve
            try w.add("eval_iterations", NDArray(shape: [curve.count], int64: curve.map { Int64($0.iteration) }))
            try w.add(
                "eval_accuracies",
                NDArray(
                    shape: [curve.count, curve[0].result.accuracies.count],
                    float64: curve.flatMap(\.result.accuracies)))
        }
        if let logits = state.labelLogits, let velocity = state.labelVelocity {
            try w.add("label_logits", shape: [state.labels.count, network.config.classes], floats: logits)
            try w.add("label_velocity", shape: [state.labels.count, network.config.classes], floats: velocity)
        }
        try w.write(path: checkpointPath)
    }

    // MARK: Evaluation and outputs

    /// Names of the classes when the dataset has them (the PNG's row labels).
    public var classNames: [String]? {
        ASTData.classNames(ofDataset: config.dataset.rawValue).flatMap { $0.count == config.network.classes ? $0 : nil }
    }

    public func distilledDataset(_ state: DistillationState) throws(ASTError) -> ImageDataset {
        let c = config.network
        return try ImageDataset(
            images: state.images, labels: state.labels, count: state.labels.count, channels: c.channels,
            height: c.imageSize, width: c.imageSize, classes: c.classes)
    }

    /// The evaluation protocol (docs/evaluation.md) on the distilled set (lr = α) and, if
    /// configured, on a random real subset of the same size (lr = baseline lr).
    public func evaluate(
        data: PreparedData, state: DistillationState,
        progress: PipelineProgress = { _ in true }
    ) throws(ASTError) -> (distilled: EvaluationResult, baseline: EvaluationResult?) {
        try evaluate(data: data, state: state, baseline: config.evaluateBaseline, progress: progress)
    }

    /// The evaluation protocol (docs/evaluation.md) on the distilled set alone (the points of
    /// eval.every).
    public func evaluateDistilled(
        data: PreparedData, state: DistillationState,
        progress: PipelineProgress = { _ in true }
    ) throws(ASTError) -> EvaluationResult {
        try evaluate(data: data, state: state, baseline: false, progress: progress).distilled
    }

    private func evaluate(
        data: PreparedData, state: DistillationState, baseline withBaseline: Bool,
        progress: PipelineProgress
    ) throws(ASTError) -> (distilled: EvaluationResult, baseline: EvaluationResult?) {
        var settings = config.evaluation
        settings.seed = derivedSeed(config.seed, 10)
        let architecture = try ConvNet(config.evaluationArchitecture)
        func run(
            _ what: String, _ train: ImageDataset, _ lr: Double, soft: [Float]? = nil
        ) throws(ASTError) -> EvaluationResult {
            let result = try Evaluation.run(
                network: architecture, train: train, test: data.data.test, learningRate: lr,
                settings: settings, softLabels: soft
            ) {
                model, epoch throws(ASTError) in
                guard
                    progress(
                        .evaluationEpoch(
                            what: what, model: model, models: settings.models, epoch: epoch, epochs: settings.epochs))
                else {
                    throw ASTError(.cancelled, "evaluation stopped")
                }
            }
            _ = progress(.evaluated(what: what, result: result))
            return result
        }
        let distilled = try run(
            "distilled", distilledDataset(state), Double(state.stepSize),
            soft: state.softLabels(classes: config.network.classes))
        var baseline: EvaluationResult? = nil
        if withBaseline {
            let subset = try SyntheticSet.initialize(
                .real, ipc: config.distillation.ipc, from: data.data.train, network: network,
                seed: derivedSeed(config.seed, 11))
            baseline = try run("random real", subset, config.baselineLearningRate)
        }
        return (distilled, baseline)
    }

    /// distilled.safetensors, distilled.png and report.json.
    public func writeOutputs(
        data: PreparedData, state: DistillationState, store: TrajectoryStore?,
        evaluation: (distilled: EvaluationResult, baseline: EvaluationResult?)?
    ) throws(ASTError) -> JSONValue {
        try makeDirectory(outputDirectory)
        let settingsJSON = try config.json.serialized(sortedKeys: true)
        var w = SafeTensorsWriter()
        w.setMetadata("libast-distilled/1", forKey: "format")
        w.setMetadata(settingsJSON, forKey: "settings")
        w.setMetadata(data.fingerprint, forKey: "dataset_fingerprint")
        w.setMetadata(data.preprocessing.rawValue, forKey: "preprocessing")
        w.setMetadata(String(state.iteration), forKey: "iterations")
        w.setMetadata(TrajectoryStore.describe(network.config), forKey: "network")
        if let names = classNames {
            w.setMetadata(try JSONValue.array(names.map { .string($0) }).serialized(), forKey: "class_names")
        }
        let shape = [state.labels.count] + network.imageShape
        try w.add("images", shape: shape, floats: state.images)
        try w.add("labels", NDArray(shape: [state.labels.count], int64: state.labels.map(Int64.init)))
        try w.add("syn_lr", shape: [], floats: [state.stepSize])
        if let soft = state.softLabels(classes: config.network.classes) {
            try w.add("soft_labels", shape: [state.labels.count, config.network.classes], floats: soft)
        }
        try w.add("images_pixel_space", shape: shape, floats: data.viewable(state.images, count: state.labels.count))
        if let n = data.normalization {
            try w.add("normalization_mean", shape: [n.mean.count], floats: n.mean)
            try w.add("normalization_std", shape: [n.std.count], floats: n.std)
        }
        try w.write(path: outputDirectory + "/distilled.safetensors")

        let n = config.network
        if n.channels == 1 || n.channels == 3 {
            _ = try writeDistilledPNG(
                path: outputDirectory + "/distilled.png",
                images: data.viewable(state.images, count: state.labels.count),
                labels: state.labels, channels: n.channels, imageSize: n.imageSize, classes: n.classes,
                classNames: classNames, scale: defaultRenderScale(imageSize: n.imageSize))
        }

        func summary(_ r: EvaluationResult?) -> JSONValue {
            guard let r else { return .null }
            return [
                "accuracies": .array(r.accuracies.map { .number($0) }), "mean": .number(r.mean),
                "std": .number(r.standardDeviation)
            ]
        }
        var report = JSONObject()
        report["format"] = "libast-report/1"
        report["settings"] = config.json
        report["dataset_fingerprint"] = .string(data.fingerprint)
        // What the bytes depend on besides settings and data: OpenBLAS's kernels and the threads.
        report["runtime"] = [
            "blas_core": .string(BLAS.coreName), "threads": .number(Double(BLAS.threadCount))
        ]
        report["iterations"] = .number(Double(state.iteration))
        report["final_syn_lr"] = .number(Double(state.stepSize))
        report["loss_history"] = .array(state.lossHistory.map { .number(Double($0)) })
        report["syn_lr_history"] = .array(state.stepSizeHistory.map { .number(Double($0)) })
        if let store {
            report["expert_final_test_accuracy"] = .array(
                try store.testAccuracies().map { $0.last.map { .number($0) } ?? .null })
        }
        var curve = state.evaluationCurve
        if let final = evaluation?.distilled {
            curve.append(EvaluationPoint(iteration: state.iteration, result: final))
        }
        report["evaluation_curve"] = .array(
            curve.map { p in
                [
                    "iteration": .number(Double(p.iteration)),
                    "accuracies": .array(p.result.accuracies.map { .number($0) }),
                    "mean": .number(p.result.mean), "std": .number(p.result.standardDeviation)
                ]
            })
        report["evaluation"] = [
            "protocol": "final test accuracy after training from scratch on the set only (docs/evaluation.md)",
            "distilled": summary(evaluation?.distilled), "random_real": summary(evaluation?.baseline)
        ]
        let json = JSONValue.object(report)
        try writeFileAtomically(
            path: outputDirectory + "/report.json", bytes: Array((try json.serialized(pretty: true)).utf8) + [10])
        return json
    }

    /// Experts, distillation, evaluation, outputs.
    public func run(progress: PipelineProgress = { _ in true }) throws(ASTError) -> PipelineReport {
        let data = try loadData()
        _ = progress(
            .message(
                "data: \(data.data.train.count) training / \(data.data.test.count) test images, preprocessing "
                    + "\(data.preprocessing.rawValue)"
            ))
        let store = try generateExperts(data: data, progress: progress)
        let state = try distill(data: data, progress: progress)
        let evaluation = try evaluate(data: data, state: state, progress: progress)
        let json = try writeOutputs(data: data, state: state, store: store, evaluation: evaluation)
        return PipelineReport(
            distilled: evaluation.distilled, baseline: evaluation.baseline, finalStepSize: state.stepSize,
            iterations: state.iteration, json: json)
    }
}
