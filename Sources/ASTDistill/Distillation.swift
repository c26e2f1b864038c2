import ASTCore
import ASTData
#if canImport(Glibc)
import Glibc
#endif

/// The outer loop of trajectory matching (docs/algorithm.md §3): sample an expert segment,
/// unroll the student on the synthetic set, and update the images and the learnable step size
/// with the exact constant-memory meta-gradient. MTT is this loop with every AST switch off.

/// Where expert trajectories come from (a trajectory store, or memory).
public protocol ExpertSource {
    var expertCount: Int { get }
    /// Snapshots per expert (epochs + 1).
    var snapshotCount: Int { get }
    /// Snapshots `epochs` (θ*_e for each e) of expert `index`.
    func snapshots(expert index: Int, epochs: [Int]) throws(ASTError) -> [[Float]]
}

/// Trajectories held in memory: experts[i][e] = θ*_e.
public struct InMemoryExperts: ExpertSource, Sendable {
    public let experts: [[[Float]]]
    public init(_ experts: [[[Float]]]) throws(ASTError) {
        guard let first = experts.first, !first.isEmpty else { throw .invalid("no expert trajectories given") }
        guard experts.allSatisfy({ $0.count == first.count }) else {
            throw .invalid("experts have different numbers of snapshots")
        }
        self.experts = experts
    }
    public var expertCount: Int { experts.count }
    public var snapshotCount: Int { experts[0].count }
    public func snapshots(expert index: Int, epochs: [Int]) throws(ASTError) -> [[Float]] {
        epochs.map { experts[index][$0] }
    }
}

public enum IntermediateMatching: String, Sendable, CaseIterable {
    case off
    /// β_k = 1.
    case uniform
    /// β_k = k/M.
    case adaptive
}

public struct DistillationSettings: Sendable, Equatable {
    public var ipc = 1
    /// N: student steps per iteration.
    public var syntheticSteps = 50
    /// M: expert epochs matched.
    public var expertEpochs = 2
    /// T+: start epochs are drawn from 0..<maxStartEpoch.
    public var maxStartEpoch = 2
    public var iterations = 5000
    public var imageLearningRate = 100.0
    public var learningRateLearningRate = 1e-7
    /// α_0.
    public var initialStepSize = 0.01
    /// Minibatch size of the synthetic set per student step; nil = all of it.
    public var syntheticBatch: Int? = nil
    public var imageMomentum = 0.5
    public var stepSizeMomentum = 0.5
    public var augmentation = DSA.defaultStrategy
    public var initialization = SyntheticInitialization.real
    // AST components.
    /// μ of the momentum inner loop; nil = plain SGD (MTT).
    public var innerMomentum: Double? = nil
    public var balancedInnerLoss = false
    public var intermediateMatching = IntermediateMatching.off
    /// α_wp of the conv-kernel weight perturbation; nil = off.
    public var weightPerturbation: Double? = nil
    /// Learn soft labels (DATM/TESLA option): per-image logits, initialised from an expert's
    /// logits on the initial images, trained with SGD (momentum 0.9) at `labelLearningRate`.
    public var learnSoftLabels = false
    public var labelLearningRate = 5.0
    /// Memory (MiB) for step graphs kept from the forward unroll instead of recomputed in the
    /// backward pass (`TrajectoryMatching.activationBudget`): faster, same result; 0 = none.
    /// Bounded, so memory stays independent of N.
    public var activationBudgetMiB = 256
    /// R: independent segments matched per iteration; their meta-gradients are averaged before
    /// one update. Each segment's draws come from (seed, iteration, segment), so segments can be
    /// computed by any process (one after another here, or spread over MPI ranks).
    public var segments = 1
    /// Seed of every draw of the outer loop (expert, start epoch, minibatches, DSA, perturbation).
    /// `Pipeline` derives it from `RunConfiguration.seed`.
    public var seed: UInt64 = 0

    public init() {}

    /// MTT's published settings for CIFAR-10 at ipc 1 / 10 / 50 (docs/algorithm.md §3), AST switches off.
    public static func mtt(ipc: Int) -> DistillationSettings {
        var s = DistillationSettings()
        s.ipc = ipc
        switch ipc {
        case ...1:
            (s.syntheticSteps, s.maxStartEpoch, s.imageLearningRate, s.learningRateLearningRate, s.initialStepSize) = (
                50, 2, 100, 1e-7, 0.01
            )
        case ...10:
            (s.syntheticSteps, s.maxStartEpoch, s.imageLearningRate, s.learningRateLearningRate, s.initialStepSize) = (
                30, 20, 100, 1e-5, 0.001
            )
        default:
            (s.syntheticSteps, s.maxStartEpoch, s.imageLearningRate, s.learningRateLearningRate, s.initialStepSize) = (
                30, 40, 1000, 1e-5, 0.001
            )
        }
        return s
    }

    /// MTT's settings with every AST component on.
    public static func ast(ipc: Int) -> DistillationSettings {
        var s = mtt(ipc: ipc)
        s.innerMomentum = 0.9
        s.balancedInnerLoss = true
        s.intermediateMatching = .uniform
        s.weightPerturbation = 1
        s.initialization = .representative
        return s
    }

    public func validate(snapshotCount: Int) throws(ASTError) {
        func positive(_ name: String, _ v: Double) throws(ASTError) {
            guard v.isFinite, v > 0 else { throw .invalid("\(name) \(v) must be positive and finite") }
        }
        guard (1...10_000).contains(ipc) else { throw .invalid("distill.ipc \(ipc) is outside 1...10000") }
        guard (1...10_000).contains(syntheticSteps) else {
            throw .invalid("distill.syn_steps \(syntheticSteps) is outside 1...10000")
        }
        guard expertEpochs >= 1 else { throw .invalid("distill.expert_epochs \(expertEpochs) must be at least 1") }
        guard maxStartEpoch >= 1 else { throw .invalid("distill.max_start_epoch \(maxStartEpoch) must be at least 1") }
        guard maxStartEpoch - 1 + expertEpochs <= snapshotCount - 1 else {
            throw .invalid(
                "distill.max_start_epoch \(maxStartEpoch) + distill.expert_epochs \(expertEpochs) reaches epoch "
                    + "\(maxStartEpoch - 1 + expertEpochs), beyond the \(snapshotCount - 1) stored epochs"
            )
        }
        guard iterations >= 0 else { throw .invalid("distill.iterations \(iterations) must be ≥ 0") }
        try positive("distill.lr_img", imageLearningRate)
        try positive("distill.lr_lr", learningRateLearningRate)
        try positive("distill.lr_init", initialStepSize)
        guard imageMomentum.isFinite, (0..<1).contains(imageMomentum) else {
            throw .invalid("distill.momentum (images) \(imageMomentum) is outside [0, 1)")
        }
        guard stepSizeMomentum.isFinite, (0..<1).contains(stepSizeMomentum) else {
            throw .invalid("distill.momentum (step size) \(stepSizeMomentum) is outside [0, 1)")
        }
        if let b = syntheticBatch { guard b >= 1 else { throw .invalid("distill.batch_syn \(b) must be at least 1") } }
        if let mu = innerMomentum {
            guard mu.isFinite, (0..<1).contains(mu) else {
                throw .invalid("distill.inner_momentum \(mu) is outside [0, 1)")
            }
        }
        if let wp = weightPerturbation {
            guard wp.isFinite, wp >= 0 else { throw .invalid("distill.weight_perturbation \(wp) must be ≥ 0") }
        }
        if learnSoftLabels { try positive("distill.lr_labels", labelLearningRate) }
        guard (1...65_536).contains(segments) else {
            throw .invalid("distill.segments \(segments) is outside 1...65536")
        }
        guard (0...1_048_576).contains(activationBudgetMiB) else {
            throw .invalid("distill.activation_mib \(activationBudgetMiB) is outside 0...1048576")
        }
        _ = try DSA(strategy: augmentation)
    }

    /// AST's balanced inner loss weight w(t); 1 when off.
    public func innerLossWeight(startEpoch t: Int) -> Double {
        guard balancedInnerLoss else { return 1 }
        let h = maxStartEpoch / 2
        func log5(_ x: Double) -> Double { log(x) / log(5) }
        return t >= h ? log5(Double(t - h + 8)) : 1 / log5(Double(h - t + 8))
    }
}

/// Everything a run needs to continue exactly: checkpointed between iterations.
/// The evaluation protocol's result for the distilled set as it was after `iteration` iterations.
public struct EvaluationPoint: Sendable, Equatable {
    public var iteration: Int
    public var result: EvaluationResult

    public init(iteration: Int, result: EvaluationResult) {
        self.iteration = iteration
        self.result = result
    }
}

public struct DistillationState: Sendable, Equatable {
    public var images: [Float]
    public var labels: [Int32]
    /// α.
    public var stepSize: Float
    public var imageVelocity: [Float]
    public var stepSizeVelocity: Float
    /// Iterations completed.
    public var iteration: Int
    /// The synthetic minibatch chunks still to be used (MTT pops them from the end).
    public var pendingChunks: [[Int]]
    public var lossHistory: [Float]
    /// α after each iteration (empty in checkpoints written before it was kept).
    public var stepSizeHistory: [Float] = []
    /// Learnable soft labels: logits (n × K) and their SGD velocity; nil with hard labels.
    public var labelLogits: [Float]? = nil
    public var labelVelocity: [Float]? = nil
    /// Evaluations made during the run (eval.every): the distilled set at those iterations.
    public var evaluationCurve: [EvaluationPoint] = []
    /// The queues of chunks of segments 1..<R (segment 0's is `pendingChunks`); empty with one segment.
    public var segmentPendingChunks: [[[Int]]] = []

    /// Segment `r`'s queue of minibatch chunks.
    public func pendingChunks(segment r: Int) -> [[Int]] {
        r == 0 ? pendingChunks : (r - 1 < segmentPendingChunks.count ? segmentPendingChunks[r - 1] : [])
    }

    /// softmax of the label logits, row by row (the soft targets), or nil.
    public func softLabels(classes k: Int) -> [Float]? {
        labelLogits.map { logits in
            var p = logits
            for r in 0..<(logits.count / k) {
                let row = logits[(r * k)..<((r + 1) * k)]
                let m = row.max() ?? 0
                let e = row.map { expf($0 - m) }
                let total = e.reduce(0, +)
                for j in 0..<k { p[r * k + j] = e[j] / total }
            }
            return p
        }
    }
}

/// What one iteration did (progress reporting).
public struct IterationReport: Sendable {
    public var iteration: Int
    public var loss: Float
    public var stepSize: Float
    public var expert: Int
    public var startEpoch: Int
}

public struct Distiller {
    public let network: ConvNet
    public let settings: DistillationSettings
    public let experts: any ExpertSource
    let dsa: DSA

    public init(network: ConvNet, settings: DistillationSettings, experts: any ExpertSource) throws(ASTError) {
        try settings.validate(snapshotCount: experts.snapshotCount)
        guard experts.expertCount >= 1 else { throw .invalid("no experts to match") }
        self.network = network
        self.settings = settings
        self.experts = experts
        dsa = try DSA(strategy: settings.augmentation)
    }

    /// The starting state from an initial synthetic set (see `SyntheticSet.initialize`).
    public func initialState(from synthetic: ImageDataset) throws(ASTError) -> DistillationState {
        try network.checkImages(
            [synthetic.count, synthetic.channels, synthetic.height, synthetic.width], "synthetic images")
        var state = DistillationState(
            images: synthetic.images, labels: synthetic.labels, stepSize: Float(settings.initialStepSize),
            imageVelocity: [Float](repeating: 0, count: synthetic.images.count), stepSizeVelocity: 0,
            iteration: 0, pendingChunks: [], lossHistory: [])
        if settings.learnSoftLabels {
            let expert = try experts.snapshots(expert: 0, epochs: [experts.snapshotCount - 1])[0]
            state.labelLogits = try network.logits(images: synthetic.images, count: synthetic.count, parameters: expert)
            state.labelVelocity = [Float](repeating: 0, count: state.labelLogits!.count)
        }
        return state
    }

    /// One outer iteration: the exact meta-gradients of `settings.segments` segments, computed one
    /// after another and summed in segment order (memory independent of the count), then one
    /// update with their mean. On success `state` advances; on any error it is left untouched
    /// (the last good state).
    public func step(_ state: inout DistillationState) throws(ASTError) -> IterationReport {
        var sum = try segmentGradient(state, segment: 0)
        for r in 1..<max(1, settings.segments) {
            sum.add(try segmentGradient(state, segment: r))
        }
        return try apply(sum, to: &state)
    }

    /// Seed of segment `r`'s draws at `iteration`; segment 0 keeps the seed of the
    /// single-segment loop, so `segments = 1` draws what it always did.
    func segmentSeed(iteration: Int, segment r: Int) -> UInt64 {
        r == 0
            ? derivedSeed(settings.seed, 6, UInt64(iteration))
            : derivedSeed(settings.seed, 6, UInt64(iteration), UInt64(r))
    }

    /// The draws of segment `r` at the state's iteration, in the order the single-segment loop
    /// made them: expert, start epoch, weight perturbation, minibatches (from the segment's own
    /// queue of chunks in the state). `rng` is left where the DSA draws continue.
    struct SegmentPlan {
        var rng: SeededGenerator
        var expert: Int
        var startEpoch: Int
        /// Normalised perturbation direction d/‖d‖ of each conv kernel, at its offset in θ.
        var perturbation: [(offset: Int, direction: [Float])]
        var minibatches: [[Int]]
        /// The segment's queue of chunks after this iteration.
        var pendingAfter: [[Int]]
    }

    /// `withPerturbation` false leaves `perturbation` empty (the generator still advances past
    /// its draws): for replaying a segment's other draws.
    func plan(_ state: DistillationState, segment r: Int, withPerturbation: Bool = true) -> SegmentPlan {
        var rng = SeededGenerator(seed: segmentSeed(iteration: state.iteration, segment: r))
        let n = state.labels.count
        let expert = rng.nextInt(below: experts.expertCount)
        let t = rng.nextInt(below: settings.maxStartEpoch)
        var perturbation: [(offset: Int, direction: [Float])] = []
        if let wp = settings.weightPerturbation, wp > 0 {
            if withPerturbation {
                perturbation = perturbationDirections(using: &rng)
            } else {
                for slot in perturbedSlots { rng.skipNormals(slot.count) }
            }
        }
        var pending = state.pendingChunks(segment: r)
        let minibatches = drawMinibatches(
            count: n, batch: min(settings.syntheticBatch ?? n, n), steps: settings.syntheticSteps,
            pending: &pending, using: &rng)
        return SegmentPlan(
            rng: rng, expert: expert, startEpoch: t, perturbation: perturbation,
            minibatches: minibatches, pendingAfter: pending)
    }

    /// Length of a flattened segment gradient for a synthetic set of `count` images
    /// (`SegmentGradient.flattened`).
    public func gradientLength(count n: Int) -> Int {
        2 + n * network.imageElementCount + (settings.learnSoftLabels ? n * network.config.classes : 0)
    }

    /// The exact meta-gradient of segment `segment` (0..<settings.segments) at the state's
    /// iteration. Every draw comes from (seed, iteration, segment) and the state, so any process
    /// holding the same state computes the same bytes. The state is not changed.
    public func segmentGradient(_ state: DistillationState, segment: Int) throws(ASTError) -> SegmentGradient {
        guard (0..<max(1, settings.segments)).contains(segment) else {
            throw .invalid("segment \(segment) is outside 0..<\(settings.segments) (distill.segments)")
        }
        let where_ =
            settings.segments > 1 ? "iteration \(state.iteration) segment \(segment)" : "iteration \(state.iteration)"
        let n = state.labels.count
        var plan = plan(state, segment: segment)
        let (t, m) = (plan.startEpoch, settings.expertEpochs)
        let snaps = try experts.snapshots(expert: plan.expert, epochs: Array(t...(t + m)))
        var start = snaps[0]
        if let wp = settings.weightPerturbation, wp > 0 {
            let strength = Float(wp)
            for (offset, d) in plan.perturbation {
                for i in 0..<d.count { start[offset + i] += strength * d[i] * start[offset + i] }
            }
        }
        let minibatches = plan.minibatches
        let transform = augmentationTransform(
            dsa, minibatches: minibatches, imageSize: network.config.imageSize, using: &plan.rng)

        var intermediate: [IntermediateTarget<Float>] = []
        if settings.intermediateMatching != .off && m > 1 {
            for k in 1..<m {
                let stepIndex = (settings.syntheticSteps / m) * k
                guard stepIndex >= 1, stepIndex < settings.syntheticSteps else { continue }
                let beta: Float = settings.intermediateMatching == .uniform ? 1 : Float(k) / Float(m)
                intermediate.append(
                    IntermediateTarget(
                        step: stepIndex, target: try Tensor(shape: [snaps[k].count], scalars: snaps[k]), weight: beta))
            }
        }
        let k = network.config.classes
        let soft = try state.softLabels(classes: k).map { p throws(ASTError) in
            try Tensor<Float>(shape: [n, k], scalars: p)
        }
        var matching = TrajectoryMatching<Float>(
            network: network, labels: soft == nil ? state.labels : nil, softLabels: soft,
            learningRate: state.stepSize, minibatches: minibatches,
            momentum: settings.innerMomentum.map(Float.init),
            innerLossWeight: Float(settings.innerLossWeight(startEpoch: t)),
            intermediateTargets: intermediate, transform: transform)
        matching.activationBudget = settings.activationBudgetMiB << 20
        let images = try Tensor<Float>(shape: [n] + network.imageShape, scalars: state.images)
        let result = try matching.run(
            images: images, start: Tensor(shape: [start.count], scalars: start),
            target: Tensor(shape: [snaps[m].count], scalars: snaps[m]))
        guard result.loss.isFinite else { throw ASTError(.diverged, "\(where_): matching loss is \(result.loss)") }
        guard result.learningRateGradient.isFinite else {
            throw ASTError(.diverged, "\(where_): dL/dα is \(result.learningRateGradient)")
        }
        return SegmentGradient(
            loss: result.loss, stepSizeGradient: result.learningRateGradient,
            imageGradient: result.imageGradient.scalars,
            softLabelGradient: soft == nil ? nil : result.softLabelGradient?.scalars)
    }

    /// One update from the sum of all `settings.segments` segment gradients of the state's
    /// iteration (in any process: the sum is divided by the segment count here). Advances every
    /// segment's queue of minibatch chunks by replaying its draws (cheap: no matching), so every
    /// process that applies the same sum to the same state ends in the same state. On error the
    /// state is left untouched.
    public func apply(_ sum: SegmentGradient, to state: inout DistillationState) throws(ASTError) -> IterationReport {
        let segments = max(1, settings.segments)
        let n = state.labels.count
        let k = network.config.classes
        guard sum.imageGradient.count == state.images.count else {
            throw .invalid(
                "the image gradient has \(sum.imageGradient.count) values, the synthetic images \(state.images.count)")
        }
        guard (sum.softLabelGradient == nil) == (state.labelLogits == nil),
            (sum.softLabelGradient?.count ?? 0) == (state.labelLogits?.count ?? 0)
        else {
            throw .invalid(
                "the soft-label gradient does not match the run's soft labels (\(state.labelLogits?.count ?? 0) values)"
            )
        }
        var mean = sum
        if segments > 1 { mean.scale(by: 1 / Float(segments)) }
        guard mean.loss.isFinite else {
            throw ASTError(.diverged, "iteration \(state.iteration): matching loss is \(mean.loss)")
        }
        let gLR = mean.stepSizeGradient
        guard gLR.isFinite else { throw ASTError(.diverged, "iteration \(state.iteration): dL/dα is \(gLR)") }

        var next = state
        // SGD with momentum (PyTorch semantics) on the images and on α.
        let (lrImg, muImg) = (Float(settings.imageLearningRate), Float(settings.imageMomentum))
        var finite = true
        mean.imageGradient.withUnsafeBufferPointer { g in
            for i in 0..<g.count {
                next.imageVelocity[i] = muImg * next.imageVelocity[i] + g[i]
                next.images[i] -= lrImg * next.imageVelocity[i]
                if !next.images[i].isFinite { finite = false }
            }
        }
        guard finite else {
            throw ASTError(
                .diverged, "iteration \(state.iteration): synthetic images became non-finite (lower distill.lr_img)")
        }
        next.stepSizeVelocity = Float(settings.stepSizeMomentum) * next.stepSizeVelocity + gLR
        next.stepSize -= Float(settings.learningRateLearningRate) * next.stepSizeVelocity
        guard next.stepSize.isFinite, next.stepSize > 0 else {
            throw ASTError(
                .diverged,
                "iteration \(state.iteration): the learnable step size α became \(next.stepSize) (from "
                    + "\(state.stepSize)); lower distill.lr_lr (its learning rate) or distill.lr_img"
            )
        }
        if let pv = state.softLabels(classes: k), let gv = mean.softLabelGradient, var logits = next.labelLogits,
            var velocity = next.labelVelocity
        {
            // Through the row softmax: dL/dz = p ⊙ (dL/dp − Σ_j p_j dL/dp_j).
            let lr = Float(settings.labelLearningRate)
            for r in 0..<n {
                var dot: Float = 0
                for j in 0..<k { dot += pv[r * k + j] * gv[r * k + j] }
                for j in 0..<k {
                    let i = r * k + j
                    velocity[i] = 0.9 * velocity[i] + pv[i] * (gv[i] - dot)
                    logits[i] -= lr * velocity[i]
                }
            }
            guard logits.allSatisfy(\.isFinite) else {
                throw ASTError(.diverged, "iteration \(state.iteration): soft labels became non-finite")
            }
            (next.labelLogits, next.labelVelocity) = (logits, velocity)
        }
        let first = plan(state, segment: 0, withPerturbation: false)
        next.pendingChunks = first.pendingAfter
        next.segmentPendingChunks = (1..<segments).map {
            plan(state, segment: $0, withPerturbation: false).pendingAfter
        }
        next.iteration += 1
        next.lossHistory.append(mean.loss)
        next.stepSizeHistory.append(next.stepSize)
        state = next
        return IterationReport(
            iteration: next.iteration, loss: mean.loss, stepSize: next.stepSize, expert: first.expert,
            startEpoch: first.startEpoch)
    }

    /// The parameters the weight perturbation moves: every conv kernel, in layout order.
    var perturbedSlots: [ParameterSlot] {
        network.layout.filter { $0.name.hasPrefix("conv") && $0.name.hasSuffix(".weight") }
    }

    /// AST weight perturbation W ← W + α_wp·(d/‖d‖_F)⊙W: the normalised directions d/‖d‖ of
    /// every conv kernel, d ~ N(0, I) (kernels whose d is 0 are skipped).
    func perturbationDirections(using rng: inout SeededGenerator) -> [(offset: Int, direction: [Float])] {
        var result: [(offset: Int, direction: [Float])] = []
        for slot in perturbedSlots {
            var d = [Float](unsafeUninitializedCapacity: slot.count) { buffer, initialized in
                rng.fillNormals(buffer)
                initialized = buffer.count
            }
            let norm = d.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { continue }
            for i in 0..<slot.count { d[i] /= norm }
            result.append((slot.offset, d))
        }
        return result
    }
}

/// One segment's exact meta-gradient (or a sum of several, or their mean): dL/dx of the
/// synthetic images, dL/dα, dL/dp of the soft labels (with learnable soft labels), and the
/// matching loss.
public struct SegmentGradient: Sendable, Equatable {
    public var loss: Float
    public var stepSizeGradient: Float
    public var imageGradient: [Float]
    public var softLabelGradient: [Float]?

    public init(loss: Float, stepSizeGradient: Float, imageGradient: [Float], softLabelGradient: [Float]?) {
        self.loss = loss
        self.stepSizeGradient = stepSizeGradient
        self.imageGradient = imageGradient
        self.softLabelGradient = softLabelGradient
    }

    /// One flat vector for transport (what an allreduce sums): [loss, dL/dα, dL/dx…, dL/dp…].
    public var flattened: [Float] {
        var v: [Float] = [loss, stepSizeGradient]
        v.reserveCapacity(2 + imageGradient.count + (softLabelGradient?.count ?? 0))
        v += imageGradient
        if let s = softLabelGradient { v += s }
        return v
    }

    /// The inverse of `flattened` for a set of `imageElements` image values (soft-label values
    /// follow when the vector is longer).
    public init(flattened v: [Float], imageElements: Int) throws(ASTError) {
        guard v.count >= 2 + imageElements else {
            throw .invalid("a flattened segment gradient needs at least \(2 + imageElements) values, got \(v.count)")
        }
        loss = v[0]
        stepSizeGradient = v[1]
        imageGradient = Array(v[2..<(2 + imageElements)])
        softLabelGradient = v.count > 2 + imageElements ? Array(v[(2 + imageElements)...]) : nil
    }

    /// Adds `other` element by element (`self` first: summing segments 0, 1, 2, … in order
    /// gives the same bytes in every process).
    public mutating func add(_ other: SegmentGradient) {
        loss += other.loss
        stepSizeGradient += other.stepSizeGradient
        imageGradient.withUnsafeMutableBufferPointer { a in
            other.imageGradient.withUnsafeBufferPointer { b in
                for i in 0..<min(a.count, b.count) { a[i] += b[i] }
            }
        }
        if var s = softLabelGradient, let o = other.softLabelGradient {
            for i in 0..<min(s.count, o.count) { s[i] += o[i] }
            softLabelGradient = s
        }
    }

    mutating func scale(by f: Float) {
        loss *= f
        stepSizeGradient *= f
        imageGradient.withUnsafeMutableBufferPointer { a in for i in 0..<a.count { a[i] *= f } }
        if var s = softLabelGradient {
            for i in 0..<s.count { s[i] *= f }
            softLabelGradient = s
        }
    }
}

/// The minibatches of an `steps`-step unroll over `n` images: chunks of `batch` of a random
/// permutation of 0..<n, popped from the end of `pending`, a new permutation when it is empty
/// (MTT's order). `pending` carries the unused chunks to the next unroll. The distiller and the
/// C step API (`ast_matching_step`, `ast_matching_minibatches`) both draw with this.
public func drawMinibatches(
    count n: Int, batch: Int, steps: Int, pending: inout [[Int]],
    using rng: inout SeededGenerator
) -> [[Int]] {
    var minibatches: [[Int]] = []
    minibatches.reserveCapacity(steps)
    for _ in 0..<steps {
        if pending.isEmpty {
            let perm = rng.permutation(n)
            pending = stride(from: 0, to: n, by: batch).map { Array(perm[$0..<min(n, $0 + batch)]) }
        }
        minibatches.append(pending.removeLast())
    }
    return minibatches
}

/// The DSA augmentation of an unroll over `minibatches` as the matching's per-step transform:
/// one draw per minibatch, all made now from `rng` (also when `dsa` has no groups, so the
/// generator advances the same way); nil when there is nothing to apply.
public func augmentationTransform(
    _ dsa: DSA, minibatches: [[Int]], imageSize: Int,
    using rng: inout SeededGenerator
) -> StepTransform<Float>? {
    let draws = minibatches.map { dsa.draw(count: $0.count, height: imageSize, width: imageSize, using: &rng) }
    guard !dsa.groups.isEmpty else { return nil }
    return { x, i in
        // Shapes match by construction (the draw was made for this minibatch).
        (try? dsa.apply(draws[i], to: x)) ?? x
    }
}
