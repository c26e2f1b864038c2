/// One trajectory-matching meta-gradient (MTT/AST, docs/algorithm.md §3 and §7): unroll N
/// student steps on the synthetic images from an expert checkpoint, measure the normalised distance to the
/// expert's later checkpoint, and return its exact gradient with respect to the images and the
/// learnable step size. Memory does not grow with N beyond two parameter-sized vectors a step
/// (the parameters θ̂_i and the update direction b_i): the backward pass re-records each step's
/// graph to apply Hessian-vector products, without the values of the convolution weight gradients,
/// which it never reads (see `WeightGradientValues`; b_i gives the step-size gradient).
/// Optionally the graphs of the first steps are kept instead of recomputed, as far as
/// `activationBudget` allows (the re-recording, about a fifth of a step's work, saved per kept step).

/// An extra matching term: after `step` student steps, β · ‖θ̂_step − target‖² / ‖θ̂_0 − target‖².
public struct IntermediateTarget<S: TensorScalar>: Sendable {
    public var step: Int
    public var target: Tensor<S>
    public var weight: S
    public init(step: Int, target: Tensor<S>, weight: S) {
        self.step = step
        self.target = target
        self.weight = weight
    }
}

public struct MatchingResult<S: TensorScalar>: Sendable {
    /// L = ‖θ̂_N − θ*‖² / ‖θ̂_0 − θ*‖² (+ intermediate terms).
    public var loss: S
    /// dL/d images, the images' shape.
    public var imageGradient: Tensor<S>
    /// dL/dα.
    public var learningRateGradient: S
    /// θ̂_N.
    public var finalParameters: Tensor<S>
    /// The (weighted) inner cross-entropy of every step.
    public var stepLosses: [S]
    /// dL/d soft labels (n, K) when soft labels were used, else nil.
    public var softLabelGradient: Tensor<S>?
    /// Steps whose graphs were kept within `activationBudget` instead of recomputed.
    public var keptStepGraphs: Int = 0
}

/// Replays a step's augmentation: must return the same differentiable function of x whenever it
/// is called with the same step (the backward pass calls it again).
public typealias StepTransform<S: TensorScalar> = (_ images: Tensor<S>, _ step: Int) -> Tensor<S>

public struct TrajectoryMatching<S: TensorScalar> {
    public var network: ConvNet
    /// Hard labels of the synthetic images, or nil when `softLabels` are used.
    public var labels: [Int32]?
    /// Probability rows (n, K) for learnable soft labels (their gradient is returned).
    public var softLabels: Tensor<S>?
    /// Student step size α.
    public var learningRate: S
    /// Indices into the synthetic images of each of the N steps' minibatches.
    public var minibatches: [[Int]]
    /// nil: plain SGD (MTT); μ: momentum inner loop b_i = μ b_{i−1} + g_i (AST).
    public var momentum: S?
    /// w(t) multiplying the inner cross-entropy (AST balanced inner loss; 1 for MTT).
    public var innerLossWeight: S
    public var intermediateTargets: [IntermediateTarget<S>]
    /// Differentiable per-step augmentation (DSA), replayed in the backward pass.
    public var transform: StepTransform<S>?
    /// Bytes of recorded step graphs (activations and first-order backward) that may be kept
    /// from the forward unroll for the backward pass instead of being recomputed; 0 keeps none
    /// (memory then independent of N). The result does not depend on it.
    public var activationBudget: Int = 0

    public init(
        network: ConvNet, labels: [Int32]?, softLabels: Tensor<S>? = nil, learningRate: S,
        minibatches: [[Int]], momentum: S? = nil, innerLossWeight: S = 1,
        intermediateTargets: [IntermediateTarget<S>] = [], transform: StepTransform<S>? = nil
    ) {
        self.network = network
        self.labels = labels
        self.softLabels = softLabels
        self.learningRate = learningRate
        self.minibatches = minibatches
        self.momentum = momentum
        self.innerLossWeight = innerLossWeight
        self.intermediateTargets = intermediateTargets
        self.transform = transform
    }

    func validate(images: Tensor<S>, start: Tensor<S>, target: Tensor<S>) throws(ASTError) {
        try network.checkImages(images.shape, "synthetic images")
        let n = images.shape[0], p = network.parameterCount
        guard start.shape == [p] else { throw .shape("start parameters: shape \(start.shape), network has [\(p)]") }
        guard target.shape == [p] else { throw .shape("target parameters: shape \(target.shape), network has [\(p)]") }
        if let labels {
            guard labels.count == n else { throw .shape("labels: \(labels.count) for \(n) synthetic images") }
            if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= network.config.classes }) {
                throw .invalid("labels: label \(labels[bad]) at index \(bad) is outside [0, \(network.config.classes))")
            }
        } else if let softLabels {
            guard softLabels.shape == [n, network.config.classes] else {
                throw .shape("soft labels: shape \(softLabels.shape), want [\(n), \(network.config.classes)]")
            }
        } else {
            throw .invalid("labels: neither hard nor soft labels given")
        }
        guard !minibatches.isEmpty else { throw .invalid("minibatches: at least one student step is needed") }
        for (i, batch) in minibatches.enumerated() {
            guard !batch.isEmpty else { throw .invalid("minibatches: step \(i) is empty") }
            if let bad = batch.first(where: { $0 < 0 || $0 >= n }) {
                throw .invalid("minibatches: step \(i) index \(bad) is outside [0, \(n))")
            }
        }
        guard learningRate.isFinite else { throw ASTError(.nonFinite, "learning rate is \(learningRate)") }
        guard innerLossWeight.isFinite, innerLossWeight > 0 else {
            throw .invalid("inner loss weight \(innerLossWeight) must be positive")
        }
        if let momentum {
            guard momentum.isFinite, momentum >= 0, momentum < 1 else {
                throw .invalid("momentum \(momentum) is outside [0, 1)")
            }
        }
        for t in intermediateTargets {
            guard t.step >= 1, t.step < minibatches.count else {
                throw .invalid("intermediate target at step \(t.step) is outside [1, \(minibatches.count))")
            }
            guard t.target.shape == [p] else {
                throw .shape("intermediate target parameters: shape \(t.target.shape), network has [\(p)]")
            }
        }
    }

    /// Inner loss of step i at parameters θ on the (transformed) minibatch x, against the hard
    /// labels or rows of `soft` (the soft labels, possibly a variable).
    private func stepLoss(_ x: Tensor<S>, _ theta: Tensor<S>, step i: Int, soft: Tensor<S>?) -> Tensor<S> {
        let input = transform.map { $0(x, i) } ?? x
        let logits = network.forwardUnchecked(input, theta)
        let batch = minibatches[i]
        let targets: Tensor<S> =
            labels.map { all in oneHot(batch.map { all[$0] }, classes: network.config.classes) }
            ?? gatherRowsUnchecked(soft!, batch)
        let ce = softCrossEntropyUnchecked(logits, targets)
        return innerLossWeight == 1 ? ce : scaleUnchecked(ce, innerLossWeight)
    }

    /// Step i at parameters θ̂_i with its graph recorded: θ̂_i and the minibatch as variables
    /// and g_i built from them, so g_i can be differentiated again. Also the step's inner loss.
    private func recordStep(
        _ i: Int, at parameters: Tensor<S>, images x0: Tensor<S>, soft: Tensor<S>?
    ) throws(ASTError) -> (StepGraph, S) {
        let theta = parameters.variable()
        let x = gatherRowsUnchecked(x0, minibatches[i]).variable()
        let loss = stepLoss(x, theta, step: i, soft: soft)
        let g = try gradients(of: loss, wrt: [theta], createGraph: true)[0]
        return (StepGraph(theta: theta, images: x, gradient: g), loss.item)
    }

    /// Loss and exact gradients for synthetic `images` starting at `start`, matching `target`.
    public func run(images: Tensor<S>, start: Tensor<S>, target: Tensor<S>) throws(ASTError) -> MatchingResult<S> {
        try validate(images: images, start: start, target: target)
        let n = minibatches.count
        let alpha = learningRate
        let x0 = images.detached()

        // Forward: θ̂_0 … θ̂_N and the update directions b_i (= g_i for plain SGD), keeping the
        // graphs of the first steps while they fit in the activation budget.
        var thetas: [Tensor<S>] = [start.detached()]
        var directions: [Tensor<S>] = []
        var stepLosses: [S] = []
        thetas.reserveCapacity(n + 1)
        let soft = labels == nil ? softLabels?.detached().variable() : nil
        var keptGraphs: [Int: StepGraph] = [:]
        var keptBytes = 0, largestGraph = 0
        for i in 0..<n {
            let g: Tensor<S>, innerLoss: S
            if activationBudget > 0 && keptBytes + largestGraph <= activationBudget {
                let before = BufferPool.statistics.live
                let (graph, loss) = try withWinogradCache { () throws(ASTError) in
                    try recordStep(i, at: thetas[i], images: x0, soft: soft)
                }
                let bytes = max(0, BufferPool.statistics.live - before)  // an estimate when other threads allocate too
                largestGraph = max(largestGraph, bytes)
                if keptBytes + bytes <= activationBudget {
                    keptGraphs[i] = graph
                    keptBytes += bytes
                }
                (g, innerLoss) = (graph.gradient.detached(), loss)
            } else {
                (g, innerLoss) = try withWinogradCache { () throws(ASTError) in
                    let theta = thetas[i].variable()
                    let loss = stepLoss(gatherRowsUnchecked(x0, minibatches[i]), theta, step: i, soft: soft)
                    return (try gradients(of: loss, wrt: [theta])[0], loss.item)
                }
            }
            guard innerLoss.isFinite else {
                throw ASTError(.diverged, "inner loss is \(innerLoss) at student step \(i)")
            }
            stepLosses.append(innerLoss)
            let direction: Tensor<S>
            if let mu = momentum, let previous = directions.last {
                direction = addUnchecked(scaleUnchecked(previous, mu), g)
            } else {
                direction = g
            }
            // Kept for ᾱ: the backward pass re-records the step without g_i's value.
            directions.append(direction)
            thetas.append(subUnchecked(thetas[i], scaleUnchecked(direction, alpha)))
        }

        // Loss and its adjoint at θ̂_N and the intermediate checkpoints.
        var loss: S = 0
        var extraAdjoints: [Int: Tensor<S>] = [:]
        func addTerm(_ step: Int, _ goal: Tensor<S>, _ weight: S) throws(ASTError) {
            let denominator = squaredDistance(thetas[0], goal)
            guard denominator > 0, denominator.isFinite else {
                throw .invalid("start and target parameters coincide (distance \(denominator)); nothing to match")
            }
            loss += weight * squaredDistance(thetas[step], goal) / denominator
            let adjoint = scaleUnchecked(subUnchecked(thetas[step], goal.detached()), 2 * weight / denominator)
            extraAdjoints[step] = extraAdjoints[step].map { addUnchecked($0, adjoint) } ?? adjoint
        }
        try addTerm(n, target, 1)
        for t in intermediateTargets { try addTerm(t.step, t.target, t.weight) }
        guard loss.isFinite else { throw ASTError(.diverged, "matching loss is \(loss)") }

        let keptSteps = keptGraphs.count

        // Backward, step by step, with Hessian-vector products at each recomputed step.
        var thetaBar = extraAdjoints[n]!
        var directionBar: Tensor<S>? = nil
        var alphaBar: S = 0
        var imageBar = Tensor<S>(shape: x0.shape, storage: TensorStorage(zeros: x0.count))
        var softBar = soft.map { Tensor<S>(shape: $0.shape, storage: TensorStorage(zeros: $0.count)) }
        // Each step in a `WinogradCache` of its own: its convolutions share its weights and activations.
        for i in stride(from: n - 1, through: 0, by: -1) {
            try withWinogradCache { () throws(ASTError) in
                let graph: StepGraph
                if let kept = keptGraphs.removeValue(forKey: i) {
                    graph = kept
                } else {
                    graph = try withTaskLocal(WeightGradientValues.$omitted, true) { () throws(ASTError) in
                        try recordStep(i, at: thetas[i], images: x0, soft: soft).0
                    }
                }
                let (theta, x, g) = (graph.theta, graph.images, graph.gradient)
                // v: the adjoint of g_i. ᾱ += −b_i·θ̄_{i+1}.
                alphaBar -= dotProduct(directions[i], thetaBar)
                var v = scaleUnchecked(thetaBar, -alpha)
                if momentum != nil, let carried = directionBar { v = addUnchecked(v, carried) }
                if let mu = momentum { directionBar = scaleUnchecked(v, mu) }
                // The Hessian-vector products: d⟨g_i, v⟩ by seeding g_i's adjoint with v.
                let second = try gradients(of: g, wrt: [theta, x] + (soft.map { [$0] } ?? []), seed: v)
                if let bar = softBar { softBar = addUnchecked(bar, second[2]) }
                thetaBar = addUnchecked(thetaBar, second[0])
                if let extra = extraAdjoints[i], i > 0 { thetaBar = addUnchecked(thetaBar, extra) }
                imageBar = addUnchecked(imageBar, scatterRowsUnchecked(second[1], minibatches[i], rows: x0.shape[0]))
            }
        }
        return MatchingResult(
            loss: loss, imageGradient: imageBar, learningRateGradient: alphaBar,
            finalParameters: thetas[n], stepLosses: stepLosses, softLabelGradient: softBar,
            keptStepGraphs: keptSteps)
    }
}

extension TrajectoryMatching {
    /// One student step's recorded graph: θ̂_i and the minibatch as variables, and g_i built
    /// from them with its graph (differentiated again for the Hessian-vector products).
    struct StepGraph {
        let theta: Tensor<S>
        let images: Tensor<S>
        let gradient: Tensor<S>
    }
}

/// Σ a[i]·b[i] for same-length tensors, in `blockDot`'s fixed order. Specialised: the generic
/// body (trajectory matching is generic) went through the protocol witnesses for every element.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func dotProduct<S>(_ a: Tensor<S>, _ b: Tensor<S>) -> S {
    blockDot(a.storage.base, b.storage.base, a.count, shift: 0)
}

/// ‖a − b‖² for same-length tensors, in a fixed order; specialised as `dotProduct`.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func squaredDistance<S>(_ a: Tensor<S>, _ b: Tensor<S>) -> S {
    blockSquaredDistance(a.storage.base, b.storage.base, a.count)
}
