import ASTCore
import ASTData
#if canImport(Glibc)
import Glibc
#endif

/// A directory of expert trajectories, one safetensors file per expert, readable with numpy or the
/// `safetensors` package (no libast needed):
///
///     expert_00003.safetensors          complete: "trajectory" [epochs + 1, P] float32,
///                                       "test_accuracy" [epochs] float64
///     expert_00003.partial.safetensors  in progress: the same so far, plus "momentum" [P] when
///                                       the optimizer has a buffer; never read as complete
///
/// Metadata (strings) says what made each file: format, network, parameter layout, dataset
/// fingerprint, optimizer settings, seed, expert index, epochs, per-epoch accuracies. Files are
/// written atomically; experts are independent, so several processes or machines can fill one
/// store with disjoint index ranges.
public final class TrajectoryStore: ExpertSource, @unchecked Sendable {
    public static let format = "libast-trajectory/1"

    public let directory: String
    public let network: ConvNet
    /// What every file must carry in its metadata to belong to this store.
    public let identity: [String: String]
    /// Complete experts found when the store was opened, by index.
    public private(set) var completeExperts: [Int]
    public let snapshotCount: Int
    private var cache: (index: Int, file: SafeTensorsFile, snapshots: [Float])?

    /// Opens (creating the directory if needed) a store for trajectories of `network` trained with
    /// `settings` on data with `datasetFingerprint`. Existing files made otherwise are an error.
    public init(
        directory: String, network: ConvNet, datasetFingerprint: String, settings: TrainingSettings,
        seed: UInt64
    ) throws(ASTError) {
        self.directory = directory
        self.network = network
        identity = [
            "format": Self.format,
            "network": Self.describe(network.config),
            "layout": network.layout.map { "\($0.name):\($0.shape.map(String.init).joined(separator: "x"))" }.joined(
                separator: ","),
            "parameters": String(network.parameterCount),
            "dataset_fingerprint": datasetFingerprint,
            "optimizer": Self.describe(settings),
            "epochs": String(settings.epochs),
            "seed": String(seed)
        ]
        snapshotCount = settings.epochs + 1
        try makeDirectory(directory)
        completeExperts = []
        for index in try Self.listExperts(directory) {
            try check(SafeTensorsFile(path: path(index, partial: false)))
            completeExperts.append(index)
        }
    }

    /// Opens an existing store for reading (distillation): the identity comes from its files,
    /// which must agree with each other and with `network`.
    public init(readingFrom directory: String, network: ConvNet, datasetFingerprint: String? = nil) throws(ASTError) {
        self.directory = directory
        self.network = network
        guard BinaryFile.isDirectory(directory) else {
            throw ASTError(
                .io,
                "\(directory): no trajectory store there yet; generate experts first (or set experts.dir to an "
                    + "existing store)"
            )
        }
        let indices = try Self.listExperts(directory)
        guard let first = indices.first else {
            throw ASTError(
                .io, "\(directory): no complete expert trajectories (expert_NNNNN.safetensors); generate experts first")
        }
        let file = try SafeTensorsFile(path: Self.path(directory, first, partial: false))
        var id: [String: String] = [:]
        for key in ["format", "network", "layout", "parameters", "dataset_fingerprint", "optimizer", "epochs", "seed"] {
            guard let value = file.metadata[key] else {
                throw ASTError(.format, "\(file.source): metadata lacks '\(key)'")
            }
            id[key] = value
        }
        guard id["format"] == Self.format else {
            throw ASTError(.format, "\(file.source): format '\(id["format"] ?? "")' is not \(Self.format)")
        }
        guard id["network"] == Self.describe(network.config) else {
            throw .invalid(
                "\(file.source): trajectories are for another network: "
                    + "\(Self.networkDifferences(id["network"] ?? "", network.config)); set the run's network "
                    + "settings to the store's, or use another store"
            )
        }
        if let fp = datasetFingerprint, id["dataset_fingerprint"] != fp {
            throw .invalid(
                "\(file.source): trajectories were made from dataset \(id["dataset_fingerprint"] ?? ""), not \(fp)")
        }
        guard let epochs = Int(id["epochs"] ?? ""), epochs >= 1 else {
            throw ASTError(.format, "\(file.source): bad 'epochs' metadata")
        }
        identity = id
        snapshotCount = epochs + 1
        completeExperts = []
        for index in indices {
            try check(SafeTensorsFile(path: path(index, partial: false)))
            completeExperts.append(index)
        }
    }

    public var expertCount: Int { completeExperts.count }

    public func path(_ index: Int, partial: Bool) -> String { Self.path(directory, index, partial: partial) }

    static func path(_ directory: String, _ index: Int, partial: Bool) -> String {
        let digits = String(index)
        let padded = String(repeating: "0", count: max(0, 5 - digits.count)) + digits
        return "\(directory)/expert_\(padded)\(partial ? ".partial" : "").safetensors"
    }

    /// Indices of the complete expert files in `directory`, ascending (an error if it cannot be read).
    public static func completeExpertIndices(in directory: String) throws(ASTError) -> [Int] {
        try listExperts(directory)
    }

    /// Indices with a complete file, ascending.
    static func listExperts(_ directory: String) throws(ASTError) -> [Int] {
        guard let names = directoryEntries(directory) else {
            throw ASTError(.io, "\(directory): cannot open trajectory store: \(String(cString: strerror(errno)))")
        }
        var found: [Int] = []
        for name in names {
            guard name.hasPrefix("expert_"), name.hasSuffix(".safetensors"), !name.contains(".partial") else {
                continue
            }
            if let i = Int(name.dropFirst(7).dropLast(12)) { found.append(i) }
        }
        return found.sorted()
    }

    /// The file's metadata must match this store's identity and its tensors the network.
    func check(_ file: SafeTensorsFile) throws(ASTError) {
        for (key, value) in identity where file.metadata[key] != value {
            throw .invalid(
                "\(file.source): '\(key)' is '\(file.metadata[key] ?? "missing")', this store expects '\(value)' (a "
                    + "store for another network, dataset or optimizer?)"
            )
        }
        guard let info = file.info("trajectory"), info.dtype == .f32, info.shape.count == 2,
            info.shape[1] == network.parameterCount
        else {
            throw ASTError(
                .format, "\(file.source): 'trajectory' must be float32 [snapshots, \(network.parameterCount)]")
        }
    }

    // MARK: Writing

    /// Saves an expert's progress: the partial file while training, the complete file (and the
    /// partial one removed) once the last epoch is done.
    public func save(_ progress: ExpertProgress, optimizer settings: TrainingSettings) throws(ASTError) {
        var writer = SafeTensorsWriter(metadata: identity)
        writer.setMetadata(String(progress.index), forKey: "expert_index")
        writer.setMetadata(String(progress.state.epoch), forKey: "completed_epochs")
        writer.setMetadata(
            "[" + progress.testAccuracies.map { String($0) }.joined(separator: ",") + "]", forKey: "test_accuracies")
        let p = network.parameterCount
        try writer.add("trajectory", shape: [progress.snapshots.count, p], floats: progress.snapshots.flatMap { $0 })
        try writer.add(
            "test_accuracy", NDArray(shape: [progress.testAccuracies.count], float64: progress.testAccuracies))
        if !progress.isComplete, let buffer = progress.state.momentumBuffer {
            try writer.add("momentum", shape: [p], floats: buffer)
        }
        if progress.isComplete {
            try writer.write(path: path(progress.index, partial: false))
            unlink(path(progress.index, partial: true))
            if !completeExperts.contains(progress.index) {
                completeExperts = (completeExperts + [progress.index]).sorted()
            }
        } else {
            try writer.write(path: path(progress.index, partial: true))
        }
    }

    /// The saved progress of expert `index`: complete, partial (to resume), or nil (not started).
    public func progress(of index: Int, totalEpochs: Int) throws(ASTError) -> ExpertProgress? {
        for partial in [false, true] {
            let file = path(index, partial: partial)
            guard BinaryFile.exists(file) else { continue }
            let st = try SafeTensorsFile(path: file)
            try check(st)
            let p = network.parameterCount
            let flat = try st.floats("trajectory")
            let snapshots = stride(from: 0, to: flat.count, by: p).map { Array(flat[$0..<($0 + p)]) }
            let accuracies = try st.tensor("test_accuracy").doubles()
            guard snapshots.count == accuracies.count + 1, !snapshots.isEmpty else {
                throw ASTError(.format, "\(file): \(snapshots.count) snapshots but \(accuracies.count) accuracies")
            }
            let momentum = st.contains("momentum") ? try st.floats("momentum") : nil
            if let m = momentum, m.count != p {
                throw ASTError(.format, "\(file): momentum has \(m.count) values, not \(p)")
            }
            let state = TrainerState(parameters: snapshots.last!, momentumBuffer: momentum, epoch: snapshots.count - 1)
            return ExpertProgress(
                index: index, snapshots: snapshots, testAccuracies: accuracies, state: state, totalEpochs: totalEpochs)
        }
        return nil
    }

    // MARK: Reading (ExpertSource)

    /// Snapshots of the `index`-th complete expert (index into `completeExperts`).
    public func snapshots(expert index: Int, epochs: [Int]) throws(ASTError) -> [[Float]] {
        guard completeExperts.indices.contains(index) else {
            throw .invalid("expert \(index) is outside 0..<\(completeExperts.count)")
        }
        let p = network.parameterCount
        let expertIndex = completeExperts[index]
        if cache?.index != expertIndex {
            let file = try SafeTensorsFile(path: path(expertIndex, partial: false))
            try check(file)
            cache = (expertIndex, file, try file.floats("trajectory"))
        }
        let flat = cache!.snapshots
        let count = flat.count / p
        var result: [[Float]] = []
        for e in epochs {
            guard (0..<count).contains(e) else {
                throw .invalid("epoch \(e) is outside the \(count) stored snapshots of expert \(expertIndex)")
            }
            result.append(Array(flat[(e * p)..<((e + 1) * p)]))
        }
        return result
    }

    /// Per-expert test accuracies (after each epoch) of the complete experts.
    public func testAccuracies() throws(ASTError) -> [[Double]] {
        var result: [[Double]] = []
        for i in completeExperts {
            result.append(try SafeTensorsFile(path: path(i, partial: false)).tensor("test_accuracy").doubles())
        }
        return result
    }

    static func describe(_ c: ConvNetConfig) -> String {
        let norm = ["none", "instance", "batch"][Int(c.norm.rawValue)]
        return
            "convnet channels=\(c.channels) size=\(c.imageSize) classes=\(c.classes) width=\(c.width) "
            + "depth=\(c.depth) norm=\(norm) pool=\(c.pool == .average ? "average" : "max")"
    }

    /// The ramp's start and length when they are not AST's 0.5 over 10 epochs (stores made before
    /// they were settings keep their identity).
    private static func lossRamp(_ s: TrainingSettings) -> String {
        s.lossScaling && (s.lossScaleStart != 0.5 || s.lossScaleEpochs != 10)
            ? " loss_scale=\(s.lossScaleStart)/\(s.lossScaleEpochs)" : ""
    }

    /// "network.width is 16 there, 32 in this run, ..." between a stored description and `c`.
    static func networkDifferences(_ stored: String, _ c: ConvNetConfig) -> String {
        func fields(_ d: String) -> [(String, String)] {
            d.split(separator: " ").dropFirst().compactMap { part in
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                return kv.count == 2 ? (kv[0] == "size" ? "image_size" : kv[0], kv[1]) : nil
            }
        }
        let now = Dictionary(fields(describe(c)), uniquingKeysWith: { a, _ in a })
        let differences = fields(stored).compactMap { key, value in
            now[key].flatMap { $0 == value ? nil : "network.\(key) is \(value) there, \($0) in this run" }
        }
        return differences.isEmpty ? "'\(stored)', not '\(describe(c))'" : differences.joined(separator: ", ")
    }

    static func describe(_ s: TrainingSettings) -> String {
        let o = s.sgd
        return
            "sgd lr=\(o.learningRate) momentum=\(o.momentum) weight_decay=\(o.weightDecay) "
            + "decay_epochs=\(o.decayEpochs.map(String.init).joined(separator: "/")) "
            + "decay_factor=\(o.decayFactor) reset_momentum=\(o.resetMomentumAtDecay) batch=\(s.batchSize) "
            + "loss_scaling=\(s.lossScaling)\(lossRamp(s)) gradient_penalty=\(s.gradientPenalty) "
            + "augmentation=\(s.augmentation?.strategy ?? "none")"
    }
}

/// mkdir -p.
func makeDirectory(_ path: String) throws(ASTError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw ASTError(.io, "\(prefix): cannot create directory: \(String(cString: strerror(errno)))")
        }
    }
}
